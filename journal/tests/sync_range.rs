//! A `Batch` commit makes only its own bytes durable: it must not write back
//! the rest of the prefaulted segment.
//!
//! The preparer prefaults every page of a segment for writing, which leaves
//! all of them dirty in the page cache. A whole-file sync (fdatasync) would
//! write the entire segment at a segment's first commit (64 MiB by default,
//! tens of milliseconds on the development VM). The journal syncs only the
//! committed range; this test pins that by asking the kernel how many of the
//! segment's pages are still dirty after some commits (`cachestat`, Linux
//! 6.5+), not by timing anything.

#![cfg(target_os = "linux")]

use std::os::unix::io::AsRawFd;
use std::path::PathBuf;

use keel_journal::{Durability, Journal, JournalConfig};

const SEGMENT_BYTES: u64 = 16 << 20;
const SEGMENT_PAGES: u64 = SEGMENT_BYTES / 4096;
/// cachestat(2): the same number on every Linux architecture.
const SYS_CACHESTAT: libc::c_long = 451;

#[repr(C)]
struct CachestatRange {
    off: u64,
    len: u64,
}

#[repr(C)]
#[derive(Default)]
struct Cachestat {
    nr_cache: u64,
    nr_dirty: u64,
    nr_writeback: u64,
    nr_evicted: u64,
    nr_recently_evicted: u64,
}

/// Dirty pages of the whole file, or `None` where cachestat is unavailable.
fn dirty_pages(path: &PathBuf) -> Option<u64> {
    let file = std::fs::File::open(path).ok()?;
    let range = CachestatRange { off: 0, len: 0 };
    let mut cs = Cachestat::default();
    // SAFETY: FFI call with a valid open descriptor and pointers to two live,
    // properly laid out (#[repr(C)]) structs that outlive the call; the
    // kernel only reads `range` and writes `cs`.
    let rc = unsafe {
        libc::syscall(
            SYS_CACHESTAT,
            file.as_raw_fd(),
            &range as *const CachestatRange,
            &mut cs as *mut Cachestat,
            0 as libc::c_uint,
        )
    };
    (rc == 0).then_some(cs.nr_dirty)
}

fn config(dir: &std::path::Path) -> JournalConfig {
    JournalConfig {
        dir: dir.to_path_buf(),
        segment_size_bytes: SEGMENT_BYTES,
        max_record_bytes: 4096,
        durability: Durability::Batch,
    }
}

#[test]
fn batch_commit_syncs_only_its_range() {
    // The target directory is on a real disk more often than /tmp is.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let (mut j, _) = Journal::open(config(dir.path())).expect("open");
    let segment = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|x| x == "seg"))
        .expect("the first segment");
    let Some(before) = dirty_pages(&segment) else {
        eprintln!("SKIP: cachestat(2) is not available on this kernel");
        return;
    };
    if before < SEGMENT_PAGES / 2 {
        eprintln!(
            "SKIP: this file system keeps no dirty pages for a prefaulted segment ({before})"
        );
        return;
    }
    let payload = [0x42u8; 100];
    for _ in 0..8 {
        for _ in 0..4 {
            j.append(&payload).expect("append");
        }
        j.commit().expect("commit");
    }
    let after = dirty_pages(&segment).expect("cachestat worked a moment ago");
    // 8 commits of ~550 bytes touch 2 pages. A whole-file sync would leave
    // none dirty; background writeback could clean a few, never half.
    assert!(
        after > before / 2,
        "{before} dirty pages before 8 small Batch commits, {after} after: the commit synced \
         the whole prefaulted segment instead of its own range"
    );
    drop(j);
    // And what was committed is durable and readable.
    let (j, report) = Journal::open(config(dir.path())).expect("reopen");
    assert_eq!(report.last_sequence, Some(32));
    assert_eq!(j.next_sequence(), 33);
}
