//! The replication hook: outputs of a batch are published only after the
//! replicator acknowledged it, in order; the bytes it receives are the
//! journal's own batches; a refused batch stops the engine and nothing of
//! it or after it is published.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::Receiver;
use keel_engine::config::{Config, DurabilityConfig};
use keel_engine::keel_journal::{Batch, Journal, JournalConfig};
use keel_engine::prelude::*;
use keel_engine::{CommittedBatch, EngineError, ReplicationError, Replicator};

fn config(dir: &std::path::Path) -> Config {
    Config::builder()
        .journal_dir(dir)
        .durability(DurabilityConfig::None)
        .asset("BTC", 8)
        .asset("USD", 6)
        .symbol("BTC-USD", "BTC", "USD", "0.01", "0.0001")
        .build()
        .expect("config")
}

type Seen = Arc<Mutex<Vec<(u64, u64, Vec<u8>)>>>;

/// Acknowledges every batch at once, until `manual` is set: then each
/// waits for the test's word (true: acknowledge, false: refuse).
struct Gate {
    seen: Seen,
    pending: std::collections::VecDeque<(u64, u64)>,
    manual: Arc<AtomicBool>,
    go: Receiver<bool>,
}

impl Replicator for Gate {
    fn submit(&mut self, batch: &CommittedBatch) -> Result<(), ReplicationError> {
        self.seen
            .lock()
            .unwrap()
            .push((batch.first_seq, batch.last_seq, batch.bytes.clone()));
        self.pending.push_back((batch.first_seq, batch.last_seq));
        Ok(())
    }
    fn acknowledged(&mut self) -> Result<u64, ReplicationError> {
        let (first_seq, last_seq) = self.pending.pop_front().expect("a batch waits");
        if !self.manual.load(Ordering::SeqCst) || self.go.recv() == Ok(true) {
            return Ok(last_seq);
        }
        Err(ReplicationError::Fenced {
            first_seq,
            last_seq,
            detail: "test refused it".into(),
        })
    }
}

fn wait_batches(seen: &Seen, n: usize) {
    for _ in 0..1000 {
        if seen.lock().unwrap().len() >= n {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("replicator never saw {n} batches");
}

#[test]
fn outputs_wait_for_the_acknowledgement_and_a_refusal_stops_the_engine() {
    let (go_tx, go) = crossbeam_channel::unbounded();
    let seen: Seen = Arc::default();
    let manual = Arc::new(AtomicBool::new(false));
    let gate = Gate {
        seen: seen.clone(),
        pending: Default::default(),
        manual: manual.clone(),
        go,
    };
    let journal = tempfile::tempdir().unwrap();
    let dir = journal.path().to_owned();
    let engine = Engine::start_replicated(&config(&dir), Box::new(gate)).expect("start");
    let outputs = engine.subscribe().unwrap();
    let tx = engine.sender();

    tx.submit(Command::open_account(1, 1)).unwrap();
    let first = outputs
        .recv_timeout(Duration::from_secs(10))
        .expect("acked");
    assert_eq!(first.len(), 1);

    manual.store(true, Ordering::SeqCst);
    let n = seen.lock().unwrap().len();
    tx.submit(Command::open_account(2, 1)).unwrap();
    wait_batches(&seen, n + 1);
    // Committed locally and handed to the replicator, not acknowledged:
    // nothing is published, and the stats say so.
    assert!(matches!(
        outputs.recv_timeout(Duration::from_millis(200)),
        Err(SubscriptionError::Timeout)
    ));
    let stats = engine.stats().unwrap();
    let first_seq = first.iter().next().unwrap().seq;
    assert_eq!(stats.replicated_seq, Some(first_seq), "{stats:?}");
    assert_eq!(stats.last_seq, first_seq + 1);
    go_tx.send(true).unwrap();
    let second = outputs
        .recv_timeout(Duration::from_secs(10))
        .expect("acked");
    assert_eq!(second.iter().next().unwrap().seq, seen.lock().unwrap()[n].0);

    // A refused batch: never published, and the engine stops on it.
    tx.submit(Command::open_account(3, 1)).unwrap();
    wait_batches(&seen, n + 2);
    go_tx.send(false).unwrap();
    match outputs.recv_timeout(Duration::from_secs(10)) {
        Err(SubscriptionError::Closed) => {}
        other => panic!("expected the end of outputs, got {other:?}"),
    }
    for _ in 0..1000 {
        if tx.try_submit(Command::open_account(4, 1)).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(tx.try_submit(Command::open_account(5, 1)).is_err());
    match engine.shutdown() {
        Err(EngineError::Replication(ReplicationError::Fenced { .. })) => {}
        other => panic!("expected the replication failure, got {other:?}"),
    }

    // The replicator got the journal's own batches: appended to another
    // journal, they give the same records.
    let copy_dir = tempfile::tempdir().unwrap();
    let (mut copy, _) = Journal::open(JournalConfig::new(copy_dir.path())).unwrap();
    for (first, last, bytes) in seen.lock().unwrap().iter() {
        let batch = Batch::parse(bytes).unwrap();
        assert_eq!(
            (batch.marker.first_seq, batch.marker.last_seq),
            (*first, *last)
        );
        copy.append_batch(&batch).unwrap();
    }
    drop(copy);
    let records = |d: &std::path::Path| -> Vec<_> {
        Journal::reader(d, 1)
            .unwrap()
            .map(|r| {
                let r = r.unwrap();
                (r.seq, r.payload, r.batch_chain)
            })
            .collect()
    };
    let leader = records(&dir);
    assert!(leader.len() >= 5, "start-up commands and three accounts");
    assert_eq!(leader, records(copy_dir.path()));
}
