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
    // SAFETY: the file is a segment of a journal that has a single writer
    // (enforced by the LOCK flock); nothing truncates a segment while it is
    // mapped by the writer. Concurrent readers only read.
    unsafe { MmapOptions::new().map_mut(file) }
}

/// Map `file` read-only (shared).
pub fn map_ro(file: &File) -> io::Result<Mmap> {
    // SAFETY: read-only mapping of a segment. The only concurrent mutation is
    // the single writer appending into never-published bytes; readers only
    // look at bytes after an Acquire load of the frame's length word shows
    // them published, after which they are never changed by the writer.
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
