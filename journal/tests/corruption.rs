mod common;

use std::path::{Path, PathBuf};

use common::*;
use keel_journal::{format, truncate_at, verify, Journal, OpenError};

/// Build a journal with committed batches; returns (dir, records with file/offset/frame_len).
fn build(dir: &Path, records: u64, seg: u64) -> Vec<(u64, PathBuf, usize, usize)> {
    let (mut j, _) = Journal::open(cfg(dir, seg)).unwrap();
    let mut rng = Rng(42);
    for s in 1..=records {
        j.append(&payload_for(s, 120)).unwrap();
        if rng.below(5) == 0 || s == records {
            j.commit().unwrap();
        }
    }
    drop(j);
    locate(dir)
}

/// Walk the segment files with the public format constants and list every record frame.
fn locate(dir: &Path) -> Vec<(u64, PathBuf, usize, usize)> {
    let mut out = Vec::new();
    let mut segs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    segs.sort();
    for p in segs {
        let b = std::fs::read(&p).unwrap();
        let mut pos = format::HEADER_LEN;
        while pos + 8 <= b.len() {
            let w = format::get_u32(&b, pos);
            match format::parse_frame(&b, pos, w) {
                format::Frame::Record { seq, frame_len, .. } => {
                    out.push((seq, p.clone(), pos, frame_len));
                    pos += frame_len;
                }
                format::Frame::Commit(_) => pos += format::MARKER_LEN,
                _ => break,
            }
        }
    }
    out
}

fn flip(path: &Path, off: usize, mask: u8) {
    let mut b = std::fs::read(path).unwrap();
    b[off] ^= mask;
    std::fs::write(path, b).unwrap();
}

#[test]
fn single_byte_flips_in_committed_records_are_always_detected() {
    let flips: usize = std::env::var("KEEL_FLIPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let base = tempfile::tempdir().unwrap();
    let orig = base.path().join("orig");
    let recs = build(&orig, 400, 16384);
    assert_eq!(recs.len(), 400);
    let mut rng = Rng(0xF11F);
    let mut by_verify = 0;
    for i in 0..flips {
        let (seq, file, off, frame_len) = &recs[rng.below(recs.len() as u64) as usize];
        let at = off + rng.below(*frame_len as u64) as usize;
        let mask = 1u8 << rng.below(8);
        let copy = base.path().join(format!("c{i}"));
        copy_dir(&orig, &copy);
        let f = copy.join(file.file_name().unwrap());
        flip(&f, at, mask);
        // verify (read-only) and open must both refuse and name the sequence.
        let e = verify(&copy).expect_err("flip not detected by verify");
        assert_eq!(
            e.seq(),
            Some(*seq),
            "flip in seq {seq} at {} offset {at}: {e}",
            f.display()
        );
        assert_eq!(e.file(), f.as_path());
        by_verify += 1;
        match Journal::open(cfg(&copy, 16384)) {
            Err(OpenError::Corrupt(e)) => {
                assert_eq!(e.seq(), Some(*seq), "{e}");
                let msg = e.to_string();
                assert!(msg.contains("replay repair"), "{msg}");
            }
            other => panic!("flip at seq {seq} offset {at} not refused by open: {other:?}"),
        }
        std::fs::remove_dir_all(&copy).unwrap();
    }
    assert_eq!(by_verify, flips);
    eprintln!("{flips} flips, {flips} detected with the right sequence");
}

/// A segment is preallocated to its full size, so a file cut anywhere in
/// its last record or last commit marker was not torn by a crash: `open`
/// and `verify` refuse, naming the file, the offset where the data ends and
/// the sequence expected there, and `truncate_at` at that sequence (what
/// the message says to run) gives a journal that opens again.
#[test]
fn truncation_inside_last_record_is_refused_and_repairable() {
    let base = tempfile::tempdir().unwrap();
    let orig = base.path().join("orig");
    {
        let (mut j, _) = Journal::open(cfg(&orig, 65536)).unwrap();
        for s in 1..=50u64 {
            j.append(&payload_for(s, 100)).unwrap();
            if s % 10 == 0 {
                j.commit().unwrap();
            }
        }
        // last batch: two records 51, 52
        j.append(&[7u8; 200]).unwrap();
        j.append(&[9u8; 200]).unwrap();
        j.commit().unwrap();
    }
    let recs = locate(&orig);
    let (seq, file, off, frame_len) = recs.last().unwrap().clone();
    assert_eq!(seq, 52);
    let name = file.file_name().unwrap().to_owned();
    let marker_off = off + frame_len;
    let mut n = 0;
    for cut in off..=marker_off + format::MARKER_LEN - 1 {
        let copy = base.path().join(format!("t{cut}"));
        copy_dir(&orig, &copy);
        let seg = copy.join(&name);
        let f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
        f.set_len(cut as u64).unwrap();
        drop(f);
        let (want_off, want_seq) = if cut < marker_off {
            (off, 52)
        } else {
            (marker_off, 53)
        };
        let e = verify(&copy).expect_err("a cut segment must not verify");
        assert!(
            matches!(e, keel_journal::CorruptionError::SegmentSizeMismatch { .. }),
            "cut at {cut}: {e}"
        );
        assert_eq!(e.file(), seg.as_path(), "cut at {cut}: {e}");
        assert_eq!(e.offset(), Some(want_off as u64), "cut at {cut}: {e}");
        assert_eq!(e.seq(), Some(want_seq), "cut at {cut}: {e}");
        match Journal::open(cfg(&copy, 65536)) {
            Err(OpenError::Corrupt(oe)) => {
                assert_eq!(oe.to_string(), e.to_string(), "open and verify agree");
                let msg = oe.to_string();
                assert!(
                    msg.contains(&format!(
                        "replay repair {} --truncate-at {want_seq}",
                        copy.display()
                    )),
                    "{msg}"
                );
                assert!(msg.contains(&format!("{cut} bytes")), "{msg}");
            }
            other => panic!("cut at {cut}: open did not refuse: {other:?}"),
        }
        // Nothing was changed by the refusal.
        assert_eq!(std::fs::metadata(&seg).unwrap().len(), cut as u64);
        // The repair the message names makes it open again.
        truncate_at(&copy, want_seq, &base.path().join(format!("b{cut}"))).unwrap();
        let (j, rep) = Journal::open(cfg(&copy, 65536)).unwrap();
        assert_eq!(rep.last_sequence, Some(want_seq - 1), "cut at {cut}");
        drop(j);
        let got = read_all(&copy);
        assert_eq!(got.len() as u64, want_seq - 1);
        for (s, p) in &got[..50] {
            assert_eq!(*p, payload_for(*s, 100));
        }
        verify(&copy).unwrap();
        std::fs::remove_dir_all(&copy).unwrap();
        n += 1;
    }
    eprintln!("{n} truncation offsets refused and repaired");
}

#[test]
fn missing_middle_segment_is_refused() {
    let d = tempfile::tempdir().unwrap();
    build(d.path(), 300, 4096);
    let mut segs: Vec<PathBuf> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    segs.sort();
    assert!(segs.len() >= 3);
    std::fs::remove_file(&segs[1]).unwrap();
    let e = verify(d.path()).unwrap_err();
    assert!(
        matches!(e, keel_journal::CorruptionError::MissingSegment { .. }),
        "{e}"
    );
    assert!(matches!(
        Journal::open(cfg(d.path(), 4096)),
        Err(OpenError::Corrupt(
            keel_journal::CorruptionError::MissingSegment { .. }
        ))
    ));
}

#[test]
fn bad_version_and_header_refused() {
    let d = tempfile::tempdir().unwrap();
    build(d.path(), 10, 4096);
    let f = d.path().join("00000000000000000001.seg");
    let mut b = std::fs::read(&f).unwrap();
    let newer = format::FORMAT_VERSION + 1;
    b[format::VERSION_OFFSET] = newer as u8;
    let crc = crc32c::crc32c(&b[..format::HEADER_CRC_OFFSET]);
    b[format::HEADER_CRC_OFFSET..format::HEADER_CRC_OFFSET + 4].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&f, &b).unwrap();
    assert!(matches!(
        verify(d.path()),
        Err(keel_journal::CorruptionError::UnknownVersion { version, .. }) if version == newer
    ));
    // A later version may lay its header out differently: it is named as
    // an unknown version even when the version-1 CRC does not match.
    b[format::FIRST_SEQ_OFFSET] ^= 4;
    std::fs::write(&f, &b).unwrap();
    assert!(matches!(
        verify(d.path()),
        Err(keel_journal::CorruptionError::UnknownVersion { version, .. }) if version == newer
    ));
    // A readable version with a damaged header: bad header (CRC).
    b[format::VERSION_OFFSET] = format::FORMAT_VERSION as u8;
    std::fs::write(&f, &b).unwrap();
    assert!(matches!(
        Journal::open(cfg(d.path(), 4096)),
        Err(OpenError::Corrupt(
            keel_journal::CorruptionError::BadHeader { .. }
        ))
    ));
}

#[test]
fn truncate_at_repairs_corrupt_journal() {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("j");
    let recs = build(&dir, 300, 4096);
    // Corrupt record 200, then cut at 150 (mid-batch is likely) and at 200.
    for cut in [200u64, 150, 1] {
        let (_, file, off, _) = recs.iter().find(|r| r.0 == 200).unwrap().clone();
        if cut == 200 {
            flip(&file, off + format::REC_PAYLOAD_OFFSET, 0xFF);
            assert_eq!(verify(&dir).unwrap_err().seq(), Some(200));
        }
        let backup = base.path().join(format!("backup-{cut}"));
        let rep = truncate_at(&dir, cut, &backup).unwrap();
        assert_eq!(rep.last_seq, cut.checked_sub(1).filter(|&s| s > 0));
        assert!(std::fs::read(&backup)
            .unwrap()
            .starts_with(&keel_journal::BACKUP_MAGIC));
        let v = verify(&dir).unwrap();
        assert_eq!(v.records, cut - 1);
        assert_eq!(v.last_committed.map(|c| c.0), rep.last_seq);
        let (mut j, _) = Journal::open(cfg(&dir, 4096)).unwrap();
        assert_eq!(j.next_sequence(), cut);
        j.append(b"fresh").unwrap();
        j.commit().unwrap();
        drop(j);
        let got = read_all(&dir);
        assert_eq!(got.len() as u64, cut);
        for (s, p) in &got[..got.len() - 1] {
            assert_eq!(*p, payload_for(*s, 120));
        }
        // put history back to a longer state for the next cut
        let (mut j, _) = Journal::open(cfg(&dir, 4096)).unwrap();
        j.commit().unwrap();
        drop(j);
        std::fs::remove_dir_all(&dir).unwrap();
        build(&dir, 300, 4096);
    }
}

#[test]
fn editing_a_committed_byte_breaks_the_chain() {
    // Re-CRC an edited record so only the hash chain can catch it.
    let d = tempfile::tempdir().unwrap();
    let recs = build(d.path(), 100, 8192);
    let (seq, file, off, frame_len) = recs[40].clone();
    let mut b = std::fs::read(&file).unwrap();
    let len = frame_len - format::REC_HEADER_LEN;
    if len > 0 {
        b[off + format::REC_PAYLOAD_OFFSET] ^= 1;
    } else {
        b[off + format::REC_SEQ_OFFSET] ^= 0; // nothing to edit; fall through
    }
    let plen = (format::get_u32(&b, off) & format::LEN_MASK) as usize;
    let crc = format::record_crc(
        seq,
        &b[off + format::REC_PAYLOAD_OFFSET..off + format::REC_PAYLOAD_OFFSET + plen],
    );
    b[off + format::REC_CRC_OFFSET..off + format::REC_CRC_OFFSET + 4]
        .copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&file, &b).unwrap();
    if plen > 0 {
        let e = verify(d.path()).unwrap_err();
        assert!(
            matches!(e, keel_journal::CorruptionError::ChainMismatch { .. }),
            "{e}"
        );
        let first = e.seq().unwrap();
        assert!(first <= seq, "{e}");
        assert!(e
            .to_string()
            .contains(&file.file_name().unwrap().to_string_lossy().to_string()));
    }
}
