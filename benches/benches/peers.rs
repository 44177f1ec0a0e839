//! `cargo bench -p benches --bench peers`: Keel's core (`keel_engine::process`
//! on a `State`; no loop, no journal; accounts funded hugely once in setup)
//! against three open-source matching engines, each through its own API, on
//! the same pre-generated book-only workload: one symbol, 1,000 resting
//! orders, then 200,000 operations: 50% passive limit, 30% cancel, 14% IOC,
//! 6% market. Aggressive orders never ask for more than the liquidity at
//! acceptable prices (matchcore 0.4.0 sweeps past a crossing limit), so all
//! four make the same fills (`tests/peers_agree.rs` checks it). See
//! `tests/common/peers.rs` for each adapter.
//!
//! Criterion reports time per pass (throughput in ops); a summary table of
//! ns per operation (median of 7 passes) and Keel's ratio follows.

#[path = "../tests/common/peers.rs"]
mod peers;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use peers::*;

const SEED: u64 = 1;
const DEPTH: usize = 1_000;
const OPS: usize = 200_000;

fn keel_pass(w: &PeerWorkload, base: &keel_engine::State) -> Duration {
    let mut state = base.clone();
    let mut out = Vec::with_capacity(256);
    let t = Instant::now();
    for c in &w.keel_ops {
        keel_engine::process(&mut state, c, 0, &mut out).expect("processes");
        black_box(&out);
    }
    t.elapsed()
}

/// Runs the setup through `peer`, then times the measured operations. Fills
/// go into a reused buffer, cleared after each operation.
fn timed_pass<P>(
    w: &PeerWorkload,
    mut peer: P,
    apply: impl Fn(&mut P, &Op, &mut Vec<Fill>),
) -> Duration {
    let mut fills = Vec::with_capacity(1 << 16);
    for op in &w.setup_ops {
        apply(&mut peer, op, &mut fills);
    }
    let t = Instant::now();
    for op in &w.ops {
        apply(&mut peer, op, &mut fills);
        fills.clear();
    }
    t.elapsed()
}

fn lobster_pass(w: &PeerWorkload) -> Duration {
    timed_pass(w, LobsterPeer::new(), |p, op, fills| p.apply(op, fills))
}

fn matchcore_pass(w: &PeerWorkload) -> Duration {
    timed_pass(w, MatchcorePeer::new(), |p, op, fills| p.apply(op, fills))
}

fn orderbook_rs_pass(w: &PeerWorkload) -> Duration {
    timed_pass(w, OrderbookRsPeer::new(false), |p, op, _| p.apply(op))
}

fn bench(c: &mut Criterion) {
    let w = generate(SEED, DEPTH, OPS);
    let base = keel_prepared(&w);
    let mut g = c.benchmark_group("peers");
    g.throughput(Throughput::Elements(w.ops.len() as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("keel_core", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| keel_pass(&w, &base)).sum())
    });
    g.bench_function("lobster_0.7.0", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| lobster_pass(&w)).sum())
    });
    g.bench_function("matchcore_0.4.0", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| matchcore_pass(&w)).sum())
    });
    g.bench_function("orderbook-rs_0.15.3", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| orderbook_rs_pass(&w)).sum())
    });
    g.finish();
}

fn median_ns_per_op(mut pass: impl FnMut() -> Duration, ops: usize) -> f64 {
    let mut v: Vec<f64> = (0..7)
        .map(|_| pass().as_nanos() as f64 / ops as f64)
        .collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn summary() {
    let w = generate(SEED, DEPTH, OPS);
    let base = keel_prepared(&w);
    let n = w.ops.len();
    let keel = median_ns_per_op(|| keel_pass(&w, &base), n);
    let rows = [
        ("Keel core", keel),
        ("lobster 0.7.0", median_ns_per_op(|| lobster_pass(&w), n)),
        (
            "matchcore 0.4.0",
            median_ns_per_op(|| matchcore_pass(&w), n),
        ),
        (
            "orderbook-rs 0.15.3",
            median_ns_per_op(|| orderbook_rs_pass(&w), n),
        ),
    ];
    println!(
        "\npeers: {} resting orders, then {n} ops (50% passive limit, 30% cancel, 14% IOC, 6% market); median of 7 passes\n",
        w.setup_ops.len()
    );
    println!("| engine | ns/op | Mops/s | that engine ÷ Keel |");
    println!("|---|---:|---:|---:|");
    for (name, ns) in rows {
        println!("| {name} | {ns:.0} | {:.2} | {:.2}× |", 1e3 / ns, ns / keel);
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
