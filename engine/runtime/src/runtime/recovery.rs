//! Recovery: open the journal (dropping a torn tail), start from the newest
//! valid snapshot if any, then apply every journaled record's events after
//! it. Nothing is re-decided.
//!
//! A snapshot whose state the following records do not apply to, or whose
//! result breaks an invariant, does not match the journal: it is skipped
//! with the reason, and recovery starts again from the next older snapshot
//! or from genesis. Only a journal that does not rebuild from genesis
//! either fails the start.

use std::path::{Path, PathBuf};

use keel_journal::{Durability, Journal, JournalConfig, RecoveryReport};

use crate::config::{Config, DurabilityConfig};
use crate::core::apply;
use crate::model::{Command, CommandKind};
use crate::record;
use crate::snapshot;
use crate::state::{Limits, State};

use super::StartError;

/// What recovery found.
pub struct Recovered {
    /// The rebuilt state.
    pub state: State,
    /// The journal, open for writing (its lock held).
    pub journal: Journal,
    /// What opening the journal found.
    pub report: RecoveryReport,
    /// Timestamp of the last journaled record (0 if none).
    pub last_ts_ns: u64,
    /// Records applied from the journal (after the snapshot, if one was used).
    pub records_applied: u64,
    /// The snapshot started from, and any snapshots skipped.
    pub snapshot: SnapshotUse,
}

/// Which snapshot a rebuild started from, and which it passed over.
#[derive(Clone, Debug, Default)]
pub struct SnapshotUse {
    /// The snapshot file started from and its sequence (`None`: genesis).
    pub started_from: Option<(PathBuf, u64)>,
    /// Snapshots passed over, newest first, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
}

/// A rebuilt state: the state, the last record's timestamp (0 if none), the
/// records applied after the start, and where it started.
pub type Rebuilt = (State, u64, u64, SnapshotUse);

/// The journal settings a config asks for.
pub fn journal_config(config: &Config) -> JournalConfig {
    JournalConfig {
        dir: config.journal.dir.clone(),
        segment_size_bytes: config.journal.segment_size_mib << 20,
        max_record_bytes: config.journal.max_record_kib() << 10,
        durability: match config.journal.durability {
            DurabilityConfig::None => Durability::None,
            DurabilityConfig::Batch => Durability::Batch,
        },
    }
}

/// Rebuilds the state from `dir` (snapshot + journal), read-only.
pub fn rebuild(dir: &Path, limits: Limits, to_seq: Option<u64>) -> Result<Rebuilt, StartError> {
    rebuild_checked(dir, limits, to_seq, 0)
}

/// [`rebuild`], where records up to `crc_checked_through` had their CRCs
/// verified by a full scan just before (`Journal::open` does one), so the
/// reader skips recomputing them. Records are read zero-copy from the map.
/// The result satisfies every invariant.
fn rebuild_checked(
    dir: &Path,
    limits: Limits,
    to_seq: Option<u64>,
    crc_checked_through: u64,
) -> Result<Rebuilt, StartError> {
    let mut candidates = snapshot::Candidates::new(dir, limits, to_seq);
    let mut skipped = Vec::new();
    loop {
        let start = candidates.next_valid(&mut skipped);
        let started_from = start.as_ref().map(|s| (s.path.clone(), s.seq));
        match apply_after(dir, limits, to_seq, crc_checked_through, start) {
            Ok((state, last_ts, applied)) => {
                return Ok((
                    state,
                    last_ts,
                    applied,
                    SnapshotUse {
                        started_from,
                        skipped,
                    },
                ))
            }
            // The snapshot's state is not the journal's at its sequence:
            // try an older one, or genesis.
            Err(e @ (StartError::Replay { .. } | StartError::Invariant { .. })) => {
                let Some((path, seq)) = started_from else {
                    return Err(e);
                };
                let why = match e {
                    StartError::Replay { seq: at, source } => {
                        format!("journal record {at} does not apply to its state: {source}")
                    }
                    StartError::Invariant { message } => {
                        format!("the state rebuilt from it breaks an invariant: {message}")
                    }
                    other => other.to_string(),
                };
                skipped.push((
                    path,
                    format!(
                        "the journal's records after its sequence {seq} do not rebuild from its \
                         state, so it does not match the journal ({why})"
                    ),
                ));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Applies the journal's records after `start` (or from genesis) to its
/// state, and checks the invariants of the result.
fn apply_after(
    dir: &Path,
    limits: Limits,
    to_seq: Option<u64>,
    crc_checked_through: u64,
    start: Option<snapshot::LoadedSnapshot>,
) -> Result<(State, u64, u64), StartError> {
    let (mut state, from_seq, mut last_ts) = match start {
        Some(s) => (s.state, s.seq + 1, s.ts_ns),
        None => (State::new(limits), 1, 0),
    };
    let mut reader = Journal::reader(dir, from_seq).map_err(|source| StartError::Journal {
        dir: dir.to_owned(),
        source,
    })?;
    reader.crc_checked_through(crc_checked_through);
    let mut events = Vec::with_capacity(256);
    let (mut applied, mut expected) = (0u64, from_seq);
    loop {
        if to_seq.is_some_and(|t| expected > t) {
            break;
        }
        let rec = match reader.try_next_ref() {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(e) => {
                return Err(StartError::Read {
                    dir: dir.to_owned(),
                    seq: expected,
                    source: e,
                })
            }
        };
        // Boundary check: the journal hands records back in sequence.
        assert_eq!(
            rec.seq, expected,
            "journal reader skipped from {expected} to {}",
            rec.seq
        );
        let (ts, _command) =
            record::decode_into(rec.payload, &mut events).map_err(|source| StartError::Record {
                seq: rec.seq,
                source,
            })?;
        for event in &events {
            apply(&mut state, event).map_err(|source| StartError::Replay {
                seq: rec.seq,
                source,
            })?;
        }
        last_ts = last_ts.max(ts);
        applied += 1;
        expected += 1;
    }
    // Boundary check: a recovered state satisfies every invariant, or the
    // journal holds events this core would never have decided.
    state
        .check_invariants()
        .map_err(|e| StartError::Invariant {
            message: e.to_string(),
        })?;
    Ok((state, last_ts, applied))
}

/// Opens the journal for writing and rebuilds the state from it.
pub fn recover(config: &Config) -> Result<Recovered, StartError> {
    let dir = config.journal.dir.clone();
    let (journal, report) =
        Journal::open(journal_config(config)).map_err(|source| StartError::Journal {
            dir: dir.clone(),
            source,
        })?;
    // Journal::open just scanned (CRC-checked) every committed record, and
    // holds the writer lock: nothing can change them under the rebuild.
    let (mut state, last_ts_ns, records_applied, snapshot) = rebuild_checked(
        &dir,
        config.limits(),
        None,
        report.last_sequence.unwrap_or(0),
    )?;
    if config.engine.prefault {
        super::advise_huge_pages(&state);
        state.prefault();
    }
    Ok(Recovered {
        state,
        journal,
        report,
        last_ts_ns,
        records_applied,
        snapshot,
    })
}

/// The admin commands that bring the config's assets and symbols into
/// `state` (none for those already there); an error if the config
/// contradicts what the journal holds.
pub fn startup_commands(config: &Config, state: &State) -> Result<Vec<Command>, StartError> {
    let (assets, symbols) = config.genesis_specs()?;
    let mut kinds = Vec::new();
    for (name, scale) in assets {
        match state.assets().iter().find(|a| a.name == name) {
            Some(a) if a.scale != scale => {
                return Err(StartError::ConfigDrift {
                    key: format!("assets.{name}.scale"),
                    value: scale.to_string(),
                    journal: a.scale.to_string(),
                })
            }
            Some(_) => {}
            None => kinds.push(CommandKind::AddAsset { name, scale }),
        }
    }
    // Symbols name assets by position in the config; map to the state's ids.
    let config_assets = config.genesis_specs()?.0;
    let mut predicted: Vec<_> = state.assets().iter().map(|a| a.name).collect();
    for k in &kinds {
        if let CommandKind::AddAsset { name, .. } = k {
            predicted.push(*name);
        }
    }
    let id_of = |config_id: u32| {
        let name = config_assets[config_id as usize].0;
        predicted
            .iter()
            .position(|n| *n == name)
            .expect("every config asset exists or is being added") as u32
    };
    for mut spec in symbols {
        spec.base = id_of(spec.base);
        spec.quote = id_of(spec.quote);
        match state.symbols().iter().find(|s| s.spec.name == spec.name) {
            Some(s) if s.spec != spec => {
                return Err(StartError::ConfigDrift {
                    key: format!("symbols.{}", spec.name),
                    value: format!("{spec:?}"),
                    journal: format!("{:?}", s.spec),
                })
            }
            Some(_) => {}
            None => kinds.push(CommandKind::AddSymbol(spec)),
        }
    }
    let first = state
        .account(crate::model::OPERATOR)
        .map_or(0, |a| a.last_request_id)
        + 1;
    Ok(kinds
        .into_iter()
        .enumerate()
        .map(|(i, kind)| Command {
            account: crate::model::OPERATOR,
            request_id: first + i as u64,
            kind,
        })
        .collect())
}
