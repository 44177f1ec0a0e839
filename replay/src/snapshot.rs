//! `replay snapshot DIR [--at SEQ]`: writes `DIR/snapshot-<seq>.keelsnap`
//! with the state after SEQ (apply-only, starting from an older valid
//! snapshot if there is one), the journal's chain value of the commit batch
//! holding SEQ and that record's timestamp. `Engine::start` then recovers
//! from it instead of from genesis.

use std::io::Write;
use std::time::Instant;

use keel_engine::snapshot::{self, SnapshotInfo};
use keel_engine::Limits;

use crate::cli::SnapshotArgs;
use crate::progress::Progress;
use crate::source::Replayer;
use crate::Failure;

pub fn run(a: &SnapshotArgs, limits: Limits, out: &mut dyn Write) -> Result<(), Failure> {
    let started = Instant::now();
    // A state is only ever taken between commit batches: a snapshot inside
    // one would be skipped at every start.
    if let Some(at) = a.at {
        if let Some(end) = snapshot::batch_end(&a.dir, at).map_err(|e| Failure::read(&a.dir, e))? {
            if end != at {
                return Err(Failure::input(format!(
                    "sequence {at} is inside a commit batch that ends at {end}: snapshots are taken between batches (use --at {end}, or the end of an earlier batch)"
                )));
            }
        }
    }
    let mut rp = Replayer::from_snapshot(&a.dir, limits, a.at)?;
    let mut progress = Progress::new("snapshot", None);
    rp.advance_to(a.at, &mut progress)?;
    progress.finish();
    let seq = rp.last_seq;
    if seq == 0 {
        return Err(Failure::input(format!(
            "{}: the journal has no committed record to snapshot",
            a.dir.display()
        )));
    }
    rp.state.check_invariants().map_err(|e| {
        Failure::check(format!(
            "the state after sequence {seq} breaks an invariant ({}); not writing a snapshot (run `replay verify`)",
            e.0
        ))
    })?;
    let chain = keel_journal::chain_at(&a.dir, seq)
        .map_err(|e| Failure::read(&a.dir, e))?
        .ok_or_else(|| Failure::check(format!("sequence {seq} is not committed in the journal")))?;
    let path = snapshot::write(
        &a.dir,
        &rp.state,
        SnapshotInfo {
            seq,
            ts_ns: rp.last_ts,
            chain,
        },
    )
    .map_err(|e| Failure::check(e.to_string()))?;
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let base = rp
        .snapshot_seq
        .map_or_else(|| "genesis".to_string(), |s| format!("the snapshot at {s}"));
    writeln!(
        out,
        "wrote {} ({bytes} bytes): state after sequence {seq} (ts {}), digest {}; built from {base} + {} records in {:.3} s",
        path.display(),
        rp.last_ts,
        rp.state.digest(),
        rp.applied(),
        started.elapsed().as_secs_f64()
    )
    .map_err(Failure::output)
}
