//! The floor: a null business loop with Keel's plumbing and none of its work.
//!
//! Same ring type (a crossbeam bounded channel of the same capacity), same
//! batching (drain up to `batch_max`, publish one `Arc` batch per drain, the
//! batch memory reused once the subscriber dropped it), same output channel
//! (bounded, blocking on a slow subscriber), same pinning and wait strategy.
//! No state, no matching, no journal. Keel's latency divided by this one's, at
//! the same rate and percentile, is what Keel's own work costs.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError, TrySendError};
use keel_engine::model::Command;

use super::config::ConsumerWait;
use super::run::{Consumer, Producer};

/// What travels on the ring (as in Keel: the command and its enqueue time).
#[derive(Clone, Copy)]
struct Submission {
    command: Command,
    enqueued_ns: u64,
}

/// One published batch: sequence and command per input.
#[derive(Default)]
pub struct NullBatch {
    records: Vec<(u64, Command, u64)>,
}

pub struct NullProducer {
    tx: Sender<Submission>,
    epoch: Instant,
}

pub struct NullConsumer {
    rx: Receiver<Arc<NullBatch>>,
}

/// A running null loop.
pub struct NullLoop {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<u64>>,
}

impl NullLoop {
    /// Stops the loop; returns the number of commands it passed through.
    pub fn shutdown(mut self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().map_or(0, |t| t.join().unwrap_or(0))
    }
}

impl Drop for NullLoop {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts a null loop pinned to `core` (if it exists).
pub fn start(
    ring_capacity: usize,
    batch_max: usize,
    outputs_capacity: usize,
    core: Option<usize>,
    spin: bool,
) -> (NullProducer, NullConsumer, NullLoop) {
    let (tx, rx) = crossbeam_channel::bounded::<Submission>(ring_capacity);
    let (out_tx, out_rx) = crossbeam_channel::bounded::<Arc<NullBatch>>(outputs_capacity);
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let thread = std::thread::Builder::new()
        .name("null-loop".into())
        .spawn(move || {
            if let Some(core) = core {
                if let Some(id) = core_affinity::get_core_ids()
                    .unwrap_or_default()
                    .into_iter()
                    .find(|c| c.id == core)
                {
                    core_affinity::set_for_current(id);
                }
            }
            let mut pool: VecDeque<Arc<NullBatch>> = VecDeque::new();
            let mut seq = 0u64;
            let mut idle = 0u32;
            loop {
                let mut batch = match pool.front_mut().and_then(Arc::get_mut) {
                    Some(_) => {
                        let mut b = pool.pop_front().expect("front exists");
                        Arc::get_mut(&mut b).expect("unshared").records.clear();
                        b
                    }
                    None => Arc::new(NullBatch {
                        records: Vec::with_capacity(batch_max),
                    }),
                };
                let records = &mut Arc::get_mut(&mut batch).expect("fresh batch").records;
                while records.len() < batch_max {
                    match rx.try_recv() {
                        Ok(s) => {
                            seq += 1;
                            records.push((seq, s.command, s.enqueued_ns));
                        }
                        Err(TryRecvError::Empty) => break,
                        Err(TryRecvError::Disconnected) => return seq,
                    }
                }
                if records.is_empty() {
                    pool.push_front(batch);
                    if stop2.load(Ordering::Relaxed) {
                        return seq;
                    }
                    idle = idle.saturating_add(1);
                    if spin || idle < 1_000 {
                        std::hint::spin_loop();
                    } else if idle < 2_000 {
                        std::thread::yield_now();
                    } else {
                        std::thread::park_timeout(Duration::from_micros(50));
                    }
                    continue;
                }
                idle = 0;
                if out_tx.send(batch.clone()).is_err() {
                    return seq;
                }
                pool.push_back(batch);
                if pool.len() > outputs_capacity * 2 + 2 {
                    pool.pop_front();
                }
            }
        })
        .expect("spawn the null loop");
    (
        NullProducer {
            tx,
            epoch: Instant::now(),
        },
        NullConsumer { rx: out_rx },
        NullLoop {
            stop,
            thread: Some(thread),
        },
    )
}

impl Producer for NullProducer {
    #[inline]
    fn send(&mut self, command: Command) -> bool {
        let mut s = Submission {
            command,
            enqueued_ns: self.epoch.elapsed().as_nanos() as u64,
        };
        loop {
            match self.tx.try_send(s) {
                Ok(()) => return true,
                Err(TrySendError::Full(back)) => {
                    s = back;
                    std::hint::spin_loop();
                }
                Err(TrySendError::Disconnected(_)) => return false,
            }
        }
    }
}

impl Consumer for NullConsumer {
    #[inline]
    fn poll(&mut self, wait: ConsumerWait) -> Result<Option<usize>, String> {
        match wait {
            ConsumerWait::Block => match self.rx.recv_timeout(Duration::from_millis(10)) {
                Ok(b) => Ok(Some(b.records.len())),
                Err(RecvTimeoutError::Timeout) => Ok(None),
                Err(RecvTimeoutError::Disconnected) => Err("null loop stopped".into()),
            },
            _ => match self.rx.try_recv() {
                Ok(b) => Ok(Some(b.records.len())),
                Err(TryRecvError::Empty) => Ok(None),
                Err(TryRecvError::Disconnected) => Err("null loop stopped".into()),
            },
        }
    }
}
