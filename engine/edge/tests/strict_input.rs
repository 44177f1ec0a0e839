//! Strict JSON command lines: repeated keys, lines that are not UTF-8 and
//! decimals outside the one documented grammar are malformed lines, each
//! with a typed error that names the key or the value; `request_id` passes
//! through unchanged as long as it is a u64 (the core bounds it).

mod edge_support;

use edge_support::{registry, VALID};
use keel_edge::{parse_command_bytes, parse_command_line, EdgeError};
use keel_engine::model::{CommandKind, MarketBound, OrderType};

fn err(line: &str) -> EdgeError {
    match parse_command_line(line, &registry()) {
        Ok(parsed) => panic!("accepted {line}: {parsed:?}"),
        Err(e) => e,
    }
}

#[test]
fn every_valid_line_parses() {
    let names = registry();
    for line in VALID {
        parse_command_line(line, &names).unwrap_or_else(|e| panic!("{line}: {e}"));
        parse_command_bytes(line.as_bytes(), &names).unwrap_or_else(|e| panic!("{line}: {e}"));
    }
}

#[test]
fn a_repeated_type_is_refused_not_last_wins() {
    // Before: ran as a withdraw.
    let e = err(
        r#"{"type":"deposit","account":1,"request_id":3,"asset":"USD","amount":"7","type":"withdraw"}"#,
    );
    assert_eq!(
        e,
        EdgeError::DuplicateKey {
            key: "type".into(),
            object: "$".into()
        }
    );
    let m = e.to_string();
    assert!(m.contains("duplicate key `type`"), "{m}");
    // The same type twice is refused too.
    let e = err(r#"{"type":"open_account","type":"open_account","account":1,"request_id":1}"#);
    assert!(
        matches!(e, EdgeError::DuplicateKey { ref key, .. } if key == "type"),
        "{e}"
    );
}

#[test]
fn a_repeated_field_is_refused_naming_it() {
    // Before: ran for account 2.
    let e = err(
        r#"{"type":"deposit","account":1,"request_id":3,"asset":"USD","amount":"7","account":2}"#,
    );
    assert!(
        matches!(e, EdgeError::DuplicateKey { ref key, ref object } if key == "account" && object == "$"),
        "{e}"
    );
    for (field, line) in [
        (
            "amount",
            r#"{"type":"deposit","account":1,"request_id":3,"asset":"USD","amount":"7","amount":"8"}"#,
        ),
        (
            "request_id",
            r#"{"type":"open_account","account":1,"request_id":1,"request_id":2}"#,
        ),
        (
            "price",
            r#"{"type":"place_order","account":1,"request_id":5,"symbol":"BTC-USD","side":"buy","order_type":"limit","price":"1","qty":"1","price":"2"}"#,
        ),
        (
            "ts",
            r#"{"type":"open_account","account":1,"request_id":1,"ts":1,"ts":1}"#,
        ),
    ] {
        let e = err(line);
        assert!(
            matches!(e, EdgeError::DuplicateKey { ref key, .. } if key == field),
            "{field}: {e}"
        );
        assert!(e.to_string().contains(&format!("`{field}`")), "{e}");
    }
}

#[test]
fn a_repeated_key_at_any_depth_is_refused() {
    let e =
        err(r#"{"type":"open_account","account":1,"request_id":1,"x":[{"a":1},{"a":1,"a":2}]}"#);
    assert_eq!(
        e,
        EdgeError::DuplicateKey {
            key: "a".into(),
            object: "$.x[1]".into()
        }
    );
    // Without the repeat, the same line is refused for its unknown field.
    let e = err(r#"{"type":"open_account","account":1,"request_id":1,"x":[{"a":1},{"a":2}]}"#);
    assert!(e.to_string().contains("unknown field `x`"), "{e}");
}

#[test]
fn invalid_utf8_is_one_malformed_line() {
    let names = registry();
    let mut line = br#"{"type":"open_account","account":1,"request_id":1,"#.to_vec();
    let valid = line.len();
    line.extend_from_slice(b"\"n\xff\":1}");
    let e = parse_command_bytes(&line, &names).unwrap_err();
    assert_eq!(
        e,
        EdgeError::InvalidUtf8 {
            valid_up_to: valid + 2
        }
    );
    assert!(e.to_string().contains("not valid UTF-8"), "{e}");
    for bytes in [
        &b"\xff"[..],
        b"\xc3",
        b"{\"type\":\"open_account\xe2\x82\"}",
        b"\xed\xa0\x80",
    ] {
        assert!(
            matches!(
                parse_command_bytes(bytes, &names),
                Err(EdgeError::InvalidUtf8 { .. })
            ),
            "{bytes:?}"
        );
    }
}

/// Each decimal field, with `value` in place of its (valid) decimal.
fn decimal_lines(value: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "amount",
            format!(
                r#"{{"type":"deposit","account":1,"request_id":2,"asset":"USD","amount":"{value}"}}"#
            ),
        ),
        (
            "amount",
            format!(
                r#"{{"type":"transfer","account":1,"request_id":2,"to":2,"asset":"USD","amount":"{value}"}}"#
            ),
        ),
        (
            "price",
            format!(
                r#"{{"type":"place_order","account":1,"request_id":5,"symbol":"BTC-USD","side":"buy","order_type":"limit","price":"{value}","qty":"1"}}"#
            ),
        ),
        (
            "qty",
            format!(
                r#"{{"type":"place_order","account":1,"request_id":5,"symbol":"BTC-USD","side":"buy","order_type":"limit","price":"1","qty":"{value}"}}"#
            ),
        ),
        (
            "budget",
            format!(
                r#"{{"type":"place_order","account":1,"request_id":6,"symbol":"BTC-USD","side":"buy","order_type":"market","qty":"1","budget":"{value}"}}"#
            ),
        ),
        (
            "protection_price",
            format!(
                r#"{{"type":"place_order","account":1,"request_id":7,"symbol":"BTC-USD","side":"sell","order_type":"market","qty":"1","protection_price":"{value}"}}"#
            ),
        ),
        (
            "price",
            format!(
                r#"{{"type":"amend_order","account":1,"request_id":9,"order":1,"symbol":"BTC-USD","price":"{value}","qty":"1"}}"#
            ),
        ),
        (
            "tick_size",
            format!(
                r#"{{"type":"add_symbol","account":0,"request_id":12,"name":"X","base":"BTC","quote":"USD","tick_size":"{value}","lot_size":"1"}}"#
            ),
        ),
        (
            "lot_size",
            format!(
                r#"{{"type":"add_symbol","account":0,"request_id":12,"name":"X","base":"BTC","quote":"USD","tick_size":"1","lot_size":"{value}"}}"#
            ),
        ),
    ]
}

#[test]
fn lenient_decimals_are_refused_naming_value_and_grammar() {
    let names = registry();
    for value in [
        "1_000",
        "+5",
        " 5",
        "5 ",
        "1.",
        ".5",
        "30_000.00",
        "1e3",
        "-1",
        "-0",
        "0x10",
        "",
    ] {
        for (field, line) in decimal_lines(value) {
            let e = parse_command_line(&line, &names).expect_err(&line);
            let EdgeError::BadValue {
                field: f, value: v, ..
            } = &e
            else {
                panic!("{line}: {e:?}")
            };
            assert_eq!((*f, v.as_str()), (field, value), "{line}");
            let m = e.to_string();
            assert!(m.contains(&format!("{value:?}")), "{m}");
            assert!(
                m.contains("no sign, spaces, underscores"),
                "names the grammar: {m}"
            );
        }
    }
    // The same fields take decimals in the grammar.
    for value in ["1", "2.000", "00030"] {
        for (_, line) in decimal_lines(value) {
            parse_command_line(&line, &names).unwrap_or_else(|e| panic!("{line}: {e}"));
        }
    }
}

#[test]
fn a_decimal_converts_exactly() {
    let names = registry();
    let p = parse_command_line(VALID[1], &names).unwrap();
    assert_eq!(
        p.command.kind,
        CommandKind::Deposit {
            asset: 1,
            amount: 1_000_500_000
        }
    );
    let p = parse_command_line(VALID[5], &names).unwrap();
    let CommandKind::PlaceOrder(o) = p.command.kind else {
        panic!()
    };
    assert_eq!(
        o.order_type,
        OrderType::Market {
            bound: MarketBound::QuoteBudget {
                amount: 100_000_000
            }
        }
    );
}

#[test]
fn request_id_passes_through_to_the_core_if_it_is_a_u64() {
    let names = registry();
    for id in [9_007_199_254_740_991u64, 9_007_199_254_740_992, u64::MAX] {
        let line = format!(r#"{{"type":"open_account","account":1,"request_id":{id}}}"#);
        let p = parse_command_line(&line, &names).unwrap();
        assert_eq!(p.command.request_id, id, "unchanged: the core decides");
    }
    for id in ["18446744073709551616", "-1", "1.5", "1e3", "\"1\"", "null"] {
        let e = err(&format!(
            r#"{{"type":"open_account","account":1,"request_id":{id}}}"#
        ));
        assert!(e.to_string().contains("request_id"), "{id}: {e}");
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let names = registry();
    for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
        let line = format!(
            r#"{{"type":"open_account","account":1,"request_id":1,"x":{}1{}}}"#,
            open.repeat(100_000),
            close.repeat(100_000)
        );
        let e = parse_command_line(&line, &names).unwrap_err();
        assert!(e.to_string().contains("recursion limit"), "{e}");
    }
}
