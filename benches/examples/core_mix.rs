//! The `--bench core` workload run once, for profilers (callgrind, perf):
//! `cargo build --release -p benches --example core_mix` then
//! `valgrind --tool=callgrind target/release/examples/core_mix [COMMANDS]`.
//! Prints the commands run and a digest of the end state, so two builds can
//! be checked to decide the same.

use keel_benches::workload::synthetic::{generate, SyntheticConfig};

fn main() {
    let measured_commands = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("COMMANDS: a positive integer"))
        .unwrap_or(200_000);
    let cfg = SyntheticConfig {
        measured_commands,
        ..Default::default()
    };
    let (workload, _) = generate(&cfg);
    let mut state = workload.prepared_state();
    let start = std::time::Instant::now();
    measured(&workload, &mut state);
    let elapsed = start.elapsed();
    println!(
        "{} commands in {:.3?} ({:.2} M/s), digest {}",
        workload.measured.len(),
        elapsed,
        workload.measured.len() as f64 / elapsed.as_secs_f64() / 1e6,
        state.digest()
    );
}

/// The timed part alone (`--toggle-collect=core_mix::measured` for callgrind).
#[inline(never)]
fn measured(workload: &keel_benches::workload::Workload, state: &mut keel_engine::State) {
    let mut out = Vec::with_capacity(1024);
    for (i, cmd) in workload.measured.iter().enumerate() {
        keel_engine::process(state, cmd, workload.measured_ts(i), &mut out).expect("processes");
    }
}
