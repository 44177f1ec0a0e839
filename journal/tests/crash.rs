//! Crash test: a child process (this test binary re-executed) appends and
//! commits in a loop, printing each committed sequence; the parent SIGKILLs it
//! at random moments and checks that `open` recovers every reported commit,
//! with correct payloads, and nothing else.
//!
//! `KEEL_CRASH_KILLS` sets the number of kills (default 50; the run under
//! `Durability::Batch`, which also syncs each segment roll and its roll
//! marker, gets half as many).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use keel_journal::{Durability, Journal};

const CHILD_ENV: &str = "KEEL_CRASH_CHILD_DIR";
const CHILD_BATCH_ENV: &str = "KEEL_CRASH_CHILD_BATCH";
const SEG: u64 = 64 * 1024;
const MAXP: usize = 200;

/// The child side; does nothing unless started by the parent.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut c = cfg(dir.as_ref(), SEG);
    if std::env::var_os(CHILD_BATCH_ENV).is_some() {
        c.durability = Durability::Batch;
    }
    let (mut j, _) = Journal::open(c).unwrap();
    let mut rng = Rng(j.next_sequence() | 1);
    let out = std::io::stdout();
    let start = Instant::now();
    let mut written = 0u64;
    while start.elapsed() < Duration::from_secs(20) {
        if written > 300_000 {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        let n = 1 + rng.below(20);
        for _ in 0..n {
            let s = j.next_sequence();
            // Sometimes use the zero-copy path.
            if s % 3 == 0 {
                let p = payload_for(s, MAXP);
                let mut r = j.reserve(MAXP).unwrap();
                r.buf()[..p.len()].copy_from_slice(&p);
                assert_eq!(r.seal(p.len()).unwrap(), s);
            } else {
                assert_eq!(j.append(&payload_for(s, MAXP)).unwrap(), s);
            }
        }
        written += n;
        let c = j.commit().unwrap();
        let mut o = out.lock();
        writeln!(o, "COMMITTED {}", c.last_seq.unwrap()).unwrap();
        o.flush().unwrap();
    }
}

fn kills() -> usize {
    std::env::var("KEEL_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50)
}

#[test]
fn sigkill_at_random_moments_loses_nothing_committed() {
    kill_loop(kills(), false);
}

#[test]
fn sigkill_under_batch_durability_loses_nothing_committed() {
    kill_loop(kills().div_ceil(2), true);
}

fn kill_loop(kills: usize, batch: bool) {
    let d = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = Rng(0xC0FFEE);
    let mut verified_upto = 0u64; // records 1..=verified_upto were checked already
    let mut max_reported_ever = 0u64;
    let mut total_dropped = 0u64;
    let t0 = Instant::now();
    for i in 0..kills {
        let mut cmd = Command::new(&exe);
        if batch {
            cmd.env(CHILD_BATCH_ENV, "1");
        }
        let mut child = cmd
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, d.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut max = 0u64;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(n) = line
                    .strip_prefix("COMMITTED ")
                    .and_then(|n| n.trim().parse::<u64>().ok())
                {
                    max = max.max(n);
                }
            }
            max
        });
        std::thread::sleep(Duration::from_micros(2_000 + rng.below(60_000)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let reported = reader.join().unwrap();
        max_reported_ever = max_reported_ever.max(reported);

        let (j, rep) = Journal::open(cfg(d.path(), SEG))
            .unwrap_or_else(|e| panic!("kill {i}: open failed: {e}"));
        total_dropped += rep.uncommitted_records_dropped;
        let last = j.last_committed().map_or(0, |c| c.0);
        assert!(
            last >= max_reported_ever,
            "kill {i}: child reported {max_reported_ever} committed, journal has {last}"
        );
        drop(j);
        let mut expect = verified_upto + 1;
        for r in Journal::reader(d.path(), verified_upto + 1).unwrap() {
            let r = r.unwrap();
            assert_eq!(r.seq, expect, "kill {i}: sequence gap");
            assert_eq!(
                r.payload,
                payload_for(r.seq, MAXP),
                "kill {i}: payload of {}",
                r.seq
            );
            expect += 1;
        }
        assert_eq!(expect - 1, last, "kill {i}: reader end != last committed");
        verified_upto = last;
    }
    keel_journal::verify(d.path()).unwrap();
    eprintln!(
        "{kills} kills (batch durability: {batch}) in {:?}; {verified_upto} committed records verified; {total_dropped} uncommitted records dropped by recovery",
        t0.elapsed()
    );
}
