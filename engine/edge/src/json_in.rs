//! JSON command lines → core commands. Unknown fields, repeated keys, wrong
//! types, decimals outside the one grammar
//! ([`DECIMAL_GRAMMAR`](keel_engine::config::DECIMAL_GRAMMAR)) and lines
//! that are not UTF-8 are errors; nothing of a malformed line is executed.

use std::borrow::Cow;
use std::cell::RefCell;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use keel_engine::model::{
    Command, CommandKind, MarketBound, Name, OrderType, PlaceOrder, Side, StpMode, SymbolSpec,
    TimeInForce,
};

pub mod fast;

use crate::{EdgeError, Registry};
use keel_engine::units::{to_fixed, NamedCommands};

#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum JsonSide {
    Buy,
    Sell,
}

#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum JsonOrderType {
    Limit,
    Market,
}

#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
enum JsonTif {
    #[default]
    Gtc,
    Ioc,
    Fok,
    Gtd,
}

#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
enum JsonStp {
    #[default]
    #[serde(rename = "cancel_newest")]
    Newest,
    #[serde(rename = "cancel_oldest")]
    Oldest,
    #[serde(rename = "cancel_both")]
    Both,
}

/// A command line's fields, typed. Strings borrow from the line on the fast
/// path ([`fast_decode`]) and are owned on the checked path ([`decode`]).
#[derive(Deserialize, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum JsonCommand<'a> {
    OpenAccount {
        account: u32,
        request_id: u64,
        ts: Option<u64>,
    },
    Deposit {
        account: u32,
        request_id: u64,
        asset: Cow<'a, str>,
        amount: Cow<'a, str>,
        ts: Option<u64>,
    },
    Withdraw {
        account: u32,
        request_id: u64,
        asset: Cow<'a, str>,
        amount: Cow<'a, str>,
        ts: Option<u64>,
    },
    Transfer {
        account: u32,
        request_id: u64,
        to: u32,
        asset: Cow<'a, str>,
        amount: Cow<'a, str>,
        ts: Option<u64>,
    },
    PlaceOrder {
        account: u32,
        request_id: u64,
        symbol: Cow<'a, str>,
        side: JsonSide,
        order_type: JsonOrderType,
        price: Option<Cow<'a, str>>,
        qty: Cow<'a, str>,
        #[serde(default)]
        tif: JsonTif,
        expiry_ns: Option<u64>,
        #[serde(default)]
        post_only: bool,
        #[serde(default)]
        stp: JsonStp,
        budget: Option<Cow<'a, str>>,
        protection_price: Option<Cow<'a, str>>,
        ts: Option<u64>,
    },
    CancelOrder {
        account: u32,
        request_id: u64,
        order: u64,
        ts: Option<u64>,
    },
    /// Either `symbol` with decimal `price` and `qty`, or integer
    /// `price_ticks` and `qty_lots`.
    AmendOrder {
        account: u32,
        request_id: u64,
        order: u64,
        symbol: Option<Cow<'a, str>>,
        price: Option<Cow<'a, str>>,
        qty: Option<Cow<'a, str>>,
        price_ticks: Option<u64>,
        qty_lots: Option<u64>,
        ts: Option<u64>,
    },
    CancelAll {
        account: u32,
        request_id: u64,
        symbol: Option<Cow<'a, str>>,
        ts: Option<u64>,
    },
    AddAsset {
        account: u32,
        request_id: u64,
        name: Cow<'a, str>,
        scale: u8,
        ts: Option<u64>,
    },
    AddSymbol {
        account: u32,
        request_id: u64,
        name: Cow<'a, str>,
        base: Cow<'a, str>,
        quote: Cow<'a, str>,
        tick_size: Cow<'a, str>,
        lot_size: Cow<'a, str>,
        #[serde(default)]
        maker_fee_bps: u16,
        #[serde(default)]
        taker_fee_bps: u16,
        ts: Option<u64>,
    },
    HaltSymbol {
        account: u32,
        request_id: u64,
        symbol: Cow<'a, str>,
        ts: Option<u64>,
    },
    ResumeSymbol {
        account: u32,
        request_id: u64,
        symbol: Cow<'a, str>,
        ts: Option<u64>,
    },
}

/// A command read from a JSON line, with its optional timestamp (used by the
/// simulated clock).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParsedCommand {
    /// The command, with ids and integer units.
    pub command: Command,
    /// The line's `ts` (ns), for the simulated clock.
    pub ts: Option<u64>,
}

fn name(field: &'static str, text: &str) -> Result<Name, EdgeError> {
    Name::new(text).ok_or_else(|| EdgeError::BadValue {
        field,
        value: text.to_owned(),
        why: "expected 1 to 16 ASCII letters, digits or punctuation".into(),
    })
}

/// A JSON value read with every object's keys checked: a key repeated in
/// one object (at any depth) is an error, never "the last one wins". It
/// rides on serde_json's parser (and its nesting limit); only the building
/// of the value is ours.
struct StrictValue<'a> {
    /// Where this value sits (`$`, `$.a`, `$.a[2]`), for messages.
    path: String,
    /// The first repeated key found, with its object's path.
    duplicate: &'a RefCell<Option<(String, String)>>,
}

impl<'de> DeserializeSeed<'de> for StrictValue<'_> {
    type Value = serde_json::Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<serde_json::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue<'_> {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<serde_json::Value, E> {
        Ok(v.into())
    }
    fn visit_i64<E>(self, v: i64) -> Result<serde_json::Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<serde_json::Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<serde_json::Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, Into::into))
    }
    fn visit_str<E>(self, v: &str) -> Result<serde_json::Value, E> {
        Ok(v.into())
    }
    fn visit_string<E>(self, v: String) -> Result<serde_json::Value, E> {
        Ok(v.into())
    }
    fn visit_unit<E>(self) -> Result<serde_json::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_none<E>(self) -> Result<serde_json::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<serde_json::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(StrictValue {
            path: format!("{}[{}]", self.path, items.len()),
            duplicate: self.duplicate,
        })? {
            items.push(item);
        }
        Ok(serde_json::Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<serde_json::Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                let message = format!("duplicate key `{key}` in `{}`", self.path);
                *self.duplicate.borrow_mut() = Some((key, self.path));
                return Err(serde::de::Error::custom(message));
            }
            let value = map.next_value_seed(StrictValue {
                path: format!("{}.{key}", self.path),
                duplicate: self.duplicate,
            })?;
            object.insert(key, value);
        }
        Ok(serde_json::Value::Object(object))
    }
}

/// Parses `line` as one JSON value, refusing repeated keys.
fn strict_json(line: &str) -> Result<serde_json::Value, EdgeError> {
    let duplicate = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_str(line);
    let seed = StrictValue {
        path: "$".into(),
        duplicate: &duplicate,
    };
    let value = seed.deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    value.map_err(|e| match duplicate.take() {
        Some((key, object)) => EdgeError::DuplicateKey { key, object },
        None => EdgeError::Json(e.to_string()),
    })
}

/// Decodes a line into the typed command. The line's `type` field selects
/// the variant; errors name the field that is wrong (`place_order.qty: ...`).
fn decode(line: &str) -> Result<JsonCommand<'static>, EdgeError> {
    decode_value(strict_json(line)?)
}

/// Decodes a JSON value already read by [`strict_value`] into a command.
fn decode_value(mut value: serde_json::Value) -> Result<JsonCommand<'static>, EdgeError> {
    let object = value
        .as_object_mut()
        .ok_or_else(|| EdgeError::Json("expected a JSON object".into()))?;
    let kind = match object.remove("type") {
        Some(serde_json::Value::String(kind)) => kind,
        Some(other) => {
            return Err(EdgeError::Json(format!(
                "`type` must be a string, got {other}"
            )))
        }
        None => {
            return Err(EdgeError::Json(
                "missing field `type` (the command name, e.g. \"place_order\")".into(),
            ))
        }
    };
    let tagged = serde_json::Value::Object(std::iter::once((kind, value)).collect());
    serde_path_to_error::deserialize(tagged).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        if path == "." {
            EdgeError::Json(message)
        } else {
            EdgeError::Json(format!("`{path}`: {message}"))
        }
    })
}

/// [`parse_command_line`] for a line as read, in bytes (without its line
/// ending): a line that is not valid UTF-8 is an [`EdgeError::InvalidUtf8`],
/// one malformed line like any other.
pub fn parse_command_bytes(line: &[u8], registry: &Registry) -> Result<ParsedCommand, EdgeError> {
    let line = std::str::from_utf8(line).map_err(|e| EdgeError::InvalidUtf8 {
        valid_up_to: e.valid_up_to(),
    })?;
    parse_command_line(line, registry)
}

/// Parses one JSON line into a command, resolving names with `registry`.
///
/// The registry must come from committed state ([`Registry::from_state`],
/// or [`Registry::learn`] on committed events): parsing never registers a
/// name, so an `add_asset` or `add_symbol` that the engine rejects leaves no
/// trace, and a name can be used only once its command has been committed.
pub fn parse_command_line(line: &str, registry: &Registry) -> Result<ParsedCommand, EdgeError> {
    // The fast path decodes well-formed lines without allocating; any line
    // it refuses is decoded again on the checked path, which explains.
    match fast::fast_decode(line) {
        Some(json) => convert(json, registry),
        None => convert(decode(line)?, registry),
    }
}

/// A JSON text read strictly, as command lines are: one value, no
/// repeated key at any depth, bounded nesting. For a program that inspects
/// or completes a message (a gateway filling in the session's account)
/// before [`parse_command_value`] turns it into a command.
pub fn strict_value(text: &str) -> Result<serde_json::Value, EdgeError> {
    strict_json(text)
}

/// [`parse_command_line`] for a value read by [`strict_value`]: the same
/// schema, checks and errors.
pub fn parse_command_value(
    value: serde_json::Value,
    registry: &Registry,
) -> Result<ParsedCommand, EdgeError> {
    convert(decode_value(value)?, registry)
}

/// A gateway message decoded on the fast path ([`parse_session_line`]).
#[derive(Debug)]
pub struct SessionCommand<'a> {
    /// Its `tag`, if given (and not `null`).
    pub tag: Option<fast::Tag<'a>>,
    /// The `account` it names, if any (the caller checks it may).
    pub account_given: Option<u32>,
    /// The command, with `account` filled in when none was named, or why
    /// the edge refuses it.
    pub command: Result<ParsedCommand, EdgeError>,
}

/// A gateway message (a command line without `account`, with an optional
/// `tag`) decoded without building a JSON value: `None` when the fast path
/// does not take it (the caller then reads it with [`strict_value`] and
/// [`parse_command_value`], which decide and explain). Where it answers,
/// the command is the one [`parse_command_line`] gives for the same line
/// with the tag removed and `account` set.
pub fn parse_session_line<'a>(
    line: &'a str,
    registry: &Registry,
    default_account: u32,
) -> Option<SessionCommand<'a>> {
    let (tag, account_given, json) = fast::fast_session(line, default_account)?;
    Some(SessionCommand {
        tag,
        account_given,
        command: convert(json, registry),
    })
}

/// The command a decoded line names, with names resolved and decimals
/// converted.
fn convert(json: JsonCommand<'_>, registry: &Registry) -> Result<ParsedCommand, EdgeError> {
    let (account, request_id, ts, kind) = match json {
        JsonCommand::OpenAccount {
            account,
            request_id,
            ts,
        } => (account, request_id, ts, CommandKind::OpenAccount),
        JsonCommand::Deposit {
            account,
            request_id,
            asset,
            amount: a,
            ts,
        } => {
            let (asset, amount) = registry.amount("amount", &asset, &a)?;
            (
                account,
                request_id,
                ts,
                CommandKind::Deposit { asset, amount },
            )
        }
        JsonCommand::Withdraw {
            account,
            request_id,
            asset,
            amount: a,
            ts,
        } => {
            let (asset, amount) = registry.amount("amount", &asset, &a)?;
            (
                account,
                request_id,
                ts,
                CommandKind::Withdraw { asset, amount },
            )
        }
        JsonCommand::Transfer {
            account,
            request_id,
            to,
            asset,
            amount: a,
            ts,
        } => {
            let (asset, amount) = registry.amount("amount", &asset, &a)?;
            (
                account,
                request_id,
                ts,
                CommandKind::Transfer { to, asset, amount },
            )
        }
        JsonCommand::PlaceOrder {
            account,
            request_id,
            symbol,
            side,
            order_type,
            price,
            qty,
            tif,
            expiry_ns,
            post_only,
            stp,
            budget,
            protection_price,
            ts,
        } => {
            let symbol = registry.symbol(&symbol)?;
            let qty = registry.qty("qty", symbol, &qty)?;
            let side = match side {
                JsonSide::Buy => Side::Buy,
                JsonSide::Sell => Side::Sell,
            };
            let order_type = match order_type {
                JsonOrderType::Limit => {
                    if budget.is_some() || protection_price.is_some() {
                        return Err(EdgeError::Missing {
                            field: "budget/protection_price",
                            why: "only market orders take a budget or a protection price",
                        });
                    }
                    let price = price.ok_or(EdgeError::Missing {
                        field: "price",
                        why: "a limit order needs a price",
                    })?;
                    OrderType::Limit {
                        price: registry.price("price", symbol, &price)?,
                    }
                }
                JsonOrderType::Market => {
                    if price.is_some() {
                        return Err(EdgeError::Missing {
                            field: "price",
                            why: "a market order has no price; use protection_price or budget",
                        });
                    }
                    let bound = match (budget, protection_price) {
                        (Some(_), Some(_)) => {
                            return Err(EdgeError::Missing {
                                field: "budget/protection_price",
                                why: "give at most one of budget and protection_price",
                            })
                        }
                        (Some(b), None) => MarketBound::QuoteBudget {
                            amount: registry.quote_amount("budget", symbol, &b)?,
                        },
                        (None, Some(p)) => MarketBound::ProtectionPrice {
                            price: registry.price("protection_price", symbol, &p)?,
                        },
                        (None, None) => MarketBound::None,
                    };
                    OrderType::Market { bound }
                }
            };
            let tif = match (tif, expiry_ns) {
                (JsonTif::Gtd, Some(expiry_ns)) => TimeInForce::Gtd { expiry_ns },
                (JsonTif::Gtd, None) => {
                    return Err(EdgeError::Missing {
                        field: "expiry_ns",
                        why: "a GTD order needs expiry_ns",
                    })
                }
                (_, Some(_)) => {
                    return Err(EdgeError::Missing {
                        field: "expiry_ns",
                        why: "only a GTD order takes expiry_ns",
                    })
                }
                (JsonTif::Gtc, None) => TimeInForce::Gtc,
                (JsonTif::Ioc, None) => TimeInForce::Ioc,
                (JsonTif::Fok, None) => TimeInForce::Fok,
            };
            let stp = match stp {
                JsonStp::Newest => StpMode::CancelNewest,
                JsonStp::Oldest => StpMode::CancelOldest,
                JsonStp::Both => StpMode::CancelBoth,
            };
            let place = PlaceOrder {
                symbol,
                side,
                order_type,
                qty,
                tif,
                post_only,
                stp,
            };
            (account, request_id, ts, CommandKind::PlaceOrder(place))
        }
        JsonCommand::CancelOrder {
            account,
            request_id,
            order,
            ts,
        } => (account, request_id, ts, CommandKind::CancelOrder { order }),
        JsonCommand::AmendOrder {
            account,
            request_id,
            order,
            symbol,
            price,
            qty,
            price_ticks,
            qty_lots,
            ts,
        } => {
            let (price, qty) = match (symbol, price, qty, price_ticks, qty_lots) {
                (Some(symbol), Some(price), Some(qty), None, None) => {
                    let symbol = registry.symbol(&symbol)?;
                    (registry.price("price", symbol, &price)?, registry.qty("qty", symbol, &qty)?)
                }
                (None, None, None, Some(price), Some(qty)) => (price, qty),
                _ => {
                    return Err(EdgeError::Missing {
                        field: "symbol/price/qty",
                        why: "an amend takes either symbol, price and qty (decimals) or price_ticks and qty_lots",
                    })
                }
            };
            (
                account,
                request_id,
                ts,
                CommandKind::AmendOrder { order, price, qty },
            )
        }
        JsonCommand::CancelAll {
            account,
            request_id,
            symbol,
            ts,
        } => {
            let symbol = symbol.map(|s| registry.symbol(&s)).transpose()?;
            (account, request_id, ts, CommandKind::CancelAll { symbol })
        }
        JsonCommand::AddAsset {
            account,
            request_id,
            name: n,
            scale,
            ts,
        } => {
            let n = name("name", &n)?;
            (
                account,
                request_id,
                ts,
                CommandKind::AddAsset { name: n, scale },
            )
        }
        JsonCommand::AddSymbol {
            account,
            request_id,
            name: n,
            base,
            quote,
            tick_size,
            lot_size,
            maker_fee_bps,
            taker_fee_bps,
            ts,
        } => {
            let spec = SymbolSpec {
                name: name("name", &n)?,
                base: registry.asset(&base)?,
                quote: registry.asset(&quote)?,
                tick_size: to_fixed("tick_size", &tick_size)?,
                lot_size: to_fixed("lot_size", &lot_size)?,
                maker_fee_bps,
                taker_fee_bps,
            };
            (account, request_id, ts, CommandKind::AddSymbol(spec))
        }
        JsonCommand::HaltSymbol {
            account,
            request_id,
            symbol,
            ts,
        } => (
            account,
            request_id,
            ts,
            CommandKind::HaltSymbol {
                symbol: registry.symbol(&symbol)?,
            },
        ),
        JsonCommand::ResumeSymbol {
            account,
            request_id,
            symbol,
            ts,
        } => (
            account,
            request_id,
            ts,
            CommandKind::ResumeSymbol {
                symbol: registry.symbol(&symbol)?,
            },
        ),
    };
    Ok(ParsedCommand {
        command: Command {
            account,
            request_id,
            kind,
        },
        ts,
    })
}
