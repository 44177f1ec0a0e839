//! The fast path of the command decoder: one pass of serde_json straight
//! into a flat struct of every field any command takes, with strings
//! borrowed from the line, then a check that the `type` allows exactly the
//! fields present. No generic value, no path tracking, no allocation.
//!
//! It may refuse more than the checked path ([`super::decode`]) does (a
//! string with an escape, which cannot be borrowed), never less: a line it
//! refuses goes to the checked path, which decides and explains. Where it
//! accepts, it yields exactly the [`JsonCommand`] the checked path would
//! (`fast_and_checked_decoders_agree` in the tests holds it to that).

use serde::{Deserialize, Deserializer};

use super::{JsonCommand, JsonOrderType, JsonSide, JsonStp, JsonTif};

/// A field as given: `None` absent, `Some(None)` given as `null`,
/// `Some(Some(v))` given a value.
type Given<T> = Option<Option<T>>;

fn given<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Given<T>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum Kind {
    OpenAccount,
    Deposit,
    Withdraw,
    Transfer,
    PlaceOrder,
    CancelOrder,
    AmendOrder,
    CancelAll,
    AddAsset,
    AddSymbol,
    HaltSymbol,
    ResumeSymbol,
}

/// Every field of every command, each as [`Given`]. serde's derive refuses
/// a key it does not name and a key given twice.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Flat<'a> {
    #[serde(rename = "type", default, deserialize_with = "given")]
    kind: Given<Kind>,
    #[serde(default, deserialize_with = "given")]
    account: Given<u32>,
    /// A gateway message's correlation tag; never part of a command line.
    #[serde(default, borrow, deserialize_with = "given")]
    tag: Given<Tag<'a>>,
    #[serde(default, deserialize_with = "given")]
    request_id: Given<u64>,
    #[serde(default, deserialize_with = "given")]
    ts: Given<u64>,
    #[serde(default, borrow, deserialize_with = "given")]
    asset: Given<&'a str>,
    #[serde(default, borrow, deserialize_with = "given")]
    amount: Given<&'a str>,
    #[serde(default, deserialize_with = "given")]
    to: Given<u32>,
    #[serde(default, borrow, deserialize_with = "given")]
    symbol: Given<&'a str>,
    #[serde(default, deserialize_with = "given")]
    side: Given<JsonSide>,
    #[serde(default, deserialize_with = "given")]
    order_type: Given<JsonOrderType>,
    #[serde(default, borrow, deserialize_with = "given")]
    price: Given<&'a str>,
    #[serde(default, borrow, deserialize_with = "given")]
    qty: Given<&'a str>,
    #[serde(default, deserialize_with = "given")]
    tif: Given<JsonTif>,
    #[serde(default, deserialize_with = "given")]
    expiry_ns: Given<u64>,
    #[serde(default, deserialize_with = "given")]
    post_only: Given<bool>,
    #[serde(default, deserialize_with = "given")]
    stp: Given<JsonStp>,
    #[serde(default, borrow, deserialize_with = "given")]
    budget: Given<&'a str>,
    #[serde(default, borrow, deserialize_with = "given")]
    protection_price: Given<&'a str>,
    #[serde(default, deserialize_with = "given")]
    order: Given<u64>,
    #[serde(default, deserialize_with = "given")]
    price_ticks: Given<u64>,
    #[serde(default, deserialize_with = "given")]
    qty_lots: Given<u64>,
    #[serde(default, borrow, deserialize_with = "given")]
    name: Given<&'a str>,
    #[serde(default, deserialize_with = "given")]
    scale: Given<u8>,
    #[serde(default, borrow, deserialize_with = "given")]
    base: Given<&'a str>,
    #[serde(default, borrow, deserialize_with = "given")]
    quote: Given<&'a str>,
    #[serde(default, borrow, deserialize_with = "given")]
    tick_size: Given<&'a str>,
    #[serde(default, borrow, deserialize_with = "given")]
    lot_size: Given<&'a str>,
    #[serde(default, deserialize_with = "given")]
    maker_fee_bps: Given<u16>,
    #[serde(default, deserialize_with = "given")]
    taker_fee_bps: Given<u16>,
}

/// Bits of [`Flat`]'s fields, for the fields-allowed check (the four every
/// command takes have none).
mod bit {
    pub const ASSET: u32 = 1 << 4;
    pub const AMOUNT: u32 = 1 << 5;
    pub const TO: u32 = 1 << 6;
    pub const SYMBOL: u32 = 1 << 7;
    pub const SIDE: u32 = 1 << 8;
    pub const ORDER_TYPE: u32 = 1 << 9;
    pub const PRICE: u32 = 1 << 10;
    pub const QTY: u32 = 1 << 11;
    pub const TIF: u32 = 1 << 12;
    pub const EXPIRY_NS: u32 = 1 << 13;
    pub const POST_ONLY: u32 = 1 << 14;
    pub const STP: u32 = 1 << 15;
    pub const BUDGET: u32 = 1 << 16;
    pub const PROTECTION_PRICE: u32 = 1 << 17;
    pub const ORDER: u32 = 1 << 18;
    pub const PRICE_TICKS: u32 = 1 << 19;
    pub const QTY_LOTS: u32 = 1 << 20;
    pub const NAME: u32 = 1 << 21;
    pub const SCALE: u32 = 1 << 22;
    pub const BASE: u32 = 1 << 23;
    pub const QUOTE: u32 = 1 << 24;
    pub const TICK_SIZE: u32 = 1 << 25;
    pub const LOT_SIZE: u32 = 1 << 26;
    pub const MAKER_FEE_BPS: u32 = 1 << 27;
    pub const TAKER_FEE_BPS: u32 = 1 << 28;
}

impl Flat<'_> {
    /// The bits of the fields present (given a value or `null`); `type`,
    /// `account`, `request_id` and `ts` are allowed everywhere and left out.
    fn present(&self) -> u32 {
        let on = |given: bool, bit: u32| if given { bit } else { 0 };
        on(self.asset.is_some(), bit::ASSET)
            | on(self.amount.is_some(), bit::AMOUNT)
            | on(self.to.is_some(), bit::TO)
            | on(self.symbol.is_some(), bit::SYMBOL)
            | on(self.side.is_some(), bit::SIDE)
            | on(self.order_type.is_some(), bit::ORDER_TYPE)
            | on(self.price.is_some(), bit::PRICE)
            | on(self.qty.is_some(), bit::QTY)
            | on(self.tif.is_some(), bit::TIF)
            | on(self.expiry_ns.is_some(), bit::EXPIRY_NS)
            | on(self.post_only.is_some(), bit::POST_ONLY)
            | on(self.stp.is_some(), bit::STP)
            | on(self.budget.is_some(), bit::BUDGET)
            | on(self.protection_price.is_some(), bit::PROTECTION_PRICE)
            | on(self.order.is_some(), bit::ORDER)
            | on(self.price_ticks.is_some(), bit::PRICE_TICKS)
            | on(self.qty_lots.is_some(), bit::QTY_LOTS)
            | on(self.name.is_some(), bit::NAME)
            | on(self.scale.is_some(), bit::SCALE)
            | on(self.base.is_some(), bit::BASE)
            | on(self.quote.is_some(), bit::QUOTE)
            | on(self.tick_size.is_some(), bit::TICK_SIZE)
            | on(self.lot_size.is_some(), bit::LOT_SIZE)
            | on(self.maker_fee_bps.is_some(), bit::MAKER_FEE_BPS)
            | on(self.taker_fee_bps.is_some(), bit::TAKER_FEE_BPS)
    }
}

/// The fields a command of `kind` takes beyond `type`, `account`,
/// `request_id` and `ts` (which every command takes).
fn allowed(kind: Kind) -> u32 {
    use bit::*;
    match kind {
        Kind::OpenAccount => 0,
        Kind::Deposit | Kind::Withdraw => ASSET | AMOUNT,
        Kind::Transfer => TO | ASSET | AMOUNT,
        Kind::PlaceOrder => {
            SYMBOL
                | SIDE
                | ORDER_TYPE
                | PRICE
                | QTY
                | TIF
                | EXPIRY_NS
                | POST_ONLY
                | STP
                | BUDGET
                | PROTECTION_PRICE
        }
        Kind::CancelOrder => ORDER,
        Kind::AmendOrder => ORDER | SYMBOL | PRICE | QTY | PRICE_TICKS | QTY_LOTS,
        Kind::CancelAll | Kind::HaltSymbol | Kind::ResumeSymbol => SYMBOL,
        Kind::AddAsset => NAME | SCALE,
        Kind::AddSymbol => {
            NAME | BASE | QUOTE | TICK_SIZE | LOT_SIZE | MAKER_FEE_BPS | TAKER_FEE_BPS
        }
    }
}

/// A field the command requires: given a value (absent or `null` refuses).
fn need<T>(field: Given<T>) -> Option<T> {
    field.flatten()
}

/// A field that may be left out or given as `null` (both are `None`).
fn may<T>(field: Given<T>) -> Option<T> {
    need(field)
}

/// A field with a default: absent is the default, `null` refuses (as the
/// checked path does: `null` is not a value of its type).
fn or_default<T: Default>(field: Given<T>) -> Option<T> {
    match field {
        None => Some(T::default()),
        Some(value) => value,
    }
}

/// A message's `tag` as given: a string with no escapes (borrowed) of at
/// most [`MAX_TAG_BYTES`] bytes, or an integer. Anything else refuses the
/// fast path (the caller's checked path then explains).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tag<'a> {
    /// A string tag.
    Str(&'a str),
    /// A non-negative integer tag.
    UInt(u64),
    /// A negative integer tag.
    Int(i64),
}

/// Longest string tag the fast path takes, bytes.
pub const MAX_TAG_BYTES: usize = 64;

impl<'de: 'a, 'a> Deserialize<'de> for Tag<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Tag<'a>, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Tag<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "a string of at most {MAX_TAG_BYTES} bytes or an integer")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Tag<'de>, E> {
                if v.len() <= MAX_TAG_BYTES {
                    Ok(Tag::Str(v))
                } else {
                    Err(E::custom("tag too long"))
                }
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Tag<'de>, E> {
                Ok(Tag::UInt(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Tag<'de>, E> {
                Ok(Tag::Int(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// Decodes `line` on the fast path; `None` sends it to the checked path.
pub(super) fn fast_decode(line: &str) -> Option<JsonCommand<'_>> {
    let (flat, kind) = flat(line)?;
    if flat.tag.is_some() {
        return None;
    }
    let account = need(flat.account)?;
    build(flat, kind, account)
}

/// A gateway message decoded on the fast path: its tag (absent or `null`:
/// `None`), the `account` it names if any, and the command with `account`
/// filled in as `default_account` when it names none. `None` for anything
/// unusual (an `account` of `null`, a long or escaped tag, any line the
/// command fast path refuses): the caller then takes its checked path.
pub(super) fn fast_session(
    line: &str,
    default_account: u32,
) -> Option<(Option<Tag<'_>>, Option<u32>, JsonCommand<'_>)> {
    let (flat, kind) = flat(line)?;
    let given = match flat.account {
        None => None,
        Some(None) => return None,
        Some(Some(a)) => Some(a),
    };
    let tag = flat.tag.flatten();
    let command = build(flat, kind, given.unwrap_or(default_account))?;
    Some((tag, given, command))
}

/// One serde pass into [`Flat`], and the fields checked against the kind.
fn flat(line: &str) -> Option<(Flat<'_>, Kind)> {
    // A struct also deserializes from a JSON array; a command is an object.
    if !line.trim_ascii_start().starts_with('{') {
        return None;
    }
    let flat: Flat<'_> = serde_json::from_str(line).ok()?;
    let kind = need(flat.kind)?;
    if flat.present() & !allowed(kind) != 0 {
        return None;
    }
    Some((flat, kind))
}

/// The command of a checked [`Flat`].
fn build<'a>(flat: Flat<'a>, kind: Kind, account: u32) -> Option<JsonCommand<'a>> {
    let (request_id, ts) = (need(flat.request_id)?, may(flat.ts));
    let s = std::borrow::Cow::Borrowed;
    Some(match kind {
        Kind::OpenAccount => JsonCommand::OpenAccount {
            account,
            request_id,
            ts,
        },
        Kind::Deposit => JsonCommand::Deposit {
            account,
            request_id,
            asset: s(need(flat.asset)?),
            amount: s(need(flat.amount)?),
            ts,
        },
        Kind::Withdraw => JsonCommand::Withdraw {
            account,
            request_id,
            asset: s(need(flat.asset)?),
            amount: s(need(flat.amount)?),
            ts,
        },
        Kind::Transfer => JsonCommand::Transfer {
            account,
            request_id,
            to: need(flat.to)?,
            asset: s(need(flat.asset)?),
            amount: s(need(flat.amount)?),
            ts,
        },
        Kind::PlaceOrder => JsonCommand::PlaceOrder {
            account,
            request_id,
            symbol: s(need(flat.symbol)?),
            side: need(flat.side)?,
            order_type: need(flat.order_type)?,
            price: may(flat.price).map(s),
            qty: s(need(flat.qty)?),
            tif: or_default(flat.tif)?,
            expiry_ns: may(flat.expiry_ns),
            post_only: or_default(flat.post_only)?,
            stp: or_default(flat.stp)?,
            budget: may(flat.budget).map(s),
            protection_price: may(flat.protection_price).map(s),
            ts,
        },
        Kind::CancelOrder => JsonCommand::CancelOrder {
            account,
            request_id,
            order: need(flat.order)?,
            ts,
        },
        Kind::AmendOrder => JsonCommand::AmendOrder {
            account,
            request_id,
            order: need(flat.order)?,
            symbol: may(flat.symbol).map(s),
            price: may(flat.price).map(s),
            qty: may(flat.qty).map(s),
            price_ticks: may(flat.price_ticks),
            qty_lots: may(flat.qty_lots),
            ts,
        },
        Kind::CancelAll => JsonCommand::CancelAll {
            account,
            request_id,
            symbol: may(flat.symbol).map(s),
            ts,
        },
        Kind::AddAsset => JsonCommand::AddAsset {
            account,
            request_id,
            name: s(need(flat.name)?),
            scale: need(flat.scale)?,
            ts,
        },
        Kind::AddSymbol => JsonCommand::AddSymbol {
            account,
            request_id,
            name: s(need(flat.name)?),
            base: s(need(flat.base)?),
            quote: s(need(flat.quote)?),
            tick_size: s(need(flat.tick_size)?),
            lot_size: s(need(flat.lot_size)?),
            maker_fee_bps: or_default(flat.maker_fee_bps)?,
            taker_fee_bps: or_default(flat.taker_fee_bps)?,
            ts,
        },
        Kind::HaltSymbol => JsonCommand::HaltSymbol {
            account,
            request_id,
            symbol: s(need(flat.symbol)?),
            ts,
        },
        Kind::ResumeSymbol => JsonCommand::ResumeSymbol {
            account,
            request_id,
            symbol: s(need(flat.symbol)?),
            ts,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::super::{convert, decode, parse_command_line};
    use super::{fast_decode, Tag};
    use crate::{config_from_toml, EdgeError, ParsedCommand, Registry};
    use proptest::prelude::*;
    use serde_json::{Map, Value};

    const CONFIG: &str = "[journal]\ntemporary = true\n[[assets]]\nname = \"BTC\"\nscale = 8\n\
        [[assets]]\nname = \"USD\"\nscale = 6\n[[symbols]]\nname = \"BTC-USD\"\nbase = \"BTC\"\n\
        quote = \"USD\"\ntick_size = \"0.01\"\nlot_size = \"0.001\"\n";

    fn registry() -> Registry {
        let config = config_from_toml(CONFIG, "fast.toml").expect("test config");
        let mut state = keel_engine::State::new(config.limits());
        let mut names = Registry::default();
        for cmd in config.genesis_commands().expect("genesis") {
            for event in keel_engine::process_to_vec(&mut state, &cmd, 0).expect("genesis") {
                names.learn(&event);
            }
        }
        names
    }

    /// Valid lines of every command, with every optional field somewhere.
    const GOOD: &[&str] = &[
        r#"{"type":"open_account","account":1,"request_id":1}"#,
        r#"{"type":"open_account","account":1,"request_id":1,"ts":null}"#,
        r#"{"type":"deposit","account":1,"request_id":2,"asset":"USD","amount":"1000.50","ts":3}"#,
        r#"{"type":"withdraw","account":1,"request_id":3,"asset":"BTC","amount":"0.5"}"#,
        r#"{"type":"transfer","account":1,"request_id":4,"to":2,"asset":"USD","amount":"7"}"#,
        r#"{"type":"place_order","account":1,"request_id":5,"symbol":"BTC-USD","side":"buy","order_type":"limit","price":"30000.00","qty":"0.001","tif":"gtd","expiry_ns":99,"ts":5}"#,
        r#"{"type":"place_order","account":1,"request_id":5,"symbol":"BTC-USD","side":"sell","order_type":"limit","price":"3.1","qty":"2","tif":"ioc","post_only":true,"stp":"cancel_both"}"#,
        r#"{"type":"place_order","account":1,"request_id":5,"symbol":"BTC-USD","side":"sell","order_type":"limit","price":"3.1","qty":"2","tif":"fok","stp":"cancel_oldest","budget":null,"protection_price":null,"expiry_ns":null}"#,
        r#"{"type":"place_order","account":1,"request_id":6,"symbol":"BTC-USD","side":"buy","order_type":"market","qty":"1","budget":"100"}"#,
        r#"{"type":"place_order","account":1,"request_id":7,"symbol":"BTC-USD","side":"sell","order_type":"market","qty":"1","protection_price":"29000","price":null}"#,
        r#"{"type":"cancel_order","account":1,"request_id":8,"order":1}"#,
        r#"{"type":"amend_order","account":1,"request_id":9,"order":1,"symbol":"BTC-USD","price":"1.25","qty":"0.002"}"#,
        r#"{"type":"amend_order","account":1,"request_id":9,"order":1,"price_ticks":125,"qty_lots":2,"symbol":null}"#,
        r#"{"type":"cancel_all","account":1,"request_id":10,"symbol":"BTC-USD"}"#,
        r#"{"type":"cancel_all","account":1,"request_id":10}"#,
        r#"{"type":"add_asset","account":0,"request_id":11,"name":"ETH","scale":6}"#,
        r#"{"type":"add_symbol","account":0,"request_id":12,"name":"BTC-EUR","base":"BTC","quote":"USD","tick_size":"0.5","lot_size":"0.01","maker_fee_bps":1,"taker_fee_bps":5}"#,
        r#"{"type":"halt_symbol","account":0,"request_id":13,"symbol":"BTC-USD"}"#,
        r#"  {"type":"resume_symbol","account":0,"request_id":14,"symbol":"BTC-USD"}  "#,
    ];

    /// Every key any command takes, with a value of its type.
    const KEYS: &[(&str, &str)] = &[
        ("type", r#""deposit""#),
        ("account", "1"),
        ("request_id", "2"),
        ("ts", "3"),
        ("asset", r#""USD""#),
        ("amount", r#""1""#),
        ("to", "2"),
        ("symbol", r#""BTC-USD""#),
        ("side", r#""buy""#),
        ("order_type", r#""limit""#),
        ("price", r#""1.00""#),
        ("qty", r#""0.001""#),
        ("tif", r#""gtc""#),
        ("expiry_ns", "9"),
        ("post_only", "false"),
        ("stp", r#""cancel_newest""#),
        ("budget", r#""5""#),
        ("protection_price", r#""2""#),
        ("order", "1"),
        ("price_ticks", "4"),
        ("qty_lots", "5"),
        ("name", r#""ETH""#),
        ("scale", "2"),
        ("base", r#""BTC""#),
        ("quote", r#""USD""#),
        ("tick_size", r#""0.01""#),
        ("lot_size", r#""1""#),
        ("maker_fee_bps", "1"),
        ("taker_fee_bps", "2"),
        ("unknown", "1"),
    ];

    /// Values of the wrong type, out of range, or odd.
    const ODD: &[&str] = &[
        "null",
        "-1",
        "-0",
        "1.5",
        "1e2",
        "4294967296",
        "18446744073709551616",
        "256",
        "65536",
        r#""""#,
        r#""1""#,
        r#""b\u0055y""#,
        r#""BTC\u002dUSD""#,
        "true",
        "[]",
        "{}",
        r#"{"a":1,"a":2}"#,
    ];

    /// The checked path alone: what every line must get.
    fn checked(line: &str, names: &Registry) -> Result<ParsedCommand, EdgeError> {
        convert(decode(line)?, names)
    }

    fn object(line: &str) -> Map<String, Value> {
        match serde_json::from_str(line.trim()) {
            Ok(Value::Object(map)) => map,
            other => panic!("test line {line:?} is not an object: {other:?}"),
        }
    }

    fn text(fields: &[(String, String)]) -> String {
        let body: Vec<String> = fields.iter().map(|(k, v)| format!("{k:?}:{v}")).collect();
        format!("{{{}}}", body.join(","))
    }

    /// Lines near `good`: each field removed, given each odd value, given
    /// twice; each other key added; wrapped, trailed, escaped.
    fn variants(good: &str) -> Vec<String> {
        let fields: Vec<(String, String)> = object(good)
            .into_iter()
            .map(|(k, v)| (k, v.to_string()))
            .collect();
        let mut out = vec![good.to_owned(), format!("[{good}]"), format!("{good}x")];
        out.push(format!("{good} {good}"));
        for i in 0..fields.len() {
            let mut without = fields.clone();
            let (key, value) = without.remove(i);
            out.push(text(&without));
            for odd in ODD {
                let mut changed = fields.clone();
                changed[i].1 = (*odd).to_owned();
                out.push(text(&changed));
            }
            let mut twice = fields.clone();
            twice.push((key.clone(), value.clone()));
            out.push(text(&twice));
            if let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                // Same string, one character escaped: not borrowable.
                let mut escaped = fields.clone();
                escaped[i].1 = format!(
                    "\"\\u{:04x}{}\"",
                    inner.chars().next().map_or(0x41, u32::from),
                    inner.get(1..).unwrap_or("")
                );
                out.push(text(&escaped));
            }
        }
        for (key, value) in KEYS {
            if !fields.iter().any(|(k, _)| k == key) {
                for v in [*value, "null"] {
                    let mut more = fields.clone();
                    more.push(((*key).to_owned(), v.to_owned()));
                    out.push(text(&more));
                }
            }
        }
        out
    }

    #[test]
    fn fast_and_checked_decoders_agree() {
        let names = registry();
        let (mut lines, mut fast) = (0, 0);
        for good in GOOD {
            assert!(fast_decode(good).is_some(), "fast path refused {good}");
            assert!(checked(good, &names).is_ok(), "{good}");
            for line in variants(good) {
                lines += 1;
                if let Some(json) = fast_decode(&line) {
                    fast += 1;
                    let slow =
                        decode(&line).unwrap_or_else(|e| panic!("fast path accepted {line}: {e}"));
                    assert_eq!(json, slow, "{line}");
                }
                assert_eq!(
                    parse_command_line(&line, &names),
                    checked(&line, &names),
                    "{line}"
                );
            }
        }
        // Both outcomes happened, many times.
        assert!(
            fast > 100 && lines - fast > 1000,
            "{fast} of {lines} lines took the fast path"
        );
    }

    #[test]
    fn the_session_decoder_gives_the_command_line_s_command() {
        let names = registry();
        let mut tagged = 0;
        for good in GOOD {
            let v: serde_json::Value = serde_json::from_str(good).unwrap();
            let account = v["account"].as_u64().unwrap() as u32;
            let want = parse_command_line(good, &names);
            // As given (the account named), with tags of each kind, and
            // with the account left out (filled in from the session).
            let mut without = v.clone();
            without.as_object_mut().unwrap().remove("account");
            for (tag, expect) in [
                (None, None),
                (Some(serde_json::json!("t-1")), Some(Tag::Str("t-1"))),
                (Some(serde_json::json!(42)), Some(Tag::UInt(42))),
                (Some(serde_json::json!(-7)), Some(Tag::Int(-7))),
                (Some(serde_json::Value::Null), None),
            ] {
                for (base, named) in [(&v, Some(account)), (&without, None)] {
                    let mut m = base.clone();
                    if let Some(t) = &tag {
                        m["tag"] = t.clone();
                        tagged += 1;
                    }
                    let line = m.to_string();
                    let got = crate::parse_session_line(&line, &names, account)
                        .unwrap_or_else(|| panic!("fast session path refused {line}"));
                    assert_eq!(got.tag, expect, "{line}");
                    assert_eq!(got.account_given, named, "{line}");
                    assert_eq!(got.command, want, "{line}");
                }
            }
        }
        assert!(tagged > 0);
        // What it leaves to the checked path.
        for odd in [
            r#"{"type":"open_account","request_id":1,"account":null}"#,
            r#"{"type":"open_account","request_id":1,"tag":"a\"b"}"#,
            r#"{"type":"open_account","request_id":1,"tag":{"x":1}}"#,
            r#"{"type":"open_account","request_id":1,"tag":1.5}"#,
            r#"{"type":"query","request_id":1}"#,
            r#"{"type":"cancel_after","timeout_ms":5}"#,
        ] {
            assert!(crate::parse_session_line(odd, &names, 1).is_none(), "{odd}");
        }
        let long = format!(
            r#"{{"type":"open_account","request_id":1,"tag":"{}"}}"#,
            "x".repeat(65)
        );
        assert!(crate::parse_session_line(&long, &names, 1).is_none());
        // A command line never takes a tag.
        assert!(parse_command_line(
            r#"{"type":"open_account","account":1,"request_id":1,"tag":"t"}"#,
            &names
        )
        .is_err());
    }

    proptest! {
        /// Random objects over every key and odd values: the answer is the
        /// checked path's.
        #[test]
        fn random_objects_get_the_checked_answer(
            picks in prop::collection::vec((0..KEYS.len(), 0..ODD.len() + 3), 0..14)
        ) {
            let names = registry();
            let fields: Vec<(String, String)> = picks
                .iter()
                .map(|&(k, v)| {
                    let (key, good) = KEYS[k];
                    let value = match v.checked_sub(3) {
                        Some(odd) => ODD[odd],
                        None if k == 0 => ["\"place_order\"", "\"cancel_order\"", "\"open_account\""][v],
                        None => good,
                    };
                    (key.to_owned(), value.to_owned())
                })
                .collect();
            let line = text(&fields);
            if let Some(json) = fast_decode(&line) {
                prop_assert_eq!(Ok(json), decode(&line));
            }
            prop_assert_eq!(parse_command_line(&line, &names), checked(&line, &names));
        }
    }
}
