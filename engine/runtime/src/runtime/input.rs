//! The input side: cloneable `CommandSender`s feeding one bounded lock-free
//! ring (crossbeam's array channel: a fixed ring of slots claimed by CAS; no
//! lock is taken unless a thread blocks, and neither side here ever does).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, TrySendError};

use crate::config::WaitStrategy;
use crate::model::Command;

/// One command on its way to the loop.
#[derive(Clone, Copy, Debug)]
pub struct Submission {
    pub command: Command,
    /// The input's own time, used by the simulated clock.
    pub ts: Option<u64>,
    /// When it was enqueued, ns since the engine's epoch (telemetry).
    pub enqueued_ns: u64,
}

/// Why a command was not accepted. Every variant hands the command back:
/// nothing is dropped silently.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// The input ring is full (only from `try_submit`).
    #[error("input ring full ({capacity} commands): retry, or use submit() to wait")]
    Full {
        /// The command, not enqueued.
        command: Command,
        /// The ring's capacity.
        capacity: usize,
    },
    /// The engine was shut down.
    #[error("engine is shut down: the command was not accepted")]
    Closed {
        /// The command, not enqueued.
        command: Command,
    },
    /// The engine stopped on a failure (fail-stop).
    #[error("engine stopped after a failure ({reason}): the command was not accepted")]
    Failed {
        /// The command, not enqueued.
        command: Command,
        /// The failure that stopped the engine.
        reason: String,
    },
}

/// State shared by the senders and the loop.
pub(crate) struct Shared {
    pub closed: AtomicBool,
    pub in_flight: AtomicUsize,
    pub failure: OnceLock<super::EngineError>,
    pub epoch: Instant,
    pub wait: WaitStrategy,
    pub loop_thread: OnceLock<Thread>,
    pub capacity: usize,
}

impl Shared {
    pub fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }
}

/// Feeds commands to the engine. Clone it freely: all clones share the ring.
#[derive(Clone)]
pub struct CommandSender {
    pub(crate) tx: Sender<Submission>,
    pub(crate) shared: Arc<Shared>,
}

/// Decrements the in-flight count when a submit attempt ends.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl CommandSender {
    fn closed_error(&self, command: Command) -> SubmitError {
        match self.shared.failure.get() {
            Some(failure) => SubmitError::Failed {
                command,
                reason: failure.to_string(),
            },
            None => SubmitError::Closed { command },
        }
    }

    /// Enqueues without blocking; `Full` hands the command back.
    pub fn try_submit(&self, command: Command) -> Result<(), SubmitError> {
        self.try_submit_at(command, None)
    }

    /// Like `try_submit`, with the input's own timestamp (simulated clock).
    pub fn try_submit_at(&self, command: Command, ts: Option<u64>) -> Result<(), SubmitError> {
        // Shutdown protocol: the loop sets `closed`, then waits for
        // `in_flight` to reach 0 before its final drain. A sender that got in
        // before `closed` is therefore drained; one after sees `closed`.
        self.shared.in_flight.fetch_add(1, Ordering::SeqCst);
        let _guard = InFlight(&self.shared.in_flight);
        if self.shared.closed.load(Ordering::SeqCst) {
            return Err(self.closed_error(command));
        }
        let submission = Submission {
            command,
            ts,
            enqueued_ns: self.shared.now_ns(),
        };
        match self.tx.try_send(submission) {
            Ok(()) => {
                if let Some(t) = self.shared.loop_thread.get() {
                    t.unpark();
                }
                Ok(())
            }
            Err(TrySendError::Full(s)) => Err(SubmitError::Full {
                command: s.command,
                capacity: self.shared.capacity,
            }),
            Err(TrySendError::Disconnected(s)) => Err(self.closed_error(s.command)),
        }
    }

    /// Enqueues, waiting under the configured wait strategy while the ring is
    /// full. Fails only if the engine is shut down or failed.
    pub fn submit(&self, command: Command) -> Result<(), SubmitError> {
        self.submit_at(command, None)
    }

    /// [`submit`](Self::submit) with a timestamp for the simulated clock
    /// (`engine.clock = "simulated"`; ignored by the system clock).
    pub fn submit_at(&self, mut command: Command, ts: Option<u64>) -> Result<(), SubmitError> {
        let mut spins = 0u32;
        loop {
            match self.try_submit_at(command, ts) {
                Err(SubmitError::Full { command: c, .. }) => {
                    command = c;
                    wait(self.shared.wait, &mut spins);
                }
                other => return other,
            }
        }
    }

    /// Commands waiting in the ring.
    pub fn ring_depth(&self) -> usize {
        self.tx.len()
    }
}

/// One step of waiting under `strategy`.
#[inline]
pub(crate) fn wait(strategy: WaitStrategy, spins: &mut u32) {
    *spins = spins.saturating_add(1);
    match strategy {
        WaitStrategy::Spin => std::hint::spin_loop(),
        WaitStrategy::Yield => std::thread::yield_now(),
        WaitStrategy::SpinThenPark => {
            if *spins < 1_000 {
                std::hint::spin_loop();
            } else if *spins < 2_000 {
                std::thread::yield_now();
            } else {
                std::thread::park_timeout(Duration::from_micros(50));
            }
        }
    }
}
