//! The trading rules of issue 17 through a real `keel run` with the shipped
//! `configs/default.toml` (ETH-USD: tick 0.01, lot 0.001, maker fee 0, taker
//! fee 3 bps): budget buys keep price-time priority, and `level_capacity` is
//! decided on the state an order leaves.

mod cli_support;
#[path = "../../runtime/tests/runtime_support/mod.rs"]
mod runtime_support;

use std::path::Path;

use cli_support::*;
use serde_json::Value;

fn run(config: &Path, work: &Path, lines: &[&str]) -> Vec<Value> {
    let lines: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let ran = keel_run_lines(config, work, &lines);
    assert_eq!(ran.code, Some(0), "keel run failed: {}", ran.stderr);
    ran.json_lines()
}

fn events(output: &Value) -> &Vec<Value> {
    output["events"].as_array().expect("events")
}

#[test]
fn budget_buy_of_issue_17_trades_twice_with_the_oldest_maker() {
    let tmp = tempfile::tempdir().unwrap();
    let config = default_config(tmp.path(), |t| t);
    let out = run(
        &config,
        tmp.path(),
        &[
            r#"{"type":"open_account","account":1,"request_id":1}"#,
            r#"{"type":"open_account","account":2,"request_id":1}"#,
            r#"{"type":"open_account","account":3,"request_id":1}"#,
            r#"{"type":"deposit","account":1,"request_id":2,"asset":"ETH","amount":"1"}"#,
            r#"{"type":"deposit","account":2,"request_id":2,"asset":"ETH","amount":"1"}"#,
            r#"{"type":"deposit","account":3,"request_id":2,"asset":"USD","amount":"100"}"#,
            r#"{"type":"place_order","account":1,"request_id":3,"symbol":"ETH-USD","side":"sell","order_type":"limit","price":"1998.95","qty":"0.020"}"#,
            r#"{"type":"place_order","account":2,"request_id":3,"symbol":"ETH-USD","side":"sell","order_type":"limit","price":"1998.95","qty":"0.010"}"#,
            r#"{"type":"place_order","account":3,"request_id":3,"symbol":"ETH-USD","side":"buy","order_type":"market","qty":"0.014","tif":"ioc","budget":"27.993694"}"#,
        ],
    );
    let last = out.last().expect("outputs");
    let trades: Vec<&Value> = events(last)
        .iter()
        .filter(|e| e["type"] == "trade_executed")
        .collect();
    assert_eq!(trades.len(), 2, "{last}");
    for t in &trades {
        assert_eq!(t["maker_order"], 1, "only the oldest maker trades: {last}");
    }
    // 13 lots cost 25.994145 (fee 0.007795), the last lot 1.999549 (fee
    // 0.000599): the whole budget, and no remainder is cancelled.
    assert!(
        !events(last).iter().any(|e| e["type"] == "order_cancelled"),
        "{last}"
    );
    let text = last.to_string();
    assert!(text.contains("0.013") && text.contains("0.001"), "{text}");
}

#[test]
fn level_capacity_frees_the_level_an_amend_leaves() {
    let tmp = tempfile::tempdir().unwrap();
    let config = default_config(tmp.path(), |t| {
        t.replace("max_symbols = 1024", "max_symbols = 1024\nmax_levels = 2")
    });
    let out = run(
        &config,
        tmp.path(),
        &[
            r#"{"type":"open_account","account":1,"request_id":1}"#,
            r#"{"type":"deposit","account":1,"request_id":2,"asset":"USD","amount":"1000"}"#,
            r#"{"type":"deposit","account":1,"request_id":3,"asset":"ETH","amount":"1"}"#,
            r#"{"type":"place_order","account":1,"request_id":4,"symbol":"ETH-USD","side":"buy","order_type":"limit","price":"100.00","qty":"0.001"}"#,
            r#"{"type":"place_order","account":1,"request_id":5,"symbol":"ETH-USD","side":"sell","order_type":"limit","price":"200.00","qty":"0.001"}"#,
            r#"{"type":"amend_order","account":1,"request_id":6,"order":1,"symbol":"ETH-USD","price":"101.00","qty":"0.001"}"#,
            r#"{"type":"place_order","account":1,"request_id":7,"symbol":"ETH-USD","side":"buy","order_type":"limit","price":"150.00","qty":"0.001"}"#,
        ],
    );
    let amend = &out[out.len() - 2];
    assert!(
        events(amend).iter().any(|e| e["type"] == "order_rested"),
        "the amend moves off its only level and rests: {amend}"
    );
    let new_level = out.last().unwrap();
    assert_eq!(
        events(new_level)[0]["reason"],
        "level_capacity",
        "{new_level}"
    );
}
