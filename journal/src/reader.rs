//! Read committed records, from any sequence, while a writer may be running.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{fence, AtomicU32, Ordering};

use memmap2::Mmap;

use crate::error::{CorruptionError, ReadError};
use crate::format::{self, Frame, SegmentHeader, HEADER_LEN, MARKER_LEN, REC_PAYLOAD_OFFSET};
use crate::segment;

/// A committed record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Its sequence number.
    pub seq: u64,
    /// Its payload, as appended.
    pub payload: Vec<u8>,
    /// Chain value of the commit batch that contains it.
    pub batch_chain: [u8; 32],
}

/// A committed record borrowed from the reader (zero-copy: the payload
/// points into the mapped segment). Valid until the reader is used again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// Its sequence number.
    pub seq: u64,
    /// Its payload, as appended.
    pub payload: &'a [u8],
    /// Chain value of the commit batch that contains it.
    pub batch_chain: [u8; 32],
}

impl RecordRef<'_> {
    /// An owned copy.
    pub fn to_record(&self) -> Record {
        Record {
            seq: self.seq,
            payload: self.payload.to_vec(),
            batch_chain: self.batch_chain,
        }
    }
}

/// Where a buffered record's payload lies: a range of the current segment's
/// map, or (for a batch that started in an earlier segment) of a spill buffer.
#[derive(Clone, Copy, Debug)]
struct Entry {
    seq: u64,
    start: usize,
    len: usize,
    owned: bool,
}

struct Current {
    path: PathBuf,
    map: Mmap,
    first_seq: u64,
    index: u64,
    /// Format version of the segment (version 2 ends a segment that has a
    /// successor with a roll marker).
    version: u32,
}

/// Iterator over committed records starting at a sequence. `next()` returning
/// `None` means "no more committed records right now"; calling it again later
/// continues (this is what [`crate::Tailer`] does).
///
/// It maps segments read-only and takes no lock, so it works while a writer
/// appends, in this or another process. It returns a record only after
/// reading its batch's commit marker. After it returns an error it is
/// finished and returns no more records; create a new one.
pub struct Reader {
    dir: PathBuf,
    from_seq: u64,
    cur: Option<Current>,
    pos: usize,
    expected: u64,
    /// Records of the batch being read (not yet proven committed).
    pending: Vec<Entry>,
    /// Payload bytes of `pending` entries with `owned` set.
    pending_spill: Vec<u8>,
    /// Records of the last committed batch; `ready[ready_head..]` are still
    /// to be returned. Non-owned entries point into `cur`'s map: `step` (the
    /// only thing that changes segment) runs only once they are all returned.
    ready: Vec<Entry>,
    /// Payload bytes of `ready` entries with `owned` set.
    ready_spill: Vec<u8>,
    ready_head: usize,
    ready_chain: [u8; 32],
    /// Records up to this sequence had their CRC checked by a full scan
    /// already (see [`Reader::crc_checked_through`]).
    crc_checked_through: u64,
    dead: bool,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("dir", &self.dir)
            .field("expected", &self.expected)
            .field("pos", &self.pos)
            .finish()
    }
}

// `load_word` relies on Relaxed 4-byte atomic loads working on read-only
// memory, which Rust guarantees only on the targets listed in the
// `std::sync::atomic` docs ("Atomic accesses to read-only memory").
#[cfg(not(any(
    target_arch = "x86",
    target_arch = "x86_64",
    target_arch = "arm",
    target_arch = "aarch64",
    target_arch = "loongarch32",
    target_arch = "loongarch64",
    target_arch = "mips",
    target_arch = "mips32r6",
    target_arch = "mips64",
    target_arch = "mips64r6",
    target_arch = "powerpc",
    target_arch = "powerpc64",
    target_arch = "riscv32",
    target_arch = "riscv64",
    target_arch = "sparc",
    target_arch = "sparc64",
    target_arch = "s390x",
    target_arch = "hexagon",
)))]
compile_error!(
    "keel-journal: relaxed atomic loads on read-only mappings are not guaranteed on this target"
);

/// Load the frame word at `off` (0 if out of bounds or misaligned) with
/// Acquire semantics: if it returns the non-zero word the writer stored (with
/// Release, after writing the rest of the frame), the whole frame is visible
/// to the loads this thread makes afterwards.
#[inline]
fn load_word(map: &Mmap, off: usize) -> u32 {
    if off % 4 != 0 || off + 4 > map.len() {
        return 0;
    }
    // SAFETY: `off + 4 <= map.len()` (checked above), so the 4 bytes lie in
    // the mapping, which `map` keeps alive for the whole borrow; the mapping
    // is page-aligned and `off % 4 == 0`, so the pointer is aligned for an
    // `AtomicU32`, and any 4 bytes are a valid `u32`. The mapping is
    // read-only (`PROT_READ`), so `AtomicU32::from_ptr` (whose contract asks
    // for a pointer valid for writes) is not used, and only a Relaxed load is
    // made through this reference: the `std::sync::atomic` docs guarantee
    // that Relaxed atomic loads of up to 4 bytes work on read-only memory
    // (the `compile_error!` above rejects targets where that is not
    // promised), while an Acquire load on read-only memory is not
    // guaranteed; so the ordering comes from the Acquire fence that follows,
    // which synchronizes with the writer's Release store when the Relaxed
    // load reads the value it stored. The writer stores this word with a
    // `u32` atomic store through its own shared mapping of the same file
    // (`Journal::store_word`), usually from another process; both mappings
    // are the same physical page, so for the hardware (whose memory model
    // the atomics compile to) they are one location, and the Release/Acquire
    // pair orders the frame's bytes across the mappings as it would within
    // one. Every other change to these bytes is described at
    // `segment::map_ro`; none of them can make this load fault or read
    // outside the mapping, only return a different `u32`.
    let word = unsafe { &*map.as_ptr().add(off).cast::<AtomicU32>() };
    let w = word.load(Ordering::Relaxed);
    fence(Ordering::Acquire);
    w
}

fn map_segment(path: &Path) -> Result<Option<Mmap>, ReadError> {
    let file: File = match segment::open_ro(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ReadError::Io {
                path: path.into(),
                what: "opening segment".into(),
                source: e,
            })
        }
    };
    let len = file
        .metadata()
        .map_err(|e| ReadError::Io {
            path: path.into(),
            what: "stat of segment".into(),
            source: e,
        })?
        .len();
    if len < HEADER_LEN as u64 {
        return Err(CorruptionError::BadHeader {
            file: path.into(),
            problem: format!("file is only {len} bytes"),
        }
        .into());
    }
    segment::map_ro(&file).map(Some).map_err(|e| ReadError::Io {
        path: path.into(),
        what: "mapping segment".into(),
        source: e,
    })
}

/// [`format::parse_frame`] for a record frame whose CRC a full scan has
/// already verified: the same checks but the CRC.
fn parse_checked_record(buf: &[u8], off: usize, word: u32) -> Frame {
    let len = (word & format::LEN_MASK) as usize;
    let frame_len = format::record_frame_len(len);
    if off.checked_add(frame_len).is_none_or(|e| e > buf.len()) {
        return Frame::Invalid("record extends past the end of the segment");
    }
    let f = &buf[off..off + frame_len];
    if f[REC_PAYLOAD_OFFSET + len..].iter().any(|&b| b != 0) {
        return Frame::Invalid("record padding is not zero");
    }
    Frame::Record {
        seq: format::get_u64(f, format::REC_SEQ_OFFSET),
        payload_len: len,
        frame_len,
    }
}

impl Reader {
    pub(crate) fn new(dir: &Path, from_seq: u64) -> Reader {
        Reader {
            dir: dir.to_path_buf(),
            from_seq: from_seq.max(1),
            cur: None,
            pos: 0,
            expected: 0,
            pending: Vec::new(),
            pending_spill: Vec::new(),
            ready: Vec::new(),
            ready_spill: Vec::new(),
            ready_head: 0,
            ready_chain: [0; 32],
            crc_checked_through: 0,
            dead: false,
        }
    }

    fn enter(
        &mut self,
        path: PathBuf,
        map: Mmap,
        expect_first: Option<u64>,
    ) -> Result<(), ReadError> {
        let h = SegmentHeader::decode(&map).map_err(|p| CorruptionError::BadHeader {
            file: path.clone(),
            problem: p.to_string(),
        })?;
        if let Some(e) = expect_first {
            // Moving on from the current segment: the next one must follow
            // it. The index check also catches a segment that recovery
            // deleted while this reader was in it and a new writer then
            // re-created under the same name (see `segment::map_ro`).
            let expected_index = self.cur.as_ref().map_or(0, |c| c.index + 1);
            if h.first_seq != e || h.index != expected_index {
                return Err(CorruptionError::MissingSegment {
                    file: path,
                    expected_index,
                    found_index: h.index,
                    expected_seq: e,
                    found_seq: h.first_seq,
                }
                .into());
            }
        }
        // The batch being read continues here: copy what the old map holds
        // of it (rare: only batches spanning a segment roll).
        if let Some(old) = &self.cur {
            for e in self.pending.iter_mut().filter(|e| !e.owned) {
                let start = self.pending_spill.len();
                self.pending_spill
                    .extend_from_slice(&old.map[e.start..e.start + e.len]);
                e.start = start;
                e.owned = true;
            }
        }
        self.expected = h.first_seq;
        self.pos = HEADER_LEN;
        self.cur = Some(Current {
            path,
            map,
            first_seq: h.first_seq,
            index: h.index,
            version: h.version,
        });
        Ok(())
    }

    /// Locate the segment holding `from_seq`. Ok(false): journal empty.
    fn start(&mut self) -> Result<bool, ReadError> {
        let entries = segment::list(&self.dir).map_err(|e| ReadError::Io {
            path: self.dir.clone(),
            what: "listing journal directory".into(),
            source: e,
        })?;
        let Some(e) = entries
            .iter()
            .rev()
            .find(|e| e.first_seq <= self.from_seq)
            .or(entries.first())
        else {
            return Ok(false);
        };
        match map_segment(&e.path)? {
            Some(map) => {
                self.enter(e.path.clone(), map, None)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Try to move to the next segment. Ok(false): it does not exist (yet).
    fn next_segment(&mut self) -> Result<bool, ReadError> {
        if self
            .cur
            .as_ref()
            .is_some_and(|c| c.first_seq == self.expected)
        {
            // No record in this segment yet: the writer cannot have rolled.
            return Ok(false);
        }
        let path = self.dir.join(format::segment_file_name(self.expected));
        match map_segment(&path)? {
            Some(map) => {
                self.enter(path, map, Some(self.expected))?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// True if a record of the pending batch that still lies in the current
    /// map is no longer there as it was read (its length word or sequence
    /// changed). Bytes after the last commit marker change only when a new
    /// writer opens the journal after the previous one left a batch
    /// uncommitted: recovery zeroes them and the new writer appends over
    /// them (see `segment::map_ro`). Entries copied out of an earlier
    /// segment (`owned`) cannot be re-checked.
    fn pending_changed(&self) -> bool {
        let Some(cur) = &self.cur else {
            return false;
        };
        self.pending.iter().filter(|e| !e.owned).any(|e| {
            let off = e.start - REC_PAYLOAD_OFFSET;
            load_word(&cur.map, off) != format::record_word(e.len as u32)
                || format::get_u64(&cur.map, off + format::REC_SEQ_OFFSET) != e.seq
        })
    }

    /// Drop the pending batch and read again from its first record: the
    /// bytes it was read from were rewritten (see [`Reader::pending_changed`]).
    /// Records already returned were committed, and recovery never changes
    /// committed bytes, so nothing returned is taken back. Ok(true): go on.
    fn resync(&mut self) -> Result<bool, ReadError> {
        if let Some(first) = self.pending.first() {
            self.from_seq = first.seq;
        }
        self.pending.clear();
        self.pending_spill.clear();
        self.cur = None;
        self.pos = 0;
        self.expected = 0;
        Ok(true)
    }

    /// Process one frame. Ok(false): nothing more committed right now.
    fn step(&mut self) -> Result<bool, ReadError> {
        let res = self.step_frame();
        if res.is_err() && self.pending_changed() {
            // Not damage: the uncommitted batch this reader was in was
            // rewritten by a new writer under it.
            return self.resync();
        }
        res
    }

    fn step_frame(&mut self) -> Result<bool, ReadError> {
        if self.cur.is_none() && !self.start()? {
            return Ok(false);
        }
        let cur = self.cur.as_ref().expect("current segment");
        let pos = self.pos;
        if pos + format::FRAME_ALIGN > cur.map.len() {
            return self.next_segment();
        }
        let word = load_word(&cur.map, pos);
        if word == 0 && cur.version >= 2 {
            // Version 2: a segment with a successor ends with a roll marker,
            // so a zero word is the end of what is written now.
            return Ok(load_word(&cur.map, pos) != 0);
        }
        if word == 0 {
            // Version 1: end of data here. If the next segment exists the writer has
            // rolled, but re-check this word after seeing it (no lost record).
            if cur.first_seq == self.expected {
                // No record here yet: the writer cannot have rolled.
                return Ok(load_word(&cur.map, pos) != 0);
            }
            let path = self.dir.join(format::segment_file_name(self.expected));
            if !path.exists() || load_word(&cur.map, pos) != 0 {
                return Ok(load_word(&cur.map, pos) != 0);
            }
            return self.next_segment();
        }
        let frame = if self.expected <= self.crc_checked_through
            && word >> format::KIND_SHIFT == format::KIND_RECORD
        {
            parse_checked_record(&cur.map, pos, word)
        } else {
            format::parse_frame(&cur.map, pos, word)
        };
        match frame {
            Frame::Record {
                seq,
                payload_len,
                frame_len,
            } => {
                if seq != self.expected {
                    return Err(CorruptionError::SequenceGap {
                        file: cur.path.clone(),
                        offset: pos as u64,
                        seq: self.expected,
                        found: seq,
                    }
                    .into());
                }
                if seq >= self.from_seq {
                    self.pending.push(Entry {
                        seq,
                        start: pos + REC_PAYLOAD_OFFSET,
                        len: payload_len,
                        owned: false,
                    });
                }
                self.expected += 1;
                self.pos += frame_len;
                Ok(true)
            }
            Frame::Commit(m) => {
                // Pending sequences are contiguous and end at
                // `expected - 1`: the marker must end there too, and must
                // not start after the first of them.
                let first_pending = self.pending.first().map(|e| e.seq);
                if m.last_seq + 1 != self.expected || first_pending.is_some_and(|s| s < m.first_seq)
                {
                    return Err(CorruptionError::MarkerMismatch {
                        file: cur.path.clone(),
                        offset: pos as u64,
                        seq: first_pending.map_or(m.first_seq, |s| s.min(m.first_seq)),
                        batch_last: self.expected - 1,
                        marker_first: m.first_seq,
                        marker_last: m.last_seq,
                    }
                    .into());
                }
                // The records were read before this marker was. If a new
                // writer replaced them since (see `pending_changed`), this
                // marker is the new writer's and does not commit what was
                // read: read the batch again. If those in this map are
                // unchanged (same length word and sequence at the same
                // offsets), they are the frames this marker commits, and
                // their payloads, which are read from the map only from now
                // on (after the fence in `load_word`), are the committed
                // ones.
                if self.pending_changed() {
                    return self.resync();
                }
                debug_assert_eq!(self.ready_head, self.ready.len(), "step with records ready");
                // The batch is committed: it becomes the ready one, and the
                // old ready buffers (all returned) are reused for the next.
                std::mem::swap(&mut self.pending, &mut self.ready);
                std::mem::swap(&mut self.pending_spill, &mut self.ready_spill);
                self.pending.clear();
                self.pending_spill.clear();
                self.ready_head = 0;
                self.ready_chain = m.chain;
                self.pos += MARKER_LEN;
                Ok(true)
            }
            Frame::Seal(s) => {
                let file = cur.path.clone();
                if s.next_first_seq != self.expected || s.next_index != cur.index + 1 {
                    return Err(CorruptionError::BadFrame {
                        file,
                        offset: pos as u64,
                        seq: self.expected,
                        reason: "roll marker does not match the segment it ends",
                    }
                    .into());
                }
                // The writer installs the successor before writing the roll
                // marker that names it, so it exists now.
                let path = self.dir.join(format::segment_file_name(s.next_first_seq));
                match map_segment(&path)? {
                    Some(map) => {
                        self.enter(path, map, Some(self.expected))?;
                        Ok(true)
                    }
                    None => Err(CorruptionError::MissingSuccessor {
                        file,
                        offset: pos as u64,
                        seq: s.next_first_seq,
                        successor: path,
                    }
                    .into()),
                }
            }
            Frame::Invalid(reason) => Err(CorruptionError::BadFrame {
                file: cur.path.clone(),
                offset: pos as u64,
                seq: self.expected,
                reason,
            }
            .into()),
            Frame::End => unreachable!("word is non-zero"),
        }
    }

    /// Declares that every record up to `seq` had its CRC verified by a full
    /// scan of this journal just before (`keel_journal::verify`, or the
    /// recovery `Journal::open` does), so this reader need not compute it
    /// again. Sequence, bounds, padding and commit-marker checks still run;
    /// records after `seq` (appended since the scan) are CRC-checked as usual.
    pub fn crc_checked_through(&mut self, seq: u64) -> &mut Self {
        self.crc_checked_through = seq;
        self
    }

    /// Next committed record, if one is available now, borrowed from the
    /// mapped segment (no copy, no allocation).
    pub fn try_next_ref(&mut self) -> Result<Option<RecordRef<'_>>, ReadError> {
        while self.ready_head == self.ready.len() {
            if self.dead {
                return Ok(None);
            }
            match self.step() {
                Ok(true) => {}
                Ok(false) => return Ok(None),
                Err(e) => {
                    self.dead = true;
                    return Err(e);
                }
            }
        }
        let e = self.ready[self.ready_head];
        self.ready_head += 1;
        let payload = if e.owned {
            &self.ready_spill[e.start..e.start + e.len]
        } else {
            let cur = self
                .cur
                .as_ref()
                .expect("ready records lie in the current segment");
            &cur.map[e.start..e.start + e.len]
        };
        Ok(Some(RecordRef {
            seq: e.seq,
            payload,
            batch_chain: self.ready_chain,
        }))
    }

    /// Next committed record, if one is available now (an owned copy of
    /// [`Reader::try_next_ref`]'s).
    pub fn try_next(&mut self) -> Result<Option<Record>, ReadError> {
        Ok(self.try_next_ref()?.map(|r| r.to_record()))
    }

    /// Sequence of the next record this reader would return.
    pub fn position(&self) -> u64 {
        self.ready.get(self.ready_head).map_or_else(
            || {
                self.pending
                    .first()
                    .map_or(self.expected.max(self.from_seq), |p| p.seq)
            },
            |r| r.seq,
        )
    }
}

impl Iterator for Reader {
    type Item = Result<Record, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.try_next().transpose()
    }
}

/// Chain value of the commit batch containing `seq` (to validate a snapshot
/// taken at `seq`); `None` if `seq` is not committed.
pub fn chain_at(dir: &Path, seq: u64) -> Result<Option<[u8; 32]>, ReadError> {
    if seq == 0 {
        return Ok(None);
    }
    match Reader::new(dir, seq).try_next()? {
        Some(r) if r.seq == seq => Ok(Some(r.batch_chain)),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Journal, JournalConfig};

    fn cfg(dir: &Path) -> JournalConfig {
        let mut c = JournalConfig::new(dir);
        c.segment_size_bytes = 4096;
        c.max_record_bytes = 1024;
        c
    }

    fn committed(r: &mut Reader) -> Vec<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        while let Some(rec) = r.try_next().unwrap() {
            out.push((rec.seq, rec.payload));
        }
        out
    }

    /// A reader that read an uncommitted record, then sees the journal
    /// re-opened (recovery zeroes the record) and a different record of the
    /// same frame length committed at the same offset, returns the new
    /// record, not the old length over the new bytes.
    #[test]
    fn rewritten_uncommitted_record_is_reread() {
        let d = tempfile::tempdir().unwrap();
        let (mut j, _) = Journal::open(cfg(d.path())).unwrap();
        for _ in 0..3 {
            j.append(b"committed").unwrap();
        }
        j.commit().unwrap();
        j.append(b"hello").unwrap(); // seq 4, 24-byte frame, never committed
        let mut r = Journal::reader(d.path(), 1).unwrap();
        assert_eq!(committed(&mut r).len(), 3);
        drop(j);
        let (mut j, rep) = Journal::open(cfg(d.path())).unwrap();
        assert_eq!(rep.uncommitted_records_dropped, 1);
        assert_eq!(j.append(b"abc").unwrap(), 4); // also a 24-byte frame
        j.commit().unwrap();
        assert_eq!(committed(&mut r), vec![(4, b"abc".to_vec())]);
    }

    /// Same, but the new writer lays the bytes out differently (a commit
    /// marker where the reader had a record): the reader re-reads instead
    /// of reporting corruption.
    #[test]
    fn rewritten_uncommitted_batch_with_other_layout_is_reread() {
        let d = tempfile::tempdir().unwrap();
        let (mut j, _) = Journal::open(cfg(d.path())).unwrap();
        j.append(b"one").unwrap();
        j.commit().unwrap();
        j.append(b"two").unwrap();
        j.append(b"three").unwrap();
        let mut r = Journal::reader(d.path(), 1).unwrap();
        assert_eq!(committed(&mut r), vec![(1, b"one".to_vec())]);
        drop(j);
        let (mut j, _) = Journal::open(cfg(d.path())).unwrap();
        j.append(b"TWO").unwrap();
        j.commit().unwrap();
        j.append(b"THREE").unwrap();
        j.commit().unwrap();
        assert_eq!(
            committed(&mut r),
            vec![(2, b"TWO".to_vec()), (3, b"THREE".to_vec())]
        );
        assert!(r.try_next().unwrap().is_none());
    }
}
