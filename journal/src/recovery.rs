//! Recovery at open: validate everything, drop a torn frame, uncommitted
//! records and empty leftover segments, refuse corruption.

use std::path::{Path, PathBuf};

use crate::error::OpenError;
use crate::format::{self, SegmentHeader, HEADER_LEN};
use crate::segment::{self, SegmentMut};
use crate::verify;

/// What `open` found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// True if the journal was empty and a first segment was created.
    pub created: bool,
    /// Segment files opened and validated.
    pub segments_opened: usize,
    /// Committed records found.
    pub records: u64,
    /// Commit batches found.
    pub batches: u64,
    /// Last committed sequence.
    pub last_sequence: Option<u64>,
    /// Bytes of a torn (unverifiable, last) write that were dropped: zeroed,
    /// or removed with a trailing segment that held no committed data.
    pub torn_tail_bytes: u64,
    /// Valid records after the last commit marker that were dropped.
    pub uncommitted_records_dropped: u64,
    /// Trailing segment files removed (they held no committed data: the
    /// rest of an uncommitted batch, or an empty segment a writer created
    /// before it died, without writing the roll marker naming it).
    pub segments_removed: usize,
}

/// Open a segment for writing, turning "another writer holds it" into
/// [`OpenError::Locked`].
pub(crate) fn open_for_writing(
    path: &Path,
    size: u64,
    what: &str,
) -> Result<SegmentMut, OpenError> {
    segment::open_existing_mut(path, size).map_err(|e| {
        if e.kind() == std::io::ErrorKind::WouldBlock {
            OpenError::Locked {
                path: path.to_path_buf(),
                holder: "another writer that holds this segment file (a writer of another directory that reaches the same file through a hard link, or a moved or copied-by-link segment)".into(),
            }
        } else {
            OpenError::io(path, what, e)
        }
    })
}

pub(crate) struct Recovered {
    pub segment: SegmentMut,
    pub segment_index: u64,
    pub pos: usize,
    pub next_seq: u64,
    pub chain: [u8; 32],
    pub last_committed: Option<u64>,
    pub report: RecoveryReport,
}

pub(crate) fn recover(dir: &Path, new_segment_size: u64) -> Result<Recovered, OpenError> {
    let entries =
        segment::list(dir).map_err(|e| OpenError::io(dir, "listing journal directory", e))?;
    if entries.is_empty() {
        let prep = dir.join(format!("first{}", format::PREP_SUFFIX));
        let mut seg = segment::create(&prep, new_segment_size).map_err(|e| {
            OpenError::io(&prep, "creating the first segment (fallocate + mmap)", e)
        })?;
        let header = SegmentHeader {
            version: format::FORMAT_VERSION,
            index: 0,
            first_seq: 1,
            segment_size: new_segment_size,
            prev_chain: [0; 32],
            writer_version: format::WRITER_VERSION.into(),
        };
        segment::install(&mut seg, dir, &header)
            .map_err(|e| OpenError::io(&prep, "installing the first segment", e))?;
        // Only the header's page: the rest of the prefaulted segment is
        // dirty zeros, and syncing it all would write the whole segment.
        seg.map
            .flush_range(0, HEADER_LEN)
            .map_err(|e| OpenError::io(&seg.path, "syncing the first segment", e))?;
        segment::sync_dir(dir)
            .map_err(|e| OpenError::io(dir, "fsync of the journal directory", e))?;
        return Ok(Recovered {
            segment: seg,
            segment_index: 0,
            pos: HEADER_LEN,
            next_seq: 1,
            chain: [0; 32],
            last_committed: None,
            report: RecoveryReport {
                created: true,
                segments_opened: 1,
                ..Default::default()
            },
        });
    }
    let scan = verify::scan(dir, None)?;
    let (end_seg, end_off) = scan.end;
    let seg_info = &scan.segments[end_seg];
    let zero_to = format::nonzero_end(seg_info.bytes(), end_off);
    let mut report = RecoveryReport {
        created: false,
        segments_opened: scan.segments.len(),
        records: scan.committed_records,
        batches: scan.batches,
        last_sequence: scan.last_commit.map(|c| c.seq),
        torn_tail_bytes: scan.torn.map_or(0, |t| t.bytes),
        uncommitted_records_dropped: scan.uncommitted_records,
        segments_removed: 0,
    };
    let path = seg_info.path.clone();
    // Version 2: the scan checked that the file is exactly its header's
    // size. Version 1: re-extend a file that is shorter than its header
    // says (version 1 allowed that).
    let size = seg_info
        .header
        .segment_size
        .max(seg_info.bytes().len() as u64);
    let segment_index = seg_info.header.index;
    // Every segment file after the end segment holds no committed data.
    let later: Vec<PathBuf> = entries
        .iter()
        .skip(end_seg + 1)
        .map(|e| e.path.clone())
        .collect();
    drop(scan.segments);
    // Order matters if this is interrupted (FORMAT.md, "Recovery"): first
    // empty the later segments, then cut the end segment (which may remove
    // the roll marker naming the next one), then delete the later
    // segments. At every step the journal still opens to the same result:
    // a roll marker always names an existing segment, and no data lies
    // behind a segment end without one.
    for p in &later {
        let mut seg = open_for_writing(p, 0, "opening a segment without committed data")?;
        let end = format::nonzero_end(&seg.map, HEADER_LEN);
        if end > HEADER_LEN {
            seg.map[HEADER_LEN..end].fill(0);
            seg.map
                .flush_range(HEADER_LEN, end - HEADER_LEN)
                .map_err(|e| OpenError::io(p, "syncing an emptied segment", e))?;
        }
    }
    let mut segment = open_for_writing(&path, size, "opening the last segment for writing")?;
    if zero_to > end_off {
        segment.map[end_off..zero_to].fill(0);
        segment
            .map
            .flush_range(end_off, zero_to - end_off)
            .map_err(|e| OpenError::io(&path, "syncing the zeroed tail", e))?;
    }
    for p in later.iter().rev() {
        std::fs::remove_file(p)
            .map_err(|err| OpenError::io(p, "removing a segment without committed data", err))?;
        report.segments_removed += 1;
    }
    if report.segments_removed > 0 {
        segment::sync_dir(dir)
            .map_err(|e| OpenError::io(dir, "fsync of the journal directory", e))?;
    }
    let (next_seq, chain, last_committed) = match scan.last_commit {
        Some(c) => (c.seq + 1, c.chain, Some(c.seq)),
        None => (1, [0; 32], None),
    };
    Ok(Recovered {
        segment,
        segment_index,
        pos: end_off,
        next_seq,
        chain,
        last_committed,
        report,
    })
}
