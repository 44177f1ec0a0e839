//! Built-in telemetry: counters and HdrHistograms kept by the loop (no
//! allocation when recording), read through `Engine::stats()`.

use hdrhistogram::Histogram;

use crate::model::{Event, RejectReason};

/// Highest value a latency histogram records (60 s); larger values saturate.
const LATENCY_MAX_NS: u64 = 60_000_000_000;

fn histogram(max: u64) -> Histogram<u64> {
    Histogram::new_with_bounds(1, max, 3).expect("valid histogram bounds")
}

/// A snapshot of the engine's telemetry.
#[derive(Clone, Debug)]
pub struct Stats {
    /// Commands processed (start-up commands included).
    pub commands: u64,
    /// Events they produced.
    pub events: u64,
    /// Trades executed.
    pub trades: u64,
    /// Commands rejected.
    pub rejected: u64,
    /// Rejections by reason code, in `RejectReason::CODES` order.
    pub rejections: [u64; RejectReason::CODES.len()],
    /// Batches committed.
    pub batches: u64,
    /// Record bytes written to the journal (payloads and framing).
    pub bytes_journaled: u64,
    /// The last committed sequence.
    pub last_seq: u64,
    /// Commands in the input ring when last sampled, and the most seen.
    pub ring_depth: usize,
    /// The most commands seen waiting in the input ring.
    pub ring_depth_max: usize,
    /// Subscribers connected now.
    pub subscribers: usize,
    /// With replication (`Engine::start_replicated`): the last sequence
    /// whose batch the replicated log acknowledged (its outputs are
    /// published); `None` without replication. `last_seq` minus this is
    /// what is committed locally and not yet replicated.
    pub replicated_seq: Option<u64>,
    /// Enqueue → taken by the loop.
    pub queue_wait_ns: Histogram<u64>,
    /// Decide + apply + encode into the journal, per command.
    pub process_ns: Histogram<u64>,
    /// Journal commit, per batch.
    pub commit_ns: Histogram<u64>,
    /// Enqueue → outputs published, per command.
    pub end_to_end_ns: Histogram<u64>,
    /// Commands per batch.
    pub batch_size: Histogram<u64>,
}

impl Default for Stats {
    fn default() -> Stats {
        Stats {
            commands: 0,
            events: 0,
            trades: 0,
            rejected: 0,
            rejections: [0; RejectReason::CODES.len()],
            batches: 0,
            replicated_seq: None,
            bytes_journaled: 0,
            last_seq: 0,
            ring_depth: 0,
            ring_depth_max: 0,
            subscribers: 0,
            queue_wait_ns: histogram(LATENCY_MAX_NS),
            process_ns: histogram(LATENCY_MAX_NS),
            commit_ns: histogram(LATENCY_MAX_NS),
            end_to_end_ns: histogram(LATENCY_MAX_NS),
            batch_size: histogram(1 << 20),
        }
    }
}

impl Stats {
    #[inline]
    pub(crate) fn record_command(&mut self, events: &[Event]) {
        self.commands += 1;
        self.events += events.len() as u64;
        for e in events {
            match e {
                Event::TradeExecuted(_) => self.trades += 1,
                Event::Rejected { reason, .. } => {
                    self.rejected += 1;
                    self.rejections[reason.code_index()] += 1;
                }
                _ => {}
            }
        }
    }

    #[inline]
    pub(crate) fn record_ns(h: &mut Histogram<u64>, ns: u64) {
        h.saturating_record(ns.clamp(1, h.high()));
    }

    /// Rejections by reason, non-zero only.
    pub fn rejections_by_reason(&self) -> Vec<(&'static str, u64)> {
        RejectReason::CODES
            .iter()
            .zip(self.rejections)
            .filter(|(_, n)| *n > 0)
            .map(|(c, n)| (*c, n))
            .collect()
    }

    /// One human line: counts and end-to-end percentiles.
    pub fn summary_line(&self) -> String {
        let h = &self.end_to_end_ns;
        let us = |q: f64| h.value_at_quantile(q) as f64 / 1_000.0;
        format!(
            "commands {} events {} trades {} rejected {} batches {} journal_bytes {} | end-to-end us p50 {:.1} p99 {:.1} p99.9 {:.1} max {:.1}",
            self.commands,
            self.events,
            self.trades,
            self.rejected,
            self.batches,
            self.bytes_journaled,
            us(0.5),
            us(0.99),
            us(0.999),
            h.max() as f64 / 1_000.0
        )
    }
}
