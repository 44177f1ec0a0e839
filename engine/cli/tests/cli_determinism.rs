//! `keel run` is deterministic: the same input into two fresh journals gives
//! byte-identical output (simulated clock), or identical output once the
//! timestamps are stripped (system clock), and the same digest.

mod cli_support;
#[path = "../../runtime/tests/runtime_support/mod.rs"]
mod runtime_support;

use std::path::Path;

use cli_support::*;
use runtime_support::*;

fn input(ts: Option<u64>) -> Vec<String> {
    let mut flow = JsonFlow::new(2024, (1..=8).collect(), ts);
    let mut lines = flow.setup();
    for _ in 0..3_000 {
        lines.push(flow.next_line());
    }
    lines
}

/// Runs `keel run` on `input_file` into a fresh journal under `work/name`.
fn run(work: &Path, name: &str, clock: &'static str, input_file: &Path) -> (Vec<u8>, Ran) {
    let dir = work.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = Cfg {
        clock,
        ..Cfg::default()
    };
    let config = cfg.write(&dir.join("keel.toml"), &dir.join("journal"));
    let output = dir.join("out.jsonl");
    let ran = keel(&[
        "run",
        "--config",
        config.to_str().unwrap(),
        "--input",
        input_file.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
    ]);
    assert_eq!(ran.code, Some(0), "{ran:?}");
    (std::fs::read(output).unwrap(), ran)
}

fn write_input(work: &Path, lines: &[String]) -> std::path::PathBuf {
    let path = work.join("input.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn check_output_shape(out: &[u8], lines: usize) -> Vec<serde_json::Value> {
    let values: Vec<serde_json::Value> = std::str::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(values.len(), lines, "one output line per input line");
    let mut seq = 0;
    for v in &values {
        let s = v["seq"].as_u64().unwrap();
        assert!(s > seq, "seq strictly increasing");
        seq = s;
    }
    values
}

#[test]
fn simulated_clock_is_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let lines = input(Some(1_000_000));
    let file = write_input(tmp.path(), &lines);
    let (a, ran_a) = run(tmp.path(), "a", "simulated", &file);
    let (b, ran_b) = run(tmp.path(), "b", "simulated", &file);
    let values = check_output_shape(&a, lines.len());
    assert!(a == b, "outputs differ byte for byte");
    assert_eq!(ran_a.run_digest(), ran_b.run_digest());
    assert_eq!(ran_a.run_digest().len(), 64);
    // The flow really trades and expires GTD orders.
    let text = String::from_utf8_lossy(&a);
    assert!(text.contains("\"trade_executed\""), "no trades");
    assert!(text.contains("\"expired\""), "no GTD expiry");
    // Timestamps are the input's.
    assert_eq!(values[0]["ts"].as_u64(), Some(1_001_000));
}

#[test]
fn system_clock_is_identical_but_for_timestamps() {
    let tmp = tempfile::tempdir().unwrap();
    let lines = input(None);
    let file = write_input(tmp.path(), &lines);
    let (a, ran_a) = run(tmp.path(), "a", "system", &file);
    let (b, ran_b) = run(tmp.path(), "b", "system", &file);
    let strip = |out: &[u8]| -> Vec<serde_json::Value> {
        let mut values = check_output_shape(out, lines.len());
        for v in &mut values {
            let ts = v.as_object_mut().unwrap().remove("ts");
            assert!(ts.and_then(|t| t.as_u64()).is_some(), "every line has a ts");
        }
        values
    };
    let (sa, sb) = (strip(&a), strip(&b));
    assert!(sa == sb, "outputs differ beyond their timestamps");
    assert!(String::from_utf8_lossy(&a).contains("\"trade_executed\""));
    assert_eq!(ran_a.run_digest(), ran_b.run_digest());
}
