//! Replays the LOBSTER sample files through the Keel core and checks the
//! conversion: every row of the file is read, no engine errors, no
//! rejections, trades happen, and every row is accounted for.
//!
//! The files live outside the repository, in `../shared/data/lobster/` (or in
//! `$KEEL_LOBSTER_DIR`). When one is missing the test says so on stderr and
//! skips, except under `CI=true`, where missing data is a failure.

use std::path::{Path, PathBuf};

use keel_benches::workload::lobster::{load, LobsterConfig};
use keel_engine::model::Event;

/// Where the sample files are read from: `$KEEL_LOBSTER_DIR` if set, else
/// `../shared/data/lobster` beside the repository root.
fn data_dir() -> PathBuf {
    match std::env::var_os("KEEL_LOBSTER_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/data/lobster"
        )),
    }
}

/// CI (`CI=true`) has the shared data: there a missing file fails the test.
fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// The file's path if it is there; otherwise `None` after printing why
/// (outside CI) or a panic (under CI).
fn sample(file: &str) -> Option<PathBuf> {
    let path = data_dir().join(file);
    if path.is_file() {
        return Some(path);
    }
    let why = format!(
        "LOBSTER sample file {} not found. It belongs in ../shared/data/lobster/ \
         beside the repository root (or set KEEL_LOBSTER_DIR to a folder holding it); \
         the files are LOBSTER's free NASDAQ samples for 2012-06-21 \
         (https://lobsterdata.com/info/DataSamples.php; the AAPL one cut to its first \
         1000 lines), see ../shared/data/lobster/README.md",
        path.display()
    );
    if under_ci() {
        panic!("{why}. CI=true: missing data is a failure here, not a skip");
    }
    eprintln!("SKIP {file}: {why}");
    None
}

fn replay(file: &str, base: &str) {
    let Some(path) = sample(file) else { return };
    // Counted here, independently of the loader: every non-blank line is a row.
    let text = std::fs::read_to_string(&path).expect("the sample file reads");
    let lines = text.lines().filter(|l| !l.trim().is_empty()).count();
    assert!(lines > 0, "{} is empty", path.display());
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
    assert_eq!(s.rows, lines, "every line of the file is read as a row");
    assert!(
        s.used * 2 > s.rows,
        "most rows become commands: {}",
        s.summary()
    );
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
                Event::TradeExecuted(_) => trades += 1,
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
