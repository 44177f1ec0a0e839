//! `truncate_at`: cut history at a sequence, keeping a backup of what was cut.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::RepairError;
use crate::format::{
    self, CommitMarker, SealMarker, SegmentHeader, HEADER_LEN, MARKER_LEN, MARKER_WORD, SEAL_LEN,
    SEAL_WORD,
};
use crate::segment;
use crate::verify;

/// Magic at the start of a truncation backup file.
pub const BACKUP_MAGIC: [u8; 8] = *b"KEELBAK1";

/// What [`truncate_at`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TruncateReport {
    /// The journal now ends at this sequence (`None`: empty).
    pub last_seq: Option<u64>,
    /// Bytes copied into the backup file (segment bytes, excluding framing).
    pub backup_bytes: u64,
    /// Segment files removed.
    pub segments_removed: usize,
    /// True if a new commit marker was written to commit `..seq-1`.
    pub wrote_marker: bool,
}

fn io(path: &Path, what: &str) -> impl FnOnce(std::io::Error) -> RepairError {
    let path = path.to_path_buf();
    let what = what.to_string();
    move |source| RepairError::Io { path, what, source }
}

fn backup_entry(
    out: &mut File,
    backup: &Path,
    name: &str,
    offset: u64,
    bytes: &[u8],
) -> Result<(), RepairError> {
    let mut head = Vec::with_capacity(2 + name.len() + 16);
    head.extend_from_slice(&(name.len() as u16).to_le_bytes());
    head.extend_from_slice(name.as_bytes());
    head.extend_from_slice(&offset.to_le_bytes());
    head.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    out.write_all(&head).map_err(io(backup, "writing backup"))?;
    out.write_all(bytes).map_err(io(backup, "writing backup"))
}

/// Move every record from `seq` on (and anything unreadable after it) into
/// `backup_path` (a new file; see FORMAT.md), and leave a valid journal that
/// ends at `seq - 1`, writing a fresh commit marker if `seq - 1` was not at a
/// batch end. Works when the journal is corrupt at or after `seq`; refuses if
/// it is corrupt before.
///
/// It takes the journal's single-writer lock, so no writer can have the
/// journal open
/// ([`RepairError::Locked`] otherwise). No [`crate::Reader`] or
/// [`crate::Tailer`] may have it open either: readers take no lock, and this
/// rewrites committed bytes in place (zeroes the cut, writes the new marker),
/// so a reader open across it may return cut records or fail. `backup_path`
/// must not exist yet. Errors: see [`RepairError`].
pub fn truncate_at(
    dir: &Path,
    seq: u64,
    backup_path: &Path,
) -> Result<TruncateReport, RepairError> {
    if seq == 0 {
        return Err(RepairError::BadSequence {
            seq,
            reason: "sequences start at 1".into(),
        });
    }
    let _lock = match segment::lock(dir).map_err(io(dir, "locking journal"))? {
        Ok(lock) => lock,
        Err(held) => {
            return Err(RepairError::Locked {
                path: dir.into(),
                holder: held.holder,
            })
        }
    };
    let scan = verify::scan(dir, Some(seq))
        .map_err(|source| RepairError::CorruptBefore { seq, source })?;
    if scan.segments.is_empty() {
        return Err(RepairError::BadSequence {
            seq,
            reason: "the journal has no segments".into(),
        });
    }
    if seq > scan.next_expected {
        return Err(RepairError::BadSequence {
            seq,
            reason: format!(
                "the journal's records end at sequence {}; nothing to cut",
                scan.next_expected - 1
            ),
        });
    }
    let stop = scan.stop.expect("stop point in stop mode");
    let prev_chain = scan.last_commit.map_or([0; 32], |c| c.chain);
    let stop_seg_path: PathBuf = scan.segments[stop.seg].path.clone();
    let stop_header = scan.segments[stop.seg].header.clone();
    let stop_bytes = scan.segments[stop.seg].bytes();
    let cut_end = format::nonzero_end(stop_bytes, stop.offset);
    let entries = segment::list(dir).map_err(io(dir, "listing journal"))?;
    let stop_entry = entries
        .iter()
        .position(|e| e.path == stop_seg_path)
        .expect("scanned segment is listed");

    // 1. Backup (durable before anything is changed).
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(backup_path)
        .map_err(io(backup_path, "creating backup file (it must not exist)"))?;
    out.write_all(&BACKUP_MAGIC)
        .map_err(io(backup_path, "writing backup"))?;
    let mut backup_bytes = 0u64;
    let name = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    backup_entry(
        &mut out,
        backup_path,
        &name(&stop_seg_path),
        stop.offset as u64,
        &stop_bytes[stop.offset..cut_end],
    )?;
    backup_bytes += (cut_end - stop.offset) as u64;
    for e in &entries[stop_entry + 1..] {
        let bytes = std::fs::read(&e.path).map_err(io(&e.path, "reading segment for backup"))?;
        backup_entry(&mut out, backup_path, &name(&e.path), 0, &bytes)?;
        backup_bytes += bytes.len() as u64;
    }
    out.sync_all().map_err(io(backup_path, "syncing backup"))?;
    drop(scan);

    // 2. Remove later segments.
    let mut segments_removed = 0;
    for e in &entries[stop_entry + 1..] {
        std::fs::remove_file(&e.path).map_err(io(&e.path, "removing segment"))?;
        segments_removed += 1;
    }

    // 3. Zero the cut part of the stop segment; re-commit a pending batch.
    let size = stop_header.segment_size.max(HEADER_LEN as u64);
    let mut seg = segment::open_existing_mut(&stop_seg_path, size).map_err(|e| {
        if e.kind() == std::io::ErrorKind::WouldBlock {
            RepairError::Locked {
                path: stop_seg_path.clone(),
                holder: "another writer that holds this segment file".into(),
            }
        } else {
            io(&stop_seg_path, "opening segment")(e)
        }
    })?;
    let end = cut_end.min(seg.map.len());
    seg.map[stop.offset..end].fill(0);
    let mut wrote_marker = false;
    if let Some((first_seq, chain)) = stop.pending {
        let marker = CommitMarker {
            first_seq,
            last_seq: seq - 1,
            chain,
        };
        let mut buf = [0u8; MARKER_LEN];
        marker.encode_body(&mut buf);
        buf[..4].copy_from_slice(&MARKER_WORD.to_le_bytes());
        // Frames other than a roll marker keep the last SEAL_LEN bytes free
        // (version 2), so that a roll marker always fits.
        let limit = if stop_header.version >= 2 {
            seg.map.len().saturating_sub(SEAL_LEN)
        } else {
            seg.map.len()
        };
        if stop.offset + MARKER_LEN <= limit {
            seg.map[stop.offset..stop.offset + MARKER_LEN].copy_from_slice(&buf);
        } else {
            // No room: the marker opens a new segment, which the stop
            // segment's roll marker names once that segment is durable.
            let prep = dir.join(format!("repair{}", format::PREP_SUFFIX));
            let mut next = segment::create(&prep, size).map_err(io(&prep, "creating segment"))?;
            let header = SegmentHeader {
                version: format::FORMAT_VERSION,
                index: stop_header.index + 1,
                first_seq: seq,
                segment_size: size,
                prev_chain,
                writer_version: format::WRITER_VERSION.into(),
            };
            segment::install(&mut next, dir, &header).map_err(io(&prep, "installing segment"))?;
            next.map[HEADER_LEN..HEADER_LEN + MARKER_LEN].copy_from_slice(&buf);
            next.map
                .flush()
                .map_err(io(&next.path, "syncing segment"))?;
            segment::sync_dir(dir).map_err(io(dir, "fsync of directory"))?;
            if stop.offset + SEAL_LEN <= seg.map.len() {
                let seal = SealMarker {
                    next_first_seq: seq,
                    next_index: stop_header.index + 1,
                    chain: prev_chain,
                };
                let mut sbuf = [0u8; SEAL_LEN];
                seal.encode_body(&mut sbuf);
                sbuf[..4].copy_from_slice(&SEAL_WORD.to_le_bytes());
                seg.map[stop.offset..stop.offset + SEAL_LEN].copy_from_slice(&sbuf);
            }
        }
        wrote_marker = true;
    }
    seg.map
        .flush()
        .map_err(io(&stop_seg_path, "syncing segment"))?;
    drop(seg);
    if stop_header.version >= 2 {
        // A version-2 segment is exactly its header's size: bytes someone
        // appended past it were backed up with the cut; drop them.
        let f = OpenOptions::new()
            .write(true)
            .open(&stop_seg_path)
            .map_err(io(&stop_seg_path, "opening segment"))?;
        if f.metadata()
            .map_err(io(&stop_seg_path, "stat of segment"))?
            .len()
            > size
        {
            f.set_len(size)
                .and_then(|()| f.sync_all())
                .map_err(io(&stop_seg_path, "cutting the segment to its size"))?;
        }
    }
    segment::sync_dir(dir).map_err(io(dir, "fsync of directory"))?;
    Ok(TruncateReport {
        last_seq: seq.checked_sub(1).filter(|&s| s > 0),
        backup_bytes,
        segments_removed,
        wrote_marker,
    })
}
