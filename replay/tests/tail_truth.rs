//! `replay verify` fails the same way `Journal::open` does on the journal
//! tail cases that lose committed records (journal/FORMAT.md, "What `open`
//! refuses"): newest segment deleted, last segment truncated, last commit
//! marker damaged. It names the sequence, file and offset and the `replay
//! repair` command that cuts there, and that command makes the journal
//! valid again.

mod common;

use std::path::Path;

use common::{p, replay, segments};
use keel_journal::format::{self, Frame};
use keel_journal::{Journal, JournalConfig, OpenError};

fn build(dir: &Path) {
    let mut c = JournalConfig::new(dir);
    c.segment_size_bytes = 4096;
    c.max_record_bytes = 1024;
    let (mut j, _) = Journal::open(c).unwrap();
    for s in 1..=300u64 {
        j.append(&vec![s as u8; (s % 97) as usize]).unwrap();
        if s % 5 == 0 {
            j.commit().unwrap();
        }
    }
}

fn cfg(dir: &Path) -> JournalConfig {
    let mut c = JournalConfig::new(dir);
    c.segment_size_bytes = 4096;
    c.max_record_bytes = 1024;
    c
}

/// `Journal::open`, retried for a moment while the lock is held by this
/// process: other tests in this binary spawn `replay` concurrently, and a
/// child holds a copy of the just-dropped writer's lock descriptor between
/// its fork and its exec (close-on-exec closes it only at the exec).
fn open_past_forks(dir: &Path) -> Result<Journal, OpenError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match Journal::open(cfg(dir)) {
            Err(OpenError::Locked { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other.map(|(j, _)| j),
        }
    }
}

/// `replay verify` exits 1 naming `seq`, `file` and `offset`, with the same
/// error `Journal::open` refuses with; `replay repair` at `seq` fixes it.
fn assert_refused_alike(dir: &Path, file: &Path, offset: usize, seq: u64) {
    let open_err = match open_past_forks(dir) {
        Err(OpenError::Corrupt(e)) => e,
        other => panic!("open did not refuse: {other:?}"),
    };
    let r = replay(&["verify", p(dir)]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "journal corrupt at sequence {seq} (file {}, offset {offset})",
            file.display()
        )),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains(&open_err.to_string()), "{}", r.stderr);
    let cmd = format!("replay repair {} --truncate-at {seq}", dir.display());
    assert!(r.stderr.contains(&cmd), "{}", r.stderr);
    let r = replay(&["repair", p(dir), "--truncate-at", &seq.to_string(), "--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = keel_journal::verify(dir).unwrap();
    assert_eq!(v.last_committed.map(|c| c.0), Some(seq - 1));
    open_past_forks(dir).unwrap();
}

/// Every frame of a segment file: (offset, frame).
fn frames(path: &Path) -> Vec<(usize, Frame)> {
    format::frames(&std::fs::read(path).unwrap())
}

fn first_seq(path: &Path) -> u64 {
    format::parse_segment_file_name(path.file_name().unwrap().to_str().unwrap()).unwrap()
}

#[test]
fn newest_segment_deleted() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("j");
    build(&dir);
    let s = segments(&dir);
    assert!(s.len() >= 4);
    let newest = s.last().unwrap();
    let prev = &s[s.len() - 2];
    std::fs::remove_file(newest).unwrap();
    let seal_off = frames(prev)
        .iter()
        .find_map(|(o, f)| matches!(f, Frame::Seal(_)).then_some(*o))
        .unwrap();
    assert_refused_alike(&dir, prev, seal_off, first_seq(newest));
}

#[test]
fn last_segment_truncated() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("j");
    build(&dir);
    let last = segments(&dir).last().unwrap().clone();
    let f = std::fs::OpenOptions::new().write(true).open(&last).unwrap();
    f.set_len(128).unwrap();
    drop(f);
    assert_refused_alike(&dir, &last, 128, first_seq(&last));
}

#[test]
fn last_commit_marker_flipped() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("j");
    build(&dir);
    let last = segments(&dir).last().unwrap().clone();
    let (off, m) = frames(&last)
        .into_iter()
        .filter_map(|(o, f)| match f {
            Frame::Commit(m) => Some((o, m)),
            _ => None,
        })
        .next_back()
        .unwrap();
    let mut b = std::fs::read(&last).unwrap();
    b[off + 20] ^= 0x08;
    std::fs::write(&last, &b).unwrap();
    assert_refused_alike(&dir, &last, off, m.last_seq + 1);
}
