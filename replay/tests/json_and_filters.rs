//! The JSON shape of every subcommand's JSON output (keys and value types,
//! on a journal with every event kind), `diff`'s market orders without a
//! price, and exactly which records each `dump` filter selects.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

/// The story, then: a zero-fee trade (26), a resting buy (27), a market sell
/// without a price that trades with it (28), a market buy with a budget and
/// nothing to buy (29), a second asset and symbol with a resting order and a
/// halt (30-34).
fn lines() -> Vec<String> {
    let extra = [
        // 24: order 6 rests; 25: order 7 takes it (1 minor unit of notional, no fee).
        r#"{"type":"place_order","account":3,"request_id":7,"symbol":"BTC-USD","side":"sell","order_type":"limit","price":"0.01","qty":"0.0001","ts":21000}"#,
        r#"{"type":"place_order","account":1,"request_id":5,"symbol":"BTC-USD","side":"buy","order_type":"limit","price":"0.01","qty":"0.0001","ts":22000}"#,
        // 26: order 8 rests; 27: order 9, a market sell without a price, trades with it (fees).
        r#"{"type":"place_order","account":2,"request_id":8,"symbol":"BTC-USD","side":"buy","order_type":"limit","price":"95.00","qty":"0.1","ts":23000}"#,
        r#"{"type":"place_order","account":1,"request_id":6,"symbol":"BTC-USD","side":"sell","order_type":"market","qty":"0.05","tif":"ioc","ts":24000}"#,
        // 28: order 10, a budget market buy with no ask: its remainder is cancelled.
        r#"{"type":"place_order","account":3,"request_id":8,"symbol":"BTC-USD","side":"buy","order_type":"market","qty":"0.01","tif":"ioc","budget":"10","ts":25000}"#,
        // 29-33: ETH, ETH-USD, a deposit, order 11 rests, a halt.
        r#"{"type":"add_asset","account":0,"request_id":102,"name":"ETH","scale":8,"ts":26000}"#,
        r#"{"type":"add_symbol","account":0,"request_id":103,"name":"ETH-USD","base":"ETH","quote":"USD","tick_size":"0.01","lot_size":"0.001","maker_fee_bps":0,"taker_fee_bps":0,"ts":27000}"#,
        r#"{"type":"deposit","account":3,"request_id":9,"asset":"ETH","amount":"1","ts":28000}"#,
        r#"{"type":"place_order","account":3,"request_id":10,"symbol":"ETH-USD","side":"sell","order_type":"limit","price":"2000.00","qty":"0.5","ts":29000}"#,
        r#"{"type":"halt_symbol","account":0,"request_id":104,"symbol":"ETH-USD","ts":30000}"#,
    ];
    let mut l = story();
    l.extend(extra.iter().map(|s| s.to_string()));
    l
}

const LAST: u64 = 33;

fn journal() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("journal");
    // A run names assets and symbols as they were when it started: new ones
    // are used by the following run, which continues the journal.
    let l = lines();
    let add_asset = l.iter().position(|l| l.contains("add_asset")).unwrap();
    write_journal(&dir, &l[..=add_asset], 1);
    write_journal(&dir, &l[add_asset + 1..=add_asset + 1], 1);
    write_journal(&dir, &l[add_asset + 2..], 1);
    (tmp, dir)
}

fn json_lines(out: &str) -> Vec<Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_u64() || n.is_i64() => "integer",
        Value::Number(_) => "float",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `[TYPE]` for an object with a string `type` (an event, a command), so
/// that each kind has its own keys.
fn typed(v: &Value) -> String {
    v.get("type")
        .and_then(Value::as_str)
        .map_or_else(String::new, |t| format!("[{t}]"))
}

/// Every path in `v` with the JSON types seen there. Array elements are
/// `[]`; objects with a string `type` add `[TYPE]` to their path.
fn shape(v: &Value, path: &str, out: &mut BTreeMap<String, BTreeSet<&'static str>>) {
    out.entry(path.to_string()).or_default().insert(kind(v));
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                shape(x, &format!("{path}.{k}{}", typed(x)), out);
            }
        }
        Value::Array(a) => {
            for x in a {
                let t = typed(x);
                let seg = if t.is_empty() { "[]".to_string() } else { t };
                shape(x, &format!("{path}{seg}"), out);
            }
        }
        _ => {}
    }
}

/// The shape of some JSON values as `path: type|type` lines.
fn shape_text(values: &[Value]) -> String {
    let mut m = BTreeMap::new();
    for v in values {
        shape(v, &typed(v), &mut m);
    }
    m.iter()
        .map(|(k, t)| {
            format!(
                "{}: {}\n",
                if k.is_empty() { "." } else { k },
                t.iter().copied().collect::<Vec<_>>().join("|")
            )
        })
        .collect()
}

/// Compares a shape with the pinned one; on a difference prints the shape
/// found and returns false.
fn same_shape(what: &str, values: &[Value], expected: &str) -> bool {
    let got = shape_text(values);
    let want: String = expected
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    if got != want {
        eprintln!("{what}: the JSON shape differs from the pinned one; found:\n{got}");
    }
    got == want
}

const DUMP_SHAPE: &str = "
    .: object
    .account: integer
    .command: string
    .events: array
    .events[accepted]: object
    .events[accepted].account: integer
    .events[accepted].request_id: integer
    .events[accepted].type: string
    .events[account_opened]: object
    .events[account_opened].account: integer
    .events[account_opened].type: string
    .events[asset_added]: object
    .events[asset_added].asset: string
    .events[asset_added].asset_id: integer
    .events[asset_added].scale: integer
    .events[asset_added].type: string
    .events[deposited]: object
    .events[deposited].account: integer
    .events[deposited].amount: string
    .events[deposited].asset: string
    .events[deposited].type: string
    .events[order_accepted]: object
    .events[order_accepted].account: integer
    .events[order_accepted].expiry_ns: integer
    .events[order_accepted].hold: string
    .events[order_accepted].hold_asset: string
    .events[order_accepted].order: integer
    .events[order_accepted].order_type: string
    .events[order_accepted].post_only: bool
    .events[order_accepted].price: null|string
    .events[order_accepted].qty: string
    .events[order_accepted].side: string
    .events[order_accepted].stp: string
    .events[order_accepted].symbol: string
    .events[order_accepted].tif: string
    .events[order_accepted].type: string
    .events[order_amended]: object
    .events[order_amended].order: integer
    .events[order_amended].price_ticks: integer
    .events[order_amended].priority_kept: bool
    .events[order_amended].qty_lots: integer
    .events[order_amended].reserved_minor: integer
    .events[order_amended].type: string
    .events[order_cancelled]: object
    .events[order_cancelled].account: integer
    .events[order_cancelled].order: integer
    .events[order_cancelled].reason: string
    .events[order_cancelled].remaining_lots: integer
    .events[order_cancelled].type: string
    .events[order_rested]: object
    .events[order_rested].order: integer
    .events[order_rested].type: string
    .events[rejected]: object
    .events[rejected].account: integer
    .events[rejected].message: string
    .events[rejected].reason: string
    .events[rejected].request_id: integer
    .events[rejected].type: string
    .events[symbol_added]: object
    .events[symbol_added].base: string
    .events[symbol_added].lot_size: string
    .events[symbol_added].maker_fee_bps: integer
    .events[symbol_added].quote: string
    .events[symbol_added].symbol: string
    .events[symbol_added].symbol_id: integer
    .events[symbol_added].taker_fee_bps: integer
    .events[symbol_added].tick_size: string
    .events[symbol_added].type: string
    .events[symbol_halted]: object
    .events[symbol_halted].symbol: string
    .events[symbol_halted].type: string
    .events[symbol_resumed]: object
    .events[symbol_resumed].symbol: string
    .events[symbol_resumed].type: string
    .events[trade_executed]: object
    .events[trade_executed].fee_asset: string
    .events[trade_executed].maker_account: integer
    .events[trade_executed].maker_fee: string
    .events[trade_executed].maker_order: integer
    .events[trade_executed].price: string
    .events[trade_executed].qty: string
    .events[trade_executed].symbol: string
    .events[trade_executed].taker_account: integer
    .events[trade_executed].taker_fee: string
    .events[trade_executed].taker_order: integer
    .events[trade_executed].taker_side: string
    .events[trade_executed].type: string
    .events[transferred]: object
    .events[transferred].amount: string
    .events[transferred].asset: string
    .events[transferred].from: integer
    .events[transferred].to: integer
    .events[transferred].type: string
    .events[withdrawn]: object
    .events[withdrawn].account: integer
    .events[withdrawn].amount: string
    .events[withdrawn].asset: string
    .events[withdrawn].type: string
    .intent[add_asset]: object
    .intent[add_asset].account: integer
    .intent[add_asset].name: string
    .intent[add_asset].request_id: integer
    .intent[add_asset].scale: integer
    .intent[add_asset].type: string
    .intent[add_symbol]: object
    .intent[add_symbol].account: integer
    .intent[add_symbol].base: string
    .intent[add_symbol].lot_size: string
    .intent[add_symbol].maker_fee_bps: integer
    .intent[add_symbol].name: string
    .intent[add_symbol].quote: string
    .intent[add_symbol].request_id: integer
    .intent[add_symbol].taker_fee_bps: integer
    .intent[add_symbol].tick_size: string
    .intent[add_symbol].type: string
    .intent[amend_order]: object
    .intent[amend_order].account: integer
    .intent[amend_order].order: integer
    .intent[amend_order].price_ticks: integer
    .intent[amend_order].qty_lots: integer
    .intent[amend_order].request_id: integer
    .intent[amend_order].type: string
    .intent[cancel_all]: object
    .intent[cancel_all].account: integer
    .intent[cancel_all].request_id: integer
    .intent[cancel_all].type: string
    .intent[cancel_order]: object
    .intent[cancel_order].account: integer
    .intent[cancel_order].order: integer
    .intent[cancel_order].request_id: integer
    .intent[cancel_order].type: string
    .intent[deposit]: object
    .intent[deposit].account: integer
    .intent[deposit].amount: string
    .intent[deposit].asset: string
    .intent[deposit].request_id: integer
    .intent[deposit].type: string
    .intent[halt_symbol]: object
    .intent[halt_symbol].account: integer
    .intent[halt_symbol].request_id: integer
    .intent[halt_symbol].symbol: string
    .intent[halt_symbol].type: string
    .intent[open_account]: object
    .intent[open_account].account: integer
    .intent[open_account].request_id: integer
    .intent[open_account].type: string
    .intent[place_order]: object
    .intent[place_order].account: integer
    .intent[place_order].budget: string
    .intent[place_order].expiry_ns: integer
    .intent[place_order].order_type: string
    .intent[place_order].post_only: bool
    .intent[place_order].price: string
    .intent[place_order].qty: string
    .intent[place_order].request_id: integer
    .intent[place_order].side: string
    .intent[place_order].stp: string
    .intent[place_order].symbol: string
    .intent[place_order].tif: string
    .intent[place_order].type: string
    .intent[resume_symbol]: object
    .intent[resume_symbol].account: integer
    .intent[resume_symbol].request_id: integer
    .intent[resume_symbol].symbol: string
    .intent[resume_symbol].type: string
    .intent[transfer]: object
    .intent[transfer].account: integer
    .intent[transfer].amount: string
    .intent[transfer].asset: string
    .intent[transfer].request_id: integer
    .intent[transfer].to: integer
    .intent[transfer].type: string
    .intent[withdraw]: object
    .intent[withdraw].account: integer
    .intent[withdraw].amount: string
    .intent[withdraw].asset: string
    .intent[withdraw].request_id: integer
    .intent[withdraw].type: string
    .request_id: integer
    .seq: integer
    .ts: integer
";
const STATE_SHAPE: &str = "
    .: object
    .assets: array
    .assets[]: object
    .assets[].asset: string
    .assets[].scale: integer
    .assets[].supply: string
    .balances: array
    .balances[]: object
    .balances[].account: integer
    .balances[].asset: string
    .balances[].available: string
    .balances[].held: string
    .books: array
    .books[]: object
    .books[].asks: array
    .books[].asks[]: object
    .books[].asks[].orders: integer
    .books[].asks[].price: string
    .books[].asks[].qty: string
    .books[].bids: array
    .books[].bids[]: object
    .books[].bids[].orders: integer
    .books[].bids[].price: string
    .books[].bids[].qty: string
    .books[].halted: bool
    .books[].symbol: string
    .digest: string
    .orders: array
    .orders[]: object
    .orders[].account: integer
    .orders[].order: integer
    .orders[].post_only: bool
    .orders[].price: string
    .orders[].remaining: string
    .orders[].reserved: string
    .orders[].reserved_asset: string
    .orders[].side: string
    .orders[].symbol: string
    .orders[].tif: string
    .seq: integer
    .ts: integer
";
const DIFF_SHAPE: &str = "
    .: object
    .balances: array
    .balances[]: object
    .balances[].account: integer
    .balances[].asset: string
    .balances[].available: string
    .balances[].available_change: string
    .balances[].held: string
    .balances[].held_change: string
    .cancelled: array
    .cancelled[]: object
    .cancelled[].account: integer
    .cancelled[].order: integer
    .cancelled[].reason: string
    .cancelled[].remaining: string
    .cancelled[].side: string
    .cancelled[].symbol: string
    .filled: array
    .filled[]: object
    .filled[].account: integer
    .filled[].filled: string
    .filled[].order: integer
    .filled[].side: string
    .filled[].symbol: string
    .from: integer
    .opened: array
    .opened[]: object
    .opened[].account: integer
    .opened[].order: integer
    .opened[].price: null|string
    .opened[].qty: string
    .opened[].side: string
    .opened[].symbol: string
    .partially_filled: array
    .partially_filled[]: object
    .partially_filled[].account: integer
    .partially_filled[].filled: string
    .partially_filled[].order: integer
    .partially_filled[].side: string
    .partially_filled[].symbol: string
    .records: integer
    .to: integer
    .trades: integer
";
const EXPORT_TRADES_SHAPE: &str = "
    .: object
    .fee_asset: string
    .maker_account: integer
    .maker_fee: string
    .maker_order: integer
    .price: string
    .qty: string
    .seq: integer
    .symbol: string
    .taker_account: integer
    .taker_fee: string
    .taker_order: integer
    .taker_side: string
    .ts: integer
";
const EXPORT_BALANCES_SHAPE: &str = "
    .: object
    .account: integer
    .asset: string
    .available: string
    .held: string
";
const EXPORT_ORDERS_SHAPE: &str = "
    .: object
    .account: integer
    .order: integer
    .post_only: bool
    .price: string
    .remaining: string
    .reserved: string
    .reserved_asset: string
    .side: string
    .symbol: string
    .tif: string
";
const CORRECTIONS_SHAPE: &str = "
    [deposit]: object
    [deposit].account: integer
    [deposit].amount: string
    [deposit].asset: string
    [deposit].request_id: integer
    [deposit].ts: integer
    [deposit].type: string
    [withdraw]: object
    [withdraw].account: integer
    [withdraw].amount: string
    [withdraw].asset: string
    [withdraw].request_id: integer
    [withdraw].ts: integer
    [withdraw].type: string
";

#[test]
fn every_json_output_has_a_pinned_shape() {
    let (t, dir) = journal();
    let d = p(&dir);
    let dump = json_lines(&ok(&["dump", d, "--format", "json"]));
    assert_eq!(dump.len() as u64, LAST, "one record per line");
    // Every event kind occurs.
    let kinds: BTreeSet<String> = dump
        .iter()
        .flat_map(|r| r["events"].as_array().unwrap().iter())
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect();
    let all = [
        "accepted",
        "rejected",
        "account_opened",
        "deposited",
        "withdrawn",
        "transferred",
        "order_accepted",
        "trade_executed",
        "order_rested",
        "order_amended",
        "order_cancelled",
        "asset_added",
        "symbol_added",
        "symbol_halted",
        "symbol_resumed",
    ];
    assert_eq!(
        kinds,
        all.iter().map(|s| s.to_string()).collect(),
        "every event kind"
    );
    let mut same = same_shape("dump", &dump, DUMP_SHAPE);

    // The state at the end (open orders, a halted symbol) and at 26 (a bid).
    let states: Vec<Value> = ["26", &LAST.to_string()]
        .iter()
        .map(|at| {
            serde_json::from_str(ok(&["state", d, "--at", at, "--format", "json"]).trim()).unwrap()
        })
        .collect();
    same &= same_shape("state", &states, STATE_SHAPE);

    // From genesis to the end: every kind of order change.
    let diffs: Vec<Value> = [("0", LAST.to_string()), ("26", "27".to_string())]
        .iter()
        .map(|(f, to)| {
            serde_json::from_str(
                ok(&["diff", d, "--from", f, "--to", to, "--format", "json"]).trim(),
            )
            .unwrap()
        })
        .collect();
    same &= same_shape("diff", &diffs, DIFF_SHAPE);

    for (what, expected) in [
        ("trades", EXPORT_TRADES_SHAPE),
        ("balances", EXPORT_BALANCES_SHAPE),
        ("orders", EXPORT_ORDERS_SHAPE),
    ] {
        let rows = json_lines(&ok(&["export", d, "--what", what, "--format", "jsonl"]));
        assert!(!rows.is_empty(), "{what}");
        same &= same_shape(&format!("export {what}"), &rows, expected);
    }

    // what-if's JSON output is its corrections file: keel run commands.
    let fix = t.path().join("fix.jsonl");
    ok(&["what-if", d, "--drop", "7", "--corrections", p(&fix)]);
    let fixes = json_lines(&std::fs::read_to_string(&fix).unwrap());
    same &= same_shape("what-if corrections", &fixes, CORRECTIONS_SHAPE);
    assert!(same, "JSON shapes changed (printed above)");
}

/// Issue 18: `diff` showed a market order without a price as `"0.00"` and
/// its account as a string.
#[test]
fn diff_shows_a_market_order_without_a_price_as_null_and_dash() {
    let (_t, dir) = journal();
    let d = p(&dir);
    let record: Value = serde_json::from_str(
        ok(&["dump", d, "--from", "27", "--to", "27", "--format", "json"]).trim(),
    )
    .unwrap();
    let accepted = &record["events"][1];
    assert_eq!(accepted["type"], "order_accepted");
    assert_eq!(accepted["order"], 9);
    assert_eq!(accepted["price"], Value::Null);

    let v: Value = serde_json::from_str(
        ok(&["diff", d, "--from", "25", "--to", "28", "--format", "json"]).trim(),
    )
    .unwrap();
    let opened = v["opened"].as_array().unwrap();
    let o9 = opened.iter().find(|o| o["order"] == 9).unwrap();
    assert_eq!(
        o9,
        &serde_json::json!({"order": 9, "account": 1, "symbol": "BTC-USD", "side": "sell", "price": null, "qty": "0.0500"})
    );
    let o10 = opened.iter().find(|o| o["order"] == 10).unwrap();
    assert_eq!(
        o10["price"],
        Value::Null,
        "a budget market buy has no price either"
    );
    let o8 = opened.iter().find(|o| o["order"] == 8).unwrap();
    assert_eq!(o8["price"], "95.00");
    assert_eq!(o8["account"], 2);
    assert!(v["filled"].as_array().unwrap().iter().any(|f| f == &serde_json::json!({"order": 9, "account": 1, "symbol": "BTC-USD", "side": "sell", "filled": "0.0500"})), "{v}");

    let text = ok(&["diff", d, "--from", "25", "--to", "28"]);
    let opened_text = text
        .split("orders opened (3):\n")
        .nth(1)
        .unwrap()
        .split("\n\n")
        .next()
        .unwrap();
    assert_eq!(
        opened_text,
        "  order  account  symbol   side  price  qty\n  \
         8      2        BTC-USD  buy   95.00  0.1000\n  \
         9      1        BTC-USD  sell  -      0.0500\n  \
         10     3        BTC-USD  buy   -      0.0100"
    );
}

// ---- dump filters ----------------------------------------------------------

/// The records `--account a` selects, by the README's rule, decided from
/// the unfiltered JSON dump.
fn model_account(all: &[Value], a: u64) -> Vec<u64> {
    let mut owner: BTreeMap<u64, u64> = BTreeMap::new();
    let mut out = Vec::new();
    for r in all {
        let events = r["events"].as_array().unwrap();
        for e in events {
            if e["type"] == "order_accepted" {
                owner.insert(e["order"].as_u64().unwrap(), e["account"].as_u64().unwrap());
            }
        }
        let by_command =
            r["account"] == a || (r["intent"]["type"] == "transfer" && r["intent"]["to"] == a);
        let by_event = events.iter().any(|e| {
            let t = e["type"].as_str().unwrap();
            match t {
                "transferred" => e["from"] == a || e["to"] == a,
                "trade_executed" => {
                    let fee = |k: &str| {
                        e[k].as_str()
                            .unwrap()
                            .trim_start_matches(['0', '.'])
                            .to_string()
                    };
                    e["maker_account"] == a
                        || e["taker_account"] == a
                        || (a == 0
                            && (!fee("maker_fee").is_empty() || !fee("taker_fee").is_empty()))
                }
                "order_rested" | "order_amended" => {
                    owner.get(&e["order"].as_u64().unwrap()) == Some(&a)
                }
                "asset_added" | "symbol_added" | "symbol_halted" | "symbol_resumed" => false,
                _ => e["account"] == a,
            }
        });
        if by_command || by_event {
            out.push(r["seq"].as_u64().unwrap());
        }
    }
    out
}

fn seqs(out: &str) -> Vec<u64> {
    json_lines(out)
        .iter()
        .map(|v| v["seq"].as_u64().unwrap())
        .collect()
}

fn dump_seqs(dir: &Path, args: &[&str]) -> Vec<u64> {
    let mut a = vec!["dump", p(dir), "--format", "json"];
    a.extend_from_slice(args);
    seqs(&ok(&a))
}

#[test]
fn dump_filters_select_exactly_the_documented_records() {
    let (_t, dir) = journal();
    let all = json_lines(&ok(&["dump", p(&dir), "--format", "json"]));

    // Account 0: genesis (1-3) and every operator command (19, 20, 29, 30,
    // 33), and the records whose trade paid a fee (11, 27), not the trade
    // without one (25).
    let acc0 = dump_seqs(&dir, &["--account", "0"]);
    assert_eq!(acc0, vec![1, 2, 3, 11, 19, 20, 27, 29, 30, 33]);
    assert!(
        !acc0.contains(&25),
        "a trade whose fees are both zero does not mention account 0"
    );
    // Account 3: its commands, the transfer to it (14), its GTD order's
    // expiry in account 3's own deposit (22), the trade of its resting order
    // by account 1 (25).
    assert_eq!(
        dump_seqs(&dir, &["--account", "3"]),
        vec![6, 9, 12, 13, 14, 21, 22, 23, 24, 25, 28, 31, 32]
    );
    // Account 2: also the market sell by account 1 that traded with its bid.
    assert_eq!(
        dump_seqs(&dir, &["--account", "2"]),
        vec![5, 8, 10, 11, 15, 16, 17, 18, 26, 27]
    );
    for a in 0..=5u64 {
        assert_eq!(
            dump_seqs(&dir, &["--account", &a.to_string()]),
            model_account(&all, a),
            "account {a}"
        );
    }

    // --symbol: its definition, orders (also rejected ones), trades, cancels
    // (by the owner, mass cancel, expiry, IOC remainder), amends, halts.
    assert_eq!(
        dump_seqs(&dir, &["--symbol", "BTC-USD"]),
        vec![3, 10, 11, 12, 13, 16, 17, 18, 19, 20, 21, 22, 24, 25, 26, 27, 28]
    );
    assert_eq!(dump_seqs(&dir, &["--symbol", "ETH-USD"]), vec![30, 32, 33]);

    // --from/--to: inclusive, and they combine with the other filters (and).
    assert_eq!(
        dump_seqs(&dir, &["--from", "30", "--to", "31"]),
        vec![30, 31]
    );
    assert_eq!(dump_seqs(&dir, &["--from", "33"]), vec![33]);
    assert_eq!(
        dump_seqs(&dir, &["--account", "0", "--from", "4", "--to", "27"]),
        vec![11, 19, 20, 27]
    );
    assert_eq!(
        dump_seqs(&dir, &["--account", "3", "--symbol", "ETH-USD"]),
        vec![32]
    );
    assert_eq!(
        dump_seqs(&dir, &["--account", "0", "--symbol", "ETH-USD"]),
        vec![30, 33]
    );
    // The text format selects the same records.
    let text = ok(&["dump", p(&dir), "--account", "0"]);
    let text_seqs: Vec<u64> = text
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    assert_eq!(text_seqs, acc0);
}
