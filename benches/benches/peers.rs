//! `cargo bench -p benches --bench peers`: Keel's core (`keel_engine::process`
//! on a `State`; no loop, no journal; accounts funded hugely once in setup)
//! against three open-source matching engines, each through its own API, on
//! the same pre-generated book-only workload: one symbol, a book of 1,000
//! (then 100,000) resting orders, then 200,000 operations: 50% passive
//! limit, 30% cancel, 14% IOC, 6% market. Aggressive orders never ask for
//! more than the liquidity at acceptable prices (matchcore 0.4.0 sweeps past
//! a crossing limit), so all four make the same fills (`tests/peers_agree.rs`
//! checks it, and this bench counts them in every pass).
//!
//! Same conditions for every engine:
//! - the harness's own id mappings are plain arrays allocated before timing;
//! - memory is touched before timing: for the peers, which allocate inside
//!   their timed loops, glibc's malloc is told never to use `mmap` nor to
//!   give memory back (`mallopt`), and each engine runs two untimed warm-up
//!   passes, so later passes reuse pages already faulted in; Keel's state is
//!   cloned from a prepared one before timing (glibc's defaults);
//! - the minor page faults taken inside each timed loop are counted
//!   (`getrusage`) and printed; so are the fills each engine produced.
//!
//! Criterion reports time per pass on the 1,000-order book; the summary
//! table (median of 7 passes per engine and book) follows it.

#[path = "../tests/common/peers.rs"]
mod peers;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use peers::*;

const SEED: u64 = 1;
const DEPTHS: [usize; 2] = [1_000, 100_000];
const OPS: usize = 200_000;
const PASSES: usize = 7;

/// One timed pass: its time, the minor page faults taken inside the timed
/// loop, and the fills it produced.
#[derive(Clone, Copy)]
struct Pass {
    time: Duration,
    faults: u64,
    fills: u64,
}

fn minor_faults() -> u64 {
    // SAFETY: getrusage only writes the struct it is given, which is a
    // properly sized, zero-initialised `rusage` owned by this frame.
    unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u.ru_minflt as u64
    }
}

/// `true`: freed memory stays in the process and every allocation comes
/// from the heap, so a peer's pass after the warm-up finds its pages already
/// faulted in (the peers allocate inside their timed loops). `false`:
/// glibc's defaults (large blocks mapped, and so eligible for transparent
/// huge pages), for Keel, whose state is cloned, and so touched, before its
/// timed loop starts. Either way the faults inside each timed loop are
/// counted and printed.
fn keep_memory_touched(on: bool) {
    // glibc's default M_MMAP_MAX.
    const DEFAULT_MMAP_MAX: i32 = 65_536;
    // SAFETY: mallopt only changes glibc malloc's tuning parameters; the
    // bench is single-threaded.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, if on { 0 } else { DEFAULT_MMAP_MAX });
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}

fn keel_pass(w: &PeerWorkload, base: &keel_engine::State) -> Pass {
    let mut state = base.clone();
    let mut out = Vec::with_capacity(256);
    let mut fills = 0u64;
    let faults = minor_faults();
    let t = Instant::now();
    for c in &w.keel_ops {
        keel_engine::process(&mut state, c, 0, &mut out).expect("processes");
        fills += out
            .iter()
            .filter(|e| matches!(e, keel_engine::Event::TradeExecuted(_)))
            .count() as u64;
        black_box(&out);
    }
    let time = t.elapsed();
    Pass {
        time,
        faults: minor_faults() - faults,
        fills,
    }
}

/// Runs the setup through `peer`, then times the measured operations. Fills
/// go into a reused buffer, counted and cleared after each operation.
fn timed_pass<P>(
    w: &PeerWorkload,
    mut peer: P,
    apply: impl Fn(&mut P, &Op, &mut Vec<Fill>) -> u64,
) -> Pass {
    let mut buf = Vec::with_capacity(1 << 16);
    for op in &w.setup_ops {
        apply(&mut peer, op, &mut buf);
    }
    buf.clear();
    let mut fills = 0u64;
    let faults = minor_faults();
    let t = Instant::now();
    for op in &w.ops {
        fills += apply(&mut peer, op, &mut buf);
        buf.clear();
    }
    let time = t.elapsed();
    let faults = minor_faults() - faults;
    drop(peer);
    Pass {
        time,
        faults,
        fills,
    }
}

fn lobster_pass(w: &PeerWorkload) -> Pass {
    timed_pass(w, LobsterPeer::new(), |p, op, fills| {
        p.apply(op, fills);
        fills.len() as u64
    })
}

fn matchcore_pass(w: &PeerWorkload) -> Pass {
    timed_pass(w, MatchcorePeer::new(w.id_bound()), |p, op, fills| {
        p.apply(op, fills);
        fills.len() as u64
    })
}

fn orderbook_rs_pass(w: &PeerWorkload) -> Pass {
    timed_pass(w, OrderbookRsPeer::new(false), |p, op, _| {
        p.apply(op);
        0
    })
}

fn bench(c: &mut Criterion) {
    keep_memory_touched(true);
    let w = generate(SEED, DEPTHS[0], OPS);
    let base = keel_prepared(&w);
    let mut g = c.benchmark_group("peers");
    g.throughput(Throughput::Elements(w.ops.len() as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("keel_core", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| keel_pass(&w, &base).time).sum())
    });
    g.bench_function("lobster_0.7.0", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| lobster_pass(&w).time).sum())
    });
    g.bench_function("matchcore_0.4.0", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| matchcore_pass(&w).time).sum())
    });
    g.bench_function("orderbook-rs_0.15.3", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| orderbook_rs_pass(&w).time).sum())
    });
    g.finish();
}

/// Two warm-up passes (the heap settles into the pages it reuses), then
/// `PASSES` timed ones: median ns/op, the most faults any timed loop took,
/// and the fills (the same in every pass, or it panics).
fn measure(mut pass: impl FnMut() -> Pass, ops: usize) -> (f64, u64, u64) {
    pass();
    let warm = pass();
    let passes: Vec<Pass> = (0..PASSES).map(|_| pass()).collect();
    for p in &passes {
        assert_eq!(
            p.fills, warm.fills,
            "an engine's fills changed between passes"
        );
    }
    let mut ns: Vec<f64> = passes
        .iter()
        .map(|p| p.time.as_nanos() as f64 / ops as f64)
        .collect();
    ns.sort_by(|a, b| a.total_cmp(b));
    let faults = passes.iter().map(|p| p.faults).max().unwrap_or(0);
    (ns[ns.len() / 2], faults, warm.fills)
}

fn summary() {
    println!("\npeers: then {OPS} ops (50% passive limit, 30% cancel, 14% IOC, 6% market); median of {PASSES} passes after two warm-ups\n");
    println!("| book | engine | ns/op | Mops/s | that engine ÷ Keel | page faults in timed loop | fills |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for depth in DEPTHS {
        let w = generate(SEED, depth, OPS);
        let base = keel_prepared(&w);
        let n = w.ops.len();
        keep_memory_touched(false);
        let (keel, keel_faults, keel_fills) = measure(|| keel_pass(&w, &base), n);
        keep_memory_touched(true);
        let rows = [
            ("Keel core", (keel, keel_faults, keel_fills)),
            ("lobster 0.7.0", measure(|| lobster_pass(&w), n)),
            ("matchcore 0.4.0", measure(|| matchcore_pass(&w), n)),
            ("orderbook-rs 0.15.3", measure(|| orderbook_rs_pass(&w), n)),
        ];
        for (name, (ns, faults, fills)) in rows {
            // orderbook-rs reports fills through a listener; it is checked
            // against Keel's in tests/peers_agree.rs and not counted here.
            let fills = if name.starts_with("orderbook-rs") {
                "(checked in tests)".to_string()
            } else {
                assert_eq!(fills, keel_fills, "{name} made different fills from Keel");
                fills.to_string()
            };
            println!(
                "| {depth} resting | {name} | {ns:.0} | {:.2} | {:.2}× | {faults} | {fills} |",
                1e3 / ns,
                ns / keel
            );
        }
    }
}

criterion_group!(benches, bench);

fn main() {
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
    if std::env::args().any(|a| a == "--bench") {
        summary();
    }
}
