//! `replay diff DIR --from A --to B`: what the records A+1..=B changed:
//! balances per account and asset, and orders opened, filled, partially
//! filled and cancelled.

use keel_engine::model::Trade;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use keel_engine::model::{AccountId, AssetId, CancelReason, Event, OrderId, Side, SymbolId};
use keel_engine::Registry;
use keel_engine::{Limits, State};
use serde_json::{json, Value};

use crate::cli::{DiffArgs, Format};
use crate::progress::Progress;
use crate::render::{signed_amount, table};
use crate::source::Replayer;
use crate::state::side_name;
use crate::Failure;

/// Every (account, asset) balance, zeros included.
pub fn balance_map(state: &State) -> BTreeMap<(AccountId, AssetId), (u64, u64)> {
    let mut m = BTreeMap::new();
    for (id, acc) in state.accounts() {
        for asset in 0..state.assets().len() as AssetId {
            let b = acc.balance(asset);
            m.insert((id, asset), (b.available, b.held));
        }
    }
    m
}

#[derive(Clone, Copy, Debug)]
struct OrderInfo {
    account: AccountId,
    symbol: SymbolId,
    side: Side,
    price: u64,
    qty: u64,
}

/// An order as the diff shows it.
struct OrderDesc {
    account: AccountId,
    symbol: String,
    side: &'static str,
    /// None: a market order without a protection price.
    price: Option<String>,
    qty: String,
}

pub fn run(a: &DiffArgs, limits: Limits, out: &mut dyn Write) -> Result<(), Failure> {
    if a.from > a.to {
        return Err(Failure::input(format!(
            "--from {} is after --to {}",
            a.from, a.to
        )));
    }
    let mut rp = Replayer::from_snapshot(&a.dir, limits, Some(a.from))?;
    let mut progress = Progress::new("diff", None);
    rp.advance_to(Some(a.from), &mut progress)?;
    let before = balance_map(&rp.state);
    let mut known: BTreeMap<OrderId, OrderInfo> = BTreeMap::new();
    for (id, _) in rp.state.accounts() {
        for o in rp.state.account_orders(id) {
            known.insert(
                o.id,
                OrderInfo {
                    account: o.account,
                    symbol: o.symbol,
                    side: o.side,
                    price: o.price,
                    qty: o.remaining,
                },
            );
        }
    }
    let mut opened: Vec<OrderId> = Vec::new();
    let mut traded: BTreeMap<OrderId, u64> = BTreeMap::new();
    let mut cancelled: Vec<(OrderId, u64, CancelReason)> = Vec::new();
    let mut cancelled_set = BTreeSet::new();
    let (mut trades, mut records) = (0u64, 0u64);
    rp.advance(Some(a.to), &mut progress, |_, events, _| {
        records += 1;
        for e in events {
            match *e {
                Event::OrderAccepted {
                    order,
                    account,
                    symbol,
                    side,
                    price,
                    qty,
                    ..
                } => {
                    opened.push(order);
                    known.insert(
                        order,
                        OrderInfo {
                            account,
                            symbol,
                            side,
                            price,
                            qty,
                        },
                    );
                }
                Event::TradeExecuted(Trade {
                    maker_order,
                    taker_order,
                    qty,
                    ..
                }) => {
                    trades += 1;
                    *traded.entry(maker_order).or_default() += qty;
                    *traded.entry(taker_order).or_default() += qty;
                }
                Event::OrderCancelled {
                    order,
                    remaining,
                    reason,
                    ..
                } => {
                    cancelled.push((order, remaining, reason));
                    cancelled_set.insert(order);
                }
                _ => {}
            }
        }
        Ok(())
    })?;
    rp.require(Some(a.to))?;
    progress.finish();
    let state = &rp.state;
    let r = Registry::from_state(state);
    let after = balance_map(state);
    let keys: BTreeSet<_> = before.keys().chain(after.keys()).copied().collect();
    let mut changes = Vec::new();
    for k in keys {
        let (a0, h0) = before.get(&k).copied().unwrap_or_default();
        let (a1, h1) = after.get(&k).copied().unwrap_or_default();
        if (a0, h0) != (a1, h1) {
            changes.push((k, a1 as i128 - a0 as i128, h1 as i128 - h0 as i128, a1, h1));
        }
    }
    let filled: Vec<(OrderId, u64)> = traded
        .iter()
        .filter(|(o, _)| state.order(**o).is_none() && !cancelled_set.contains(o))
        .map(|(o, q)| (*o, *q))
        .collect();
    let partial: Vec<(OrderId, u64)> = traded
        .iter()
        .filter(|(o, _)| state.order(**o).is_some() || cancelled_set.contains(o))
        .map(|(o, q)| (*o, *q))
        .collect();
    // What is known of an order: its account, symbol, side, price (None:
    // a market order without a protection price, whose `order_accepted`
    // says `"price":null`) and quantity.
    let describe = |o: OrderId| -> Option<OrderDesc> {
        known.get(&o).map(|i| OrderDesc {
            account: i.account,
            symbol: r.symbol_name(i.symbol),
            side: side_name(i.side),
            price: (i.price != 0).then(|| r.format_price(i.symbol, i.price)),
            qty: r.format_qty(i.symbol, i.qty),
        })
    };
    // Text cells: `-` for what is unknown or absent.
    let order_desc = |o: OrderId| -> (String, String, String, String, String) {
        match describe(o) {
            Some(d) => (
                d.account.to_string(),
                d.symbol,
                d.side.to_string(),
                d.price.unwrap_or_else(|| "-".to_string()),
                d.qty,
            ),
            None => ("-".into(), "-".into(), "-".into(), "-".into(), "-".into()),
        }
    };
    // JSON fields: numbers as numbers, `null` for what is unknown or absent.
    let order_json = |o: OrderId| -> serde_json::Map<String, Value> {
        let mut m = serde_json::Map::new();
        m.insert("order".into(), o.into());
        let d = describe(o);
        m.insert(
            "account".into(),
            d.as_ref().map_or(Value::Null, |d| d.account.into()),
        );
        m.insert(
            "symbol".into(),
            d.as_ref().map_or(Value::Null, |d| d.symbol.clone().into()),
        );
        m.insert(
            "side".into(),
            d.as_ref().map_or(Value::Null, |d| d.side.into()),
        );
        m
    };
    let qty_of = |o: OrderId, lots: u64| match known.get(&o) {
        Some(i) => r.format_qty(i.symbol, lots),
        None => format!("{lots} lots"),
    };
    let w = |e| Failure::output(e);
    match a.format {
        Format::Json => {
            let v = json!({
                "from": a.from, "to": a.to, "records": records, "trades": trades,
                "balances": changes.iter().map(|((acc, asset), da, dh, a1, h1)| json!({
                    "account": acc, "asset": r.asset_name(*asset),
                    "available_change": signed_amount(&r, *asset, *da),
                    "held_change": signed_amount(&r, *asset, *dh),
                    "available": r.format_amount(*asset, *a1), "held": r.format_amount(*asset, *h1),
                })).collect::<Vec<_>>(),
                "opened": opened.iter().map(|&o| {
                    let mut m = order_json(o);
                    let d = describe(o);
                    m.insert("price".into(), d.as_ref().and_then(|d| d.price.clone()).map_or(Value::Null, Value::from));
                    m.insert("qty".into(), d.map_or(Value::Null, |d| d.qty.into()));
                    Value::Object(m)
                }).collect::<Vec<_>>(),
                "filled": filled.iter().map(|&(o, q)| {
                    let mut m = order_json(o);
                    m.insert("filled".into(), qty_of(o, q).into());
                    Value::Object(m)
                }).collect::<Vec<_>>(),
                "partially_filled": partial.iter().map(|&(o, q)| {
                    let mut m = order_json(o);
                    m.insert("filled".into(), qty_of(o, q).into());
                    Value::Object(m)
                }).collect::<Vec<_>>(),
                "cancelled": cancelled.iter().map(|&(o, rem, why)| {
                    let mut m = order_json(o);
                    m.insert("remaining".into(), qty_of(o, rem).into());
                    m.insert("reason".into(), why.code().into());
                    Value::Object(m)
                }).collect::<Vec<_>>(),
            });
            writeln!(out, "{v}").map_err(w)?;
        }
        Format::Text => {
            writeln!(
                out,
                "changes from after sequence {} to after sequence {}: {records} records, {trades} trades",
                a.from, a.to
            )
            .map_err(w)?;
            writeln!(out, "\nbalances:").map_err(w)?;
            let rows: Vec<Vec<String>> = changes
                .iter()
                .map(|((acc, asset), da, dh, a1, h1)| {
                    vec![
                        acc.to_string(),
                        r.asset_name(*asset),
                        signed_amount(&r, *asset, *da),
                        signed_amount(&r, *asset, *dh),
                        r.format_amount(*asset, *a1),
                        r.format_amount(*asset, *h1),
                    ]
                })
                .collect();
            table(
                out,
                "  ",
                &[
                    "account",
                    "asset",
                    "available",
                    "held",
                    "available_now",
                    "held_now",
                ],
                &rows,
            )
            .map_err(w)?;
            writeln!(out, "\norders opened ({}):", opened.len()).map_err(w)?;
            let rows: Vec<Vec<String>> = opened
                .iter()
                .map(|&o| {
                    let d = order_desc(o);
                    vec![o.to_string(), d.0, d.1, d.2, d.3, d.4]
                })
                .collect();
            table(
                out,
                "  ",
                &["order", "account", "symbol", "side", "price", "qty"],
                &rows,
            )
            .map_err(w)?;
            for (title, list) in [
                ("orders filled", &filled),
                ("orders partially filled", &partial),
            ] {
                writeln!(out, "\n{title} ({}):", list.len()).map_err(w)?;
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|&(o, q)| {
                        let d = order_desc(o);
                        vec![o.to_string(), d.0, d.1, d.2, qty_of(o, q)]
                    })
                    .collect();
                table(
                    out,
                    "  ",
                    &["order", "account", "symbol", "side", "filled"],
                    &rows,
                )
                .map_err(w)?;
            }
            writeln!(out, "\norders cancelled ({}):", cancelled.len()).map_err(w)?;
            let rows: Vec<Vec<String>> = cancelled
                .iter()
                .map(|&(o, rem, why)| {
                    let d = order_desc(o);
                    vec![
                        o.to_string(),
                        d.0,
                        d.1,
                        d.2,
                        qty_of(o, rem),
                        why.code().to_string(),
                    ]
                })
                .collect();
            table(
                out,
                "  ",
                &["order", "account", "symbol", "side", "remaining", "reason"],
                &rows,
            )
            .map_err(w)?;
        }
    }
    Ok(())
}
