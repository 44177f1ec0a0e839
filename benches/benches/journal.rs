//! Journal throughput vs SQLite at matched durability.
//!
//! `cargo bench -p benches --bench journal`
//!
//! - journal/{64B,256B}/None/N: `Durability::None`, commit every N records.
//! - journal/{64B,256B}/Batch/N: `Durability::Batch` (a ranged msync per
//!   commit).
//! - sqlite/{64B,256B}/NORMAL/N and FULL/N: WAL mode, one transaction per N
//!   records, `synchronous=NORMAL` (compare with None) / `FULL` (with Batch).
//! - blake3_chain/N: the per-commit chain cost for N 64-byte records.
//!
//! Each benchmark keeps one journal (and one database) open across all of
//! its samples, so samples measure steady state: segment rolls included, the
//! one-time cost of opening a store excluded.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use keel_journal::{Durability, Journal, JournalConfig};

const SIZES: [usize; 2] = [64, 256];

/// Commits made before timing starts, by both stores.
const WARMUP_COMMITS: usize = 8;

/// One journal, open for a whole benchmark: criterion's samples append to it
/// in turn, so it is measured in steady state (rolls to prepared segments
/// included), not the first commit of a fresh directory.
struct JournalFixture {
    j: Journal,
    payload: Vec<u8>,
    _dir: tempfile::TempDir,
}

impl JournalFixture {
    fn open(durability: Durability, size: usize) -> JournalFixture {
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
        // segment (fallocate + prefault, ~30 ms); in steady state it works
        // ahead of the writer, so let it finish before timing starts.
        std::thread::sleep(Duration::from_millis(300));
        for _ in 0..WARMUP_COMMITS {
            j.append(&payload).expect("append");
            j.commit().expect("commit");
        }
        JournalFixture {
            j,
            payload,
            _dir: dir,
        }
    }

    fn run(&mut self, per_commit: u64, iters: u64) -> Duration {
        let start = Instant::now();
        for _ in 0..iters {
            for _ in 0..per_commit {
                self.j
                    .append(std::hint::black_box(&self.payload))
                    .expect("append");
            }
            self.j.commit().expect("commit");
        }
        start.elapsed()
    }
}

/// One SQLite database, open for a whole benchmark (as the journal is).
struct SqliteFixture {
    db: rusqlite::Connection,
    payload: Vec<u8>,
    seq: i64,
    _dir: tempfile::TempDir,
}

impl SqliteFixture {
    fn open(sync: &str, size: usize) -> SqliteFixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = rusqlite::Connection::open(dir.path().join("bench.db")).expect("open sqlite");
        db.pragma_update(None, "journal_mode", "WAL").expect("wal");
        db.pragma_update(None, "synchronous", sync)
            .expect("synchronous");
        db.execute(
            "CREATE TABLE j (seq INTEGER PRIMARY KEY, payload BLOB NOT NULL)",
            [],
        )
        .expect("create");
        let mut fx = SqliteFixture {
            db,
            payload: vec![0x5Au8; size],
            seq: 0,
            _dir: dir,
        };
        // The same warm-up as the journal gets.
        fx.run(1, WARMUP_COMMITS as u64);
        fx
    }

    fn run(&mut self, per_commit: u64, iters: u64) -> Duration {
        let start = Instant::now();
        for _ in 0..iters {
            let tx = self.db.transaction().expect("begin");
            {
                let mut st = tx
                    .prepare_cached("INSERT INTO j (seq, payload) VALUES (?1, ?2)")
                    .expect("prepare");
                for _ in 0..per_commit {
                    self.seq += 1;
                    st.execute(rusqlite::params![self.seq, &self.payload[..]])
                        .expect("insert");
                }
            }
            tx.commit().expect("commit");
        }
        start.elapsed()
    }
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
                |b, &n| {
                    let mut fx = JournalFixture::open(Durability::None, size);
                    b.iter_custom(|iters| fx.run(n, iters))
                },
            );
            g.bench_with_input(
                BenchmarkId::new("sqlite-NORMAL", per_commit),
                &per_commit,
                |b, &n| {
                    let mut fx = SqliteFixture::open("NORMAL", size);
                    b.iter_custom(|iters| fx.run(n, iters))
                },
            );
        }
        for per_commit in [1u64, 64, 1024] {
            g.throughput(Throughput::Elements(per_commit));
            g.bench_with_input(
                BenchmarkId::new("journal-Batch", per_commit),
                &per_commit,
                |b, &n| {
                    let mut fx = JournalFixture::open(Durability::Batch, size);
                    b.iter_custom(|iters| fx.run(n, iters))
                },
            );
            g.bench_with_input(
                BenchmarkId::new("sqlite-FULL", per_commit),
                &per_commit,
                |b, &n| {
                    let mut fx = SqliteFixture::open("FULL", size);
                    b.iter_custom(|iters| fx.run(n, iters))
                },
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
