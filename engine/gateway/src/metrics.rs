//! `GET /metrics` in the Prometheus text exposition format (version
//! 0.0.4), written directly: the engine's telemetry (a `Stats` snapshot the
//! loop hands over between batches; nothing is registered on the loop
//! thread) and the gateway's counters.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use keel_engine::hdrhistogram::Histogram;
use keel_engine::model::RejectReason;
use keel_engine::Stats;

use crate::hub::Hub;
use crate::market::CHANNELS;
use crate::protocol::{CloseReason, ErrorCode};

struct Text(String);

impl Text {
    fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn one(&mut self, name: &str, kind: &str, help: &str, value: u64) {
        self.head(name, kind, help);
        let _ = writeln!(self.0, "{name} {value}");
    }

    fn labelled<'a>(
        &mut self,
        name: &str,
        kind: &str,
        help: &str,
        label: &str,
        values: impl Iterator<Item = (&'a str, u64)>,
    ) {
        self.head(name, kind, help);
        for (l, v) in values {
            let _ = writeln!(self.0, "{name}{{{label}=\"{l}\"}} {v}");
        }
    }

    /// A histogram of nanoseconds as a summary in seconds.
    fn summary(&mut self, name: &str, help: &str, h: &Histogram<u64>) {
        self.head(name, "summary", help);
        for q in [0.5, 0.99, 0.999] {
            let v = if h.is_empty() {
                0
            } else {
                h.value_at_quantile(q)
            };
            let _ = writeln!(self.0, "{name}{{quantile=\"{q}\"}} {:e}", v as f64 / 1e9);
        }
        let sum = h.mean() * h.len() as f64 / 1e9;
        let _ = writeln!(self.0, "{name}_sum {sum:e}");
        let _ = writeln!(self.0, "{name}_count {}", h.len());
    }
}

/// The metrics page.
pub fn render(s: &Stats, hub: &Hub) -> String {
    let mut t = Text(String::with_capacity(8192));
    t.one(
        "keel_commands_total",
        "counter",
        "Commands processed (journal records).",
        s.commands,
    );
    t.one("keel_events_total", "counter", "Events decided.", s.events);
    t.one("keel_trades_total", "counter", "Trades executed.", s.trades);
    t.one(
        "keel_rejected_total",
        "counter",
        "Commands rejected.",
        s.rejected,
    );
    t.labelled(
        "keel_rejections_total",
        "counter",
        "Commands rejected, by reason.",
        "reason",
        RejectReason::CODES
            .iter()
            .copied()
            .zip(s.rejections.iter().copied()),
    );
    t.one(
        "keel_batches_total",
        "counter",
        "Commit batches.",
        s.batches,
    );
    t.one(
        "keel_journal_bytes_total",
        "counter",
        "Bytes journaled.",
        s.bytes_journaled,
    );
    t.one(
        "keel_last_sequence",
        "gauge",
        "Sequence of the last committed record.",
        s.last_seq,
    );
    if let Some(replicated) = s.replicated_seq {
        t.one(
            "keel_replicated_sequence",
            "gauge",
            "Sequence of the last record the replicated log acknowledged (its outputs are published).",
            replicated,
        );
        t.one(
            "keel_replication_lag_records",
            "gauge",
            "Records committed locally and not yet acknowledged by the replicated log.",
            s.last_seq.saturating_sub(replicated),
        );
    }
    t.one(
        "keel_ring_depth",
        "gauge",
        "Commands waiting in the input ring.",
        s.ring_depth as u64,
    );
    t.one(
        "keel_ring_depth_max",
        "gauge",
        "Most commands seen waiting in the input ring.",
        s.ring_depth_max as u64,
    );
    t.one(
        "keel_subscribers",
        "gauge",
        "Output subscribers of the engine.",
        s.subscribers as u64,
    );
    t.summary(
        "keel_queue_wait_seconds",
        "Time a command waited in the input ring.",
        &s.queue_wait_ns,
    );
    t.summary(
        "keel_process_seconds",
        "Time to decide and apply a command.",
        &s.process_ns,
    );
    t.summary(
        "keel_commit_seconds",
        "Time to commit a batch.",
        &s.commit_ns,
    );
    t.summary(
        "keel_end_to_end_seconds",
        "Time from submit to published output.",
        &s.end_to_end_ns,
    );
    t.head("keel_batch_size", "summary", "Commands per batch.");
    for q in [0.5, 0.99, 0.999] {
        let b = &s.batch_size;
        let v = if b.is_empty() {
            0
        } else {
            b.value_at_quantile(q)
        };
        let _ = writeln!(t.0, "keel_batch_size{{quantile=\"{q}\"}} {v}");
    }
    let _ = writeln!(
        t.0,
        "keel_batch_size_sum {}",
        (s.batch_size.mean() * s.batch_size.len() as f64).round()
    );
    let _ = writeln!(t.0, "keel_batch_size_count {}", s.batch_size.len());

    let g = &hub.telemetry;
    let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    t.one(
        "keel_gateway_sessions_open",
        "gauge",
        "Sessions open.",
        get(&g.sessions_open),
    );
    t.one(
        "keel_gateway_sessions_opened_total",
        "counter",
        "Sessions opened.",
        get(&g.sessions_opened),
    );
    t.one(
        "keel_gateway_unauthorized_total",
        "counter",
        "Upgrades refused for a bad or missing key.",
        get(&g.unauthorized),
    );
    t.one(
        "keel_gateway_refused_sessions_total",
        "counter",
        "Upgrades refused for too many sessions.",
        get(&g.refused_too_many_sessions),
    );
    t.one(
        "keel_gateway_refused_connections_total",
        "counter",
        "Connections closed at accept (too many not yet upgraded).",
        get(&g.refused_connections),
    );
    t.one(
        "keel_gateway_messages_in_total",
        "counter",
        "Messages received from clients.",
        get(&g.messages_in),
    );
    t.one(
        "keel_gateway_messages_out_total",
        "counter",
        "Messages queued to clients.",
        get(&g.messages_out),
    );
    t.one(
        "keel_gateway_commands_submitted_total",
        "counter",
        "Commands submitted to the engine.",
        get(&g.commands_submitted),
    );
    t.one(
        "keel_gateway_answers_total",
        "counter",
        "Answers sent.",
        get(&g.answers),
    );
    t.labelled(
        "keel_gateway_errors_total",
        "counter",
        "Messages refused by the gateway, by code.",
        "code",
        ErrorCode::ALL
            .iter()
            .map(|c| (c.as_str(), get(&g.errors[c.index()]))),
    );
    t.labelled(
        "keel_gateway_closed_total",
        "counter",
        "Sessions closed by the server, by reason.",
        "reason",
        CloseReason::ALL
            .iter()
            .map(|c| (c.as_str(), get(&g.closed[c.index()]))),
    );
    let counts = hub.market.subscriber_counts();
    t.labelled(
        "keel_market_subscribers",
        "gauge",
        "Subscriptions held, by channel.",
        "channel",
        CHANNELS
            .iter()
            .copied()
            .zip(counts.iter().map(|c| *c as u64)),
    );
    t.labelled(
        "keel_market_messages_total",
        "counter",
        "Feed messages sent, by channel.",
        "channel",
        CHANNELS
            .iter()
            .copied()
            .zip(hub.market.sent.iter().map(get)),
    );
    let market_seq = get(&hub.market.seq);
    t.one(
        "keel_market_sequence",
        "gauge",
        "Sequence the read models reflect.",
        market_seq,
    );
    t.one(
        "keel_market_lag_records",
        "gauge",
        "Records the read models are behind the router.",
        get(&hub.routed_seq).saturating_sub(market_seq),
    );
    t.0
}
