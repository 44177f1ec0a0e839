//! Shared by the replication tests: `nats-server` processes (one, or a
//! three-node JetStream cluster) on loopback with temporary stores, Keel
//! nodes (`keel serve` / `keel follow`) as real processes, and clients
//! pipelining orders over WebSocket.
//!
//! Where `nats-server` is missing the tests print how to install it and
//! skip, except under CI (`CI=true`), where `.ci/run` installs it and a
//! missing server fails the test.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

pub fn keel() -> &'static str {
    env!("CARGO_BIN_EXE_keel")
}

/// The `nats-server` binary, or `None` (skip) outside CI.
pub fn nats_server() -> Option<PathBuf> {
    for p in [
        "/usr/sbin/nats-server",
        "/usr/bin/nats-server",
        "/usr/local/bin/nats-server",
    ] {
        if Path::new(p).exists() {
            return Some(p.into());
        }
    }
    if let Ok(out) = Command::new("which").arg("nats-server").output() {
        if out.status.success() {
            return Some(String::from_utf8_lossy(&out.stdout).trim().into());
        }
    }
    let how = "nats-server is not installed: apt-get install -y nats-server (Debian's package, 2.9 with JetStream)";
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{how}; under CI the replication tests must run");
    }
    eprintln!("SKIPPED: {how}");
    None
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One `nats-server` process; killed on drop.
pub struct NatsNode {
    pub port: u16,
    pub cluster_port: u16,
    pub store: PathBuf,
    name: String,
    routes: String,
    bin: PathBuf,
    child: Option<Child>,
}

impl NatsNode {
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn start(&mut self) {
        let mut cmd = Command::new(&self.bin);
        cmd.args(["-js", "-a", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-sd", &self.store.display().to_string(), "-n", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if !self.routes.is_empty() {
            cmd.args([
                "--cluster_name",
                "keel-test",
                "--cluster",
                &format!("nats://127.0.0.1:{}", self.cluster_port),
                "--routes",
                &self.routes,
            ]);
        }
        self.child = Some(cmd.spawn().expect("start nats-server"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nats-server on {} did not start",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for NatsNode {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One server (`n = 1`) or a cluster of `n`, started.
pub fn nats(bin: &Path, dir: &Path, n: usize) -> Vec<NatsNode> {
    let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
    let mut nodes: Vec<NatsNode> = (0..n)
        .map(|i| {
            let routes = if n == 1 {
                String::new()
            } else {
                ports
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, (_, c))| format!("nats://127.0.0.1:{c}"))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            NatsNode {
                port: ports[i].0,
                cluster_port: ports[i].1,
                store: dir.join(format!("nats-{i}")),
                name: format!("n{i}"),
                routes,
                bin: bin.to_owned(),
                child: None,
            }
        })
        .collect();
    for node in &mut nodes {
        node.start();
    }
    nodes
}

/// A Keel node's files and process.
pub struct Node {
    pub name: String,
    pub dir: PathBuf,
    pub config: PathBuf,
    child: Option<Child>,
    /// Set from its stdout when it serves: its WebSocket URL.
    url: Arc<Mutex<Option<String>>>,
    pub log: PathBuf,
}

impl Node {
    /// Writes the node's config: configs/serve.toml with this node's
    /// journal, an ephemeral port, the shared keys file, and
    /// `[replication]`.
    pub fn new(root: &Path, name: &str, servers: &[String], extra: &str) -> Node {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/serve.toml"),
        )
        .unwrap();
        let mut text = text
            .replace(
                "dir = \"keel-data/serve-journal\"",
                &format!("dir = \"{}\"", dir.join("journal").display()),
            )
            .replace("listen = \"127.0.0.1:7070\"", "listen = \"127.0.0.1:0\"")
            .replace(
                "keys_file = \"keel-data/keys.toml\"",
                &format!("keys_file = \"{}\"", root.join("keys.toml").display()),
            )
            .replace("rate_per_s = 5000", "rate_per_s = 1000000")
            .replace("rate_burst = 500", "rate_burst = 100000")
            .replace("prefault = true", "prefault = false")
            .replace("max_orders = 1048576", "max_orders = 65536")
            .replace("max_accounts = 1048576", "max_accounts = 1024")
            .replace("durability = \"batch\"", "durability = \"none\"");
        assert!(text.contains("127.0.0.1:0") && text.contains(&*dir.to_string_lossy()));
        let servers: Vec<String> = servers.iter().map(|s| format!("{s:?}")).collect();
        text.push_str(&format!(
            "\n[replication]\nservers = [{}]\nnode = \"{name}\"\nlease_ms = 1000\nack_timeout_ms = 2000\nreport_interval_ms = 0\n{extra}\n",
            servers.join(", ")
        ));
        let config = dir.join("node.toml");
        std::fs::write(&config, text).unwrap();
        Node {
            name: name.into(),
            log: dir.join("stderr.log"),
            dir,
            config,
            child: None,
            url: Arc::default(),
        }
    }

    pub fn journal(&self) -> PathBuf {
        self.dir.join("journal")
    }

    /// Starts `keel <verb>` (serve, follow, promote).
    pub fn spawn(&mut self, verb: &str) {
        assert!(self.child.is_none(), "{} already runs", self.name);
        *self.url.lock().unwrap() = None;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut child = Command::new(keel())
            .args([verb, "--config", &self.config.display().to_string()])
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let url = self.url.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some((_, u)) = line.split_once("listening on ") {
                    *url.lock().unwrap() = Some(u.trim().to_owned());
                }
            }
        });
        self.child = Some(child);
    }

    /// Its URL once it serves (leads).
    pub fn url(&self) -> Option<String> {
        self.url.lock().unwrap().clone()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn signal(&self, sig: libc::c_int) {
        if let Some(pid) = self.pid() {
            // SAFETY: kill(2) on our own child's pid; no memory involved.
            unsafe { libc::kill(pid as i32, sig) };
        }
    }

    /// Waits for the process to end; its exit code (None: a signal).
    pub fn wait(&mut self) -> Option<i32> {
        let mut c = self.child.take().expect("running");
        c.wait().unwrap().code()
    }

    /// Whether the process has ended (reaping it).
    pub fn exited(&mut self) -> Option<Option<i32>> {
        let c = self.child.as_mut()?;
        match c.try_wait().unwrap() {
            Some(status) => {
                self.child = None;
                Some(status.code())
            }
            None => None,
        }
    }

    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until its stderr holds `text` (`count` times in all).
    pub fn wait_log(&self, text: &str, count: usize, within: Duration) {
        let deadline = Instant::now() + within;
        while self.stderr().matches(text).count() < count {
            assert!(
                Instant::now() < deadline,
                "{} never logged {text:?} ({count}x):\n{}",
                self.name,
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn add_key(config: &Path, account: u32, operator: bool) -> String {
    let mut args = vec![
        "keys".to_owned(),
        "add".into(),
        "--config".into(),
        config.display().to_string(),
        "--account".into(),
        account.to_string(),
    ];
    if operator {
        args.push("--operator".into());
    }
    let out = Command::new(keel()).args(&args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    text.split_whitespace().last().unwrap().to_owned()
}

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// `None` if the server is gone.
pub async fn try_connect(url: &str, key: &str) -> Option<Ws> {
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Authorization", format!("Bearer {key}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.ok()?;
    let welcome = ws.next().await?.ok()?;
    // A close frame (or nothing) first: the server died while the session
    // was being set up. Any text must be the welcome.
    let Message::Text(text) = welcome else {
        return None;
    };
    assert!(text.as_str().contains("welcome"), "{text}");
    Some(ws)
}

/// Sends `msgs` pipelined, 500 at a time, collecting answers by request id
/// until the connection drops or every one is answered (or `quiet` passes
/// with no frame).
pub async fn pipeline(
    ws: &mut Ws,
    msgs: &[(u64, Value)],
    answers: &mut BTreeMap<u64, Value>,
    quiet: Duration,
) {
    for chunk in msgs.chunks(500) {
        if !window(ws, chunk, answers, quiet).await {
            return;
        }
    }
}

async fn window(
    ws: &mut Ws,
    msgs: &[(u64, Value)],
    answers: &mut BTreeMap<u64, Value>,
    quiet: Duration,
) -> bool {
    let (mut sink, mut stream) = ws.split();
    let want: BTreeSet<u64> = msgs.iter().map(|(r, _)| *r).collect();
    let send = async {
        for (_, m) in msgs {
            if sink
                .send(Message::Text(m.to_string().into()))
                .await
                .is_err()
            {
                break;
            }
        }
    };
    let recv = async {
        while let Ok(Some(Ok(frame))) = tokio::time::timeout(quiet, stream.next()).await {
            let Message::Text(t) = frame else { continue };
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            match v["type"].as_str() {
                Some("answer") => {
                    let rid = v["request_id"].as_u64().unwrap();
                    answers.insert(rid, v);
                    if want.iter().all(|r| answers.contains_key(r)) {
                        return true;
                    }
                }
                Some("error") => panic!("the gateway refused {v}"),
                _ => {}
            }
        }
        false
    };
    let ((), complete) = tokio::join!(send, recv);
    complete
}

/// Every record of a journal: (seq, payload, batch chain).
pub fn records(dir: &Path) -> Vec<(u64, Vec<u8>, [u8; 32])> {
    match keel_engine::keel_journal::Journal::reader(dir, 1) {
        Ok(r) => r
            .map(|r| r.unwrap())
            .map(|r| (r.seq, r.payload, r.batch_chain))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// (account, request id) → [(seq, accepted?)] of a journal.
pub fn executed(dir: &Path) -> BTreeMap<(u64, u64), Vec<(u64, bool)>> {
    let mut out: BTreeMap<(u64, u64), Vec<(u64, bool)>> = BTreeMap::new();
    let mut events = Vec::new();
    for (seq, payload, _) in records(dir) {
        let (_, cmd) = keel_engine::record::decode_into(&payload, &mut events).unwrap();
        let accepted = events
            .iter()
            .any(|e| matches!(e, keel_engine::model::Event::Accepted { .. }));
        out.entry((cmd.account.into(), cmd.request_id))
            .or_default()
            .push((seq, accepted));
    }
    out
}

/// A resting or crossing limit order.
pub fn order(account: u32, rid: u64) -> Value {
    let side = if (account + rid as u32).is_multiple_of(2) {
        "buy"
    } else {
        "sell"
    };
    let price = 30_000 + (rid % 7) as i64 - 3;
    json!({"type":"place_order","request_id":rid,"symbol":"BTC-USD","side":side,
           "order_type":"limit","price":format!("{price}.00"),"qty":"0.0010","tif":"gtc","tag":rid})
}

/// Opens and funds `accounts` accounts through the node at `url`.
pub fn set_up_accounts(rt: &tokio::runtime::Runtime, url: &str, operator: &str, keys: &[String]) {
    rt.block_on(async {
        let mut op = try_connect(url, operator).await.expect("leader up");
        for (i, key) in keys.iter().enumerate() {
            let account = i as u64 + 1;
            let mut ws = try_connect(url, key).await.expect("leader up");
            let mut answers = BTreeMap::new();
            let open = [(1, json!({"type":"open_account","request_id":1}))];
            pipeline(&mut ws, &open, &mut answers, Duration::from_secs(20)).await;
            assert_eq!(answers.len(), 1);
            let deposits = [
                (2, json!({"type":"deposit","account":account,"request_id":2,"asset":"USD","amount":"100000000"})),
                (3, json!({"type":"deposit","account":account,"request_id":3,"asset":"BTC","amount":"1000"})),
            ];
            let mut funded = BTreeMap::new();
            pipeline(&mut op, &deposits, &mut funded, Duration::from_secs(20)).await;
            assert_eq!(funded.len(), 2);
        }
    });
}

/// Digest of the state the node's journal rebuilds to at `seq` (limits
/// from its config).
pub fn digest_at(node: &Node, seq: u64) -> String {
    let (config, _) =
        keel_edge::load_config_with_extras(&node.config, &["gateway", "replication"]).unwrap();
    let (state, ..) =
        keel_engine::runtime::recovery::rebuild(&node.journal(), config.limits(), Some(seq))
            .expect("rebuild");
    state.digest().to_string()
}

/// `GET path` on the server behind a `ws://host:port/...` URL; the body.
pub fn http_get(ws_url: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let host = ws_url
        .strip_prefix("ws://")
        .and_then(|r| r.split('/').next())
        .expect("ws://host:port/...");
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_owned()
}
