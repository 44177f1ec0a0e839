//! Market data and account views over the gateway: the read models
//! (`keel-readmodel`) kept by one feed thread from its own subscription to
//! the engine's committed outputs, and the subscriptions sessions hold. A
//! subscribe answers with a snapshot and the session then gets every update
//! of the channel, in order, after it: the feed thread applies a record and
//! fans out its updates under the models' lock, and a subscribe takes its
//! snapshot and registers under the same lock. Fan-out never waits: a
//! session whose queue is full is closed as a slow reader.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

use axum::extract::ws::Utf8Bytes;
use keel_engine::model::{AccountId, SymbolId};
use keel_engine::{State, Subscription};
use keel_readmodel::{json, FeedUpdate, Keep, ReadModels, CANDLE_INTERVALS_NS};
use serde_json::{json, Map, Value};

use crate::hub::{lock, SessionLink, Telemetry};
use crate::protocol::ErrorCode;

/// A channel a session may subscribe to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Channel {
    /// L2 depth: a snapshot, then deltas.
    Book(SymbolId),
    /// Best bid and offer.
    Bbo(SymbolId),
    /// The trades tape.
    Trades(SymbolId),
    /// Candles at interval index 0 (1 s) or 1 (1 min).
    Candles(SymbolId, usize),
    /// An account's balances and open orders.
    Account(AccountId),
}

impl Channel {
    fn name(self) -> &'static str {
        match self {
            Channel::Book(_) => "book",
            Channel::Bbo(_) => "bbo",
            Channel::Trades(_) => "trades",
            Channel::Candles(..) => "candles",
            Channel::Account(_) => "account",
        }
    }
}

/// Channel names, for telemetry.
pub const CHANNELS: [&str; 5] = ["book", "bbo", "trades", "candles", "account"];

/// Limits of the market-data side.
#[derive(Clone, Copy, Debug)]
pub struct MarketLimits {
    /// Subscriptions one session may hold.
    pub max_subscriptions: usize,
    /// Largest `depth` of a book snapshot.
    pub max_depth: usize,
}

/// The read models and who follows them.
pub struct Market {
    models: RwLock<ReadModels>,
    subscribers: Mutex<BTreeMap<Channel, Vec<SessionLink>>>,
    limits: MarketLimits,
    /// Updates sent, per channel name (index of [`CHANNELS`]).
    pub sent: [AtomicU64; 5],
    /// The engine sequence the models reflect.
    pub seq: AtomicU64,
}

/// Why a subscription was refused.
pub type Refusal = (ErrorCode, String);

fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|p| p.into_inner())
}

impl Market {
    /// Models rebuilt from the journal in `dir` from genesis to its end
    /// (so update numbers are the feed's across restarts). Call it after
    /// subscribing to the engine: a record committed since is then in the
    /// subscription, one before it in the journal (both: applied once).
    /// Each record also goes to `each` (the gateway learns `query`
    /// outcomes in the same pass).
    pub fn rebuild(
        dir: &std::path::Path,
        state: State,
        at_least: u64,
        keep: Keep,
        limits: MarketLimits,
        mut each: impl FnMut(u64, &keel_engine::model::Command, &[keel_engine::model::Event]),
    ) -> Result<Market, String> {
        let mut models = ReadModels::new(state, 0, keep);
        let mut reader = keel_engine::keel_journal::Journal::reader(dir, 1)
            .map_err(|e| format!("journal {}: {e}", dir.display()))?;
        let mut events = Vec::new();
        let mut updates = Vec::new();
        while let Some(r) = reader
            .try_next_ref()
            .map_err(|e| format!("journal {}: {e}", dir.display()))?
        {
            let (ts, cmd) = keel_engine::record::decode_into(r.payload, &mut events)
                .map_err(|e| format!("record {}: {e}", r.seq))?;
            each(r.seq, &cmd, &events);
            updates.clear();
            models
                .apply(r.seq, ts, &cmd, &events, &mut updates)
                .map_err(|e| e.to_string())?;
        }
        if models.seq() < at_least {
            return Err(format!(
                "journal {} ends at {} before the recovered sequence {at_least}",
                dir.display(),
                models.seq()
            ));
        }
        let seq = models.seq();
        Ok(Market {
            models: RwLock::new(models),
            subscribers: Mutex::new(BTreeMap::new()),
            limits,
            sent: Default::default(),
            seq: AtomicU64::new(seq),
        })
    }

    /// Subscribers per channel name.
    pub fn subscriber_counts(&self) -> [usize; 5] {
        let mut counts = [0; 5];
        for (ch, subs) in lock(&self.subscribers).iter() {
            if let Some(i) = CHANNELS.iter().position(|n| *n == ch.name()) {
                counts[i] += subs.len();
            }
        }
        counts
    }

    /// The channel a `subscribe` or `unsubscribe` message names, checked
    /// for a session of `account` (`None`: not authenticated).
    pub fn channel(
        &self,
        msg: &Map<String, Value>,
        account: Option<(AccountId, bool)>,
    ) -> Result<(Channel, usize), Refusal> {
        let bad = |m: String| (ErrorCode::BadSubscription, m);
        let allowed = ["type", "channel", "symbol", "depth", "interval", "account"];
        if let Some(k) = msg.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(bad(format!(
                "unknown field `{k}` (allowed: {})",
                allowed[1..].join(", ")
            )));
        }
        let name = msg.get("channel").and_then(Value::as_str).unwrap_or("");
        let symbol = || -> Result<SymbolId, Refusal> {
            let s = msg
                .get("symbol")
                .and_then(Value::as_str)
                .ok_or_else(|| bad(format!("channel `{name}` needs a `symbol`")))?;
            read(&self.models)
                .names()
                .symbol(s)
                .map_err(|e| bad(e.to_string()))
        };
        let depth = match msg.get("depth") {
            None => self.limits.max_depth,
            Some(d) => match d.as_u64() {
                Some(d) if (1..=self.limits.max_depth as u64).contains(&d) => d as usize,
                _ => {
                    return Err(bad(format!(
                        "`depth` = {d}: must be 1 to {}",
                        self.limits.max_depth
                    )))
                }
            },
        };
        let channel = match name {
            "book" => Channel::Book(symbol()?),
            "bbo" => Channel::Bbo(symbol()?),
            "trades" => Channel::Trades(symbol()?),
            "candles" => {
                let i = match msg.get("interval").and_then(Value::as_str) {
                    Some("1s") => 0,
                    Some("1m") => 1,
                    other => {
                        return Err(bad(format!(
                            "`interval` = {other:?}: must be \"1s\" or \"1m\""
                        )))
                    }
                };
                Channel::Candles(symbol()?, i)
            }
            "account" => {
                let Some((own, operator)) = account else {
                    return Err((
                        ErrorCode::NotAuthenticated,
                        "the account channel needs an authenticated session (/v1/ws with a key)"
                            .into(),
                    ));
                };
                let asked = match msg.get("account") {
                    None => own,
                    Some(a) => a
                        .as_u64()
                        .and_then(|a| AccountId::try_from(a).ok())
                        .ok_or_else(|| bad(format!("`account` = {a}: not an account id")))?,
                };
                if asked != own && !operator {
                    return Err((
                        ErrorCode::CrossAccount,
                        format!("this session may follow account {own} only"),
                    ));
                }
                Channel::Account(asked)
            }
            other => {
                return Err(bad(format!(
                    "unknown channel {other:?} (channels: {})",
                    CHANNELS.join(", ")
                )))
            }
        };
        Ok((channel, depth))
    }

    /// Subscribes `link` to `channel`: returns the snapshot message, which
    /// the caller must queue before returning (updates follow it).
    pub fn subscribe(
        &self,
        link: &SessionLink,
        channel: Channel,
        depth: usize,
        tag: &Value,
        telemetry: &Telemetry,
    ) -> Result<(), Refusal> {
        let models = read(&self.models);
        let mut subs = lock(&self.subscribers);
        let held = subs
            .values()
            .filter(|v| v.iter().any(|l| l.id == link.id))
            .count();
        if subs
            .get(&channel)
            .is_some_and(|v| v.iter().any(|l| l.id == link.id))
        {
            return Err((
                ErrorCode::BadSubscription,
                format!("already subscribed to this `{}` channel", channel.name()),
            ));
        }
        if held >= self.limits.max_subscriptions {
            return Err((
                ErrorCode::TooManySubscriptions,
                format!(
                    "{held} subscriptions held ([gateway] max_subscriptions_per_session): unsubscribe first"
                ),
            ));
        }
        let mut snapshot = snapshot(&models, channel, depth).ok_or_else(|| {
            (
                ErrorCode::BadSubscription,
                "nothing to follow there".to_owned(),
            )
        })?;
        snapshot["tag"] = tag.clone();
        link.send(snapshot.to_string(), telemetry);
        subs.entry(channel).or_default().push(link.clone());
        Ok(())
    }

    /// Ends `link`'s subscription to `channel`; whether it had one.
    pub fn unsubscribe(&self, session: u64, channel: Channel) -> bool {
        let mut subs = lock(&self.subscribers);
        let Some(v) = subs.get_mut(&channel) else {
            return false;
        };
        let before = v.len();
        v.retain(|l| l.id != session);
        let had = v.len() != before;
        if v.is_empty() {
            subs.remove(&channel);
        }
        had
    }

    /// Ends every subscription of a session (it closed).
    pub fn drop_session(&self, session: u64) {
        let mut subs = lock(&self.subscribers);
        subs.retain(|_, v| {
            v.retain(|l| l.id != session);
            !v.is_empty()
        });
    }

    /// A snapshot for an HTTP GET (`None`: unknown symbol).
    pub fn http_snapshot(&self, channel: Channel, depth: usize) -> Option<Value> {
        snapshot(&read(&self.models), channel, depth)
    }

    /// Names, for HTTP parameters.
    pub fn symbol_id(&self, name: &str) -> Option<SymbolId> {
        read(&self.models).names().symbol_by_name(name)
    }

    /// Applies one committed record and fans its updates out.
    fn apply(
        &self,
        seq: u64,
        ts: u64,
        cmd: &keel_engine::model::Command,
        events: &[keel_engine::model::Event],
        updates: &mut Vec<FeedUpdate>,
        telemetry: &Telemetry,
    ) -> Result<(), String> {
        let mut models = write(&self.models);
        if seq <= models.seq() {
            return Ok(());
        }
        updates.clear();
        models
            .apply(seq, ts, cmd, events, updates)
            .map_err(|e| e.to_string())?;
        self.seq.store(seq, Ordering::Relaxed);
        let subs = lock(&self.subscribers);
        if subs.is_empty() {
            return Ok(());
        }
        let names = models.names();
        for u in updates.iter() {
            let channel = match u {
                FeedUpdate::Depth(d) => Channel::Book(d.symbol),
                FeedUpdate::Bbo(b) => Channel::Bbo(b.symbol),
                FeedUpdate::Trade(t) => Channel::Trades(t.symbol),
                FeedUpdate::Candle(c) => Channel::Candles(
                    c.symbol,
                    CANDLE_INTERVALS_NS
                        .iter()
                        .position(|n| *n == c.interval_ns)
                        .unwrap_or(0),
                ),
                FeedUpdate::Account { account, .. } => Channel::Account(*account),
            };
            // Rendered only for a channel someone follows, once for all.
            let Some(links) = subs.get(&channel) else {
                continue;
            };
            let text = match u {
                FeedUpdate::Depth(d) => json::delta(names, d),
                FeedUpdate::Bbo(b) => json::bbo(names, b),
                FeedUpdate::Trade(t) => json::trade(names, t),
                FeedUpdate::Candle(c) => json::candle(names, c),
                FeedUpdate::Account { account, .. } => match models.account(*account) {
                    Some(v) => json::account(names, &v),
                    None => continue,
                },
            };
            let bytes: Utf8Bytes = text.to_string().into();
            if let Some(i) = CHANNELS.iter().position(|n| *n == channel.name()) {
                self.sent[i].fetch_add(links.len() as u64, Ordering::Relaxed);
            }
            for link in links {
                link.send(bytes.clone(), telemetry);
            }
        }
        Ok(())
    }
}

/// The snapshot message of `channel` now.
fn snapshot(models: &ReadModels, channel: Channel, depth: usize) -> Option<Value> {
    let names = models.names();
    Some(match channel {
        Channel::Book(s) => json::book(names, &models.depth(s, depth)?),
        Channel::Bbo(s) => json::bbo(names, &models.bbo(s)?),
        Channel::Trades(s) => json!({
            "type": "trades",
            "symbol": names.symbol_name(s),
            "seq": models.seq(),
            "trades": models.trades(s)?.iter().map(|t| json::trade(names, t)).collect::<Vec<_>>(),
        }),
        Channel::Candles(s, i) => json!({
            "type": "candles",
            "symbol": names.symbol_name(s),
            "interval": if i == 0 { "1s" } else { "1m" },
            "seq": models.seq(),
            "candles": models.candles(s, i)?.iter().map(|c| json::candle(names, c)).collect::<Vec<_>>(),
        }),
        Channel::Account(a) => json::account(names, &models.account(a)?),
    })
}

/// The feed thread: applies each committed output to the models and fans
/// its updates out, until the engine stops.
pub fn run_feed(market: &Market, subscription: Subscription, telemetry: &Telemetry) {
    let mut updates = Vec::new();
    while let Ok(batch) = subscription.recv() {
        for o in batch.iter() {
            if let Err(e) =
                market.apply(o.seq, o.ts_ns, o.command, o.events, &mut updates, telemetry)
            {
                eprintln!("keel serve: market data stopped at record {}: {e}", o.seq);
                return;
            }
        }
    }
}
