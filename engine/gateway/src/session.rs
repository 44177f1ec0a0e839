//! One WebSocket session: reads the client's messages, refuses what the
//! session may not do, submits the rest to the engine, and writes what the
//! router queues for it. Every way a session ends has a reason.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use keel_edge::{
    parse_command_value, parse_session_line, strict_value, ParsedCommand, Tag, MAX_TAG_BYTES,
};
use keel_engine::model::{AccountId, Command, CommandKind};
use keel_engine::SubmitError;
use serde_json::{json, Map, Value};
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;

use crate::hub::{registry, Hub, Outbound, SessionLink, ANONYMOUS};
use crate::keys::Identity;
use crate::protocol::{self, CloseReason, ErrorCode, VERSION};

/// A message read: a command to submit, or handled already (answered,
/// refused, or the session must close).
enum Decoded {
    Command(ParsedCommand, Value),
    Done(Result<(), CloseReason>),
}

/// A token bucket in millionths of a message, refilled by elapsed time.
struct Bucket {
    tokens: u64,
    capacity: u64,
    rate_per_s: u64,
    last: Instant,
}

impl Bucket {
    fn new(rate_per_s: u32, burst: u32) -> Bucket {
        let capacity = u64::from(burst) * 1_000_000;
        Bucket {
            tokens: capacity,
            capacity,
            rate_per_s: rate_per_s.into(),
            last: Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        let elapsed_ns = now.duration_since(self.last).as_nanos();
        self.last = now;
        // rate msgs/s = rate millionths per µs = rate/1000 millionths per ns.
        let refill = (elapsed_ns * u128::from(self.rate_per_s) / 1_000).min(u128::from(u64::MAX));
        self.tokens = (self.tokens.saturating_add(refill as u64)).min(self.capacity);
        if self.tokens >= 1_000_000 {
            self.tokens -= 1_000_000;
            true
        } else {
            false
        }
    }
}

struct Session {
    hub: Arc<Hub>,
    id: u64,
    who: Identity,
    /// A `/v1/market` session: subscriptions only, no commands.
    market_only: bool,
    /// Its handle, for subscriptions.
    link: SessionLink,
    tx: mpsc::Sender<Outbound>,
    in_flight: Arc<AtomicUsize>,
    bucket: Bucket,
    limited_in_a_row: u32,
    cancel_after: Option<Instant>,
}

/// The `tag` of a message that is not read further (rate-limited): one
/// serde pass that looks at that field only; `null` if it has none or is
/// not a well-formed object.
fn tag_only(text: &str) -> Value {
    #[derive(serde::Deserialize)]
    struct TagOnly<'a> {
        #[serde(borrow)]
        tag: Option<Tag<'a>>,
    }
    match serde_json::from_str::<TagOnly<'_>>(text) {
        Ok(TagOnly {
            tag: Some(Tag::Str(s)),
        }) => Value::String(s.to_owned()),
        Ok(TagOnly {
            tag: Some(Tag::UInt(n)),
        }) => n.into(),
        Ok(TagOnly {
            tag: Some(Tag::Int(n)),
        }) => n.into(),
        _ => Value::Null,
    }
}

/// Admin commands, and deposits (money entering the venue): operator only.
fn needs_operator(kind: &CommandKind) -> bool {
    matches!(
        kind,
        CommandKind::AddAsset { .. }
            | CommandKind::AddSymbol(_)
            | CommandKind::HaltSymbol { .. }
            | CommandKind::ResumeSymbol { .. }
            | CommandKind::Deposit { .. }
    )
}

/// The mass cancel the gateway submits for an account (cancel-on-disconnect
/// and `cancel_after`): the engine's request-id-free `cancel_all`, so it
/// never takes or collides with one of the client's request ids.
pub fn safety_cancel(account: AccountId) -> Command {
    Command::new(account, 0, CommandKind::CancelAllContinued { symbol: None })
}

impl Session {
    /// Queues a reply; a full queue ends the session as a slow reader.
    fn reply(&self, text: String) -> Result<(), CloseReason> {
        match self.tx.try_send(Outbound::Text(text.into())) {
            Ok(()) => {
                self.hub
                    .telemetry
                    .messages_out
                    .fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(_)) => Err(CloseReason::SlowReader),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(CloseReason::SlowReader),
        }
    }

    fn refuse(&self, code: ErrorCode, tag: &Value, message: &str) -> Result<(), CloseReason> {
        self.hub.telemetry.error(code);
        self.reply(protocol::error(code, tag, message))
    }

    fn on_text(&mut self, text: &str) -> Result<(), CloseReason> {
        if !self.bucket.take() {
            self.limited_in_a_row += 1;
            if self.limited_in_a_row >= self.hub.config.rate_abuse_limit {
                return Err(CloseReason::RateLimitAbuse);
            }
            let message = format!(
                "over {} messages/s (burst {}): slow down; {} more in a row close the session",
                self.hub.config.rate_per_s,
                self.hub.config.rate_burst,
                self.hub.config.rate_abuse_limit - self.limited_in_a_row
            );
            return self.refuse(ErrorCode::RateLimited, &tag_only(text), &message);
        }
        self.limited_in_a_row = 0;
        let (parsed, tag) = match self.decode(text) {
            Decoded::Command(parsed, tag) => (parsed, tag),
            Decoded::Done(result) => return result,
        };
        let cmd = parsed.command;
        if cmd.request_id == 0 {
            return self.refuse(
                ErrorCode::BadCommand,
                &tag,
                "`request_id` 0 is the engine's own (its continuations): number requests from 1",
            );
        }
        if needs_operator(&cmd.kind) && !self.who.operator {
            let message = format!("`{}` needs a key with the operator role", cmd.kind.name());
            return self.refuse(ErrorCode::NotOperator, &tag, &message);
        }
        if self.hub.stopping.load(Ordering::SeqCst) {
            return self.refuse(
                ErrorCode::EngineStopped,
                &tag,
                "the server is shutting down: not taken",
            );
        }
        if self.in_flight.load(Ordering::Relaxed) >= self.hub.config.max_in_flight {
            let message = format!(
                "{} commands already wait for their answer: wait for answers before sending more",
                self.hub.config.max_in_flight
            );
            return self.refuse(ErrorCode::TooManyInFlight, &tag, &message);
        }
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        match self.hub.submit(cmd, parsed.ts, self.id, tag.clone()) {
            Ok(()) => {
                self.hub
                    .telemetry
                    .commands_submitted
                    .fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                self.in_flight.fetch_sub(1, Ordering::Relaxed);
                match e {
                    SubmitError::Full { capacity, .. } => self.refuse(
                        ErrorCode::EngineBusy,
                        &tag,
                        &format!("the engine's input ring ({capacity} commands) is full: not taken; resend it"),
                    ),
                    other => {
                        self.refuse(ErrorCode::EngineStopped, &tag, &other.to_string())?;
                        Err(CloseReason::EngineStopped)
                    }
                }
            }
        }
    }

    /// Reads a message: the fast path for a well-formed command, else the
    /// checked path (gateway messages, refusals with their reasons).
    fn decode(&mut self, text: &str) -> Decoded {
        if self.market_only {
            return self.decode_market(text);
        }
        if let Some(fast) = parse_session_line(text, &registry(&self.hub), self.who.account) {
            let tag = match fast.tag {
                None => Value::Null,
                Some(Tag::Str(s)) => Value::String(s.to_owned()),
                Some(Tag::UInt(n)) => n.into(),
                Some(Tag::Int(n)) => n.into(),
            };
            if let Some(a) = fast.account_given {
                if a != self.who.account && !self.who.operator {
                    return Decoded::Done(self.refuse(
                        ErrorCode::CrossAccount,
                        &tag,
                        &self.cross_account_message(&a.into()),
                    ));
                }
            }
            return match fast.command {
                Ok(parsed) => Decoded::Command(parsed, tag),
                Err(e) => Decoded::Done(self.refuse(ErrorCode::BadCommand, &tag, &e.to_string())),
            };
        }
        let (mut object, tag) = match self.read_object(text) {
            Ok(read) => read,
            Err(refused) => return Decoded::Done(refused),
        };
        match object.get("type").and_then(Value::as_str) {
            Some("cancel_after") => return Decoded::Done(self.on_cancel_after(&object, &tag)),
            Some("query") => return Decoded::Done(self.on_query(&object, &tag)),
            Some("subscribe") => return Decoded::Done(self.on_subscribe(&object, &tag)),
            Some("unsubscribe") => return Decoded::Done(self.on_unsubscribe(&object, &tag)),
            _ => {}
        }
        match object.get("account") {
            None => {
                object.insert("account".into(), self.who.account.into());
            }
            Some(a) if self.who.operator || a.as_u64() == Some(self.who.account.into()) => {}
            Some(a) => {
                let message = self.cross_account_message(a);
                return Decoded::Done(self.refuse(ErrorCode::CrossAccount, &tag, &message));
            }
        }
        match parse_command_value(Value::Object(object), &registry(&self.hub)) {
            Ok(p) => Decoded::Command(p, tag),
            Err(e) => Decoded::Done(self.refuse(ErrorCode::BadCommand, &tag, &e.to_string())),
        }
    }

    /// A message read on the checked path: a JSON object (read strictly),
    /// with its `tag` taken out and checked; refused otherwise.
    /// `Err` is the refusal's outcome.
    fn read_object(
        &mut self,
        text: &str,
    ) -> Result<(Map<String, Value>, Value), Result<(), CloseReason>> {
        let value = strict_value(text)
            .map_err(|e| self.refuse(ErrorCode::Malformed, &Value::Null, &e.to_string()))?;
        let Value::Object(mut object) = value else {
            return Err(self.refuse(
                ErrorCode::Malformed,
                &Value::Null,
                "expected a JSON object with a `type`",
            ));
        };
        let tag = object.remove("tag").unwrap_or(Value::Null);
        let tag_ok = match &tag {
            Value::Null => true,
            Value::String(s) => s.len() <= MAX_TAG_BYTES,
            Value::Number(n) => n.is_u64() || n.is_i64(),
            _ => false,
        };
        if !tag_ok {
            return Err(self.refuse(
                ErrorCode::BadTag,
                &Value::Null,
                &format!("`tag` must be a string of at most {MAX_TAG_BYTES} bytes or an integer"),
            ));
        }
        Ok((object, tag))
    }

    /// A `/v1/market` session's message: `subscribe` or `unsubscribe`.
    fn decode_market(&mut self, text: &str) -> Decoded {
        let (object, tag) = match self.read_object(text) {
            Ok(read) => read,
            Err(refused) => return Decoded::Done(refused),
        };
        Decoded::Done(match object.get("type").and_then(Value::as_str) {
            Some("subscribe") => self.on_subscribe(&object, &tag),
            Some("unsubscribe") => self.on_unsubscribe(&object, &tag),
            _ => self.refuse(
                ErrorCode::NotAuthenticated,
                &tag,
                "a market-data session takes `subscribe` and `unsubscribe` only; commands go to /v1/ws with a key",
            ),
        })
    }

    /// Who may follow an account on this session: `None` for anonymous.
    fn follower(&self) -> Option<(AccountId, bool)> {
        (self.who.key_id != ANONYMOUS).then_some((self.who.account, self.who.operator))
    }

    fn on_subscribe(
        &mut self,
        object: &serde_json::Map<String, Value>,
        tag: &Value,
    ) -> Result<(), CloseReason> {
        let market = self.hub.market.clone();
        let refused = market
            .channel(object, self.follower())
            .and_then(|(channel, depth)| {
                market.subscribe(&self.link, channel, depth, tag, &self.hub.telemetry)
            });
        match refused {
            Ok(()) => Ok(()),
            Err((code, message)) => self.refuse(code, tag, &message),
        }
    }

    fn on_unsubscribe(
        &mut self,
        object: &serde_json::Map<String, Value>,
        tag: &Value,
    ) -> Result<(), CloseReason> {
        let market = self.hub.market.clone();
        match market.channel(object, self.follower()) {
            Ok((channel, _)) if market.unsubscribe(self.id, channel) => {
                let mut answer = json!({"type": "unsubscribed", "tag": tag});
                answer["channel"] = object.get("channel").cloned().unwrap_or(Value::Null);
                if let Some(s) = object.get("symbol") {
                    answer["symbol"] = s.clone();
                }
                self.reply(answer.to_string())
            }
            Ok(_) => self.refuse(
                ErrorCode::BadSubscription,
                tag,
                "not subscribed to that channel",
            ),
            Err((code, message)) => self.refuse(code, tag, &message),
        }
    }

    fn cross_account_message(&self, a: &Value) -> String {
        format!(
            "`account` = {a}: this session acts for account {} only; leave `account` out",
            self.who.account
        )
    }

    fn on_cancel_after(
        &mut self,
        object: &serde_json::Map<String, Value>,
        tag: &Value,
    ) -> Result<(), CloseReason> {
        let max = self.hub.config.max_cancel_after_ms;
        let extra = object.keys().find(|k| *k != "type" && *k != "timeout_ms");
        let timeout_ms = object.get("timeout_ms").and_then(Value::as_u64);
        match (extra, timeout_ms) {
            (None, Some(ms)) if ms <= max => {
                self.cancel_after =
                    (ms > 0).then(|| Instant::now() + Duration::from_millis(ms));
                self.reply(json!({"type": "cancel_after", "tag": tag, "timeout_ms": ms}).to_string())
            }
            _ => self.refuse(
                ErrorCode::BadCancelAfter,
                tag,
                &format!("expected {{\"type\":\"cancel_after\",\"timeout_ms\":N}} with N from 0 (off) to {max}"),
            ),
        }
    }

    fn on_query(
        &mut self,
        object: &serde_json::Map<String, Value>,
        tag: &Value,
    ) -> Result<(), CloseReason> {
        let extra = object
            .keys()
            .find(|k| !["type", "request_id", "account"].contains(&k.as_str()));
        let request_id = object.get("request_id").and_then(Value::as_u64);
        let account = match object.get("account") {
            None => Some(self.who.account),
            Some(a) => a
                .as_u64()
                .and_then(|a| AccountId::try_from(a).ok())
                .filter(|a| self.who.operator || *a == self.who.account),
        };
        match (extra, request_id, account) {
            (None, Some(request_id), Some(account)) => {
                let mut answer = json!({"type": "query", "tag": tag, "account": account, "request_id": request_id});
                if let (Some(a), Value::Object(found)) =
                    (answer.as_object_mut(), self.hub.query(account, request_id))
                {
                    a.extend(found);
                }
                self.reply(answer.to_string())
            }
            (_, _, None) => self.refuse(
                ErrorCode::CrossAccount,
                tag,
                "a session queries its own account only",
            ),
            _ => self.refuse(
                ErrorCode::BadQuery,
                tag,
                "expected {\"type\":\"query\",\"request_id\":N}",
            ),
        }
    }

    fn fire_cancel_after(&mut self) -> Result<(), CloseReason> {
        self.cancel_after = None;
        self.hub
            .telemetry
            .cancel_after_fired
            .fetch_add(1, Ordering::Relaxed);
        let _ = self.hub.sender.try_submit(safety_cancel(self.who.account));
        self.reply(json!({"type": "cancel_after_fired"}).to_string())
    }
}

type Sink = SplitSink<WebSocket, Message>;

/// Writes one queued message and whatever else is queued, then flushes,
/// within the write timeout.
async fn write_out(
    sink: &mut Sink,
    first: Utf8Bytes,
    rx: &mut mpsc::Receiver<Outbound>,
    timeout: Duration,
) -> Result<Option<CloseReason>, CloseReason> {
    let work = async {
        sink.feed(Message::Text(first)).await?;
        let mut close = None;
        for _ in 0..256 {
            match rx.try_recv() {
                Ok(Outbound::Text(t)) => sink.feed(Message::Text(t)).await?,
                Ok(Outbound::Close(r)) => {
                    close = Some(r);
                    break;
                }
                Err(_) => break,
            }
        }
        sink.flush().await?;
        Ok::<_, axum::Error>(close)
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(Ok(close)) => Ok(close),
        Ok(Err(_)) => Err(CloseReason::ProtocolError),
        Err(_) => Err(CloseReason::SlowReader),
    }
}

/// Sends a `closing` message and a close frame, briefly.
async fn close_with(sink: &mut Sink, reason: CloseReason) {
    let frame = CloseFrame {
        code: reason.close_code(),
        reason: reason.as_str().into(),
    };
    let _ = tokio::time::timeout(Duration::from_millis(500), async {
        sink.feed(Message::Text(protocol::closing(reason).into()))
            .await?;
        sink.send(Message::Close(Some(frame))).await
    })
    .await;
}

/// After the server's close frame: reads and drops what the client still
/// sends, until its close, the end of the stream or half a second, so that
/// closing the socket with unread data (a TCP reset) does not destroy the
/// `closing` message on its way to the client.
async fn linger(stream: &mut SplitStream<WebSocket>) {
    let _ = tokio::time::timeout(Duration::from_millis(500), async {
        while let Some(Ok(frame)) = stream.next().await {
            if matches!(frame, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

fn stream_error_reason(e: &axum::Error) -> CloseReason {
    let text = e.to_string();
    if text.contains("too long") || text.contains("Space limit") {
        CloseReason::TooLarge
    } else {
        CloseReason::ProtocolError
    }
}

/// The identity of a market-data session opened without a key.
pub fn anonymous() -> Identity {
    Identity {
        key_id: ANONYMOUS.to_owned(),
        account: AccountId::MAX,
        operator: false,
    }
}

/// Runs a `/v1/market` session (subscriptions only).
pub async fn run_market(hub: Arc<Hub>, socket: WebSocket, who: Identity) -> Option<CloseReason> {
    run_with(hub, socket, who, false, true).await
}

/// Runs a session until it ends; returns why (`None`: the client closed).
pub async fn run(
    hub: Arc<Hub>,
    socket: WebSocket,
    who: Identity,
    cancel_on_disconnect: bool,
) -> Option<CloseReason> {
    run_with(hub, socket, who, cancel_on_disconnect, false).await
}

async fn run_with(
    hub: Arc<Hub>,
    socket: WebSocket,
    who: Identity,
    cancel_on_disconnect: bool,
    market_only: bool,
) -> Option<CloseReason> {
    let id = hub.session_id();
    let (tx, mut rx) = mpsc::channel(hub.config.outbound_queue);
    let kicked = Arc::new((AtomicBool::new(false), Notify::new()));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let link = SessionLink {
        id,
        account: who.account,
        operator: who.operator,
        tx: tx.clone(),
        in_flight: in_flight.clone(),
        kicked: kicked.clone(),
    };
    hub.register(link.clone());
    let mut session = Session {
        market_only,
        link,
        bucket: Bucket::new(hub.config.rate_per_s, hub.config.rate_burst),
        hub: hub.clone(),
        id,
        who,
        tx,
        in_flight,
        limited_in_a_row: 0,
        cancel_after: None,
    };
    let (mut sink, mut stream) = socket.split();
    let reason = drive(
        &mut session,
        &mut sink,
        &mut stream,
        &mut rx,
        &kicked,
        cancel_on_disconnect,
    )
    .await;
    hub.unregister(id);
    hub.market.drop_session(id);
    if let Some(reason) = reason {
        hub.telemetry.closed[reason.index()].fetch_add(1, Ordering::Relaxed);
        close_with(&mut sink, reason).await;
        linger(&mut stream).await;
    }
    if cancel_on_disconnect {
        hub.telemetry
            .cancel_on_disconnect
            .fetch_add(1, Ordering::Relaxed);
        let _ = hub.sender.try_submit(safety_cancel(session.who.account));
    }
    reason
}

async fn drive(
    session: &mut Session,
    sink: &mut Sink,
    stream: &mut SplitStream<WebSocket>,
    rx: &mut mpsc::Receiver<Outbound>,
    kicked: &(AtomicBool, Notify),
    cancel_on_disconnect: bool,
) -> Option<CloseReason> {
    let config = session.hub.config.clone();
    let welcome = json!({
        "type": "welcome",
        "v": VERSION,
        "session": session.id,
        "account": session.follower().map(|(a, _)| a),
        "operator": session.who.operator,
        "market_only": session.market_only,
        "cancel_on_disconnect": cancel_on_disconnect,
        "limits": {
            "max_message_bytes": config.max_message_bytes,
            "rate_per_s": config.rate_per_s,
            "rate_burst": config.rate_burst,
            "max_in_flight": config.max_in_flight,
            "idle_timeout_ms": config.idle_timeout_ms,
            "max_cancel_after_ms": config.max_cancel_after_ms,
        },
    });
    if let Err(r) = session.reply(welcome.to_string()) {
        return Some(r);
    }
    let write_timeout = Duration::from_millis(config.write_timeout_ms);
    let idle = Duration::from_millis(config.idle_timeout_ms);
    let mut ping = tokio::time::interval(Duration::from_millis(config.ping_interval_ms));
    ping.tick().await;
    let mut last_seen = Instant::now();
    loop {
        if kicked.0.load(Ordering::SeqCst) {
            return Some(CloseReason::SlowReader);
        }
        let deadline = session.cancel_after;
        tokio::select! {
            biased;
            _ = kicked.1.notified() => return Some(CloseReason::SlowReader),
            out = rx.recv() => match out {
                Some(Outbound::Text(t)) => match write_out(sink, t, rx, write_timeout).await {
                    Ok(None) => {}
                    Ok(Some(r)) | Err(r) => return Some(r),
                },
                Some(Outbound::Close(r)) => return Some(r),
                None => return Some(CloseReason::Shutdown),
            },
            _ = async { tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)).await }, if deadline.is_some() => {
                if let Err(r) = session.fire_cancel_after() {
                    return Some(r);
                }
            }
            frame = stream.next() => {
                last_seen = Instant::now();
                match frame {
                    None => return None,
                    Some(Err(e)) => return Some(stream_error_reason(&e)),
                    Some(Ok(Message::Close(_))) => return None,
                    Some(Ok(Message::Text(text))) => {
                        session.hub.telemetry.messages_in.fetch_add(1, Ordering::Relaxed);
                        if let Err(r) = session.on_text(text.as_str()) {
                            return Some(r);
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        session.hub.telemetry.messages_in.fetch_add(1, Ordering::Relaxed);
                        let r = session.refuse(ErrorCode::BinaryFrame, &Value::Null, "binary frames are not part of the protocol: send JSON text frames");
                        if let Err(r) = r {
                            return Some(r);
                        }
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                }
            }
            _ = ping.tick() => {
                if last_seen.elapsed() > idle {
                    return Some(CloseReason::Idle);
                }
                let sent = tokio::time::timeout(write_timeout, sink.send(Message::Ping(Default::default()))).await;
                match sent {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return Some(CloseReason::ProtocolError),
                    Err(_) => return Some(CloseReason::SlowReader),
                }
            }
        }
    }
}
