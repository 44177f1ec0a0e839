//! The open-loop runner, free of coordinated omission.
//!
//! - The producer thread sends command `k` at its planned time
//!   `start + k / rate`, busy-waiting until then; it never skips a command.
//!   When it falls behind (the engine is saturated and the ring is full), it
//!   sends as fast as it can, and the lateness counts against the engine.
//! - The consumer thread receives the outputs (in submission order: the k-th
//!   output is the k-th command) and records `received − planned(k)` into an
//!   HdrHistogram. The planned time is stamped by formula: both threads
//!   compute `planned(k) = k × 10⁹ / rate` ns after the shared `start`
//!   instant, so nothing has to travel with the command.
//! - The first `warmup` commands are sent and received but not recorded.
//!
//! The same runner drives the real engine ([`KeelProducer`], [`KeelConsumer`]) and the null
//! loop ([`crate::harness::null`]), so the floor and Keel differ only in what
//! the loop does.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use keel_engine::model::{Command, Event, RejectReason};
use keel_engine::runtime::{CommandSender, OutputBatch, Subscription, SubscriptionError};

use super::config::ConsumerWait;

/// Highest latency recorded (60 s); larger values saturate.
pub const MAX_LATENCY_NS: u64 = 60_000_000_000;

pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("valid histogram bounds")
}

/// Sends commands into a loop.
pub trait Producer: Send {
    /// Enqueues, waiting while the ring is full. False if the loop is gone.
    fn send(&mut self, cmd: Command) -> bool;
}

/// Receives the loop's outputs.
pub trait Consumer: Send {
    /// The number of outputs in the next batch, waiting as `wait` says, or
    /// `None` when nothing is there yet (`Spin`/`Yield`) ; `Err` when the loop
    /// is gone.
    fn poll(&mut self, wait: ConsumerWait) -> Result<Option<usize>, String>;

    /// Called once the runner has taken the receive time of the batch the
    /// last `poll` returned and recorded its latencies: work on the batch's
    /// content done here is not part of any latency recorded.
    fn settle(&mut self) {}

    /// Rejections among the outputs received so far, by reason code in
    /// [`RejectReason::CODES`] order; `None` when the loop does no work that
    /// could reject (the null loop).
    fn rejections(&self) -> Option<Rejections> {
        None
    }
}

/// Counts by reason code, in [`RejectReason::CODES`] order.
pub type Rejections = [u64; RejectReason::CODES.len()];

/// The real engine's handles.
pub struct KeelProducer(pub CommandSender);

/// The subscriber: counts every `Rejected` event in the outputs it receives,
/// warm-up included, in [`Consumer::settle`] (after the batch's receive time
/// is taken and its latencies recorded).
pub struct KeelConsumer {
    sub: Subscription,
    /// The batch the last `poll` returned, until `settle` counts it.
    pending: Option<Arc<OutputBatch>>,
    rejections: Rejections,
}

impl KeelConsumer {
    pub fn new(sub: Subscription) -> KeelConsumer {
        KeelConsumer {
            sub,
            pending: None,
            rejections: [0; RejectReason::CODES.len()],
        }
    }
}

impl Producer for KeelProducer {
    #[inline]
    fn send(&mut self, cmd: Command) -> bool {
        self.0.submit(cmd).is_ok()
    }
}

impl Consumer for KeelConsumer {
    #[inline]
    fn poll(&mut self, wait: ConsumerWait) -> Result<Option<usize>, String> {
        let got = match wait {
            ConsumerWait::Block => match self.sub.recv_timeout(Duration::from_millis(10)) {
                Ok(b) => Ok(Some(b)),
                Err(SubscriptionError::Timeout) => Ok(None),
                Err(e) => Err(e),
            },
            _ => self.sub.try_recv(),
        };
        self.settle();
        let batch = got.map_err(|e| e.to_string())?;
        Ok(batch.map(|b| {
            let n = b.len();
            self.pending = Some(b);
            n
        }))
    }

    fn settle(&mut self) {
        if let Some(b) = self.pending.take() {
            for o in b.iter() {
                for e in o.events {
                    if let Event::Rejected { reason, .. } = e {
                        self.rejections[reason.code_index()] += 1;
                    }
                }
            }
        }
    }

    fn rejections(&self) -> Option<Rejections> {
        assert!(self.pending.is_none(), "every batch settled");
        Some(self.rejections)
    }
}

/// What one rate step runs.
#[derive(Clone, Debug)]
pub struct StepSpec {
    pub rate: u64,
    pub warmup: usize,
    pub producer_core: Option<usize>,
    pub consumer_core: Option<usize>,
    pub consumer_wait: ConsumerWait,
    /// The producer yields its core while the next send is further away
    /// than this (lets a consumer sharing the core run); 0: never yields.
    pub producer_yield_above_ns: u64,
    /// Stop sending once this far behind schedule (the step is saturated).
    pub max_lag_ns: u64,
}

/// The outcome of one rate step.
#[derive(Clone, Debug)]
pub struct StepResult {
    pub rate: u64,
    pub hist: Histogram<u64>,
    /// Commands sent (all of them unless aborted).
    pub sent: usize,
    pub received: usize,
    pub warmup: usize,
    /// Recorded commands per second: from the first recorded command's
    /// planned time to the last output's arrival.
    pub achieved: f64,
    pub aborted: bool,
    pub max_send_lag_ns: u64,
    pub error: Option<String>,
    pub wall: Duration,
    /// Rejected commands among all the outputs received (warm-up included),
    /// by reason code ([`Consumer::rejections`]); `None` for the null loop.
    pub rejections: Option<Rejections>,
}

impl StepResult {
    /// Rejected commands in all (`None` for the null loop).
    pub fn rejected(&self) -> Option<u64> {
        self.rejections.map(|r| r.iter().sum())
    }

    /// The non-zero reasons as `code=n, code=n` (empty when none).
    pub fn rejections_text(&self) -> String {
        self.rejections
            .map_or(String::new(), |r| rejections_text(&r))
    }
}

/// The non-zero counts as `code=n, code=n` (empty when none).
pub fn rejections_text(r: &Rejections) -> String {
    RejectReason::CODES
        .iter()
        .zip(r)
        .filter(|(_, n)| **n > 0)
        .map(|(c, n)| format!("{c}={n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[inline]
fn planned_ns(k: usize, rate: u64) -> u64 {
    (k as u128 * 1_000_000_000u128 / rate as u128) as u64
}

fn pin(core: Option<usize>) {
    if let Some(core) = core {
        if let Some(id) = core_affinity::get_core_ids()
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.id == core)
        {
            core_affinity::set_for_current(id);
        }
    }
}

/// Runs `commands` at `spec.rate` through `producer`/`consumer`. `progress`
/// is updated with the outputs received so far.
pub fn run_step<P: Producer, C: Consumer>(
    spec: &StepSpec,
    commands: &[Command],
    mut producer: P,
    mut consumer: C,
    progress: &AtomicUsize,
    on_tick: &mut dyn FnMut(usize),
) -> StepResult {
    let count = commands.len();
    let warmup = spec.warmup.min(count);
    let rate = spec.rate;
    let total = AtomicUsize::new(count);
    let sent_done = AtomicBool::new(false);
    let max_lag = AtomicU64::new(0);
    let aborted = AtomicBool::new(false);
    progress.store(0, Ordering::Relaxed);
    // Both threads start from the same instant, a little ahead so that both
    // are running (and pinned) by then.
    let start = Instant::now() + Duration::from_millis(20);
    let wall = Instant::now();
    let (hist, received, last_ns, error) = std::thread::scope(|s| {
        let prod = s.spawn(|| {
            pin(spec.producer_core);
            let mut lag_max = 0u64;
            let mut sent = count;
            for (k, cmd) in commands.iter().enumerate() {
                let due = start + Duration::from_nanos(planned_ns(k, rate));
                loop {
                    let now = Instant::now();
                    if now >= due {
                        let lag = now.duration_since(due).as_nanos() as u64;
                        lag_max = lag_max.max(lag);
                        break;
                    }
                    if spec.producer_yield_above_ns > 0
                        && due.duration_since(now).as_nanos() as u64 > spec.producer_yield_above_ns
                    {
                        std::thread::yield_now();
                    } else {
                        std::hint::spin_loop();
                    }
                }
                if lag_max > spec.max_lag_ns && k >= warmup {
                    aborted.store(true, Ordering::Relaxed);
                    sent = k;
                    break;
                }
                if !producer.send(*cmd) {
                    sent = k;
                    break;
                }
            }
            total.store(sent, Ordering::SeqCst);
            sent_done.store(true, Ordering::SeqCst);
            max_lag.store(lag_max, Ordering::Relaxed);
        });
        let cons = s.spawn(|| {
            pin(spec.consumer_core);
            let mut hist = histogram();
            let mut received = 0usize;
            let mut last_ns = 0u64;
            let mut error = None;
            while received < total.load(Ordering::SeqCst) || !sent_done.load(Ordering::SeqCst) {
                if sent_done.load(Ordering::SeqCst) && received >= total.load(Ordering::SeqCst) {
                    break;
                }
                match consumer.poll(spec.consumer_wait) {
                    Ok(Some(n)) => {
                        let now = Instant::now().saturating_duration_since(start).as_nanos() as u64;
                        for k in received..received + n {
                            if k >= warmup {
                                let lat = now.saturating_sub(planned_ns(k, rate));
                                hist.saturating_record(lat.clamp(1, MAX_LATENCY_NS));
                            }
                        }
                        received += n;
                        last_ns = now;
                        progress.store(received, Ordering::Relaxed);
                        consumer.settle();
                    }
                    Ok(None) => {
                        if spec.consumer_wait == ConsumerWait::Yield {
                            std::thread::yield_now();
                        } else {
                            std::hint::spin_loop();
                        }
                    }
                    Err(e) => {
                        error = Some(e);
                        break;
                    }
                }
            }
            (hist, received, last_ns, error)
        });
        while !cons.is_finished() {
            std::thread::sleep(Duration::from_millis(100));
            on_tick(progress.load(Ordering::Relaxed));
        }
        prod.join().expect("producer thread");
        cons.join().expect("consumer thread")
    });
    let sent = total.load(Ordering::SeqCst);
    let recorded = received.saturating_sub(warmup);
    let span_ns = last_ns.saturating_sub(planned_ns(warmup, rate)).max(1);
    StepResult {
        rate,
        hist,
        sent,
        received,
        warmup,
        achieved: recorded as f64 * 1e9 / span_ns as f64,
        aborted: aborted.load(Ordering::Relaxed),
        max_send_lag_ns: max_lag.load(Ordering::Relaxed),
        error,
        wall: wall.elapsed(),
        rejections: consumer.rejections(),
    }
}
