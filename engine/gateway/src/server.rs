//! The server: starts the engine, the router and the WebSocket listener;
//! authenticates each upgrade; stops in order (no new sessions, the engine
//! drained and committed, every committed answer written, sessions closed
//! with `shutdown`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::extract::ws::{rejection::WebSocketUpgradeRejection, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use keel_engine::{Config, Engine, LoopExit, StartReport};
use tokio::sync::oneshot;

use crate::config::GatewayConfig;
use crate::hub::{lock, run_router, Hub, OpenRefused, Outbound, Outcomes};
use crate::keys::{Identity, Keys, KeysError};
use crate::market::{run_feed, Channel, Market, MarketLimits};
use crate::protocol::CloseReason;
use crate::session;
use keel_readmodel::Keep;

/// Why the server could not start or stopped badly.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The engine did not start (recovery, config).
    #[error("engine did not start: {0}")]
    Start(#[from] keel_engine::StartError),
    /// The engine refused a request (it stopped).
    #[error("engine: {0}")]
    Engine(#[from] keel_engine::EngineError),
    /// The keys file is unreadable or invalid.
    #[error(transparent)]
    Keys(#[from] KeysError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source} (set [gateway] listen)")]
    Bind {
        /// The address.
        addr: String,
        /// The error.
        source: std::io::Error,
    },
    /// The read models could not be rebuilt from the journal.
    #[error("market data: {0}")]
    Market(String),
    /// The async runtime could not be built.
    #[error("cannot start the network runtime: {0}")]
    Runtime(std::io::Error),
}

/// A file's modified time and length.
type FileStamp = (Option<SystemTime>, u64);

/// The keys file, re-read when it changes (so `keel keys add` needs no
/// restart).
struct KeyStore {
    path: PathBuf,
    state: Mutex<(Option<FileStamp>, Arc<Keys>)>,
}

impl KeyStore {
    fn current(&self) -> Arc<Keys> {
        // Modified time and length: adding a key always grows the file, so
        // two writes within one timestamp tick are still seen.
        let modified = std::fs::metadata(&self.path)
            .ok()
            .map(|m| (m.modified().ok(), m.len()));
        let mut state = lock(&self.state);
        if state.0 != modified {
            match Keys::load(&self.path) {
                Ok(keys) => *state = (modified, Arc::new(keys)),
                Err(e) => eprintln!("keel serve: keeping the previous keys: {e}"),
            }
        }
        state.1.clone()
    }
}

#[derive(Clone)]
struct App {
    hub: Arc<Hub>,
    keys: Arc<KeyStore>,
    engine: Arc<Mutex<Option<Engine>>>,
}

/// A running server.
pub struct Server {
    addr: SocketAddr,
    hub: Arc<Hub>,
    engine: Arc<Mutex<Option<Engine>>>,
    report: StartReport,
    stop: Option<oneshot::Sender<()>>,
    runtime: Option<tokio::runtime::Runtime>,
    router: Option<std::thread::JoinHandle<()>>,
    feed: Option<std::thread::JoinHandle<()>>,
    served: Option<tokio::task::JoinHandle<()>>,
}

/// What a stopped server reports.
#[derive(Debug)]
pub struct ServeExit {
    /// The engine's final telemetry and digest.
    pub engine: LoopExit,
    /// The gateway's counters.
    pub telemetry: serde_json::Value,
}

impl Server {
    /// Starts the engine (recovering its journal), the router and the
    /// listener. Returns once the listener is bound.
    pub fn start(config: &Config, gateway: GatewayConfig) -> Result<Server, ServeError> {
        Server::start_inner(config, gateway, None)
    }

    /// [`Server::start`] with the engine's batches carried by `replicator`
    /// ([`Engine::start_replicated`]): answers, updates and market data
    /// show only batches the replicated log acknowledged.
    pub fn start_replicated(
        config: &Config,
        gateway: GatewayConfig,
        replicator: Box<dyn keel_engine::Replicator>,
    ) -> Result<Server, ServeError> {
        Server::start_inner(config, gateway, Some(replicator))
    }

    fn start_inner(
        config: &Config,
        gateway: GatewayConfig,
        replicator: Option<Box<dyn keel_engine::Replicator>>,
    ) -> Result<Server, ServeError> {
        let keys = Arc::new(KeyStore {
            path: gateway.keys_file.clone(),
            state: Mutex::new((None, Arc::new(Keys::load(&gateway.keys_file)?))),
        });
        keys.current();
        let started = match replicator {
            None => Engine::start(config)?,
            Some(r) => Engine::start_replicated(config, r)?,
        };
        let report = started.start_report().clone();
        let subscription = started.subscribe()?;
        let feed = started.subscribe()?;
        let recovered = report.journal.last_sequence.unwrap_or(0);
        let mut outcomes = Outcomes::new(gateway.query_window);
        let market = Market::rebuild(
            &report.journal_dir,
            keel_engine::State::new(config.limits()),
            recovered,
            Keep {
                trades: gateway.trades_kept,
                candles: gateway.candles_kept,
            },
            MarketLimits {
                max_subscriptions: gateway.max_subscriptions_per_session,
                max_depth: gateway.max_book_depth,
            },
            |seq, cmd, events| outcomes.record(seq, cmd, events),
        )
        .map_err(ServeError::Market)?;
        let hub = Arc::new(Hub::new(
            gateway.clone(),
            started.sender(),
            started.registry()?,
            Arc::new(market),
            outcomes,
        ));
        // Shared with `GET /metrics`, which asks it for its stats.
        let engine = Arc::new(Mutex::new(Some(started)));
        let feed_hub = hub.clone();
        let feed_thread = std::thread::Builder::new()
            .name("keel-gateway-feed".into())
            .spawn(move || run_feed(&feed_hub.market, feed, &feed_hub.telemetry))
            .map_err(ServeError::Runtime)?;
        let router_hub = hub.clone();
        let router = std::thread::Builder::new()
            .name("keel-gateway-router".into())
            .spawn(move || {
                let _ = run_router(router_hub, subscription);
            })
            .map_err(ServeError::Runtime)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("keel-gateway")
            .enable_all()
            .build()
            .map_err(ServeError::Runtime)?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(&gateway.listen))
            .map_err(|source| ServeError::Bind {
                addr: gateway.listen.clone(),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| ServeError::Bind {
            addr: gateway.listen.clone(),
            source,
        })?;
        let app = Router::new()
            .route("/v1/ws", get(upgrade))
            .route("/v1/market", get(market_upgrade))
            .route("/v1/book", get(http_book))
            .route("/v1/bbo", get(http_bbo))
            .route("/v1/trades", get(http_trades))
            .route("/v1/candles", get(http_candles))
            .route("/v1/stats", get(stats))
            .route("/metrics", get(metrics))
            .route("/", get(index))
            .with_state(App {
                hub: hub.clone(),
                keys,
                engine: engine.clone(),
            });
        let (stop, stopped) = oneshot::channel::<()>();
        let served = runtime.spawn(accept_loop(listener, app, hub.clone(), stopped));
        Ok(Server {
            addr,
            hub,
            engine,
            report,
            stop: Some(stop),
            runtime: Some(runtime),
            router: Some(router),
            feed: Some(feed_thread),
            served: Some(served),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// What engine start-up found.
    pub fn start_report(&self) -> &StartReport {
        &self.report
    }

    /// The engine's telemetry now (what `GET /metrics` shows of it).
    pub fn engine_stats(&self) -> Result<keel_engine::Stats, ServeError> {
        match lock(&self.engine).as_ref() {
            Some(e) => Ok(e.stats()?),
            None => Err(ServeError::Engine(keel_engine::EngineError::NotRunning)),
        }
    }

    /// The gateway's counters, as `GET /v1/stats` shows them.
    pub fn telemetry(&self) -> serde_json::Value {
        self.hub.stats_json()
    }

    /// Stops in order: no new sessions or commands; the engine drains its
    /// ring and commits; every committed answer is queued; each session gets
    /// `closing` with reason `shutdown`.
    pub fn shutdown(mut self) -> Result<ServeExit, ServeError> {
        self.stop_all()
    }

    /// Runs until SIGTERM or SIGINT, then [`Server::shutdown`].
    pub fn run_until_signal(self) -> Result<ServeExit, ServeError> {
        if let Some(rt) = &self.runtime {
            rt.block_on(async {
                use tokio::signal::unix::{signal, SignalKind};
                let ended = self.hub.engine_ended.notified();
                match (
                    signal(SignalKind::terminate()),
                    signal(SignalKind::interrupt()),
                ) {
                    (Ok(mut term), Ok(mut int)) => {
                        tokio::select! {
                            _ = term.recv() => eprintln!("keel serve: SIGTERM: stopping"),
                            _ = int.recv() => eprintln!("keel serve: SIGINT: stopping"),
                            _ = ended => eprintln!("keel serve: the engine stopped: stopping"),
                        }
                    }
                    _ => {
                        tokio::select! {
                            _ = tokio::signal::ctrl_c() => {}
                            _ = ended => {}
                        }
                    }
                }
            });
        }
        self.shutdown()
    }

    fn stop_all(&mut self) -> Result<ServeExit, ServeError> {
        self.hub.stopping.store(true, Ordering::SeqCst);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let engine = lock(&self.engine)
            .take()
            .ok_or(keel_engine::EngineError::NotRunning)?;
        let exit = engine.shutdown();
        if let Some(router) = self.router.take() {
            let _ = router.join();
        }
        if let Some(feed) = self.feed.take() {
            let _ = feed.join();
        }
        for link in self.hub.links() {
            let _ = link.tx.try_send(Outbound::Close(CloseReason::Shutdown));
        }
        if let Some(rt) = self.runtime.take() {
            let hub = self.hub.clone();
            let served = self.served.take();
            rt.block_on(async move {
                let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
                while hub.telemetry.sessions_open.load(Ordering::SeqCst) > 0
                    && tokio::time::Instant::now() < deadline
                {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                if let Some(served) = served {
                    let _ = tokio::time::timeout(Duration::from_secs(1), served).await;
                }
            });
            rt.shutdown_timeout(Duration::from_millis(500));
        }
        Ok(ServeExit {
            engine: exit?,
            telemetry: self.hub.stats_json(),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if lock(&self.engine).is_some() {
            let _ = self.stop_all();
        }
    }
}

/// Accepts connections until `stopped`: at most `max_connections` at once,
/// each given `handshake_timeout_ms` to send its request head.
async fn accept_loop(
    listener: tokio::net::TcpListener,
    app: Router,
    hub: Arc<Hub>,
    mut stopped: oneshot::Receiver<()>,
) {
    let open = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let head_timeout = Duration::from_millis(hub.config.handshake_timeout_ms);
    loop {
        let accepted = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors and the like: wait, do not spin.
                eprintln!("keel serve: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if open.load(Ordering::SeqCst) >= hub.config.max_connections {
            hub.telemetry
                .refused_connections
                .fetch_add(1, Ordering::Relaxed);
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        open.fetch_add(1, Ordering::SeqCst);
        let open = open.clone();
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(head_timeout)
                .serve_connection(io, service)
                .with_upgrades();
            let _ = conn.await;
            open.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

fn refuse(status: StatusCode, message: &str) -> Response {
    let mut response = (status, format!("{message}\n")).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, "Bearer".parse().expect("static"));
    }
    response
}

/// Gives a session slot back when dropped (also if the upgrade fails).
struct Slot {
    hub: Arc<Hub>,
    key_id: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.hub.release(&self.key_id);
    }
}

async fn upgrade(
    State(app): State<App>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let hub = app.hub.clone();
    if hub.stopping.load(Ordering::SeqCst) {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    }
    let who: Option<Identity> = bearer(&headers).and_then(|s| app.keys.current().authenticate(s));
    let Some(who) = who else {
        hub.telemetry.unauthorized.fetch_add(1, Ordering::Relaxed);
        return refuse(
            StatusCode::UNAUTHORIZED,
            "missing or unknown API key: send `Authorization: Bearer <key>` (keys come from `keel keys add`)",
        );
    };
    if let Some(bad) = params.keys().find(|k| k.as_str() != "cancel_on_disconnect") {
        return refuse(
            StatusCode::BAD_REQUEST,
            &format!(
                "unknown query parameter {bad:?}: the only one is cancel_on_disconnect=true|false"
            ),
        );
    }
    let cancel_on_disconnect = match params.get("cancel_on_disconnect").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                &format!("cancel_on_disconnect={other:?}: must be true or false"),
            )
        }
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    if let Err(why) = hub.claim(&who.key_id) {
        hub.telemetry
            .refused_too_many_sessions
            .fetch_add(1, Ordering::Relaxed);
        return match why {
            OpenRefused::TooManyForKey => refuse(
                StatusCode::TOO_MANY_REQUESTS,
                &format!(
                    "this key already has {} sessions open ([gateway] max_sessions_per_key)",
                    hub.config.max_sessions_per_key
                ),
            ),
            OpenRefused::TooManySessions => refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!(
                    "the server has {} sessions open ([gateway] max_sessions)",
                    hub.config.max_sessions
                ),
            ),
        };
    }
    let slot = Slot {
        hub: hub.clone(),
        key_id: who.key_id.clone(),
    };
    let max = hub.config.max_message_bytes;
    ws.max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| async move {
            let _slot = slot;
            session::run(hub, socket, who, cancel_on_disconnect).await;
        })
}

async fn stats(State(app): State<App>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        app.hub.stats_json().to_string(),
    )
        .into_response()
}

/// The identity of a market-data session: a key's if one was presented
/// (required unless `public_market_data`), else anonymous.
fn market_identity(app: &App, headers: &HeaderMap) -> Result<Option<Identity>, Box<Response>> {
    match bearer(headers) {
        Some(secret) => match app.keys.current().authenticate(secret) {
            Some(who) => Ok(Some(who)),
            None => {
                app.hub
                    .telemetry
                    .unauthorized
                    .fetch_add(1, Ordering::Relaxed);
                Err(Box::new(refuse(
                    StatusCode::UNAUTHORIZED,
                    "unknown API key",
                )))
            }
        },
        None if app.hub.config.public_market_data => Ok(None),
        None => {
            app.hub
                .telemetry
                .unauthorized
                .fetch_add(1, Ordering::Relaxed);
            Err(Box::new(refuse(
                StatusCode::UNAUTHORIZED,
                "market data needs a key here ([gateway] public_market_data = false)",
            )))
        }
    }
}

async fn market_upgrade(
    State(app): State<App>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let hub = app.hub.clone();
    if hub.stopping.load(Ordering::SeqCst) {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    }
    let who = match market_identity(&app, &headers) {
        Ok(w) => w,
        Err(r) => return *r,
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let key_id = who
        .as_ref()
        .map_or(crate::hub::ANONYMOUS.to_owned(), |w| w.key_id.clone());
    let claimed = match &who {
        Some(_) => hub.claim(&key_id),
        None => hub.claim_anonymous(),
    };
    if claimed.is_err() {
        hub.telemetry
            .refused_too_many_sessions
            .fetch_add(1, Ordering::Relaxed);
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "too many sessions");
    }
    let slot = Slot {
        hub: hub.clone(),
        key_id,
    };
    let max = hub.config.max_message_bytes;
    ws.max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| async move {
            let _slot = slot;
            session::run_market(hub, socket, who.unwrap_or_else(session::anonymous)).await;
        })
}

fn json_response(v: serde_json::Value) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

/// The symbol of a market-data GET, its parameters checked.
fn market_get(
    app: &App,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
    allowed: &[&str],
) -> Result<keel_engine::model::SymbolId, Box<Response>> {
    market_identity(app, headers)?;
    if let Some(bad) = params.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(Box::new(refuse(
            StatusCode::BAD_REQUEST,
            &format!(
                "unknown parameter {bad:?} (allowed: {})",
                allowed.join(", ")
            ),
        )));
    }
    let name = params
        .get("symbol")
        .ok_or_else(|| Box::new(refuse(StatusCode::BAD_REQUEST, "missing ?symbol=")))?;
    app.hub.market.symbol_id(name).ok_or_else(|| {
        Box::new(refuse(
            StatusCode::NOT_FOUND,
            &format!("unknown symbol {name:?}"),
        ))
    })
}

/// A market-data GET: checks the key and parameters, picks the channel
/// (with its depth) from the symbol and the parameters (`Err`: why they
/// are bad, answered 400), and answers its snapshot.
fn snapshot_get(
    app: &App,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
    allowed: &[&str],
    channel: impl FnOnce(keel_engine::model::SymbolId) -> Result<(Channel, usize), String>,
) -> Response {
    let symbol = match market_get(app, headers, params, allowed) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let (channel, depth) = match channel(symbol) {
        Ok(c) => c,
        Err(why) => return refuse(StatusCode::BAD_REQUEST, &why),
    };
    match app.hub.market.http_snapshot(channel, depth) {
        Some(v) => json_response(v),
        None => refuse(StatusCode::NOT_FOUND, "nothing there for that symbol"),
    }
}

async fn http_book(
    State(app): State<App>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let max = app.hub.config.max_book_depth;
    snapshot_get(&app, &headers, &params, &["symbol", "depth"], |symbol| {
        let depth = match params.get("depth").map(|d| d.parse::<usize>()) {
            None => max,
            Some(Ok(d)) if (1..=max).contains(&d) => d,
            Some(_) => return Err(format!("depth must be 1 to {max}")),
        };
        Ok((Channel::Book(symbol), depth))
    })
}

async fn http_bbo(
    State(app): State<App>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    snapshot_get(&app, &headers, &params, &["symbol"], |s| {
        Ok((Channel::Bbo(s), 1))
    })
}

async fn http_trades(
    State(app): State<App>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    snapshot_get(&app, &headers, &params, &["symbol"], |s| {
        Ok((Channel::Trades(s), 1))
    })
}

async fn http_candles(
    State(app): State<App>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    snapshot_get(&app, &headers, &params, &["symbol", "interval"], |symbol| {
        let i = match params.get("interval").map(String::as_str) {
            None | Some("1m") => 1,
            Some("1s") => 0,
            Some(other) => return Err(format!("interval {other:?}: must be 1s or 1m")),
        };
        Ok((Channel::Candles(symbol, i), 1))
    })
}

/// `GET /metrics`: the engine's telemetry and the gateway's counters in the
/// Prometheus text format (`crate::metrics`).
async fn metrics(State(app): State<App>) -> Response {
    let engine = app.engine.clone();
    let stats = tokio::task::spawn_blocking(move || lock(&engine).as_ref().map(|e| e.stats()))
        .await
        .ok()
        .flatten();
    match stats {
        Some(Ok(stats)) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            crate::metrics::render(&stats, &app.hub),
        )
            .into_response(),
        _ => refuse(StatusCode::SERVICE_UNAVAILABLE, "the engine is not running"),
    }
}

/// `GET /`: the live market page (`engine/gateway/web/index.html`, built in).
async fn index() -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        include_str!("../web/index.html"),
    )
        .into_response()
}
