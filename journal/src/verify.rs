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
}

/// Read-only full check of the journal in `dir`: every segment header, CRC,
/// sequence and commit marker, segment continuity and the hash chain, by the
/// rules `open` applies (`FORMAT.md`, "Validation and recovery rules"). A
/// torn tail and uncommitted records are not errors: they are reported
/// (`open` would drop them). Corruption is returned as a [`CorruptionError`]
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
    let file = File::open(path).map_err(|e| CorruptionError::io(path, "opening segment", e))?;
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

/// Does any segment after `after` hold a valid frame right after its header?
fn later_valid_data(entries: &[segment::SegmentEntry], after: usize) -> Option<(PathBuf, u64)> {
    for e in &entries[after + 1..] {
        let Ok(Some(map)) = open_map(&e.path) else {
            continue;
        };
        if SegmentHeader::decode(&map).is_err() {
            continue;
        }
        let w = format::plain_word(&map, HEADER_LEN);
        if matches!(
            format::parse_frame(&map, HEADER_LEN, w),
            Frame::Record { .. } | Frame::Commit(_)
        ) {
            return Some((e.path.clone(), HEADER_LEN as u64));
        }
    }
    None
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
    };
    let mut scan_end = (0usize, HEADER_LEN);
    let mut chain = [0u8; 32];
    let mut expected: u64 = 1;
    let mut batch: Option<Batch> = None;
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
        } else {
            None
        };
        if let Some(p) = problem {
            if i > 0 && stopping(expected) {
                break;
            }
            return Err(p);
        }
        out.segments.push(ScannedSeg {
            path: e.path.clone(),
            header,
            map,
        });
        let seg = out.segments.last().expect("just pushed");
        let buf = seg.bytes();
        let mut pos = HEADER_LEN;
        if let Some(b) = batch.as_mut() {
            b.range_start = HEADER_LEN;
        }
        loop {
            if pos + format::FRAME_ALIGN > buf.len() {
                break;
            }
            let word = format::plain_word(buf, pos);
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
                Frame::Invalid(reason) => {
                    let after = format::find_valid_frame_after(buf, pos + format::FRAME_ALIGN)
                        .map(|off| (e.path.clone(), off as u64))
                        .or_else(|| later_valid_data(&entries, i));
                    if let Some((valid_after_file, valid_after_offset)) = after {
                        return Err(CorruptionError::InvalidFrame {
                            file: e.path.clone(),
                            offset: pos as u64,
                            seq: expected,
                            reason,
                            valid_after_file,
                            valid_after_offset,
                        });
                    }
                    let bytes = (format::nonzero_end(buf, pos) - pos) as u64;
                    out.torn = Some(Torn {
                        seg: i,
                        offset: pos,
                        bytes,
                    });
                    if let Some(b) = batch.as_mut() {
                        b.hasher.update(&buf[b.range_start..pos]);
                    }
                    break 'segments;
                }
            }
        }
        if let Some(b) = batch.as_mut() {
            b.hasher.update(&buf[b.range_start..pos]);
            b.range_start = pos;
        }
        scan_end = (i, pos);
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
