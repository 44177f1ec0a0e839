//! Full, read-only scan of a journal: CRCs, sequence continuity, segment
//! continuity and the hash chain. Shared by `verify`, `open` (recovery) and
//! `truncate_at` (repair).

use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::error::CorruptionError;
use crate::format::{
    self, Frame, HeaderProblem, SegmentHeader, FORMAT_VERSION, HEADER_LEN, MARKER_LEN,
};
use crate::segment;

/// Summary of a successful [`verify`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Segment files checked.
    pub segments: usize,
    /// Committed records (all CRCs and chain links valid).
    pub records: u64,
    /// Commit batches.
    pub batches: u64,
    /// Last committed sequence and its batch chain.
    pub last_committed: Option<(u64, [u8; 32])>,
    /// Bytes of an unverifiable (torn) tail that `open` would drop.
    pub torn_tail_bytes: u64,
    /// Where the torn tail starts (file, offset), if there is one.
    pub torn_tail_at: Option<(PathBuf, u64)>,
    /// Valid records after the last commit marker that `open` would drop.
    pub uncommitted_records: u64,
    /// Segment files after the end of the data that hold no frame (what a
    /// writer that died between creating its next segment and writing the
    /// roll marker leaves); `open` would remove them.
    pub leftover_segments: usize,
}

/// Read-only full check of the journal in `dir`: every segment header, CRC,
/// sequence, commit and roll marker, segment sizes and continuity and the
/// hash chain, by the rules `open` applies (`FORMAT.md`, "Validation and
/// recovery rules"). What `open` cuts automatically (a torn frame behind a
/// zero length word, uncommitted records, empty leftover segments) is not
/// an error: it is reported. Corruption is returned as a [`CorruptionError`]
/// naming file, offset and sequence.
///
/// Run it on a journal no writer has open (it takes no lock and changes
/// nothing): on a live journal it reads bytes the writer is still writing,
/// and may report the writer's in-progress tail as torn, or even as
/// corruption.
pub fn verify(dir: &Path) -> Result<VerifyReport, CorruptionError> {
    let scan = scan(dir, None)?;
    Ok(VerifyReport {
        segments: scan.segments.len(),
        records: scan.committed_records,
        batches: scan.batches,
        last_committed: scan.last_commit.map(|c| (c.seq, c.chain)),
        torn_tail_bytes: scan.torn.as_ref().map_or(0, |t| t.bytes),
        torn_tail_at: scan
            .torn
            .as_ref()
            .map(|t| (scan.segments[t.seg].path.clone(), t.offset as u64)),
        uncommitted_records: scan.uncommitted_records,
        leftover_segments: scan.leftover_segments,
    })
}

pub(crate) struct ScannedSeg {
    pub path: PathBuf,
    pub header: SegmentHeader,
    pub map: Option<Mmap>,
}

impl ScannedSeg {
    pub fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct CommitPoint {
    pub seq: u64,
    pub chain: [u8; 32],
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Torn {
    pub seg: usize,
    pub offset: usize,
    pub bytes: u64,
}

pub(crate) struct Scan {
    pub segments: Vec<ScannedSeg>,
    pub committed_records: u64,
    pub batches: u64,
    pub last_commit: Option<CommitPoint>,
    /// Position right after the last commit marker (or the first frame slot).
    pub end: (usize, usize),
    pub torn: Option<Torn>,
    pub uncommitted_records: u64,
    /// Stop mode only: where scanning stopped, and the pending batch (first
    /// sequence, chain it would have if committed right there).
    pub stop: Option<StopPoint>,
    /// The sequence after the last valid record scanned (committed or not).
    pub next_expected: u64,
    /// Segment files after the last scanned one (they hold no frame; see
    /// [`VerifyReport::leftover_segments`]).
    pub leftover_segments: usize,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct StopPoint {
    pub seg: usize,
    pub offset: usize,
    pub pending: Option<(u64, [u8; 32])>,
}

struct Batch {
    first_seq: u64,
    hasher: blake3::Hasher,
    range_start: usize,
    records: u64,
}

fn open_map(path: &Path) -> Result<Option<Mmap>, CorruptionError> {
    let file: File =
        segment::open_ro(path).map_err(|e| CorruptionError::io(path, "opening segment", e))?;
    let len = file
        .metadata()
        .map_err(|e| CorruptionError::io(path, "stat of segment", e))?
        .len();
    if len == 0 {
        return Ok(None);
    }
    segment::map_ro(&file)
        .map(Some)
        .map_err(|e| CorruptionError::io(path, "mapping segment", e))
}

fn header_error(path: &Path, p: HeaderProblem) -> CorruptionError {
    match p {
        HeaderProblem::UnknownVersion(version) => CorruptionError::UnknownVersion {
            file: path.to_path_buf(),
            version,
            supported: FORMAT_VERSION,
        },
        p => CorruptionError::BadHeader {
            file: path.to_path_buf(),
            problem: p.to_string(),
        },
    }
}

/// Scan the whole journal. With `stop_at = Some(s)`, stop before the frame of
/// record `s` (after consuming a commit marker that ends the batch at `s - 1`)
/// and ignore everything after it.
pub(crate) fn scan(dir: &Path, stop_at: Option<u64>) -> Result<Scan, CorruptionError> {
    let entries =
        segment::list(dir).map_err(|e| CorruptionError::io(dir, "listing journal directory", e))?;
    let mut out = Scan {
        segments: Vec::with_capacity(entries.len()),
        committed_records: 0,
        batches: 0,
        last_commit: None,
        end: (0, HEADER_LEN),
        torn: None,
        uncommitted_records: 0,
        stop: None,
        next_expected: 1,
        leftover_segments: 0,
    };
    let mut scan_end = (0usize, HEADER_LEN);
    let mut chain = [0u8; 32];
    let mut expected: u64 = 1;
    let mut batch: Option<Batch> = None;
    let mut prev_version = format::OLDEST_READ_VERSION;
    let mut via_seal = false;
    let stopping = |expected: u64| stop_at == Some(expected);

    'segments: for (i, e) in entries.iter().enumerate() {
        let map = open_map(&e.path)?;
        let header = match SegmentHeader::decode(map.as_deref().unwrap_or(&[])) {
            Ok(h) => h,
            Err(_) if i > 0 && stopping(expected) => break,
            Err(p) => return Err(header_error(&e.path, p)),
        };
        let problem = if header.first_seq != e.first_seq {
            Some(CorruptionError::NameMismatch {
                file: e.path.clone(),
                name_seq: e.first_seq,
                header_seq: header.first_seq,
            })
        } else if header.index != i as u64 || header.first_seq != expected {
            Some(CorruptionError::MissingSegment {
                file: e.path.clone(),
                expected_index: i as u64,
                found_index: header.index,
                expected_seq: expected,
                found_seq: header.first_seq,
            })
        } else if header.prev_chain != chain {
            Some(CorruptionError::HeaderChainMismatch {
                file: e.path.clone(),
                seq: expected,
            })
        } else if header.version < prev_version {
            Some(CorruptionError::BadHeader {
                file: e.path.clone(),
                problem: format!(
                    "format version {} after a segment of version {prev_version} (versions never go down)",
                    header.version
                ),
            })
        } else {
            None
        };
        if let Some(p) = problem {
            if i > 0 && stopping(expected) {
                break;
            }
            return Err(p);
        }
        prev_version = header.version;
        // Version 2: the file must be exactly the size it was preallocated
        // to, and only that much of it is read. Version 1: the file's actual
        // length, whatever the header says.
        let strict = header.version >= 2;
        let file_len = map.as_deref().map_or(0, <[u8]>::len);
        let size_ok = !strict || file_len as u64 == header.segment_size;
        // (At least the header, which decoded, so `file_len >= HEADER_LEN`.)
        let room = if strict {
            file_len
                .min(usize::try_from(header.segment_size).unwrap_or(usize::MAX))
                .max(HEADER_LEN)
        } else {
            file_len
        };
        out.segments.push(ScannedSeg {
            path: e.path.clone(),
            header,
            map,
        });
        let seg = out.segments.last().expect("just pushed");
        let buf = &seg.bytes()[..room];
        if via_seal && batch.is_none() {
            // Entered through a roll marker with nothing pending: everything
            // before this segment is committed, so the end moves here.
            out.end = (i, HEADER_LEN);
        }
        via_seal = false;
        let mut pos = HEADER_LEN;
        if let Some(b) = batch.as_mut() {
            b.range_start = HEADER_LEN;
        }
        let mut sealed = None;
        out.torn = None;
        loop {
            let word = if pos + format::FRAME_ALIGN > room {
                0
            } else {
                format::plain_word(buf, pos)
            };
            let frame = format::parse_frame(buf, pos, word);
            if stopping(expected) {
                let ends_batch = matches!((&frame, &batch), (Frame::Commit(m), Some(b))
                    if m.first_seq == b.first_seq && m.last_seq + 1 == expected);
                if !ends_batch {
                    let pending = batch.as_mut().map(|b| {
                        b.hasher.update(&buf[b.range_start..pos]);
                        (b.first_seq, *b.hasher.finalize().as_bytes())
                    });
                    out.stop = Some(StopPoint {
                        seg: i,
                        offset: pos,
                        pending,
                    });
                    break 'segments;
                }
            }
            match frame {
                Frame::End => {
                    if pos + format::FRAME_ALIGN > room {
                        break;
                    }
                    if let Some(off) =
                        format::find_valid_frame_after(buf, pos + format::FRAME_ALIGN)
                    {
                        return Err(CorruptionError::InvalidFrame {
                            file: e.path.clone(),
                            offset: pos as u64,
                            seq: expected,
                            reason: "zero length word (end of data) followed by valid frames",
                            valid_after_file: e.path.clone(),
                            valid_after_offset: off as u64,
                        });
                    }
                    // Non-zero bytes behind the zero word: the body of a
                    // frame whose word was never stored (a torn write).
                    let bytes = (format::nonzero_end(buf, pos) - pos) as u64;
                    if bytes > 0 {
                        out.torn = Some(Torn {
                            seg: i,
                            offset: pos,
                            bytes,
                        });
                    }
                    break;
                }
                Frame::Record { seq, frame_len, .. } => {
                    if seq != expected {
                        return Err(CorruptionError::SequenceGap {
                            file: e.path.clone(),
                            offset: pos as u64,
                            seq: expected,
                            found: seq,
                        });
                    }
                    let b = batch.get_or_insert_with(|| {
                        let mut hasher = blake3::Hasher::new();
                        hasher.update(&chain);
                        Batch {
                            first_seq: seq,
                            hasher,
                            range_start: pos,
                            records: 0,
                        }
                    });
                    b.records += 1;
                    expected += 1;
                    pos += frame_len;
                }
                Frame::Commit(m) => {
                    let Some(mut b) = batch.take() else {
                        return Err(CorruptionError::MarkerMismatch {
                            file: e.path.clone(),
                            offset: pos as u64,
                            seq: expected,
                            batch_last: expected.saturating_sub(1),
                            marker_first: m.first_seq,
                            marker_last: m.last_seq,
                        });
                    };
                    if m.first_seq != b.first_seq || m.last_seq + 1 != expected {
                        return Err(CorruptionError::MarkerMismatch {
                            file: e.path.clone(),
                            offset: pos as u64,
                            seq: b.first_seq,
                            batch_last: expected - 1,
                            marker_first: m.first_seq,
                            marker_last: m.last_seq,
                        });
                    }
                    b.hasher.update(&buf[b.range_start..pos]);
                    if *b.hasher.finalize().as_bytes() != m.chain {
                        return Err(CorruptionError::ChainMismatch {
                            file: e.path.clone(),
                            offset: pos as u64,
                            seq: b.first_seq,
                            last_seq: m.last_seq,
                        });
                    }
                    chain = m.chain;
                    out.committed_records += b.records;
                    out.batches += 1;
                    out.last_commit = Some(CommitPoint {
                        seq: m.last_seq,
                        chain,
                    });
                    pos += MARKER_LEN;
                    out.end = (i, pos);
                }
                Frame::Seal(s) => {
                    if s.next_first_seq != expected
                        || s.next_index != i as u64 + 1
                        || s.chain != chain
                    {
                        return Err(CorruptionError::DamagedFrame {
                            file: e.path.clone(),
                            offset: pos as u64,
                            seq: expected,
                            reason: "roll marker does not match the segment it ends (next sequence, index or chain)",
                        });
                    }
                    if let Some(off) = format::find_valid_frame_after(buf, pos + format::SEAL_LEN) {
                        return Err(CorruptionError::InvalidFrame {
                            file: e.path.clone(),
                            offset: pos as u64,
                            seq: expected,
                            reason:
                                "roll marker (the last frame of a segment) followed by valid frames",
                            valid_after_file: e.path.clone(),
                            valid_after_offset: off as u64,
                        });
                    }
                    sealed = Some((pos, s));
                    break;
                }
                Frame::Invalid(reason) => {
                    if !size_ok {
                        break; // a frame cut by the truncation: reported below
                    }
                    // The length word is written, so this is no torn write.
                    return Err(CorruptionError::DamagedFrame {
                        file: e.path.clone(),
                        offset: pos as u64,
                        seq: expected,
                        reason,
                    });
                }
            }
        }
        if !size_ok {
            return Err(CorruptionError::SegmentSizeMismatch {
                file: e.path.clone(),
                offset: pos as u64,
                seq: expected,
                len: file_len as u64,
                size: out.segments[i].header.segment_size,
            });
        }
        // The data of this segment ends at `pos` (end of data, end of the
        // file, or the roll marker, which is not hashed).
        if let Some(b) = batch.as_mut() {
            b.hasher.update(&buf[b.range_start..pos]);
            b.range_start = pos;
        }
        scan_end = (i, pos);
        if let Some((off, s)) = sealed {
            if i + 1 >= entries.len() {
                return Err(CorruptionError::MissingSuccessor {
                    file: e.path.clone(),
                    offset: off as u64,
                    seq: s.next_first_seq,
                    successor: dir.join(format::segment_file_name(s.next_first_seq)),
                });
            }
            // The next segment's header checks prove it is the one named.
            via_seal = true;
            continue;
        }
        if strict {
            // Version 2 ends a segment that has a successor with a roll
            // marker, so this is the last segment with data. Files after it
            // are what a writer leaves that died after creating its next
            // segment but before writing the roll marker: a valid header
            // and no frame. Anything else there is corruption.
            for later in &entries[i + 1..] {
                let lmap = open_map(&later.path)?;
                let lb = lmap.as_deref().unwrap_or(&[]);
                SegmentHeader::decode(lb).map_err(|p| header_error(&later.path, p))?;
                let w = format::plain_word(lb, HEADER_LEN);
                if w != 0 {
                    return Err(CorruptionError::InvalidFrame {
                        file: e.path.clone(),
                        offset: pos as u64,
                        seq: expected,
                        reason: "end of data without a roll marker, but a later segment holds data (the roll marker was destroyed)",
                        valid_after_file: later.path.clone(),
                        valid_after_offset: HEADER_LEN as u64,
                    });
                }
            }
            out.leftover_segments = entries.len() - i - 1;
            break 'segments;
        }
        // Version 1: the writer left the rest zero and went on in the next
        // segment, if there is one.
    }
    out.next_expected = expected;
    if let Some(b) = batch.as_mut() {
        out.uncommitted_records = b.records;
        if stop_at.is_some() && out.stop.is_none() {
            let (seg, offset) = scan_end;
            out.stop = Some(StopPoint {
                seg,
                offset,
                pending: Some((b.first_seq, *b.hasher.finalize().as_bytes())),
            });
        }
    } else if stop_at.is_some() && out.stop.is_none() {
        out.stop = Some(StopPoint {
            seg: out.end.0,
            offset: out.end.1,
            pending: None,
        });
    }
    Ok(out)
}
