//! Messages the server sends, and the typed errors it answers with. The
//! protocol is documented in `docs/PROTOCOL.md`.

use serde_json::{json, Value};

/// The protocol version, in every `welcome` and at the path (`/v1/ws`).
pub const VERSION: u32 = 1;

/// Why the gateway refused a message; it never reached the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ErrorCode {
    /// Not a JSON object, or not valid JSON.
    Malformed,
    /// A `tag` that is not a string of at most 64 bytes or an integer.
    BadTag,
    /// A well-formed command the edge's schema refuses (unknown field or
    /// name, bad decimal, missing field).
    BadCommand,
    /// The message names an account other than the session's.
    CrossAccount,
    /// An admin command (or a deposit) from a key without the operator role.
    NotOperator,
    /// Over the session's message rate.
    RateLimited,
    /// More commands waiting for an answer than the session may have.
    TooManyInFlight,
    /// The engine's input ring is full: retry later.
    EngineBusy,
    /// The engine is stopping or stopped: the command was not taken.
    EngineStopped,
    /// A binary frame (the protocol is text).
    BinaryFrame,
    /// `cancel_after` out of range.
    BadCancelAfter,
    /// `query` without a valid `request_id`.
    BadQuery,
    /// A subscription to an unknown channel or symbol, a bad depth or
    /// interval, or one already held.
    BadSubscription,
    /// More subscriptions than a session may hold.
    TooManySubscriptions,
    /// A command or the account channel on a market-data session (no key).
    NotAuthenticated,
}

impl ErrorCode {
    /// Every code, in order (for telemetry).
    pub const ALL: [ErrorCode; 15] = [
        ErrorCode::Malformed,
        ErrorCode::BadTag,
        ErrorCode::BadCommand,
        ErrorCode::CrossAccount,
        ErrorCode::NotOperator,
        ErrorCode::RateLimited,
        ErrorCode::TooManyInFlight,
        ErrorCode::EngineBusy,
        ErrorCode::EngineStopped,
        ErrorCode::BinaryFrame,
        ErrorCode::BadCancelAfter,
        ErrorCode::BadQuery,
        ErrorCode::BadSubscription,
        ErrorCode::TooManySubscriptions,
        ErrorCode::NotAuthenticated,
    ];

    /// The code as sent.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Malformed => "malformed",
            ErrorCode::BadTag => "bad_tag",
            ErrorCode::BadCommand => "bad_command",
            ErrorCode::CrossAccount => "cross_account",
            ErrorCode::NotOperator => "not_operator",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::TooManyInFlight => "too_many_in_flight",
            ErrorCode::EngineBusy => "engine_busy",
            ErrorCode::EngineStopped => "engine_stopped",
            ErrorCode::BinaryFrame => "binary_frame",
            ErrorCode::BadCancelAfter => "bad_cancel_after",
            ErrorCode::BadQuery => "bad_query",
            ErrorCode::BadSubscription => "bad_subscription",
            ErrorCode::TooManySubscriptions => "too_many_subscriptions",
            ErrorCode::NotAuthenticated => "not_authenticated",
        }
    }

    /// Index into [`ErrorCode::ALL`].
    pub fn index(self) -> usize {
        ErrorCode::ALL.iter().position(|c| *c == self).unwrap_or(0)
    }
}

/// Why the server closed a session (sent in a `closing` message and as the
/// WebSocket close reason).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// Its outbound queue filled, or a write took too long.
    SlowReader,
    /// Rate-limited too many times in a row.
    RateLimitAbuse,
    /// No frame or pong within the idle timeout.
    Idle,
    /// A frame over the size limit, or a broken WebSocket stream.
    TooLarge,
    /// The server is shutting down.
    Shutdown,
    /// The engine stopped on a failure.
    EngineStopped,
    /// The WebSocket stream broke (bad framing, a reset connection).
    ProtocolError,
}

impl CloseReason {
    /// Every reason, in order (for telemetry).
    pub const ALL: [CloseReason; 7] = [
        CloseReason::SlowReader,
        CloseReason::RateLimitAbuse,
        CloseReason::Idle,
        CloseReason::TooLarge,
        CloseReason::Shutdown,
        CloseReason::EngineStopped,
        CloseReason::ProtocolError,
    ];

    /// The reason as sent.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::SlowReader => "slow_reader",
            CloseReason::RateLimitAbuse => "rate_limit_abuse",
            CloseReason::Idle => "idle",
            CloseReason::TooLarge => "too_large",
            CloseReason::Shutdown => "shutdown",
            CloseReason::EngineStopped => "engine_stopped",
            CloseReason::ProtocolError => "protocol_error",
        }
    }

    /// The WebSocket close code: 1008 policy, 1009 too big, 1001 going
    /// away, 1011 server error.
    pub fn close_code(self) -> u16 {
        match self {
            CloseReason::SlowReader | CloseReason::RateLimitAbuse | CloseReason::Idle => 1008,
            CloseReason::TooLarge => 1009,
            CloseReason::Shutdown => 1001,
            CloseReason::EngineStopped => 1011,
            CloseReason::ProtocolError => 1002,
        }
    }

    /// Index into [`CloseReason::ALL`].
    pub fn index(self) -> usize {
        CloseReason::ALL
            .iter()
            .position(|c| *c == self)
            .unwrap_or(0)
    }
}

/// An `error` message.
pub fn error(code: ErrorCode, tag: &Value, message: &str) -> String {
    json!({"type": "error", "tag": tag, "code": code.as_str(), "message": message}).to_string()
}

/// A `closing` message.
pub fn closing(reason: CloseReason) -> String {
    json!({"type": "closing", "reason": reason.as_str()}).to_string()
}
