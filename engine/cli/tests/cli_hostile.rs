//! A hostile client against a real `keel run` with the shipped config: no
//! command sequence makes the engine fail-stop or fail to restart, names
//! resolve only against committed state, and configs that cannot work are
//! refused at start-up naming the key.

mod cli_support;
#[path = "../../runtime/tests/runtime_support/mod.rs"]
mod runtime_support;

use std::path::Path;

use cli_support::*;
use serde_json::Value;

fn events_of<'a>(outputs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    outputs
        .iter()
        .flat_map(|o| o["events"].as_array().unwrap())
        .filter(|e| e["type"] == kind)
        .collect()
}

fn run(config: &Path, work: &Path, lines: &[String]) -> (Ran, Vec<Value>) {
    let ran = keel_run_lines(config, work, lines);
    assert_eq!(ran.code, Some(0), "keel run failed: {}", ran.stderr);
    let outputs = ran.json_lines();
    (ran, outputs)
}

#[test]
fn one_sweep_of_62000_asks_is_bounded_not_a_halt() {
    let tmp = tempfile::tempdir().unwrap();
    let config = default_config(tmp.path(), |t| t);
    let mut lines = vec![
        r#"{"type":"open_account","account":1,"request_id":1}"#.to_owned(),
        r#"{"type":"open_account","account":2,"request_id":1}"#.to_owned(),
        r#"{"type":"deposit","account":1,"request_id":2,"asset":"BTC","amount":"10"}"#.to_owned(),
        r#"{"type":"deposit","account":2,"request_id":2,"asset":"USD","amount":"10000000"}"#
            .to_owned(),
    ];
    const ASKS: u64 = 62_000;
    for r in 0..ASKS {
        lines.push(format!(
            r#"{{"type":"place_order","account":1,"request_id":{},"symbol":"BTC-USD","side":"sell","order_type":"limit","price":"100.00","qty":"0.0001"}}"#,
            r + 3
        ));
    }
    lines.push(r#"{"type":"place_order","account":2,"request_id":3,"symbol":"BTC-USD","side":"buy","order_type":"limit","price":"100.00","qty":"6.2","tif":"ioc"}"#.to_owned());
    let (_, outputs) = run(&config, tmp.path(), &lines);
    let sweep = outputs.last().unwrap();
    let trades = events_of(std::slice::from_ref(sweep), "trade_executed");
    assert_eq!(
        trades.len(),
        1000,
        "the default limits.max_fills_per_command"
    );
    let cancels = events_of(std::slice::from_ref(sweep), "order_cancelled");
    assert_eq!(cancels.len(), 1, "{sweep}");
    assert_eq!(cancels[0]["reason"], "fill_limit");
    assert_eq!(cancels[0]["remaining_lots"], ASKS - 1000);
    // The engine is still up and restarts: the next sweep takes the next 1000.
    let again = vec![r#"{"type":"place_order","account":2,"request_id":4,"symbol":"BTC-USD","side":"buy","order_type":"limit","price":"100.00","qty":"6.2","tif":"ioc"}"#.to_owned()];
    let (ran, outputs) = run(&config, tmp.path(), &again);
    assert!(ran.stderr.contains("recovered"), "{}", ran.stderr);
    assert_eq!(events_of(&outputs, "trade_executed").len(), 1000);
}

#[test]
fn a_burst_of_3000_gtd_orders_expires_in_chunks_and_every_restart_works() {
    let tmp = tempfile::tempdir().unwrap();
    let config = default_config(tmp.path(), |t| {
        t.replace("max_record_kib = 4096", "max_record_kib = 64")
            .replace("clock = \"system\"", "clock = \"simulated\"")
    });
    let mut lines = vec![
        r#"{"type":"open_account","account":1,"request_id":1,"ts":1}"#.to_owned(),
        r#"{"type":"deposit","account":1,"request_id":2,"asset":"BTC","amount":"10","ts":2}"#
            .to_owned(),
    ];
    const BURST: u64 = 3_000;
    for r in 0..BURST {
        lines.push(format!(
            r#"{{"type":"place_order","account":1,"request_id":{},"symbol":"BTC-USD","side":"sell","order_type":"limit","price":"{}.00","qty":"0.0001","tif":"gtd","expiry_ns":1000000,"ts":{}}}"#,
            r + 3,
            100 + r % 50,
            r + 3
        ));
    }
    lines.push(
        r#"{"type":"deposit","account":1,"request_id":9000,"asset":"BTC","amount":"1","ts":2000000}"#
            .to_owned(),
    );
    let (_, outputs) = run(&config, tmp.path(), &lines);
    let expired = events_of(&outputs, "order_cancelled");
    assert_eq!(expired.len() as u64, BURST);
    assert!(expired.iter().all(|e| e["reason"] == "expired"));
    let chunks: Vec<&Value> = outputs
        .iter()
        .filter(|o| o["command"] == "expire_due")
        .collect();
    assert!(
        chunks.len() >= 2,
        "a 64 KiB record cannot hold 3000 cancels: {}",
        chunks.len()
    );
    assert!(chunks
        .iter()
        .all(|o| o["account"] == 0 && o["request_id"] == 0));
    // Soonest first, then by order id, across the chunks.
    let ids: Vec<u64> = expired
        .iter()
        .map(|e| e["order"].as_u64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "expiry order");
    let last = outputs.last().unwrap();
    assert_eq!(
        last["request_id"], 9000,
        "the deposit comes after the expiries"
    );
    for restart in 0..2 {
        let line = format!(
            r#"{{"type":"deposit","account":1,"request_id":{},"asset":"BTC","amount":"1","ts":3000000}}"#,
            9001 + restart
        );
        let (_, outputs) = run(&config, tmp.path(), &[line]);
        assert_eq!(events_of(&outputs, "deposited").len(), 1);
    }
}

#[test]
fn a_rejected_add_leaves_no_name_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let config = default_config(tmp.path(), |t| t);
    let lines: Vec<String> = [
        r#"{"type":"open_account","account":1,"request_id":1}"#,
        r#"{"type":"add_asset","account":1,"request_id":2,"name":"FAKE","scale":9}"#,
        r#"{"type":"add_asset","account":0,"request_id":10,"name":"SOL","scale":9}"#,
        r#"{"type":"deposit","account":1,"request_id":3,"asset":"FAKE","amount":"5"}"#,
        r#"{"type":"deposit","account":1,"request_id":4,"asset":"SOL","amount":"5"}"#,
        r#"{"type":"add_symbol","account":0,"request_id":11,"name":"Y1","base":"SOL","quote":"SOL","tick_size":"0.01","lot_size":"0.01"}"#,
        r#"{"type":"add_symbol","account":0,"request_id":12,"name":"Y2","base":"SOL","quote":"USD","tick_size":"0.01","lot_size":"0.01"}"#,
        r#"{"type":"place_order","account":1,"request_id":5,"symbol":"Y1","side":"sell","order_type":"limit","price":"1.00","qty":"1.00"}"#,
        r#"{"type":"place_order","account":1,"request_id":6,"symbol":"Y2","side":"sell","order_type":"limit","price":"1.00","qty":"1.00"}"#,
    ]
    .map(str::to_owned)
    .to_vec();
    let ran = keel_run_lines(&config, tmp.path(), &lines);
    assert_eq!(
        ran.code,
        Some(1),
        "two lines name what was never committed: {}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("line 4") && ran.stderr.contains("\"FAKE\""),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("line 8") && ran.stderr.contains("\"Y1\""),
        "{}",
        ran.stderr
    );
    let outputs = ran.json_lines();
    let reasons: Vec<&Value> = outputs
        .iter()
        .filter(|o| o["events"][0]["type"] == "rejected")
        .map(|o| &o["events"][0]["reason"])
        .collect();
    assert_eq!(
        reasons,
        ["not_authorized", "invalid_symbol_spec"],
        "{outputs:?}"
    );
    let deposits = events_of(&outputs, "deposited");
    assert_eq!(deposits.len(), 1);
    assert_eq!(
        (&deposits[0]["asset"], &deposits[0]["amount"]),
        (&Value::from("SOL"), &Value::from("5.000000000"))
    );
    let accepted = events_of(&outputs, "order_accepted");
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0]["symbol"], "Y2");
}

#[test]
fn unusable_limits_are_refused_at_start_up_naming_the_key() {
    for (edit, key) in [
        (
            ("max_record_kib = 4096", "max_record_kib = 1"),
            "journal.max_record_kib",
        ),
        (
            (
                "# max_fills_per_command = 1000",
                "max_fills_per_command = 100000",
            ),
            "limits.max_fills_per_command",
        ),
        (
            (
                "# max_cancels_per_record = 1000",
                "max_cancels_per_record = 0",
            ),
            "limits.max_cancels_per_record",
        ),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let config = default_config(tmp.path(), |t| {
            assert!(t.contains(edit.0), "{}", edit.0);
            t.replace(edit.0, edit.1)
        });
        let ran = keel_run_lines(&config, tmp.path(), &[]);
        assert_eq!(ran.code, Some(2), "{key}: {}", ran.stderr);
        assert!(ran.stderr.contains(key), "{key}: {}", ran.stderr);
    }
}
