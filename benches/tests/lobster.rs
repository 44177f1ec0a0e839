//! Replays the LOBSTER sample files (when present) through the Keel core and
//! checks the conversion: no engine errors, no rejections, trades happen,
//! and every row is accounted for.

use std::path::{Path, PathBuf};

use keel_benches::workload::lobster::{load, LobsterConfig};
use keel_engine::model::Event;

fn data_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/data/lobster"
    ))
}

fn replay(file: &str, base: &str) {
    let path = data_dir().join(file);
    if !path.exists() {
        eprintln!("skipping: {} not found", path.display());
        return;
    }
    let cfg = LobsterConfig {
        base: base.into(),
        ..Default::default()
    };
    let w = load(&path, &cfg).expect("the file converts");
    let s = &w.stats;
    eprintln!("{file}: {}", s.summary());
    let skipped: usize = s.skipped_by_type.values().sum::<usize>()
        + s.unknown_id.values().sum::<usize>()
        + s.gone.values().sum::<usize>();
    assert_eq!(
        s.rows,
        s.used + skipped,
        "every row is used or counted as skipped"
    );
    assert_eq!(w.workload.measured.len(), s.used);
    assert_eq!(w.ts_ns.len(), s.used);
    assert!(
        w.ts_ns.windows(2).all(|p| p[0] <= p[1]),
        "file order is time order"
    );
    assert_eq!(s.rejected(), 0, "rejections: {:?}", s.rejections);
    assert!(s.trades > 0, "some executions trade");

    // The same stream replayed on a fresh state: no errors, same outcome.
    let mut state = w.workload.prepared_state();
    let mut out = Vec::new();
    let (mut trades, mut rejected) = (0, 0);
    for (cmd, &ts) in w.workload.measured.iter().zip(&w.ts_ns) {
        keel_engine::process(&mut state, cmd, ts, &mut out).expect("no engine error");
        for e in &out {
            match e {
                Event::TradeExecuted { .. } => trades += 1,
                Event::Rejected { .. } => rejected += 1,
                _ => {}
            }
        }
    }
    state.check_invariants().expect("invariants hold");
    assert_eq!((trades, rejected), (s.trades, 0));
}

#[test]
fn amzn_full_day() {
    replay("AMZN_2012-06-21_34200000_57600000_message_1.csv", "AMZN");
}

#[test]
fn aapl_first_1000() {
    replay(
        "AAPL_2012-06-21_34200000_57600000_message_10_first1000.csv",
        "AAPL",
    );
}

#[test]
fn missing_file_is_an_error() {
    assert!(load(
        Path::new("/nonexistent/lobster.csv"),
        &LobsterConfig::default()
    )
    .is_err());
}
