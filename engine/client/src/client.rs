//! The connection: one reader task per WebSocket connection dispatches the
//! server's messages to the calls waiting for them (by tag) or to the
//! updates channel; writes go through one sink in the order tags are
//! assigned, so resends keep their request ids in order.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, oneshot};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::command::{Command, Order};
use crate::error::ClientError;
use crate::messages::{Answer, Event, QueryResult, ServerError, Update, Welcome};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Sink = SplitSink<Ws, Message>;

/// How long [`Client::connect`] waits for the `welcome`.
const WELCOME_TIMEOUT: Duration = Duration::from_secs(10);

/// Connection options.
#[derive(Clone, Debug)]
pub struct Options {
    /// Ask the server to cancel the account's orders when this session ends
    /// (`?cancel_on_disconnect=true` at the upgrade). Default false.
    pub cancel_on_disconnect: bool,
    /// How long a call waits for its answer; `None` waits as long as the
    /// connection lives. Default 30 s.
    pub request_timeout: Option<Duration>,
    /// Events buffered for each [`Client::updates`] receiver; one that falls
    /// further behind gets [`Event::Lagged`]. Default 4,096.
    pub updates_capacity: usize,
    /// Keep under the session's rate limit (the `welcome`'s `rate_per_s`
    /// and `rate_burst`, with a margin) by delaying sends. The server
    /// refuses a message over its limit before reading it, so its
    /// `rate_limited` error carries no tag and cannot fail the call it
    /// belongs to (that call waits for [`Options::request_timeout`]).
    /// Default true.
    pub pace: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            cancel_on_disconnect: false,
            request_timeout: Some(Duration::from_secs(30)),
            updates_capacity: 4096,
            pace: true,
        }
    }
}

/// What a tagged message got back.
#[derive(Debug)]
enum Reply {
    Answer(Answer),
    Query(QueryResult),
    CancelAfter(u64),
}

struct Pending {
    generation: u64,
    /// The command as sent without its tag, for resending; `None` for
    /// `query` and `cancel_after`.
    command: Option<Value>,
    tx: oneshot::Sender<Result<Reply, ClientError>>,
}

struct Conn {
    generation: u64,
    sink: tokio::sync::Mutex<Sink>,
    reader: tokio::task::AbortHandle,
}

/// A token bucket a little inside the server's: 95% of its rate, half its
/// burst, so jitter on the way never makes the server see more than its
/// limit. Tokens may go negative: each send reserves one and waits its turn.
struct Pacer {
    tokens: f64,
    capacity: f64,
    per_s: f64,
    last: tokio::time::Instant,
}

impl Pacer {
    fn new(limits: &crate::messages::Limits) -> Pacer {
        let capacity = (limits.rate_burst / 2).max(1) as f64;
        Pacer {
            tokens: capacity,
            capacity,
            per_s: (limits.rate_per_s as f64 * 0.95).max(0.5),
            last: tokio::time::Instant::now(),
        }
    }

    /// How long the next message must wait.
    fn reserve(&mut self) -> Duration {
        let now = tokio::time::Instant::now();
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.per_s).min(self.capacity) - 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.per_s)
        }
    }
}

struct State {
    pacer: Pacer,
    conn: Option<Arc<Conn>>,
    generation: u64,
    welcome: Welcome,
    /// Why the last connection ended.
    closed: String,
    next_tag: u64,
    pending: HashMap<u64, Pending>,
    /// Commands sent on a connection that ended before their answer, in
    /// the order they were sent (by tag).
    unanswered: BTreeMap<u64, Value>,
}

struct Inner {
    url: String,
    key: String,
    options: Options,
    state: Mutex<State>,
    events: broadcast::Sender<Event>,
    first_receiver: Mutex<Option<broadcast::Receiver<Event>>>,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Closes the connection when the last [`Client`] handle is dropped.
struct LastHandle(Arc<Inner>);

impl Drop for LastHandle {
    fn drop(&mut self) {
        let conn = lock(&self.0.state).conn.take();
        if let Some(conn) = conn {
            conn.reader.abort();
        }
    }
}

/// A command resent by [`Client::reconnect`], and what it got.
#[derive(Debug)]
pub struct Resent {
    /// The command as sent (without its tag).
    pub command: Value,
    /// Its answer: for a command that had executed before, a `duplicate`
    /// rejection naming the last accepted request id (then
    /// [`Client::query`] tells its outcome).
    pub result: Result<Answer, ClientError>,
}

/// A session with the gateway, bound to the key's account. Cheap to clone:
/// clones share the connection, and many calls may wait at once.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    _last: Arc<LastHandle>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = lock(&self.inner.state);
        f.debug_struct("Client")
            .field("url", &self.inner.url)
            .field("account", &state.welcome.account)
            .field("connected", &state.conn.is_some())
            .finish()
    }
}

/// The upgrade URL: `/v1/ws` if the URL has no path, and the
/// cancel-on-disconnect parameter.
fn session_url(url: &str, cancel_on_disconnect: bool) -> String {
    let mut url = url.trim_end_matches('/').to_owned();
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    if !url[after_scheme..].contains('/') {
        url.push_str("/v1/ws");
    }
    if cancel_on_disconnect {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str("cancel_on_disconnect=true");
    }
    url
}

/// Opens a WebSocket session and reads its `welcome`.
async fn open(
    url: &str,
    key: &str,
    options: &Options,
) -> Result<(Sink, SplitStream<Ws>, Welcome), ClientError> {
    let mut request = session_url(url, options.cancel_on_disconnect)
        .into_client_request()
        .map_err(ClientError::from)?;
    let bearer = HeaderValue::from_str(&format!("Bearer {key}"))
        .map_err(|_| ClientError::Protocol("the key is not a valid header value".into()))?;
    request.headers_mut().insert("authorization", bearer);
    let (ws, _) = tokio_tungstenite::connect_async(request).await?;
    let (sink, mut stream) = ws.split();
    let first = tokio::time::timeout(WELCOME_TIMEOUT, stream.next())
        .await
        .map_err(|_| ClientError::Protocol(format!("no `welcome` within {WELCOME_TIMEOUT:?}")))?;
    let text = match first {
        Some(Ok(Message::Text(t))) => t,
        Some(Ok(Message::Close(frame))) => {
            return Err(ClientError::Closed {
                reason: frame.map_or_else(
                    || "closed before `welcome`".into(),
                    |f| f.reason.to_string(),
                ),
            })
        }
        Some(Ok(other)) => {
            return Err(ClientError::Protocol(format!(
                "expected a `welcome` text message, got {other:?}"
            )))
        }
        Some(Err(e)) => return Err(e.into()),
        None => {
            return Err(ClientError::Closed {
                reason: "closed before `welcome`".into(),
            })
        }
    };
    let value: Value = serde_json::from_str(text.as_str())
        .map_err(|e| ClientError::Protocol(format!("`welcome` is not JSON: {e}")))?;
    match value.get("type").and_then(Value::as_str) {
        Some("welcome") => {}
        Some("closing") => {
            return Err(ClientError::Closed {
                reason: value["reason"].as_str().unwrap_or("closing").to_owned(),
            })
        }
        _ => {
            return Err(ClientError::Protocol(format!(
                "expected `welcome` first, got {value}"
            )))
        }
    }
    let welcome: Welcome = serde_json::from_value(value)
        .map_err(|e| ClientError::Protocol(format!("bad `welcome`: {e}")))?;
    Ok((sink, stream, welcome))
}

impl Client {
    /// Connects to the gateway at `url` (`ws://HOST:PORT/v1/ws`; a URL
    /// without a path gets `/v1/ws`) with the API key `key` (from `keel
    /// keys add`), and reads the server's `welcome`. A bad key is
    /// [`ClientError::Unauthorized`]. Must be called within a tokio runtime
    /// (the connection's reader is a task).
    pub async fn connect(url: &str, key: &str, options: Options) -> Result<Client, ClientError> {
        let (sink, stream, welcome) = open(url, key, &options).await?;
        let (events, first) = broadcast::channel(options.updates_capacity.max(1));
        let inner = Arc::new(Inner {
            url: url.to_owned(),
            key: key.to_owned(),
            options,
            state: Mutex::new(State {
                pacer: Pacer::new(&welcome.limits),
                conn: None,
                generation: 0,
                welcome,
                closed: String::new(),
                next_tag: 1,
                pending: HashMap::new(),
                unanswered: BTreeMap::new(),
            }),
            events,
            first_receiver: Mutex::new(Some(first)),
        });
        inner.install(sink, stream, None);
        Ok(Client {
            _last: Arc::new(LastHandle(inner.clone())),
            inner,
        })
    }

    /// The `welcome` of the current (or last) connection.
    pub fn welcome(&self) -> Welcome {
        lock(&self.inner.state).welcome.clone()
    }

    /// The account this session acts for.
    pub fn account(&self) -> u32 {
        lock(&self.inner.state).welcome.account
    }

    /// Whether the connection is open.
    pub fn is_connected(&self) -> bool {
        lock(&self.inner.state).conn.is_some()
    }

    /// Events no call waits for: updates (fills as maker, expiries,
    /// operator deposits, safety cancels), `cancel_after_fired`, untagged
    /// errors, `closing`, disconnects. The first receiver holds every
    /// event since [`Client::connect`]; later ones start when created. The
    /// channel outlives reconnects.
    pub fn updates(&self) -> Updates {
        let first = self
            .inner
            .first_receiver
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        Updates {
            rx: first.unwrap_or_else(|| self.inner.events.subscribe()),
        }
    }

    /// Sends a command (the `keel run` schema without `account`: a
    /// [`Command`] or any `serde::Serialize` JSON object with a `type`) and
    /// waits for its answer once committed. An engine rejection is an
    /// `Ok` answer ([`Answer::rejection`]); a message the gateway refused
    /// is [`ClientError::Refused`]. A `tag` in the command is replaced by
    /// the client's own.
    pub async fn submit<C: Serialize + ?Sized>(&self, command: &C) -> Result<Answer, ClientError> {
        let value = serde_json::to_value(command)
            .map_err(|e| ClientError::Protocol(format!("cannot encode the command: {e}")))?;
        if !value.get("type").is_some_and(Value::is_string) {
            return Err(ClientError::Protocol(
                "a command is a JSON object with a string `type`".into(),
            ));
        }
        let rx = self.inner.send(value, true).await?;
        match self.inner.wait(rx).await? {
            Reply::Answer(a) => Ok(a),
            other => Err(ClientError::Protocol(format!(
                "expected an answer, got {other:?}"
            ))),
        }
    }

    /// [`Client::submit`] of a `place_order`.
    pub async fn place(&self, order: Order) -> Result<Answer, ClientError> {
        self.submit(&Command::PlaceOrder(order)).await
    }

    /// What happened to the session's request `request_id`: pending,
    /// accepted, rejected, not executed (from the journal and the engine's
    /// outputs).
    pub async fn query(&self, request_id: u64) -> Result<QueryResult, ClientError> {
        self.query_value(json!({"type": "query", "request_id": request_id}))
            .await
    }

    /// [`Client::query`] for another account (operator keys only).
    pub async fn query_account(
        &self,
        account: u32,
        request_id: u64,
    ) -> Result<QueryResult, ClientError> {
        self.query_value(json!({"type": "query", "request_id": request_id, "account": account}))
            .await
    }

    async fn query_value(&self, value: Value) -> Result<QueryResult, ClientError> {
        let rx = self.inner.send(value, false).await?;
        match self.inner.wait(rx).await? {
            Reply::Query(q) => Ok(q),
            other => Err(ClientError::Protocol(format!(
                "expected a query result, got {other:?}"
            ))),
        }
    }

    /// Arms the dead-man switch: unless renewed within `timeout_ms`, the
    /// server cancels the account's orders (and sends `cancel_after_fired`,
    /// see [`Client::updates`]). 0 disarms it. Returns the timeout the
    /// server set.
    pub async fn cancel_after(&self, timeout_ms: u64) -> Result<u64, ClientError> {
        let value = json!({"type": "cancel_after", "timeout_ms": timeout_ms});
        let rx = self.inner.send(value, false).await?;
        match self.inner.wait(rx).await? {
            Reply::CancelAfter(ms) => Ok(ms),
            other => Err(ClientError::Protocol(format!(
                "expected a cancel_after acknowledgement, got {other:?}"
            ))),
        }
    }

    /// Commands sent on a connection that ended before their answer, in
    /// the order they were sent: what [`Client::reconnect`] resends.
    pub fn unanswered(&self) -> Vec<Value> {
        lock(&self.inner.state)
            .unanswered
            .values()
            .cloned()
            .collect()
    }

    /// Forgets the unanswered commands (the caller will resend or query
    /// them itself).
    pub fn take_unanswered(&self) -> Vec<Value> {
        std::mem::take(&mut lock(&self.inner.state).unanswered)
            .into_values()
            .collect()
    }

    /// Opens a new connection with the same URL, key and options (closing
    /// the current one, if open: its unanswered commands are resent too),
    /// then resends every unanswered command in the order first sent and
    /// waits for their answers. The engine's request ids make this safe:
    /// a command that had executed gets `duplicate`, and
    /// [`Client::query`] then tells its outcome.
    pub async fn reconnect(&self) -> Result<Vec<Resent>, ClientError> {
        let current = lock(&self.inner.state).conn.clone();
        if let Some(conn) = current {
            conn.reader.abort();
            let _ = tokio::time::timeout(Duration::from_millis(200), async {
                conn.sink.lock().await.close().await
            })
            .await;
            self.inner
                .connection_ended(conn.generation, "reconnecting".into());
        }
        let (sink, stream, welcome) =
            open(&self.inner.url, &self.inner.key, &self.inner.options).await?;
        self.inner.install(sink, stream, Some(welcome));
        let commands = self.take_unanswered();
        let mut waits = Vec::with_capacity(commands.len());
        for command in commands {
            // Sent one after the other, so request ids stay in order.
            let sent = self.inner.send(command.clone(), true).await;
            waits.push((command, sent));
        }
        let mut resent = Vec::with_capacity(waits.len());
        for (command, sent) in waits {
            let result = match sent {
                Ok(rx) => match self.inner.wait(rx).await {
                    Ok(Reply::Answer(a)) => Ok(a),
                    Ok(other) => Err(ClientError::Protocol(format!(
                        "expected an answer, got {other:?}"
                    ))),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            resent.push(Resent { command, result });
        }
        Ok(resent)
    }

    /// Closes the session politely (a close frame). Unanswered commands
    /// are kept for [`Client::reconnect`].
    pub async fn close(&self) {
        let current = lock(&self.inner.state).conn.clone();
        if let Some(conn) = current {
            let _ = tokio::time::timeout(Duration::from_secs(1), async {
                conn.sink.lock().await.close().await
            })
            .await;
            conn.reader.abort();
            self.inner
                .connection_ended(conn.generation, "closed by the client".into());
        }
    }
}

impl Inner {
    /// Makes a new connection current and starts its reader.
    fn install(self: &Arc<Self>, sink: Sink, stream: SplitStream<Ws>, welcome: Option<Welcome>) {
        let mut state = lock(&self.state);
        state.generation += 1;
        let generation = state.generation;
        let me = self.clone();
        let reader = tokio::spawn(async move { me.read(generation, stream).await });
        state.conn = Some(Arc::new(Conn {
            generation,
            sink: tokio::sync::Mutex::new(sink),
            reader: reader.abort_handle(),
        }));
        if let Some(w) = welcome {
            state.pacer = Pacer::new(&w.limits);
            state.welcome = w;
        }
    }

    /// Tags and sends one message; returns where its reply will arrive.
    async fn send(
        &self,
        mut value: Value,
        resendable: bool,
    ) -> Result<oneshot::Receiver<Result<Reply, ClientError>>, ClientError> {
        let Some(object) = value.as_object_mut() else {
            return Err(ClientError::Protocol("a message is a JSON object".into()));
        };
        object.remove("tag");
        let command = resendable.then(|| value.clone());
        let conn = {
            let state = lock(&self.state);
            match &state.conn {
                Some(c) => c.clone(),
                None => {
                    return Err(ClientError::Closed {
                        reason: state.closed.clone(),
                    })
                }
            }
        };
        let (tx, rx) = oneshot::channel();
        // Tags are assigned under the sink's lock: wire order is tag order.
        let mut sink = conn.sink.lock().await;
        if self.options.pace {
            let delay = lock(&self.state).pacer.reserve();
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
        }
        let tag = {
            let mut state = lock(&self.state);
            if state.conn.as_ref().map(|c| c.generation) != Some(conn.generation) {
                return Err(ClientError::Closed {
                    reason: state.closed.clone(),
                });
            }
            let tag = state.next_tag;
            state.next_tag += 1;
            state.pending.insert(
                tag,
                Pending {
                    generation: conn.generation,
                    command,
                    tx,
                },
            );
            tag
        };
        value["tag"] = tag.into();
        let sent = sink.send(Message::text(value.to_string())).await;
        drop(sink);
        if let Err(e) = sent {
            // Perhaps delivered: keep a command for reconnect().
            let reason = format!("connection lost while sending: {e}");
            let mut state = lock(&self.state);
            if let Some(p) = state.pending.remove(&tag) {
                if let Some(c) = p.command {
                    state.unanswered.insert(tag, c);
                }
            }
            return Err(ClientError::Closed { reason });
        }
        Ok(rx)
    }

    async fn wait(
        &self,
        rx: oneshot::Receiver<Result<Reply, ClientError>>,
    ) -> Result<Reply, ClientError> {
        let closed = || ClientError::Closed {
            reason: "the client was dropped".into(),
        };
        match self.options.request_timeout {
            None => rx.await.unwrap_or_else(|_| Err(closed())),
            Some(limit) => {
                let mut rx = rx;
                match tokio::time::timeout(limit, &mut rx).await {
                    Ok(r) => r.unwrap_or_else(|_| Err(closed())),
                    Err(_) => {
                        // Forget it; a late answer goes to the updates.
                        rx.close();
                        Err(ClientError::Timeout(limit))
                    }
                }
            }
        }
    }

    /// The reader task of one connection.
    async fn read(self: Arc<Self>, generation: u64, mut stream: SplitStream<Ws>) {
        let mut closing: Option<String> = None;
        let reason = loop {
            match stream.next().await {
                Some(Ok(Message::Text(text))) => {
                    if let Some(r) = self.dispatch(text.as_str()) {
                        closing = Some(r);
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    break closing.unwrap_or_else(|| {
                        frame
                            .map(|f| f.reason.to_string())
                            .filter(|r| !r.is_empty())
                            .unwrap_or_else(|| "closed by the server".into())
                    })
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => break closing.unwrap_or_else(|| format!("connection lost: {e}")),
                None => break closing.unwrap_or_else(|| "connection lost".into()),
            }
        };
        self.connection_ended(generation, reason);
    }

    /// Ends connection `generation`: its waiting calls fail with `Closed`,
    /// its unanswered commands are kept for resending.
    fn connection_ended(&self, generation: u64, reason: String) {
        let failed: Vec<Pending> = {
            let mut state = lock(&self.state);
            if state.conn.as_ref().map(|c| c.generation) == Some(generation) {
                state.conn = None;
                state.closed = reason.clone();
            }
            let tags: Vec<u64> = state
                .pending
                .iter()
                .filter(|(_, p)| p.generation == generation)
                .map(|(t, _)| *t)
                .collect();
            let mut failed = Vec::with_capacity(tags.len());
            for tag in tags {
                if let Some(mut p) = state.pending.remove(&tag) {
                    if let Some(c) = p.command.take() {
                        state.unanswered.insert(tag, c);
                    }
                    failed.push(p);
                }
            }
            failed
        };
        for p in failed {
            let _ = p.tx.send(Err(ClientError::Closed {
                reason: reason.clone(),
            }));
        }
        let _ = self.events.send(Event::Disconnected { reason });
    }

    fn take(&self, tag: &Value) -> Option<Pending> {
        let tag = tag.as_u64()?;
        lock(&self.state).pending.remove(&tag)
    }

    /// Hands one message to its call or to the updates; returns a
    /// `closing` reason.
    fn dispatch(&self, text: &str) -> Option<String> {
        let value: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(_) => {
                let _ = self.events.send(Event::Other(Value::String(text.into())));
                return None;
            }
        };
        let kind = value.get("type").and_then(Value::as_str).unwrap_or("");
        let tag = value.get("tag").cloned().unwrap_or(Value::Null);
        let reply: Result<Reply, ClientError> = match kind {
            "answer" => match serde_json::from_value::<Answer>(value.clone()) {
                Ok(a) => Ok(Reply::Answer(a)),
                Err(e) => Err(ClientError::Protocol(format!("bad answer {value}: {e}"))),
            },
            "error" => {
                let code = value["code"].as_str().unwrap_or_default().to_owned();
                let message = value["message"].as_str().unwrap_or_default().to_owned();
                if tag.is_null() {
                    let _ = self
                        .events
                        .send(Event::Error(ServerError { code, message }));
                    return None;
                }
                Err(ClientError::Refused { code, message })
            }
            "query" => QueryResult::from_value(&value)
                .map(Reply::Query)
                .map_err(|e| ClientError::Protocol(format!("bad query result {value}: {e}"))),
            "cancel_after" => Ok(Reply::CancelAfter(
                value["timeout_ms"].as_u64().unwrap_or_default(),
            )),
            "update" => {
                let event = match serde_json::from_value::<Update>(value.clone()) {
                    Ok(u) => Event::Update(u),
                    Err(_) => Event::Other(value),
                };
                let _ = self.events.send(event);
                return None;
            }
            "cancel_after_fired" => {
                let _ = self.events.send(Event::CancelAfterFired);
                return None;
            }
            "closing" => {
                let reason = value["reason"].as_str().unwrap_or("closing").to_owned();
                let _ = self.events.send(Event::Closing {
                    reason: reason.clone(),
                });
                return Some(reason);
            }
            _ => {
                let _ = self.events.send(Event::Other(value));
                return None;
            }
        };
        match self.take(&tag) {
            Some(p) => {
                if let Err(Ok(Reply::Answer(a))) = p.tx.send(reply) {
                    let _ = self.events.send(Event::Answer(a));
                }
            }
            None => {
                if let Ok(Reply::Answer(a)) = reply {
                    let _ = self.events.send(Event::Answer(a));
                }
            }
        }
        None
    }
}

/// A receiver of [`Event`]s (see [`Client::updates`]).
#[derive(Debug)]
pub struct Updates {
    rx: broadcast::Receiver<Event>,
}

impl Updates {
    /// The next event; `None` once the client and its connection are gone.
    pub async fn recv(&mut self) -> Option<Event> {
        match self.rx.recv().await {
            Ok(e) => Some(e),
            Err(broadcast::error::RecvError::Lagged(n)) => Some(Event::Lagged(n)),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }

    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Option<Event> {
        match self.rx.try_recv() {
            Ok(e) => Some(e),
            Err(broadcast::error::TryRecvError::Lagged(n)) => Some(Event::Lagged(n)),
            Err(_) => None,
        }
    }

    /// The next [`Update`] (skipping other events), waiting at most
    /// `limit`; `None` if none came.
    pub async fn next_update(&mut self, limit: Duration) -> Option<Update> {
        tokio::time::timeout(limit, async {
            loop {
                match self.recv().await? {
                    Event::Update(u) => return Some(u),
                    _ => continue,
                }
            }
        })
        .await
        .ok()
        .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::session_url;

    #[test]
    fn session_urls_get_the_path_and_the_parameter() {
        assert_eq!(
            session_url("ws://127.0.0.1:7070", false),
            "ws://127.0.0.1:7070/v1/ws"
        );
        assert_eq!(
            session_url("ws://127.0.0.1:7070/", true),
            "ws://127.0.0.1:7070/v1/ws?cancel_on_disconnect=true"
        );
        assert_eq!(session_url("ws://h:1/v1/ws", false), "ws://h:1/v1/ws");
    }
}
