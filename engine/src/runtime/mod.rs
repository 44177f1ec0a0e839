//! The runtime: `Engine::start` recovers the state from the journal, spawns
//! the pinned business-logic thread, and returns the handles.
//!
//! ```text
//! CommandSender ─▶ input ring ─▶ loop: stamp → process → journal record
//!                                      → commit batch → publish ─▶ Subscription
//! ```

mod business_loop;
mod clock;
mod control;
mod error;
mod input;
mod outputs;
pub mod recovery;
mod telemetry;

use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use keel_journal::RecoveryReport;

use crate::config::Config;
use crate::state::digest::Digest;
use crate::state::State;

pub use business_loop::LoopExit;
pub use error::{EngineError, StartError};
pub use input::{CommandSender, SubmitError};
pub use outputs::{Output, OutputBatch, Subscription, SubscriptionError};
pub use telemetry::Stats;

use business_loop::BusinessLoop;
use clock::Clock;
use control::Control;
use input::Shared;
use outputs::Publisher;

/// What start-up found, for the caller to report.
#[derive(Clone, Debug)]
pub struct StartReport {
    pub journal: RecoveryReport,
    pub records_replayed: u64,
    pub snapshot_seq: Option<u64>,
    /// Snapshots skipped as invalid, with the reason.
    pub snapshots_skipped: Vec<(std::path::PathBuf, String)>,
    pub digest: Digest,
    /// Whether the loop thread is pinned, and to which core.
    pub pinned_core: Option<usize>,
    pub startup_commands: usize,
    pub recovery_time: Duration,
}

/// A running engine. Dropping it shuts down gracefully.
pub struct Engine {
    sender: CommandSender,
    control: Sender<Control>,
    thread: Option<JoinHandle<Result<LoopExit, EngineError>>>,
    report: StartReport,
    output_capacity: usize,
}

impl Engine {
    /// Recovers and starts the engine described by `config`.
    pub fn start(config: &Config) -> Result<Engine, StartError> {
        let started = Instant::now();
        let pin = match (config.engine.core, config.engine.allow_unpinned) {
            (None, true) => None,
            (None, false) => return Err(StartError::NotPinned),
            (Some(core), allow) => {
                let ids = core_affinity::get_core_ids().unwrap_or_default();
                match ids.iter().find(|c| c.id == core) {
                    Some(id) => Some(*id),
                    None if allow => None,
                    None => {
                        return Err(StartError::NoSuchCore {
                            core,
                            available: ids.iter().map(|c| c.id).collect(),
                        })
                    }
                }
            }
        };
        let recovered = recovery::recover(config)?;
        let startup = recovery::startup_commands(config, &recovered.state)?;
        let capacity = config.engine.ring_capacity as usize;
        let (tx, rx) = crossbeam_channel::bounded(capacity);
        let (control_tx, control_rx) = crossbeam_channel::bounded(64);
        let epoch = Instant::now();
        let shared = Arc::new(Shared {
            closed: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            failure: OnceLock::new(),
            epoch,
            wait: config.engine.wait_strategy,
            loop_thread: OnceLock::new(),
            capacity,
        });
        let report = StartReport {
            journal: recovered.report.clone(),
            records_replayed: recovered.records_applied,
            snapshot_seq: recovered.snapshot.loaded.as_ref().map(|s| s.seq),
            snapshots_skipped: recovered.snapshot.skipped.clone(),
            digest: recovered.state.digest(),
            pinned_core: pin.map(|c| c.id),
            startup_commands: startup.len(),
            recovery_time: started.elapsed(),
        };
        let batch_max = config.engine.batch_max as usize;
        let business = BusinessLoop {
            state: recovered.state,
            journal: recovered.journal,
            clock: Clock::new(config.engine.clock, epoch, recovered.last_ts_ns),
            rx,
            control: control_rx,
            shared: shared.clone(),
            publisher: Publisher::new(
                config.outputs.slow_subscriber,
                config.outputs.capacity as usize,
            ),
            stats: Stats::default(),
            batch_max,
            log_interval: (config.telemetry.log_interval_s > 0)
                .then(|| Duration::from_secs(config.telemetry.log_interval_s)),
            startup,
            drained: Vec::with_capacity(batch_max),
            events: Vec::with_capacity(1024),
            scratch: Vec::with_capacity(1 << 16),
        };
        let (ready_tx, ready_rx) = crossbeam_channel::bounded::<bool>(1);
        let allow_unpinned = config.engine.allow_unpinned;
        let thread = std::thread::Builder::new()
            .name("keel-loop".into())
            .spawn(move || {
                let pinned = pin.is_none_or(core_affinity::set_for_current);
                let _ = ready_tx.send(pinned);
                if !pinned && !allow_unpinned {
                    return Err(EngineError::NotRunning);
                }
                business.run()
            })
            .map_err(StartError::Spawn)?;
        let pinned = ready_rx.recv().unwrap_or(false);
        if !pinned && !allow_unpinned {
            let _ = thread.join();
            return Err(StartError::PinFailed {
                core: pin.map_or(0, |c| c.id),
            });
        }
        let _ = shared.loop_thread.set(thread.thread().clone());
        Ok(Engine {
            sender: CommandSender { tx, shared },
            control: control_tx,
            thread: Some(thread),
            report: StartReport {
                pinned_core: if pinned { report.pinned_core } else { None },
                ..report
            },
            output_capacity: config.outputs.capacity as usize,
        })
    }

    pub fn start_report(&self) -> &StartReport {
        &self.report
    }

    /// A sender for commands. Clone it for more producers.
    pub fn sender(&self) -> CommandSender {
        self.sender.clone()
    }

    /// Subscribes to outputs: every batch published after this returns.
    pub fn subscribe(&self) -> Result<Subscription, EngineError> {
        let (subscription, handle) = Publisher::subscribe(self.output_capacity);
        let (ack_tx, ack_rx) = crossbeam_channel::bounded(1);
        self.control
            .send(Control::Subscribe(handle, ack_tx))
            .map_err(|_| self.stopped())?;
        ack_rx.recv().map_err(|_| self.stopped())?;
        Ok(subscription)
    }

    /// A snapshot of the telemetry.
    pub fn stats(&self) -> Result<Stats, EngineError> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.control
            .send(Control::Stats(tx))
            .map_err(|_| self.stopped())?;
        rx.recv().map_err(|_| self.stopped())
    }

    /// Runs `f` on the loop thread with the state, between batches.
    pub fn query<T: Send + 'static>(
        &self,
        f: impl FnOnce(&State) -> T + Send + 'static,
    ) -> Result<T, EngineError> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let query = Box::new(move |state: &State| {
            let _ = tx.send(f(state));
        });
        self.control
            .send(Control::Query(query))
            .map_err(|_| self.stopped())?;
        rx.recv().map_err(|_| self.stopped())
    }

    /// The state digest now.
    pub fn digest(&self) -> Result<Digest, EngineError> {
        self.query(|s| s.digest())
    }

    fn stopped(&self) -> EngineError {
        match self.sender.shared.failure.get() {
            Some(reason) => EngineError::Journal(reason.clone()),
            None => EngineError::NotRunning,
        }
    }

    /// Graceful stop: drains the ring, commits, joins the thread. Returns the
    /// final telemetry and digest, or the error that stopped the engine.
    pub fn shutdown(mut self) -> Result<LoopExit, EngineError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<LoopExit, EngineError> {
        let Some(thread) = self.thread.take() else {
            return Err(EngineError::NotRunning);
        };
        let _ = self.control.send(Control::Shutdown);
        thread.thread().unpark();
        match thread.join() {
            Ok(result) => result,
            Err(panic) => Err(EngineError::Panicked(
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default(),
            )),
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.stop();
        }
    }
}
