//! Replicated batches: captured on one journal, checked and appended on
//! another; the follower's records are byte-identical and its chain equal,
//! and every damaged, misplaced or foreign batch is refused unchanged.

use keel_journal::{verify, Batch, Journal, JournalConfig, ReplicaError};

fn config(dir: &std::path::Path) -> JournalConfig {
    let mut cfg = JournalConfig::new(dir);
    // Small segments, so batches span rolls.
    cfg.segment_size_bytes = 8192;
    cfg.max_record_bytes = 1024;
    cfg
}

fn payload(i: u64) -> Vec<u8> {
    let len = (i * 37 % 700) as usize + 1;
    (0..len).map(|k| (i as usize * 31 + k) as u8).collect()
}

/// Writes `batches` batches on a capturing leader; returns each batch's bytes.
fn lead(leader: &mut Journal, batches: u64, from: u64) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = from;
    for b in 0..batches {
        for _ in 0..(b % 5 + 1) {
            leader.append(&payload(i)).unwrap();
            i += 1;
        }
        leader.commit().unwrap();
        let mut bytes = Vec::new();
        leader.take_captured(&mut bytes);
        assert!(!bytes.is_empty());
        out.push(bytes);
    }
    out
}

fn records(dir: &std::path::Path) -> Vec<(u64, Vec<u8>, [u8; 32])> {
    Journal::reader(dir, 1)
        .unwrap()
        .map(|r| r.unwrap())
        .map(|r| (r.seq, r.payload, r.batch_chain))
        .collect()
}

#[test]
fn follower_journal_is_byte_identical_across_rolls() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (mut leader, _) = Journal::open(config(a.path())).unwrap();
    leader.set_capture(true);
    let (mut follower, _) = Journal::open(config(b.path())).unwrap();
    let batches = lead(&mut leader, 60, 0);
    for bytes in &batches {
        let batch = Batch::parse(bytes).unwrap();
        assert_eq!(Batch::marker_of(bytes).unwrap(), batch.marker);
        let info = follower.append_batch(&batch).unwrap();
        assert_eq!(info.chain, batch.marker.chain);
        assert_eq!(Some(batch.marker.last_seq), info.last_seq);
    }
    assert_eq!(leader.last_committed(), follower.last_committed());
    drop((leader, follower));
    assert_eq!(records(a.path()), records(b.path()));
    let (va, vb) = (verify(a.path()).unwrap(), verify(b.path()).unwrap());
    assert_eq!(va.records, vb.records);
    assert!(va.segments > 3, "the test must span rolls: {va:?}");
    // Same segment size: the segment files are byte-identical too (all
    // but the writer-version field, which is the same crate here).
    let seg = |d: &std::path::Path| {
        let mut v: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "seg"))
            .collect();
        v.sort();
        v.into_iter()
            .map(|p| std::fs::read(p).unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(seg(a.path()), seg(b.path()));
}

#[test]
fn damaged_misplaced_and_foreign_batches_are_refused() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (mut leader, _) = Journal::open(config(a.path())).unwrap();
    leader.set_capture(true);
    let batches = lead(&mut leader, 4, 0);
    let (mut follower, _) = Journal::open(config(b.path())).unwrap();

    // Every single flipped byte is refused.
    for pos in 0..batches[0].len() {
        let mut bad = batches[0].clone();
        bad[pos] ^= 0x40;
        if let Ok(batch) = Batch::parse(&bad) {
            let err = follower.append_batch(&batch).unwrap_err();
            assert!(
                matches!(
                    err,
                    ReplicaError::ChainMismatch { .. } | ReplicaError::Gap { .. }
                ),
                "byte {pos}: {err}"
            );
        }
    }
    // Truncated, or with bytes after the marker.
    for cut in [0, 8, batches[0].len() - 1, batches[0].len() - 56] {
        assert!(Batch::parse(&batches[0][..cut]).is_err(), "cut at {cut}");
        assert!(
            Batch::marker_of(&batches[0][..cut]).is_err(),
            "cut at {cut}"
        );
    }
    let mut long = batches[0].clone();
    long.extend_from_slice(&[0; 8]);
    assert!(Batch::parse(&long).is_err());
    // Out of order: batch 2 before batch 1.
    let err = follower
        .append_batch(&Batch::parse(&batches[1]).unwrap())
        .unwrap_err();
    assert!(
        matches!(err, ReplicaError::Gap { expected: 1, .. }),
        "{err}"
    );
    follower
        .append_batch(&Batch::parse(&batches[0]).unwrap())
        .unwrap();
    // A different history at the same sequences: another leader's batch
    // that starts at the follower's next sequence.
    let next = follower.next_sequence();
    let d = tempfile::tempdir().unwrap();
    let (mut third, _) = Journal::open(config(d.path())).unwrap();
    third.set_capture(true);
    for i in 1..next {
        third
            .append(format!("not the leader's {i}").as_bytes())
            .unwrap();
    }
    third.commit().unwrap();
    third.take_captured(&mut Vec::new());
    third.append(b"forked").unwrap();
    third.commit().unwrap();
    let mut forked = Vec::new();
    third.take_captured(&mut forked);
    let err = follower
        .append_batch(&Batch::parse(&forked).unwrap())
        .unwrap_err();
    assert!(matches!(err, ReplicaError::ChainMismatch { .. }), "{err}");
    // Nothing of the refused batches was appended: the rest still follows.
    for bytes in &batches[1..] {
        follower
            .append_batch(&Batch::parse(bytes).unwrap())
            .unwrap();
    }
    assert_eq!(leader.last_committed(), follower.last_committed());
}
