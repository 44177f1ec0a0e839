//! Keel journal: the system of record.
//!
//! An mmap'd, append-only, segmented log of opaque payloads, each with a
//! contiguous `u64` sequence number (the first record is 1). Records are
//! CRC32C-protected and grouped into commit batches; each batch ends with a
//! commit marker holding a BLAKE3 hash chain over every record byte of
//! history. Only committed records are ever visible to readers; recovery
//! drops only what was never committed (a frame whose length word was never
//! written, records after the last commit marker, an unfinished segment
//! roll) and refuses everything else that would end the log early (a
//! truncated or missing segment, a damaged frame), naming file, offset and
//! sequence. The byte layout is in `FORMAT.md` (mirrored by the constants
//! in [`mod@format`]).
//!
//! # Writing
//!
//! A journal is a directory. [`Journal::open`] opens or creates it, takes
//! its single-writer lock (an exclusive flock on the directory itself, so
//! one writer at a time however `LOCK` or the segments are removed or
//! renamed; the refusal names the holder's pid) and recovers it, returning
//! a [`RecoveryReport`]. [`Journal::append`] copies a payload in;
//! [`Journal::reserve`] hands out space in the mapped segment to serialize
//! into directly ([`Reservation::seal`] finishes the record). Appended
//! records are invisible until [`Journal::commit`] writes the batch's
//! commit marker; [`JournalConfig::durability`] says whether `commit` also
//! syncs the batch to disk ([`Durability::Batch`]) before returning. A
//! failed sync puts the writer in a fail-stop state (see
//! [`AppendError::Failed`]): drop it and open the journal again.
//!
//! # Reading
//!
//! [`Journal::reader`] iterates over committed records from any sequence;
//! [`Journal::tail`] follows a live writer. Readers take no lock and work
//! from other threads and processes while the writer appends. [`verify`]
//! checks a whole journal (CRCs, sequences, segments, hash chain) without
//! changing it; [`truncate_at`] cuts history at a sequence, keeping a
//! backup of what it cuts.
//!
//! # Example
//!
//! ```
//! use keel_journal::{Durability, Journal, JournalConfig};
//!
//! let dir = tempfile::tempdir()?;
//! let mut cfg = JournalConfig::new(dir.path());
//! cfg.segment_size_bytes = 1 << 20; // 1 MiB segment files
//! cfg.max_record_bytes = 4096;
//! cfg.durability = Durability::Batch; // `commit` syncs the batch
//! let (mut j, report) = Journal::open(cfg.clone())?;
//! assert!(report.created);
//!
//! // A batch of two records: one copied in, one serialized in place.
//! let first = j.append(b"hello")?;
//! let mut r = j.reserve(16)?;
//! r.buf()[..5].copy_from_slice(b"world");
//! let second = r.seal(5)?;
//! let batch = j.commit()?;
//! assert_eq!((first, second, batch.last_seq), (1, 2, Some(2)));
//!
//! // Never committed: recovery drops it when the journal is opened again.
//! j.append(b"lost")?;
//! drop(j);
//!
//! let (j, report) = Journal::open(cfg)?;
//! assert_eq!(report.last_sequence, Some(2));
//! assert_eq!(report.uncommitted_records_dropped, 1);
//! assert_eq!(j.next_sequence(), 3);
//!
//! let records = Journal::reader(j.dir(), 1)?.collect::<Result<Vec<_>, _>>()?;
//! let payloads: Vec<&[u8]> = records.iter().map(|r| r.payload.as_slice()).collect();
//! assert_eq!(payloads, [&b"hello"[..], &b"world"[..]]);
//! assert!(records.iter().all(|r| r.batch_chain == batch.chain));
//!
//! drop(j);
//! assert_eq!(keel_journal::verify(dir.path())?.records, 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
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
mod replica;
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
pub use replica::{Batch, ReplicaError};
pub use tail::Tailer;
pub use verify::{verify, VerifyReport};
pub use writer::{CommitInfo, Journal, JournalConfig, Reservation};

impl Journal {
    /// Iterate over the committed records of the journal in `dir`, starting
    /// at sequence `from_seq` (0 is taken as 1). Read-only and lock-free: it
    /// works while a writer in this or another process appends. The
    /// iterator ends when no more committed records exist right now; see
    /// [`Reader`] for reading on later, and [`Journal::tail`] for waiting.
    ///
    /// Fails only with [`OpenError::Io`] (kind `NotFound`) if `dir` is not an
    /// existing directory; problems with the data show up as the iterator's
    /// [`ReadError`]s.
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

    /// Follow a live writer of the journal in `dir` from sequence `from_seq`
    /// (0 is taken as 1): a [`Tailer`] returns each record once it is
    /// committed, across segment rolls. Lock-free, like [`Journal::reader`],
    /// and fails the same way.
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
    /// is 0 or not committed); the same as [`chain_at`].
    pub fn chain_at(dir: &Path, seq: u64) -> Result<Option<[u8; 32]>, ReadError> {
        chain_at(dir, seq)
    }
}
