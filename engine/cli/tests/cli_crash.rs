//! Crash safety of the real process: `keel run` fed JSON lines on stdin is
//! SIGKILLed at random moments, again and again on the same journal. After
//! each kill: every output line the parent read is in the journal exactly as
//! printed; the journal recovers; and the recovered digest equals a fresh
//! from-genesis re-decision of the journal's commands.
//!
//! `KEEL_CLI_CRASH_KILLS` (default 20) sets the number of kills,
//! `KEEL_CLI_CRASH_SEED` the seed (printed on each run).

mod cli_support;
#[path = "../../runtime/tests/runtime_support/mod.rs"]
mod runtime_support;

use std::io::{BufRead, BufReader};
use std::process::{Command as Process, Stdio};
use std::time::Duration;

use cli_support::*;
use keel_edge::output_json;
use keel_engine::runtime::Engine;
use keel_engine::Registry;
use keel_engine::State;
use runtime_support::*;

const ACCOUNTS_PER_RUN: u32 = 4;
/// Lines kept unread at the end of the input, so the lines the parent waits
/// for are surely flushed by the child's buffered stdout.
const UNREAD_MARGIN: u64 = 150;

fn kills() -> usize {
    std::env::var("KEEL_CLI_CRASH_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20)
}

#[test]
fn sigkill_at_random_moments_loses_nothing_published() {
    let seed = seed_from_env("KEEL_CLI_CRASH_SEED");
    let mut rng = Rng::new(seed);
    let tmp = tempfile::tempdir().unwrap();
    let journal = tmp.path().join("journal");
    let config_path = tmp.path().join("keel.toml");
    let mut order_hint = 1;
    let (mut read_total, mut journal_len) = (0usize, 0usize);
    let kills = kills();
    for iter in 0..kills {
        let cfg = Cfg {
            clock: "system",
            durability: if iter % 4 == 3 { "batch" } else { "none" },
            ..Cfg::default()
        };
        cfg.write(&config_path, &journal);
        let config = cfg.config(&journal);

        // This run's input: fresh accounts (request ids never repeat).
        let first = 1 + iter as u32 * ACCOUNTS_PER_RUN;
        let mut flow = JsonFlow::new(
            seed ^ iter as u64,
            (first..first + ACCOUNTS_PER_RUN).collect(),
            None,
        );
        flow.order_hint = order_hint;
        let mut lines = flow.setup();
        for _ in 0..rng.range(200, 1_200) {
            lines.push(flow.next_line());
        }
        let kill_after = if rng.chance(15) {
            0
        } else {
            rng.range(1, lines.len() as u64 - UNREAD_MARGIN)
        };

        let mut child = Process::new(keel_bin())
            .args(["run", "--config", config_path.to_str().unwrap()])
            .args(["--input", "-", "--output", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn keel run");
        // The input trickles in random chunks with short pauses, so kills
        // land while commands are still arriving and being journaled; stdin
        // stays open, so only the kill stops the child.
        let writer = trickle(
            child.stdin.take().unwrap(),
            &lines,
            &mut rng,
            64,
            (0, 1_500),
        );
        let mut stderr = child.stderr.take().unwrap();
        let err_reader = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
            s
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut read = Vec::new();
        let mut line = String::new();
        while (read.len() as u64) < kill_after {
            line.clear();
            let n = stdout.read_line(&mut line).expect("read stdout");
            if n == 0 || !line.ends_with('\n') {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "iteration {iter}: keel run ended after {} lines: {}",
                    read.len(),
                    err_reader.join().unwrap()
                );
            }
            read.push(line.trim_end().to_owned());
        }
        if kill_after == 0 {
            // A moment anywhere from start-up/recovery to mid-stream.
            std::thread::sleep(Duration::from_micros(rng.range(0, 30_000)));
        }
        child.kill().expect("SIGKILL");
        let status = child.wait().unwrap();
        assert!(!status.success(), "iteration {iter}: killed, not exited");
        drop(writer.join().unwrap());
        drop(stdout);
        let stderr_text = err_reader.join().unwrap();
        assert!(
            !stderr_text.contains("keel: line"),
            "iteration {iter}: generated input was malformed: {stderr_text}"
        );

        // 1. Every line the parent read is in the journal, as printed.
        let before = journal_len;
        let records = read_journal(&journal);
        assert!(records.len() >= journal_len, "the journal never shrinks");
        let mut registry = Registry::from_state(&State::new(config.limits()));
        for r in &records {
            for e in &r.events {
                registry.learn(e);
            }
        }
        let mut prev_seq = None;
        for (i, text) in read.iter().enumerate() {
            let v: serde_json::Value = serde_json::from_str(text)
                .unwrap_or_else(|e| panic!("iteration {iter}: line {i} {text:?}: {e}"));
            let seq = v["seq"].as_u64().expect("seq");
            if let Some(p) = prev_seq {
                assert_eq!(seq, p + 1, "iteration {iter}: output seqs are contiguous");
            } else {
                assert!(
                    seq as usize > journal_len,
                    "iteration {iter}: continues the journal"
                );
            }
            prev_seq = Some(seq);
            let rec = records.get(seq as usize - 1).unwrap_or_else(|| {
                panic!(
                    "iteration {iter}: output seq {seq} was read but the journal ends at {} \
                     (durability {}): a published output was lost",
                    records.len(),
                    cfg.durability
                )
            });
            let expected = output_json(&registry, rec.seq, rec.ts_ns, &rec.command, &rec.events);
            assert_eq!(
                v, expected,
                "iteration {iter}: journal record {seq} differs"
            );
        }
        read_total += read.len();

        // 2. The journal recovers, 3. to the digest a fresh re-decision of
        // its commands reaches.
        let replayed = replay_digest(&config, &records);
        let engine = Engine::start(&config)
            .unwrap_or_else(|e| panic!("iteration {iter}: recovery failed: {e}\n{stderr_text}"));
        assert_eq!(
            engine.start_report().digest,
            replayed,
            "iteration {iter}: recovered digest != replayed digest"
        );
        assert_eq!(engine.start_report().records_replayed, records.len() as u64);
        order_hint = engine.query(|s| s.next_order_id()).unwrap();
        let exit = engine.shutdown().unwrap();
        // (The start may have added the genesis if no run had committed it.)
        let records = read_journal(&journal);
        assert_eq!(exit.digest, replay_digest(&config, &records));
        journal_len = records.len();
        eprintln!(
            "iteration {iter}: {} input lines, killed after {} read, {} journaled this run",
            lines.len(),
            read.len(),
            journal_len - before
        );
    }
    assert!(read_total > 0, "no output was ever read");

    // Finally `keel run` itself restarts on the journal, runs nothing more,
    // and ends at the replayed digest.
    let records = read_journal(&journal);
    let config = Cfg {
        clock: "system",
        ..Cfg::default()
    }
    .config(&journal);
    let ran = keel_run_lines(&config_path, tmp.path(), &[]);
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert!(ran.stdout.is_empty());
    assert_eq!(
        ran.run_digest(),
        replay_digest(&config, &records).to_string()
    );
}
