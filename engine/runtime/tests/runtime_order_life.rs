//! An order's life through the real business-logic loop (Engine API,
//! simulated clock): fund, place, match, amend, cancel, expire; outputs in
//! sequence with their correlation; balances and telemetry counters.

mod runtime_support;

use keel_engine::model::Trade;
use keel_engine::runtime::Engine;
use keel_engine::state::account::Balance;
use keel_engine::{CancelReason, Command, Event, RejectReason, Side, TimeInForce};
use runtime_support::*;

fn bal(engine: &Engine, account: u32, asset: u32) -> Balance {
    engine
        .query(move |s| s.balance(account, asset))
        .expect("query")
        .unwrap_or_else(|| panic!("account {account} has no balance"))
}

fn b(available: u64, held: u64) -> Balance {
    Balance { available, held }
}

#[test]
fn order_life_through_the_loop() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::start(&Cfg::default().config(dir.path())).expect("start");
    assert_eq!(engine.start_report().startup_commands, 3);
    let sub = engine.subscribe().unwrap();
    let tx = engine.sender();

    // (command, simulated ts)
    let script: Vec<(Command, u64)> = vec![
        (open(1, 1), 1_000),
        (open(2, 1), 2_000),
        (open(3, 1), 3_000),
        (deposit(1, 2, BTC, 200_000_000), 4_000), // 2 BTC
        (deposit(2, 2, USD, 1_000_000_000_000), 5_000), // 1M USD
        (gtc(1, 3, Side::Sell, 10_000, 10_000), 6_000), // order 1: 1 BTC @ 100.00
        (gtc(2, 3, Side::Buy, 10_100, 4_000), 7_000), // order 2: takes 0.4 @ 100.00
        (amend(1, 4, 1, 10_000, 5_000), 8_000),   // keeps priority
        (amend(1, 5, 1, 10_200, 5_000), 9_000),   // loses it, rests @ 102.00
        (gtc(2, 4, Side::Buy, 10_100, 1_000), 10_000), // order 3 rests @ 101.00
        (cancel(1, 6, 3), 11_000),                // not the owner
        (cancel(2, 5, 3), 12_000),                // ok
        (deposit(2, 5, USD, 1), 13_000),          // duplicate request id
        (gtc(3, 2, Side::Buy, 10_000, 10_000), 14_000), // no funds
        (cancel(1, 6, 999), 15_000),              // unknown order
        (deposit(7, 1, USD, 5), 16_000),          // unknown account
        (amend(1, 7, 1, 10_200, 5_000), 17_000),  // no change
        (
            limit(
                1,
                8,
                Side::Sell,
                10_300,
                100,
                TimeInForce::Gtd { expiry_ns: 20_000 },
            ),
            18_000,
        ), // order 4
        (cancel(1, 9, 1), 25_000),                // expires order 4 first
        (deposit(2, 6, BTC, 0), 5_000),           // ts goes back: clamped; zero amount
    ];
    for (c, ts) in &script {
        tx.submit_at(*c, Some(*ts)).unwrap();
    }
    let outs = collect(&sub, script.len());
    assert_eq!(outs.len(), script.len(), "one output per command");

    // Order, sequence, correlation, timestamps.
    for (i, (o, (c, ts))) in outs.iter().zip(&script).enumerate() {
        assert_eq!(o.seq, GENESIS_COMMANDS + 1 + i as u64, "contiguous seq");
        assert_eq!(o.command, *c, "outputs in submission order");
        let (account, request_id, _) = verdict(&o.events);
        assert_eq!((account, request_id), (c.account, c.request_id));
        let expected_ts = if i == script.len() - 1 { 25_000 } else { *ts };
        assert_eq!(o.ts_ns, expected_ts, "simulated ts of output {i}");
    }
    let accepted: Vec<bool> = outs.iter().map(|o| verdict(&o.events).2).collect();
    assert_eq!(
        accepted,
        [
            true, true, true, true, true, true, true, true, true, true, false, true, false, false,
            false, false, false, true, true, false
        ]
    );
    let reason = |i: usize| {
        outs[i]
            .events
            .iter()
            .find_map(|e| match e {
                Event::Rejected { reason, .. } => Some(*reason),
                _ => None,
            })
            .unwrap()
    };
    assert_eq!(reason(10), RejectReason::NotOrderOwner { order: 3 });
    assert_eq!(reason(12), RejectReason::Duplicate { last_request_id: 5 });
    assert!(matches!(
        reason(13),
        RejectReason::InsufficientFunds {
            asset: USD,
            available: 0,
            ..
        }
    ));
    assert_eq!(reason(14), RejectReason::UnknownOrder { order: 999 });
    assert_eq!(reason(15), RejectReason::UnknownAccount { account: 7 });
    assert_eq!(reason(16), RejectReason::AmendNoChange);
    assert_eq!(reason(19), RejectReason::ZeroValue);

    // The match: 4000 lots at the maker's price, fees 1 and 5 bps.
    let trade = outs[6]
        .events
        .iter()
        .find(|e| matches!(e, Event::TradeExecuted(_)))
        .expect("a trade");
    assert_eq!(
        *trade,
        Event::TradeExecuted(Trade {
            symbol: BTC_USD,
            maker_order: 1,
            taker_order: 2,
            maker_account: 1,
            taker_account: 2,
            taker_side: Side::Buy,
            price: 10_000,
            qty: 4_000,
            maker_fee: 4_000,
            taker_fee: 20_000,
        })
    );
    assert!(outs[6].events.iter().any(|e| matches!(
        e,
        Event::OrderAccepted {
            order: 2,
            hold: 40_420_200,
            ..
        }
    )));
    assert!(outs[7].events.iter().any(|e| matches!(
        e,
        Event::OrderAmended {
            order: 1,
            qty: 5_000,
            priority_kept: true,
            ..
        }
    )));
    assert!(outs[8].events.iter().any(|e| matches!(
        e,
        Event::OrderAmended {
            order: 1,
            price: 10_200,
            priority_kept: false,
            ..
        }
    )));
    assert!(outs[8].events.contains(&Event::OrderRested { order: 1 }));
    // Expiry first (driven by the command's timestamp), then the cancel.
    assert_eq!(
        outs[18].events[0],
        Event::OrderCancelled {
            order: 4,
            account: 1,
            remaining: 100,
            reason: CancelReason::Expired
        }
    );
    assert!(outs[18].events.contains(&Event::OrderCancelled {
        order: 1,
        account: 1,
        remaining: 5_000,
        reason: CancelReason::User
    }));

    // Balances.
    assert_eq!(bal(&engine, 1, BTC), b(160_000_000, 0));
    assert_eq!(bal(&engine, 1, USD), b(40_000_000 - 4_000, 0));
    assert_eq!(bal(&engine, 2, BTC), b(40_000_000, 0));
    assert_eq!(
        bal(&engine, 2, USD),
        b(1_000_000_000_000 - 40_000_000 - 20_000, 0)
    );
    assert_eq!(bal(&engine, 0, USD), b(24_000, 0));
    assert_eq!(bal(&engine, 3, USD), b(0, 0));
    assert_eq!(engine.query(|s| s.open_order_count()).unwrap(), 0);
    engine
        .query(|s| s.check_invariants().map_err(|e| e.to_string()))
        .unwrap()
        .expect("invariants hold");

    // Telemetry counters.
    let stats = engine.stats().unwrap();
    assert_eq!(stats.commands, GENESIS_COMMANDS + script.len() as u64);
    assert_eq!(stats.last_seq, GENESIS_COMMANDS + script.len() as u64);
    assert_eq!(stats.trades, 1);
    assert_eq!(stats.rejected, 7);
    assert_eq!(
        stats.rejections_by_reason(),
        vec![
            ("duplicate", 1),
            ("unknown_account", 1),
            ("unknown_order", 1),
            ("not_order_owner", 1),
            ("zero_value", 1),
            ("insufficient_funds", 1),
            ("amend_no_change", 1),
        ]
    );
    let events: u64 = outs.iter().map(|o| o.events.len() as u64).sum();
    assert_eq!(stats.events, events + GENESIS_COMMANDS * 2);
    assert_eq!(stats.subscribers, 1);
    let exit = engine.shutdown().expect("clean shutdown");
    assert_eq!(exit.stats.commands, stats.commands);
}

/// A longer random flow: counters agree with what the outputs show, the
/// ledger conserves, and a fresh replay of the journal reaches the digest.
#[test]
fn counters_match_a_random_flow() {
    let dir = tempfile::tempdir().unwrap();
    let config = Cfg::default().config(dir.path());
    let engine = Engine::start(&config).expect("start");
    let sub = engine.subscribe().unwrap();
    let tx = engine.sender();
    let mut rng = Rng::new(7);
    let mut rid = [0u64; 6];
    let mut next = |a: u32| {
        rid[a as usize] += 1;
        rid[a as usize]
    };
    let mut cmds = Vec::new();
    for a in 1..=5u32 {
        cmds.push(open(a, next(a)));
        cmds.push(deposit(a, next(a), BTC, 10_000_000_000));
        cmds.push(deposit(a, next(a), USD, 10_000_000_000_000));
    }
    for _ in 0..3_000 {
        let a = rng.range(1, 5) as u32;
        let r = if rng.chance(3) { 1 } else { next(a) }; // some duplicates
        let c = match rng.range(0, 9) {
            0..=5 => gtc(
                a,
                r,
                if rng.chance(50) {
                    Side::Buy
                } else {
                    Side::Sell
                },
                rng.range(9_900, 10_100),
                rng.range(1, 20_000),
            ),
            6 | 7 => cancel(a, r, rng.range(1, 2_000)),
            _ => amend(
                a,
                r,
                rng.range(1, 2_000),
                rng.range(9_900, 10_100),
                rng.range(1, 20_000),
            ),
        };
        cmds.push(c);
    }
    let mut ts = 0;
    for c in &cmds {
        ts += 10;
        tx.submit_at(*c, Some(ts)).unwrap();
    }
    let outs = collect(&sub, cmds.len());
    let mut last = 0;
    let (mut trades, mut rejected) = (0u64, std::collections::BTreeMap::new());
    for (o, c) in outs.iter().zip(&cmds) {
        assert!(o.seq > last, "seq strictly increasing");
        last = o.seq;
        assert_eq!(o.command, *c);
        let (account, request_id, _) = verdict(&o.events);
        assert_eq!((account, request_id), (c.account, c.request_id));
        for e in &o.events {
            match e {
                Event::TradeExecuted(_) => trades += 1,
                Event::Rejected { reason, .. } => {
                    *rejected.entry(reason.code()).or_insert(0u64) += 1
                }
                _ => {}
            }
        }
    }
    assert!(trades > 100, "the flow trades ({trades})");
    let stats = engine.stats().unwrap();
    assert_eq!(stats.commands, GENESIS_COMMANDS + cmds.len() as u64);
    assert_eq!(stats.trades, trades);
    assert_eq!(stats.rejected, rejected.values().sum::<u64>());
    let mut by_reason: Vec<_> = stats.rejections_by_reason();
    by_reason.sort();
    assert_eq!(by_reason, rejected.into_iter().collect::<Vec<_>>());
    // Conservation per asset: Σ (available + held) = supply.
    let sums = engine
        .query(|s| {
            (0..2u32)
                .map(|asset| {
                    let total: u64 = s
                        .accounts()
                        .map(|(_, a)| {
                            let b = a.balance(asset);
                            b.available + b.held
                        })
                        .sum();
                    (total, s.asset(asset).unwrap().supply)
                })
                .collect::<Vec<_>>()
        })
        .unwrap();
    for (total, supply) in sums {
        assert_eq!(total, supply);
    }
    let exit = engine.shutdown().unwrap();
    assert_eq!(
        replay_digest(&config, &read_journal(dir.path())),
        exit.digest
    );
}
