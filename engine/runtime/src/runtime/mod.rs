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
mod huge_pages;
mod input;
mod outputs;
pub mod recovery;
mod replication;
mod telemetry;

use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use keel_journal::RecoveryReport;

use crate::config::Config;
use crate::registry::Registry;
use crate::state::digest::Digest;
use crate::state::State;

pub use business_loop::LoopExit;
pub use error::{EngineError, StartError};
pub use huge_pages::advise_huge_pages;
pub use input::{CommandSender, SubmitError};
pub use outputs::{Output, OutputBatch, Subscription, SubscriptionError};
pub use replication::{CommittedBatch, ReplicationError, Replicator};
pub use telemetry::Stats;

use business_loop::BusinessLoop;
use clock::Clock;
use control::Control;
use input::Shared;
use outputs::Publisher;

/// Bytes the loop reserves in the mapped segment for each record before it
/// knows the record's size; a larger record is encoded into a scratch buffer
/// and copied instead. The smallest `journal.max_record_kib` accepted
/// ([`MIN_RECORD_KIB`](crate::config::MIN_RECORD_KIB)) is above it.
pub const RECORD_RESERVE_BYTES: usize = 2048;

/// How often a caller waiting on the loop checks that the loop still runs.
const REPLY_POLL: Duration = Duration::from_millis(20);

const _: () = assert!(RECORD_RESERVE_BYTES <= (crate::config::MIN_RECORD_KIB as usize) << 10);

/// What start-up found, for the caller to report.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct StartReport {
    /// What opening the journal found (records, batches, a torn tail).
    pub journal: RecoveryReport,
    /// Journal records applied on top of the snapshot (or genesis).
    pub records_replayed: u64,
    /// The sequence of the snapshot recovery started from, if any.
    pub snapshot_seq: Option<u64>,
    /// Snapshots skipped as invalid, with the reason.
    pub snapshots_skipped: Vec<(std::path::PathBuf, String)>,
    /// The recovered state's digest.
    pub digest: Digest,
    /// Whether the loop thread is pinned, and to which core.
    pub pinned_core: Option<usize>,
    /// Admin commands run at start-up to add configured assets and symbols.
    pub startup_commands: usize,
    /// How long recovery took.
    pub recovery_time: Duration,
    /// The journal directory in use (a fresh one for a temporary journal).
    pub journal_dir: std::path::PathBuf,
    /// What the caller should know but that did not stop the start, such as
    /// running unpinned. Print them.
    pub warnings: Vec<String>,
}

/// A running engine. Dropping it shuts down gracefully.
pub struct Engine {
    sender: CommandSender,
    control: Sender<Control>,
    thread: Option<JoinHandle<Result<LoopExit, EngineError>>>,
    report: StartReport,
    output_capacity: usize,
    /// A temporary journal's directory, removed after the loop has stopped.
    _temporary: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("journal_dir", &self.report.journal_dir)
            .field("running", &self.thread.is_some())
            .finish_non_exhaustive()
    }
}

/// Where the loop thread runs.
enum Pinning {
    Core(core_affinity::CoreId),
    /// Unpinned: the strict flag says whether that is an error.
    Unpinned,
}

impl Engine {
    /// Recovers and starts the engine described by `config`.
    ///
    /// Without `engine.core` the loop runs unpinned, with a warning in
    /// [`StartReport::warnings`]. With it, a core that does not exist or
    /// cannot be pinned is an error unless `engine.allow_unpinned` is set.
    pub fn start(config: &Config) -> Result<Engine, StartError> {
        Engine::start_inner(config, None)
    }

    /// [`Engine::start`], with every committed batch carried by
    /// `replicator` before its outputs are published (see [`Replicator`]):
    /// a subscriber sees a batch only after the replicated log acknowledged
    /// it. A replication failure stops the engine ([`EngineError::Replication`]).
    pub fn start_replicated(
        config: &Config,
        replicator: Box<dyn Replicator>,
    ) -> Result<Engine, StartError> {
        Engine::start_inner(config, Some(replicator))
    }

    fn start_inner(
        config: &Config,
        replicator: Option<Box<dyn Replicator>>,
    ) -> Result<Engine, StartError> {
        let started = Instant::now();
        config.validate()?;
        let mut warnings = Vec::new();
        let pin = match config.engine.core {
            None => {
                warnings.push(
                    "engine.core is not set: the loop runs unpinned (set engine.core for steady latency)"
                        .to_owned(),
                );
                Pinning::Unpinned
            }
            Some(core) => {
                let ids = core_affinity::get_core_ids().unwrap_or_default();
                match ids.iter().find(|c| c.id == core) {
                    Some(id) => Pinning::Core(*id),
                    None if config.engine.allow_unpinned => {
                        warnings.push(format!(
                            "engine.core = {core}: no such core (cores {:?}); running unpinned (engine.allow_unpinned = true)",
                            ids.iter().map(|c| c.id).collect::<Vec<_>>()
                        ));
                        Pinning::Unpinned
                    }
                    None => {
                        return Err(StartError::NoSuchCore {
                            core,
                            available: ids.iter().map(|c| c.id).collect(),
                        })
                    }
                }
            }
        };
        let temporary = if config.journal.temporary {
            let dir = tempfile::Builder::new()
                .prefix("keel-journal-")
                .tempdir()
                .map_err(|source| StartError::TemporaryJournal { source })?;
            Some(dir)
        } else {
            None
        };
        let mut effective;
        let config = match &temporary {
            Some(dir) => {
                effective = config.clone();
                effective.journal.dir = dir.path().to_owned();
                &effective
            }
            None => config,
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
            snapshot_seq: recovered.snapshot.started_from.as_ref().map(|s| s.1),
            snapshots_skipped: recovered.snapshot.skipped.clone(),
            digest: recovered.state.digest(),
            pinned_core: match pin {
                Pinning::Core(c) => Some(c.id),
                Pinning::Unpinned => None,
            },
            startup_commands: startup.len(),
            recovery_time: started.elapsed(),
            journal_dir: config.journal.dir.clone(),
            warnings,
        };
        let batch_max = config.engine.batch_max as usize;
        let mut journal = recovered.journal;
        let stage = match replicator {
            None => None,
            Some(replicator) => {
                journal.set_capture(true);
                let fanout = Publisher::new(
                    config.outputs.slow_subscriber,
                    config.outputs.capacity as usize,
                );
                let acked_from = recovered.report.last_sequence.unwrap_or(0);
                Some(
                    replication::spawn(replicator, fanout, shared.clone(), acked_from)
                        .map_err(StartError::Spawn)?,
                )
            }
        };
        let business = BusinessLoop {
            state: recovered.state,
            journal,
            stage,
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
        let core = match pin {
            Pinning::Core(id) => Some(id),
            Pinning::Unpinned => None,
        };
        let thread = std::thread::Builder::new()
            .name("keel-loop".into())
            .spawn(move || {
                let pinned = core.is_none_or(core_affinity::set_for_current);
                let _ = ready_tx.send(pinned);
                if !pinned && !allow_unpinned {
                    return Err(EngineError::NotRunning);
                }
                business.run()
            })
            .map_err(StartError::Spawn)?;
        let pinned = ready_rx.recv().unwrap_or(false);
        let mut report = report;
        if let (false, Some(id)) = (pinned, core) {
            if !allow_unpinned {
                let _ = thread.join();
                return Err(StartError::PinFailed { core: id.id });
            }
            report.pinned_core = None;
            report.warnings.push(format!(
                "could not pin the loop to core {}; running unpinned (engine.allow_unpinned = true)",
                id.id
            ));
        }
        let _ = shared.loop_thread.set(thread.thread().clone());
        Ok(Engine {
            sender: CommandSender { tx, shared },
            control: control_tx,
            thread: Some(thread),
            report,
            output_capacity: config.outputs.capacity as usize,
            _temporary: temporary,
        })
    }

    /// What start-up found.
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
        self.reply(&ack_rx)?;
        Ok(subscription)
    }

    /// A snapshot of the telemetry.
    pub fn stats(&self) -> Result<Stats, EngineError> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.control
            .send(Control::Stats(tx))
            .map_err(|_| self.stopped())?;
        self.reply(&rx)
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
        self.reply(&rx)
    }

    /// The names and scales of the assets and symbols committed so far, to
    /// build commands from names and decimal strings
    /// ([`NamedCommands`](crate::units::NamedCommands)) and to print events.
    /// It is a copy: ask again after adding an asset or a symbol.
    pub fn registry(&self) -> Result<Registry, EngineError> {
        self.query(Registry::from_state)
    }

    /// The state digest now.
    pub fn digest(&self) -> Result<Digest, EngineError> {
        self.query(|s| s.digest())
    }

    /// Waits for the loop's answer, or for the loop to have stopped: a
    /// request queued just as the loop ended is never answered, so the wait
    /// also watches the loop thread and returns its failure promptly.
    fn reply<T>(&self, rx: &crossbeam_channel::Receiver<T>) -> Result<T, EngineError> {
        loop {
            match rx.recv_timeout(REPLY_POLL) {
                Ok(value) => return Ok(value),
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                    return Err(self.stopped())
                }
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                    let finished = self.thread.as_ref().is_none_or(|t| t.is_finished());
                    if finished {
                        // One last look: the answer may have come just now.
                        return rx.try_recv().map_err(|_| self.stopped());
                    }
                }
            }
        }
    }

    fn stopped(&self) -> EngineError {
        match self.sender.shared.failure.get() {
            Some(failure) => failure.clone(),
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
