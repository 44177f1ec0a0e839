//! Core commands and events → JSON, with names and decimal strings. The
//! command form is exactly what `json_in` reads, so tools can write commands
//! (`replay what-if --corrections`) that `keel run` accepts.

use serde_json::{json, Map, Value};

use keel_engine::model::{
    AccountId, Command, CommandKind, Event, MarketBound, OrderType, Side, StpMode, TimeInForce,
    Trade,
};

use crate::Registry;

mod line;

pub use line::OutputWriter;

fn side(s: Side) -> &'static str {
    match s {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

fn stp(s: StpMode) -> &'static str {
    match s {
        StpMode::CancelNewest => "cancel_newest",
        StpMode::CancelOldest => "cancel_oldest",
        StpMode::CancelBoth => "cancel_both",
    }
}

fn tif(t: TimeInForce) -> &'static str {
    match t {
        TimeInForce::Gtc => "gtc",
        TimeInForce::Ioc => "ioc",
        TimeInForce::Fok => "fok",
        TimeInForce::Gtd { .. } => "gtd",
    }
}

fn object(kind: &str, value: Value) -> Value {
    let mut map = Map::new();
    map.insert("type".into(), Value::from(kind));
    if let Value::Object(fields) = value {
        map.extend(fields);
    }
    Value::Object(map)
}

/// One event as a JSON object with a `type` field.
pub fn event_json(r: &Registry, event: &Event) -> Value {
    let body = match *event {
        Event::Accepted {
            account,
            request_id,
        } => json!({"account": account, "request_id": request_id}),
        Event::Rejected {
            account,
            request_id,
            reason,
        } => json!({
            "account": account, "request_id": request_id, "reason": reason.code(), "message": reason.to_string()
        }),
        Event::AssetAdded { asset, name, scale } => {
            json!({"asset_id": asset, "asset": name.as_str(), "scale": scale})
        }
        Event::SymbolAdded { symbol, spec } => json!({
            "symbol_id": symbol, "symbol": spec.name.as_str(), "base": r.asset_name(spec.base),
            "quote": r.asset_name(spec.quote), "tick_size": spec.tick_size.to_string(),
            "lot_size": spec.lot_size.to_string(), "maker_fee_bps": spec.maker_fee_bps,
            "taker_fee_bps": spec.taker_fee_bps
        }),
        Event::SymbolHalted { symbol } | Event::SymbolResumed { symbol } => {
            json!({"symbol": r.symbol_name(symbol)})
        }
        Event::AccountOpened { account } => json!({"account": account}),
        Event::Deposited {
            account,
            asset,
            amount,
        }
        | Event::Withdrawn {
            account,
            asset,
            amount,
        } => json!({
            "account": account, "asset": r.asset_name(asset), "amount": r.format_amount(asset, amount)
        }),
        Event::Transferred {
            from,
            to,
            asset,
            amount,
        } => json!({
            "from": from, "to": to, "asset": r.asset_name(asset), "amount": r.format_amount(asset, amount)
        }),
        Event::OrderAccepted {
            order,
            account,
            symbol,
            side: s,
            price,
            qty,
            is_market,
            tif: t,
            post_only,
            stp: m,
            hold,
        } => {
            let hold_asset = r.symbol_spec(symbol).map(|spec| {
                if s == Side::Buy {
                    spec.quote
                } else {
                    spec.base
                }
            });
            let mut v = json!({
                "order": order, "account": account, "symbol": r.symbol_name(symbol), "side": side(s),
                "order_type": if is_market { "market" } else { "limit" },
                "price": if price == 0 { Value::Null } else { Value::from(r.format_price(symbol, price)) },
                "qty": r.format_qty(symbol, qty), "tif": tif(t), "post_only": post_only, "stp": stp(m),
                "hold": hold_asset.map_or_else(|| hold.to_string(), |a| r.format_amount(a, hold)),
                "hold_asset": hold_asset.map_or_else(String::new, |a| r.asset_name(a)),
            });
            if let TimeInForce::Gtd { expiry_ns } = t {
                v["expiry_ns"] = Value::from(expiry_ns);
            }
            v
        }
        Event::TradeExecuted(tr) => {
            let quote = r
                .symbol_spec(tr.symbol)
                .map(|s| s.quote)
                .unwrap_or(u32::MAX);
            json!({
                "symbol": r.symbol_name(tr.symbol), "maker_order": tr.maker_order, "taker_order": tr.taker_order,
                "maker_account": tr.maker_account, "taker_account": tr.taker_account, "taker_side": side(tr.taker_side),
                "price": r.format_price(tr.symbol, tr.price), "qty": r.format_qty(tr.symbol, tr.qty),
                "maker_fee": r.format_amount(quote, tr.maker_fee), "taker_fee": r.format_amount(quote, tr.taker_fee),
                "fee_asset": r.asset_name(quote)
            })
        }
        Event::OrderRested { order } => json!({"order": order}),
        Event::OrderAmended {
            order,
            price,
            qty,
            reserved,
            priority_kept,
        } => {
            json!({"order": order, "price_ticks": price, "qty_lots": qty, "reserved_minor": reserved, "priority_kept": priority_kept})
        }
        Event::OrderCancelled {
            order,
            account,
            remaining,
            reason,
        } => json!({
            "order": order, "account": account, "remaining_lots": remaining, "reason": reason.code()
        }),
    };
    object(event.name(), body)
}

/// One command as the JSON line `keel run` reads.
pub fn command_json(r: &Registry, cmd: &Command) -> Value {
    let mut v = match cmd.kind {
        CommandKind::OpenAccount => json!({}),
        CommandKind::Deposit { asset, amount } | CommandKind::Withdraw { asset, amount } => {
            json!({"asset": r.asset_name(asset), "amount": r.format_amount(asset, amount)})
        }
        CommandKind::Transfer { to, asset, amount } => {
            json!({"to": to, "asset": r.asset_name(asset), "amount": r.format_amount(asset, amount)})
        }
        CommandKind::PlaceOrder(p) => {
            let mut v = json!({
                "symbol": r.symbol_name(p.symbol), "side": side(p.side), "qty": r.format_qty(p.symbol, p.qty),
                "tif": tif(p.tif), "post_only": p.post_only, "stp": stp(p.stp)
            });
            match p.order_type {
                OrderType::Limit { price } => {
                    v["order_type"] = "limit".into();
                    v["price"] = r.format_price(p.symbol, price).into();
                }
                OrderType::Market { bound } => {
                    v["order_type"] = "market".into();
                    match bound {
                        MarketBound::None => {}
                        MarketBound::QuoteBudget { amount } => {
                            let quote =
                                r.symbol_spec(p.symbol).map(|s| s.quote).unwrap_or(u32::MAX);
                            v["budget"] = r.format_amount(quote, amount).into();
                        }
                        MarketBound::ProtectionPrice { price } => {
                            v["protection_price"] = r.format_price(p.symbol, price).into()
                        }
                    }
                }
            }
            if let TimeInForce::Gtd { expiry_ns } = p.tif {
                v["expiry_ns"] = expiry_ns.into();
            }
            v
        }
        CommandKind::CancelOrder { order } => json!({"order": order}),
        CommandKind::AmendOrder { order, price, qty } => {
            json!({"order": order, "price_ticks": price, "qty_lots": qty})
        }
        CommandKind::CancelAll { symbol } | CommandKind::CancelAllContinued { symbol } => {
            match symbol {
                Some(s) => json!({"symbol": r.symbol_name(s)}),
                None => json!({}),
            }
        }
        CommandKind::ExpireDue => json!({}),
        CommandKind::AddAsset { name, scale } => json!({"name": name.as_str(), "scale": scale}),
        CommandKind::AddSymbol(spec) => json!({
            "name": spec.name.as_str(), "base": r.asset_name(spec.base), "quote": r.asset_name(spec.quote),
            "tick_size": spec.tick_size.to_string(), "lot_size": spec.lot_size.to_string(),
            "maker_fee_bps": spec.maker_fee_bps, "taker_fee_bps": spec.taker_fee_bps
        }),
        CommandKind::HaltSymbol { symbol } | CommandKind::ResumeSymbol { symbol } => {
            json!({"symbol": r.symbol_name(symbol)})
        }
    };
    v["account"] = cmd.account.into();
    v["request_id"] = cmd.request_id.into();
    object(cmd.kind.name(), v)
}

/// Which of a trade's two accounts a line written for `viewer` shows
/// (`None`: everyone, both): a viewer on one side does not see the other
/// side's account; a viewer on both sides, or on neither, sees both.
pub fn trade_accounts_shown(trade: &Trade, viewer: Option<AccountId>) -> (bool, bool) {
    match viewer {
        Some(v) if trade.taker_account == v && trade.maker_account != v => (false, true),
        Some(v) if trade.maker_account == v && trade.taker_account != v => (true, false),
        _ => (true, true),
    }
}

/// Removes, from the trades of an output or update value written for
/// `viewer`, the other side's account ([`trade_accounts_shown`]).
pub fn hide_counterparty(value: &mut Value, viewer: AccountId) {
    let Some(events) = value.get_mut("events").and_then(Value::as_array_mut) else {
        return;
    };
    let v = u64::from(viewer);
    for e in events {
        let Some(obj) = e.as_object_mut() else {
            continue;
        };
        if obj.get("type").and_then(Value::as_str) != Some("trade_executed") {
            continue;
        }
        let maker = obj.get("maker_account").and_then(Value::as_u64);
        let taker = obj.get("taker_account").and_then(Value::as_u64);
        if taker == Some(v) && maker != Some(v) {
            obj.shift_remove("maker_account");
        } else if maker == Some(v) && taker != Some(v) {
            obj.shift_remove("taker_account");
        }
    }
}

/// One output line: a command's sequence, timestamp, correlation and events.
pub fn output_json(r: &Registry, seq: u64, ts_ns: u64, cmd: &Command, events: &[Event]) -> Value {
    // Field order is kept (serde_json's preserve_order): seq first.
    json!({
        "seq": seq,
        "ts": ts_ns,
        "account": cmd.account,
        "request_id": cmd.request_id,
        "command": cmd.kind.name(),
        "events": events.iter().map(|e| event_json(r, e)).collect::<Vec<_>>(),
    })
}
