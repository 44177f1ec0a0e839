//! Outputs: per command, its sequence, timestamp, correlation and events,
//! published per batch after the batch's journal commit returned.
//!
//! Each subscriber has its own bounded ring of `Arc<OutputBatch>`. The loop
//! reuses a batch's memory once every subscriber has dropped it, so steady
//! state allocates nothing. A slow subscriber either blocks the loop or is
//! disconnected with an error naming where it lagged (`outputs.slow_subscriber`).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError, TrySendError};

use crate::config::SlowSubscriber;
use crate::model::{Command, Event};

/// One command's outcome.
#[derive(Clone, Copy, Debug)]
pub struct Output<'a> {
    /// The journal sequence of the command's record.
    pub seq: u64,
    /// The timestamp the loop stamped on it, ns.
    pub ts_ns: u64,
    /// The command (intent).
    pub command: &'a Command,
    /// What it did (facts), in order; a rejection is one `Rejected` event.
    pub events: &'a [Event],
}

#[derive(Clone, Copy, Debug)]
struct OutputRecord {
    seq: u64,
    ts_ns: u64,
    command: Command,
    events_end: usize,
    enqueued_ns: u64,
}

/// The outputs of one committed batch.
#[derive(Debug, Default)]
pub struct OutputBatch {
    records: Vec<OutputRecord>,
    events: Vec<Event>,
}

impl OutputBatch {
    pub(crate) fn clear(&mut self) {
        self.records.clear();
        self.events.clear();
    }

    pub(crate) fn push(
        &mut self,
        seq: u64,
        ts_ns: u64,
        command: Command,
        events: &[Event],
        enqueued_ns: u64,
    ) {
        self.events.extend_from_slice(events);
        self.records.push(OutputRecord {
            seq,
            ts_ns,
            command,
            events_end: self.events.len(),
            enqueued_ns,
        });
    }

    /// Commands in the batch.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the batch holds no command.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub(crate) fn enqueued_ns(&self) -> impl Iterator<Item = u64> + '_ {
        self.records.iter().map(|r| r.enqueued_ns)
    }

    /// The outputs, in sequence order.
    pub fn iter(&self) -> impl Iterator<Item = Output<'_>> {
        let mut start = 0;
        self.records.iter().map(move |r| {
            let events = &self.events[start..r.events_end];
            start = r.events_end;
            Output {
                seq: r.seq,
                ts_ns: r.ts_ns,
                command: &r.command,
                events,
            }
        })
    }
}

/// Why a subscription yields no batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubscriptionError {
    /// Cut off for lagging (`outputs.slow_subscriber = "disconnect"`).
    #[error("subscriber disconnected: it fell {capacity} batches behind at sequence {seq} (outputs.slow_subscriber = \"disconnect\"); resubscribe and catch up from the journal")]
    Lagged {
        /// The first sequence it did not get.
        seq: u64,
        /// Its buffer, in batches.
        capacity: usize,
    },
    /// The engine stopped: every batch before has been delivered.
    #[error("engine stopped: no more outputs")]
    Closed,
    /// Nothing within the timeout (`recv_timeout` only).
    #[error("no output within the timeout")]
    Timeout,
}

/// Set when a subscriber is cut off: the sequence it lagged at, plus one.
#[derive(Default)]
pub(crate) struct SubStatus {
    lagged_at: AtomicU64,
}

/// Receives the engine's outputs.
pub struct Subscription {
    rx: Receiver<Arc<OutputBatch>>,
    status: Arc<SubStatus>,
    capacity: usize,
}

impl Subscription {
    fn disconnected(&self) -> SubscriptionError {
        match self.status.lagged_at.load(Ordering::Acquire) {
            0 => SubscriptionError::Closed,
            seq => SubscriptionError::Lagged {
                seq: seq - 1,
                capacity: self.capacity,
            },
        }
    }

    /// The next batch, waiting for it.
    /// The next batch, waiting for it.
    pub fn recv(&self) -> Result<Arc<OutputBatch>, SubscriptionError> {
        self.rx.recv().map_err(|_| self.disconnected())
    }

    /// The next batch, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Arc<OutputBatch>, SubscriptionError> {
        self.rx.recv_timeout(timeout).map_err(|e| match e {
            RecvTimeoutError::Timeout => SubscriptionError::Timeout,
            RecvTimeoutError::Disconnected => self.disconnected(),
        })
    }

    /// The next batch if one is waiting.
    pub fn try_recv(&self) -> Result<Option<Arc<OutputBatch>>, SubscriptionError> {
        match self.rx.try_recv() {
            Ok(b) => Ok(Some(b)),
            Err(TryRecvError::Empty) => Ok(None),
            Err(TryRecvError::Disconnected) => Err(self.disconnected()),
        }
    }
}

struct Subscriber {
    tx: Sender<Arc<OutputBatch>>,
    status: Arc<SubStatus>,
}

/// The loop's side: subscribers and the pool of batches.
pub(crate) struct Publisher {
    subscribers: Vec<Subscriber>,
    policy: SlowSubscriber,
    capacity: usize,
    /// Published batches, oldest first, reused once no subscriber holds them.
    in_flight: VecDeque<Arc<OutputBatch>>,
}

impl Publisher {
    pub fn new(policy: SlowSubscriber, capacity: usize) -> Publisher {
        let mut in_flight = VecDeque::with_capacity(capacity * 2 + 2);
        in_flight.push_back(Arc::new(OutputBatch::default()));
        Publisher {
            subscribers: Vec::new(),
            policy,
            capacity,
            in_flight,
        }
    }

    /// A new subscription, receiving every batch published from now on.
    pub fn subscribe(capacity: usize) -> (Subscription, SubscriberHandle) {
        let (tx, rx) = crossbeam_channel::bounded(capacity);
        let status = Arc::new(SubStatus::default());
        (
            Subscription {
                rx,
                status: status.clone(),
                capacity,
            },
            SubscriberHandle(Subscriber { tx, status }),
        )
    }

    pub fn add(&mut self, handle: SubscriberHandle) {
        self.subscribers.push(handle.0);
    }

    pub fn subscriber_count(&self) -> usize {
        self.subscribers.len()
    }

    /// An empty batch to fill: reused if no subscriber still holds the oldest.
    pub fn take_batch(&mut self) -> Arc<OutputBatch> {
        if let Some(front) = self.in_flight.front_mut() {
            if let Some(batch) = Arc::get_mut(front) {
                batch.clear();
                return self.in_flight.pop_front().expect("front exists");
            }
        }
        if self.in_flight.len() > self.capacity * 2 {
            // Too many still held: stop tracking the oldest (it is freed
            // when its holders drop it).
            self.in_flight.pop_front();
        }
        Arc::new(OutputBatch::default())
    }

    /// Publishes a filled batch to every subscriber, under the policy.
    pub fn publish(&mut self, batch: Arc<OutputBatch>, last_seq: u64) {
        self.fan_out(&batch, last_seq);
        self.track(batch);
    }

    /// Keeps a published batch for reuse once nobody holds it.
    pub fn track(&mut self, batch: Arc<OutputBatch>) {
        self.in_flight.push_back(batch);
    }

    /// Sends a batch to every subscriber, under the policy (no pooling).
    pub fn fan_out(&mut self, batch: &Arc<OutputBatch>, last_seq: u64) {
        let policy = self.policy;
        self.subscribers.retain(|s| match policy {
            SlowSubscriber::Block => s.tx.send(batch.clone()).is_ok(),
            SlowSubscriber::Disconnect => match s.tx.try_send(batch.clone()) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => {
                    s.status.lagged_at.store(last_seq + 1, Ordering::Release);
                    false
                }
                Err(TrySendError::Disconnected(_)) => false,
            },
        });
    }
}

/// A subscription's sending half, handed to the loop.
pub struct SubscriberHandle(Subscriber);
