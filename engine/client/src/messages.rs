//! The messages the server sends, typed. Events are kept as JSON objects
//! (each has a `type`: `accepted`, `rejected`, `order_accepted`,
//! `trade_executed`, `order_rested`, `order_amended`, `order_cancelled`, ...),
//! exactly as `keel run` prints them.

use serde::Deserialize;
use serde_json::Value;

/// The server's first message on a session.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Welcome {
    /// Protocol version.
    pub v: u32,
    /// The server's id for this session.
    pub session: u64,
    /// The account the session acts for.
    pub account: u32,
    /// Whether the key has the operator role.
    pub operator: bool,
    /// Whether the session cancels the account's orders when it ends.
    pub cancel_on_disconnect: bool,
    /// The session's limits.
    pub limits: Limits,
}

/// The limits a session runs under, as the `welcome` states them.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Limits {
    /// Largest message, bytes.
    pub max_message_bytes: u64,
    /// Token bucket: messages per second.
    pub rate_per_s: u64,
    /// Token bucket: burst.
    pub rate_burst: u64,
    /// Commands waiting for an answer at once.
    pub max_in_flight: u64,
    /// Silence after which the server closes the session, ms.
    pub idle_timeout_ms: u64,
    /// Longest `cancel_after`, ms.
    pub max_cancel_after_ms: u64,
}

/// Why a command was rejected by the engine (a `rejected` event).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The reason code, e.g. `duplicate`, `insufficient_funds`.
    pub reason: String,
    /// The engine's message (for `duplicate` it names the last accepted id).
    pub message: String,
}

/// A command's outcome once its batch was committed: the `keel run` output
/// line for it (sequence, timestamp, account, request id, events).
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Answer {
    /// The tag the client sent (the client assigns them).
    #[serde(default)]
    pub tag: Value,
    /// Journal sequence of the command's record.
    pub seq: u64,
    /// Engine time, ns.
    pub ts: u64,
    /// The account the command acted for.
    pub account: u32,
    /// The command's request id.
    pub request_id: u64,
    /// The command's name (`place_order`, ...).
    pub command: String,
    /// The command's events, in order.
    pub events: Vec<Value>,
}

fn event_type(e: &Value) -> Option<&str> {
    e.get("type").and_then(Value::as_str)
}

impl Answer {
    /// Whether the engine accepted the command (an `accepted` event).
    pub fn is_accepted(&self) -> bool {
        self.events_of("accepted").next().is_some()
    }

    /// The rejection, if the engine rejected the command.
    pub fn rejection(&self) -> Option<Rejection> {
        self.events_of("rejected").next().map(|e| Rejection {
            reason: e
                .get("reason")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            message: e
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        })
    }

    /// The events of one type.
    pub fn events_of<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.events
            .iter()
            .filter(move |e| event_type(e) == Some(kind))
    }

    /// The order id the engine gave a placed order (its `order_accepted`
    /// event).
    pub fn order_id(&self) -> Option<u64> {
        self.events_of("order_accepted")
            .next()
            .and_then(|e| e.get("order"))
            .and_then(Value::as_u64)
    }
}

/// An effect on the session's account of a command it did not send, or of
/// one it sent on another session (a fill as maker, a GTD expiry, a
/// deposit by the operator, a safety cancel).
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Update {
    /// Journal sequence.
    pub seq: u64,
    /// Engine time, ns.
    pub ts: u64,
    /// The command's name.
    pub command: String,
    /// The command's account, when it is the session's own (or the session
    /// is an operator's).
    #[serde(default)]
    pub account: Option<u32>,
    /// The command's request id, with `account`.
    #[serde(default)]
    pub request_id: Option<u64>,
    /// The events that concern the session's account.
    pub events: Vec<Value>,
}

impl Update {
    /// The events of one type.
    pub fn events_of<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.events
            .iter()
            .filter(move |e| event_type(e) == Some(kind))
    }
}

/// What `query` found for a request id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryStatus {
    /// Sent and waiting for its commit.
    Pending,
    /// Executed and accepted, at `seq`.
    Accepted {
        /// Journal sequence.
        seq: u64,
    },
    /// Executed and rejected, at `seq`.
    Rejected {
        /// Journal sequence.
        seq: u64,
        /// The reason code.
        reason: String,
    },
    /// Never executed (above the last accepted id, not seen).
    NotExecuted,
    /// At or below the last accepted id but no longer remembered.
    Unknown,
}

/// A `query` result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryResult {
    /// The account queried.
    pub account: u32,
    /// The request id queried.
    pub request_id: u64,
    /// What happened to it.
    pub status: QueryStatus,
    /// The account's last accepted request id.
    pub last_accepted: Option<u64>,
}

impl QueryResult {
    pub(crate) fn from_value(v: &Value) -> Result<QueryResult, String> {
        let u = |k: &str| v.get(k).and_then(Value::as_u64);
        let status = match v.get("status").and_then(Value::as_str) {
            Some("pending") => QueryStatus::Pending,
            Some("accepted") => QueryStatus::Accepted {
                seq: u("seq").ok_or("`accepted` without `seq`")?,
            },
            Some("rejected") => QueryStatus::Rejected {
                seq: u("seq").ok_or("`rejected` without `seq`")?,
                reason: v
                    .get("reason")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            },
            Some("not_executed") => QueryStatus::NotExecuted,
            Some("unknown") => QueryStatus::Unknown,
            other => return Err(format!("query status {other:?}")),
        };
        Ok(QueryResult {
            account: u("account")
                .and_then(|a| u32::try_from(a).ok())
                .ok_or("query without `account`")?,
            request_id: u("request_id").ok_or("query without `request_id`")?,
            status,
            last_accepted: u("last_accepted"),
        })
    }
}

/// An `error` message the gateway sent without a tag (its message could not
/// be tied to a request: malformed, rate limited before it was read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerError {
    /// The error code.
    pub code: String,
    /// The explanation.
    pub message: String,
}

/// What arrives that no call waits for; see [`crate::Client::updates`].
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// An `update`: another command's effect on the account.
    Update(Update),
    /// The dead-man switch fired: the account's orders are being cancelled
    /// (the cancellations follow as an [`Event::Update`]).
    CancelAfterFired,
    /// An `error` without a tag.
    Error(ServerError),
    /// An answer no call waits for any more (its call timed out).
    Answer(Answer),
    /// The server is closing the session, with its reason.
    Closing {
        /// The reason (`shutdown`, `slow_reader`, `idle`, ...).
        reason: String,
    },
    /// The connection ended; [`crate::Client::reconnect`] opens a new one.
    Disconnected {
        /// Why.
        reason: String,
    },
    /// This receiver fell behind and missed this many events.
    Lagged(u64),
    /// A message of a type this client does not know.
    Other(Value),
}
