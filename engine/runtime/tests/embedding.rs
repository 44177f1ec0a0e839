//! Embedding as a new user would: a config built in code, a temporary
//! journal, names and decimal strings, unpinned by default; and the config
//! values that cannot work are refused at start-up, naming the key.

use keel_engine::config::{Config, ConfigError, DurabilityConfig};
use keel_engine::prelude::*;

fn config() -> Config {
    Config::builder()
        .temporary_journal()
        .durability(DurabilityConfig::None)
        .asset("BTC", 8)
        .asset("USD", 6)
        .symbol("BTC-USD", "BTC", "USD", "0.01", "0.0001")
        .fees_bps(1, 5)
        .build()
        .expect("config")
}

/// Two crossing orders; returns the trade and the final digest.
fn trade_once() -> (Trade, String) {
    let engine = Engine::start(&config()).expect("start");
    let report = engine.start_report();
    assert_eq!(
        report.records_replayed, 0,
        "a temporary journal starts empty"
    );
    assert!(report.pinned_core.is_none());
    assert!(
        report.warnings.iter().any(|w| w.contains("unpinned")),
        "running unpinned is a warning: {:?}",
        report.warnings
    );
    let journal_dir = report.journal_dir.clone();
    assert!(journal_dir.is_dir());
    let (names, tx, outputs) = (
        engine.registry().unwrap(),
        engine.sender(),
        engine.subscribe().unwrap(),
    );
    tx.submit(Command::open_account(1, 1)).unwrap();
    tx.submit(Command::open_account(2, 1)).unwrap();
    tx.submit(names.deposit(1, 2, "BTC", "1.5").unwrap())
        .unwrap();
    tx.submit(names.deposit(2, 2, "USD", "100000").unwrap())
        .unwrap();
    tx.submit(
        names
            .limit(1, 3, "BTC-USD", Side::Sell, "60000", "1")
            .unwrap(),
    )
    .unwrap();
    tx.submit(
        names
            .limit(2, 3, "BTC-USD", Side::Buy, "60000.50", "0.5")
            .unwrap(),
    )
    .unwrap();
    let mut seen = 0;
    let trade = loop {
        let batch = outputs.recv().unwrap();
        for o in batch.iter() {
            seen += 1;
            assert!(
                !matches!(o.events.first(), Some(Event::Rejected { .. })),
                "output {} rejected: {:?}",
                o.seq,
                o.events
            );
        }
        let trade = batch
            .iter()
            .flat_map(|o| o.events)
            .find_map(Event::trade)
            .copied();
        if let Some(t) = trade {
            break t;
        }
    };
    assert_eq!(seen, 6);
    let exit = engine.shutdown().expect("shutdown");
    assert_eq!(exit.stats.trades, 1);
    assert!(
        !journal_dir.exists(),
        "the temporary journal is removed after shutdown"
    );
    (trade, exit.digest.to_string())
}

#[test]
fn the_same_program_runs_twice_from_genesis() {
    let (first, digest) = trade_once();
    assert_eq!(
        first.price, 6_000_000,
        "the maker's price, in ticks of 0.01"
    );
    assert_eq!(first.qty, 5_000, "0.5 BTC in lots of 0.0001");
    assert_eq!(
        trade_once(),
        (first, digest),
        "a second run starts from genesis again"
    );
}

#[test]
fn names_become_known_only_when_committed() {
    let engine = Engine::start(&config()).unwrap();
    let names = engine.registry().unwrap();
    let e = names.deposit(1, 1, "SOL", "1").unwrap_err().to_string();
    assert!(e.contains("SOL") && e.contains("BTC, USD"), "{e}");
    let e = names
        .deposit(1, 1, "BTC", "0.000000001")
        .unwrap_err()
        .to_string();
    assert!(e.contains("BTC minor units (scale 8)"), "{e}");
    let e = names
        .limit(1, 1, "BTC-USD", Side::Buy, "1.001", "1")
        .unwrap_err()
        .to_string();
    assert!(e.contains("ticks of 0.01"), "{e}");
}

#[test]
fn a_persistent_journal_continues_across_runs() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::builder()
        .journal_dir(dir.path().join("j"))
        .segment_size_mib(1)
        .asset("USD", 2)
        .build()
        .expect("segment_size_mib = 1 works with the default record cap");
    assert_eq!(
        config.journal.max_record_kib(),
        256,
        "a quarter of a 1 MiB segment"
    );
    let run = |request_id| {
        let engine = Engine::start(&config).unwrap();
        let outputs = engine.subscribe().unwrap();
        engine
            .sender()
            .submit(Command::open_account(request_id as u32, request_id))
            .unwrap();
        let batch = outputs.recv().unwrap();
        let o = batch.iter().next().unwrap();
        assert!(
            matches!(o.events[0], Event::AccountOpened { .. }),
            "{:?}",
            o.events
        );
        let seq = o.seq;
        engine.shutdown().unwrap();
        seq
    };
    let first = run(1);
    assert_eq!(run(2), first + 1, "the second run continues the journal");
}

fn start_error(config: Config) -> String {
    match Engine::start(&config) {
        Err(StartError::Config(ConfigError::Invalid { key, .. })) => key,
        Err(other) => panic!("expected a config error, got {other}"),
        Ok(_) => panic!("started with an unusable config"),
    }
}

#[test]
fn unusable_values_are_refused_naming_the_key() {
    let unchecked = |b: keel_engine::config::ConfigBuilder| b.temporary_journal().into_unchecked();
    assert_eq!(
        start_error(unchecked(Config::builder().max_record_kib(1))),
        "journal.max_record_kib"
    );
    assert_eq!(
        start_error(unchecked(Config::builder().ring_capacity(1000))),
        "engine.ring_capacity"
    );
    assert_eq!(
        start_error(Config::builder().into_unchecked()),
        "journal.dir"
    );
    let e = Config::builder()
        .temporary_journal()
        .max_record_kib(3)
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("journal.max_record_kib") && e.contains("4 to 65536"),
        "{e}"
    );
    let e = Config::builder()
        .temporary_journal()
        .symbol("X-Y", "X", "Y", "1", "1")
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("symbols[0].base") && e.contains("(built in code)"),
        "{e}"
    );
}

#[test]
fn pinning_to_a_missing_core_is_an_error_unless_allowed() {
    let missing = Config::builder()
        .temporary_journal()
        .pin_to_core(100_000)
        .build()
        .unwrap();
    assert!(matches!(
        Engine::start(&missing),
        Err(StartError::NoSuchCore { core: 100_000, .. })
    ));
    let allowed = Config::builder()
        .temporary_journal()
        .pin_to_core(100_000)
        .allow_unpinned(true)
        .build()
        .unwrap();
    let engine = Engine::start(&allowed).unwrap();
    assert!(engine
        .start_report()
        .warnings
        .iter()
        .any(|w| w.contains("100000")));
    engine.shutdown().unwrap();
}
