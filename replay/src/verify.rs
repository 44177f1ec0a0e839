//! `replay verify DIR`: the journal's own checks (CRCs, chain, sequence and
//! segment continuity), then the determinism audit: every journaled command
//! is re-executed from genesis with this build's core at its journaled
//! timestamp, and its events must equal the journaled ones, decoded and byte
//! for byte once re-encoded. Invariants are checked every 1,000,000 records
//! (`--invariants-every`) and at the end.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use keel_edge::json_out::{command_json, event_json};
use keel_engine::model::{Command, Event};
use keel_engine::Registry;
use keel_engine::{process_step, Limits, State};

use crate::cli::VerifyArgs;
use crate::progress::Progress;
use crate::rules::{classify, RulesChange};
use crate::source::{check_journal_dir, read_ahead_checked, Records};
use crate::Failure;

/// How often invariants are checked during the audit.
pub const INVARIANT_EVERY: u64 = 1_000_000;

/// What a successful verify found.
#[derive(Clone, Debug)]
pub struct Verified {
    pub records: u64,
    pub segments: usize,
    pub batches: u64,
    pub digest: String,
    pub journal_secs: f64,
    pub audit_secs: f64,
    /// Wall-clock time of both (they run side by side).
    pub total_secs: f64,
    /// Records whose re-execution differs only by a known rules change
    /// (sequence, change): the audit resynchronised on their journaled
    /// events and went on.
    pub rules_changed: Vec<(u64, RulesChange)>,
}

/// Exit status 4: every check passed, but some records were decided under
/// earlier rules (listed); see [`crate::rules`].
pub const RULES_CHANGED: u8 = 4;

/// At most this many rules-changed records are resynchronised (each costs
/// a replay from genesis); past it the audit stops as a divergence.
pub const MAX_RULES_CHANGED: usize = 1_000;

pub fn run(a: &VerifyArgs, limits: Limits, out: &mut dyn Write) -> Result<(), Failure> {
    let v = verify(&a.dir, limits, a.invariants_every)?;
    let total = v.total_secs;
    let rate = |secs: f64| {
        if secs > 0.0 {
            format!("{:.0}", v.records as f64 / secs)
        } else {
            "-".into()
        }
    };
    writeln!(
        out,
        "journal OK: {} records in {} segments, {} commit batches (CRCs, hash chain, sequences)",
        v.records, v.segments, v.batches
    )
    .map_err(Failure::output)?;
    if v.rules_changed.is_empty() {
        writeln!(
            out,
            "determinism OK: {} commands re-executed, events identical (decoded and byte for byte); invariants OK",
            v.records
        )
        .map_err(Failure::output)?;
    } else {
        for (seq, change) in &v.rules_changed {
            writeln!(
                out,
                "rules changed at sequence {seq}: decided under earlier rules: {}",
                change.describe()
            )
            .map_err(Failure::output)?;
        }
        writeln!(
            out,
            "determinism OK except {} records decided under earlier rules (listed above; their journaled events replay unchanged): {} commands re-executed; invariants OK",
            v.rules_changed.len(),
            v.records
        )
        .map_err(Failure::output)?;
    }
    writeln!(
        out,
        "records {}  time {:.3} s (journal check {:.3} s, re-execution {:.3} s = {} records/s)  records/s {}",
        v.records,
        total,
        v.journal_secs,
        v.audit_secs,
        rate(v.audit_secs),
        rate(total)
    )
    .map_err(Failure::output)?;
    writeln!(out, "digest {}", v.digest).map_err(Failure::output)?;
    if v.rules_changed.is_empty() {
        Ok(())
    } else {
        Err(Failure {
            code: RULES_CHANGED,
            message: format!(
                "{} records were decided under earlier rules (listed on stdout); every other check passed",
                v.rules_changed.len()
            ),
        })
    }
}

/// Runs both checks; an `Err` describes the first problem.
///
/// The journal check (CRCs, hash chain, sequences) runs on its own thread
/// while the audit re-executes; the audit reads, checks, decodes and
/// re-encodes records on a read-ahead thread ([`read_ahead`]), so its own
/// thread only re-executes and compares. A failed journal check is reported
/// before anything the audit found, as when the two ran one after the other.
pub fn verify(
    dir: &std::path::Path,
    limits: Limits,
    invariants_every: u64,
) -> Result<Verified, Failure> {
    check_journal_dir(dir)?;
    let started = Instant::now();
    let total = Arc::new(OnceLock::new());
    let crc_checked = AtomicU64::new(0);
    let check_failed = AtomicBool::new(false);
    let (checked, audited) = std::thread::scope(|scope| {
        let check = {
            let total = Arc::clone(&total);
            let (crc_checked, check_failed) = (&crc_checked, &check_failed);
            scope.spawn(move || {
                let report = keel_journal::verify(dir);
                if report.is_err() {
                    // What the audit would find is not reported: stop it.
                    check_failed.store(true, Ordering::Release);
                }
                if let Ok(r) = &report {
                    let _ = total.set(r.records);
                    // Every CRC up to the last commit is verified: the
                    // audit's reader need not compute them again.
                    crc_checked.store(r.last_committed.map_or(0, |c| c.0), Ordering::Release);
                }
                (report, started.elapsed().as_secs_f64())
            })
        };
        let audited = audit(
            dir,
            limits,
            invariants_every,
            total,
            &crc_checked,
            &check_failed,
        );
        let checked = check
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        (checked, audited)
    });
    let (report, journal_secs) = checked;
    let report = report.map_err(|e| Failure::corrupt(&e))?;
    if report.torn_tail_bytes > 0 {
        let at = report
            .torn_tail_at
            .as_ref()
            .map_or_else(String::new, |(f, o)| {
                format!(" at {} offset {o}", f.display())
            });
        eprintln!(
            "replay: note: a torn tail of {} bytes{at} (an unfinished last write) is not part of the history; the engine drops it on start",
            report.torn_tail_bytes
        );
    }
    if report.leftover_segments > 0 {
        eprintln!(
            "replay: note: {} segment files after the end of the data hold no frame (a segment roll the writer did not finish); they are not part of the history, and the engine removes them on start",
            report.leftover_segments
        );
    }
    if report.uncommitted_records > 0 {
        eprintln!(
            "replay: note: {} uncommitted records after the last commit marker are not part of the history",
            report.uncommitted_records
        );
    }
    let Audited {
        records: n,
        state,
        rules_changed,
        secs: audit_secs,
    } = audited?;
    if n < report.records {
        return Err(Failure::check(format!(
            "the journal check counted {} committed records but only {n} could be read back",
            report.records
        )));
    }
    check_invariants(&state, n)?;
    Ok(Verified {
        records: n,
        segments: report.segments,
        batches: report.batches,
        digest: state.digest().to_string(),
        journal_secs,
        audit_secs,
        total_secs: started.elapsed().as_secs_f64(),
        rules_changed,
    })
}

/// What the determinism audit left.
struct Audited {
    records: u64,
    state: State,
    rules_changed: Vec<(u64, RulesChange)>,
    secs: f64,
}

/// The determinism audit: re-executes every command from genesis and
/// compares its events with the journaled ones, decoded and (on the
/// read-ahead thread) byte for byte; invariants every `invariants_every`
/// records. `total`: the record count, once the journal check has it (for
/// the progress bar); `crc_checked`: the last sequence whose CRC it
/// verified, once it has; `check_failed`: set if it failed (the audit then
/// stops, as its findings would not be reported).
fn audit(
    dir: &std::path::Path,
    limits: Limits,
    invariants_every: u64,
    total: Arc<OnceLock<u64>>,
    crc_checked: &AtomicU64,
    check_failed: &AtomicBool,
) -> Result<Audited, Failure> {
    let started = Instant::now();
    let mut records = Records::open(dir, 1)?;
    let mut state = crate::source::new_state(limits);
    let mut got: Vec<Event> = Vec::with_capacity(256);
    let mut progress = Progress::with_total_later("verify", total);
    let mut n = 0u64;
    let mut rules_changed = Vec::new();
    read_ahead_checked(&mut records, None, true, Some(crc_checked), |batch| {
        if check_failed.load(Ordering::Acquire) {
            return Err(Failure::check("the journal check failed"));
        }
        for i in 0..batch.len() {
            let (rec, expected) = batch.get(i);
            got.clear();
            let step = process_step(&mut state, &rec.command, rec.ts, &mut got).map_err(|e| {
                Failure::check(format!(
                    "divergence at sequence {}: re-executing its command breaks an internal invariant: {e}",
                    rec.seq
                ))
            })?;
            if step.command != rec.command {
                return Err(Failure::check(format!(
                    "divergence at sequence {}: re-executing {} first expires orders due at {} in an `expire_due` record, but the journal holds the command itself (was it written with a larger limits.max_cancels_per_record? pass that config with --config)",
                    rec.seq,
                    rec.command.kind.name(),
                    rec.ts
                )));
            }
            if got.as_slice() != expected {
                if let Some(change) = classify(&rec.command, expected, &got) {
                    if rules_changed.len() < MAX_RULES_CHANGED {
                        rules_changed.push((rec.seq, change));
                        // Go on from the state the journal holds, as replay does.
                        state = journaled_state(dir, limits, rec.seq)?;
                        n += 1;
                        progress.tick(n);
                        continue;
                    }
                }
                return Err(divergence(
                    &state,
                    rec.seq,
                    rec.ts,
                    &rec.command,
                    expected,
                    &got,
                ));
            }
            // The events are equal, so re-encoding them gives the bytes the
            // read-ahead thread got from re-encoding the journaled ones.
            if let Some((len, payload_len, at)) = batch.encoding(i) {
                return Err(Failure::check(format!(
                    "divergence at sequence {}: events decode identical, but re-encoding gives {len} bytes that differ from the {payload_len} journaled payload bytes at byte {at} (non-canonical encoding)",
                    rec.seq,
                )));
            }
            n += 1;
            progress.tick(n);
            if invariants_every > 0 && n % invariants_every == 0 {
                check_invariants(&state, rec.seq)?;
            }
        }
        Ok(())
    })?;
    progress.finish();
    Ok(Audited {
        records: n,
        state,
        rules_changed,
        secs: started.elapsed().as_secs_f64(),
    })
}

/// The state after applying the journaled events of records 1..=`seq` (what
/// replay rebuilds; never re-decided).
fn journaled_state(dir: &std::path::Path, limits: Limits, seq: u64) -> Result<State, Failure> {
    let mut records = Records::open(dir, 1)?;
    let mut state = crate::source::new_state(limits);
    while let Some(rec) = records.next_record()? {
        for e in records.events() {
            keel_engine::apply(&mut state, e).map_err(|err| {
                Failure::check(format!(
                    "journal record {} does not apply to the state its predecessors leave: {err}",
                    rec.seq
                ))
            })?;
        }
        if rec.seq == seq {
            return Ok(state);
        }
    }
    Err(Failure::check(format!(
        "sequence {seq} could not be read back while resynchronising the audit"
    )))
}

fn check_invariants(state: &State, seq: u64) -> Result<(), Failure> {
    state.check_invariants().map_err(|e| {
        Failure::check(format!(
            "invariant broken in the state after sequence {seq}: {}",
            e.0
        ))
    })
}

fn divergence(
    state: &State,
    seq: u64,
    ts: u64,
    command: &Command,
    expected: &[Event],
    got: &[Event],
) -> Failure {
    let r = Registry::from_state(state);
    let first = expected
        .iter()
        .zip(got)
        .position(|(a, b)| a != b)
        .unwrap_or(expected.len().min(got.len()));
    let list = |events: &[Event]| {
        events
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let mark = if i == first { "=>" } else { "  " };
                format!("    {mark} {}", event_json(&r, e))
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    Failure::check(format!(
        "divergence at sequence {seq} (ts {ts}): re-executing the command gives different events (first difference at event {first}, marked =>)\n  command: {}\n  journaled (expected), {} events:\n{}\n  re-executed (got), {} events:\n{}",
        command_json(&r, command),
        expected.len(),
        list(expected),
        got.len(),
        list(got)
    ))
}
