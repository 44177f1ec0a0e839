//! A registry with BTC (scale 8), USD (scale 6) and BTC-USD (tick 0.01, lot
//! 0.001), learned from committed genesis events, and a set of valid lines.

#![allow(dead_code)]

use keel_edge::config_from_toml;
use keel_engine::Registry;

pub const CONFIG: &str = r#"
[journal]
temporary = true
[limits]
max_orders = 1024
max_accounts = 1024
[[assets]]
name = "BTC"
scale = 8
[[assets]]
name = "USD"
scale = 6
[[symbols]]
name = "BTC-USD"
base = "BTC"
quote = "USD"
tick_size = "0.01"
lot_size = "0.001"
"#;

pub fn registry() -> Registry {
    let config = config_from_toml(CONFIG, "edge-test.toml").expect("test config");
    let mut state = keel_engine::State::new(config.limits());
    let mut names = Registry::default();
    for cmd in config.genesis_commands().unwrap() {
        for event in keel_engine::process_to_vec(&mut state, &cmd, 0).unwrap() {
            names.learn(&event);
        }
    }
    names
}

/// One valid line of every command type (and the decimal fields each takes).
pub const VALID: &[&str] = &[
    r#"{"type":"open_account","account":1,"request_id":1}"#,
    r#"{"type":"deposit","account":1,"request_id":2,"asset":"USD","amount":"1000.50"}"#,
    r#"{"type":"withdraw","account":1,"request_id":3,"asset":"BTC","amount":"0.5"}"#,
    r#"{"type":"transfer","account":1,"request_id":4,"to":2,"asset":"USD","amount":"7"}"#,
    r#"{"type":"place_order","account":1,"request_id":5,"symbol":"BTC-USD","side":"buy","order_type":"limit","price":"30000.00","qty":"0.001","tif":"gtd","expiry_ns":99,"ts":5}"#,
    r#"{"type":"place_order","account":1,"request_id":6,"symbol":"BTC-USD","side":"buy","order_type":"market","qty":"1","budget":"100"}"#,
    r#"{"type":"place_order","account":1,"request_id":7,"symbol":"BTC-USD","side":"sell","order_type":"market","qty":"1","protection_price":"29000"}"#,
    r#"{"type":"cancel_order","account":1,"request_id":8,"order":1}"#,
    r#"{"type":"amend_order","account":1,"request_id":9,"order":1,"symbol":"BTC-USD","price":"1.25","qty":"0.002"}"#,
    r#"{"type":"cancel_all","account":1,"request_id":10,"symbol":"BTC-USD"}"#,
    r#"{"type":"add_asset","account":0,"request_id":11,"name":"ETH","scale":6}"#,
    r#"{"type":"add_symbol","account":0,"request_id":12,"name":"BTC-EUR","base":"BTC","quote":"USD","tick_size":"0.5","lot_size":"0.01"}"#,
    r#"{"type":"halt_symbol","account":0,"request_id":13,"symbol":"BTC-USD"}"#,
    r#"{"type":"resume_symbol","account":0,"request_id":14,"symbol":"BTC-USD"}"#,
];
