//! What the sessions and the router share: the open sessions by account,
//! the commands waiting for their answer, the recent outcomes per account
//! (for `query`), the names the edge resolves, and the counters. The router
//! thread reads committed output batches from the engine's subscription and
//! hands each answer to the session that sent the command, each other
//! effect on an account to that account's sessions; it never blocks: a
//! session whose queue is full is closed as a slow reader.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use axum::extract::ws::Utf8Bytes;
use keel_edge::OutputWriter;
use keel_engine::model::{AccountId, Command, Event, RejectReason};
use keel_engine::{CommandSender, Registry, SubmitError, Subscription, SubscriptionError};
use serde_json::{json, Value};
use tokio::sync::{mpsc, Notify};

use crate::config::GatewayConfig;
use crate::protocol::{CloseReason, ErrorCode};

/// The slot name anonymous market-data sessions count under.
pub const ANONYMOUS: &str = "(anonymous)";

/// What a session's writer sends next.
#[derive(Debug)]
pub enum Outbound {
    /// A text message (shared bytes: a feed message fanned out to many
    /// sessions is rendered once).
    Text(Utf8Bytes),
    /// The session ends with this reason, after what was queued before.
    Close(CloseReason),
}

/// The router's handle on one session.
#[derive(Clone)]
pub struct SessionLink {
    pub id: u64,
    pub account: AccountId,
    pub operator: bool,
    pub tx: mpsc::Sender<Outbound>,
    /// Commands sent and not yet answered.
    pub in_flight: Arc<std::sync::atomic::AtomicUsize>,
    /// Set when the router could not queue a message: the session closes.
    pub kicked: Arc<(AtomicBool, Notify)>,
}

impl SessionLink {
    /// Queues `text`; a full queue closes the session (never waits).
    pub fn send(&self, text: impl Into<Utf8Bytes>, telemetry: &Telemetry) {
        match self.tx.try_send(Outbound::Text(text.into())) {
            Ok(()) => {
                telemetry.messages_out.fetch_add(1, Ordering::Relaxed);
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                if !self.kicked.0.swap(true, Ordering::SeqCst) {
                    self.kicked.1.notify_one();
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

/// A command sent and not yet answered.
struct Waiter {
    session: u64,
    /// The client's tag, as JSON text.
    tag: String,
}

/// How a request ended, as `query` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub request_id: u64,
    pub seq: u64,
    /// `None` if accepted, else the rejection's code.
    pub rejected: Option<&'static str>,
}

/// Recent outcomes per account, for `query`: learnt from the journal at
/// start (in the same pass that rebuilds the read models), then from the
/// router's stream.
#[derive(Default)]
pub struct Outcomes {
    window: usize,
    accounts: BTreeMap<AccountId, AccountOutcomes>,
}

impl Outcomes {
    /// No outcome yet; keeps `window` per account.
    pub fn new(window: usize) -> Outcomes {
        Outcomes {
            window,
            accounts: BTreeMap::new(),
        }
    }

    /// Learns one committed record's outcome.
    pub fn record(&mut self, seq: u64, cmd: &Command, events: &[Event]) {
        if cmd.request_id == 0 {
            return;
        }
        let rejected = events.iter().find_map(|e| match e {
            Event::Rejected { reason, .. } => Some(*reason),
            _ => None,
        });
        // A duplicate says the id was used before: that first outcome
        // stands, and is what `query` must keep answering.
        if matches!(rejected, Some(RejectReason::Duplicate { .. })) {
            return;
        }
        let rejected = rejected.map(|r| r.code());
        let o = self.accounts.entry(cmd.account).or_default();
        if rejected.is_none() {
            o.last_accepted = o.last_accepted.max(cmd.request_id);
        }
        if o.recent.len() == self.window {
            o.recent.pop_front();
        }
        o.recent.push_back(Outcome {
            request_id: cmd.request_id,
            seq,
            rejected,
        });
    }
}

/// Recent outcomes of one account, and its last accepted request id.
#[derive(Default)]
struct AccountOutcomes {
    last_accepted: u64,
    recent: VecDeque<Outcome>,
}

/// Counters, all monotonic; `GET /v1/stats` shows them.
#[derive(Default)]
pub struct Telemetry {
    pub sessions_opened: AtomicU64,
    pub sessions_open: AtomicU64,
    pub unauthorized: AtomicU64,
    pub refused_connections: AtomicU64,
    pub refused_too_many_sessions: AtomicU64,
    pub messages_in: AtomicU64,
    pub messages_out: AtomicU64,
    pub commands_submitted: AtomicU64,
    pub answers: AtomicU64,
    pub cancel_on_disconnect: AtomicU64,
    pub cancel_after_fired: AtomicU64,
    pub errors: [AtomicU64; ErrorCode::ALL.len()],
    pub closed: [AtomicU64; CloseReason::ALL.len()],
}

impl Telemetry {
    /// Counts an error sent.
    pub fn error(&self, code: ErrorCode) {
        self.errors[code.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// The counters as JSON.
    pub fn to_json(&self) -> Value {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let errors: serde_json::Map<String, Value> = ErrorCode::ALL
            .iter()
            .map(|c| (c.as_str().to_owned(), get(&self.errors[c.index()]).into()))
            .collect();
        let closed: serde_json::Map<String, Value> = CloseReason::ALL
            .iter()
            .map(|c| (c.as_str().to_owned(), get(&self.closed[c.index()]).into()))
            .collect();
        json!({
            "sessions_opened": get(&self.sessions_opened),
            "sessions_open": get(&self.sessions_open),
            "unauthorized": get(&self.unauthorized),
            "refused_connections": get(&self.refused_connections),
            "refused_too_many_sessions": get(&self.refused_too_many_sessions),
            "messages_in": get(&self.messages_in),
            "messages_out": get(&self.messages_out),
            "commands_submitted": get(&self.commands_submitted),
            "answers": get(&self.answers),
            "cancel_on_disconnect": get(&self.cancel_on_disconnect),
            "cancel_after_fired": get(&self.cancel_after_fired),
            "errors": errors,
            "closed": closed,
        })
    }
}

/// State shared by the server, its sessions and the router.
pub struct Hub {
    pub config: GatewayConfig,
    pub sender: CommandSender,
    pub registry: RwLock<Registry>,
    pub telemetry: Telemetry,
    /// Set at shutdown: sessions take no more commands.
    pub stopping: AtomicBool,
    /// Notified when the router ends (the engine stopped).
    pub engine_ended: Notify,
    /// Market data and account views.
    pub market: Arc<crate::market::Market>,
    /// The last sequence the router handed out.
    pub routed_seq: AtomicU64,
    sessions: Mutex<BTreeMap<u64, SessionLink>>,
    by_account: Mutex<BTreeMap<AccountId, Vec<u64>>>,
    per_key: Mutex<BTreeMap<String, usize>>,
    waiting: Mutex<HashMap<(AccountId, u64), VecDeque<Waiter>>>,
    outcomes: Mutex<Outcomes>,
    next_session: AtomicU64,
}

/// Why a session could not be opened.
#[derive(Debug, PartialEq, Eq)]
pub enum OpenRefused {
    TooManySessions,
    TooManyForKey,
}

impl Hub {
    pub fn new(
        config: GatewayConfig,
        sender: CommandSender,
        registry: Registry,
        market: Arc<crate::market::Market>,
        outcomes: Outcomes,
    ) -> Hub {
        Hub {
            config,
            sender,
            registry: RwLock::new(registry),
            telemetry: Telemetry::default(),
            stopping: AtomicBool::new(false),
            engine_ended: Notify::new(),
            market,
            routed_seq: AtomicU64::new(0),
            sessions: Mutex::new(BTreeMap::new()),
            by_account: Mutex::new(BTreeMap::new()),
            per_key: Mutex::new(BTreeMap::new()),
            waiting: Mutex::new(HashMap::new()),
            outcomes: Mutex::new(outcomes),
            next_session: AtomicU64::new(1),
        }
    }

    /// The counters and the market data's state, as `GET /v1/stats` shows
    /// them.
    pub fn stats_json(&self) -> Value {
        let mut v = self.telemetry.to_json();
        let counts = self.market.subscriber_counts();
        let mut subscribers = serde_json::Map::new();
        let mut sent = serde_json::Map::new();
        for (i, name) in crate::market::CHANNELS.iter().enumerate() {
            subscribers.insert((*name).into(), counts[i].into());
            sent.insert(
                (*name).into(),
                self.market.sent[i].load(Ordering::Relaxed).into(),
            );
        }
        let market_seq = self.market.seq.load(Ordering::Relaxed);
        let routed = self.routed_seq.load(Ordering::Relaxed);
        v["market"] = json!({
            "seq": market_seq,
            "lag": routed.saturating_sub(market_seq),
            "subscribers": subscribers,
            "sent": sent,
        });
        v
    }

    /// Claims a session slot for `key_id`, within both limits.
    pub fn claim(&self, key_id: &str) -> Result<(), OpenRefused> {
        let mut per_key = lock(&self.per_key);
        let total: usize = per_key.values().sum();
        if total >= self.config.max_sessions {
            return Err(OpenRefused::TooManySessions);
        }
        let n = per_key.entry(key_id.to_owned()).or_insert(0);
        if *n >= self.config.max_sessions_per_key {
            return Err(OpenRefused::TooManyForKey);
        }
        *n += 1;
        Ok(())
    }

    /// Claims a slot for an anonymous market-data session (within
    /// `max_sessions` only).
    pub fn claim_anonymous(&self) -> Result<(), OpenRefused> {
        let mut per_key = lock(&self.per_key);
        let total: usize = per_key.values().sum();
        if total >= self.config.max_sessions {
            return Err(OpenRefused::TooManySessions);
        }
        *per_key.entry(ANONYMOUS.to_owned()).or_insert(0) += 1;
        Ok(())
    }

    /// Gives back a slot claimed by [`Hub::claim`].
    pub fn release(&self, key_id: &str) {
        let mut per_key = lock(&self.per_key);
        if let Some(n) = per_key.get_mut(key_id) {
            *n -= 1;
            if *n == 0 {
                per_key.remove(key_id);
            }
        }
    }

    /// A new session id.
    pub fn session_id(&self) -> u64 {
        self.next_session.fetch_add(1, Ordering::Relaxed)
    }

    pub fn register(&self, link: SessionLink) {
        lock(&self.by_account)
            .entry(link.account)
            .or_default()
            .push(link.id);
        lock(&self.sessions).insert(link.id, link);
        self.telemetry
            .sessions_opened
            .fetch_add(1, Ordering::Relaxed);
        self.telemetry.sessions_open.fetch_add(1, Ordering::Relaxed);
    }

    pub fn unregister(&self, id: u64) {
        if let Some(link) = lock(&self.sessions).remove(&id) {
            let mut by_account = lock(&self.by_account);
            if let Some(ids) = by_account.get_mut(&link.account) {
                ids.retain(|i| *i != id);
                if ids.is_empty() {
                    by_account.remove(&link.account);
                }
            }
            self.telemetry.sessions_open.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Every open session (for shutdown).
    pub fn links(&self) -> Vec<SessionLink> {
        lock(&self.sessions).values().cloned().collect()
    }

    /// Submits `cmd` for `session` and records that it waits for the
    /// answer. Both happen under the waiters' lock, so two sessions sending
    /// the same (account, request id) wait in the order the engine sees
    /// their commands, and each gets the answer to its own.
    pub fn submit(
        &self,
        cmd: Command,
        ts: Option<u64>,
        session: u64,
        tag: Value,
    ) -> Result<(), SubmitError> {
        let key = (cmd.account, cmd.request_id);
        let mut waiting = lock(&self.waiting);
        waiting.entry(key).or_default().push_back(Waiter {
            session,
            tag: tag.to_string(),
        });
        let submitted = self.sender.try_submit_at(cmd, ts);
        if submitted.is_err() {
            if let Some(q) = waiting.get_mut(&key) {
                q.pop_back();
                if q.is_empty() {
                    waiting.remove(&key);
                }
            }
        }
        submitted
    }

    fn take_waiter(&self, account: AccountId, request_id: u64) -> Option<Waiter> {
        let mut waiting = lock(&self.waiting);
        let q = waiting.get_mut(&(account, request_id))?;
        let w = q.pop_front();
        if q.is_empty() {
            waiting.remove(&(account, request_id));
        }
        w
    }

    /// What `query` answers for (account, request id).
    pub fn query(&self, account: AccountId, request_id: u64) -> Value {
        if lock(&self.waiting).contains_key(&(account, request_id)) {
            return json!({"status": "pending"});
        }
        let outcomes = lock(&self.outcomes);
        let Some(o) = outcomes.accounts.get(&account) else {
            return json!({"status": "not_executed", "last_accepted": 0});
        };
        if let Some(found) = o.recent.iter().rev().find(|x| x.request_id == request_id) {
            return match found.rejected {
                None => {
                    json!({"status": "accepted", "seq": found.seq, "last_accepted": o.last_accepted})
                }
                Some(code) => {
                    json!({"status": "rejected", "seq": found.seq, "reason": code, "last_accepted": o.last_accepted})
                }
            };
        }
        if request_id > o.last_accepted {
            json!({"status": "not_executed", "last_accepted": o.last_accepted})
        } else {
            json!({"status": "unknown", "last_accepted": o.last_accepted})
        }
    }

    /// Learns one committed record's outcome from the stream.
    fn record_outcome(&self, seq: u64, cmd: &Command, events: &[Event]) {
        lock(&self.outcomes).record(seq, cmd, events);
    }

    fn link(&self, id: u64) -> Option<SessionLink> {
        lock(&self.sessions).get(&id).cloned()
    }

    fn account_links(&self, account: AccountId) -> Vec<SessionLink> {
        let ids = lock(&self.by_account).get(&account).cloned();
        let sessions = lock(&self.sessions);
        ids.into_iter()
            .flatten()
            .filter_map(|id| sessions.get(&id).cloned())
            .collect()
    }

    /// Routes one committed output: the answer to its sender, and updates
    /// to the other sessions of each account it touches.
    fn route(
        &self,
        writer: &mut OutputWriter,
        seq: u64,
        ts_ns: u64,
        cmd: &Command,
        events: &[Event],
    ) {
        if events
            .iter()
            .any(|e| matches!(e, Event::AssetAdded { .. } | Event::SymbolAdded { .. }))
        {
            let mut registry = write(&self.registry);
            for e in events {
                registry.learn(e);
            }
        }
        self.record_outcome(seq, cmd, events);
        let registry = read(&self.registry);
        let mut answered = None;
        if cmd.request_id != 0 {
            if let Some(w) = self.take_waiter(cmd.account, cmd.request_id) {
                if let Some(link) = self.link(w.session) {
                    link.in_flight.fetch_sub(1, Ordering::Relaxed);
                    writer.set_viewer((!link.operator).then_some(link.account));
                    let line = writer.output_line(&registry, seq, ts_ns, cmd, events);
                    // `{"seq":...}\n` becomes `{"type":"answer","tag":T,"seq":...}`.
                    let body = line
                        .get(1..line.len().saturating_sub(1))
                        .unwrap_or_default();
                    let mut answer = Vec::with_capacity(body.len() + w.tag.len() + 32);
                    answer.extend_from_slice(b"{\"type\":\"answer\",\"tag\":");
                    answer.extend_from_slice(w.tag.as_bytes());
                    answer.push(b',');
                    answer.extend_from_slice(body);
                    let answer = String::from_utf8(answer)
                        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
                    link.send(answer, &self.telemetry);
                    self.telemetry.answers.fetch_add(1, Ordering::Relaxed);
                    answered = Some(w.session);
                }
            }
        }
        let market_wide = events.iter().any(|e| {
            matches!(
                e,
                Event::SymbolAdded { .. }
                    | Event::AssetAdded { .. }
                    | Event::SymbolHalted { .. }
                    | Event::SymbolResumed { .. }
            )
        });
        let targets: Vec<SessionLink> = if market_wide {
            lock(&self.sessions).values().cloned().collect()
        } else {
            let mut accounts = vec![cmd.account];
            for e in events {
                for a in accounts_named(e).into_iter().flatten() {
                    if !accounts.contains(&a) {
                        accounts.push(a);
                    }
                }
            }
            accounts
                .into_iter()
                .flat_map(|a| self.account_links(a))
                .collect()
        };
        for link in targets {
            if Some(link.id) == answered {
                continue;
            }
            writer.set_viewer((!link.operator).then_some(link.account));
            let own = cmd.account == link.account;
            let keep =
                |e: &Event| link.operator || market_wide || names_account(e, link.account, own);
            let with_account = own || link.operator;
            if let Some(line) =
                writer.update_line(&registry, seq, ts_ns, cmd, events, keep, with_account)
            {
                let text = String::from_utf8_lossy(line).into_owned();
                link.send(text, &self.telemetry);
            }
        }
    }
}

/// Accounts an event names (at most two; no allocation: the router runs it
/// for every event of every record, several times).
fn accounts_named(e: &Event) -> [Option<AccountId>; 2] {
    match *e {
        Event::Accepted { account, .. }
        | Event::Rejected { account, .. }
        | Event::AccountOpened { account }
        | Event::Deposited { account, .. }
        | Event::Withdrawn { account, .. }
        | Event::OrderAccepted { account, .. }
        | Event::OrderCancelled { account, .. } => [Some(account), None],
        Event::Transferred { from, to, .. } => [Some(from), Some(to)],
        Event::TradeExecuted(t) => [Some(t.maker_account), Some(t.taker_account)],
        _ => [None, None],
    }
}

/// Whether `e` concerns `account`; events naming no account (rested,
/// amended) belong to the command's account (`own_command`).
fn names_account(e: &Event, account: AccountId, own_command: bool) -> bool {
    match accounts_named(e) {
        [None, None] => own_command,
        named => named.contains(&Some(account)),
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Reads names for parsing.
pub(crate) fn registry(hub: &Hub) -> std::sync::RwLockReadGuard<'_, Registry> {
    read(&hub.registry)
}

/// The router: runs until the subscription ends (the engine shut down).
/// Returns why it ended.
pub fn run_router(hub: Arc<Hub>, subscription: Subscription) -> SubscriptionError {
    let mut writer = OutputWriter::default();
    let ended = loop {
        match subscription.recv() {
            Ok(batch) => {
                for o in batch.iter() {
                    hub.route(&mut writer, o.seq, o.ts_ns, o.command, o.events);
                    hub.routed_seq.store(o.seq, Ordering::Relaxed);
                }
            }
            Err(e) => break e,
        }
    };
    hub.engine_ended.notify_one();
    ended
}
