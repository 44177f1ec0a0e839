//! Replication hook: with a [`Replicator`], a committed batch's outputs are
//! published only after the replicator acknowledged the batch's journal
//! bytes (for example, a quorum of a replicated log has them).
//!
//! The business-logic loop never waits for the network: after its local
//! commit it hands the batch's bytes and outputs to the replication stage
//! (a thread of its own, owning the subscribers) and goes on deciding the
//! next batch. The stage submits batches to the replicator as they come
//! (pipelined), waits for their acknowledgements in order, and publishes
//! each batch's outputs once it is acknowledged, so outputs stay in
//! sequence order. At most [`Replicator::max_in_flight`] batches wait for
//! an acknowledgement, and the queue to the stage holds as many again;
//! beyond that the loop waits (back-pressure, not loss).
//!
//! A replication failure (the log refused the batch because another leader
//! wrote it, or no acknowledgement came in time) is fail-stop: no output of
//! an unacknowledged batch is ever published, the engine stops and its
//! error names the cause. The local journal may then hold batches nobody
//! saw; a node that rejoins as a follower cuts them.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, TryRecvError};

use super::input::Shared;
use super::outputs::{OutputBatch, Publisher, SubscriberHandle};
use super::EngineError;

/// One locally committed batch, handed to a [`Replicator`].
#[derive(Debug)]
pub struct CommittedBatch {
    /// First journal sequence of the batch.
    pub first_seq: u64,
    /// Last journal sequence of the batch.
    pub last_seq: u64,
    /// The batch's journal bytes exactly as written: its record frames in
    /// order, then its commit marker (see `keel_journal::Batch`).
    pub bytes: Vec<u8>,
}

/// Why replication stopped the engine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplicationError {
    /// The log refused the batch: another leader has written to it since
    /// this one's last batch (fenced). This node must rejoin as a follower.
    #[error("fenced: the replicated log refused batch {first_seq}..={last_seq} ({detail}); another leader holds the log; restart this node as a follower")]
    Fenced {
        /// First sequence of the refused batch.
        first_seq: u64,
        /// Last sequence of the refused batch.
        last_seq: u64,
        /// What the log said.
        detail: String,
    },
    /// No acknowledgement within the configured bound.
    #[error("batch {first_seq}..={last_seq} was not acknowledged by the replicated log within {timeout_ms} ms; nothing after it was published; check the log's servers and restart")]
    Timeout {
        /// First sequence of the batch.
        first_seq: u64,
        /// Last sequence of the batch.
        last_seq: u64,
        /// The bound, in milliseconds.
        timeout_ms: u64,
    },
    /// This node lost its leadership (lease) while leading.
    #[error("leadership lost: {0}; nothing decided after it is published; restart this node as a follower")]
    LeaseLost(String),
    /// Anything else the replicator reports.
    #[error("replication failed: {0}")]
    Other(String),
}

/// Carries committed batches to a replicated log; see the module docs.
/// Implementations own their network client and threads.
pub trait Replicator: Send + 'static {
    /// Starts replicating `batch`; may return before it is acknowledged.
    fn submit(&mut self, batch: &CommittedBatch) -> Result<(), ReplicationError>;
    /// Waits until the oldest submitted, unacknowledged batch is
    /// acknowledged and returns its last sequence.
    fn acknowledged(&mut self) -> Result<u64, ReplicationError>;
    /// Batches that may wait for an acknowledgement at once.
    fn max_in_flight(&self) -> usize {
        64
    }
}

pub(crate) enum StageMsg {
    Batch(CommittedBatch, Arc<OutputBatch>),
    Subscribe(SubscriberHandle, Sender<()>),
}

/// The loop's end of the stage.
pub(crate) struct StageLink {
    pub tx: Option<Sender<StageMsg>>,
    pub recycled: Receiver<Vec<u8>>,
    pub subscribers: Arc<AtomicUsize>,
    /// The last sequence acknowledged (and published).
    pub acked: Arc<AtomicU64>,
    pub thread: Option<std::thread::JoinHandle<()>>,
}

impl StageLink {
    /// A byte buffer for the next batch: a returned one, or a new one.
    pub fn buffer(&self) -> Vec<u8> {
        self.recycled.try_recv().unwrap_or_default()
    }

    /// Hands a message to the stage; if the stage has stopped, the error
    /// it stopped with.
    pub fn send(&self, msg: StageMsg, shared: &Shared) -> Result<(), EngineError> {
        let stopped = || {
            shared
                .failure
                .get()
                .cloned()
                .unwrap_or(EngineError::NotRunning)
        };
        match &self.tx {
            Some(tx) => tx.send(msg).map_err(|_| stopped()),
            None => Err(stopped()),
        }
    }

    /// Lets the stage finish what it holds and waits for it.
    pub fn finish(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Stage {
    replicator: Box<dyn Replicator>,
    rx: Receiver<StageMsg>,
    recycle: Sender<Vec<u8>>,
    fanout: Publisher,
    subscribers: Arc<AtomicUsize>,
    acked: Arc<AtomicU64>,
    /// Batches waiting for their acknowledgement, and subscriptions in
    /// order with them (a subscriber gets the batches committed after it).
    in_flight: VecDeque<Pending>,
    batches_in_flight: usize,
}

enum Pending {
    Batch(u64, Arc<OutputBatch>, Vec<u8>),
    Subscribe(SubscriberHandle, Sender<()>),
}

/// Starts the stage thread.
/// `acked_from`: the last sequence of the recovered journal (already in
/// the replicated log when the node starts leading).
pub(crate) fn spawn(
    replicator: Box<dyn Replicator>,
    fanout: Publisher,
    shared: Arc<Shared>,
    acked_from: u64,
) -> std::io::Result<StageLink> {
    let depth = replicator.max_in_flight().max(1);
    // A short queue: while it is full the loop waits and the ring fills,
    // so the next batch is larger (fewer, bigger publishes under load).
    let (tx, rx) = crossbeam_channel::bounded(2);
    let (recycle, recycled) = crossbeam_channel::bounded(depth * 2 + 2);
    let subscribers = Arc::new(AtomicUsize::new(0));
    let acked = Arc::new(AtomicU64::new(acked_from));
    let mut stage = Stage {
        replicator,
        rx,
        recycle,
        fanout,
        subscribers: subscribers.clone(),
        acked: acked.clone(),
        in_flight: VecDeque::with_capacity(depth * 2),
        batches_in_flight: 0,
    };
    let thread = std::thread::Builder::new()
        .name("keel-replication".into())
        .spawn(move || {
            if let Err(e) = stage.run(depth) {
                let _ = shared.failure.set(EngineError::Replication(e));
                shared.closed.store(true, Ordering::SeqCst);
                if let Some(t) = shared.loop_thread.get() {
                    t.unpark();
                }
            }
            // Dropping the stage drops the subscribers: they see the end.
        })?;
    Ok(StageLink {
        tx: Some(tx),
        recycled,
        subscribers,
        acked,
        thread: Some(thread),
    })
}

impl Stage {
    fn run(&mut self, depth: usize) -> Result<(), ReplicationError> {
        let mut open = true;
        while open || !self.in_flight.is_empty() {
            // Take everything waiting (submitting each batch at once), then
            // wait for the oldest acknowledgement.
            loop {
                let msg = if self.in_flight.is_empty() && open {
                    match self.rx.recv() {
                        Ok(m) => m,
                        Err(_) => {
                            open = false;
                            break;
                        }
                    }
                } else if self.batches_in_flight >= depth || !open {
                    break;
                } else {
                    match self.rx.try_recv() {
                        Ok(m) => m,
                        Err(TryRecvError::Empty) => break,
                        Err(TryRecvError::Disconnected) => {
                            open = false;
                            break;
                        }
                    }
                };
                match msg {
                    StageMsg::Batch(batch, outputs) => {
                        self.replicator.submit(&batch)?;
                        self.batches_in_flight += 1;
                        self.in_flight.push_back(Pending::Batch(
                            batch.last_seq,
                            outputs,
                            batch.bytes,
                        ));
                    }
                    StageMsg::Subscribe(handle, ack) => {
                        self.in_flight.push_back(Pending::Subscribe(handle, ack));
                    }
                }
            }
            match self.in_flight.pop_front() {
                Some(Pending::Subscribe(handle, ack)) => {
                    self.fanout.add(handle);
                    let _ = ack.send(());
                }
                Some(Pending::Batch(last_seq, outputs, bytes)) => {
                    self.batches_in_flight -= 1;
                    let acked = self.replicator.acknowledged()?;
                    if acked != last_seq {
                        return Err(ReplicationError::Other(format!(
                            "acknowledgement for sequence {acked} while batch ending at {last_seq} was the oldest waiting (a replicator bug)"
                        )));
                    }
                    self.acked.store(last_seq, Ordering::Release);
                    self.fanout.fan_out(&outputs, last_seq);
                    drop(outputs);
                    let _ = self.recycle.try_send(bytes);
                }
                None => {}
            }
            self.subscribers
                .store(self.fanout.subscriber_count(), Ordering::Relaxed);
        }
        Ok(())
    }
}
