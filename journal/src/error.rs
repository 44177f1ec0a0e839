//! Typed errors, one enum per operation.
//!
//! Every message names what went wrong and, where the caller can do
//! something about it, what to do (restore a file, run `replay repair`,
//! re-open the journal, ...). Offsets are byte offsets inside the named
//! file; sequences are record sequence numbers (the first record is 1).

use std::io;
use std::path::{Path, PathBuf};

/// The journal directory of a segment file (its parent; `.` if none).
fn journal_dir(file: &Path) -> &Path {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// The `replay repair` command that cuts the journal holding `file` at `seq`.
fn repair_cmd(file: &Path, seq: u64) -> String {
    format!(
        "replay repair {} --truncate-at {seq}",
        journal_dir(file).display()
    )
}

/// The on-disk journal is damaged (or not a journal). Names the file, the
/// byte offset inside it and, when known, the sequence expected there.
///
/// Returned by [`crate::verify`], inside [`OpenError::Corrupt`] (from
/// [`crate::Journal::open`]), inside [`ReadError::Corrupt`] (from a
/// [`crate::Reader`] or [`crate::Tailer`]) and inside
/// [`RepairError::CorruptBefore`]. [`CorruptionError::seq`],
/// [`CorruptionError::file`] and [`CorruptionError::offset`] give the
/// location without matching on the variant. Where a variant names a
/// sequence `seq`, everything from `seq` on cannot be trusted and
/// [`crate::truncate_at`] at `seq` (`replay repair DIR --truncate-at SEQ`,
/// which every such message spells out with the journal's directory)
/// cuts history there, keeping a backup of what it cuts. The rules that
/// tell corruption from a torn tail are in `FORMAT.md`, "Validation and
/// recovery rules".
///
/// More variants may be added as the checks grow, so matches need a `_` arm.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CorruptionError {
    /// The 128-byte header at offset 0 of `file` does not decode: the file
    /// is shorter than the header, its magic is not `"KEELJRNL"` or the
    /// header CRC does not match (a [`crate::Reader`] also reports an
    /// unknown version this way). The file is not a valid segment: restore
    /// it from a replica or backup.
    #[error("{}: bad segment header: {problem}; the file is not a valid keel segment (restore it from a replica or backup)", file.display())]
    BadHeader {
        /// The segment file.
        file: PathBuf,
        /// What is wrong with the header, for people to read.
        problem: String,
    },
    /// The segment header of `file` has a format version this build does
    /// not read (it is checked before the header CRC, since another version
    /// may lay its header out differently). Read the journal with a build
    /// of keel that supports `version`.
    #[error("{}: unknown format version {version} (this build reads version {supported}); use a newer keel to read it", file.display())]
    UnknownVersion {
        /// The segment file.
        file: PathBuf,
        /// The version stored in the header.
        version: u32,
        /// The only version this build reads ([`crate::format::FORMAT_VERSION`]).
        supported: u32,
    },
    /// Segment continuity is broken at `file`: its header's segment index
    /// or first sequence is not the one that must follow the previous
    /// segment (a segment was deleted, or a foreign file put in its place).
    /// Restore the missing segment, or cut history at `expected_seq`.
    #[error("{}: segment missing before this file: expected segment index {expected_index} starting at sequence {expected_seq}, found index {found_index} starting at sequence {found_seq}; restore the missing segment or run `{repair}`", file.display(), repair = repair_cmd(file, *expected_seq))]
    MissingSegment {
        /// The segment file whose header does not fit.
        file: PathBuf,
        /// The segment index (0-based position in name order) this file
        /// should have.
        expected_index: u64,
        /// The segment index its header holds.
        found_index: u64,
        /// The sequence this file should start at: the sequence after the
        /// last record of the earlier segments.
        expected_seq: u64,
        /// The first sequence its header holds.
        found_seq: u64,
    },
    /// The first sequence in `file`'s name differs from the one in its
    /// header: the file was renamed or its header rewritten. Restore the
    /// original file.
    #[error("{}: file name says first sequence {name_seq} but the header says {header_seq}", file.display())]
    NameMismatch {
        /// The segment file.
        file: PathBuf,
        /// The first sequence its name says (20 decimal digits).
        name_seq: u64,
        /// The first sequence its header holds.
        header_seq: u64,
    },
    /// The `prev_chain` in `file`'s header is not the chain value of the
    /// last commit marker before it: history before this segment was
    /// edited, or the segment comes from another journal. Cut history at
    /// `seq`.
    #[error("{}: header chain does not match the chain of the last commit before it (offset 0, next sequence {seq}); history was edited or a segment replaced; run `{repair}`", file.display(), repair = repair_cmd(file, *seq))]
    HeaderChainMismatch {
        /// The segment file.
        file: PathBuf,
        /// The segment's first sequence (the first one that cannot be
        /// trusted).
        seq: u64,
    },
    /// An invalid frame (or a zero length word, which ends the data) at
    /// `offset` of `file` is followed by a valid frame at
    /// `valid_after_offset` of `valid_after_file`. Since valid data comes
    /// after it, this is corruption, not a torn last write. Cut history at
    /// `seq`.
    #[error("{} offset {offset}: invalid frame ({reason}) where sequence {seq} was expected, followed by valid data at offset {valid_after_offset} of {} (corruption, not a torn tail); restore the damaged file from a replica or backup, or run `{repair}` to cut history there", file.display(), valid_after_file.display(), repair = repair_cmd(file, *seq))]
    InvalidFrame {
        /// The segment file holding the invalid frame.
        file: PathBuf,
        /// Byte offset of the invalid frame in `file`.
        offset: u64,
        /// The sequence expected at `offset` (the invalid frame's own
        /// sequence field is not trusted: the damage may be in it).
        seq: u64,
        /// Why the frame is invalid, for people to read.
        reason: &'static str,
        /// The segment file holding the valid frame found after it (`file`
        /// or a later segment).
        valid_after_file: PathBuf,
        /// Byte offset of that valid frame in `valid_after_file`.
        valid_after_offset: u64,
    },
    /// A valid record at `offset` of `file` has sequence `found` where
    /// `seq` was expected (a gap or a repeat). Cut history at `seq`.
    #[error("{} offset {offset}: sequence {found} where {seq} was expected (gap or repeat); run `{repair}`", file.display(), repair = repair_cmd(file, *seq))]
    SequenceGap {
        /// The segment file.
        file: PathBuf,
        /// Byte offset of the record in `file`.
        offset: u64,
        /// The sequence expected there.
        seq: u64,
        /// The sequence the record holds.
        found: u64,
    },
    /// The commit marker at `offset` of `file` does not cover exactly the
    /// records of the batch it ends (or there is no batch for it to end).
    /// Cut history at `seq`.
    #[error("{} offset {offset}: commit marker covers sequences {marker_first}..={marker_last} but the batch holds {seq}..={batch_last}; run `{repair}`", file.display(), repair = repair_cmd(file, *seq))]
    MarkerMismatch {
        /// The segment file.
        file: PathBuf,
        /// Byte offset of the commit marker in `file`.
        offset: u64,
        /// First sequence that cannot be trusted: the batch's first
        /// sequence, or the sequence expected next when no batch is open.
        /// A [`crate::Reader`], which need not have read the batch's start,
        /// uses the lower of the marker's first sequence and the first
        /// record it holds of the batch.
        seq: u64,
        /// Last sequence of the records read before the marker.
        batch_last: u64,
        /// First sequence the marker claims.
        marker_first: u64,
        /// Last sequence the marker claims.
        marker_last: u64,
    },
    /// The BLAKE3 chain recomputed over the batch `seq..=last_seq` differs
    /// from the one in its commit marker at `offset` of `file`: some byte of
    /// the batch (or the marker's chain) was edited and its CRC fixed up to
    /// match, or the CRC would have caught it. Cut history at `seq`.
    #[error("{} offset {offset}: hash chain mismatch for the commit batch of sequences {seq}..={last_seq} (some byte of that batch was edited); run `{repair}`", file.display(), repair = repair_cmd(file, *seq))]
    ChainMismatch {
        /// The segment file holding the commit marker.
        file: PathBuf,
        /// Byte offset of the commit marker in `file`.
        offset: u64,
        /// First sequence of the batch.
        seq: u64,
        /// Last sequence of the batch.
        last_seq: u64,
    },
    /// The frame at `offset` of `file` is invalid although its length word
    /// is written (non-zero): a damaged record, commit marker or roll
    /// marker. The writer stores a frame's length word last, so a frame the
    /// writer was still writing when its process died has a zero word; a
    /// non-zero one means the bytes were changed after they were written,
    /// and the frame is refused, never dropped as a torn tail, even when it
    /// is the last one. Restore the file, or cut history at `seq`.
    #[error("{} offset {offset}: damaged frame ({reason}) where sequence {seq} was expected; its length word is written, so this is not a torn write but data changed after it was written (committed records may be lost); restore the file from a replica or backup, or run `{repair}` to cut history there", file.display(), repair = repair_cmd(file, *seq))]
    DamagedFrame {
        /// The segment file.
        file: PathBuf,
        /// Byte offset of the damaged frame in `file`.
        offset: u64,
        /// The sequence expected at `offset` (the frame's own fields are
        /// not trusted). For a damaged commit marker this is the sequence
        /// after its batch: the batch's records are intact (their CRCs
        /// match), and `truncate_at` there commits them with a new marker.
        seq: u64,
        /// Why the frame is invalid, for people to read.
        reason: &'static str,
    },
    /// A segment of format version 2 (or later) is not the size its header
    /// says it was preallocated to. The writer creates every segment at
    /// full size and never shortens one, so the file was truncated (or
    /// extended) by something else, and committed records from `offset`
    /// on may be lost. `offset` is where the data read from the file ends,
    /// `seq` the sequence expected there.
    #[error("{}: segment file is {len} bytes but its header says it was preallocated to {size} bytes: it was cut (or extended) after it was written, not torn; data from offset {offset} (sequence {seq}) on may be lost. Restore the file from a replica or backup, or run `{repair}` to cut history there", file.display(), repair = repair_cmd(file, *seq))]
    SegmentSizeMismatch {
        /// The segment file.
        file: PathBuf,
        /// Byte offset where the data read from the file ends.
        offset: u64,
        /// The sequence expected at `offset`.
        seq: u64,
        /// The file's actual length in bytes.
        len: u64,
        /// The size in its header (`segment_size`).
        size: u64,
    },
    /// `file` ends with a roll marker (at `offset`) naming its successor,
    /// `successor`, which starts at sequence `seq`, but that segment is not
    /// in the directory: it was deleted or renamed, and every record from
    /// `seq` on (and the commit of a batch that spans the roll) may be
    /// lost. Restore the segment, or cut history at `seq`.
    #[error("{} offset {offset}: roll marker names the next segment {} (first sequence {seq}), which is missing: it was deleted or renamed, and committed records from sequence {seq} on may be lost. Restore that file, or run `{repair}` to cut history there", file.display(), successor.display(), repair = repair_cmd(file, *seq))]
    MissingSuccessor {
        /// The segment file holding the roll marker.
        file: PathBuf,
        /// Byte offset of the roll marker in `file`.
        offset: u64,
        /// First sequence of the missing segment.
        seq: u64,
        /// The path the missing segment should have.
        successor: PathBuf,
    },
    /// A [`crate::Reader`] or [`crate::Tailer`] met an invalid frame at
    /// `offset` of `file`. A reader does not scan ahead, so it cannot tell a
    /// torn last write (which [`crate::Journal::open`] drops) from
    /// corruption: run [`crate::verify`] (`replay verify DIR`) to classify
    /// it.
    #[error("{} offset {offset}: invalid frame ({reason}) where sequence {seq} was expected; run `replay verify {}` to classify it (torn tail vs corruption)", file.display(), journal_dir(file).display())]
    BadFrame {
        /// The segment file.
        file: PathBuf,
        /// Byte offset of the invalid frame in `file`.
        offset: u64,
        /// The sequence expected at `offset`.
        seq: u64,
        /// Why the frame is invalid, for people to read.
        reason: &'static str,
    },
    /// An I/O error while scanning (listing the directory, opening, stat or
    /// mapping a segment). Not a verdict on the data: fix the cause
    /// (permissions, a missing directory, ...) and retry.
    #[error("{}: {what}: {source}", path.display())]
    Io {
        /// The file or directory the operation was on.
        path: PathBuf,
        /// The step that failed, for people to read.
        what: String,
        /// The error from the operating system.
        #[source]
        source: io::Error,
    },
}

impl CorruptionError {
    /// The sequence named by the error: the first sequence that cannot be
    /// trusted, to pass to [`crate::truncate_at`]. `None` for errors that do
    /// not name one (a bad header, an unknown version, a name mismatch, I/O).
    pub fn seq(&self) -> Option<u64> {
        match self {
            CorruptionError::MissingSegment { expected_seq, .. } => Some(*expected_seq),
            CorruptionError::HeaderChainMismatch { seq, .. }
            | CorruptionError::InvalidFrame { seq, .. }
            | CorruptionError::DamagedFrame { seq, .. }
            | CorruptionError::SegmentSizeMismatch { seq, .. }
            | CorruptionError::MissingSuccessor { seq, .. }
            | CorruptionError::BadFrame { seq, .. }
            | CorruptionError::SequenceGap { seq, .. }
            | CorruptionError::MarkerMismatch { seq, .. }
            | CorruptionError::ChainMismatch { seq, .. } => Some(*seq),
            _ => None,
        }
    }

    /// The file (or, for [`CorruptionError::Io`], the file or directory) the
    /// error is about. For [`CorruptionError::InvalidFrame`], the file
    /// holding the invalid frame.
    pub fn file(&self) -> &std::path::Path {
        match self {
            CorruptionError::BadHeader { file, .. }
            | CorruptionError::UnknownVersion { file, .. }
            | CorruptionError::MissingSegment { file, .. }
            | CorruptionError::NameMismatch { file, .. }
            | CorruptionError::HeaderChainMismatch { file, .. }
            | CorruptionError::InvalidFrame { file, .. }
            | CorruptionError::DamagedFrame { file, .. }
            | CorruptionError::SegmentSizeMismatch { file, .. }
            | CorruptionError::MissingSuccessor { file, .. }
            | CorruptionError::BadFrame { file, .. }
            | CorruptionError::SequenceGap { file, .. }
            | CorruptionError::MarkerMismatch { file, .. }
            | CorruptionError::ChainMismatch { file, .. } => file,
            CorruptionError::Io { path, .. } => path,
        }
    }

    /// Byte offset inside [`Self::file`] the error is about: 0 for header
    /// problems, the frame's offset for frame problems, `None` for I/O
    /// errors.
    pub fn offset(&self) -> Option<u64> {
        match self {
            CorruptionError::InvalidFrame { offset, .. }
            | CorruptionError::DamagedFrame { offset, .. }
            | CorruptionError::SegmentSizeMismatch { offset, .. }
            | CorruptionError::MissingSuccessor { offset, .. }
            | CorruptionError::BadFrame { offset, .. }
            | CorruptionError::SequenceGap { offset, .. }
            | CorruptionError::MarkerMismatch { offset, .. }
            | CorruptionError::ChainMismatch { offset, .. } => Some(*offset),
            CorruptionError::BadHeader { .. }
            | CorruptionError::UnknownVersion { .. }
            | CorruptionError::MissingSegment { .. }
            | CorruptionError::NameMismatch { .. }
            | CorruptionError::HeaderChainMismatch { .. } => Some(0),
            CorruptionError::Io { .. } => None,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, what: impl Into<String>, source: io::Error) -> Self {
        CorruptionError::Io {
            path: path.into(),
            what: what.into(),
            source,
        }
    }
}

/// Errors from [`crate::Journal::open`] and the read-side constructors
/// ([`crate::Journal::reader`], [`crate::Journal::tail`]).
///
/// More variants may be added, so matches need a `_` arm.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The [`crate::JournalConfig`] is invalid: `segment_size_bytes` is not
    /// a non-zero multiple of 4096, `max_record_bytes` exceeds
    /// [`crate::format::MAX_PAYLOAD_LEN`], or a segment cannot hold the
    /// header, one record of `max_record_bytes` and a commit marker. The
    /// message says which; fix the config. Nothing on disk was touched.
    #[error("invalid journal config: {0}")]
    Config(String),
    /// A file-system operation failed (creating or listing the directory,
    /// taking the lock, creating, preallocating, mapping or syncing a
    /// segment, ...), or the path given to a read-side constructor is not an
    /// existing directory (`source` is then [`io::ErrorKind::NotFound`]). A
    /// full disk shows up here when `open` preallocates a segment.
    #[error("{}: {what}: {source}", path.display())]
    Io {
        /// The file or directory the operation was on.
        path: PathBuf,
        /// The step that failed, for people to read.
        what: String,
        /// The error from the operating system.
        #[source]
        source: io::Error,
    },
    /// Another [`crate::Journal`] (in this or another process) or a running
    /// [`crate::truncate_at`] holds the journal's single-writer lock: the
    /// exclusive `flock` on the journal directory itself (removing or
    /// renaming `LOCK` does not release it), or on the segment file that
    /// would be written. A journal has one writer at a time; readers need
    /// no lock.
    #[error("journal {} is in use by {holder} (another keel is writing it); stop that process first: only one writer may open a journal (readers need no lock)", path.display())]
    Locked {
        /// The journal directory (or, if a segment file was found locked,
        /// that file).
        path: PathBuf,
        /// Who holds the lock, as its `LOCK` file names it (pid and start
        /// time), or what is known when that file is gone.
        holder: String,
    },
    /// Recovery found corruption and refused to open the journal; nothing
    /// was changed. See [`CorruptionError`] for what to do.
    #[error("journal is corrupt: {0}")]
    Corrupt(#[from] CorruptionError),
    /// `requested` is outside the committed range `first..=last`.
    ///
    /// This version of the crate never returns it: the read-side
    /// constructors accept any start sequence (a reader that starts past
    /// the last committed record returns nothing until that record is
    /// committed).
    #[error("sequence {requested} is not in the journal (committed range is {first}..={last}); pick a sequence in that range")]
    SequenceOutOfRange {
        /// The sequence asked for.
        requested: u64,
        /// First committed sequence.
        first: u64,
        /// Last committed sequence.
        last: u64,
    },
}

impl OpenError {
    pub(crate) fn io(path: impl Into<PathBuf>, what: impl Into<String>, source: io::Error) -> Self {
        OpenError::Io {
            path: path.into(),
            what: what.into(),
            source,
        }
    }
}

/// Errors from [`crate::Journal::reserve`], [`crate::Journal::append`],
/// [`crate::Reservation::seal`] and [`crate::Journal::commit`].
///
/// More variants may be added, so matches need a `_` arm.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppendError {
    /// A payload (or reservation) of `len` bytes is larger than the
    /// configured `max_record_bytes`. Nothing was written and the journal
    /// stays usable: split the payload or raise
    /// [`crate::JournalConfig::max_record_bytes`].
    #[error("record of {len} bytes exceeds max_record_bytes = {max}; split the payload or raise max_record_bytes")]
    TooLarge {
        /// Payload length asked for, in bytes.
        len: usize,
        /// The configured maximum payload length, in bytes.
        max: u32,
    },
    /// [`crate::Reservation::seal`] was called with more bytes than were
    /// reserved. The reservation is discarded (zeroed, no record is
    /// appended) and the journal stays usable; this is a bug in the caller.
    #[error("seal length {len} exceeds the reserved {reserved} bytes")]
    SealTooLong {
        /// Length passed to `seal`, in bytes.
        len: usize,
        /// Length reserved, in bytes.
        reserved: usize,
    },
    /// The journal is in the failed (fail-stop) state: a durability sync
    /// (msync of the batch, fsync of the directory) failed, or the next
    /// segment could not be prepared or installed (for instance a full
    /// disk). Every later reserve/append/commit returns this error; the
    /// batch being built is not committed, and nothing after the last
    /// successful commit is durable. Drop the [`crate::Journal`] and open it
    /// again: recovery keeps exactly the committed records.
    #[error("journal is in the failed (fail-stop) state since {cause}; nothing after the last successful commit is durable. Drop this Journal and re-open it (recovery keeps only committed data)")]
    Failed {
        /// What failed first, for people to read.
        cause: String,
    },
}

/// Errors while reading committed records ([`crate::Reader`],
/// [`crate::Tailer`], [`crate::chain_at`]).
///
/// After returning an error a reader is finished: it returns no more
/// records (`Ok(None)` / `None`). Deal with the cause and create a new one.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The reader met data it cannot accept (see [`CorruptionError`]; a
    /// reader reports an invalid frame as [`CorruptionError::BadFrame`],
    /// since it cannot tell a torn tail from corruption without a full
    /// scan).
    #[error("corrupt journal while reading: {0}")]
    Corrupt(#[from] CorruptionError),
    /// Listing the journal directory, or opening, stat or mapping a segment
    /// failed.
    #[error("{}: {what}: {source}", path.display())]
    Io {
        /// The file or directory the operation was on.
        path: PathBuf,
        /// The step that failed, for people to read.
        what: String,
        /// The error from the operating system.
        #[source]
        source: io::Error,
    },
}

/// Errors from [`crate::truncate_at`].
///
/// More variants may be added, so matches need a `_` arm.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RepairError {
    /// `seq` cannot be a cut point: it is 0 (sequences start at 1), the
    /// journal has no segments, or `seq` is past the sequence after the last
    /// record (nothing to cut). Nothing was changed.
    #[error("cannot truncate at sequence {seq}: {reason}")]
    BadSequence {
        /// The sequence asked for.
        seq: u64,
        /// Why it cannot be used, for people to read.
        reason: String,
    },
    /// History before `seq` is itself corrupt, so cutting at `seq` would
    /// not leave a valid journal. Nothing was changed; cut earlier, at
    /// `source.seq()` when it names a sequence.
    #[error("history before sequence {seq} is itself corrupt, truncate earlier: {source}")]
    CorruptBefore {
        /// The sequence asked for.
        seq: u64,
        /// The corruption found before it.
        #[source]
        source: CorruptionError,
    },
    /// A file-system operation failed; `what` names the step. The journal
    /// is changed only after the backup file is written and synced, so cut
    /// bytes are never lost; running [`crate::truncate_at`] again with the
    /// same `seq` and a new backup path finishes an interrupted cut. The
    /// backup path must not exist yet.
    #[error("{}: {what}: {source}", path.display())]
    Io {
        /// The file or directory the operation was on.
        path: PathBuf,
        /// The step that failed, for people to read.
        what: String,
        /// The error from the operating system.
        #[source]
        source: io::Error,
    },
    /// A writer ([`crate::Journal`]) or another repair holds the journal's
    /// single-writer lock (see [`OpenError::Locked`]); stop it before
    /// repairing. Nothing was changed.
    #[error("journal {} is in use by {holder} (a keel is writing it); stop that process before repairing", path.display())]
    Locked {
        /// The journal directory (or the locked segment file).
        path: PathBuf,
        /// Who holds the lock, as its `LOCK` file names it.
        holder: String,
    },
}
