//! Reading a journal: checking the directory, iterating decoded records, and
//! rebuilding the state by applying journaled events (never re-deciding).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crossbeam_channel::TryRecvError;

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
            state: new_state(limits),
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
    ///
    /// Records are read, checked and decoded on a second thread
    /// ([`read_ahead`]) and handed over in batches, so this thread only
    /// applies; errors arrive in sequence order, after every record before
    /// them, so what is applied and reported is what reading one record at a
    /// time would give. The read-ahead never reads past `to`.
    pub fn advance(
        &mut self,
        to: Option<u64>,
        progress: &mut Progress,
        mut f: impl FnMut(&Rec, &[Event], &State) -> Result<(), Failure>,
    ) -> Result<(), Failure> {
        if to.is_some_and(|t| self.last_seq >= t) {
            return Ok(());
        }
        let Replayer {
            state,
            records,
            last_seq,
            last_ts,
            snapshot_seq,
            applied,
            dir,
            limits,
        } = self;
        read_ahead(records, to, false, |batch| {
            for (rec, events) in batch.iter() {
                if let Err(why) = apply_all(state, events) {
                    let Some(snap) = *snapshot_seq else {
                        return Err(Failure::check(format!("record {}: {why}", rec.seq)));
                    };
                    // The snapshot does not match the journal after all: rebuild
                    // this point from an older snapshot (or genesis) and go on,
                    // as the engine does at start-up.
                    eprintln!(
                        "replay: skipped snapshot at sequence {snap}: record {} {why}; falling back to an older snapshot or genesis",
                        rec.seq
                    );
                    let mut older = Replayer::from_snapshot(dir, *limits, Some(snap - 1))?;
                    let mut quiet = Progress::new("rebuild", None);
                    older.advance_to(Some(rec.seq - 1), &mut quiet)?;
                    *state = older.state;
                    *snapshot_seq = older.snapshot_seq;
                    apply_all(state, events)
                        .map_err(|why| Failure::check(format!("record {}: {why}", rec.seq)))?;
                }
                *last_seq = rec.seq;
                *last_ts = rec.ts;
                *applied += 1;
                progress.tick(*applied);
                f(rec, events, state)?;
            }
            Ok(())
        })
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

/// An empty state whose reserved arenas (order and level slabs, indexes)
/// are advised to transparent huge pages before anything touches them, so
/// that replaying into them takes few page faults and TLB misses (a hint;
/// see [`keel_engine::advise_huge_pages`]).
pub fn new_state(limits: Limits) -> State {
    let state = State::new(limits);
    keel_engine::advise_huge_pages(&state);
    state
}

/// Records handed from the read-ahead thread to the applying one at a time.
pub const BATCH: usize = 1024;

/// Batches in flight between the two threads (besides the one being filled
/// and the one being applied).
const IN_FLIGHT: usize = 4;

/// A batch of records, decoded (on the read-ahead thread) or, while the
/// applying thread waits for work, copied out raw for it to decode itself
/// (see [`read_ahead`]). Its buffers (one event vector per record) are
/// reused from batch to batch, so steady state allocates nothing.
pub struct Batch {
    recs: Vec<Rec>,
    events: Vec<Vec<Event>>,
    /// With re-encoding (see [`read_ahead`]): per record, `None` if its
    /// journaled events re-encode to its payload byte for byte, else the
    /// re-encoded length, the payload length and the first differing byte.
    encoding: Vec<Option<(usize, usize, usize)>>,
    /// Not yet decoded: the sequences and payloads (`raw[ends[i-1]..ends[i]]`).
    raw_seqs: Vec<u64>,
    raw: Vec<u8>,
    raw_ends: Vec<usize>,
    /// Why reading stopped after these records (the stream ends there).
    error: Option<Failure>,
}

impl Batch {
    fn new() -> Batch {
        Batch {
            recs: Vec::with_capacity(BATCH),
            events: Vec::with_capacity(BATCH),
            encoding: Vec::new(),
            raw_seqs: Vec::new(),
            raw: Vec::new(),
            raw_ends: Vec::new(),
            error: None,
        }
    }

    fn clear(&mut self) {
        self.recs.clear();
        self.encoding.clear();
        self.raw_seqs.clear();
        self.raw.clear();
        self.raw_ends.clear();
        self.error = None;
    }

    /// The records and their journaled events.
    pub fn iter(&self) -> impl Iterator<Item = (&Rec, &[Event])> {
        self.recs.iter().zip(self.events.iter().map(Vec::as_slice))
    }

    pub fn len(&self) -> usize {
        self.recs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.recs.is_empty()
    }

    /// Record `i` and its journaled events.
    pub fn get(&self, i: usize) -> (&Rec, &[Event]) {
        (&self.recs[i], &self.events[i])
    }

    /// Record `i`'s re-encoding check (only with re-encoding asked for).
    pub fn encoding(&self, i: usize) -> Option<(usize, usize, usize)> {
        self.encoding.get(i).copied().flatten()
    }

    /// Decodes one record into the batch; on failure, the error that
    /// reading one record at a time reports.
    fn decode(
        &mut self,
        seq: u64,
        payload: &[u8],
        reencode: bool,
        bytes: &mut Vec<u8>,
    ) -> Result<(), Failure> {
        let i = self.recs.len();
        if self.events.len() == i {
            self.events.push(Vec::with_capacity(16));
        }
        let events = &mut self.events[i];
        let (ts, command) = record::decode_into(payload, events)
            .map_err(|e| Failure::check(format!("record {seq}: {e}")))?;
        if reencode {
            record::encode_to_vec(bytes, ts, &command, events);
            let check = (bytes.as_slice() != payload).then(|| {
                let at = bytes
                    .iter()
                    .zip(payload)
                    .position(|(a, b)| a != b)
                    .unwrap_or(bytes.len().min(payload.len()));
                (bytes.len(), payload.len(), at)
            });
            self.encoding.push(check);
        }
        self.recs.push(Rec { seq, ts, command });
        Ok(())
    }

    /// Decodes the raw records (on the applying thread). A record that does
    /// not decode ends the batch there, its error before any read error
    /// that came after it.
    fn decode_raw(&mut self, reencode: bool, bytes: &mut Vec<u8>) {
        let raw = std::mem::take(&mut self.raw);
        let seqs = std::mem::take(&mut self.raw_seqs);
        let mut start = 0;
        for (i, &seq) in seqs.iter().enumerate() {
            let end = self.raw_ends[i];
            if let Err(e) = self.decode(seq, &raw[start..end], reencode, bytes) {
                self.error = Some(e);
                break;
            }
            start = end;
        }
        self.raw = raw;
        self.raw_seqs = seqs;
    }
}

/// Reads `records` up to `to` (inclusive; `None`: the end) on a second
/// thread, which checks them (CRCs, sequences, as [`Records::next_record`])
/// and decodes them, handing them to `apply` here in batches of [`BATCH`]
/// through a bounded channel. When this thread found no batch waiting (the
/// read-ahead thread is the slower one), the read-ahead thread hands the
/// next batch over undecoded (copied out of the map) and this thread decodes
/// it, so that the two share the work. With `reencode`, each record's journaled events are also
/// re-encoded and compared byte for byte with its payload
/// ([`Batch::encoding`]). Errors come in sequence order: a read or decoding
/// error is returned after every record before it was given to `apply`; an
/// error from `apply` stops everything (the read-ahead thread stops at its
/// next batch). Records are given to `apply` in order, each once.
pub fn read_ahead(
    records: &mut Records,
    to: Option<u64>,
    reencode: bool,
    apply: impl FnMut(&Batch) -> Result<(), Failure>,
) -> Result<(), Failure> {
    read_ahead_checked(records, to, reencode, None, apply)
}

/// [`read_ahead`], where a full scan running beside it (the journal check of
/// `verify`) stores in `crc_checked` the last sequence whose CRC it
/// verified, once it has finished (0 until then): from then on the
/// read-ahead thread skips computing those CRCs again (see
/// [`Records::crc_checked_through`]).
pub fn read_ahead_checked(
    records: &mut Records,
    to: Option<u64>,
    reencode: bool,
    crc_checked: Option<&AtomicU64>,
    mut apply: impl FnMut(&Batch) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let (full_tx, full_rx) = crossbeam_channel::bounded::<Batch>(IN_FLIGHT);
    let (free_tx, free_rx) = crossbeam_channel::bounded::<Batch>(IN_FLIGHT + 2);
    // Set by the applying thread when it found no batch waiting: the
    // read-ahead thread is the slower one, and hands the next batch over
    // undecoded.
    let waited = AtomicBool::new(false);
    let waited = &waited;
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut bytes = Vec::new();
            let mut last = None;
            let mut crc_done = false;
            loop {
                if let Some(c) = crc_checked.filter(|_| !crc_done) {
                    let through = c.load(Ordering::Acquire);
                    if through > 0 {
                        records.crc_checked_through(through);
                        crc_done = true;
                    }
                }
                let mut batch = free_rx.try_recv().unwrap_or_else(|_| Batch::new());
                let raw = waited.swap(false, Ordering::Relaxed);
                let more = fill(
                    records, to, reencode, raw, &mut bytes, &mut last, &mut batch,
                );
                if full_tx.send(batch).is_err() || !more {
                    return;
                }
            }
        });
        let result = (|| {
            let mut bytes = Vec::new();
            loop {
                let mut batch = match full_rx.try_recv() {
                    Ok(b) => b,
                    Err(TryRecvError::Empty) => {
                        waited.store(true, Ordering::Relaxed);
                        match full_rx.recv() {
                            Ok(b) => b,
                            Err(_) => break,
                        }
                    }
                    Err(TryRecvError::Disconnected) => break,
                };
                if !batch.raw_seqs.is_empty() {
                    batch.decode_raw(reencode, &mut bytes);
                }
                apply(&batch)?;
                if let Some(e) = batch.error {
                    return Err(e);
                }
                batch.error = None;
                let _ = free_tx.try_send(batch);
            }
            Ok(())
        })();
        // Dropping the receiver stops the read-ahead thread if it is still
        // reading (an error here); the scope then waits for it.
        drop(full_rx);
        result
    })
}

/// Fills `batch` with up to [`BATCH`] records, decoded or (`raw`) copied
/// for the applying thread to decode; false when reading is over (the end,
/// `to`, or an error kept in the batch).
fn fill(
    records: &mut Records,
    to: Option<u64>,
    reencode: bool,
    raw: bool,
    bytes: &mut Vec<u8>,
    last: &mut Option<u64>,
    batch: &mut Batch,
) -> bool {
    batch.clear();
    let mut n = 0;
    while n < BATCH {
        if last.zip(to).is_some_and(|(l, t)| l >= t) {
            return false;
        }
        let r = match records.reader.try_next_ref() {
            Ok(Some(r)) => r,
            Ok(None) => return false,
            Err(e) => {
                batch.error = Some(Failure::read(&records.dir, e));
                return false;
            }
        };
        if r.seq != records.expected {
            batch.error = Some(Failure::check(format!(
                "journal reader returned sequence {} where {} was expected",
                r.seq, records.expected
            )));
            return false;
        }
        records.expected += 1;
        if raw {
            batch.raw.extend_from_slice(r.payload);
            batch.raw_ends.push(batch.raw.len());
            batch.raw_seqs.push(r.seq);
        } else if let Err(e) = batch.decode(r.seq, r.payload, reencode, bytes) {
            batch.error = Some(e);
            return false;
        }
        *last = Some(r.seq);
        n += 1;
    }
    true
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

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1")
    }

    /// A record: sequence, timestamp, command, events, payload.
    type Read = (u64, u64, Command, Vec<Event>, Vec<u8>);

    /// Every record, its events and its payload, read one at a time.
    fn one_at_a_time() -> Vec<Read> {
        let mut records = Records::open(&fixture(), 1).unwrap();
        records.keep_payloads(true);
        let mut all = Vec::new();
        while let Some(r) = records.next_record().unwrap() {
            let payload = records.payload().to_vec();
            all.push((r.seq, r.ts, r.command, records.events().to_vec(), payload));
        }
        all
    }

    #[test]
    fn raw_and_decoded_batches_hold_the_same_records() {
        let expected = one_at_a_time();
        assert!(expected.len() > 3);
        for raw in [false, true] {
            let mut records = Records::open(&fixture(), 1).unwrap();
            let (mut bytes, mut last) = (Vec::new(), None);
            let mut got = Vec::new();
            loop {
                let mut batch = Batch::new();
                let more = fill(
                    &mut records,
                    None,
                    true,
                    raw,
                    &mut bytes,
                    &mut last,
                    &mut batch,
                );
                assert_eq!(batch.raw_seqs.is_empty(), !raw || batch.raw.is_empty());
                if raw {
                    assert!(batch.is_empty());
                    batch.decode_raw(true, &mut bytes);
                }
                assert!(batch.error.is_none());
                for (i, (rec, events)) in batch.iter().enumerate() {
                    assert_eq!(batch.encoding(i), None, "canonical encoding");
                    got.push((rec.seq, rec.ts, rec.command, events.to_vec()));
                }
                if !more {
                    break;
                }
            }
            assert_eq!(got.len(), expected.len());
            for (g, (seq, ts, command, ev, _)) in got.iter().zip(&expected) {
                assert_eq!(g, &(*seq, *ts, *command, ev.clone()));
            }
        }
    }

    #[test]
    fn read_ahead_stops_at_to_and_gives_each_record_once() {
        let expected = one_at_a_time();
        let n = expected.len() as u64;
        for to in [Some(1), Some(n / 2), Some(n), Some(n + 5), None] {
            let mut records = Records::open(&fixture(), 1).unwrap();
            let mut seen = Vec::new();
            read_ahead(&mut records, to, false, |batch| {
                seen.extend(batch.iter().map(|(r, e)| (r.seq, e.to_vec())));
                Ok(())
            })
            .unwrap();
            let want: Vec<_> = expected
                .iter()
                .filter(|r| to.is_none_or(|t| r.0 <= t))
                .map(|r| (r.0, r.3.clone()))
                .collect();
            assert_eq!(seen, want, "to {to:?}");
            // The reader is left just after `to`: reading goes on from there.
            let next = records.next_record().unwrap().map(|r| r.seq);
            let want_next = to.filter(|&t| t < n).map(|t| t + 1);
            assert_eq!(next, want_next, "to {to:?}");
        }
    }

    #[test]
    fn an_error_from_apply_stops_the_read_ahead() {
        let mut records = Records::open(&fixture(), 1).unwrap();
        let mut calls = 0;
        let r = read_ahead(&mut records, None, false, |_| {
            calls += 1;
            Err(Failure::check("stop"))
        });
        assert_eq!(r.unwrap_err().message, "stop");
        assert_eq!(calls, 1);
    }
}
