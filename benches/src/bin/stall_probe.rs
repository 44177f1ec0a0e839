//! Whole-machine stalls, with and without synchronous disk I/O.
//!
//! `cargo run --release -p benches --bin stall_probe -- [--seconds 3] [--sync-dir DIR]`
//!
//! One thread per core, pinned, reads the monotonic clock in a tight loop
//! and reports every gap longer than `--gap-ms` (the thread did not run for
//! that long). With `--sync-dir`, one more thread appends 4 KiB and makes it
//! durable (a Keel journal with `batch` durability, one record per commit)
//! every 100 µs. Gaps on *every* core at the same moment mean the whole
//! machine stopped: on a virtual machine, the host did not run it.
//!
//! On the development VM this shows why `batch` latency has a tail no code in
//! the loop can remove: with syncs running, both vCPUs stop together for
//! 4–18 ms every 100 ms (a host-side CPU quota that also counts the VM's I/O);
//! without syncs, no gaps at all.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use keel_journal::{Durability, Journal, JournalConfig};

#[derive(Parser, Debug)]
#[command(about = "Report whole-machine stalls, optionally under synchronous disk I/O")]
struct Args {
    /// How long to watch.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Report clock gaps longer than this (ms).
    #[arg(long, default_value_t = 2.0)]
    gap_ms: f64,
    /// Also commit 4 KiB records durably, one per commit, in a fresh journal
    /// under this directory (removed afterwards).
    #[arg(long)]
    sync_dir: Option<std::path::PathBuf>,
}

/// (seconds since start, core, gap ms)
type Gaps = Arc<Mutex<Vec<(f64, usize, f64)>>>;

fn main() -> Result<(), String> {
    let args = Args::parse();
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    if cores.is_empty() {
        return Err("no core ids available to pin the watcher threads".into());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let gaps: Gaps = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let gap = Duration::from_secs_f64(args.gap_ms / 1_000.0);
    let mut watchers = Vec::new();
    for (i, core) in cores.iter().copied().enumerate() {
        let (stop, gaps) = (stop.clone(), gaps.clone());
        watchers.push(std::thread::spawn(move || {
            core_affinity::set_for_current(core);
            let mut found = Vec::new();
            let mut last = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                let now = Instant::now();
                let d = now - last;
                if d > gap {
                    found.push(((now - start).as_secs_f64(), i, d.as_secs_f64() * 1_000.0));
                }
                last = now;
            }
            gaps.lock().map(|mut g| g.extend(found)).ok();
        }));
    }
    let syncer = args.sync_dir.as_ref().map(|base| {
        let dir = tempfile::tempdir_in(base).map_err(|e| format!("{}: {e}", base.display()));
        let stop = stop.clone();
        std::thread::spawn(move || -> Result<(u64, f64), String> {
            let dir = dir?;
            let mut cfg = JournalConfig::new(dir.path());
            cfg.durability = Durability::Batch;
            let (mut j, _) = Journal::open(cfg).map_err(|e| e.to_string())?;
            let payload = vec![0xA5u8; 4096];
            let (mut n, mut worst_ms) = (0u64, 0f64);
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                j.append(&payload).map_err(|e| e.to_string())?;
                j.commit().map_err(|e| e.to_string())?;
                worst_ms = worst_ms.max(t.elapsed().as_secs_f64() * 1_000.0);
                n += 1;
                std::thread::sleep(Duration::from_micros(100));
            }
            Ok((n, worst_ms))
        })
    });
    std::thread::sleep(Duration::from_secs_f64(args.seconds));
    stop.store(true, Ordering::Relaxed);
    for w in watchers {
        w.join().map_err(|_| "a watcher thread panicked")?;
    }
    let synced = match syncer {
        Some(h) => Some(h.join().map_err(|_| "the sync thread panicked")??),
        None => None,
    };
    let mut gaps = gaps.lock().map_err(|_| "gap list poisoned")?.clone();
    gaps.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (at, core, ms) in &gaps {
        println!("core {core}: no run for {ms:.1} ms at {at:.3} s");
    }
    let total_ms = gaps.iter().fold(0.0, |acc, g| acc + g.2) / cores.len() as f64;
    println!(
        "{} gaps > {} ms over {:.1} s on {} cores; {:.0} ms stopped per core per second",
        gaps.len(),
        args.gap_ms,
        args.seconds,
        cores.len(),
        total_ms / args.seconds
    );
    if let Some((n, worst_ms)) = synced {
        println!("durable 4 KiB commits: {n}, slowest {worst_ms:.1} ms");
    }
    Ok(())
}
