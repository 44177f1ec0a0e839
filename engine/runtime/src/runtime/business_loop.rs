//! The business-logic loop: one thread owns the state. Per batch it drains
//! the ring, stamps and processes each command, writes one journal record per
//! command straight into the mapped segment, commits once, and only then
//! publishes the outputs. A journal error stops it (fail-stop): it never
//! continues with state that was not journaled, and never publishes what was
//! not committed.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, TryRecvError};
use keel_journal::Journal;

use crate::model::{Command, Event};
use crate::record;
use crate::state::State;

use super::clock::Clock;
use super::control::Control;
use super::input::{wait, Shared, Submission};
use super::outputs::Publisher;
use super::replication::{CommittedBatch, StageLink, StageMsg};
use super::telemetry::Stats;
use super::EngineError;

use super::RECORD_RESERVE_BYTES as RESERVE_BYTES;

pub(crate) struct BusinessLoop {
    pub state: State,
    pub journal: Journal,
    pub clock: Clock,
    pub rx: Receiver<Submission>,
    pub control: Receiver<Control>,
    pub shared: Arc<Shared>,
    pub publisher: Publisher,
    pub stats: Stats,
    pub batch_max: usize,
    pub log_interval: Option<Duration>,
    /// Commands processed before any input (config genesis).
    pub startup: Vec<Command>,
    pub drained: Vec<Submission>,
    pub events: Vec<Event>,
    pub scratch: Vec<u8>,
    /// With a replicator: the stage that publishes outputs once a batch is
    /// acknowledged (the loop's `publisher` then only pools batches).
    pub stage: Option<StageLink>,
}

/// How the loop ended.
#[derive(Debug)]
pub struct LoopExit {
    /// The telemetry at the end.
    pub stats: Stats,
    /// The final state's digest.
    pub digest: crate::state::digest::Digest,
}

impl BusinessLoop {
    pub fn run(mut self) -> Result<LoopExit, EngineError> {
        let mut result = self.run_inner();
        if let Some(stage) = &mut self.stage {
            // Outputs of every acknowledged batch are published before the
            // engine reports it stopped.
            stage.finish();
            if let (Ok(()), Some(e)) = (&result, self.shared.failure.get()) {
                result = Err(e.clone());
            }
        }
        if let Err(e) = &result {
            let _ = self.shared.failure.set(e.clone());
        }
        // Whatever happened, no command is accepted any more, and no control
        // request waits for an answer: dropping the queued requests drops
        // their reply senders, so their callers see the engine stopped.
        self.shared.closed.store(true, Ordering::SeqCst);
        while self.control.try_recv().is_ok() {}
        result.map(|()| LoopExit {
            stats: self.stats.clone(),
            digest: self.state.digest(),
        })
    }

    fn run_inner(&mut self) -> Result<(), EngineError> {
        let startup = std::mem::take(&mut self.startup);
        for chunk in startup.chunks(self.batch_max) {
            self.drained.clear();
            let now_ns = self.shared.now_ns();
            self.drained.extend(chunk.iter().map(|&command| Submission {
                command,
                ts: None,
                enqueued_ns: now_ns,
            }));
            self.process_batch()?;
        }
        let mut spins = 0u32;
        let mut last_log = Instant::now();
        loop {
            if let Some(stop) = self.handle_control() {
                if stop {
                    return self.shutdown();
                }
            }
            self.drain();
            if self.drained.is_empty() {
                if let Some(e) = self.shared.failure.get() {
                    // The replication stage stopped the engine.
                    return Err(e.clone());
                }
                wait(self.shared.wait, &mut spins);
                continue;
            }
            spins = 0;
            self.process_batch()?;
            if let Some(every) = self.log_interval {
                if last_log.elapsed() >= every {
                    last_log = Instant::now();
                    eprintln!("keel stats: {}", self.stats.summary_line());
                }
            }
        }
    }

    /// Handles pending control messages; `Some(true)` asks to stop.
    fn handle_control(&mut self) -> Option<bool> {
        loop {
            match self.control.try_recv() {
                Ok(Control::Subscribe(handle, ack)) => match &self.stage {
                    // In order with the batches: it gets every batch
                    // committed after this.
                    Some(stage) => {
                        let _ = stage.send(StageMsg::Subscribe(handle, ack), &self.shared);
                    }
                    None => {
                        self.publisher.add(handle);
                        let _ = ack.send(());
                    }
                },
                Ok(Control::Stats(reply)) => {
                    let mut stats = self.stats.clone();
                    stats.ring_depth = self.rx.len();
                    stats.subscribers = match &self.stage {
                        Some(stage) => stage.subscribers.load(Ordering::Relaxed),
                        None => self.publisher.subscriber_count(),
                    };
                    stats.replicated_seq =
                        self.stage.as_ref().map(|s| s.acked.load(Ordering::Acquire));
                    let _ = reply.send(stats);
                }
                Ok(Control::Query(query)) => query(&self.state),
                Ok(Control::Shutdown) => return Some(true),
                Err(TryRecvError::Empty) => return None,
                // Every handle is gone: shut down.
                Err(TryRecvError::Disconnected) => return Some(true),
            }
        }
    }

    fn drain(&mut self) {
        self.drained.clear();
        let depth = self.rx.len();
        self.stats.ring_depth = depth;
        self.stats.ring_depth_max = self.stats.ring_depth_max.max(depth);
        while self.drained.len() < self.batch_max {
            match self.rx.try_recv() {
                Ok(s) => self.drained.push(s),
                Err(_) => break,
            }
        }
    }

    /// Graceful stop: close the ring, wait for in-flight submits, drain
    /// everything, commit, publish.
    fn shutdown(&mut self) -> Result<(), EngineError> {
        self.shared.closed.store(true, Ordering::SeqCst);
        while self.shared.in_flight.load(Ordering::SeqCst) != 0 {
            std::hint::spin_loop();
        }
        loop {
            self.drain();
            if self.drained.is_empty() {
                return Ok(());
            }
            self.process_batch()?;
        }
    }

    fn process_batch(&mut self) -> Result<(), EngineError> {
        let mut batch = self.publisher.take_batch();
        let out = Arc::get_mut(&mut batch).expect("a fresh batch is not shared");
        let mut last_seq = 0;
        let mut started = Instant::now();
        for i in 0..self.drained.len() {
            let submission = self.drained[i];
            let now = Instant::now();
            if i > 0 {
                Stats::record_ns(
                    &mut self.stats.process_ns,
                    now.duration_since(started).as_nanos() as u64,
                );
            }
            started = now;
            let now_ns = now.duration_since(self.shared.epoch).as_nanos() as u64;
            Stats::record_ns(
                &mut self.stats.queue_wait_ns,
                now_ns.saturating_sub(submission.enqueued_ns),
            );
            let ts = self.clock.stamp(now, submission.ts);
            // Start loading what the next commands of the batch will touch
            // (a hint: it changes nothing; see `State::prefetch_ahead`).
            let ahead = |k: usize| self.drained.get(i + k).map(|s| &s.command);
            self.state.prefetch_ahead([ahead(1), ahead(2), ahead(3)]);
            // One record per step: a command whose work does not fit one
            // record (an expiry backlog before it, a large mass cancel)
            // continues in the engine's continuation records, at the same
            // timestamp and before anything else.
            let mut cmd = submission.command;
            loop {
                self.events.clear();
                let step = crate::core::process_step(&mut self.state, &cmd, ts, &mut self.events)
                    .map_err(|source| EngineError::Core {
                    command: Box::new(cmd),
                    source,
                })?;
                let seq = self.append(ts, &step.command)?;
                out.push(seq, ts, step.command, &self.events, submission.enqueued_ns);
                self.stats.record_command(&self.events);
                last_seq = seq;
                match step.next {
                    Some(next) => cmd = next,
                    None => break,
                }
            }
        }
        let commit_start = Instant::now();
        Stats::record_ns(
            &mut self.stats.process_ns,
            commit_start.duration_since(started).as_nanos() as u64,
        );
        self.journal.commit()?;
        let published = Instant::now();
        Stats::record_ns(
            &mut self.stats.commit_ns,
            published.duration_since(commit_start).as_nanos() as u64,
        );
        let published_ns = published.duration_since(self.shared.epoch).as_nanos() as u64;
        for enqueued in out.enqueued_ns() {
            Stats::record_ns(
                &mut self.stats.end_to_end_ns,
                published_ns.saturating_sub(enqueued),
            );
        }
        Stats::record_ns(&mut self.stats.batch_size, out.len() as u64);
        self.stats.batches += 1;
        self.stats.last_seq = last_seq;
        match &self.stage {
            None => self.publisher.publish(batch, last_seq),
            Some(stage) => {
                let mut bytes = stage.buffer();
                self.journal.take_captured(&mut bytes);
                let first_seq = batch.iter().next().map_or(last_seq, |o| o.seq);
                self.publisher.track(batch.clone());
                let committed = CommittedBatch {
                    first_seq,
                    last_seq,
                    bytes,
                };
                stage.send(StageMsg::Batch(committed, batch), &self.shared)?;
            }
        }
        Ok(())
    }

    /// Writes one record, zero-copy when it fits the reservation.
    fn append(&mut self, ts: u64, cmd: &Command) -> Result<u64, EngineError> {
        let expected = self.journal.next_sequence();
        let journal_error = EngineError::from;
        let mut reservation = self.journal.reserve(RESERVE_BYTES).map_err(journal_error)?;
        let (seq, len) = match record::encode(reservation.buf(), ts, cmd, &self.events) {
            Ok(len) => (reservation.seal(len).map_err(journal_error)?, len),
            Err(_) => {
                drop(reservation);
                record::encode_to_vec(&mut self.scratch, ts, cmd, &self.events);
                (
                    self.journal.append(&self.scratch).map_err(journal_error)?,
                    self.scratch.len(),
                )
            }
        };
        // Boundary check: the journal numbers records contiguously.
        assert_eq!(
            seq, expected,
            "journal assigned sequence {seq}, expected {expected}"
        );
        self.stats.bytes_journaled += len as u64;
        Ok(seq)
    }
}
