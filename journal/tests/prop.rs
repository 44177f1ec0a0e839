//! Property tests: random sizes, appends, commits, rolls and reopens.

mod common;

use common::*;
use keel_journal::{verify, Journal, JournalConfig};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Append(usize),
    Reserve(usize, usize),
    Commit,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0usize..600).prop_map(Op::Append),
        2 => (0usize..600).prop_flat_map(|m| (Just(m), 0..=m)).prop_map(|(m, l)| Op::Reserve(m, l)),
        2 => Just(Op::Commit),
        1 => Just(Op::Reopen),
    ]
}

fn bytes(seq: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (seq as usize * 31 + i * 7) as u8)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn committed_reads_back_identical(ops in proptest::collection::vec(op(), 1..300), seg_pages in 1u64..=16) {
        let d = tempfile::tempdir().unwrap();
        let c = JournalConfig { dir: d.path().to_path_buf(), segment_size_bytes: seg_pages * 4096, max_record_bytes: 1024, durability: keel_journal::Durability::None };
        let (mut j, _) = Journal::open(c.clone()).unwrap();
        let mut committed: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut pending: Vec<(u64, Vec<u8>)> = Vec::new();
        for op in ops {
            match op {
                Op::Append(n) => {
                    let s = j.next_sequence();
                    let p = bytes(s, n);
                    prop_assert_eq!(j.append(&p).unwrap(), s);
                    pending.push((s, p));
                }
                Op::Reserve(m, l) => {
                    let s = j.next_sequence();
                    let mut r = j.reserve(m).unwrap();
                    // Handed out zeroed; the caller writes only what it seals.
                    prop_assert!(r.buf().iter().all(|&b| b == 0));
                    let p = bytes(s, l);
                    r.buf()[..l].copy_from_slice(&p);
                    prop_assert_eq!(r.seal(l).unwrap(), s);
                    pending.push((s, p));
                }
                Op::Commit => {
                    j.commit().unwrap();
                    committed.append(&mut pending);
                }
                Op::Reopen => {
                    drop(j);
                    let (j2, rep) = Journal::open(c.clone()).unwrap();
                    prop_assert_eq!(rep.uncommitted_records_dropped, pending.len() as u64);
                    prop_assert_eq!(rep.last_sequence, committed.last().map(|r| r.0));
                    pending.clear();
                    j = j2;
                }
            }
        }
        let expect_next = committed.last().map_or(1, |r| r.0 + 1);
        drop(j);
        let got: Vec<(u64, Vec<u8>)> = read_all(d.path());
        prop_assert_eq!(&got, &committed);
        // sequences are contiguous from 1
        for (i, (s, _)) in got.iter().enumerate() {
            prop_assert_eq!(*s, i as u64 + 1);
        }
        let v = verify(d.path()).unwrap();
        prop_assert_eq!(v.records, committed.len() as u64);
        let (j, _) = Journal::open(c).unwrap();
        prop_assert_eq!(j.next_sequence(), expect_next);
    }
}
