//! Disk-full: a 2 MiB tmpfs; the journal must fail with a clear out-of-space
//! error from fallocate and keep everything committed readable. Skips (with a
//! message) when the container refuses to mount.

mod common;

use std::process::Command;

use common::*;
use keel_journal::{AppendError, Journal};

struct Mount(std::path::PathBuf);
impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn full_disk_is_a_clean_error_and_committed_data_survives() {
    let d = tempfile::tempdir().unwrap();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(d.path())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("SKIP disk-full test: cannot mount a size-limited tmpfs here (not root or no CAP_SYS_ADMIN)");
        return;
    }
    let m = Mount(d.path().to_path_buf());
    let dir = m.0.join("j");
    let seg = 256 * 1024;
    let (mut j, _) = Journal::open(cfg(&dir, seg)).unwrap();
    let mut last_ok = 0u64;
    let err = loop {
        let s = j.next_sequence();
        match j.append(&payload_for(s, 500)) {
            Ok(_) => {}
            Err(e) => break e,
        }
        if s % 8 == 0 {
            match j.commit() {
                Ok(c) => last_ok = c.last_seq.unwrap(),
                Err(e) => break e,
            }
        }
        assert!(s < 10_000_000, "never ran out of space");
    };
    let msg = err.to_string();
    assert!(matches!(err, AppendError::Failed { .. }), "{msg}");
    assert!(
        msg.contains("No space left") || msg.contains("os error 28"),
        "{msg}"
    );
    assert!(msg.contains("free disk space"), "{msg}");
    eprintln!("disk full after {last_ok} committed records: {msg}");
    // Fail-stop afterwards.
    assert!(j.append(b"x").is_err());
    assert!(j.commit().is_err());
    drop(j);
    let got = read_all(&dir);
    assert!(got.len() as u64 >= last_ok);
    for (s, p) in &got {
        assert_eq!(*p, payload_for(*s, 500));
    }
    // Re-open works (no new allocation needed to recover) and data is intact.
    let (j, rep) = Journal::open(cfg(&dir, seg)).unwrap();
    assert!(rep.last_sequence.unwrap() >= last_ok);
    drop(j);
    keel_journal::verify(&dir).unwrap();
    drop(m);
}
