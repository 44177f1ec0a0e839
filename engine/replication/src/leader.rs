//! The leader's side: [`JetStreamReplicator`] publishes each committed
//! batch as one message (its journal bytes exactly as written), with a
//! message id naming it and the stream sequence it expects to follow, and
//! [`Lease`] holds the leadership in the key-value bucket.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::context::{Publish, PublishAckFuture, PublishErrorKind};
use async_nats::jetstream::kv::UpdateErrorKind;
use bytes::Bytes;
use keel_engine::{CommittedBatch, ReplicationError, Replicator};

use crate::config::OnTimeout;
use crate::error::ReplError;
use crate::link::{message_id, Link};

/// The value a lease entry holds: the node's name, then this process's
/// token (pid and start time), so two processes configured with the same
/// name never take each other's lease for their own: a restarted leader
/// waits for its old lease to lapse like anyone else.
pub fn lease_value(node: &str) -> Bytes {
    static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let token = TOKEN.get_or_init(|| {
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!("pid {} started {started}", std::process::id())
    });
    Bytes::from(format!("{node} {token}"))
}

/// The node name in a lease value.
pub fn lease_holder(value: &[u8]) -> String {
    let text = String::from_utf8_lossy(value);
    text.split(' ').next().unwrap_or_default().to_owned()
}

/// The key of the lease entry.
pub const LEASE_KEY: &str = "leader";

/// Leadership held in the key-value bucket: an entry naming this node,
/// renewed by compare-and-set on its revision every third of the lease.
/// Losing it (another node wrote the entry in between) is final:
/// [`Lease::lost`] then says why.
#[derive(Clone)]
pub struct Lease {
    lost: Arc<AtomicBool>,
    why: Arc<Mutex<String>>,
    stop: Arc<AtomicBool>,
}

impl Lease {
    /// Starts renewing the lease entry at `revision` (which this node just
    /// wrote) on the link's runtime.
    pub fn hold(link: &Link, revision: u64) -> Lease {
        let lease = Lease {
            lost: Arc::new(AtomicBool::new(false)),
            why: Arc::new(Mutex::new(String::new())),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let (kv, node) = (link.kv.clone(), link.cfg.node.clone());
        let every = Duration::from_millis(link.cfg.lease_ms) / 3;
        let task = lease.clone();
        link.rt.spawn(async move {
            let mut revision = revision;
            while !task.stop.load(Ordering::Relaxed) {
                tokio::time::sleep(every).await;
                match kv.update(LEASE_KEY, lease_value(&node), revision).await {
                    Ok(r) => revision = r,
                    Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => {
                        task.lose(format!(
                            "the lease entry changed after revision {revision}: another node took it"
                        ));
                        return;
                    }
                    // NATS unreachable: nobody else can take the lease
                    // either (a follower needs a whole lease of successful
                    // reads showing no renewal); keep trying. Safety never
                    // rests on the lease: the stream's expected-sequence
                    // check refuses a second writer.
                    Err(_) => {}
                }
            }
        });
        lease
    }

    fn lose(&self, why: String) {
        *self.why.lock().unwrap_or_else(|p| p.into_inner()) = why;
        self.lost.store(true, Ordering::SeqCst);
    }

    /// `Some(why)` once the lease is lost.
    pub fn lost(&self) -> Option<String> {
        self.lost
            .load(Ordering::SeqCst)
            .then(|| self.why.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }

    /// Stops renewing (on a clean shutdown the entry then lapses).
    pub fn release(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

struct InFlight {
    first_seq: u64,
    last_seq: u64,
    id: String,
    payload: Bytes,
    /// The stream sequence it must follow.
    expected: u64,
    ack: Option<PublishAckFuture>,
}

/// Publishes committed batches to the stream; see the module docs.
pub struct JetStreamReplicator {
    link: Arc<Link>,
    /// The stream sequence the next batch must follow.
    expected: u64,
    in_flight: VecDeque<InFlight>,
    lease: Option<Lease>,
}

impl JetStreamReplicator {
    /// A replicator whose first batch must follow stream sequence
    /// `last_stream_seq` (the stream's last message when this node took
    /// the lease). With `lease`, a lost lease refuses every later batch.
    pub fn new(link: Arc<Link>, last_stream_seq: u64, lease: Option<Lease>) -> JetStreamReplicator {
        JetStreamReplicator {
            link,
            expected: last_stream_seq,
            in_flight: VecDeque::new(),
            lease,
        }
    }

    fn send(&self, f: &InFlight) -> Result<PublishAckFuture, ReplicationError> {
        let publish = Publish::build()
            .payload(f.payload.clone())
            .message_id(&f.id)
            .expected_last_sequence(f.expected);
        // Polled on this thread (inside the runtime's context for its
        // timer): the send is a queue push to the connection task, ready at
        // once unless that queue is full, so no thread switch per batch.
        let _inside = self.link.rt.enter();
        futures_executor::block_on(
            self.link
                .js
                .send_publish(self.link.cfg.subject.clone(), publish),
        )
        .map_err(|e| self.failed(f, &e.to_string(), e.kind()))
    }

    fn failed(&self, f: &InFlight, detail: &str, kind: PublishErrorKind) -> ReplicationError {
        match kind {
            PublishErrorKind::WrongLastSequence => ReplicationError::Fenced {
                first_seq: f.first_seq,
                last_seq: f.last_seq,
                detail: format!(
                    "expected the stream's last message to be {}: {detail}",
                    f.expected
                ),
            },
            PublishErrorKind::TimedOut => ReplicationError::Timeout {
                first_seq: f.first_seq,
                last_seq: f.last_seq,
                timeout_ms: self.link.cfg.ack_timeout_ms,
            },
            _ => ReplicationError::Other(format!(
                "publishing batch {}..={} to stream {}: {detail}",
                f.first_seq, f.last_seq, self.link.cfg.stream
            )),
        }
    }

    fn waits(&self) -> bool {
        self.link.cfg.on_timeout == OnTimeout::Wait
    }

    /// Resends every batch waiting (same ids and expectations: a copy the
    /// stream already has is deduplicated), until each is sent again; only
    /// a refusal by the stream (fenced) ends it.
    fn resend_all(&mut self) -> Result<(), ReplicationError> {
        let mut i = 0;
        while i < self.in_flight.len() {
            match self.send(&self.in_flight[i]) {
                Ok(ack) => {
                    self.in_flight[i].ack = Some(ack);
                    i += 1;
                }
                Err(e @ ReplicationError::Fenced { .. }) => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        Ok(())
    }
}

impl Replicator for JetStreamReplicator {
    fn submit(&mut self, batch: &CommittedBatch) -> Result<(), ReplicationError> {
        if let Some(why) = self.lease.as_ref().and_then(Lease::lost) {
            return Err(ReplicationError::LeaseLost(why));
        }
        // The journal wrote these bytes just now: its marker names the batch.
        let m = keel_journal::Batch::marker_of(&batch.bytes)
            .map_err(|e| ReplicationError::Other(format!("captured batch has no marker: {e}")))?;
        let mut f = InFlight {
            first_seq: batch.first_seq,
            last_seq: batch.last_seq,
            id: message_id(m.first_seq, m.last_seq, &m.chain),
            payload: Bytes::copy_from_slice(&batch.bytes),
            expected: self.expected,
            ack: None,
        };
        f.ack = match self.send(&f) {
            Ok(ack) => Some(ack),
            Err(e @ ReplicationError::Fenced { .. }) => return Err(e),
            // Under `on_timeout = "wait"`, sent again while waiting for it.
            Err(_) if self.waits() => None,
            Err(e) => return Err(e),
        };
        self.expected += 1;
        self.in_flight.push_back(f);
        Ok(())
    }

    fn acknowledged(&mut self) -> Result<u64, ReplicationError> {
        loop {
            let Some(front) = self.in_flight.front_mut() else {
                return Err(ReplicationError::Other(
                    "no batch waits for an acknowledgement".into(),
                ));
            };
            let Some(ack) = front.ack.take() else {
                self.resend_all()?;
                continue;
            };
            let result = {
                let _inside = self.link.rt.enter();
                futures_executor::block_on(std::future::IntoFuture::into_future(ack))
            };
            let front = self.in_flight.front().expect("still there");
            match result {
                Ok(ack) if ack.sequence == front.expected + 1 => {
                    let done = self.in_flight.pop_front().expect("front");
                    return Ok(done.last_seq);
                }
                Ok(ack) => {
                    return Err(ReplicationError::Fenced {
                        first_seq: front.first_seq,
                        last_seq: front.last_seq,
                        detail: format!(
                            "stored at stream sequence {} (duplicate: {}), expected {}",
                            ack.sequence,
                            ack.duplicate,
                            front.expected + 1
                        ),
                    })
                }
                Err(e) => {
                    let err = self.failed(front, &e.to_string(), e.kind());
                    if matches!(err, ReplicationError::Fenced { .. }) || !self.waits() {
                        return Err(err);
                    }
                    // Keep the outputs back and send again.
                    std::thread::sleep(Duration::from_millis(100));
                    self.resend_all()?;
                }
            }
        }
    }

    fn max_in_flight(&self) -> usize {
        self.link.cfg.max_in_flight
    }
}

/// Takes the lease for this node if it is free, this node's own, or lapsed
/// (its revision unchanged for a whole lease); returns the revision
/// written. `force` takes it whatever it holds (`keel promote`).
///
/// NATS errors (a cluster still electing its leaders after a restart) are
/// retried for up to 30 s.
pub fn acquire(link: &Link, force: bool) -> Result<u64, ReplError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match acquire_once(link, force) {
            Err(ReplError::Nats(_)) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(250))
            }
            other => return other,
        }
    }
}

fn acquire_once(link: &Link, force: bool) -> Result<u64, ReplError> {
    let kv = link.kv.clone();
    let node = link.cfg.node.clone();
    let lease_ms = link.cfg.lease_ms;
    link.rt.block_on(async move {
        let nats = |e: &dyn std::fmt::Display| ReplError::Nats(format!("lease: {e}"));
        if force {
            return kv
                .put(LEASE_KEY, lease_value(&node))
                .await
                .map_err(|e| nats(&e));
        }
        let entry = kv.entry(LEASE_KEY).await.map_err(|e| nats(&e))?;
        let Some(entry) = entry else {
            return kv
                .create(LEASE_KEY, lease_value(&node))
                .await
                .map_err(|e| nats(&e));
        };
        let mut revision = entry.revision;
        if entry.value != lease_value(&node) {
            // Someone else's (or an earlier process of this node's): take it
            // only once it lapsed, a whole lease without renewal.
            let holder = lease_holder(&entry.value);
            let since = Instant::now();
            while since.elapsed() < Duration::from_millis(lease_ms) {
                tokio::time::sleep(Duration::from_millis(lease_ms / 10)).await;
                let now = kv.entry(LEASE_KEY).await.map_err(|e| nats(&e))?;
                if now.as_ref().map(|e| e.revision) != Some(revision) {
                    return Err(ReplError::LeaseHeld {
                        holder,
                        revision,
                        lease_ms,
                    });
                }
            }
            revision = entry.revision;
        }
        kv.update(LEASE_KEY, lease_value(&node), revision)
            .await
            .map_err(|e| nats(&e))
    })
}
