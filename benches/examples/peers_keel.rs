//! Keel's part of the peers bench run once, for profilers:
//! `cargo build --release -p benches --example peers_keel`, then
//! `valgrind --tool=callgrind --toggle-collect='peers_keel::measured'
//! target/release/examples/peers_keel [DEPTH]`.

#[path = "../tests/common/peers.rs"]
mod peers;

fn main() {
    let depth = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("DEPTH: a positive integer"))
        .unwrap_or(1_000);
    let w = peers::generate(1, depth, 200_000);
    let base = peers::keel_prepared(&w);
    let mut state = base.clone();
    let start = std::time::Instant::now();
    measured(&w, &mut state);
    let elapsed = start.elapsed();
    println!(
        "{} ops in {:.3?} ({:.0} ns/op), digest {}",
        w.keel_ops.len(),
        elapsed,
        elapsed.as_nanos() as f64 / w.keel_ops.len() as f64,
        state.digest()
    );
}

/// The timed part alone.
#[inline(never)]
fn measured(w: &peers::PeerWorkload, state: &mut keel_engine::State) {
    let mut out = Vec::with_capacity(256);
    for c in &w.keel_ops {
        keel_engine::process(state, c, 0, &mut out).expect("processes");
    }
}
