//! Read committed records, from any sequence, while a writer may be running.

use std::collections::VecDeque;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use memmap2::Mmap;

use crate::error::{CorruptionError, ReadError};
use crate::format::{self, Frame, SegmentHeader, HEADER_LEN, MARKER_LEN, REC_PAYLOAD_OFFSET};
use crate::segment;

/// A committed record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Its sequence.
    pub seq: u64,
    /// Its payload.
    pub payload: Vec<u8>,
    /// Chain value of the commit batch that contains it.
    pub batch_chain: [u8; 32],
}

struct Current {
    path: PathBuf,
    map: Mmap,
    first_seq: u64,
}

/// Iterator over committed records starting at a sequence. `next()` returning
/// `None` means "no more committed records right now"; calling it again later
/// continues (this is what [`crate::Tailer`] does).
pub struct Reader {
    dir: PathBuf,
    from_seq: u64,
    cur: Option<Current>,
    pos: usize,
    expected: u64,
    pending: Vec<(u64, Vec<u8>)>,
    ready: VecDeque<Record>,
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

/// Acquire load of the frame word at `off` (0 if out of bounds).
#[inline]
fn load_word(map: &Mmap, off: usize) -> u32 {
    if off % 4 != 0 || off + 4 > map.len() {
        return 0;
    }
    // SAFETY: in bounds and 4-aligned (page-aligned mapping, checked offset).
    // The mapping lives as long as `map`. The writer stores this word with a
    // Release atomic store; an atomic load on a read-only shared mapping is
    // a plain aligned load on all supported targets.
    let w = unsafe { AtomicU32::from_ptr(map.as_ptr().add(off).cast::<u32>().cast_mut()) };
    w.load(Ordering::Acquire)
}

fn map_segment(path: &Path) -> Result<Option<Mmap>, ReadError> {
    let file = match File::open(path) {
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

impl Reader {
    pub(crate) fn new(dir: &Path, from_seq: u64) -> Reader {
        Reader {
            dir: dir.to_path_buf(),
            from_seq: from_seq.max(1),
            cur: None,
            pos: 0,
            expected: 0,
            pending: Vec::new(),
            ready: VecDeque::new(),
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
            if h.first_seq != e {
                return Err(CorruptionError::MissingSegment {
                    file: path,
                    expected_index: 0,
                    found_index: h.index,
                    expected_seq: e,
                    found_seq: h.first_seq,
                }
                .into());
            }
        }
        self.expected = h.first_seq;
        self.pos = HEADER_LEN;
        self.cur = Some(Current {
            path,
            map,
            first_seq: h.first_seq,
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

    /// Process one frame. Ok(false): nothing more committed right now.
    fn step(&mut self) -> Result<bool, ReadError> {
        if self.cur.is_none() && !self.start()? {
            return Ok(false);
        }
        let cur = self.cur.as_ref().expect("current segment");
        let pos = self.pos;
        if pos + format::FRAME_ALIGN > cur.map.len() {
            return self.next_segment();
        }
        let word = load_word(&cur.map, pos);
        if word == 0 {
            // End of data here. If the next segment exists the writer has
            // rolled, but re-check this word after seeing it (no lost record).
            let path = self.dir.join(format::segment_file_name(self.expected));
            if cur.first_seq == self.expected || !path.exists() || load_word(&cur.map, pos) != 0 {
                return Ok(load_word(&cur.map, pos) != 0);
            }
            return self.next_segment();
        }
        match format::parse_frame(&cur.map, pos, word) {
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
                    let p =
                        &cur.map[pos + REC_PAYLOAD_OFFSET..pos + REC_PAYLOAD_OFFSET + payload_len];
                    self.pending.push((seq, p.to_vec()));
                }
                self.expected += 1;
                self.pos += frame_len;
                Ok(true)
            }
            Frame::Commit(m) => {
                if m.last_seq + 1 != self.expected {
                    return Err(CorruptionError::MarkerMismatch {
                        file: cur.path.clone(),
                        offset: pos as u64,
                        seq: m.first_seq,
                        batch_last: self.expected - 1,
                        marker_first: m.first_seq,
                        marker_last: m.last_seq,
                    }
                    .into());
                }
                for (seq, payload) in self.pending.drain(..) {
                    assert!(
                        seq >= m.first_seq && seq <= m.last_seq,
                        "record {seq} outside its batch"
                    );
                    self.ready.push_back(Record {
                        seq,
                        payload,
                        batch_chain: m.chain,
                    });
                }
                self.pos += MARKER_LEN;
                Ok(true)
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

    /// Next committed record, if one is available now.
    pub fn try_next(&mut self) -> Result<Option<Record>, ReadError> {
        loop {
            if let Some(r) = self.ready.pop_front() {
                return Ok(Some(r));
            }
            if self.dead {
                return Ok(None);
            }
            match self.step() {
                Ok(true) => continue,
                Ok(false) => return Ok(None),
                Err(e) => {
                    self.dead = true;
                    return Err(e);
                }
            }
        }
    }

    /// Sequence of the next record this reader would return.
    pub fn position(&self) -> u64 {
        self.ready.front().map_or_else(
            || {
                self.pending
                    .first()
                    .map_or(self.expected.max(self.from_seq), |p| p.0)
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
