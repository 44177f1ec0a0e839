//! Journal throughput vs SQLite at matched durability.
//!
//! `cargo bench -p benches --bench journal`
//!
//! - journal/{64B,256B}/None/N: `Durability::None`, commit every N records.
//! - journal/{64B,256B}/Batch/N: `Durability::Batch` (fdatasync per commit).
//! - sqlite/{64B,256B}/NORMAL/N and FULL/N: WAL mode, one transaction per N
//!   records, `synchronous=NORMAL` (compare with None) / `FULL` (with Batch).
//! - blake3_chain/N: the per-commit chain cost for N 64-byte records.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use keel_journal::{Durability, Journal, JournalConfig};

const SIZES: [usize; 2] = [64, 256];

/// Commits made before timing starts, by both stores.
const WARMUP_COMMITS: usize = 8;

fn journal_run(durability: Durability, size: usize, per_commit: u64, iters: u64) -> Duration {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = JournalConfig {
        dir: dir.path().to_path_buf(),
        segment_size_bytes: 64 << 20,
        max_record_bytes: 4096,
        durability,
    };
    let (mut j, _) = Journal::open(cfg).expect("open journal");
    let payload = vec![0x5Au8; size];
    // A fresh journal's background preparer immediately builds the next
    // 64 MiB segment (fallocate + prefault, ~20 ms of page faulting and the
    // I/O that follows). In steady state that happens once per segment, so
    // let it finish before timing; otherwise short runs mostly measure it.
    std::thread::sleep(std::time::Duration::from_millis(300));
    // Warm up: the first syncs after an open are slow (tens of ms on this
    // VM); a running journal pays them once, not per measurement.
    for _ in 0..WARMUP_COMMITS {
        j.append(&payload).expect("append");
        j.commit().expect("commit");
    }
    let start = Instant::now();
    for _ in 0..iters {
        for _ in 0..per_commit {
            j.append(std::hint::black_box(&payload)).expect("append");
        }
        j.commit().expect("commit");
    }
    let t = start.elapsed();
    drop(j);
    t
}

fn sqlite_run(sync: &str, size: usize, per_commit: u64, iters: u64) -> Duration {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut db = rusqlite::Connection::open(dir.path().join("bench.db")).expect("open sqlite");
    db.pragma_update(None, "journal_mode", "WAL").expect("wal");
    db.pragma_update(None, "synchronous", sync)
        .expect("synchronous");
    db.execute(
        "CREATE TABLE j (seq INTEGER PRIMARY KEY, payload BLOB NOT NULL)",
        [],
    )
    .expect("create");
    let payload = vec![0x5Au8; size];
    let mut seq: i64 = 0;
    // The same warm-up as the journal gets.
    for _ in 0..WARMUP_COMMITS {
        seq += 1;
        db.execute(
            "INSERT INTO j (seq, payload) VALUES (?1, ?2)",
            rusqlite::params![seq, &payload[..]],
        )
        .expect("insert");
    }
    let start = Instant::now();
    for _ in 0..iters {
        let tx = db.transaction().expect("begin");
        {
            let mut st = tx
                .prepare_cached("INSERT INTO j (seq, payload) VALUES (?1, ?2)")
                .expect("prepare");
            for _ in 0..per_commit {
                seq += 1;
                st.execute(rusqlite::params![seq, &payload[..]])
                    .expect("insert");
            }
        }
        tx.commit().expect("commit");
    }
    start.elapsed()
}

fn bench_appends(c: &mut Criterion) {
    for size in SIZES {
        let mut g = c.benchmark_group(format!("append/{size}B"));
        g.sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
        for per_commit in [64u64, 1024] {
            g.throughput(Throughput::Elements(per_commit));
            g.bench_with_input(
                BenchmarkId::new("journal-None", per_commit),
                &per_commit,
                |b, &n| b.iter_custom(|iters| journal_run(Durability::None, size, n, iters)),
            );
            g.bench_with_input(
                BenchmarkId::new("sqlite-NORMAL", per_commit),
                &per_commit,
                |b, &n| b.iter_custom(|iters| sqlite_run("NORMAL", size, n, iters)),
            );
        }
        for per_commit in [1u64, 64, 1024] {
            g.throughput(Throughput::Elements(per_commit));
            g.bench_with_input(
                BenchmarkId::new("journal-Batch", per_commit),
                &per_commit,
                |b, &n| b.iter_custom(|iters| journal_run(Durability::Batch, size, n, iters)),
            );
            g.bench_with_input(
                BenchmarkId::new("sqlite-FULL", per_commit),
                &per_commit,
                |b, &n| b.iter_custom(|iters| sqlite_run("FULL", size, n, iters)),
            );
        }
        g.finish();
    }
}

fn bench_chain(c: &mut Criterion) {
    let mut g = c.benchmark_group("blake3_chain");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    // A 64-byte record is an 80-byte frame.
    for n in [1usize, 64, 1024] {
        let bytes = vec![0xA5u8; n * 80];
        let prev = [7u8; 32];
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("commit-64B", n), &n, |b, _| {
            b.iter(|| keel_journal::format::chain_next(&prev, &[std::hint::black_box(&bytes)]))
        });
    }
    g.finish();
}

criterion_group!(benches, bench_appends, bench_chain);
criterion_main!(benches);
