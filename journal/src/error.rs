//! Typed errors, one enum per operation.

use std::io;
use std::path::PathBuf;

/// The on-disk journal is damaged (or not a journal). Names the file, the
/// byte offset inside it and, when known, the sequence expected there.
#[derive(Debug, thiserror::Error)]
pub enum CorruptionError {
    #[error("{}: bad segment header: {problem}; the file is not a valid keel segment (restore it from a replica or backup)", file.display())]
    BadHeader { file: PathBuf, problem: String },
    #[error("{}: unknown format version {version} (this build reads version {supported}); use a newer keel to read it", file.display())]
    UnknownVersion {
        file: PathBuf,
        version: u32,
        supported: u32,
    },
    #[error("{}: segment missing before this file: expected segment index {expected_index} starting at sequence {expected_seq}, found index {found_index} starting at sequence {found_seq}; restore the missing segment or run `replay repair DIR --truncate-at {expected_seq}`", file.display())]
    MissingSegment {
        file: PathBuf,
        expected_index: u64,
        found_index: u64,
        expected_seq: u64,
        found_seq: u64,
    },
    #[error("{}: file name says first sequence {name_seq} but the header says {header_seq}", file.display())]
    NameMismatch {
        file: PathBuf,
        name_seq: u64,
        header_seq: u64,
    },
    #[error("{}: header chain does not match the chain of the last commit before it (offset 0, next sequence {seq}); history was edited or a segment replaced; run `replay repair DIR --truncate-at {seq}`", file.display())]
    HeaderChainMismatch { file: PathBuf, seq: u64 },
    #[error("{} offset {offset}: invalid frame ({reason}) where sequence {seq} was expected, followed by valid data at offset {valid_after_offset} of {} (corruption, not a torn tail); run `replay repair DIR --truncate-at {seq}` to cut history there", file.display(), valid_after_file.display())]
    InvalidFrame {
        file: PathBuf,
        offset: u64,
        seq: u64,
        reason: &'static str,
        valid_after_file: PathBuf,
        valid_after_offset: u64,
    },
    #[error("{} offset {offset}: sequence {found} where {seq} was expected (gap or repeat); run `replay repair DIR --truncate-at {seq}`", file.display())]
    SequenceGap {
        file: PathBuf,
        offset: u64,
        seq: u64,
        found: u64,
    },
    #[error("{} offset {offset}: commit marker covers sequences {marker_first}..={marker_last} but the batch holds {seq}..={batch_last}; run `replay repair DIR --truncate-at {seq}`", file.display())]
    MarkerMismatch {
        file: PathBuf,
        offset: u64,
        seq: u64,
        batch_last: u64,
        marker_first: u64,
        marker_last: u64,
    },
    #[error("{} offset {offset}: hash chain mismatch for the commit batch of sequences {seq}..={last_seq} (some byte of that batch was edited); run `replay repair DIR --truncate-at {seq}`", file.display())]
    ChainMismatch {
        file: PathBuf,
        offset: u64,
        seq: u64,
        last_seq: u64,
    },
    #[error("{} offset {offset}: invalid frame ({reason}) where sequence {seq} was expected; run `replay verify DIR` to classify it (torn tail vs corruption)", file.display())]
    BadFrame {
        file: PathBuf,
        offset: u64,
        seq: u64,
        reason: &'static str,
    },
    #[error("{}: {what}: {source}", path.display())]
    Io {
        path: PathBuf,
        what: String,
        #[source]
        source: io::Error,
    },
}

impl CorruptionError {
    /// The sequence named by the error (first sequence that cannot be trusted).
    pub fn seq(&self) -> Option<u64> {
        match self {
            CorruptionError::MissingSegment { expected_seq, .. } => Some(*expected_seq),
            CorruptionError::HeaderChainMismatch { seq, .. }
            | CorruptionError::InvalidFrame { seq, .. }
            | CorruptionError::BadFrame { seq, .. }
            | CorruptionError::SequenceGap { seq, .. }
            | CorruptionError::MarkerMismatch { seq, .. }
            | CorruptionError::ChainMismatch { seq, .. } => Some(*seq),
            _ => None,
        }
    }

    /// The file the error is about.
    pub fn file(&self) -> &std::path::Path {
        match self {
            CorruptionError::BadHeader { file, .. }
            | CorruptionError::UnknownVersion { file, .. }
            | CorruptionError::MissingSegment { file, .. }
            | CorruptionError::NameMismatch { file, .. }
            | CorruptionError::HeaderChainMismatch { file, .. }
            | CorruptionError::InvalidFrame { file, .. }
            | CorruptionError::BadFrame { file, .. }
            | CorruptionError::SequenceGap { file, .. }
            | CorruptionError::MarkerMismatch { file, .. }
            | CorruptionError::ChainMismatch { file, .. } => file,
            CorruptionError::Io { path, .. } => path,
        }
    }

    /// Byte offset inside [`Self::file`] the error is about, when known.
    pub fn offset(&self) -> Option<u64> {
        match self {
            CorruptionError::InvalidFrame { offset, .. }
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

/// Errors from [`crate::Journal::open`] and the read-side constructors.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("invalid journal config: {0}")]
    Config(String),
    #[error("{}: {what}: {source}", path.display())]
    Io {
        path: PathBuf,
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("{}: another writer holds the journal lock; only one writer may open a journal", path.display())]
    Locked { path: PathBuf },
    #[error("journal is corrupt: {0}")]
    Corrupt(#[from] CorruptionError),
    #[error("sequence {requested} is not in the journal (committed range is {first}..={last}); pick a sequence in that range")]
    SequenceOutOfRange {
        requested: u64,
        first: u64,
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

/// Errors from reserve/append/commit.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("record of {len} bytes exceeds max_record_bytes = {max}; split the payload or raise max_record_bytes")]
    TooLarge { len: usize, max: u32 },
    #[error("seal length {len} exceeds the reserved {reserved} bytes")]
    SealTooLong { len: usize, reserved: usize },
    #[error("journal is in the failed (fail-stop) state since {cause}; nothing after the last successful commit is durable. Drop this Journal and re-open it (recovery keeps only committed data)")]
    Failed { cause: String },
}

/// Errors while reading committed records.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("corrupt journal while reading: {0}")]
    Corrupt(#[from] CorruptionError),
    #[error("{}: {what}: {source}", path.display())]
    Io {
        path: PathBuf,
        what: String,
        #[source]
        source: io::Error,
    },
}

/// Errors from [`crate::truncate_at`].
#[derive(Debug, thiserror::Error)]
pub enum RepairError {
    #[error("cannot truncate at sequence {seq}: {reason}")]
    BadSequence { seq: u64, reason: String },
    #[error("history before sequence {seq} is itself corrupt, truncate earlier: {source}")]
    CorruptBefore {
        seq: u64,
        #[source]
        source: CorruptionError,
    },
    #[error("{}: {what}: {source}", path.display())]
    Io {
        path: PathBuf,
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("{}: another writer holds the journal lock; stop it before repairing", path.display())]
    Locked { path: PathBuf },
}
