//! Tail truth (FORMAT.md, "Validation and recovery rules"): only a frame
//! whose length word was never written is a torn write that `open` cuts;
//! everything else that makes the log end before what was committed is
//! refused by `open` and `verify` alike, naming file, offset and sequence
//! and the `replay repair` command that cuts there. One test per refused
//! case and per automatically cut case, plus version-1 compatibility.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use keel_journal::format::{self, Frame, SegmentHeader};
use keel_journal::{truncate_at, verify, CorruptionError, Journal, OpenError};

const SEG: u64 = 4096;

fn segs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    v.sort();
    v
}

/// Committed batches of 5 over several 4 KiB segments.
fn build(dir: &Path, records: u64) {
    let (mut j, _) = Journal::open(cfg(dir, SEG)).unwrap();
    for s in 1..=records {
        j.append(&payload_for(s, 120)).unwrap();
        if s % 5 == 0 || s == records {
            j.commit().unwrap();
        }
    }
}

/// Every frame of a segment file: (offset, frame).
fn frames(path: &Path) -> Vec<(usize, Frame)> {
    format::frames(&std::fs::read(path).unwrap())
}

fn seal_of(path: &Path) -> (usize, format::SealMarker) {
    frames(path)
        .into_iter()
        .find_map(|(o, f)| match f {
            Frame::Seal(s) => Some((o, s)),
            _ => None,
        })
        .expect("a roll marker")
}

fn last_marker(path: &Path) -> (usize, format::CommitMarker) {
    frames(path)
        .into_iter()
        .filter_map(|(o, f)| match f {
            Frame::Commit(m) => Some((o, m)),
            _ => None,
        })
        .next_back()
        .expect("a commit marker")
}

fn flip(path: &Path, off: usize, mask: u8) {
    let mut b = std::fs::read(path).unwrap();
    b[off] ^= mask;
    std::fs::write(path, b).unwrap();
}

fn dir_bytes(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().is_some_and(|n| n != "LOCK"))
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    v.sort();
    v
}

/// `verify` and `open` both refuse with the same error, which names
/// `file`, `offset`, `seq` and the repair command; the refusal changes no
/// file. Returns the error.
fn assert_refused(dir: &Path, file: &Path, offset: usize, seq: u64) -> CorruptionError {
    let before = dir_bytes(dir);
    let e = verify(dir).expect_err("verify must refuse");
    assert_eq!(e.file(), file, "{e}");
    assert_eq!(e.offset(), Some(offset as u64), "{e}");
    assert_eq!(e.seq(), Some(seq), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains(&format!(
            "replay repair {} --truncate-at {seq}",
            dir.display()
        )),
        "{msg}"
    );
    match Journal::open(cfg(dir, SEG)) {
        Err(OpenError::Corrupt(oe)) => assert_eq!(oe.to_string(), msg),
        other => panic!("open did not refuse: {other:?}"),
    }
    assert_eq!(dir_bytes(dir), before, "a refused open changed files");
    e
}

/// The repair the message names gives a journal that opens, ends at
/// `seq - 1` and verifies.
fn assert_repairable(dir: &Path, seq: u64) {
    let backup = dir.parent().unwrap().join(format!("backup-{seq}"));
    truncate_at(dir, seq, &backup).unwrap();
    let (mut j, rep) = Journal::open(cfg(dir, SEG)).unwrap();
    assert_eq!(rep.last_sequence, Some(seq - 1));
    assert_eq!(j.append(b"after repair").unwrap(), seq);
    j.commit().unwrap();
    drop(j);
    let got = read_all(dir);
    assert_eq!(got.len() as u64, seq);
    for (s, p) in &got[..got.len() - 1] {
        assert_eq!(*p, payload_for(*s, 120), "seq {s}");
    }
    verify(dir).unwrap();
}

// ---- refused --------------------------------------------------------------

#[test]
fn newest_segment_deleted_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("j");
    build(&dir, 300);
    let s = segs(&dir);
    assert!(s.len() >= 4);
    let newest = s.last().unwrap().clone();
    let prev = s[s.len() - 2].clone();
    let first_of_newest =
        format::parse_segment_file_name(newest.file_name().unwrap().to_str().unwrap()).unwrap();
    std::fs::remove_file(&newest).unwrap();
    let (seal_off, seal) = seal_of(&prev);
    assert_eq!(seal.next_first_seq, first_of_newest);
    let e = assert_refused(&dir, &prev, seal_off, first_of_newest);
    assert!(
        matches!(&e, CorruptionError::MissingSuccessor { successor, .. } if *successor == newest),
        "{e}"
    );
    assert_repairable(&dir, first_of_newest);
}

/// The "64 uncommitted records": a batch spanning the roll into
/// the newest segment, whose marker was in it. They were committed, so
/// losing the segment is refused, not reported as uncommitted records.
#[test]
fn newest_segment_deleted_under_a_batch_spanning_the_roll_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("j");
    {
        let (mut j, _) = Journal::open(cfg(&dir, SEG)).unwrap();
        for s in 1..=20u64 {
            j.append(&payload_for(s, 120)).unwrap();
            if s % 5 == 0 {
                j.commit().unwrap();
            }
        }
        let n = segs(&dir).len();
        let mut s = 21;
        while segs(&dir).len() == n {
            j.append(&payload_for(s, 120)).unwrap();
            s += 1;
        }
        j.append(&payload_for(s, 120)).unwrap();
        j.commit().unwrap();
    }
    assert_eq!(verify(&dir).unwrap().uncommitted_records, 0);
    let s = segs(&dir);
    let newest = s.last().unwrap().clone();
    let prev = s[s.len() - 2].clone();
    let (seal_off, seal) = seal_of(&prev);
    // Records of the batch lie before the roll marker, its marker after.
    let (marker_off, _) = last_marker(&prev);
    assert!(marker_off < seal_off);
    assert!(frames(&prev)
        .iter()
        .any(|(o, f)| *o > marker_off && matches!(f, Frame::Record { .. })));
    std::fs::remove_file(&newest).unwrap();
    assert_refused(&dir, &prev, seal_off, seal.next_first_seq);
    assert_repairable(&dir, seal.next_first_seq);
}

#[test]
fn last_segment_truncated_is_refused() {
    for cut in [format::HEADER_LEN as u64, 2048, SEG - 8] {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("j");
        build(&dir, 300);
        let last = segs(&dir).last().unwrap().clone();
        // Where the data read from the cut file ends, and the sequence there.
        let kept: Vec<(usize, Frame)> = frames(&last)
            .into_iter()
            .take_while(|(o, f)| {
                let len = match f {
                    Frame::Record { frame_len, .. } => *frame_len,
                    _ => format::MARKER_LEN,
                };
                (*o + len) as u64 <= cut
            })
            .collect();
        let first =
            format::parse_segment_file_name(last.file_name().unwrap().to_str().unwrap()).unwrap();
        let off = kept.last().map_or(format::HEADER_LEN, |(o, f)| {
            o + match f {
                Frame::Record { frame_len, .. } => *frame_len,
                _ => format::MARKER_LEN,
            }
        });
        let seq = kept.iter().fold(first, |s, (_, f)| match f {
            Frame::Record { seq, .. } => seq + 1,
            _ => s,
        });
        let f = std::fs::OpenOptions::new().write(true).open(&last).unwrap();
        f.set_len(cut).unwrap();
        drop(f);
        let e = assert_refused(&dir, &last, off, seq);
        assert!(
            matches!(e, CorruptionError::SegmentSizeMismatch { len, size, .. } if len == cut && size == SEG),
            "{e}"
        );
        assert_repairable(&dir, seq);
    }
}

#[test]
fn last_commit_marker_damaged_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let orig = t.path().join("orig");
    build(&orig, 300);
    let last = segs(&orig).last().unwrap().clone();
    let (off, m) = last_marker(&last);
    for byte in 0..format::MARKER_LEN {
        for mask in [0x01u8, 0x40, 0x80] {
            let dir = t.path().join(format!("c{byte}-{mask}"));
            copy_dir(&orig, &dir);
            let f = dir.join(last.file_name().unwrap());
            flip(&f, off + byte, mask);
            let e = assert_refused(&dir, &f, off, m.last_seq + 1);
            assert!(
                matches!(e, CorruptionError::DamagedFrame { .. }),
                "byte {byte}: {e}"
            );
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }
    // The repair keeps the batch (its records are intact) under a new marker.
    let dir = t.path().join("repair");
    copy_dir(&orig, &dir);
    flip(&dir.join(last.file_name().unwrap()), off + 30, 0x04);
    assert_repairable(&dir, m.last_seq + 1);
}

#[test]
fn damaged_roll_marker_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let orig = t.path().join("orig");
    build(&orig, 300);
    let mid = segs(&orig)[1].clone();
    let (off, seal) = seal_of(&mid);
    for byte in 0..format::SEAL_LEN {
        let dir = t.path().join(format!("c{byte}"));
        copy_dir(&orig, &dir);
        let f = dir.join(mid.file_name().unwrap());
        flip(&f, off + byte, 0x02);
        let e = assert_refused(&dir, &f, off, seal.next_first_seq);
        assert!(
            matches!(e, CorruptionError::DamagedFrame { .. }),
            "byte {byte}: {e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// A roll marker wiped to zeros looks like the end of the data, but the
/// next segment holds data: refused, naming where the data ended.
#[test]
fn erased_roll_marker_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("j");
    build(&dir, 300);
    let mid = segs(&dir)[1].clone();
    let (off, seal) = seal_of(&mid);
    let mut b = std::fs::read(&mid).unwrap();
    b[off..off + format::SEAL_LEN].fill(0);
    std::fs::write(&mid, &b).unwrap();
    let e = assert_refused(&dir, &mid, off, seal.next_first_seq);
    assert!(matches!(e, CorruptionError::InvalidFrame { .. }), "{e}");
}

/// A record after the last marker whose length word is written but whose
/// bytes are damaged was not torn (the word is written last): refused.
#[test]
fn damaged_record_after_the_last_marker_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("j");
    build(&dir, 40);
    let (mut j, _) = Journal::open(cfg(&dir, SEG)).unwrap();
    j.append(&[5u8; 60]).unwrap();
    j.append(&[6u8; 60]).unwrap(); // never committed
    drop(j);
    let last = segs(&dir).last().unwrap().clone();
    let (off, seq) = frames(&last)
        .into_iter()
        .filter_map(|(o, f)| match f {
            Frame::Record { seq, .. } => Some((o, seq)),
            _ => None,
        })
        .next_back()
        .unwrap();
    assert_eq!(seq, 42);
    flip(&last, off + format::REC_PAYLOAD_OFFSET + 3, 0x10);
    let e = assert_refused(&dir, &last, off, 42);
    assert!(matches!(e, CorruptionError::DamagedFrame { .. }), "{e}");
}

// ---- cut automatically ----------------------------------------------------

/// A frame whose body was (partly) written but whose length word was never
/// stored: the one kind of torn write. `open` zeroes it and reports it.
#[test]
fn torn_frame_behind_a_zero_length_word_is_cut() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("j");
    build(&dir, 40);
    let last = segs(&dir).last().unwrap().clone();
    let (off, m) = last_marker(&last);
    let end = off + format::MARKER_LEN;
    // What a writer killed while filling a record leaves: sequence, CRC
    // and payload bytes, length word still zero.
    let mut b = std::fs::read(&last).unwrap();
    b[end + 4..end + 60].fill(0xA5);
    std::fs::write(&last, &b).unwrap();
    let v = verify(&dir).unwrap();
    assert_eq!(v.torn_tail_bytes, 64); // from the word to the 8-aligned end
    assert_eq!(v.torn_tail_at, Some((last.clone(), end as u64)));
    let (j, rep) = Journal::open(cfg(&dir, SEG)).unwrap();
    assert_eq!(rep.torn_tail_bytes, 64);
    assert_eq!(rep.last_sequence, Some(m.last_seq));
    assert_eq!(j.next_sequence(), m.last_seq + 1);
    drop(j);
    let b = std::fs::read(&last).unwrap();
    assert!(b[end..].iter().all(|&x| x == 0), "torn bytes zeroed");
    assert_eq!(verify(&dir).unwrap().torn_tail_bytes, 0);
}

/// Records after the last commit marker were never committed (the marker's
/// word is written last, and under Batch `commit` returns only after it is
/// synced): `open` drops them.
#[test]
fn uncommitted_records_after_the_last_marker_are_dropped() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("j");
    build(&dir, 40);
    let (mut j, _) = Journal::open(cfg(&dir, SEG)).unwrap();
    for _ in 0..3 {
        j.append(b"never committed").unwrap();
    }
    drop(j);
    assert_eq!(verify(&dir).unwrap().uncommitted_records, 3);
    let (mut j, rep) = Journal::open(cfg(&dir, SEG)).unwrap();
    assert_eq!(rep.uncommitted_records_dropped, 3);
    assert_eq!(rep.last_sequence, Some(40));
    assert_eq!(j.append(b"next").unwrap(), 41);
    j.commit().unwrap();
    drop(j);
    assert_eq!(read_all(&dir).len(), 41);
    verify(&dir).unwrap();
}

/// An uncommitted batch that spans rolls: its records before the roll
/// markers, the roll markers and the later segments (no committed data)
/// are all dropped; the journal goes on from the last commit.
#[test]
fn uncommitted_batch_spanning_rolls_is_dropped_with_its_segments() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("j");
    build(&dir, 40);
    let n = segs(&dir).len();
    let (mut j, _) = Journal::open(cfg(&dir, SEG)).unwrap();
    let mut appended = 0u64;
    while segs(&dir).len() < n + 2 {
        j.append(&payload_for(41 + appended, 120)).unwrap();
        appended += 1;
    }
    drop(j);
    assert_eq!(segs(&dir).len(), n + 2);
    assert_eq!(verify(&dir).unwrap().uncommitted_records, appended);
    let (mut j, rep) = Journal::open(cfg(&dir, SEG)).unwrap();
    assert_eq!(rep.uncommitted_records_dropped, appended);
    assert_eq!(rep.segments_removed, 2);
    assert_eq!(rep.last_sequence, Some(40));
    assert_eq!(segs(&dir).len(), n);
    // The roll marker naming a removed segment is gone with them.
    assert!(!frames(segs(&dir).last().unwrap())
        .iter()
        .any(|(_, f)| matches!(f, Frame::Seal(_))));
    for s in 41..=200u64 {
        assert_eq!(j.append(&payload_for(s, 120)).unwrap(), s);
        if s % 5 == 0 {
            j.commit().unwrap();
        }
    }
    drop(j);
    assert_eq!(verify(&dir).unwrap().records, 200);
    assert_eq!(read_all(&dir).len(), 200);
}

/// A writer that died after installing its next segment but before writing
/// the roll marker leaves a segment with a header and no frame: removed.
#[test]
fn next_segment_without_roll_marker_is_removed() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("j");
    build(&dir, 40);
    let s = segs(&dir);
    let last = s.last().unwrap().clone();
    let v = verify(&dir).unwrap();
    let (last_seq, chain) = v.last_committed.unwrap();
    let path = dir.join(format::segment_file_name(last_seq + 1));
    let mut b = vec![0u8; SEG as usize];
    SegmentHeader {
        version: format::FORMAT_VERSION,
        index: s.len() as u64,
        first_seq: last_seq + 1,
        segment_size: SEG,
        prev_chain: chain,
        writer_version: format::WRITER_VERSION.into(),
    }
    .encode(&mut b);
    std::fs::write(&path, &b).unwrap();
    assert_eq!(verify(&dir).unwrap().leftover_segments, 1);
    let (j, rep) = Journal::open(cfg(&dir, SEG)).unwrap();
    assert_eq!(rep.segments_removed, 1);
    assert_eq!(rep.last_sequence, Some(40));
    drop(j);
    assert!(!path.exists());
    assert_eq!(segs(&dir).last().unwrap(), &last);
    verify(&dir).unwrap();

    // The same file holding a record is data behind a segment end without
    // a roll marker: refused.
    let mut rec = vec![0u8; format::record_frame_len(3)];
    rec[format::REC_SEQ_OFFSET..format::REC_SEQ_OFFSET + 8]
        .copy_from_slice(&(last_seq + 1).to_le_bytes());
    rec[format::REC_PAYLOAD_OFFSET..format::REC_PAYLOAD_OFFSET + 3].copy_from_slice(b"abc");
    let crc = format::record_crc(last_seq + 1, b"abc");
    rec[format::REC_CRC_OFFSET..format::REC_CRC_OFFSET + 4].copy_from_slice(&crc.to_le_bytes());
    rec[..4].copy_from_slice(&format::record_word(3).to_le_bytes());
    b[format::HEADER_LEN..format::HEADER_LEN + rec.len()].copy_from_slice(&rec);
    std::fs::write(&path, &b).unwrap();
    let end = last_marker(&last).0 + format::MARKER_LEN;
    let e = assert_refused(&dir, &last, end, last_seq + 1);
    assert!(matches!(e, CorruptionError::InvalidFrame { .. }), "{e}");
}

/// `.prep` files are segments being prepared, never part of the journal.
#[test]
fn stale_prep_files_are_removed() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("j");
    build(&dir, 40);
    let prep = dir.join("next-999999-1.prep");
    std::fs::write(&prep, vec![0xEEu8; 4096]).unwrap();
    verify(&dir).unwrap();
    let (j, rep) = Journal::open(cfg(&dir, SEG)).unwrap();
    assert_eq!(rep.last_sequence, Some(40));
    drop(j);
    assert!(!prep.exists());
}

/// Recovery empties the later segments before it cuts the roll marker
/// that names them; a journal left at that step opens to the same result.
#[test]
fn interrupted_recovery_state_opens_the_same() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("j");
    build(&dir, 40);
    let n = segs(&dir).len();
    let (mut j, _) = Journal::open(cfg(&dir, SEG)).unwrap();
    let mut s = 41;
    while segs(&dir).len() < n + 1 {
        j.append(&payload_for(s, 120)).unwrap();
        s += 1;
    }
    drop(j);
    // Step one of recovery done: the later segment emptied, nothing else.
    let later = segs(&dir).last().unwrap().clone();
    let mut b = std::fs::read(&later).unwrap();
    b[format::HEADER_LEN..].fill(0);
    std::fs::write(&later, &b).unwrap();
    let (j, rep) = Journal::open(cfg(&dir, SEG)).unwrap();
    assert_eq!(rep.last_sequence, Some(40));
    assert_eq!(rep.segments_removed, 1);
    assert_eq!(j.next_sequence(), 41);
    drop(j);
    verify(&dir).unwrap();
}

// ---- version 1 ------------------------------------------------------------

fn v1_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../replay/tests/fixtures/v1")
}

fn v1_cfg(dir: &Path) -> keel_journal::JournalConfig {
    let mut c = cfg(dir, 1 << 20);
    c.max_record_bytes = 64 << 10;
    c
}

/// The committed version-1 fixture (one segment, trimmed after its data,
/// so shorter than its header's size, which version 1 allows) verifies,
/// opens, and a writer continues it: the version-1 segment gets a roll
/// marker, the new one is version 2, and everything reads back.
#[test]
fn v1_journal_opens_verifies_and_continues() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("v1");
    std::fs::create_dir(&dir).unwrap();
    let seg = v1_fixture().join("00000000000000000001.seg");
    std::fs::copy(&seg, dir.join("00000000000000000001.seg")).unwrap();
    let b = std::fs::read(&seg).unwrap();
    assert_eq!(format::get_u32(&b, format::VERSION_OFFSET), 1);
    let v = verify(&dir).unwrap();
    assert!(v.records > 1000);
    let old = v.records;
    let (mut j, rep) = Journal::open(v1_cfg(&dir)).unwrap();
    assert_eq!(rep.records, old);
    assert_eq!(rep.uncommitted_records_dropped + rep.torn_tail_bytes, 0);
    let first_new = j.next_sequence();
    let mut s = first_new;
    while segs(&dir).len() < 2 {
        j.append(&payload_for(s, 60_000)).unwrap();
        s += 1;
        j.commit().unwrap();
    }
    j.append(&payload_for(s, 60_000)).unwrap();
    j.commit().unwrap();
    drop(j);
    let v = verify(&dir).unwrap();
    assert_eq!(v.records, s);
    let s0 = segs(&dir)[0].clone();
    let s1 = segs(&dir)[1].clone();
    assert_eq!(
        format::get_u32(&std::fs::read(&s0).unwrap(), format::VERSION_OFFSET),
        1
    );
    assert_eq!(
        format::get_u32(&std::fs::read(&s1).unwrap(), format::VERSION_OFFSET),
        format::FORMAT_VERSION
    );
    let s1_first =
        format::parse_segment_file_name(s1.file_name().unwrap().to_str().unwrap()).unwrap();
    assert_eq!(seal_of(&s0).1.next_first_seq, s1_first);
    let got = read_all(&dir);
    assert_eq!(got.len() as u64, s);
    for (q, p) in &got[first_new as usize - 1..] {
        assert_eq!(*p, payload_for(*q, 60_000));
    }
    // And it reopens.
    let (j, rep) = Journal::open(v1_cfg(&dir)).unwrap();
    assert_eq!(rep.last_sequence, Some(s));
    drop(j);
}

/// Version 1 keeps its tail rules for the one torn write there is: a zero
/// length word with a partly written frame behind it is cut.
#[test]
fn v1_torn_frame_is_cut() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("v1");
    std::fs::create_dir(&dir).unwrap();
    let dst = dir.join("00000000000000000001.seg");
    let mut b = std::fs::read(v1_fixture().join("00000000000000000001.seg")).unwrap();
    let records = {
        std::fs::write(&dst, &b).unwrap();
        verify(&dir).unwrap().records
    };
    b.extend_from_slice(&[0, 0, 0, 0]);
    b.extend_from_slice(&[0x5Au8; 36]);
    std::fs::write(&dst, &b).unwrap();
    let v = verify(&dir).unwrap();
    assert_eq!(v.torn_tail_bytes, 40);
    let (j, rep) = Journal::open(v1_cfg(&dir)).unwrap();
    assert_eq!(rep.torn_tail_bytes, 40);
    assert_eq!(rep.records, records);
    drop(j);
    verify(&dir).unwrap();
}
