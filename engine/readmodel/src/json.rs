//! The read models as the feed's JSON messages (documented in
//! `docs/PROTOCOL.md`): levels are `[price, qty, orders]` with decimal
//! strings, as every other Keel message prints them.

use keel_engine::model::Side;
use keel_engine::Registry;
use serde_json::{json, Value};

use crate::{AccountView, Bbo, Candle, DepthDelta, DepthSnapshot, Level, TradePrint};

fn side(s: Side) -> &'static str {
    match s {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

fn level(r: &Registry, symbol: u32, l: &Level) -> Value {
    json!([
        r.format_price(symbol, l.price),
        r.format_qty(symbol, l.qty),
        l.orders
    ])
}

/// A `book` message: the depth snapshot.
pub fn book(r: &Registry, s: &DepthSnapshot) -> Value {
    json!({
        "type": "book",
        "symbol": r.symbol_name(s.symbol),
        "seq": s.seq,
        "update": s.update,
        "bids": s.bids.iter().map(|l| level(r, s.symbol, l)).collect::<Vec<_>>(),
        "asks": s.asks.iter().map(|l| level(r, s.symbol, l)).collect::<Vec<_>>(),
        "checksum": s.checksum,
    })
}

/// A `book_delta` message.
pub fn delta(r: &Registry, d: &DepthDelta) -> Value {
    let changes = |want: Side| -> Vec<Value> {
        d.changes
            .iter()
            .filter(|c| c.side == want)
            .map(|c| level(r, d.symbol, &c.level))
            .collect()
    };
    json!({
        "type": "book_delta",
        "symbol": r.symbol_name(d.symbol),
        "update": d.update,
        "prev_update": d.prev_update,
        "ts": d.ts_ns,
        "bids": changes(Side::Buy),
        "asks": changes(Side::Sell),
        "checksum": d.checksum,
    })
}

/// A `bbo` message.
pub fn bbo(r: &Registry, b: &Bbo) -> Value {
    let best = |x: Option<(u64, u64)>| {
        x.map(|(p, q)| json!([r.format_price(b.symbol, p), r.format_qty(b.symbol, q)]))
    };
    json!({"type": "bbo", "symbol": r.symbol_name(b.symbol), "seq": b.seq, "bid": best(b.bid), "ask": best(b.ask)})
}

/// A `trade` message.
pub fn trade(r: &Registry, t: &TradePrint) -> Value {
    json!({
        "type": "trade",
        "symbol": r.symbol_name(t.symbol),
        "seq": t.seq,
        "ts": t.ts_ns,
        "price": r.format_price(t.symbol, t.price),
        "qty": r.format_qty(t.symbol, t.qty),
        "taker_side": side(t.taker_side),
    })
}

/// A `candle` message.
pub fn candle(r: &Registry, c: &Candle) -> Value {
    let p = |ticks| r.format_price(c.symbol, ticks);
    json!({
        "type": "candle",
        "symbol": r.symbol_name(c.symbol),
        "interval": if c.interval_ns == 1_000_000_000 { "1s" } else { "1m" },
        "start": c.start_ns,
        "open": p(c.open), "high": p(c.high), "low": p(c.low), "close": p(c.close),
        "volume": r.format_qty(c.symbol, c.volume),
        "trades": c.trades,
    })
}

/// An `account` message: balances and open orders.
pub fn account(r: &Registry, v: &AccountView) -> Value {
    json!({
        "type": "account",
        "account": v.account,
        "seq": v.seq,
        "balances": v.balances.iter().map(|(asset, available, held)| json!({
            "asset": r.asset_name(*asset),
            "available": r.format_amount(*asset, *available),
            "held": r.format_amount(*asset, *held),
        })).collect::<Vec<_>>(),
        "orders": v.orders.iter().map(|(order, symbol, s, price, remaining)| json!({
            "order": order,
            "symbol": r.symbol_name(*symbol),
            "side": side(*s),
            "price": r.format_price(*symbol, *price),
            "remaining": r.format_qty(*symbol, *remaining),
        })).collect::<Vec<_>>(),
    })
}
