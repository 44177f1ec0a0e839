//! Backward compatibility: a journal written by format version 1 (committed
//! under tests/fixtures/v1) must keep verifying, replaying to the same digest
//! and dumping the same lines. `generate_v1_fixture` (ignored) recreates it;
//! see tests/fixtures/README.md.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1")
}

#[test]
fn v1_fixture_verifies_replays_and_dumps_the_same() {
    let src = fixture_dir();
    let expected_digest = std::fs::read_to_string(src.join("EXPECTED_DIGEST")).unwrap();
    let expected_dump = std::fs::read_to_string(src.join("EXPECTED_DUMP.jsonl")).unwrap();
    // Work on a copy: nothing may write into the committed fixture.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("v1");
    copy_dir(&src, &dir);
    let out = ok(&["verify", p(&dir)]);
    assert!(out.contains("determinism OK"), "{out}");
    assert_eq!(verify_digest(&dir), expected_digest.trim());
    let state = ok(&["state", p(&dir)]);
    assert!(
        state.contains(&format!("digest {}", expected_digest.trim())),
        "{state}"
    );
    let dump = ok(&["dump", p(&dir), "--format", "json"]);
    assert_eq!(dump.lines().count(), expected_dump.lines().count());
    // Compared as JSON values: key order follows serde_json's features.
    for (i, (got, want)) in dump.lines().zip(expected_dump.lines()).enumerate() {
        let got: serde_json::Value = serde_json::from_str(got).unwrap();
        let want: serde_json::Value = serde_json::from_str(want).unwrap();
        assert_eq!(got, want, "dump line {}", i + 1);
    }
}

/// Deterministic pseudo-random commands covering every command type.
fn fixture_lines() -> Vec<String> {
    let mut lines = story();
    let mut ts = 100_000u64;
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut req = [10u64; 21];
    let mut op_req = 200u64;
    let push = |lines: &mut Vec<String>, ts: &mut u64, body: String| {
        *ts += 1000;
        lines.push(format!("{{{body},\"ts\":{ts}}}"));
    };
    push(
        &mut lines,
        &mut ts,
        format!(r#""type":"add_asset","account":0,"request_id":{op_req},"name":"ETH","scale":8"#),
    );
    op_req += 1;
    push(
        &mut lines,
        &mut ts,
        format!(
            r#""type":"add_symbol","account":0,"request_id":{op_req},"name":"ETH-USD","base":"ETH","quote":"USD","tick_size":"0.01","lot_size":"0.001","maker_fee_bps":2,"taker_fee_bps":4"#
        ),
    );
    op_req += 1;
    for a in 4..=20u32 {
        push(
            &mut lines,
            &mut ts,
            format!(r#""type":"open_account","account":{a},"request_id":1"#),
        );
    }
    for a in 1..=20u32 {
        for (asset, amount) in [("USD", "1000000"), ("BTC", "50"), ("ETH", "500")] {
            let r = {
                req[a as usize] += 1;
                req[a as usize]
            };
            push(
                &mut lines,
                &mut ts,
                format!(
                    r#""type":"deposit","account":{a},"request_id":{r},"asset":"{asset}","amount":"{amount}""#
                ),
            );
        }
    }
    // Follow the state as the lines are written, so that cancels and amends
    // mostly name open orders of their own account.
    let config = config(Path::new("unused"), 64);
    let mut state = keel_engine::State::new(config.limits());
    let mut registry = keel_engine::Registry::default();
    let mut events = Vec::new();
    let mut seen = 0;
    let mut sim_ts = 0u64;
    for c in config.genesis_commands().unwrap() {
        keel_engine::process(&mut state, &c, 0, &mut events).unwrap();
        events.iter().for_each(|e| registry.learn(e));
    }
    let mut order_guess = 6u64;
    while lines.len() < 3000 {
        for line in &lines[seen..] {
            let c = keel_edge::parse_command_line(line, &registry).unwrap();
            sim_ts = sim_ts.max(c.ts.unwrap_or(0));
            keel_engine::process(&mut state, &c.command, sim_ts, &mut events).unwrap();
            events.iter().for_each(|e| registry.learn(e));
        }
        seen = lines.len();
        let x = next();
        let mut a = 1 + (x % 20) as usize;
        let own: Vec<u64> = state.account_orders(a as u32).map(|o| o.id).collect();
        if own.is_empty() && (14..=16).contains(&((x >> 40) % 20)) && x % 4 != 0 {
            // Pick an account that has open orders.
            if let Some((id, _)) = state
                .accounts()
                .find(|(id, _)| *id != 0 && state.account_orders(*id).next().is_some())
            {
                a = id as usize;
            }
        }
        let own: Vec<u64> = state.account_orders(a as u32).map(|o| o.id).collect();
        req[a] += 1;
        let r = req[a];
        let (sym, base_px) = if x % 3 == 0 {
            ("ETH-USD", 2000u64)
        } else {
            ("BTC-USD", 30000u64)
        };
        let side = if (x >> 8) % 2 == 0 { "buy" } else { "sell" };
        let px = format!("{}.{:02}", base_px + (x >> 16) % 40 - 20, (x >> 24) % 100);
        let qty = format!("0.{:03}", 1 + (x >> 32) % 300);
        // About 3 in 10 lines accept an order: aim at recent ones.
        let recent = |x: u64| match own.len() {
            0 => 1 + (order_guess * 3 / 10).saturating_sub((x >> 20) % 25),
            n => own[(x >> 20) as usize % n],
        };
        let body = match (x >> 40) % 20 {
            0..=7 => format!(
                r#""type":"place_order","account":{a},"request_id":{r},"symbol":"{sym}","side":"{side}","order_type":"limit","price":"{px}","qty":"{qty}""#
            ),
            8 => format!(
                r#""type":"place_order","account":{a},"request_id":{r},"symbol":"{sym}","side":"{side}","order_type":"limit","price":"{px}","qty":"{qty}","tif":"ioc","stp":"cancel_oldest""#
            ),
            9 => format!(
                r#""type":"place_order","account":{a},"request_id":{r},"symbol":"{sym}","side":"{side}","order_type":"limit","price":"{px}","qty":"{qty}","tif":"fok","stp":"cancel_both""#
            ),
            10 => format!(
                r#""type":"place_order","account":{a},"request_id":{r},"symbol":"{sym}","side":"{side}","order_type":"limit","price":"{px}","qty":"{qty}","post_only":true"#
            ),
            11 => format!(
                r#""type":"place_order","account":{a},"request_id":{r},"symbol":"{sym}","side":"{side}","order_type":"limit","price":"{px}","qty":"{qty}","tif":"gtd","expiry_ns":{}"#,
                ts + 5000 + (x >> 48) % 20000
            ),
            12 => {
                if side == "buy" {
                    format!(
                        r#""type":"place_order","account":{a},"request_id":{r},"symbol":"{sym}","side":"buy","order_type":"market","qty":"{qty}","tif":"ioc","budget":"5000""#
                    )
                } else {
                    format!(
                        r#""type":"place_order","account":{a},"request_id":{r},"symbol":"{sym}","side":"sell","order_type":"market","qty":"{qty}","tif":"ioc""#
                    )
                }
            }
            13 => format!(
                r#""type":"place_order","account":{a},"request_id":{r},"symbol":"{sym}","side":"{side}","order_type":"market","qty":"{qty}","tif":"fok","protection_price":"{px}""#
            ),
            14 | 15 => format!(
                r#""type":"cancel_order","account":{a},"request_id":{r},"order":{}"#,
                recent(x)
            ),
            16 => format!(
                r#""type":"amend_order","account":{a},"request_id":{r},"order":{},"price_ticks":{},"qty_lots":{}"#,
                recent(x),
                100 * base_px + (x >> 30) % 2000 - 1000,
                1 + (x >> 44) % 100
            ),
            17 => {
                if x % 2 == 0 {
                    format!(
                        r#""type":"cancel_all","account":{a},"request_id":{r},"symbol":"{sym}""#
                    )
                } else {
                    format!(r#""type":"cancel_all","account":{a},"request_id":{r}"#)
                }
            }
            18 => format!(
                r#""type":"transfer","account":{a},"request_id":{r},"to":{},"asset":"USD","amount":"{}.5""#,
                1 + (x >> 12) % 20,
                (x >> 20) % 500
            ),
            _ => match (x >> 50) % 4 {
                0 => format!(
                    r#""type":"withdraw","account":{a},"request_id":{r},"asset":"BTC","amount":"0.{:04}""#,
                    (x >> 20) % 10000
                ),
                1 => format!(
                    r#""type":"deposit","account":{a},"request_id":{r},"asset":"ETH","amount":"1.5""#
                ),
                2 => {
                    // A short halt: one order is rejected while it lasts.
                    op_req += 1;
                    push(
                        &mut lines,
                        &mut ts,
                        format!(
                            r#""type":"halt_symbol","account":0,"request_id":{op_req},"symbol":"{sym}""#
                        ),
                    );
                    req[a] += 1;
                    push(
                        &mut lines,
                        &mut ts,
                        format!(
                            r#""type":"place_order","account":{a},"request_id":{},"symbol":"{sym}","side":"{side}","order_type":"limit","price":"{px}","qty":"{qty}""#,
                            req[a]
                        ),
                    );
                    op_req += 1;
                    format!(
                        r#""type":"resume_symbol","account":0,"request_id":{op_req},"symbol":"{sym}""#
                    )
                }
                _ => format!(
                    r#""type":"withdraw","account":{a},"request_id":{r},"asset":"USD","amount":"12.5""#
                ),
            },
        };
        order_guess += 1;
        push(&mut lines, &mut ts, body);
    }
    lines
}

/// Recreates tests/fixtures/v1 (run with `--ignored`). Only for a
/// deliberate format change: the point of the fixture is that it does not
/// change.
#[test]
#[ignore]
fn generate_v1_fixture() {
    let dir = fixture_dir();
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    let digest = write_journal(&dir, &fixture_lines(), 64);
    // Keep only the segments, trimmed after their last frame (readers stop
    // at the end of the file: see journal/FORMAT.md, "End of data").
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_some_and(|x| x == "seg") {
            let bytes = std::fs::read(&path).unwrap();
            let end = bytes
                .iter()
                .rposition(|&b| b != 0)
                .map_or(128, |i| (i + 8) & !7)
                .max(128);
            std::fs::write(&path, &bytes[..end.min(bytes.len())]).unwrap();
        } else {
            std::fs::remove_file(&path).unwrap();
        }
    }
    std::fs::write(dir.join("EXPECTED_DIGEST"), format!("{digest}\n")).unwrap();
    let dump = ok(&["dump", p(&dir), "--format", "json"]);
    std::fs::write(dir.join("EXPECTED_DUMP.jsonl"), &dump).unwrap();
    assert_eq!(verify_digest(&dir), digest);
    let kinds: std::collections::BTreeSet<String> = dump
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["command"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(kinds.len(), 12, "every command type: {kinds:?}");
    println!("wrote {} records, digest {digest}", dump.lines().count());
}
