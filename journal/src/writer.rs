//! The single writer: `Journal` (open, reserve/append, commit, roll).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::durability::Durability;
use crate::error::{AppendError, OpenError};
use crate::format::{
    self, CommitMarker, SealMarker, SegmentHeader, HEADER_LEN, MARKER_LEN, MARKER_WORD,
    REC_HEADER_LEN, SEAL_LEN, SEAL_WORD,
};
use crate::preparer::Preparer;
use crate::recovery::{self, RecoveryReport};
use crate::segment::{self, SegmentMut};

/// Configuration of a journal writer.
#[derive(Clone, Debug)]
pub struct JournalConfig {
    /// Journal directory (created if missing).
    pub dir: PathBuf,
    /// Size of each new segment file, in bytes; a non-zero multiple of 4096
    /// and large enough for the 128-byte header, one commit marker, one
    /// record of `max_record_bytes` and the roll marker whose room the
    /// writer keeps free at the end of every segment. Each file is preallocated
    /// to this size. Existing segments keep the size they were made with.
    pub segment_size_bytes: u64,
    /// Largest payload `append`/`reserve` accept, in bytes; at most
    /// [`format::MAX_PAYLOAD_LEN`].
    pub max_record_bytes: u32,
    /// What `commit` guarantees.
    pub durability: Durability,
}

impl JournalConfig {
    /// A config for the journal in `dir` with 64 MiB segments, 1 MiB max
    /// records and [`Durability::None`] (no sync).
    pub fn new(dir: impl Into<PathBuf>) -> JournalConfig {
        JournalConfig {
            dir: dir.into(),
            segment_size_bytes: 64 << 20,
            max_record_bytes: 1 << 20,
            durability: Durability::None,
        }
    }

    fn validate(&self) -> Result<(), OpenError> {
        let s = self.segment_size_bytes;
        if s == 0 || s % format::SEGMENT_SIZE_ALIGN != 0 {
            return Err(OpenError::Config(format!(
                "segment_size_bytes = {s} must be a non-zero multiple of {}",
                format::SEGMENT_SIZE_ALIGN
            )));
        }
        if self.max_record_bytes > format::MAX_PAYLOAD_LEN {
            return Err(OpenError::Config(format!(
                "max_record_bytes = {} exceeds the format limit {}",
                self.max_record_bytes,
                format::MAX_PAYLOAD_LEN
            )));
        }
        let need = (HEADER_LEN
            + MARKER_LEN
            + format::record_frame_len(self.max_record_bytes as usize)
            + SEAL_LEN) as u64;
        if need > s {
            return Err(OpenError::Config(format!(
                "segment_size_bytes = {s} cannot hold a header, a commit marker, a {}-byte record and a roll marker ({need} bytes); raise segment_size_bytes or lower max_record_bytes",
                self.max_record_bytes
            )));
        }
        Ok(())
    }
}

/// Result of a [`Journal::commit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommitInfo {
    /// Last sequence of the batch (or of the last batch, if nothing was
    /// pending; `None` if nothing was ever committed).
    pub last_seq: Option<u64>,
    /// Chain value after this batch (after the last batch for a no-op
    /// commit; 32 zero bytes if nothing was ever committed).
    pub chain: [u8; 32],
    /// Records in this batch (0 for a no-op commit).
    pub records: u64,
}

/// The single writer of a journal directory; see [`Journal::open`].
///
/// It holds the journal's single-writer lock while it lives (an exclusive
/// `flock` on the directory itself, and on the segment file it writes; see
/// `FORMAT.md`, "One writer"), and a background thread that prepares the
/// next segment file. Dropping it without
/// [`Journal::commit`] leaves the pending batch uncommitted: readers never
/// return it and the next [`Journal::open`] drops it.
pub struct Journal {
    dir: PathBuf,
    durability: Durability,
    segment_size: u64,
    max_record: usize,
    seg: SegmentMut,
    seg_index: u64,
    /// Where frames other than the roll marker must end in `seg`: its
    /// length less [`SEAL_LEN`], so the roll marker always fits.
    seg_len: usize,
    pos: usize,
    next_seq: u64,
    /// Chain of the last commit (zeros before the first).
    chain: [u8; 32],
    last_committed: Option<u64>,
    /// First sequence of the pending batch; 0 when nothing is pending.
    batch_first: u64,
    /// Start (in the current segment) of the pending batch's bytes.
    batch_start: usize,
    /// Holds prev chain + bytes from earlier segments when a batch spans a roll.
    hasher: blake3::Hasher,
    spanned: bool,
    dirty_from: usize,
    dir_dirty: bool,
    failed: Option<String>,
    inject_sync_failure: bool,
    /// When set, every committed batch's bytes (record frames, then the
    /// commit marker) are copied here for replication; see
    /// [`Journal::set_capture`].
    capture: Option<Vec<u8>>,
    preparer: Preparer,
    _lock: segment::DirLock,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("dir", &self.dir)
            .field("segment", &self.seg.path)
            .field("pos", &self.pos)
            .field("next_seq", &self.next_seq)
            .field("failed", &self.failed)
            .finish()
    }
}

/// Space reserved in the mapped segment for one record; see
/// [`Journal::reserve`]. Dropping it without [`Reservation::seal`] discards
/// it.
pub struct Reservation<'a> {
    j: &'a mut Journal,
    off: usize,
    max_len: usize,
    sealed: bool,
}

impl Reservation<'_> {
    /// The payload area: exactly the `max_len` bytes reserved, zero-filled,
    /// in the mapped segment. Write the payload at its start.
    #[inline]
    pub fn buf(&mut self) -> &mut [u8] {
        let start = self.off + REC_HEADER_LEN;
        &mut self.j.seg.map[start..start + self.max_len]
    }

    /// Seal the record with the first `len` bytes of [`Reservation::buf`] as
    /// its payload; returns its sequence. Like [`Journal::append`], the
    /// record is not visible to readers until [`Journal::commit`].
    ///
    /// Fails with [`AppendError::SealTooLong`] if `len` exceeds the
    /// reservation; the reservation is then discarded.
    ///
    /// Contract: the caller wrote only `buf()[..len]` (a serializer writing
    /// front to back, like bincode's slice writer, does). The rest of the
    /// reservation was handed out zeroed and must stay so; only the padding
    /// up to the next 8-byte boundary is cleared here, so sealing costs
    /// O(len), not O(reserved). (Debug builds check the contract.) A
    /// reservation dropped unsealed is zeroed in full.
    #[inline]
    pub fn seal(mut self, len: usize) -> Result<u64, AppendError> {
        if len > self.max_len {
            return Err(AppendError::SealTooLong {
                len,
                reserved: self.max_len,
            });
        }
        self.sealed = true;
        let start = self.off + REC_HEADER_LEN;
        self.j.seg.map[start + len..start + format::align8(len)].fill(0);
        debug_assert!(
            self.j.seg.map[start + format::align8(len)..start + format::align8(self.max_len)]
                .iter()
                .all(|&b| b == 0),
            "seal: bytes past the sealed length were written"
        );
        Ok(self.j.publish(self.off, len))
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if !self.sealed {
            let start = self.off + REC_HEADER_LEN;
            self.j.seg.map[start..start + format::align8(self.max_len)].fill(0);
        }
    }
}

impl Journal {
    /// Open (or create) the journal in `cfg.dir`, recovering it: what was
    /// never committed (a torn frame behind a zero length word, records
    /// after the last commit marker, segments without committed data left
    /// by an unfinished roll or an uncommitted batch) is dropped and
    /// reported in the [`RecoveryReport`]; anything else that would end the
    /// log before what was committed (a segment shorter than its size, a
    /// roll marker naming a missing segment, a damaged frame even at the
    /// very end) and all other corruption is refused with
    /// [`OpenError::Corrupt`], naming file, offset and sequence and the
    /// `replay repair` command that cuts there, and nothing is changed
    /// (`FORMAT.md`, "Validation and recovery rules"). Writing continues
    /// after the last committed record.
    ///
    /// Errors: [`OpenError::Config`] for a bad config, [`OpenError::Locked`]
    /// if another writer (or [`crate::truncate_at`]) has the journal open
    /// (naming its pid),
    /// [`OpenError::Io`] for file-system failures (e.g. a full disk when a
    /// segment is preallocated).
    ///
    /// Readers ([`crate::Reader`], [`crate::Tailer`]) may stay open across
    /// a re-open: recovery changes no committed byte. A reader that had
    /// already read records of the dropped batch re-checks them when it
    /// reaches the new writer's commit marker and reads the batch again if
    /// they were rewritten. It may instead fail with a
    /// [`crate::ReadError`] (create a new reader then), and if the dropped
    /// batch spanned a segment roll, one rare layout of the new writer's
    /// segments goes undetected (the SAFETY comment of `segment::map_ro` in
    /// the source has the details).
    pub fn open(cfg: JournalConfig) -> Result<(Journal, RecoveryReport), OpenError> {
        cfg.validate()?;
        let dir = cfg.dir.clone();
        std::fs::create_dir_all(&dir)
            .map_err(|e| OpenError::io(&dir, "creating journal directory", e))?;
        let lock = match segment::lock(&dir)
            .map_err(|e| OpenError::io(&dir, "locking journal directory", e))?
        {
            Ok(lock) => lock,
            Err(held) => {
                return Err(OpenError::Locked {
                    path: dir.clone(),
                    holder: held.holder,
                })
            }
        };
        segment::remove_prep_files(&dir)
            .map_err(|e| OpenError::io(&dir, "removing stale .prep files", e))?;
        let rec = recovery::recover(&dir, cfg.segment_size_bytes)?;
        let seg_len = rec.segment.map.len().saturating_sub(SEAL_LEN);
        let mut j = Journal {
            preparer: Preparer::spawn(dir.clone(), cfg.segment_size_bytes)
                .map_err(|e| OpenError::io(&dir, "spawning the segment preparer thread", e))?,
            dir,
            durability: cfg.durability,
            segment_size: cfg.segment_size_bytes,
            max_record: cfg.max_record_bytes as usize,
            seg: rec.segment,
            seg_index: rec.segment_index,
            seg_len,
            pos: rec.pos,
            next_seq: rec.next_seq,
            chain: rec.chain,
            last_committed: rec.last_committed,
            batch_first: 0,
            batch_start: rec.pos,
            hasher: blake3::Hasher::new(),
            spanned: false,
            dirty_from: rec.pos,
            dir_dirty: false,
            failed: None,
            inject_sync_failure: false,
            capture: None,
            _lock: lock,
        };
        // Recovery ends at a frame boundary inside the segment. (It may lie
        // past `seg_len` in a version-1 segment, which kept no room for a
        // roll marker: the first frame then rolls.)
        debug_assert!(
            j.pos % format::FRAME_ALIGN == 0 && j.pos >= HEADER_LEN && j.pos <= j.seg.map.len()
        );
        j.dirty_from = j.pos;
        Ok((j, rec.report))
    }

    /// Sequence the next appended record will get.
    #[inline]
    pub fn next_sequence(&self) -> u64 {
        self.next_seq
    }

    /// Last committed sequence and the chain value of its batch (`None` if
    /// the journal holds no committed record).
    pub fn last_committed(&self) -> Option<(u64, [u8; 32])> {
        self.last_committed.map(|s| (s, self.chain))
    }

    /// The journal directory (`cfg.dir` as given to [`Journal::open`]).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `Some(cause)` once the journal is in the fail-stop state (see
    /// [`AppendError::Failed`]); `None` while it is usable.
    pub fn failure(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    /// Start (`true`) or stop copying each committed batch's bytes for
    /// replication. While on, [`Journal::commit`] appends the batch as it
    /// lies in the segments (its record frames in order, then its commit
    /// marker; headers and roll markers left out) to a buffer that
    /// [`Journal::take_captured`] hands over. Those bytes are what
    /// [`Journal::append_batch`] takes on another journal.
    pub fn set_capture(&mut self, on: bool) {
        self.capture = if on { Some(Vec::new()) } else { None };
    }

    /// Swap the bytes captured since the last call into `into` (which is
    /// cleared first and whose allocation the journal keeps for the next
    /// batches, so steady state allocates nothing). Empty when capture is
    /// off or nothing was committed since.
    pub fn take_captured(&mut self, into: &mut Vec<u8>) {
        into.clear();
        if let Some(capture) = &mut self.capture {
            std::mem::swap(capture, into);
        }
    }

    /// Make the next durability sync fail (test hook for fail-stop).
    #[doc(hidden)]
    pub fn inject_sync_failure_for_tests(&mut self) {
        self.inject_sync_failure = true;
    }

    #[inline]
    fn check(&self, len: usize) -> Result<(), AppendError> {
        if let Some(cause) = &self.failed {
            return Err(AppendError::Failed {
                cause: cause.clone(),
            });
        }
        if len > self.max_record {
            return Err(AppendError::TooLarge {
                len,
                max: self.max_record as u32,
            });
        }
        Ok(())
    }

    /// Reserve room for a record of up to `max_len` payload bytes directly
    /// in the mapped segment (rolling to the next segment first if it does
    /// not fit). Serialize into [`Reservation::buf`] and call
    /// [`Reservation::seal`]; dropping the reservation unsealed discards it.
    ///
    /// Errors: [`AppendError::TooLarge`] if `max_len` exceeds
    /// `max_record_bytes` (nothing changes); [`AppendError::Failed`] if the
    /// journal is failed, or becomes failed because the roll to the next
    /// segment fails.
    #[inline]
    pub fn reserve(&mut self, max_len: usize) -> Result<Reservation<'_>, AppendError> {
        self.check(max_len)?;
        if self.pos + format::record_frame_len(max_len) > self.seg_len {
            self.roll()?;
        }
        let off = self.pos;
        Ok(Reservation {
            j: self,
            off,
            max_len,
            sealed: false,
        })
    }

    /// Append one record (a copy of `payload`) to the pending batch; returns
    /// its sequence. Not visible to readers until [`Journal::commit`].
    ///
    /// Errors as for [`Journal::reserve`] with `max_len = payload.len()`.
    #[inline]
    pub fn append(&mut self, payload: &[u8]) -> Result<u64, AppendError> {
        self.check(payload.len())?;
        let frame = format::record_frame_len(payload.len());
        if self.pos + frame > self.seg_len {
            self.roll()?;
        }
        let off = self.pos;
        let m = &mut self.seg.map[off..off + frame];
        // Zero the last word first (padding), then the payload over it.
        m[frame - 8..].fill(0);
        m[REC_HEADER_LEN..REC_HEADER_LEN + payload.len()].copy_from_slice(payload);
        Ok(self.publish(off, payload.len()))
    }

    /// Write seq + crc of the record at `off` whose payload is in place, then
    /// publish its length word with Release ordering.
    #[inline(always)]
    fn publish(&mut self, off: usize, len: usize) -> u64 {
        let seq = self.next_seq;
        let frame = format::record_frame_len(len);
        assert!(off == self.pos && off % format::FRAME_ALIGN == 0 && off + frame <= self.seg_len);
        let m = &mut self.seg.map[off..off + frame];
        m[format::REC_SEQ_OFFSET..format::REC_SEQ_OFFSET + 8].copy_from_slice(&seq.to_le_bytes());
        let crc = format::frame_crc(m, len);
        debug_assert_eq!(
            crc,
            format::record_crc(seq, &m[REC_HEADER_LEN..REC_HEADER_LEN + len])
        );
        m[format::REC_CRC_OFFSET..format::REC_CRC_OFFSET + 4].copy_from_slice(&crc.to_le_bytes());
        self.store_word(off, format::record_word(len as u32));
        if self.batch_first == 0 {
            self.batch_first = seq;
        }
        self.next_seq = seq + 1;
        self.pos = off + frame;
        seq
    }

    #[inline(always)]
    fn store_word(&mut self, off: usize, word: u32) {
        assert!(off % format::FRAME_ALIGN == 0 && off + 4 <= self.seg.map.len());
        // SAFETY: `off + 4 <= map.len()` and `off % 8 == 0` (asserted above)
        // in a page-aligned mapping, so the pointer is in bounds and aligned
        // for an `AtomicU32`; the mapping is writable (`MmapMut`, read-write
        // shared) and lives in `self.seg`, which outlives the reference (used
        // for this one store). No Rust reference into these 4 bytes is live
        // meanwhile: slices of `self.seg.map` are temporaries that have
        // ended, and `&mut self` keeps the rest of this process off this
        // mapping. Earlier non-atomic accesses to the word through this
        // mapping (prefault, recovery's zeroing) happen-before this store:
        // they were made by the thread that owns the `Journal`, or by the
        // preparer thread before it handed the segment over through a
        // channel. The word is stored once per frame, here; recovery and
        // `truncate_at`, which also write such bytes, hold the directory
        // lock and lock each segment file they write (as this writer holds
        // its own), and so never run on this file while this writer does.
        // Other threads and processes reach the word through their own
        // read-only mappings: `Reader` loads it atomically (Relaxed load +
        // Acquire fence), and reads it plainly (`CommitMarker::decode`) only
        // after such a load returned the value stored here, i.e. after this
        // store, which is never repeated. The one unsynchronized reader is
        // `verify` run on a live journal; see `segment::map_ro`.
        let word_ref =
            unsafe { AtomicU32::from_ptr(self.seg.map.as_mut_ptr().add(off).cast::<u32>()) };
        word_ref.store(word, Ordering::Release);
    }

    /// Whether records were appended since the last commit.
    pub(crate) fn has_pending(&self) -> bool {
        self.batch_first != 0
    }

    pub(crate) fn fail_with(&mut self, cause: String) -> AppendError {
        self.fail(cause)
    }

    fn fail(&mut self, cause: String) -> AppendError {
        if self.failed.is_none() {
            self.failed = Some(cause);
        }
        AppendError::Failed {
            cause: self.failed.clone().unwrap_or_default(),
        }
    }

    /// Make the bytes written since the last sync durable (Batch
    /// durability): msync(MS_SYNC) of just that range, which the kernel
    /// turns into a data sync of the range (plus the metadata needed to read
    /// it back, such as extent conversion). Never retried.
    ///
    /// Why a range and not fdatasync of the file: the preparer prefaulted
    /// the whole segment for writing, which leaves every page of it dirty in
    /// the page cache. fdatasync would write all of them (64 MiB of zeros,
    /// tens of milliseconds) at the first commit of each segment; the range
    /// writes only the pages this batch touched.
    fn sync_current(&mut self) -> Result<(), AppendError> {
        if self.pos <= self.dirty_from && !self.inject_sync_failure {
            return Ok(());
        }
        let res = if self.inject_sync_failure {
            self.inject_sync_failure = false;
            Err(std::io::Error::other("injected sync failure"))
        } else {
            assert!(self.dirty_from < self.pos && self.pos <= self.seg.map.len());
            self.seg
                .map
                .flush_range(self.dirty_from, self.pos - self.dirty_from)
        };
        match res {
            Ok(()) => {
                self.dirty_from = self.pos;
                Ok(())
            }
            Err(e) => {
                let cause = format!(
                    "msync of {} (bytes {}..{}) failed: {e}",
                    self.seg.path.display(),
                    self.dirty_from,
                    self.pos
                );
                Err(self.fail(cause))
            }
        }
    }

    /// Switch to the next segment: install it (header, final name), make it
    /// durable under [`Durability::Batch`], and only then write the roll
    /// marker naming it at the end of the current one (FORMAT.md, "Roll
    /// marker"), so a roll marker never names a segment that might not
    /// exist.
    #[cold]
    #[inline(never)]
    fn roll(&mut self) -> Result<(), AppendError> {
        let batch = self.durability == Durability::Batch;
        if batch {
            self.sync_current()?;
        }
        if self.batch_first != 0 {
            if !self.spanned {
                self.hasher.reset();
                self.hasher.update(&self.chain);
                self.spanned = true;
            }
            self.hasher
                .update(&self.seg.map[self.batch_start..self.pos]);
            if let Some(capture) = &mut self.capture {
                capture.extend_from_slice(&self.seg.map[self.batch_start..self.pos]);
            }
        }
        let mut next = match self.preparer.take() {
            Ok(s) => s,
            Err(e) => return Err(self.fail(e)),
        };
        let header = SegmentHeader {
            version: format::FORMAT_VERSION,
            index: self.seg_index + 1,
            first_seq: self.next_seq,
            segment_size: self.segment_size,
            prev_chain: self.chain,
            writer_version: format::WRITER_VERSION.into(),
        };
        if let Err(e) = segment::install(&mut next, &self.dir, &header) {
            let cause = format!("installing segment {}: {e}", next.path.display());
            return Err(self.fail(cause));
        }
        if batch {
            // The successor, its header and its name are durable before the
            // roll marker that names it is written.
            if let Err(e) = next.map.flush_range(0, HEADER_LEN) {
                let cause = format!("msync of the header of {} failed: {e}", next.path.display());
                return Err(self.fail(cause));
            }
            if let Err(e) = segment::sync_dir(&self.dir) {
                let cause = format!("fsync of directory {} failed: {e}", self.dir.display());
                return Err(self.fail(cause));
            }
        }
        let off = self.pos;
        if off + SEAL_LEN <= self.seg.map.len() {
            let seal = SealMarker {
                next_first_seq: self.next_seq,
                next_index: self.seg_index + 1,
                chain: self.chain,
            };
            seal.encode_body(&mut self.seg.map[off..off + SEAL_LEN]);
            self.store_word(off, SEAL_WORD);
            if batch {
                if let Err(e) = self.seg.map.flush_range(off, SEAL_LEN) {
                    let cause = format!(
                        "msync of the roll marker of {} (bytes {off}..{}) failed: {e}",
                        self.seg.path.display(),
                        off + SEAL_LEN
                    );
                    return Err(self.fail(cause));
                }
            }
        }
        // (Only a version-1 segment continued by this writer can lack the
        // room: its rules allow a segment end without a roll marker.)
        let old = std::mem::replace(&mut self.seg, next);
        self.preparer.retire(old);
        self.seg_index += 1;
        self.seg_len = self.seg.map.len().saturating_sub(SEAL_LEN);
        self.pos = HEADER_LEN;
        self.batch_start = HEADER_LEN;
        self.dirty_from = if batch { HEADER_LEN } else { 0 };
        self.dir_dirty = !batch;
        Ok(())
    }

    /// End the pending batch: write its commit marker (hash chain) and apply
    /// the durability level ([`Durability::Batch`]: sync the batch's bytes,
    /// and the directory after a roll, before returning). A no-op if nothing
    /// is pending.
    ///
    /// After an error ([`AppendError::Failed`]) the journal is failed
    /// (fail-stop) and the batch does not count as committed: this writer
    /// reports the previous commit as its last one and the batch is not
    /// known to be durable. If the failure was the sync, the marker is
    /// already in the mapped segment, so readers may see the batch and a
    /// later [`Journal::open`] keeps it if the marker reached the disk; if
    /// it was the roll to a new segment, no marker was written.
    pub fn commit(&mut self) -> Result<CommitInfo, AppendError> {
        self.check(0)?;
        if self.batch_first == 0 {
            return Ok(CommitInfo {
                last_seq: self.last_committed,
                chain: self.chain,
                records: 0,
            });
        }
        if self.pos + MARKER_LEN > self.seg_len {
            self.roll()?;
        }
        let bytes = &self.seg.map[self.batch_start..self.pos];
        let chain = if self.spanned {
            self.hasher.update(bytes);
            *self.hasher.finalize().as_bytes()
        } else {
            let mut h = blake3::Hasher::new();
            h.update(&self.chain);
            h.update(bytes);
            *h.finalize().as_bytes()
        };
        let last_seq = self.next_seq - 1;
        let marker = CommitMarker {
            first_seq: self.batch_first,
            last_seq,
            chain,
        };
        let off = self.pos;
        marker.encode_body(&mut self.seg.map[off..off + MARKER_LEN]);
        self.store_word(off, MARKER_WORD);
        self.pos = off + MARKER_LEN;
        if let Some(capture) = &mut self.capture {
            capture.extend_from_slice(&self.seg.map[self.batch_start..self.pos]);
        }
        if self.durability == Durability::Batch {
            self.sync_current()?;
            if self.dir_dirty {
                if let Err(e) = segment::sync_dir(&self.dir) {
                    let cause = format!("fsync of directory {} failed: {e}", self.dir.display());
                    return Err(self.fail(cause));
                }
                self.dir_dirty = false;
            }
        }
        let records = last_seq + 1 - self.batch_first;
        self.chain = chain;
        self.last_committed = Some(last_seq);
        self.batch_first = 0;
        self.batch_start = self.pos;
        self.spanned = false;
        Ok(CommitInfo {
            last_seq: Some(last_seq),
            chain,
            records,
        })
    }
}
