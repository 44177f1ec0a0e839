//! Fuzzing the text edge with proptest: arbitrary bytes and mutated valid
//! lines through the JSON line parser, TOML-ish text through the config
//! parser. No input may panic; every line is a command or a typed error.
//!
//! `KEEL_FUZZ_CASES` sets the cases per property (default 256, kept small
//! for CI; raise it for a longer run).

mod edge_support;

use edge_support::{registry, CONFIG, VALID};
use keel_edge::{config_from_toml, parse_command_bytes, EdgeError};
use keel_engine::Registry;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn cases() -> u32 {
    std::env::var("KEEL_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    })
}

/// Parses `line`; an error must be typed and say something.
fn check_line(line: &[u8], names: &Registry) -> Result<(), TestCaseError> {
    match parse_command_bytes(line, names) {
        Ok(parsed) => {
            // A command came only from a UTF-8 JSON object.
            let text = std::str::from_utf8(line);
            prop_assert!(text.is_ok(), "accepted non-UTF-8 {line:?}: {parsed:?}");
            let value: Result<serde_json::Value, _> = serde_json::from_str(text.unwrap());
            prop_assert!(value.is_ok_and(|v| v.is_object()), "accepted {line:?}");
        }
        Err(e) => {
            prop_assert!(!e.to_string().is_empty(), "empty message for {line:?}");
            if std::str::from_utf8(line).is_err() {
                prop_assert!(matches!(e, EdgeError::InvalidUtf8 { .. }), "{e:?}");
            }
        }
    }
    Ok(())
}

#[test]
fn arbitrary_bytes_never_panic() {
    let names = registry();
    runner()
        .run(&prop::collection::vec(any::<u8>(), 0..200), |bytes| {
            check_line(&bytes, &names)
        })
        .unwrap();
}

#[test]
fn arbitrary_json_ish_text_never_panics() {
    let names = registry();
    let json_ish = prop::collection::vec(
        prop_oneof![
            Just("{".to_owned()),
            Just("}".to_owned()),
            Just("[".to_owned()),
            Just("]".to_owned()),
            Just(",".to_owned()),
            Just(":".to_owned()),
            Just("\"type\"".to_owned()),
            Just("\"deposit\"".to_owned()),
            Just("\"amount\"".to_owned()),
            Just("\"request_id\"".to_owned()),
            "\"[a-z_]{0,12}\"",
            "-?[0-9]{1,22}(\\.[0-9]{0,4})?(e[0-9])?",
            Just("null".to_owned()),
            Just("true".to_owned()),
        ],
        0..40,
    );
    runner()
        .run(&json_ish, |tokens| {
            check_line(tokens.concat().as_bytes(), &names)
        })
        .unwrap();
}

#[derive(Clone, Debug)]
enum Mutation {
    /// Replace the byte at (index mod len).
    Set(usize, u8),
    /// Insert a byte.
    Insert(usize, u8),
    /// Remove a byte.
    Remove(usize),
    /// Cut the line at (index mod len).
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Remove),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(line: &mut Vec<u8>, m: &Mutation) {
    let len = line.len().max(1);
    match *m {
        Mutation::Set(i, b) if !line.is_empty() => line[i % len] = b,
        Mutation::Insert(i, b) => line.insert(i % (line.len() + 1), b),
        Mutation::Remove(i) if !line.is_empty() => {
            line.remove(i % len);
        }
        Mutation::Truncate(i) => line.truncate(i % len),
        _ => {}
    }
}

#[test]
fn mutated_valid_lines_never_panic() {
    let names = registry();
    let strategy = (0..VALID.len(), prop::collection::vec(mutation(), 1..6));
    runner()
        .run(&strategy, |(which, mutations)| {
            let mut line = VALID[which].as_bytes().to_vec();
            for m in &mutations {
                mutate(&mut line, m);
            }
            check_line(&line, &names)
        })
        .unwrap();
}

/// Any key of any valid line, repeated with another value, is refused as a
/// duplicate naming that key: never "last wins".
#[test]
fn a_repeated_key_is_always_refused() {
    let names = registry();
    let strategy = (0..VALID.len(), any::<prop::sample::Index>(), any::<bool>());
    runner()
        .run(&strategy, |(which, pick, first)| {
            let line = VALID[which];
            let object: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(line).unwrap();
            let keys: Vec<&String> = object.keys().collect();
            let key = keys[pick.index(keys.len())];
            let repeat = format!("\"{key}\":\"other\"");
            let doubled = if first {
                format!("{{{repeat},{}", &line[1..])
            } else {
                format!("{},{repeat}}}", &line[..line.len() - 1])
            };
            match parse_command_bytes(doubled.as_bytes(), &names) {
                Err(EdgeError::DuplicateKey { key: k, object }) => {
                    prop_assert_eq!(&k, key);
                    prop_assert_eq!(object, "$");
                }
                other => prop_assert!(false, "{doubled}: {other:?}"),
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn config_text_never_panics() {
    let line = prop_oneof![
        Just("[journal]".to_owned()),
        Just("[limits]".to_owned()),
        Just("[engine]".to_owned()),
        Just("[[assets]]".to_owned()),
        Just("[[symbols]]".to_owned()),
        Just("temporary = true".to_owned()),
        Just("dir = \"\"".to_owned()),
        (
            prop::sample::select(vec![
                "max_orders",
                "max_levels",
                "max_accounts",
                "max_symbols",
                "max_assets",
                "ring_capacity",
                "batch_max",
                "segment_size_mib",
                "max_record_kib",
                "max_fills_per_command",
                "capacity",
                "scale",
            ]),
            prop_oneof![
                any::<u32>().prop_map(|v| v.to_string()),
                Just("268435456".to_owned()),
                Just("-1".to_owned()),
                Just("0".to_owned()),
                Just("18446744073709551616".to_owned()),
            ],
        )
            .prop_map(|(k, v)| format!("{k} = {v}")),
        (
            prop::sample::select(vec!["tick_size", "lot_size", "name", "base", "quote"]),
            "[ -~]{0,10}",
        )
            .prop_map(|(k, v)| format!("{k} = \"{}\"", v.replace(['"', '\\'], ""))),
        "[ -~]{0,20}",
    ];
    runner()
        .run(&prop::collection::vec(line, 0..16), |lines| {
            let text = lines.join("\n");
            match config_from_toml(&text, "fuzz.toml") {
                Ok(config) => prop_assert!(config.validate().is_ok()),
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
            Ok(())
        })
        .unwrap();
    // The test config itself is fine, so the strategy reaches valid text.
    assert!(config_from_toml(CONFIG, "fuzz.toml").is_ok());
}
