//! Background preparation of the next segment, off the appending thread.
//!
//! The preparer creates a `*.prep` file, preallocates it (fallocate), maps it
//! and prefaults every page, then blocks handing it over through a rendezvous
//! channel. Rolling therefore costs one channel receive, one header write into
//! already-faulted memory and one rename. Old segments are sent back so their
//! (potentially slow) munmap also happens here.

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

use crate::format::PREP_SUFFIX;
use crate::segment::{self, SegmentMut};

/// Result of one preparation: a ready segment or the error text.
pub type Prepared = Result<SegmentMut, String>;

pub struct Preparer {
    ready: Option<Receiver<Prepared>>,
    retire: Option<mpsc::Sender<SegmentMut>>,
    thread: Option<JoinHandle<()>>,
}

impl Preparer {
    pub fn spawn(dir: PathBuf, size: u64) -> std::io::Result<Preparer> {
        let (ready_tx, ready_rx) = mpsc::sync_channel::<Prepared>(0);
        let (retire_tx, retire_rx) = mpsc::channel::<SegmentMut>();
        let thread = std::thread::Builder::new()
            .name("keel-journal-prep".into())
            .spawn(move || run(dir, size, ready_tx, retire_rx))?;
        Ok(Preparer {
            ready: Some(ready_rx),
            retire: Some(retire_tx),
            thread: Some(thread),
        })
    }

    /// Take the next prepared segment (blocks only if the preparer is behind).
    pub fn take(&mut self) -> Prepared {
        match self.ready.as_ref().map(|r| r.recv()) {
            Some(Ok(p)) => p,
            _ => Err("segment preparer thread is gone (it failed earlier)".into()),
        }
    }

    /// Hand an old segment to the preparer thread to unmap and close.
    pub fn retire(&mut self, seg: SegmentMut) {
        if let Some(tx) = &self.retire {
            if let Err(mpsc::SendError(seg)) = tx.send(seg) {
                drop(seg);
            }
        }
    }
}

impl Drop for Preparer {
    fn drop(&mut self) {
        self.ready.take();
        self.retire.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(dir: PathBuf, size: u64, ready: SyncSender<Prepared>, retire: Receiver<SegmentMut>) {
    let mut n: u64 = 0;
    loop {
        n += 1;
        let path = dir.join(format!("next-{}-{n}{PREP_SUFFIX}", std::process::id()));
        let prepared = segment::create(&path, size).map_err(|e| {
            format!("preparing segment {} ({size} bytes): {e}; free disk space or use smaller segments (keel config: journal.segment_size_mib; JournalConfig::segment_size_bytes)", path.display())
        });
        let failed = prepared.is_err();
        while let Ok(old) = retire.try_recv() {
            drop(old);
        }
        if let Err(mpsc::SendError(unsent)) = ready.send(prepared) {
            if let Ok(seg) = unsent {
                let p = seg.path.clone();
                drop(seg);
                let _ = std::fs::remove_file(p);
            }
            return;
        }
        if failed {
            // Fail-stop: the error was handed over; drain retired segments until the writer goes away.
            while let Ok(old) = retire.recv() {
                drop(old);
            }
            return;
        }
    }
}
