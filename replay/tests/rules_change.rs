//! `replay verify` on a journal decided under earlier rules: a record whose
//! re-execution differs only by a known rules change (see `src/rules.rs`) is
//! listed, the audit goes on from its journaled events, and the exit status
//! is 4; any other divergence still fails with exit status 1. Also: replay
//! falls back from a snapshot whose state the following records do not
//! apply to, as the engine does at start-up.

mod common;

use std::path::Path;

use common::*;
use keel_engine::Event;

fn lines() -> Vec<String> {
    [
        r#"{"type":"open_account","account":1,"request_id":1,"ts":1000}"#,
        r#"{"type":"open_account","account":2,"request_id":1,"ts":2000}"#,
        r#"{"type":"open_account","account":3,"request_id":1,"ts":3000}"#,
        r#"{"type":"deposit","account":1,"request_id":2,"asset":"BTC","amount":"1","ts":4000}"#,
        r#"{"type":"deposit","account":2,"request_id":2,"asset":"BTC","amount":"1","ts":5000}"#,
        r#"{"type":"deposit","account":3,"request_id":2,"asset":"USD","amount":"1000","ts":6000}"#,
        // seq 10, 11: orders 1 and 2 rest at the same price, 1 first.
        r#"{"type":"place_order","account":1,"request_id":3,"symbol":"BTC-USD","side":"sell","order_type":"limit","price":"100.00","qty":"0.0001","ts":7000}"#,
        r#"{"type":"place_order","account":2,"request_id":3,"symbol":"BTC-USD","side":"sell","order_type":"limit","price":"100.00","qty":"0.0001","ts":8000}"#,
        // seq 12: a budget buy of one lot: trades with order 1.
        r#"{"type":"place_order","account":3,"request_id":3,"symbol":"BTC-USD","side":"buy","order_type":"market","qty":"0.0001","tif":"ioc","budget":"50","ts":9000}"#,
        // seq 13: cancels whichever maker is left (order 2 now; order 1 in
        // the journal forged below).
        r#"{"type":"cancel_all","account":1,"request_id":4,"ts":10000}"#,
        r#"{"type":"cancel_all","account":2,"request_id":4,"ts":11000}"#,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Rewrites `dir` into `to`, with `edit` applied to each record's events.
fn rejournal(dir: &Path, to: &Path, edit: impl Fn(u64, &mut Vec<Event>)) {
    let mut cfg = keel_journal::JournalConfig::new(to);
    cfg.segment_size_bytes = 1 << 20;
    cfg.max_record_bytes = 64 << 10;
    let (mut j, _) = keel_journal::Journal::open(cfg).unwrap();
    for rec in keel_journal::Journal::reader(dir, 1).unwrap() {
        let rec = rec.unwrap();
        let mut r = keel_engine::record::Record::decode(rec.seq, &rec.payload).unwrap();
        edit(r.seq, &mut r.events);
        let mut buf = Vec::new();
        keel_engine::record::encode_to_vec(&mut buf, r.ts_ns, &r.command, &r.events);
        j.append(&buf).unwrap();
        j.commit().unwrap();
    }
}

#[test]
fn a_record_decided_under_earlier_rules_is_listed_and_the_audit_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("journal");
    write_journal(&dir, &lines(), 1);
    ok(&["verify", p(&dir)]);
    // As an earlier build could have decided it: the budget buy trades with
    // the younger maker (order 2). `apply` takes it; re-execution does not.
    let old = tmp.path().join("old");
    rejournal(&dir, &old, |seq, events| {
        if seq == 12 {
            for e in events.iter_mut() {
                if let Event::TradeExecuted(t) = e {
                    assert_eq!(t.maker_order, 1, "the test's premise");
                    t.maker_order = 2;
                    t.maker_account = 2;
                }
            }
        }
        if seq == 13 {
            // Account 1's order 1 (not account 2's order 2) is still open.
            events.push(Event::OrderCancelled {
                order: 1,
                account: 1,
                remaining: 1,
                reason: keel_engine::model::CancelReason::MassCancel,
            });
        }
        if seq == 14 {
            events.retain(|e| !matches!(e, Event::OrderCancelled { .. }));
        }
    });
    let r = replay(&["verify", p(&old)]);
    assert_eq!(r.code, 4, "stdout {}\nstderr {}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(
            "rules changed at sequence 12: decided under earlier rules: budget market buys"
        ),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("determinism OK except 1 records decided under earlier rules"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr
            .contains("1 records were decided under earlier rules"),
        "{}",
        r.stderr
    );
    // The state replay rebuilds is the journal's, as always.
    let state = ok(&["state", p(&old)]);
    assert!(state.contains("digest"), "{state}");
}

#[test]
fn any_other_divergence_still_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("journal");
    write_journal(&dir, &lines(), 1);
    let forged = tmp.path().join("forged");
    rejournal(&dir, &forged, |seq, events| {
        if seq == 7 {
            for e in events.iter_mut() {
                if let Event::Deposited { amount, .. } = e {
                    *amount += 1;
                }
            }
        }
    });
    let r = replay(&["verify", p(&forged)]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("divergence at sequence 7"),
        "{}",
        r.stderr
    );
}

/// A snapshot that matches the journal at its sequence in every header field
/// but whose state the following records do not apply to: `replay state`
/// falls back to genesis (as the engine does at start-up), never fails.
#[test]
fn replay_falls_back_when_records_do_not_apply_to_a_snapshot() {
    use keel_engine::runtime::recovery;
    use keel_engine::snapshot::{self, SnapshotInfo};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("journal");
    let digest = write_journal(&dir, &lines(), 1);
    let limits = keel_engine::Limits::default();
    // The state after 9 (three accounts opened, deposits made) under the
    // header of 5: replaying 6 (an open_account) on it fails.
    let (state, _, _, _) = recovery::rebuild(&dir, limits, Some(9)).unwrap();
    let (_, ts5, _, _) = recovery::rebuild(&dir, limits, Some(5)).unwrap();
    let chain = keel_journal::chain_at(&dir, 5).unwrap().unwrap();
    snapshot::write(
        &dir,
        &state,
        SnapshotInfo {
            seq: 5,
            ts_ns: ts5,
            chain,
        },
    )
    .unwrap();
    let r = replay(&["state", p(&dir)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("skipped snapshot at sequence 5: record 6"),
        "{}",
        r.stderr
    );
    assert!(
        r.stdout.contains(&format!("digest {digest}")),
        "{}",
        r.stdout
    );
}
