//! `replay state DIR [--at SEQ]`: the state as of a sequence, rebuilt by
//! applying journaled events (from the newest valid snapshot at or before
//! it, else from genesis): balances, open orders, book depth, digest.

use std::io::Write;

use keel_engine::model::{AccountId, AssetId, OrderId, Side, SymbolId, TimeInForce};
use keel_engine::Registry;
use keel_engine::{Limits, State};
use serde_json::{json, Value};

use crate::cli::{Format, StateArgs};
use crate::progress::Progress;
use crate::render::{
    push_amount, push_asset_name, push_price, push_qty, push_scaled, push_symbol_name, push_uint,
    Cells,
};
use crate::source::Replayer;
use crate::Failure;

/// Rebuilds the state after `at` (the end if `None`).
pub fn state_at(
    dir: &std::path::Path,
    limits: Limits,
    at: Option<u64>,
) -> Result<Replayer, Failure> {
    let mut rp = Replayer::from_snapshot(dir, limits, at)?;
    let mut progress = Progress::new("state", None);
    rp.advance_to(at, &mut progress)?;
    Ok(rp)
}

/// One balance row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BalanceRow {
    pub account: AccountId,
    pub asset: AssetId,
    pub available: u64,
    pub held: u64,
}

/// Balances per account and asset (non-zero only, unless `account` is given).
pub fn balances(
    state: &State,
    account: Option<AccountId>,
    assets: Option<&[AssetId]>,
) -> Vec<BalanceRow> {
    let mut rows = Vec::new();
    for (id, acc) in state.accounts() {
        if account.is_some_and(|a| a != id) {
            continue;
        }
        for asset in 0..state.assets().len() as AssetId {
            if assets.is_some_and(|l| !l.contains(&asset)) {
                continue;
            }
            let b = acc.balance(asset);
            if b.available == 0 && b.held == 0 && account.is_none() {
                continue;
            }
            rows.push(BalanceRow {
                account: id,
                asset,
                available: b.available,
                held: b.held,
            });
        }
    }
    rows
}

pub fn side_name(s: Side) -> &'static str {
    match s {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

pub fn tif_name(t: TimeInForce) -> String {
    match t {
        TimeInForce::Gtc => "gtc".into(),
        TimeInForce::Ioc => "ioc".into(),
        TimeInForce::Fok => "fok".into(),
        TimeInForce::Gtd { expiry_ns } => format!("gtd@{expiry_ns}"),
    }
}

/// One open order, formatted.
struct OrderRow {
    order: OrderId,
    account: AccountId,
    symbol: String,
    side: &'static str,
    price: String,
    remaining: String,
    reserved: String,
    reserved_asset: String,
    tif: String,
    post_only: bool,
}

/// Open orders (in account, then order-id order).
fn order_rows(
    state: &State,
    r: &Registry,
    account: Option<AccountId>,
    symbol: Option<SymbolId>,
) -> Vec<OrderRow> {
    let mut rows = Vec::new();
    for (id, _) in state.accounts() {
        if account.is_some_and(|a| a != id) {
            continue;
        }
        for o in state.account_orders(id) {
            if symbol.is_some_and(|s| s != o.symbol) {
                continue;
            }
            let hold_asset = r.symbol_spec(o.symbol).map(|s| match o.side {
                Side::Buy => s.quote,
                Side::Sell => s.base,
            });
            rows.push(OrderRow {
                order: o.id,
                account: o.account,
                symbol: r.symbol_name(o.symbol),
                side: side_name(o.side),
                price: r.format_price(o.symbol, o.price),
                remaining: r.format_qty(o.symbol, o.remaining),
                reserved: hold_asset.map_or_else(
                    || o.reserved.to_string(),
                    |a| r.format_amount(a, o.reserved),
                ),
                reserved_asset: hold_asset.map_or_else(String::new, |a| r.asset_name(a)),
                tif: tif_name(o.tif()),
                post_only: o.post_only,
            });
        }
    }
    rows
}

/// Open orders as JSON objects (in account, then order-id order).
pub fn orders_json(
    state: &State,
    r: &Registry,
    account: Option<AccountId>,
    symbol: Option<SymbolId>,
) -> Vec<Value> {
    order_rows(state, r, account, symbol)
        .into_iter()
        .map(|o| {
            json!({
                "order": o.order,
                "account": o.account,
                "symbol": o.symbol,
                "side": o.side,
                "price": o.price,
                "remaining": o.remaining,
                "reserved": o.reserved,
                "reserved_asset": o.reserved_asset,
                "tif": o.tif,
                "post_only": o.post_only,
            })
        })
        .collect()
}

fn depth_json(state: &State, r: &Registry, symbol: SymbolId, side: Side) -> Vec<Value> {
    state
        .depth(symbol, side)
        .into_iter()
        .map(|(price, qty, count)| {
            json!({"price": r.format_price(symbol, price), "qty": r.format_qty(symbol, qty), "orders": count})
        })
        .collect()
}

pub fn run(a: &StateArgs, limits: Limits, out: &mut dyn Write) -> Result<(), Failure> {
    let started = std::time::Instant::now();
    let rp = state_at(&a.dir, limits, a.at)?;
    if a.timing {
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "replay: applied {} records in {secs:.3} s ({:.0} records/s){}",
            rp.applied(),
            rp.applied() as f64 / secs.max(1e-9),
            rp.snapshot_seq
                .map_or_else(String::new, |s| format!(" after the snapshot at {s}"))
        );
    }
    let state = &rp.state;
    let r = Registry::from_state(state);
    let symbol = match &a.symbol {
        Some(name) => Some(r.symbol(name).map_err(|e| Failure::input(e.to_string()))?),
        None => None,
    };
    if let Some(acc) = a.account {
        if state.account(acc).is_none() {
            return Err(Failure::input(format!(
                "account {acc} does not exist after sequence {}",
                rp.last_seq
            )));
        }
    }
    let assets: Option<Vec<AssetId>> = symbol
        .and_then(|s| r.symbol_spec(s))
        .map(|s| vec![s.base, s.quote]);
    let balance_rows = balances(state, a.account, assets.as_deref());
    let symbols: Vec<SymbolId> = match symbol {
        Some(s) => vec![s],
        None => (0..state.symbols().len() as SymbolId).collect(),
    };
    let w = |e| Failure::output(e);
    // The digest (a hash over the whole state) is computed on a second
    // thread while this one formats the rest of the output.
    let (digest, body) = std::thread::scope(|scope| {
        let digest = scope.spawn(|| state.digest().to_string());
        let body = match a.format {
            Format::Json => {
                let assets = state
                    .assets()
                    .iter()
                    .map(|x| {
                        json!({
                            "asset": x.name.as_str(), "scale": x.scale,
                            "supply": format_scaled(x.supply, x.scale),
                        })
                    })
                    .collect::<Vec<_>>();
                let balances = balance_rows
                    .iter()
                    .map(|b| {
                        json!({
                            "account": b.account, "asset": r.asset_name(b.asset),
                            "available": r.format_amount(b.asset, b.available),
                            "held": r.format_amount(b.asset, b.held),
                        })
                    })
                    .collect::<Vec<_>>();
                let orders = orders_json(state, &r, a.account, symbol);
                let books = symbols
                    .iter()
                    .map(|&s| {
                        json!({
                            "symbol": r.symbol_name(s),
                            "halted": state.symbol(s).is_some_and(|x| x.halted),
                            "bids": depth_json(state, &r, s, Side::Buy),
                            "asks": depth_json(state, &r, s, Side::Sell),
                        })
                    })
                    .collect::<Vec<_>>();
                Body::Json {
                    assets,
                    balances,
                    orders,
                    books,
                }
            }
            Format::Text => Body::Text(text_body(
                state,
                &r,
                &balance_rows,
                a.account,
                symbol,
                &symbols,
            )),
        };
        let digest = digest
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        (digest, body)
    });
    match body {
        Body::Json {
            assets,
            balances,
            orders,
            books,
        } => {
            let v = json!({
                "seq": rp.last_seq,
                "ts": rp.last_ts,
                "digest": digest,
                "assets": assets,
                "balances": balances,
                "orders": orders,
                "books": books,
            });
            writeln!(out, "{v}").map_err(w)?;
        }
        Body::Text(body) => {
            let snap = rp
                .snapshot_seq
                .map_or_else(String::new, |s| format!(" (from the snapshot at {s})"));
            writeln!(
                out,
                "state after sequence {} (ts {}){snap}",
                rp.last_seq, rp.last_ts
            )
            .map_err(w)?;
            writeln!(out, "digest {digest}").map_err(w)?;
            out.write_all(&body).map_err(w)?;
        }
    }
    Ok(())
}

/// The output, but for its first lines (which need the digest).
enum Body {
    Json {
        assets: Vec<Value>,
        balances: Vec<Value>,
        orders: Vec<Value>,
        books: Vec<Value>,
    },
    Text(Vec<u8>),
}

/// The text output after the digest line: assets, balances, open orders and
/// books as tables, written without allocating per cell.
fn text_body(
    state: &State,
    r: &Registry,
    balance_rows: &[BalanceRow],
    account: Option<AccountId>,
    symbol: Option<SymbolId>,
    symbols: &[SymbolId],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 << 16);
    let mut cells = Cells::new();
    out.extend_from_slice(b"\nassets:\n");
    for x in state.assets() {
        cells.str(x.name.as_str());
        cells.uint(x.scale as u64);
        push_scaled(cells.buf(), x.supply as u128, x.scale);
        cells.end();
    }
    cells.write_table(&mut out, "  ", &["asset", "scale", "supply"]);
    out.extend_from_slice(b"\nbalances:\n");
    let mut cells = Cells::new();
    for b in balance_rows {
        cells.uint(b.account as u64);
        push_asset_name(cells.buf(), r, b.asset);
        cells.end();
        push_amount(cells.buf(), r, b.asset, b.available);
        cells.end();
        push_amount(cells.buf(), r, b.asset, b.held);
        cells.end();
    }
    cells.write_table(&mut out, "  ", &["account", "asset", "available", "held"]);
    out.extend_from_slice(b"\nopen orders:\n");
    let mut cells = Cells::new();
    for (id, _) in state.accounts() {
        if account.is_some_and(|a| a != id) {
            continue;
        }
        for o in state.account_orders(id) {
            if symbol.is_some_and(|s| s != o.symbol) {
                continue;
            }
            let hold_asset = r.symbol_spec(o.symbol).map(|s| match o.side {
                Side::Buy => s.quote,
                Side::Sell => s.base,
            });
            cells.uint(o.id);
            cells.uint(o.account as u64);
            push_symbol_name(cells.buf(), r, o.symbol);
            cells.end();
            cells.str(side_name(o.side));
            push_price(cells.buf(), r, o.symbol, o.price);
            cells.end();
            push_qty(cells.buf(), r, o.symbol, o.remaining);
            cells.end();
            match hold_asset {
                Some(asset) => push_amount(cells.buf(), r, asset, o.reserved),
                None => push_uint(cells.buf(), o.reserved),
            }
            cells.end();
            match o.tif() {
                TimeInForce::Gtd { expiry_ns } => {
                    cells.buf().push_str("gtd@");
                    push_uint(cells.buf(), expiry_ns);
                    cells.end();
                }
                t => cells.str(&tif_name(t)),
            }
        }
    }
    let keys = [
        "order",
        "account",
        "symbol",
        "side",
        "price",
        "remaining",
        "reserved",
        "tif",
    ];
    cells.write_table(&mut out, "  ", &keys);
    for &s in symbols {
        let halted = if state.symbol(s).is_some_and(|x| x.halted) {
            " (halted)"
        } else {
            ""
        };
        out.extend_from_slice(b"\nbook ");
        let mut name = String::new();
        push_symbol_name(&mut name, r, s);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(halted.as_bytes());
        out.extend_from_slice(b":\n");
        let mut cells = Cells::new();
        for (side, name) in [(Side::Sell, "ask"), (Side::Buy, "bid")] {
            let mut levels = state.depth(s, side);
            if side == Side::Sell {
                levels.reverse(); // asks worst first, so the spread is in the middle
            }
            for (price, qty, count) in levels {
                cells.str(name);
                push_price(cells.buf(), r, s, price);
                cells.end();
                push_qty(cells.buf(), r, s, qty);
                cells.end();
                cells.uint(count as u64);
            }
        }
        cells.write_table(&mut out, "  ", &["side", "price", "qty", "orders"]);
    }
    out
}

pub fn format_scaled(v: u64, scale: u8) -> String {
    let mut s = String::new();
    let _ = keel_engine::model::decimal::format_scaled(&mut s, v as u128, scale);
    s
}
