//! A real gateway on loopback for the client's tests: an in-process
//! `keel_gateway::Server` over a temporary journal, with keys made on
//! demand, and a TCP proxy that can lose the server's replies.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The engine config of the tests: two assets, one symbol, small limits, no
/// fsync.
pub fn config_text(journal: &std::path::Path) -> String {
    format!(
        r#"
[engine]
allow_unpinned = true
prefault = false
ring_capacity = 1024
[journal]
dir = "{}"
durability = "none"
segment_size_mib = 1
[limits]
max_accounts = 64
max_orders = 1024
[[assets]]
name = "BTC"
scale = 8
[[assets]]
name = "USD"
scale = 6
[[symbols]]
name = "BTC-USD"
base = "BTC"
quote = "USD"
tick_size = "0.01"
lot_size = "0.0001"
maker_fee_bps = 1
taker_fee_bps = 5
"#,
        journal.display()
    )
}

pub struct TestServer {
    server: Option<keel_gateway::Server>,
    pub dir: tempfile::TempDir,
    pub keys_file: PathBuf,
    pub url: String,
    pub addr: std::net::SocketAddr,
    pub operator_key: String,
}

impl TestServer {
    pub fn start() -> TestServer {
        TestServer::start_with(|_| {})
    }

    /// A server whose `[gateway]` settings `adjust` changes.
    pub fn start_with(adjust: impl FnOnce(&mut keel_gateway::GatewayConfig)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let config =
            keel_edge::config_from_toml(&config_text(&dir.path().join("journal")), "test.toml")
                .unwrap();
        let keys_file = dir.path().join("keys.toml");
        let (_, operator_key) = keel_gateway::add_key(&keys_file, 0, true).unwrap();
        let mut gateway = keel_gateway::GatewayConfig {
            listen: "127.0.0.1:0".into(),
            keys_file: keys_file.clone(),
            ..Default::default()
        };
        adjust(&mut gateway);
        let server = keel_gateway::Server::start(&config, gateway).unwrap();
        let addr = server.local_addr();
        TestServer {
            server: Some(server),
            dir,
            keys_file,
            url: format!("ws://{addr}/v1/ws"),
            addr,
            operator_key,
        }
    }

    /// A new key for `account`. The server notices a changed keys file by
    /// its modification time only, so each write first waits out a coarse
    /// file-system timestamp tick (two writes within one could look like one).
    pub fn key(&self, account: u32) -> String {
        std::thread::sleep(Duration::from_millis(25));
        keel_gateway::add_key(&self.keys_file, account, false)
            .unwrap()
            .1
    }

    pub fn shutdown(&mut self) -> keel_gateway::ServeExit {
        self.server.take().unwrap().shutdown().unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            let _ = s.shutdown();
        }
    }
}

/// A multi-threaded runtime for the clients (the server has its own).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Forwards TCP connections to the server; while `lose_replies` is set, what
/// the server sends is dropped (an answer lost on the way), while
/// `lose_requests` is set, what the client sends is (a command that never
/// arrives); `cut` ends every connection (the client sees the connection
/// lost), so a half-forwarded frame is never seen.
pub struct Proxy {
    pub addr: std::net::SocketAddr,
    pub lose_replies: Arc<AtomicBool>,
    pub lose_requests: Arc<AtomicBool>,
    /// Bytes from the client dropped while `lose_requests` was set.
    pub requests_lost: Arc<AtomicUsize>,
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    lose: Option<Arc<AtomicBool>>,
    lost: Arc<AtomicUsize>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if lose.as_ref().is_some_and(|l| l.load(Ordering::SeqCst)) {
            lost.fetch_add(n, Ordering::SeqCst);
            continue;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

impl Proxy {
    pub async fn start(server: std::net::SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let lose_replies = Arc::new(AtomicBool::new(false));
        let lose_requests = Arc::new(AtomicBool::new(false));
        let tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let requests_lost = Arc::new(AtomicUsize::new(0));
        let (lose, lose_up, t) = (lose_replies.clone(), lose_requests.clone(), tasks.clone());
        let lost = requests_lost.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(upstream) = TcpStream::connect(server).await else {
                    continue;
                };
                let (cr, cw) = client.into_split();
                let (ur, uw) = upstream.into_split();
                let up = tokio::spawn(pipe(cr, uw, Some(lose_up.clone()), lost.clone()));
                let down = tokio::spawn(pipe(ur, cw, Some(lose.clone()), Arc::default()));
                t.lock().unwrap().extend([up, down]);
            }
        });
        Proxy {
            addr,
            lose_replies,
            lose_requests,
            requests_lost,
            tasks,
        }
    }

    pub fn url(&self) -> String {
        format!("ws://{}/v1/ws", self.addr)
    }

    /// Ends every forwarded connection.
    pub fn cut(&self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

/// Polls `f` until it returns `Some`, for at most 5 s.
pub async fn eventually<T, F, Fut>(mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
