//! Backpressure and lifecycle: a full ring says `Full` and loses nothing;
//! concurrent producers all arrive exactly once; a stopped engine says
//! `Closed`; dropping the engine drains and stops; a slow subscriber under
//! "disconnect" is cut off with `Lagged` while the engine keeps going; a
//! journal failure stops the engine (`Failed`, `EngineError::Journal`).

mod runtime_support;

use std::collections::HashMap;

use keel_engine::runtime::{Engine, EngineError, SubmitError, SubscriptionError};
use keel_engine::Command;
use runtime_support::*;

fn tiny() -> Cfg {
    Cfg {
        ring_capacity: 2,
        out_capacity: 1,
        slow: "block",
        ..Cfg::default()
    }
}

/// Polls the loop's counter until it reaches `n` commands (no timing
/// assertion: only a hang would make it wait for long).
fn wait_commands(engine: &Engine, n: u64) {
    let deadline = std::time::Instant::now() + HANG;
    while engine.stats().unwrap().commands < n {
        assert!(std::time::Instant::now() < deadline, "engine hung");
        std::thread::yield_now();
    }
}

#[test]
fn full_ring_hands_the_command_back_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::start(&tiny().config(dir.path())).unwrap();
    // A subscriber that does not read: with "block" and capacity 1, the loop
    // stalls publishing its second batch, and the ring (2 slots) fills.
    let sub = engine.subscribe().unwrap();
    let tx = engine.sender();
    let cmds: Vec<Command> = (1..=200u64).map(|r| open(1_000 + r as u32, r)).collect();
    let mut sent = 0;
    let full = loop {
        assert!(sent < cmds.len(), "the ring never filled");
        match tx.try_submit(cmds[sent]) {
            Ok(()) => sent += 1,
            Err(e) => break e,
        }
    };
    match full {
        SubmitError::Full { command, capacity } => {
            assert_eq!(command, cmds[sent], "Full hands the same command back");
            assert_eq!(capacity, 2);
        }
        other => panic!("expected Full, got {other:?}"),
    }
    assert!(sent >= 2, "at least the ring's capacity went in");
    // (Full may come before the loop stalls on the subscriber: the ring is
    // only 2 deep. Either way the command was handed back, not taken.)

    // Drain on one thread while the rest is submitted (waiting) on another.
    let rest: Vec<Command> = cmds[sent..].to_vec();
    let producer = std::thread::spawn(move || {
        for c in rest {
            tx.submit(c).unwrap();
        }
    });
    let outs = collect(&sub, cmds.len());
    producer.join().unwrap();
    assert_eq!(outs.len(), cmds.len(), "no extra outputs");
    let got: Vec<Command> = outs.iter().map(|o| o.command).collect();
    assert_eq!(got, cmds, "every command exactly once, in order");
    assert!(outs.iter().all(|o| verdict(&o.events).2));
    let stats = engine.stats().unwrap();
    assert_eq!(stats.commands, GENESIS_COMMANDS + cmds.len() as u64);
    assert!(stats.ring_depth_max <= 2);
    drop(sub);
    engine.shutdown().unwrap();
}

#[test]
fn concurrent_producers_arrive_exactly_once_in_producer_order() {
    const PRODUCERS: u32 = 4;
    const EACH: u64 = 3_000;
    let dir = tempfile::tempdir().unwrap();
    let cfg = Cfg {
        ring_capacity: 4,
        batch_max: 3,
        ..Cfg::default()
    };
    let engine = Engine::start(&cfg.config(dir.path())).unwrap();
    let sub = engine.subscribe().unwrap();
    let tx = engine.sender();
    for p in 1..=PRODUCERS {
        tx.submit(open(p, 1)).unwrap();
    }
    collect(&sub, PRODUCERS as usize);
    let producers: Vec<_> = (1..=PRODUCERS)
        .map(|p| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for r in 2..=EACH + 1 {
                    tx.submit(deposit(p, r, USD, r)).unwrap();
                }
            })
        })
        .collect();
    let outs = collect(&sub, (PRODUCERS as u64 * EACH) as usize);
    for t in producers {
        t.join().unwrap();
    }
    let mut last: HashMap<u32, u64> = HashMap::new();
    let mut seq = 0;
    for o in &outs {
        assert!(o.seq > seq);
        seq = o.seq;
        let (account, request_id, accepted) = verdict(&o.events);
        // Out-of-order or repeated delivery would show as Duplicate.
        assert!(accepted, "{o:?}");
        let prev = last.insert(account, request_id).unwrap_or(1);
        assert_eq!(
            request_id,
            prev + 1,
            "producer {account}: in order, no gaps"
        );
    }
    for p in 1..=PRODUCERS {
        assert_eq!(last[&p], EACH + 1);
        let expected: u64 = (2..=EACH + 1).sum();
        let b = engine.query(move |s| s.balance(p, USD)).unwrap().unwrap();
        assert_eq!(b.available, expected);
    }
    // Nothing more is pending.
    assert!(sub.try_recv().unwrap().is_none());
    engine.shutdown().unwrap();
}

#[test]
fn submit_after_shutdown_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::start(&Cfg::default().config(dir.path())).unwrap();
    let tx = engine.sender();
    tx.submit(open(1, 1)).unwrap();
    let exit = engine.shutdown().unwrap();
    assert_eq!(
        exit.stats.commands,
        GENESIS_COMMANDS + 1,
        "the ring was drained"
    );
    let c = open(2, 1);
    assert_eq!(tx.try_submit(c), Err(SubmitError::Closed { command: c }));
    assert_eq!(tx.submit(c), Err(SubmitError::Closed { command: c }));
    assert_eq!(
        tx.submit_at(c, Some(5)),
        Err(SubmitError::Closed { command: c })
    );
    let clone = tx.clone();
    assert!(matches!(
        clone.try_submit(c),
        Err(SubmitError::Closed { .. })
    ));
}

#[test]
fn dropping_the_engine_drains_commits_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let config = Cfg::default().config(dir.path());
    let engine = Engine::start(&config).unwrap();
    let sub = engine.subscribe().unwrap();
    let tx = engine.sender();
    let cmds: Vec<Command> = (1..=500u32).map(|a| open(a, 1)).collect();
    for c in &cmds {
        tx.submit(*c).unwrap();
    }
    drop(engine);
    let (outs, end) = collect_until_closed(&sub);
    assert_eq!(end, SubscriptionError::Closed);
    let got: Vec<Command> = outs.iter().map(|o| o.command).collect();
    assert_eq!(
        got, cmds,
        "everything submitted before the drop was processed"
    );
    assert!(matches!(
        tx.try_submit(open(999, 1)),
        Err(SubmitError::Closed { .. })
    ));
    // And journaled: a restart sees all of it.
    let engine = Engine::start(&config).unwrap();
    assert_eq!(
        engine.start_report().records_replayed,
        GENESIS_COMMANDS + cmds.len() as u64
    );
    assert_eq!(
        replay_digest(&config, &read_journal(dir.path())),
        engine.start_report().digest
    );
}

#[test]
fn slow_subscriber_is_disconnected_and_the_engine_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Cfg {
        out_capacity: 1,
        slow: "disconnect",
        ..Cfg::default()
    };
    let engine = Engine::start(&cfg.config(dir.path())).unwrap();
    let slow = engine.subscribe().unwrap();
    let tx = engine.sender();
    // One command per batch: wait for each before the next.
    for a in 1..=3u32 {
        tx.submit(open(a, 1)).unwrap();
        wait_commands(&engine, GENESIS_COMMANDS + a as u64);
    }
    // The first batch was buffered; the second did not fit: cut off there.
    let first = slow.recv_timeout(HANG).expect("the buffered batch");
    assert_eq!(first.iter().next().unwrap().seq, GENESIS_COMMANDS + 1);
    let err = slow.recv_timeout(HANG).unwrap_err();
    assert_eq!(
        err,
        SubscriptionError::Lagged {
            seq: GENESIS_COMMANDS + 2,
            capacity: 1
        }
    );
    assert!(err.to_string().contains("disconnect"), "{err}");
    assert_eq!(engine.stats().unwrap().subscribers, 0);

    // The engine keeps going, and a new subscriber gets what follows.
    let fresh = engine.subscribe().unwrap();
    tx.submit(open(4, 1)).unwrap();
    let outs = collect(&fresh, 1);
    assert_eq!(outs[0].seq, GENESIS_COMMANDS + 4);
    assert_eq!(outs[0].command, open(4, 1));
    assert_eq!(engine.stats().unwrap().commands, GENESIS_COMMANDS + 4);
    engine.shutdown().unwrap();
}

/// Fail-stop: the journal directory disappears under the engine, so the next
/// segment cannot be installed. Submits then fail with `Failed`, nothing
/// after the failure is published, and shutdown reports the journal error.
#[test]
fn journal_failure_stops_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    let engine = Engine::start(&Cfg::default().config(&journal)).unwrap();
    let sub = engine.subscribe().unwrap();
    let tx = engine.sender();
    tx.submit(open(1, 1)).unwrap();
    collect(&sub, 1);
    std::fs::remove_dir_all(&journal).expect("remove the journal dir");

    // 1 MiB segments: the first roll (about 10k deposits in) must fail, as the
    // prepared next segment can no longer be renamed into the removed
    // directory (nor a new one created there). That failure is what this test
    // checks, not a precondition: no environment makes it optional, so the
    // journal not failing is a test failure, never a skip. 2M deposits are
    // some 200 segments' worth.
    const LIMIT: u64 = 2_000_000;
    let failure = (2..LIMIT)
        .find_map(|r| tx.submit(deposit(1, r, USD, 1)).err())
        .unwrap_or_else(|| {
            panic!(
                "fail-stop broken: {LIMIT} deposits were accepted after the journal \
                 directory {} was removed; the segment roll should have failed",
                journal.display()
            )
        });
    match &failure {
        SubmitError::Failed { reason, .. } => {
            assert!(reason.contains("journal"), "{reason}")
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    let (outs, end) = collect_until_closed(&sub);
    assert_eq!(end, SubscriptionError::Closed);
    let published = outs.last().map_or(1, |o| o.command.request_id);
    // Nothing waits on a dead loop: every request gets the loop's failure.
    assert!(matches!(engine.stats(), Err(EngineError::Journal(_))));
    assert!(matches!(
        engine.query(|s| s.digest()),
        Err(EngineError::Journal(_))
    ));
    assert!(matches!(engine.subscribe(), Err(EngineError::Journal(_))));
    assert!(matches!(engine.registry(), Err(EngineError::Journal(_))));
    match engine.shutdown() {
        Err(EngineError::Journal(reason)) => eprintln!("fail-stop: {reason}"),
        Err(other) => panic!("expected EngineError::Journal, got {other}"),
        Ok(_) => panic!("shutdown after a journal failure must be an error"),
    }
    eprintln!("published up to request {published} before the failure");
}
