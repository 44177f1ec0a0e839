mod common;

use common::*;
use keel_journal::{verify, AppendError, Durability, Journal};

#[test]
fn empty_journal_starts_at_one_and_names_segments() {
    let d = tempfile::tempdir().unwrap();
    let (j, rep) = Journal::open(cfg(d.path(), 4096)).unwrap();
    assert!(rep.created);
    assert_eq!(j.next_sequence(), 1);
    assert_eq!(j.last_committed(), None);
    assert!(d.path().join("00000000000000000001.seg").exists());
    assert_eq!(
        std::fs::metadata(d.path().join("00000000000000000001.seg"))
            .unwrap()
            .len(),
        4096
    );
}

#[test]
fn append_commit_read_roll_reopen() {
    let d = tempfile::tempdir().unwrap();
    let (mut j, _) = Journal::open(cfg(d.path(), 8192)).unwrap();
    for s in 1..=500u64 {
        assert_eq!(j.append(&payload_for(s, 200)).unwrap(), s);
        if s % 7 == 0 {
            let c = j.commit().unwrap();
            assert_eq!(c.last_seq, Some(s));
        }
    }
    j.commit().unwrap();
    // Uncommitted records are invisible and dropped at reopen.
    j.append(b"uncommitted").unwrap();
    let recs = read_all(d.path());
    assert_eq!(recs.len(), 500);
    for (s, p) in &recs {
        assert_eq!(*p, payload_for(*s, 200));
    }
    let (s, chain) = j.last_committed().unwrap();
    assert_eq!(s, 500);
    assert_eq!(Journal::chain_at(d.path(), 500).unwrap(), Some(chain));
    assert_eq!(Journal::chain_at(d.path(), 501).unwrap(), None);
    drop(j);
    let segs = std::fs::read_dir(d.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_str()
                .unwrap()
                .ends_with(".seg")
        })
        .count();
    assert!(segs > 5, "expected rolls, got {segs} segments");
    let v = verify(d.path()).unwrap();
    assert_eq!(v.records, 500);
    assert_eq!(v.uncommitted_records, 1);
    let (mut j, rep) = Journal::open(cfg(d.path(), 8192)).unwrap();
    assert_eq!(rep.records, 500);
    assert_eq!(rep.uncommitted_records_dropped, 1);
    assert_eq!(rep.last_sequence, Some(500));
    assert_eq!(j.next_sequence(), 501);
    assert_eq!(j.last_committed().unwrap().1, chain);
    j.append(b"after").unwrap();
    j.commit().unwrap();
    drop(j);
    let recs = read_all(d.path());
    assert_eq!(recs.len(), 501);
    assert_eq!(recs[500], (501, b"after".to_vec()));
    // Reader from the middle.
    let mid: Vec<u64> = Journal::reader(d.path(), 250)
        .unwrap()
        .map(|r| r.unwrap().seq)
        .collect();
    assert_eq!(mid, (250..=501).collect::<Vec<_>>());
}

#[test]
fn reserve_seal_and_drop() {
    let d = tempfile::tempdir().unwrap();
    let (mut j, _) = Journal::open(cfg(d.path(), 4096)).unwrap();
    {
        let mut r = j.reserve(100).unwrap();
        r.buf().fill(0xAB);
        // dropped unsealed: discarded
    }
    let mut r = j.reserve(100).unwrap();
    assert_eq!(r.buf().len(), 100);
    assert!(
        r.buf().iter().all(|&b| b == 0),
        "a reservation is handed out zeroed"
    );
    r.buf()[..10].fill(0xCD);
    assert_eq!(r.seal(10).unwrap(), 1);
    let r = j.reserve(8).unwrap();
    assert!(matches!(r.seal(9), Err(AppendError::SealTooLong { .. })));
    assert!(matches!(
        j.append(&[0u8; 1025]),
        Err(AppendError::TooLarge {
            len: 1025,
            max: 1024
        })
    ));
    assert!(j.reserve(5000).is_err());
    j.append(&[]).unwrap();
    j.commit().unwrap();
    assert_eq!(j.commit().unwrap().records, 0);
    drop(j);
    assert_eq!(read_all(d.path()), vec![(1, vec![0xCD; 10]), (2, vec![])]);
    verify(d.path()).unwrap();
}

#[test]
fn second_writer_is_refused_and_bad_config_rejected() {
    let d = tempfile::tempdir().unwrap();
    let (_j, _) = Journal::open(cfg(d.path(), 4096)).unwrap();
    assert!(matches!(
        Journal::open(cfg(d.path(), 4096)),
        Err(keel_journal::OpenError::Locked { .. })
    ));
    let d2 = tempfile::tempdir().unwrap();
    assert!(Journal::open(cfg(d2.path(), 1000)).is_err());
    let mut c = cfg(d2.path(), 4096);
    c.max_record_bytes = 8000;
    assert!(Journal::open(c).is_err());
}

#[test]
fn batch_durability_and_tailer_across_rolls() {
    let d = tempfile::tempdir().unwrap();
    let mut c = cfg(d.path(), 4096);
    c.durability = Durability::Batch;
    let (mut j, _) = Journal::open(c).unwrap();
    let dir = d.path().to_path_buf();
    let t = std::thread::spawn(move || {
        let mut t = Journal::tail(&dir, 1).unwrap();
        let mut got = Vec::new();
        while got.len() < 300 {
            if let Some(r) = t.next_timeout(std::time::Duration::from_secs(10)).unwrap() {
                assert_eq!(r.payload, payload_for(r.seq, 100));
                got.push(r.seq);
            } else {
                panic!("tailer timed out at {}", got.len());
            }
        }
        got
    });
    for s in 1..=300u64 {
        j.append(&payload_for(s, 100)).unwrap();
        if s % 10 == 0 {
            j.commit().unwrap();
        }
    }
    let got = t.join().unwrap();
    assert_eq!(got, (1..=300).collect::<Vec<_>>());
}

/// Sealing costs O(len): writing past the sealed length breaks the contract,
/// which debug builds catch.
#[cfg(debug_assertions)]
#[test]
#[should_panic(expected = "bytes past the sealed length")]
fn seal_contract_is_checked_in_debug() {
    let d = tempfile::tempdir().unwrap();
    let (mut j, _) = Journal::open(cfg(d.path(), 4096)).unwrap();
    let mut r = j.reserve(100).unwrap();
    r.buf().fill(0xCD);
    let _ = r.seal(10);
}
