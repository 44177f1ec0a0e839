//! Keel journal: the system of record.
//!
//! An mmap'd, append-only, segmented log of opaque payloads, each with a
//! contiguous `u64` sequence (starting at 1). Records are CRC32C-protected and
//! grouped into commit batches; each batch ends with a commit marker holding a
//! BLAKE3 hash chain over all bytes of history. Only committed records are
//! ever visible to readers; recovery drops a torn tail and uncommitted records
//! and refuses corruption. See `FORMAT.md` for the byte layout.
//!
//! ```no_run
//! use keel_journal::{Journal, JournalConfig, Durability};
//! let mut cfg = JournalConfig::new("/tmp/j");
//! cfg.durability = Durability::Batch;
//! let (mut j, _report) = Journal::open(cfg).unwrap();
//! let seq = j.append(b"hello").unwrap();
//! let mut r = j.reserve(16).unwrap();
//! r.buf()[..3].copy_from_slice(b"abc");
//! r.seal(3).unwrap();
//! j.commit().unwrap();
//! for rec in Journal::reader(j.dir(), seq).unwrap() {
//!     let rec = rec.unwrap();
//!     println!("{} {:?}", rec.seq, rec.payload);
//! }
//! ```

#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
// `is_multiple_of` needs Rust 1.87; the workspace MSRV is 1.80.
#![allow(clippy::manual_is_multiple_of)]

mod durability;
mod error;
pub mod format;
mod preparer;
mod reader;
mod recovery;
mod repair;
mod segment;
mod tail;
mod verify;
mod writer;

use std::path::Path;

pub use durability::Durability;
pub use error::{AppendError, CorruptionError, OpenError, ReadError, RepairError};
pub use reader::{chain_at, Reader, Record, RecordRef};
pub use recovery::RecoveryReport;
pub use repair::{truncate_at, TruncateReport, BACKUP_MAGIC};
pub use tail::Tailer;
pub use verify::{verify, VerifyReport};
pub use writer::{CommitInfo, Journal, JournalConfig, Reservation};

impl Journal {
    /// Iterate over committed records from `from_seq` (read-only; works while
    /// another process writes). Ends when no more committed records exist.
    pub fn reader(dir: &Path, from_seq: u64) -> Result<Reader, OpenError> {
        if !dir.is_dir() {
            return Err(OpenError::io(
                dir,
                "opening journal directory",
                std::io::ErrorKind::NotFound.into(),
            ));
        }
        Ok(Reader::new(dir, from_seq))
    }

    /// Follow a live writer from `from_seq`.
    pub fn tail(dir: &Path, from_seq: u64) -> Result<Tailer, OpenError> {
        if !dir.is_dir() {
            return Err(OpenError::io(
                dir,
                "opening journal directory",
                std::io::ErrorKind::NotFound.into(),
            ));
        }
        Ok(Tailer::new(dir, from_seq))
    }

    /// Chain value of the commit batch that contains `seq` (`None` if `seq`
    /// is not committed).
    pub fn chain_at(dir: &Path, seq: u64) -> Result<Option<[u8; 32]>, ReadError> {
        chain_at(dir, seq)
    }
}
