//! Segment files: create, preallocate (fallocate), map, prefault, list.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use memmap2::{Advice, Mmap, MmapMut, MmapOptions};

use crate::format::{self, SegmentHeader, HEADER_LEN};

/// A writable, mapped, preallocated segment. Syncs go through the mapping
/// (msync of a range). The descriptor is kept for the exclusive `flock` on
/// the file (see [`lock_segment`]), held as long as the mapping lives.
pub struct SegmentMut {
    pub path: PathBuf,
    pub map: MmapMut,
    _file: File,
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

/// Map `file` read-write (shared). The caller must hold the exclusive
/// `flock` on `file` itself ([`lock_segment`]).
fn map_mut(file: &File) -> io::Result<MmapMut> {
    // SAFETY: the only callers (`create`, `open_existing_mut`, below) take
    // an exclusive `flock` on this very open file first ([`lock_segment`])
    // and keep that descriptor in the `SegmentMut` next to the map, so the
    // lock lives as long as the mapping. flock locks the inode, whatever
    // path it was reached by, and excludes a second holder even within one
    // process (it belongs to the open file description), so no other
    // writable mapping of this file exists in the crate while this one
    // lives, even if the file was renamed, hard-linked or moved into
    // another journal directory meanwhile. (Writers also hold the
    // journal's directory lock, see [`lock`], which keeps a second writer
    // out before it maps anything.) Nothing in the journal shortens a
    // segment file (files are created at full size, only ever grown by
    // `fallocate`, or unlinked, which leaves existing mappings valid), so
    // every byte of the map stays backed by the file; an outside process
    // truncating the file under a live writer is outside what any mmap
    // user can defend against (the writer would get SIGBUS, documented in
    // FORMAT.md). Concurrent readers, in this process or others, only read
    // through their own read-only mappings; what they may see is argued at
    // `map_ro`.
    unsafe { MmapOptions::new().map_mut(file) }
}

/// Take the exclusive, non-blocking `flock` on a segment file opened for
/// writing. `Err` with kind [`io::ErrorKind::WouldBlock`] if another writer
/// (in this or another process, through any path to the same file) holds
/// it.
pub fn lock_segment(file: &File) -> io::Result<()> {
    // SAFETY: plain FFI call on a valid, open descriptor; no memory passed.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        Ok(())
    } else {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "another writer holds this segment file (it is locked)",
            ))
        } else {
            Err(e)
        }
    }
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
    // the journal shortens a segment file below its header's size: files
    // are created at full size (`fallocate`), only grown by re-extension,
    // or unlinked (recovery and `truncate_at` delete segments; an unlinked
    // file stays valid under existing mappings). The one exception is
    // `truncate_at` cutting bytes that something else appended past a
    // version-2 segment's size, and it requires that no reader has the
    // journal open (see below) and drops its own mapping first.
    //
    // (2) does not hold everywhere, so here is exactly when bytes of a
    // mapped segment change, and why that is still sound:
    // * The live writer (one per journal and per segment file, by the
    //   directory flock and the segment flock, see `lock` and `map_mut`)
    //   writes only at or after its append position, i.e. into frames
    //   (records, commit markers, the roll marker) whose length word is
    //   still 0; it stores the word last, with Release, and never writes a
    //   frame again once it is published. The header is written before the
    //   segment gets its `.seg` name. `Reader` reads a frame's bytes only
    //   after an Acquire load of its word returned non-zero, so a live
    //   writer never changes bytes a `Reader` reads.
    // * `Journal::open` (recovery) runs with the directory lock held and
    //   locks each segment it writes, so no writer is running, and zeroes
    //   only bytes after the last valid commit marker, in its segment and
    //   in the later segments it then deletes (a torn frame, records of a
    //   batch the previous writer never committed, a roll marker naming a
    //   segment it deletes); then the new writer appends over them. Recovery never
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
    // * `truncate_at` runs with the directory lock held and rewrites
    //   committed bytes in place (zeroes the cut, writes a new marker). The
    //   lock cannot keep readers out, so its documented precondition is
    //   that no reader has the journal open.
    // * The full scan (`verify::scan`) reads every byte with plain loads.
    //   `open` and `truncate_at` scan under the directory lock and drop the
    //   scan's maps before changing anything, so their scans see no change. The public
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
/// (which must not exist), locked for writing ([`lock_segment`]). The
/// allocation (the file's size) is synced before the file is mapped, while
/// no page of it is dirty yet, so a segment that is later installed is
/// never shorter than its header says, even after a power loss.
pub fn create(path: &Path, size: u64) -> io::Result<SegmentMut> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)?;
    let res = (|| {
        lock_segment(&file)?;
        fallocate(&file, size)?;
        file.sync_all()?;
        let mut map = map_mut(&file)?;
        prefault(&mut map);
        Ok(map)
    })();
    match res {
        Ok(map) => Ok(SegmentMut {
            path: path.to_path_buf(),
            map,
            _file: file,
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

/// Open an existing segment for writing, locked ([`lock_segment`]; kind
/// [`io::ErrorKind::WouldBlock`] if another writer holds it); re-extends it
/// to `size` if it is shorter (a version-1 segment trimmed after its data,
/// or a cut that `truncate_at` repairs), then maps and prefaults it.
pub fn open_existing_mut(path: &Path, size: u64) -> io::Result<SegmentMut> {
    let file = OpenOptions::new().read(true).write(true).open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    lock_segment(&file)?;
    if file.metadata()?.len() < size {
        fallocate(&file, size)?;
    }
    let mut map = map_mut(&file)?;
    prefault(&mut map);
    Ok(SegmentMut {
        path: path.to_path_buf(),
        map,
        _file: file,
    })
}

/// Open a segment file for reading without blocking on a FIFO or device
/// someone put in its place; `Err` (kind `InvalidInput`) if it is not a
/// regular file.
pub fn open_ro(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(file)
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

/// The single-writer lock of a journal directory; released when dropped.
///
/// The lock that counts is an exclusive `flock` on a descriptor of the
/// directory itself: nothing done to the directory's entries (removing or
/// renaming `LOCK`, a segment, anything) releases it, and it excludes a
/// second holder in the same process too (flock belongs to the open file
/// description). The holder also takes an exclusive `flock` on the
/// `LOCK` file, which keeps out older builds that lock only that file, and
/// writes its pid and start time into it, so that a refused writer can
/// name the holder.
#[derive(Debug)]
pub struct DirLock {
    _dir: File,
    _file: File,
}

/// Why [`lock`] did not get the lock: who holds it, for people to read.
#[derive(Debug)]
pub struct Held {
    /// The holder as `LOCK` names it, e.g. `pid 1234 (started at unix time
    /// 1767300000)`, or what is known when `LOCK` is missing.
    pub holder: String,
}

fn flock_nb(file: &File) -> io::Result<bool> {
    // SAFETY: plain FFI call on a valid, open descriptor; no memory passed.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(e)
    }
}

/// Who holds the lock of `dir`, from its `LOCK` file (read without
/// blocking, at most 256 bytes).
pub fn lock_holder(dir: &Path) -> String {
    use std::io::Read;
    let path = dir.join(format::LOCK_FILE);
    let text = open_ro(&path).and_then(|f| {
        let mut buf = Vec::new();
        f.take(256).read_to_end(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    });
    let text = match text {
        Ok(t) => t,
        Err(_) => {
            return format!(
                "another process (its {} file, which names the holder, is missing or unreadable: it was removed or renamed while the holder runs)",
                path.display()
            )
        }
    };
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
    };
    match (field("pid "), field("started ")) {
        (Some(pid), started) => {
            let me = if pid == std::process::id().to_string() {
                ", this process"
            } else {
                ""
            };
            match started {
                Some(t) => format!("pid {pid} (started at unix time {t}{me})"),
                None => format!(
                    "pid {pid}{}",
                    if me.is_empty() { "" } else { " (this process)" }
                ),
            }
        }
        (None, _) => format!(
            "another process (its {} file does not name it; an older keel writes none)",
            path.display()
        ),
    }
}

/// Take the exclusive single-writer lock of `dir` (see [`DirLock`]).
/// `Ok(Err(held))` if another writer, or a running `truncate_at`, has it.
pub fn lock(dir: &Path) -> io::Result<Result<DirLock, Held>> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir_file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(dir)?;
    if !flock_nb(&dir_file)? {
        return Ok(Err(Held {
            holder: lock_holder(dir),
        }));
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .custom_flags(libc::O_NONBLOCK)
        .open(dir.join(format::LOCK_FILE))?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a regular file", format::LOCK_FILE),
        ));
    }
    if !flock_nb(&file)? {
        return Ok(Err(Held {
            holder: lock_holder(dir),
        }));
    }
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    file.set_len(0)?;
    file.write_all(
        format!(
            "pid {}\nstarted {started}\nwriter {}\n",
            std::process::id(),
            format::WRITER_VERSION
        )
        .as_bytes(),
    )?;
    Ok(Ok(DirLock {
        _dir: dir_file,
        _file: file,
    }))
}
