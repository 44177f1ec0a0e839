//! Restart: the recovered state digests like the one that stopped, sequence
//! numbers continue, request ids and simulated time survive; a config that
//! contradicts the journal refuses to start with `ConfigDrift`.

mod runtime_support;

use keel_engine::runtime::{Engine, StartError};
use keel_engine::{Command, Event, RejectReason, Side};
use runtime_support::*;

/// Opens and funds accounts 1..=4, then a trading flow; returns the commands.
fn flow(n: usize) -> Vec<Command> {
    let mut rng = Rng::new(11);
    let mut rid = [0u64; 5];
    let mut next = |a: u32| {
        rid[a as usize] += 1;
        rid[a as usize]
    };
    let mut cmds = Vec::new();
    for a in 1..=4u32 {
        cmds.push(open(a, next(a)));
        cmds.push(deposit(a, next(a), BTC, 5_000_000_000));
        cmds.push(deposit(a, next(a), USD, 5_000_000_000_000));
    }
    while cmds.len() < n {
        let a = rng.range(1, 4) as u32;
        let side = if rng.chance(50) {
            Side::Buy
        } else {
            Side::Sell
        };
        cmds.push(match rng.range(0, 9) {
            0..=6 => gtc(
                a,
                next(a),
                side,
                rng.range(9_950, 10_050),
                rng.range(1, 5_000),
            ),
            7 => cancel(a, next(a), rng.range(1, 300)),
            _ => amend(
                a,
                next(a),
                rng.range(1, 300),
                rng.range(9_950, 10_050),
                rng.range(1, 5_000),
            ),
        });
    }
    cmds
}

#[test]
fn restart_recovers_the_digest_and_continues_the_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let config = Cfg::default().config(dir.path());
    let cmds = flow(600);

    let engine = Engine::start(&config).expect("first start");
    let sub = engine.subscribe().unwrap();
    let tx = engine.sender();
    for (i, c) in cmds.iter().enumerate() {
        tx.submit_at(*c, Some(1_000 * (i as u64 + 1))).unwrap();
    }
    let outs = collect(&sub, cmds.len());
    let last_seq = outs.last().unwrap().seq;
    assert_eq!(last_seq, GENESIS_COMMANDS + cmds.len() as u64);
    let before = engine.digest().unwrap();
    let open_before = engine.query(|s| s.open_order_count()).unwrap();
    assert!(open_before > 0, "some orders rest across the restart");
    let exit = engine.shutdown().expect("clean shutdown");
    assert_eq!(exit.digest, before, "shutdown digest = last queried digest");
    drop(sub);

    let engine = Engine::start(&config).expect("restart");
    let report = engine.start_report();
    assert_eq!(report.digest, before, "recovered digest = pre-stop digest");
    assert_eq!(report.records_replayed, last_seq);
    assert_eq!(report.startup_commands, 0, "genesis is not repeated");
    assert_eq!(engine.digest().unwrap(), before);
    assert_eq!(engine.query(|s| s.open_order_count()).unwrap(), open_before);

    // Continued commands take the next sequence numbers. Request ids survive:
    // reusing account 1's first id is a duplicate. Time never goes back.
    let sub = engine.subscribe().unwrap();
    let tx = engine.sender();
    let last_ts = 1_000 * cmds.len() as u64;
    let more = [
        deposit(1, 1, USD, 1),
        deposit(1, 10_000, USD, 1),
        open(9, 1),
    ];
    tx.submit_at(more[0], Some(5)).unwrap();
    tx.submit_at(more[1], None).unwrap();
    tx.submit_at(more[2], Some(last_ts + 7)).unwrap();
    let outs2 = collect(&sub, more.len());
    for (i, o) in outs2.iter().enumerate() {
        assert_eq!(o.seq, last_seq + 1 + i as u64, "sequence continues");
        assert_eq!(o.command, more[i]);
    }
    assert!(matches!(
        outs2[0].events[..],
        [Event::Rejected {
            reason: RejectReason::Duplicate { .. },
            ..
        }]
    ));
    assert!(verdict(&outs2[1].events).2);
    assert_eq!(
        outs2[0].ts_ns, last_ts,
        "simulated time resumes, never back"
    );
    assert_eq!(outs2[1].ts_ns, last_ts);
    assert_eq!(outs2[2].ts_ns, last_ts + 7);
    let after = engine.shutdown().unwrap().digest;
    assert_ne!(after, before);

    // A third start agrees with a from-genesis replay of the whole journal.
    let records = read_journal(dir.path());
    assert_eq!(records.len() as u64, last_seq + more.len() as u64);
    assert_eq!(replay_digest(&config, &records), after);
    let engine = Engine::start(&config).unwrap();
    assert_eq!(engine.start_report().digest, after);
}

#[test]
fn restart_with_a_changed_asset_scale_is_config_drift() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::start(&Cfg::default().config(dir.path())).unwrap();
    let tx = engine.sender();
    tx.submit_at(open(1, 1), Some(1)).unwrap();
    let digest = engine.shutdown().unwrap().digest;

    let drifted = Cfg {
        btc_scale: 6,
        ..Cfg::default()
    };
    let err = match Engine::start(&drifted.config(dir.path())) {
        Ok(_) => panic!("a changed scale must not start"),
        Err(e) => e,
    };
    match &err {
        StartError::ConfigDrift {
            key,
            value,
            journal,
        } => {
            assert_eq!(key, "assets.BTC.scale");
            assert_eq!(value, "6");
            assert_eq!(journal, "8");
        }
        other => panic!("expected ConfigDrift, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("assets.BTC.scale") && msg.contains("disagrees with the journal"),
        "{msg}"
    );

    // A changed symbol (fee) drifts too.
    let fee = Cfg {
        taker_fee_bps: 7,
        ..Cfg::default()
    };
    match Engine::start(&fee.config(dir.path())) {
        Err(StartError::ConfigDrift { key, .. }) => assert_eq!(key, "symbols.BTC-USD"),
        Err(other) => panic!("expected ConfigDrift, got {other:?}"),
        Ok(_) => panic!("a changed fee must not start"),
    }

    // Refusing changed nothing: the original config still starts, same state.
    let engine = Engine::start(&Cfg::default().config(dir.path())).unwrap();
    assert_eq!(engine.start_report().digest, digest);
    assert_eq!(engine.start_report().startup_commands, 0);
}
