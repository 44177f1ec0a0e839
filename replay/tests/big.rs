//! A journal of more than 1,000,000 records: restart time with and without a
//! snapshot (printed; run with --nocapture), asserting correctness only.

mod common;

use std::path::Path;
use std::time::Instant;

use common::*;
use keel_engine::model::{Command, CommandKind, OrderType, PlaceOrder, Side, StpMode, TimeInForce};
use keel_engine::runtime::Engine;

pub const ACCOUNTS: u32 = 1000;

/// Writes at least `records` records: accounts and deposits, then pairs of a
/// resting sell and a crossing buy (a trade each), with some cancels.
pub fn write_big(dir: &Path, records: u64) -> String {
    let config = config_with(dir, 4096, 64);
    let engine = Engine::start(&config).expect("engine");
    let tx = engine.sender();
    let mut ts = 1u64;
    let mut req = vec![0u64; ACCOUNTS as usize + 1];
    let mut send = |account: u32, kind: CommandKind, ts: &mut u64| {
        req[account as usize] += 1;
        *ts += 1;
        tx.submit_at(
            Command {
                account,
                request_id: req[account as usize],
                kind,
            },
            Some(*ts),
        )
        .expect("submit");
    };
    let mut n = 0u64;
    for a in 1..=ACCOUNTS {
        send(a, CommandKind::OpenAccount, &mut ts);
        send(
            a,
            CommandKind::Deposit {
                asset: 0,
                amount: 1 << 50,
            },
            &mut ts,
        );
        send(
            a,
            CommandKind::Deposit {
                asset: 1,
                amount: 1 << 55,
            },
            &mut ts,
        );
        n += 3;
    }
    let order = |side, price| {
        CommandKind::PlaceOrder(PlaceOrder {
            symbol: 0,
            side,
            order_type: OrderType::Limit { price },
            qty: 1 + (price % 7),
            tif: TimeInForce::Gtc,
            post_only: false,
            stp: StpMode::CancelNewest,
        })
    };
    let mut i = 0u64;
    let mut next_order = 1u64;
    while n < records {
        let seller = 1 + (i % ACCOUNTS as u64) as u32;
        let buyer = 1 + ((i + 7) % ACCOUNTS as u64) as u32;
        let price = 10_000 + (i % 50);
        if i % 10 == 9 {
            // A resting order and its cancel.
            send(seller, order(Side::Sell, price + 1000), &mut ts);
            send(
                seller,
                CommandKind::CancelOrder { order: next_order },
                &mut ts,
            );
            next_order += 1;
        } else {
            send(seller, order(Side::Sell, price), &mut ts);
            send(buyer, order(Side::Buy, price), &mut ts);
            next_order += 2;
        }
        n += 2;
        i += 1;
    }
    drop(tx);
    engine.shutdown().expect("shutdown").digest.to_string()
}

fn start(dir: &Path) -> (String, Option<u64>, u64, f64) {
    let t = Instant::now();
    let engine = Engine::start(&config_with(dir, 4096, 64)).expect("start");
    let secs = t.elapsed().as_secs_f64();
    let r = engine.start_report().clone();
    engine.shutdown().unwrap();
    (
        r.digest.to_string(),
        r.snapshot_seq,
        r.records_replayed,
        secs,
    )
}

#[test]
fn restart_with_a_snapshot_on_a_million_records() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("journal");
    let t = Instant::now();
    let digest = write_big(&dir, 1_000_000);
    println!("wrote the journal in {:.2} s", t.elapsed().as_secs_f64());

    let (d, snap, replayed, full) = start(&dir);
    assert_eq!(d, digest);
    assert_eq!(snap, None);
    assert!(replayed >= 1_000_000, "{replayed}");

    let t = Instant::now();
    let out = ok(&["snapshot", p(&dir)]);
    println!(
        "replay snapshot: {:.2} s: {}",
        t.elapsed().as_secs_f64(),
        out.trim()
    );
    assert!(out.contains(&digest));

    let (d, snap, replayed2, with) = start(&dir);
    assert_eq!(d, digest);
    assert_eq!(snap, Some(replayed));
    assert_eq!(replayed2, 0);
    println!(
        "restart of {replayed} records: {full:.3} s from genesis, {with:.3} s from the snapshot ({:.1}x)",
        full / with
    );
}

/// Writes a journal for speed measurements to `$KEEL_BIG_JOURNAL` (default
/// 2,000,000 records, `$KEEL_BIG_RECORDS`). Run with `--ignored`, then time
/// the release binary on it (see README-section.md).
#[test]
#[ignore]
fn write_big_journal_for_benchmarks() {
    let dir = std::env::var("KEEL_BIG_JOURNAL").expect("set KEEL_BIG_JOURNAL to a new directory");
    let records = std::env::var("KEEL_BIG_RECORDS").map_or(2_000_000, |s| s.parse().unwrap());
    let digest = write_big(Path::new(&dir), records);
    println!("wrote {records}+ records to {dir}, digest {digest}");
}
