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
use crate::hub::{lock, run_router, Hub, OpenRefused, Outbound};
use crate::keys::{Identity, Keys, KeysError};
use crate::protocol::CloseReason;
use crate::session;

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
}

/// A running server.
pub struct Server {
    addr: SocketAddr,
    hub: Arc<Hub>,
    engine: Option<Engine>,
    report: StartReport,
    stop: Option<oneshot::Sender<()>>,
    runtime: Option<tokio::runtime::Runtime>,
    router: Option<std::thread::JoinHandle<()>>,
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
        let keys = Arc::new(KeyStore {
            path: gateway.keys_file.clone(),
            state: Mutex::new((None, Arc::new(Keys::load(&gateway.keys_file)?))),
        });
        keys.current();
        let engine = Engine::start(config)?;
        let report = engine.start_report().clone();
        let subscription = engine.subscribe()?;
        let hub = Arc::new(Hub::new(
            gateway.clone(),
            engine.sender(),
            engine.registry()?,
        ));
        learn_outcomes(&hub, &report);
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
            .route("/v1/stats", get(stats))
            .with_state(App {
                hub: hub.clone(),
                keys,
            });
        let (stop, stopped) = oneshot::channel::<()>();
        let served = runtime.spawn(accept_loop(listener, app, hub.clone(), stopped));
        Ok(Server {
            addr,
            hub,
            engine: Some(engine),
            report,
            stop: Some(stop),
            runtime: Some(runtime),
            router: Some(router),
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

    /// The gateway's counters, as `GET /v1/stats` shows them.
    pub fn telemetry(&self) -> serde_json::Value {
        self.hub.telemetry.to_json()
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
        let engine = self
            .engine
            .take()
            .ok_or(keel_engine::EngineError::NotRunning)?;
        let exit = engine.shutdown();
        if let Some(router) = self.router.take() {
            let _ = router.join();
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
            telemetry: self.hub.telemetry.to_json(),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.engine.is_some() {
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

/// Learns every journaled outcome, for `query` after a restart.
fn learn_outcomes(hub: &Hub, report: &StartReport) {
    let Ok(mut reader) = keel_engine::keel_journal::Journal::reader(&report.journal_dir, 1) else {
        return;
    };
    let mut events = Vec::new();
    loop {
        match reader.try_next_ref() {
            Ok(Some(r)) => {
                if let Ok((_, cmd)) = keel_engine::record::decode_into(r.payload, &mut events) {
                    hub.record_outcome(r.seq, &cmd, &events);
                }
            }
            Ok(None) => break,
            Err(e) => {
                eprintln!("keel serve: `query` knows outcomes only up to the journal's first unreadable record: {e}");
                break;
            }
        }
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
        app.hub.telemetry.to_json().to_string(),
    )
        .into_response()
}
