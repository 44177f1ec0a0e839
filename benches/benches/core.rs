//! `cargo bench -p benches --bench core`: the core alone (no loop, no
//! journal), single-threaded, on exchange-core's mix: one symbol with about
//! 1,000 resting orders over about 750 price levels; 9% GTC, 3% IOC, 6%
//! cancel, 82% amend (price moves); about 6% of commands trade.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use keel_benches::workload::synthetic::{generate, SyntheticConfig};

fn core(c: &mut Criterion) {
    let cfg = SyntheticConfig {
        measured_commands: 500_000,
        ..Default::default()
    };
    let (workload, stats) = generate(&cfg);
    eprintln!(
        "workload: {} commands, {:.1}% trading, {} trades, {} resting orders over {} levels at the end",
        stats.commands,
        100.0 * stats.trading_commands as f64 / stats.commands as f64,
        stats.trades,
        stats.resting_orders_end,
        stats.distinct_levels_end
    );
    let base = workload.prepared_state();
    let mut group = c.benchmark_group("core");
    group.throughput(Throughput::Elements(workload.measured.len() as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("exchange_core_mix_1_symbol", |b| {
        let mut out = Vec::with_capacity(1024);
        b.iter_batched_ref(
            || base.clone(),
            |state| {
                for (i, cmd) in workload.measured.iter().enumerate() {
                    keel_engine::process(state, cmd, workload.measured_ts(i), &mut out)
                        .expect("processes");
                    black_box(&out);
                }
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, core);
criterion_main!(benches);
