mod common;

use common::*;
use keel_journal::{AppendError, Durability, Journal};

#[test]
fn injected_sync_failure_is_fail_stop() {
    let d = tempfile::tempdir().unwrap();
    let mut c = cfg(d.path(), 8192);
    c.durability = Durability::Batch;
    let (mut j, _) = Journal::open(c.clone()).unwrap();
    for s in 1..=10u64 {
        j.append(&payload_for(s, 64)).unwrap();
    }
    j.commit().unwrap();
    j.append(b"doomed").unwrap();
    j.inject_sync_failure_for_tests();
    let err = j.commit().unwrap_err();
    assert!(
        matches!(&err, AppendError::Failed { cause } if cause.contains("injected sync failure")),
        "{err}"
    );
    // Every later operation fails, naming the original cause; no retry.
    for _ in 0..3 {
        assert!(
            matches!(j.append(b"x"), Err(AppendError::Failed { cause }) if cause.contains("injected"))
        );
        assert!(matches!(
            j.reserve(8).map(|_| ()),
            Err(AppendError::Failed { .. })
        ));
        assert!(matches!(j.commit(), Err(AppendError::Failed { .. })));
    }
    assert!(j.failure().is_some());
    assert_eq!(j.last_committed().unwrap().0, 10);
    drop(j);
    // Re-open: only the durable, committed prefix is trusted. (The marker of the
    // failed batch reached the page cache, so it may be present; nothing else.)
    let (j, _) = Journal::open(c).unwrap();
    let last = j.last_committed().unwrap().0;
    assert!(last == 10 || last == 11);
    let recs = read_all(d.path());
    for (s, p) in recs.iter().take(10) {
        assert_eq!(*p, payload_for(*s, 64));
    }
}
