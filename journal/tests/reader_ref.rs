//! The zero-copy reader API (`Reader::try_next_ref`) returns exactly what the
//! owned one does, across segment rolls and batches that span a roll, and
//! never returns a batch without its commit marker.

mod common;

use common::*;
use keel_journal::{Journal, Reader, Record};

fn read_ref(r: &mut Reader) -> Vec<Record> {
    let mut out = Vec::new();
    while let Some(r) = r.try_next_ref().unwrap() {
        out.push(Record {
            seq: r.seq,
            payload: r.payload.to_vec(),
            batch_chain: r.batch_chain,
        });
    }
    out
}

fn read_owned(dir: &std::path::Path, from: u64) -> Vec<Record> {
    Journal::reader(dir, from)
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

fn segments(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_str()
                .unwrap()
                .ends_with(".seg")
        })
        .count()
}

#[test]
fn ref_equals_owned_across_rolls_and_spanning_batches() {
    let d = tempfile::tempdir().unwrap();
    let (mut j, _) = Journal::open(cfg(d.path(), 4096)).unwrap();
    let mut rng = Rng(7);
    let mut s = 0u64;
    let mut chains = Vec::new();
    while s < 2000 {
        // Batches of 1..=40 records of up to 300 bytes: many span a roll.
        for _ in 0..=rng.below(40) {
            s += 1;
            assert_eq!(j.append(&payload_for(s, 300)).unwrap(), s);
        }
        let c = j.commit().unwrap();
        chains.push((s, j.last_committed().unwrap().1));
        assert_eq!(c.last_seq, Some(s));
    }
    let last = s;
    assert!(segments(d.path()) > 20, "expected many rolls");

    let mut r = Journal::reader(d.path(), 1).unwrap();
    let by_ref = read_ref(&mut r);
    let owned = read_owned(d.path(), 1);
    assert_eq!(by_ref.len() as u64, last);
    assert_eq!(by_ref, owned);
    for (i, rec) in by_ref.iter().enumerate() {
        assert_eq!(rec.seq, i as u64 + 1);
        assert_eq!(rec.payload, payload_for(rec.seq, 300));
        // The batch chain is that of the batch's commit.
        let (_, chain) = chains.iter().find(|(l, _)| *l >= rec.seq).unwrap();
        assert_eq!(rec.batch_chain, *chain);
    }
    // Starting mid-journal (mid-batch, too) gives the same suffix.
    for from in [2, 17, 333, 1000, last] {
        let mut r = Journal::reader(d.path(), from).unwrap();
        assert_eq!(r.position(), from);
        let by_ref = read_ref(&mut r);
        assert_eq!(by_ref, read_owned(d.path(), from));
        assert_eq!(by_ref[..], owned[from as usize - 1..]);
    }
    // Mixing the two calls on one reader.
    let mut r = Journal::reader(d.path(), 1).unwrap();
    let mut mixed = Vec::new();
    loop {
        let rec = if mixed.len() % 3 == 0 {
            r.try_next().unwrap()
        } else {
            r.try_next_ref().unwrap().map(|x| x.to_record())
        };
        match rec {
            Some(rec) => mixed.push(rec),
            None => break,
        }
    }
    assert_eq!(mixed, owned);
}

#[test]
fn batch_without_commit_marker_is_not_returned() {
    let d = tempfile::tempdir().unwrap();
    let (mut j, _) = Journal::open(cfg(d.path(), 4096)).unwrap();
    for s in 1..=10u64 {
        j.append(&payload_for(s, 200)).unwrap();
    }
    j.commit().unwrap();
    // An uncommitted batch big enough to span several rolls.
    for s in 11..=60u64 {
        j.append(&payload_for(s, 200)).unwrap();
    }
    let mut r = Journal::reader(d.path(), 1).unwrap();
    let got = read_ref(&mut r);
    assert_eq!(got.len(), 10);
    assert!(got.iter().all(|g| g.seq <= 10));
    assert!(r.try_next_ref().unwrap().is_none());
    assert_eq!(read_owned(d.path(), 1).len(), 10);

    // Once committed, the same reader continues with the whole batch
    // (which began in an earlier segment than its marker).
    j.commit().unwrap();
    let rest = read_ref(&mut r);
    assert_eq!(rest.len(), 50);
    for (i, rec) in rest.iter().enumerate() {
        assert_eq!(rec.seq, 11 + i as u64);
        assert_eq!(rec.payload, payload_for(rec.seq, 200));
        assert_eq!(rec.batch_chain, j.last_committed().unwrap().1);
    }
    assert_eq!(rest[..], read_owned(d.path(), 1)[10..]);

    // A reopened journal drops an uncommitted tail; it is never returned.
    j.append(b"never committed").unwrap();
    let mut r = Journal::reader(d.path(), 1).unwrap();
    assert_eq!(read_ref(&mut r).len(), 60);
    drop(j);
    let (j, _) = Journal::open(cfg(d.path(), 4096)).unwrap();
    assert_eq!(j.last_committed().unwrap().0, 60);
    let mut r = Journal::reader(d.path(), 1).unwrap();
    assert_eq!(read_ref(&mut r), read_owned(d.path(), 1));
}

#[test]
fn crc_checked_through_skips_only_the_declared_prefix() {
    let d = tempfile::tempdir().unwrap();
    let (mut j, _) = Journal::open(cfg(d.path(), 4096)).unwrap();
    for _ in 1..=5u64 {
        j.append(b"abcdefgh").unwrap();
    }
    j.commit().unwrap();
    drop(j);
    let all = read_owned(d.path(), 1);
    assert_eq!(all.len(), 5);
    let mut r = Journal::reader(d.path(), 1).unwrap();
    r.crc_checked_through(5);
    assert_eq!(read_ref(&mut r), all);

    // Record frames are 16 + 8 bytes from offset 128: flip a payload byte
    // of record 3.
    let seg = d.path().join("00000000000000000001.seg");
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[128 + 2 * 24 + 16] ^= 0xff;
    std::fs::write(&seg, &bytes).unwrap();
    let first_err = |through: u64| {
        let mut r = Journal::reader(d.path(), 1).unwrap();
        r.crc_checked_through(through);
        loop {
            match r.try_next_ref() {
                Ok(Some(_)) => {}
                Ok(None) => return None,
                Err(e) => return Some(e.to_string()),
            }
        }
    };
    let e = first_err(0).expect("crc mismatch detected");
    assert!(e.contains("crc"), "{e}");
    // Record 3 is after the declared prefix: still checked.
    assert!(first_err(2).is_some());
}
