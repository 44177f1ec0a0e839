//! Reading a journal: checking the directory, iterating decoded records, and
//! rebuilding the state by applying journaled events (never re-deciding).

use std::path::{Path, PathBuf};

use keel_engine::model::{Command, Event};
use keel_engine::record;
use keel_engine::snapshot;
use keel_engine::{apply, Limits, State};
use keel_journal::{format, Journal, Reader};

use crate::progress::Progress;
use crate::Failure;

/// Checks that `dir` exists and holds journal segments.
pub fn check_journal_dir(dir: &Path) -> Result<(), Failure> {
    let meta = std::fs::metadata(dir).map_err(|e| {
        Failure::input(format!(
            "{}: cannot open journal directory: {e}",
            dir.display()
        ))
    })?;
    if !meta.is_dir() {
        return Err(Failure::input(format!(
            "{}: not a directory (give the journal directory, e.g. keel-data/journal)",
            dir.display()
        )));
    }
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Failure::input(format!("{}: cannot list directory: {e}", dir.display())))?;
    let has_segment = entries.flatten().any(|e| {
        e.file_name()
            .to_str()
            .and_then(format::parse_segment_file_name)
            .is_some()
    });
    if !has_segment {
        return Err(Failure::input(format!(
            "{}: not a Keel journal (no segment files named like {})",
            dir.display(),
            format::segment_file_name(1)
        )));
    }
    Ok(())
}

/// One decoded record (its events are in [`Records::events`]).
#[derive(Clone, Copy, Debug)]
pub struct Rec {
    pub seq: u64,
    pub ts: u64,
    pub command: Command,
}

/// Decoded committed records in sequence order.
pub struct Records {
    dir: PathBuf,
    reader: Reader,
    expected: u64,
    events: Vec<Event>,
    /// A copy of the last payload, kept only if asked (reused buffer).
    payload: Vec<u8>,
    keep_payload: bool,
}

impl Records {
    pub fn open(dir: &Path, from: u64) -> Result<Records, Failure> {
        check_journal_dir(dir)?;
        let from = from.max(1);
        let reader = Journal::reader(dir, from)
            .map_err(|e| Failure::input(format!("{}: {e}", dir.display())))?;
        Ok(Records {
            dir: dir.to_owned(),
            reader,
            expected: from,
            events: Vec::with_capacity(256),
            payload: Vec::new(),
            keep_payload: false,
        })
    }

    /// Records up to `seq` had their CRCs checked by a full journal scan
    /// just before (see [`Reader::crc_checked_through`]).
    pub fn crc_checked_through(&mut self, seq: u64) {
        self.reader.crc_checked_through(seq);
    }

    /// Keep a copy of each record's raw payload for [`Records::payload`]
    /// (off by default: records are decoded straight from the journal map).
    pub fn keep_payloads(&mut self, keep: bool) {
        self.keep_payload = keep;
    }

    /// The next committed record, or `None` at the end.
    pub fn next_record(&mut self) -> Result<Option<Rec>, Failure> {
        let r = match self.reader.try_next_ref() {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(None),
            Err(e) => return Err(Failure::read(&self.dir, e)),
        };
        if r.seq != self.expected {
            return Err(Failure::check(format!(
                "journal reader returned sequence {} where {} was expected",
                r.seq, self.expected
            )));
        }
        self.expected += 1;
        let (ts, command) = record::decode_into(r.payload, &mut self.events)
            .map_err(|e| Failure::check(format!("record {}: {e}", r.seq)))?;
        if self.keep_payload {
            self.payload.clear();
            self.payload.extend_from_slice(r.payload);
        }
        Ok(Some(Rec {
            seq: r.seq,
            ts,
            command,
        }))
    }

    /// The journaled events of the record last returned.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The raw payload of the record last returned (needs
    /// [`Records::keep_payloads`]).
    pub fn payload(&self) -> &[u8] {
        debug_assert!(self.keep_payload, "Records::payload without keep_payloads");
        &self.payload
    }
}

/// Applies journaled events to a state, from genesis or from the newest
/// valid snapshot at or before a sequence.
pub struct Replayer {
    pub state: State,
    records: Records,
    /// The last sequence applied (0: genesis).
    pub last_seq: u64,
    /// Timestamp of that record (0 at genesis).
    pub last_ts: u64,
    /// The snapshot started from, if any.
    pub snapshot_seq: Option<u64>,
    applied: u64,
    /// Where the journal is and the limits, to fall back to an older
    /// snapshot when a record does not apply to this one's state.
    dir: std::path::PathBuf,
    limits: Limits,
}

impl Replayer {
    /// From genesis.
    pub fn genesis(dir: &Path, limits: Limits) -> Result<Replayer, Failure> {
        Ok(Replayer {
            state: State::new(limits),
            records: Records::open(dir, 1)?,
            last_seq: 0,
            last_ts: 0,
            snapshot_seq: None,
            applied: 0,
            dir: dir.to_path_buf(),
            limits,
        })
    }

    /// From the newest valid snapshot at or before `at` (any, if `None`),
    /// else from genesis. Invalid snapshots are reported on stderr.
    pub fn from_snapshot(dir: &Path, limits: Limits, at: Option<u64>) -> Result<Replayer, Failure> {
        check_journal_dir(dir)?;
        let outcome = snapshot::load_newest(dir, limits, at);
        for (path, why) in &outcome.skipped {
            eprintln!("replay: skipped snapshot {}: {why}", path.display());
        }
        match outcome.loaded {
            Some(s) => Ok(Replayer {
                state: s.state,
                records: Records::open(dir, s.seq + 1)?,
                last_seq: s.seq,
                last_ts: s.ts_ns,
                snapshot_seq: Some(s.seq),
                applied: 0,
                dir: dir.to_path_buf(),
                limits,
            }),
            None => Replayer::genesis(dir, limits),
        }
    }

    /// Applies records up to `to` (inclusive; `None`: to the end), calling
    /// `f` after each with the record, its events and the state after it.
    pub fn advance(
        &mut self,
        to: Option<u64>,
        progress: &mut Progress,
        mut f: impl FnMut(&Rec, &[Event], &State) -> Result<(), Failure>,
    ) -> Result<(), Failure> {
        while to.is_none_or(|t| self.last_seq < t) {
            let Some(rec) = self.records.next_record()? else {
                break;
            };
            if let Err(why) = apply_all(&mut self.state, &self.records.events) {
                let Some(snap) = self.snapshot_seq else {
                    return Err(Failure::check(format!("record {}: {why}", rec.seq)));
                };
                // The snapshot does not match the journal after all: rebuild
                // this point from an older snapshot (or genesis) and go on,
                // as the engine does at start-up.
                eprintln!(
                    "replay: skipped snapshot at sequence {snap}: record {} {why}; falling back to an older snapshot or genesis",
                    rec.seq
                );
                let mut older = Replayer::from_snapshot(&self.dir, self.limits, Some(snap - 1))?;
                let mut quiet = Progress::new("rebuild", None);
                older.advance_to(Some(rec.seq - 1), &mut quiet)?;
                self.state = older.state;
                self.snapshot_seq = older.snapshot_seq;
                apply_all(&mut self.state, &self.records.events)
                    .map_err(|why| Failure::check(format!("record {}: {why}", rec.seq)))?;
            }
            self.last_seq = rec.seq;
            self.last_ts = rec.ts;
            self.applied += 1;
            progress.tick(self.applied);
            f(&rec, &self.records.events, &self.state)?;
        }
        Ok(())
    }

    /// Applies everything up to `to`, failing if the journal ends before it.
    pub fn advance_to(&mut self, to: Option<u64>, progress: &mut Progress) -> Result<(), Failure> {
        self.advance(to, progress, |_, _, _| Ok(()))?;
        self.require(to)
    }

    /// An error if the journal ended before `to`.
    pub fn require(&self, to: Option<u64>) -> Result<(), Failure> {
        match to {
            Some(t) if self.last_seq < t => Err(beyond_end(t, self.last_seq)),
            _ => Ok(()),
        }
    }

    /// Records applied so far (not counting a snapshot's).
    pub fn applied(&self) -> u64 {
        self.applied
    }
}

/// Applies one record's events; the error says which event did not apply.
fn apply_all(state: &mut State, events: &[Event]) -> Result<(), String> {
    for (i, event) in events.iter().enumerate() {
        apply(state, event).map_err(|e| {
            format!(
                "journaled event {i} ({}) does not apply to the rebuilt state: {e}",
                event.name()
            )
        })?;
    }
    Ok(())
}

pub fn beyond_end(seq: u64, last: u64) -> Failure {
    Failure::input(format!(
        "sequence {seq} is beyond the end of the journal (the last committed sequence is {last})"
    ))
}
