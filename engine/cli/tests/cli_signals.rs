//! Graceful stop of the real process: `keel run` fed a JSON stream on stdin
//! (kept open, so only the signal ends the run) gets SIGTERM or SIGINT at a
//! random moment, again and again on the same journal. After each: the exit
//! status is 0, the stop and the summary were printed, and every record the
//! run committed was answered on stdout, exactly as journaled, with nothing
//! else. A second signal while the first is still draining exits at once
//! with 128 + the signal number, and the journal still recovers.
//!
//! `KEEL_SIGTERM_RUNS` (default 20) sets the number of signalled runs,
//! `KEEL_SIGTERM_SEED` the seed (printed on each run).

mod cli_support;
#[path = "../../runtime/tests/runtime_support/mod.rs"]
mod runtime_support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command as Process, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cli_support::*;
use crossbeam_channel::{Receiver, RecvTimeoutError};
use keel_edge::output_json;
use keel_engine::model::OPERATOR;
use keel_engine::runtime::Engine;
use keel_engine::Registry;
use keel_engine::State;
use runtime_support::*;

const ACCOUNTS_PER_RUN: u32 = 4;
/// A failure bound only: how long anything here may take before the test
/// gives up (the run takes milliseconds).
const PATIENCE: Duration = Duration::from_secs(60);

fn runs() -> usize {
    std::env::var("KEEL_SIGTERM_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20)
}

fn send(child: &Child, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
    // SAFETY: kill(2) has no memory-safety preconditions; `pid` is our own
    // child, not yet waited for, so it cannot have been reused.
    let rc = unsafe { libc::kill(pid, signal) };
    assert_eq!(rc, 0, "kill({pid}, {signal})");
}

fn wait_exit(child: &mut Child, what: &str) -> ExitStatus {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: keel run did not exit within {PATIENCE:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Lines of a child's pipe, as they come, on a channel.
fn lines_of(pipe: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = crossbeam_channel::unbounded();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Receives from `rx` until `done` says so, keeping what came in `seen`.
fn recv_until(
    rx: &Receiver<String>,
    seen: &mut Vec<String>,
    what: &str,
    mut done: impl FnMut(&[String]) -> bool,
) {
    let deadline = Instant::now() + PATIENCE;
    while !done(seen) {
        match rx.recv_deadline(deadline) {
            Ok(line) => seen.push(line),
            Err(RecvTimeoutError::Timeout) => panic!("{what}: timed out; so far: {seen:#?}"),
            Err(RecvTimeoutError::Disconnected) => {
                panic!("{what}: the pipe closed first; so far: {seen:#?}")
            }
        }
    }
}

/// Everything until the pipe closes.
fn recv_to_end(rx: &Receiver<String>, seen: &mut Vec<String>, what: &str) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match rx.recv_deadline(deadline) {
            Ok(line) => seen.push(line),
            Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => panic!("{what}: pipe still open; so far: {seen:#?}"),
        }
    }
}

fn spawn_keel(config: &std::path::Path) -> Child {
    Process::new(keel_bin())
        .args(["run", "--config", config.to_str().unwrap()])
        .args(["--input", "-", "--output", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn keel run")
}

/// When the signal comes.
#[derive(Clone, Copy, Debug)]
enum Moment {
    /// Right after start-up, before or while the first lines are read.
    AfterStart(u64),
    /// After this many outputs were read, while lines still arrive.
    AfterOutputs(usize),
    /// After every line was answered, while `keel run` waits (blocked in a
    /// read of its still open stdin).
    Idle,
}

#[test]
fn sigterm_at_random_moments_answers_every_committed_command() {
    let seed = seed_from_env("KEEL_SIGTERM_SEED");
    let mut rng = Rng::new(seed);
    let tmp = tempfile::tempdir().unwrap();
    let journal = tmp.path().join("journal");
    let config_path = tmp.path().join("keel.toml");
    let mut journal_len = 0usize;
    let mut order_hint = 1;
    let mut answered_total = 0;
    for iter in 0..runs() {
        let cfg = Cfg {
            clock: "system",
            durability: if iter % 3 == 2 { "batch" } else { "none" },
            ..Cfg::default()
        };
        cfg.write(&config_path, &journal);
        let config = cfg.config(&journal);
        let first = 1 + iter as u32 * ACCOUNTS_PER_RUN;
        let mut flow = JsonFlow::new(
            seed ^ iter as u64,
            (first..first + ACCOUNTS_PER_RUN).collect(),
            None,
        );
        flow.order_hint = order_hint;
        let mut lines = flow.setup();
        for _ in 0..rng.range(100, 800) {
            lines.push(flow.next_line());
        }
        order_hint = flow.order_hint;
        let moment = match rng.range(0, 9) {
            0..=1 => Moment::AfterStart(rng.range(0, 3_000)),
            2..=3 => Moment::Idle,
            _ => Moment::AfterOutputs(rng.range(1, lines.len() as u64 - 1) as usize),
        };
        let (signal, name) = if rng.chance(25) {
            (libc::SIGINT, "SIGINT")
        } else {
            (libc::SIGTERM, "SIGTERM")
        };

        let mut child = spawn_keel(&config_path);
        // Small chunks with pauses: the stream takes a while to arrive, so
        // most signals land while lines are still coming in; stdin stays
        // open afterwards, so only the signal ends the run.
        let writer = trickle(
            child.stdin.take().unwrap(),
            &lines,
            &mut rng,
            24,
            (200, 3_000),
        );
        let out_rx = lines_of(child.stdout.take().unwrap());
        let err_rx = lines_of(child.stderr.take().unwrap());
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let what = format!("iteration {iter} ({moment:?}, {name})");
        match moment {
            Moment::AfterStart(micros) => {
                recv_until(&err_rx, &mut err, &what, |e| {
                    e.iter().any(|l| l.starts_with("keel: recovered"))
                });
                std::thread::sleep(Duration::from_micros(micros));
            }
            Moment::AfterOutputs(n) => recv_until(&out_rx, &mut out, &what, |o| o.len() >= n),
            // Every input line has been answered (and the startup commands).
            Moment::Idle => recv_until(&out_rx, &mut out, &what, |o| o.len() >= lines.len()),
        }
        send(&child, signal);
        let status = wait_exit(&mut child, &what);
        recv_to_end(&out_rx, &mut out, &what);
        recv_to_end(&err_rx, &mut err, &what);
        drop(writer.join().unwrap());
        let stderr = err.join("\n");

        assert_eq!(status.code(), Some(0), "{what}: exit status\n{stderr}");
        assert!(
            !stderr.contains("keel: line"),
            "{what}: generated input was malformed: {stderr}"
        );
        assert!(
            stderr.contains(&format!("keel: {name}: stopping")),
            "{what}: no stop message\n{stderr}"
        );
        let summary = err
            .iter()
            .rfind(|l| l.starts_with("keel run:"))
            .unwrap_or_else(|| panic!("{what}: no summary\n{stderr}"));
        assert!(
            summary.contains(&format!(" {} outputs |", out.len())),
            "{what}: the summary counts {summary:?}, stdout had {} lines",
            out.len()
        );

        // Every committed record of this run was answered, in order, as
        // journaled; nothing else was printed. (Only the config's start-up
        // commands, run before `keel run` subscribes, may go unprinted.)
        let records = read_journal(&journal);
        let mut registry = Registry::from_state(&State::new(config.limits()));
        for r in &records {
            for e in &r.events {
                registry.learn(e);
            }
        }
        let new = &records[journal_len..];
        assert!(
            out.len() <= new.len(),
            "{what}: {} outputs for {} records committed by this run",
            out.len(),
            new.len()
        );
        let (startup, answered) = new.split_at(new.len() - out.len());
        for r in startup {
            assert_eq!(
                r.command.account, OPERATOR,
                "{what}: record {} was committed but not answered\n{stderr}",
                r.seq
            );
        }
        for (i, (text, rec)) in out.iter().zip(answered).enumerate() {
            let v: serde_json::Value = serde_json::from_str(text)
                .unwrap_or_else(|e| panic!("{what}: output {i} {text:?}: {e}"));
            assert_eq!(v["seq"].as_u64(), Some(rec.seq), "{what}: output {i}");
            let expected = output_json(&registry, rec.seq, rec.ts_ns, &rec.command, &rec.events);
            assert_eq!(v, expected, "{what}: record {} differs", rec.seq);
        }
        if matches!(moment, Moment::Idle) {
            assert!(out.len() >= lines.len(), "{what}: idle, all answered");
        }
        eprintln!(
            "{what}: {} input lines, {} answered and committed",
            lines.len(),
            out.len()
        );
        answered_total += out.len();
        journal_len = records.len();
    }
    assert!(answered_total > 0, "nothing was ever answered");

    // The journal recovers, to what a re-decision from genesis reaches.
    let records = read_journal(&journal);
    let config = Cfg {
        clock: "system",
        ..Cfg::default()
    }
    .config(&journal);
    let engine = Engine::start(&config).unwrap();
    assert_eq!(engine.start_report().records_replayed, records.len() as u64);
    assert_eq!(
        engine.start_report().digest,
        replay_digest(&config, &records)
    );
    engine.shutdown().unwrap();
}

/// The first signal cannot finish: nobody reads stdout, so the outputs of
/// what was submitted do not fit the pipe. The second exits at once.
#[test]
fn a_second_signal_exits_at_once_with_128_plus_its_number() {
    for (signal, name, status) in [
        (libc::SIGTERM, "SIGTERM", 143),
        (libc::SIGINT, "SIGINT", 130),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let journal = tmp.path().join("journal");
        let config_path = tmp.path().join("keel.toml");
        let cfg = Cfg {
            clock: "system",
            ..Cfg::default()
        };
        cfg.write(&config_path, &journal);
        let mut flow = JsonFlow::new(7, (1..=8).collect(), None);
        let mut lines = flow.setup();
        for _ in 0..40_000 {
            lines.push(flow.next_line());
        }
        let mut child = spawn_keel(&config_path);
        let mut stdin = child.stdin.take().unwrap();
        let written = Arc::new(AtomicUsize::new(0));
        let counter = written.clone();
        let writer = std::thread::spawn(move || {
            for line in lines {
                if writeln!(stdin, "{line}").is_err() {
                    break;
                }
                counter.fetch_add(1, Ordering::SeqCst);
            }
        });
        // stdout is never read (kept open, so writes block once it is full).
        let stdout = child.stdout.take().unwrap();
        let err_rx = lines_of(child.stderr.take().unwrap());
        let mut err = Vec::new();
        // 3,000 lines written: with 64 KiB of pipe and 8 KiB of read buffer
        // the run has read well over 2,000 of them, whose outputs (about
        // 200 bytes each) cannot all go into the 64 KiB stdout pipe.
        let deadline = Instant::now() + PATIENCE;
        while written.load(Ordering::SeqCst) < 3_000 {
            assert!(Instant::now() < deadline, "{name}: the input was not read");
            std::thread::sleep(Duration::from_millis(2));
        }
        send(&child, signal);
        recv_until(&err_rx, &mut err, name, |e| {
            e.iter()
                .any(|l| l.starts_with(&format!("keel: {name}: stopping")))
        });
        send(&child, signal);
        let exit = wait_exit(&mut child, name);
        recv_to_end(&err_rx, &mut err, name);
        let stderr = err.join("\n");
        assert_eq!(exit.code(), Some(status), "{name}: {stderr}");
        assert!(
            stderr.contains(&format!("second stop signal ({name})")),
            "{stderr}"
        );
        assert!(!stderr.contains("keel run:"), "no summary: {stderr}");
        drop(stdout);
        writer.join().unwrap();
        // Whatever was committed recovers.
        let records = read_journal(&journal);
        // Over 2,000 lines submitted, at most a ring (1,024) not processed.
        assert!(records.len() > 1_000, "{} records", records.len());
        let config = cfg.config(&journal);
        let engine = Engine::start(&config).unwrap();
        assert_eq!(engine.start_report().records_replayed, records.len() as u64);
        engine.shutdown().unwrap();
    }
}
