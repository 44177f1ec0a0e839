//! One writer, really (FORMAT.md, "One writer"): the single-writer lock is
//! an exclusive flock on the journal directory itself and on the segment
//! file being written, so removing or renaming `LOCK` (or reaching a
//! segment through another directory) under a running writer lets no
//! second writer in, in this process or another, and nothing the first
//! writer acknowledged is lost.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use keel_journal::{truncate_at, verify, Journal, OpenError, RepairError};

const SEG: u64 = 4096;
const CHILD_ENV: &str = "KEEL_LOCK_CHILD_DIR";

/// The child side: try to open the journal as a second writer and say
/// what happened. Does nothing unless started by a test below.
#[test]
fn lock_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    match Journal::open(cfg(dir.as_ref(), SEG)) {
        Ok(_) => println!("OPENED"),
        Err(OpenError::Locked { .. }) => {
            let e = Journal::open(cfg(dir.as_ref(), SEG)).unwrap_err();
            println!("LOCKED {e}");
        }
        Err(e) => println!("ERROR {e}"),
    }
}

/// Runs `lock_child` in a new process on `dir`; returns its one line.
fn second_process(dir: &Path) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "lock_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .find_map(|l| {
            ["OPENED", "LOCKED", "ERROR"]
                .iter()
                .find_map(|k| l.find(k).map(|i| l[i..].to_string()))
        })
        .unwrap_or_else(|| panic!("child said nothing: {stdout}"))
}

/// Appends `from..=to` with their deterministic payloads, committing every
/// 7 and at the end.
fn write(j: &mut Journal, from: u64, to: u64) {
    for s in from..=to {
        assert_eq!(j.append(&payload_for(s, 120)).unwrap(), s);
        if s % 7 == 0 || s == to {
            j.commit().unwrap();
        }
    }
}

fn assert_all_there(dir: &Path, last: u64) {
    let got = read_all(dir);
    assert_eq!(got.len() as u64, last);
    for (i, (s, p)) in got.iter().enumerate() {
        assert_eq!(*s, i as u64 + 1);
        assert_eq!(*p, payload_for(*s, 120), "payload of {s}");
    }
    assert_eq!(verify(dir).unwrap().records, last);
}

fn refused_in_process(dir: &Path) -> String {
    match Journal::open(cfg(dir, SEG)) {
        Err(e @ OpenError::Locked { .. }) => e.to_string(),
        other => panic!("second writer not refused: {other:?}"),
    }
}

#[test]
fn second_writer_is_refused_naming_the_holder_pid() {
    let d = tempfile::tempdir().unwrap();
    let (mut a, _) = Journal::open(cfg(d.path(), SEG)).unwrap();
    write(&mut a, 1, 50);
    let me = std::process::id();
    let msg = refused_in_process(d.path());
    assert!(msg.contains(&format!("is in use by pid {me} ")), "{msg}");
    assert!(msg.contains("stop that process first"), "{msg}");
    let child = second_process(d.path());
    assert!(child.starts_with("LOCKED"), "{child}");
    assert!(
        child.contains(&format!("is in use by pid {me} ")),
        "{child}"
    );
    write(&mut a, 51, 80);
    drop(a);
    assert_all_there(d.path(), 80);
}

#[test]
fn lock_file_removed_under_a_running_writer_still_refuses_a_second_writer() {
    let d = tempfile::tempdir().unwrap();
    let (mut a, _) = Journal::open(cfg(d.path(), SEG)).unwrap();
    write(&mut a, 1, 50);
    std::fs::remove_file(d.path().join("LOCK")).unwrap();
    let msg = refused_in_process(d.path());
    assert!(msg.contains("is in use by another process"), "{msg}");
    let child = second_process(d.path());
    assert!(child.starts_with("LOCKED"), "{child}");
    let backup = d.path().join("cut.keelbak");
    assert!(matches!(
        truncate_at(d.path(), 10, &backup),
        Err(RepairError::Locked { .. })
    ));
    assert!(!backup.exists());
    // The first writer goes on, across segment rolls, and loses nothing.
    let segments_before = std::fs::read_dir(d.path()).unwrap().count();
    write(&mut a, 51, 600);
    assert!(std::fs::read_dir(d.path()).unwrap().count() > segments_before);
    assert!(second_process(d.path()).starts_with("LOCKED"));
    drop(a);
    assert_all_there(d.path(), 600);
    // Released with the writer.
    let (j, rep) = Journal::open(cfg(d.path(), SEG)).unwrap();
    assert_eq!(rep.last_sequence, Some(600));
    drop(j);
}

#[test]
fn lock_file_renamed_or_replaced_under_a_running_writer_still_refuses() {
    let d = tempfile::tempdir().unwrap();
    let (mut a, _) = Journal::open(cfg(d.path(), SEG)).unwrap();
    write(&mut a, 1, 50);
    std::fs::rename(d.path().join("LOCK"), d.path().join("LOCK.old")).unwrap();
    refused_in_process(d.path());
    assert!(second_process(d.path()).starts_with("LOCKED"));
    // A fresh, unlocked LOCK file in its place changes nothing either.
    std::fs::write(d.path().join("LOCK"), b"").unwrap();
    refused_in_process(d.path());
    assert!(second_process(d.path()).starts_with("LOCKED"));
    write(&mut a, 51, 300);
    drop(a);
    assert_all_there(d.path(), 300);
}

/// A segment a writer is appending to, reached through another directory
/// (here hard links of all segments in a new directory, whose own lock is
/// free), cannot be opened for writing there: the segment file is locked
/// too.
#[test]
fn segment_being_written_reached_through_another_directory_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let a_dir = d.path().join("a");
    let b_dir = d.path().join("b");
    let (mut a, _) = Journal::open(cfg(&a_dir, SEG)).unwrap();
    write(&mut a, 1, 100);
    std::fs::create_dir(&b_dir).unwrap();
    for e in std::fs::read_dir(&a_dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "seg") {
            std::fs::hard_link(&p, b_dir.join(p.file_name().unwrap())).unwrap();
        }
    }
    match Journal::open(cfg(&b_dir, SEG)) {
        Err(e @ OpenError::Locked { .. }) => {
            assert!(e.to_string().contains("holds this segment file"), "{e}")
        }
        other => panic!("second writer of the same segment file not refused: {other:?}"),
    }
    let child = second_process(&b_dir);
    assert!(child.starts_with("LOCKED"), "{child}");
    write(&mut a, 101, 150);
    drop(a);
    assert_all_there(&a_dir, 150);
}
