//! Segment files: create, preallocate (fallocate), map, prefault, list.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use memmap2::{Advice, Mmap, MmapMut, MmapOptions};

use crate::format::{self, SegmentHeader, HEADER_LEN};

/// A writable, mapped, preallocated segment. The mapping keeps the file
/// itself alive; syncs go through it (msync of a range), so no descriptor
/// is kept.
pub struct SegmentMut {
    pub path: PathBuf,
    pub map: MmapMut,
}

impl std::fmt::Debug for SegmentMut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentMut")
            .field("path", &self.path)
            .field("len", &self.map.len())
            .finish()
    }
}

/// Preallocate `len` bytes of `file` for real (no sparse holes), so a full
/// disk fails here and not with SIGBUS on a later write to the mapping.
pub fn fallocate(file: &File, len: u64) -> io::Result<()> {
    let len =
        libc::off_t::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: plain FFI call on a valid, open file descriptor owned by `file`;
    // no memory is passed to the kernel.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(rc))
    }
}

/// Map `file` read-write (shared).
pub fn map_mut(file: &File) -> io::Result<MmapMut> {
    // SAFETY: every caller holds the journal's exclusive LOCK flock (the
    // `Journal`, whose preparer thread maps only the `.prep` files it
    // creates itself, or `truncate_at`), and flock excludes a second holder
    // even within one process, so no other writable mapping of this file
    // exists while this one lives (a retired segment is only unmapped).
    // Nothing in the journal shortens a segment file (files are created at
    // full size, only ever grown by `fallocate`, or unlinked, which leaves
    // existing mappings valid), so every byte of the map stays backed by
    // the file. Concurrent readers, in this process or others, only read
    // through their own read-only mappings; what they may see is argued at
    // `map_ro`.
    unsafe { MmapOptions::new().map_mut(file) }
}

/// Map `file` read-only (shared).
///
/// Used by the lock-free readers (`Reader`, `Tailer`, `chain_at`) and by the
/// full scan (`verify`, and recovery and repair, which scan under LOCK).
pub fn map_ro(file: &File) -> io::Result<Mmap> {
    // SAFETY: `Mmap` exposes the file's bytes as `&[u8]`; that needs (1)
    // every byte of the map to stay backed by the file and (2) the bytes not
    // to change while they are read through it.
    //
    // (1) holds: the map's length is fixed when it is made, and nothing in
    // the journal shortens a segment file: files are created at full size
    // (`fallocate`), only grown by re-extension, or unlinked (recovery and
    // `truncate_at` delete segments; an unlinked file stays valid under
    // existing mappings).
    //
    // (2) does not hold everywhere, so here is exactly when bytes of a
    // mapped segment change, and why that is still sound:
    // * The live writer (one per journal, by the LOCK flock) writes only at
    //   or after its append position, i.e. into frames whose length word is
    //   still 0; it stores the word last, with Release, and never writes a
    //   frame again once it is published. The header is written before the
    //   segment gets its `.seg` name. `Reader` reads a frame's bytes only
    //   after an Acquire load of its word returned non-zero, so a live
    //   writer never changes bytes a `Reader` reads.
    // * `Journal::open` (recovery) runs with the LOCK held, so no writer is
    //   running, and zeroes only bytes after the last valid commit marker
    //   (a torn tail and records of a batch the previous writer never
    //   committed); then the new writer appends over them. Recovery never
    //   changes committed bytes, so no record a `Reader` returns, or has
    //   lent out as a `RecordRef`, changes. But a `Reader` that was
    //   following the previous writer may have read those uncommitted
    //   records (it reads a batch's records before its marker), possibly
    //   while they were being zeroed. It does not return them as they were
    //   read unless they are unchanged when it reaches a commit marker:
    //   `Reader::pending_changed` re-checks the length word and sequence of
    //   each one still in its current map, and the reader re-reads the batch
    //   if any changed (if none did, the frames there are the ones the
    //   marker commits). A record the reader had already copied out of an
    //   earlier segment cannot be re-checked (the reader was then in a later
    //   segment, which recovery deleted);
    //   the segment-index check in `Reader::enter` makes the reader fail
    //   instead of going on when the new writer re-creates the name it
    //   looks for next, unless the new writer's first batch spans two rolls
    //   and the second roll falls on exactly the sequence the reader
    //   expects (the one case not detected).
    // * `truncate_at` runs with the LOCK held and rewrites committed bytes
    //   in place (zeroes the cut, writes a new marker). The LOCK cannot keep
    //   readers out, so its documented precondition is that no reader has
    //   the journal open.
    // * The full scan (`verify::scan`) reads every byte with plain loads.
    //   `open` and `truncate_at` scan under the LOCK and drop the scan's maps
    //   before changing anything, so their scans see no change. The public
    //   `verify` takes no lock: run on a journal a writer has open, it reads
    //   bytes that are still being written, and its result is unreliable
    //   (documented there).
    // * Anything else (prefaulting an existing segment with
    //   MADV_POPULATE_WRITE, or its fallback that writes each page's first
    //   byte back unchanged) does not change any value.
    // Where bytes do change under a mapping (the three unsynchronized cases
    // above), Rust's model, in which memory behind `&[u8]` does not change,
    // is not met; the change comes through another mapping, usually from
    // another process. What keeps that sound in practice is that nothing
    // depends on the values for memory safety: all bytes are plain integers
    // (every bit pattern valid), and every offset or length derived from
    // them is bounds-checked, by safe slice indexing, against the map's
    // fixed length. So a changed byte can produce a wrong value, a spurious
    // error or a re-read, never an access outside the mapping.
    unsafe { MmapOptions::new().map(file) }
}

/// Fault in every page of `map` for writing, so the append path never takes a
/// page fault. Uses MADV_POPULATE_WRITE, falling back to touching one byte per
/// page (read + write back of the same value, which keeps content intact).
pub fn prefault(map: &mut MmapMut) {
    if map.is_empty() || map.advise(Advice::PopulateWrite).is_ok() {
        return;
    }
    let page = 4096;
    let mut i = 0;
    while i < map.len() {
        let v = std::hint::black_box(map[i]);
        map[i] = v;
        i += page;
    }
}

/// Create a fresh, preallocated, mapped and prefaulted segment file at `path`
/// (which must not exist).
pub fn create(path: &Path, size: u64) -> io::Result<SegmentMut> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)?;
    let res = (|| {
        fallocate(&file, size)?;
        let mut map = map_mut(&file)?;
        prefault(&mut map);
        Ok(map)
    })();
    match res {
        Ok(map) => Ok(SegmentMut {
            path: path.to_path_buf(),
            map,
        }),
        Err(e) => {
            let _ = std::fs::remove_file(path);
            Err(e)
        }
    }
}

/// Write the header into a freshly prepared segment and move it to its final
/// name in `dir`.
pub fn install(seg: &mut SegmentMut, dir: &Path, header: &SegmentHeader) -> io::Result<()> {
    header.encode(&mut seg.map[..HEADER_LEN]);
    let final_path = dir.join(format::segment_file_name(header.first_seq));
    std::fs::rename(&seg.path, &final_path)?;
    seg.path = final_path;
    Ok(())
}

/// Open an existing segment for writing; re-extends it to `size` if it is
/// shorter (a truncated tail), then maps and prefaults it.
pub fn open_existing_mut(path: &Path, size: u64) -> io::Result<SegmentMut> {
    let file = OpenOptions::new().read(true).write(true).open(path)?;
    if file.metadata()?.len() < size {
        fallocate(&file, size)?;
    }
    let mut map = map_mut(&file)?;
    prefault(&mut map);
    Ok(SegmentMut {
        path: path.to_path_buf(),
        map,
    })
}

/// fsync a directory (makes creates/renames/unlinks durable).
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// A segment file found in a journal directory.
#[derive(Clone, Debug)]
pub struct SegmentEntry {
    pub first_seq: u64,
    pub path: PathBuf,
}

/// List segment files of `dir`, sorted by first sequence.
pub fn list(dir: &Path) -> io::Result<Vec<SegmentEntry>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if let Some(first_seq) = name.to_str().and_then(format::parse_segment_file_name) {
            out.push(SegmentEntry {
                first_seq,
                path: entry.path(),
            });
        }
    }
    out.sort_by_key(|e| e.first_seq);
    Ok(out)
}

/// Remove leftovers of segment preparation (never part of the journal).
pub fn remove_prep_files(dir: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.ends_with(format::PREP_SUFFIX))
        {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// Exclusive advisory lock on `dir/LOCK`; held while the returned file lives.
pub fn lock(dir: &Path) -> io::Result<Option<File>> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(format::LOCK_FILE))?;
    // SAFETY: plain FFI call on a valid, open descriptor; no memory passed.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        Ok(Some(file))
    } else {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            Ok(None)
        } else {
            Err(e)
        }
    }
}
