//! Test helpers: write journals with `keel run` (or, when its binary is not
//! built, in-process through the same engine and JSON edge), and run the
//! `replay` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use keel_edge::parse_command_line;
use keel_engine::config::Config;
use keel_engine::runtime::Engine;
use keel_engine::Registry;

/// The engine config used by the tests: simulated clock, small segments.
pub fn config_text(dir: &Path, batch_max: u32) -> String {
    config_text_with(dir, batch_max, 1)
}

pub fn config_text_with(dir: &Path, batch_max: u32, segment_mib: u64) -> String {
    format!(
        r#"
[engine]
allow_unpinned = true
batch_max = {batch_max}
wait_strategy = "yield"
clock = "simulated"

[journal]
dir = "{}"
segment_size_mib = {segment_mib}
durability = "none"
max_record_kib = 256

[[assets]]
name = "BTC"
scale = 8

[[assets]]
name = "USD"
scale = 6

[[symbols]]
name = "BTC-USD"
base = "BTC"
quote = "USD"
tick_size = "0.01"
lot_size = "0.0001"
maker_fee_bps = 1
taker_fee_bps = 5
"#,
        dir.display()
    )
}

pub fn config_with(dir: &Path, batch_max: u32, segment_mib: u64) -> Config {
    keel_edge::config_from_toml(
        &config_text_with(dir, batch_max, segment_mib),
        Path::new("test.toml"),
    )
    .expect("test config")
}

pub fn config(dir: &Path, batch_max: u32) -> Config {
    keel_edge::config_from_toml(&config_text(dir, batch_max), Path::new("test.toml"))
        .expect("test config")
}

/// The `keel` binary, built beside `replay` (as `cargo test --workspace`
/// does), if it is there.
pub fn keel_bin() -> Option<PathBuf> {
    let bin = replay_bin().parent()?.join("keel");
    bin.is_file().then_some(bin)
}

/// Writes a journal in `dir` from `lines` (keel run JSON lines) and returns
/// the final digest. It runs the real `keel run` binary when it is built
/// beside `replay`; otherwise (e.g. `cargo test -p keel-replay` alone) it
/// runs the same engine and JSON edge in-process, and says so.
pub fn write_journal(dir: &Path, lines: &[String], batch_max: u32) -> String {
    match keel_bin() {
        Some(keel) => write_journal_with_keel_run(&keel, dir, lines, batch_max),
        None => {
            eprintln!("note: no keel binary beside replay; writing the journal in-process (build with `cargo test --workspace` to use `keel run`)");
            write_journal_in_process(dir, lines, batch_max)
        }
    }
}

/// `keel run --config C --input I --output O` on a fresh journal.
pub fn write_journal_with_keel_run(
    keel: &Path,
    dir: &Path,
    lines: &[String],
    batch_max: u32,
) -> String {
    let work = dir.parent().expect("journal dir has a parent");
    std::fs::create_dir_all(work).unwrap();
    let tag = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("journal");
    let config = work.join(format!("{tag}.keel.toml"));
    let input = work.join(format!("{tag}.input.jsonl"));
    let output = work.join(format!("{tag}.output.jsonl"));
    std::fs::write(&config, config_text(dir, batch_max)).unwrap();
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let out = Command::new(keel)
        .args(["run", "--config"])
        .arg(&config)
        .arg("--input")
        .arg(&input)
        .arg("--output")
        .arg(&output)
        .stdin(Stdio::null())
        .output()
        .expect("keel runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "keel run failed ({}): {stderr}",
        out.status
    );
    stderr
        .rsplit("digest ")
        .next()
        .map(|d| d.trim().to_string())
        .filter(|d| d.len() == 64)
        .unwrap_or_else(|| panic!("no digest in keel run's summary: {stderr}"))
}

/// The same as `keel run`, in-process: Engine + the JSON edge.
pub fn write_journal_in_process(dir: &Path, lines: &[String], batch_max: u32) -> String {
    let config = config(dir, batch_max);
    let engine = Engine::start(&config).expect("engine starts");
    let registry = engine.query(Registry::from_state).expect("registry");
    let sender = engine.sender();
    for line in lines {
        let parsed = parse_command_line(line, &registry)
            .unwrap_or_else(|e| panic!("bad test line {line}: {e}"));
        sender.submit_at(parsed.command, parsed.ts).expect("submit");
    }
    drop(sender);
    let exit = engine.shutdown().expect("clean shutdown");
    exit.digest.to_string()
}

/// The genesis records the config adds (2 assets, 1 symbol) come first.
pub const GENESIS_RECORDS: u64 = 3;

/// A small story covering deposits, a trade, rests, cancels, a transfer, a
/// withdrawal, an amend, a mass cancel, halt/resume and a GTD expiry. Line i
/// (0-based) is journaled at sequence GENESIS_RECORDS + 1 + i.
pub fn story() -> Vec<String> {
    let l = [
        r#"{"type":"open_account","account":1,"request_id":1,"ts":1000}"#,
        r#"{"type":"open_account","account":2,"request_id":1,"ts":2000}"#,
        r#"{"type":"open_account","account":3,"request_id":1,"ts":3000}"#,
        // seq 7: the deposit that funds account 1's buy.
        r#"{"type":"deposit","account":1,"request_id":2,"asset":"USD","amount":"10000","ts":4000}"#,
        r#"{"type":"deposit","account":2,"request_id":2,"asset":"BTC","amount":"2","ts":5000}"#,
        r#"{"type":"deposit","account":3,"request_id":2,"asset":"USD","amount":"5000","ts":6000}"#,
        // seq 10: order 1 rests.
        r#"{"type":"place_order","account":2,"request_id":3,"symbol":"BTC-USD","side":"sell","order_type":"limit","price":"100.00","qty":"1","ts":7000}"#,
        // seq 11: order 2 trades 0.5 against order 1.
        r#"{"type":"place_order","account":1,"request_id":3,"symbol":"BTC-USD","side":"buy","order_type":"limit","price":"100.00","qty":"0.5","ts":8000}"#,
        // seq 12: order 3 rests, seq 13 cancels it.
        r#"{"type":"place_order","account":3,"request_id":3,"symbol":"BTC-USD","side":"buy","order_type":"limit","price":"99.00","qty":"0.2","ts":9000}"#,
        r#"{"type":"cancel_order","account":3,"request_id":4,"order":3,"ts":10000}"#,
        // seq 14, 15
        r#"{"type":"transfer","account":1,"request_id":4,"to":3,"asset":"USD","amount":"100","ts":11000}"#,
        r#"{"type":"withdraw","account":2,"request_id":4,"asset":"USD","amount":"10","ts":12000}"#,
        // seq 16: order 4 rests; 17 amends it (loses priority); 18 cancels all of account 2.
        r#"{"type":"place_order","account":2,"request_id":5,"symbol":"BTC-USD","side":"sell","order_type":"limit","price":"101.00","qty":"0.3","ts":13000}"#,
        r#"{"type":"amend_order","account":2,"request_id":6,"order":4,"price_ticks":10200,"qty_lots":2000,"ts":14000}"#,
        r#"{"type":"cancel_all","account":2,"request_id":7,"ts":15000}"#,
        // seq 19, 20: halt and resume.
        r#"{"type":"halt_symbol","account":0,"request_id":100,"symbol":"BTC-USD","ts":16000}"#,
        r#"{"type":"resume_symbol","account":0,"request_id":101,"symbol":"BTC-USD","ts":17000}"#,
        // seq 21: a GTD order (order 5) that expires at seq 22's timestamp.
        r#"{"type":"place_order","account":3,"request_id":5,"symbol":"BTC-USD","side":"buy","order_type":"limit","price":"90.00","qty":"0.1","tif":"gtd","expiry_ns":18500,"ts":18000}"#,
        r#"{"type":"deposit","account":3,"request_id":6,"asset":"BTC","amount":"0.01","ts":19000}"#,
        // seq 23: a rejected duplicate.
        r#"{"type":"deposit","account":3,"request_id":6,"asset":"BTC","amount":"0.01","ts":20000}"#,
    ];
    l.iter().map(|s| s.to_string()).collect()
}

/// A fresh temporary directory with a journal of the story in `journal/`.
pub fn story_journal() -> (tempfile::TempDir, PathBuf, String) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("journal");
    // One record per commit batch: batch boundaries (and so what a damaged
    // record makes unreadable) do not depend on how fast the loop drains.
    let digest = write_journal(&dir, &story(), 1);
    (tmp, dir, digest)
}

pub fn replay_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_replay"))
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

fn finish(o: Output) -> Run {
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// Runs `replay ARGS` with stdin closed (not a terminal).
pub fn replay(args: &[&str]) -> Run {
    let o = Command::new(replay_bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run replay");
    finish(o)
}

pub fn ok(args: &[&str]) -> String {
    let r = replay(args);
    assert_eq!(
        r.code, 0,
        "replay {args:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        r.code, r.stdout, r.stderr
    );
    r.stdout
}

pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The digest line of `replay verify`.
pub fn verify_digest(dir: &Path) -> String {
    let out = ok(&["verify", p(dir)]);
    out.lines()
        .find_map(|l| l.strip_prefix("digest "))
        .expect("digest line")
        .to_string()
}

/// Copies a journal directory (segments and snapshots).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Segment files of a journal, in order.
pub fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    v.sort();
    v
}

/// (offset, seq, payload_len) of every record frame in a segment file.
pub fn record_frames(bytes: &[u8]) -> Vec<(usize, u64, usize)> {
    use keel_journal::format::*;
    let mut out = Vec::new();
    let mut pos = HEADER_LEN;
    while pos + 8 <= bytes.len() {
        let word = get_u32(bytes, pos);
        if word == 0 {
            break;
        }
        let kind = word >> KIND_SHIFT;
        if kind == KIND_RECORD {
            let len = (word & LEN_MASK) as usize;
            out.push((pos, get_u64(bytes, pos + REC_SEQ_OFFSET), len));
            pos += record_frame_len(len);
        } else if kind == KIND_COMMIT {
            pos += MARKER_LEN;
        } else {
            break;
        }
    }
    out
}

/// CRC32C, for tests that forge headers.
pub fn crc32c(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
