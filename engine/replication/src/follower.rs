//! The follower's side: read the stream from just after this node's own
//! journal, check and append each batch byte for byte, apply its events,
//! and take the lease when the leader's lapses.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::{self, pull, DeliverPolicy};
use futures_util::StreamExt;
use keel_engine::keel_journal::{self, Batch, Journal};
use keel_engine::runtime::recovery;
use keel_engine::{Config, Event, State};

use crate::error::ReplError;
use crate::leader::{lease_value, LEASE_KEY};
use crate::link::{stored, Link, StoredBatch};

/// Where a follower stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FollowerStatus {
    /// Last journal sequence applied (0: none).
    pub last_seq: u64,
    /// Stream sequence of the last batch applied (0: none).
    pub stream_seq: u64,
    /// The stream's last sequence when last asked.
    pub stream_last: u64,
}

/// How [`Follower::follow`] ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Takeover {
    /// This node took the lease (at `revision`) having applied the whole
    /// stream up to `last_stream_seq`: it may lead now.
    Promoted {
        /// The stream's last sequence, which the first batch must follow.
        last_stream_seq: u64,
        /// The lease entry's revision this node wrote.
        revision: u64,
    },
    /// `stop` asked it to stop.
    Stopped,
}

/// A node following the stream: its own journal (writer lock held) and
/// state, advanced by the leader's batches only.
pub struct Follower {
    link: Arc<Link>,
    dir: std::path::PathBuf,
    state: State,
    journal: Journal,
    status: FollowerStatus,
    events: Vec<Event>,
    /// What start-up cut from this node's journal, if anything.
    pub cut: Option<String>,
    feed: Option<pull::Ordered>,
}

impl Follower {
    /// Opens this node's journal, first cutting any tail the stream does
    /// not hold (batches this node committed as a leader that were never
    /// acknowledged, hence never published), then rebuilds its state.
    pub fn open(config: &Config, link: Arc<Link>) -> Result<Follower, ReplError> {
        let cut = reconcile(config, &link)?;
        let recovered = recovery::recover(config).map_err(|e| ReplError::Local(e.to_string()))?;
        let last_seq = recovered.report.last_sequence.unwrap_or(0);
        let stream_seq = if last_seq == 0 {
            0
        } else {
            link.locate(last_seq)?.ok_or_else(|| {
                ReplError::Local(format!(
                    "journal ends at {last_seq}, which the stream does not hold after reconciling"
                ))
            })?
        };
        let stream_last = link.last_stream_seq()?;
        Ok(Follower {
            link,
            dir: config.journal.dir.clone(),
            state: recovered.state,
            journal: recovered.journal,
            status: FollowerStatus {
                last_seq,
                stream_seq,
                stream_last,
            },
            events: Vec::with_capacity(256),
            cut,
            feed: None,
        })
    }

    /// Where it stands.
    pub fn status(&self) -> &FollowerStatus {
        &self.status
    }

    /// The replica state (advanced by applying the leader's events).
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Checks, appends and applies one batch, which must be the stream's
    /// next.
    fn apply(&mut self, b: &StoredBatch) -> Result<(), ReplError> {
        let batch = Batch::parse(&b.bytes).map_err(|source| ReplError::Stream {
            stream_seq: b.stream_seq,
            source,
        })?;
        self.journal
            .append_batch(&batch)
            .map_err(|source| ReplError::Journal {
                dir: self.dir.clone(),
                source,
            })?;
        for (seq, payload) in batch.records() {
            let apply_error = |message: String| ReplError::Apply { seq, message };
            keel_engine::record::decode_into(payload, &mut self.events)
                .map_err(|e| apply_error(e.to_string()))?;
            for event in &self.events {
                keel_engine::apply(&mut self.state, event)
                    .map_err(|e| apply_error(e.to_string()))?;
            }
        }
        self.status.last_seq = b.last_seq;
        self.status.stream_seq = b.stream_seq;
        self.status.stream_last = self.status.stream_last.max(b.stream_seq);
        Ok(())
    }

    /// The next stream message after the last applied, waiting at most
    /// `wait`.
    fn next(&mut self, wait: Duration) -> Result<Option<StoredBatch>, ReplError> {
        if self.feed.is_none() {
            let start = self.status.stream_seq + 1;
            let stream = self.link.stream.clone();
            let feed = self.link.rt.block_on(async move {
                let c = stream
                    .create_consumer(pull::OrderedConfig {
                        deliver_policy: DeliverPolicy::ByStartSequence {
                            start_sequence: start,
                        },
                        replay_policy: consumer::ReplayPolicy::Instant,
                        ..Default::default()
                    })
                    .await
                    .map_err(|e| {
                        ReplError::Nats(format!("consumer from stream sequence {start}: {e}"))
                    })?;
                c.messages()
                    .await
                    .map_err(|e| ReplError::Nats(format!("consuming from {start}: {e}")))
            })?;
            self.feed = Some(feed);
        }
        let feed = self.feed.as_mut().expect("just set");
        let got = self
            .link
            .rt
            .block_on(async { tokio::time::timeout(wait, feed.next()).await });
        let msg = match got {
            Err(_) => return Ok(None),
            Ok(None) => {
                self.drop_feed();
                return Ok(None);
            }
            Ok(Some(Err(e))) => {
                self.drop_feed();
                return Err(ReplError::Nats(format!("consuming the stream: {e}")));
            }
            Ok(Some(Ok(m))) => m,
        };
        let stream_seq = msg
            .info()
            .map_err(|e| ReplError::Nats(format!("message without stream info: {e}")))?
            .stream_sequence;
        if stream_seq != self.status.stream_seq + 1 {
            // The ordered consumer restarts itself after a gap; start over.
            self.drop_feed();
            return Err(ReplError::Nats(format!(
                "stream message {stream_seq} came while {} was expected",
                self.status.stream_seq + 1
            )));
        }
        stored(stream_seq, msg.message.payload.clone()).map(Some)
    }

    /// Applies everything the stream holds now; returns the batches applied.
    pub fn catch_up(&mut self) -> Result<u64, ReplError> {
        let mut applied = 0;
        let mut stalled = 0;
        loop {
            self.status.stream_last = self.link.last_stream_seq()?;
            if self.status.stream_seq >= self.status.stream_last {
                return Ok(applied);
            }
            let before = applied;
            while self.status.stream_seq < self.status.stream_last {
                match self.next(Duration::from_millis(self.link.cfg.ack_timeout_ms))? {
                    Some(b) => {
                        self.apply(&b)?;
                        applied += 1;
                    }
                    None => break,
                }
            }
            if applied == before {
                // Nothing came although the stream holds more: start the
                // consumer again, a few times.
                self.drop_feed();
                stalled += 1;
                if stalled >= 5 {
                    return Err(ReplError::Nats(format!(
                        "the stream holds sequence {} but nothing after {} arrived",
                        self.status.stream_last, self.status.stream_seq
                    )));
                }
            }
        }
    }

    /// Follows the stream, and takes the lease when the leader's lapses
    /// (no renewal for `lease_ms`) and this node has applied the whole
    /// stream. `stop` is asked between messages. `report` gets the status
    /// every `report_interval_ms`.
    /// NATS errors do not end it: `report_error` gets the first of a run
    /// and it retries every poll.
    pub fn follow(
        &mut self,
        mut stop: impl FnMut() -> bool,
        mut report: impl FnMut(&FollowerStatus),
        mut report_error: impl FnMut(&str),
    ) -> Result<Takeover, ReplError> {
        let lease_len = Duration::from_millis(self.link.cfg.lease_ms);
        let poll = (lease_len / 6).max(Duration::from_millis(20));
        let mut seen: Option<(Option<u64>, Instant)> = None;
        let mut last_poll = Instant::now() - poll;
        let mut last_report = Instant::now();
        let mut nats_down: Option<Instant> = None;
        loop {
            if stop() {
                return Ok(Takeover::Stopped);
            }
            match self.step(
                poll,
                &mut seen,
                &mut last_poll,
                &mut last_report,
                &mut report,
            ) {
                Ok(Some(t)) => return Ok(t),
                Ok(None) => {}
                // NATS unreachable or restarting: wait and go on; the
                // lease clock starts again (a whole lease of successful
                // reads is needed before taking over).
                Err(ReplError::Nats(why)) => {
                    if nats_down.is_none() {
                        report_error(&why);
                    }
                    nats_down.get_or_insert(Instant::now());
                    seen = None;
                    std::thread::sleep(poll);
                    continue;
                }
                Err(e) => return Err(e),
            }
            nats_down = None;
        }
    }

    /// One step of [`Follower::follow`]: the next message if one comes
    /// within `poll`, the status report when due, and the lease check.
    fn step(
        &mut self,
        poll: Duration,
        seen: &mut Option<(Option<u64>, Instant)>,
        last_poll: &mut Instant,
        last_report: &mut Instant,
        report: &mut impl FnMut(&FollowerStatus),
    ) -> Result<Option<Takeover>, ReplError> {
        let cfg = self.link.cfg.clone();
        let lease_len = Duration::from_millis(cfg.lease_ms);
        if let Some(b) = self.next(poll)? {
            self.apply(&b)?;
        }
        if cfg.report_interval_ms > 0
            && last_report.elapsed() >= Duration::from_millis(cfg.report_interval_ms)
        {
            *last_report = Instant::now();
            self.status.stream_last = self.link.last_stream_seq()?;
            report(&self.status);
        }
        if last_poll.elapsed() < poll {
            return Ok(None);
        }
        *last_poll = Instant::now();
        let revision = self.lease_revision()?;
        match seen {
            Some((r, since)) if *r == revision => {
                if since.elapsed() < lease_len {
                    return Ok(None);
                }
            }
            _ => {
                *seen = Some((revision, Instant::now()));
                return Ok(None);
            }
        }
        // Lapsed. Only a node that has the whole stream may lead.
        self.catch_up()?;
        let kv = self.link.kv.clone();
        let node = cfg.node.clone();
        let taken = self.link.rt.block_on(async move {
            match revision {
                None => kv
                    .create(LEASE_KEY, lease_value(&node))
                    .await
                    .map_err(|e| e.to_string()),
                Some(r) => kv
                    .update(LEASE_KEY, lease_value(&node), r)
                    .await
                    .map_err(|e| e.to_string()),
            }
        });
        match taken {
            Ok(revision) => {
                // Anything the old leader got in before the lease moved.
                self.catch_up()?;
                Ok(Some(Takeover::Promoted {
                    last_stream_seq: self.status.stream_seq,
                    revision,
                }))
            }
            // Another follower was first: follow it.
            Err(_) => {
                *seen = None;
                Ok(None)
            }
        }
    }

    /// The lease entry's revision (`None`: no entry yet).
    fn lease_revision(&self) -> Result<Option<u64>, ReplError> {
        let kv = self.link.kv.clone();
        let entry = self
            .link
            .rt
            .block_on(async move { kv.entry(LEASE_KEY).await })
            .map_err(|e| ReplError::Nats(format!("reading the lease: {e}")))?;
        Ok(entry.map(|e| e.revision))
    }

    /// Closes the journal (releasing its lock) so the node can start as
    /// leader on it.
    pub fn close(self) -> FollowerStatus {
        self.status.clone()
    }

    /// Drops the consumer inside the NATS runtime (its tasks need it).
    fn drop_feed(&mut self) {
        let _inside = self.link.rt.enter();
        self.feed = None;
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.drop_feed();
    }
}

/// Cuts the journal in `config.journal.dir` back to the last batch the
/// stream holds with the same chain; returns what was cut, for people.
fn reconcile(config: &Config, link: &Link) -> Result<Option<String>, ReplError> {
    let dir = &config.journal.dir;
    let local =
        |e: &dyn std::fmt::Display| ReplError::Local(format!("journal {}: {e}", dir.display()));
    let last = {
        let (j, _) = Journal::open(recovery::journal_config(config)).map_err(|e| local(&e))?;
        j.last_committed()
    };
    let Some((last_seq, chain)) = last else {
        return Ok(None);
    };
    let stream_last = link.last_stream_seq()?;
    // The newest stream batch at or before the journal's end.
    let mut s = match link.locate(last_seq)? {
        Some(s) => s,
        None => stream_last,
    };
    let mut keep = 0u64;
    while s > 0 {
        let b = link.get(s)?;
        if b.last_seq <= last_seq {
            let here = if b.last_seq == last_seq {
                Some(chain)
            } else {
                keel_journal::chain_at(dir, b.last_seq).map_err(|e| local(&e))?
            };
            if here == Some(b.chain) {
                keep = b.last_seq;
                break;
            }
        }
        s -= 1;
    }
    if keep == last_seq {
        return Ok(None);
    }
    if keep == 0 {
        // Not one batch in common: an empty or foreign stream (a new
        // stream name, a purged stream, another venue's). Cutting would
        // move this node's whole history aside; that is the operator's
        // call, not recovery's.
        return Err(ReplError::Local(format!(
            "journal {} holds sequences 1..={last_seq} but stream {} (last message {stream_last}) holds none of them: it is empty or another history; check replication.stream and servers. To follow it anyway, move this journal aside (or `replay repair {} --truncate-at 1`, which keeps a backup)",
            dir.display(),
            link.cfg.stream,
            dir.display()
        )));
    }
    let mut n = 0;
    let backup = loop {
        let p = dir.join(format!("unreplicated-from-{}-{n}.keelbak", keep + 1));
        if !p.exists() {
            break p;
        }
        n += 1;
    };
    keel_journal::truncate_at(dir, keep + 1, &backup).map_err(|e| local(&e))?;
    Ok(Some(format!(
        "cut sequences {}..={last_seq} from journal {}: the stream does not hold them (this node committed them as a leader and they were never acknowledged, so never published); kept in {}",
        keep + 1,
        dir.display(),
        backup.display()
    )))
}
