//! A real server on loopback (in this process), keys, and raw WebSocket
//! connections for the tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use keel_gateway::{add_key, GatewayConfig, Server};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The engine config the tests serve: two symbols, no fsync, its own journal.
pub fn engine_toml(journal: &Path) -> String {
    format!(
        r#"
[engine]
allow_unpinned = true
prefault = false
clock = "system"
[journal]
dir = "{}"
durability = "none"
segment_size_mib = 8
[limits]
max_accounts = 1024
max_orders = 65536
max_open_orders_per_account = 4096
max_assets = 16
max_symbols = 16
[outputs]
slow_subscriber = "block"
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

/// A test server with an operator key (account 0) and keys for accounts 1
/// and 2.
pub struct TestServer {
    pub dir: tempfile::TempDir,
    pub server: Option<Server>,
    pub operator: String,
    pub alice: String,
    pub bob: String,
    pub journal: PathBuf,
}

impl TestServer {
    pub fn start(tune: impl FnOnce(&mut GatewayConfig)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("journal");
        let keys = dir.path().join("keys.toml");
        let (_, operator) = add_key(&keys, 0, true).unwrap();
        let (_, alice) = add_key(&keys, 1, false).unwrap();
        let (_, bob) = add_key(&keys, 2, false).unwrap();
        let mut gateway = GatewayConfig {
            listen: "127.0.0.1:0".into(),
            keys_file: keys,
            ..GatewayConfig::default()
        };
        tune(&mut gateway);
        let config = keel_edge::config_from_toml(&engine_toml(&journal), "test.toml").unwrap();
        let server = Server::start(&config, gateway).unwrap();
        TestServer {
            dir,
            server: Some(server),
            operator,
            alice,
            bob,
            journal,
        }
    }

    pub fn url(&self) -> String {
        format!("ws://{}/v1/ws", self.server.as_ref().unwrap().local_addr())
    }

    pub fn telemetry(&self) -> Value {
        self.server.as_ref().unwrap().telemetry()
    }

    /// Stops the server and returns every journal record as (command name,
    /// account, request id, events as the edge prints them).
    pub fn stop_and_read_journal(&mut self) -> Vec<Value> {
        if let Some(server) = self.server.take() {
            server.shutdown().unwrap();
        }
        read_journal(&self.journal)
    }
}

/// Every record of the journal in `dir`, as `keel run` output lines.
pub fn read_journal(dir: &Path) -> Vec<Value> {
    let mut reader = keel_engine::keel_journal::Journal::reader(dir, 1).unwrap();
    let names = keel_engine::Registry::default();
    let mut out = Vec::new();
    let mut events = Vec::new();
    while let Some(r) = reader.try_next_ref().unwrap() {
        let (ts, cmd) = keel_engine::record::decode_into(r.payload, &mut events).unwrap();
        let mut line = keel_edge::output_json(&names, r.seq, ts, &cmd, &events);
        // Names are not needed by the tests; ids are enough.
        line["kind"] = json!(cmd.kind.name());
        out.push(line);
    }
    out
}

/// Connects with `key` (or none); `Err(status)` if the upgrade was refused.
pub async fn connect(url: &str, key: Option<&str>) -> Result<Ws, u16> {
    let mut request = url.into_client_request().unwrap();
    if let Some(key) = key {
        request
            .headers_mut()
            .insert("Authorization", format!("Bearer {key}").parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(response.status().as_u16())
        }
        Err(e) => panic!("connect failed: {e}"),
    }
}

/// Connects and reads the `welcome`.
pub async fn session(url: &str, key: &str) -> Ws {
    let mut ws = connect(url, Some(key)).await.expect("key accepted");
    let welcome = next(&mut ws).await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    ws
}

pub async fn send(ws: &mut Ws, msg: Value) {
    ws.send(Message::Text(msg.to_string().into()))
        .await
        .unwrap();
}

/// The next text message, as JSON (panics after 10 s).
pub async fn next(ws: &mut Ws) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message within 10 s")
            .expect("the stream is open")
            .expect("no stream error");
        match frame {
            Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// Messages until one with `type` = `kind` (and tag, if given); returns it
/// and what came before.
pub async fn until(ws: &mut Ws, kind: &str, tag: Option<&Value>) -> (Value, Vec<Value>) {
    let mut before = Vec::new();
    loop {
        let m = next(ws).await;
        if m["type"] == kind && tag.is_none_or(|t| &m["tag"] == t) {
            return (m, before);
        }
        before.push(m);
    }
}

/// Sends `msg` with `tag` and returns the answer or error for it.
pub async fn call(ws: &mut Ws, mut msg: Value, tag: &str) -> Value {
    msg["tag"] = json!(tag);
    send(ws, msg).await;
    loop {
        let m = next(ws).await;
        if m["tag"] == json!(tag) {
            return m;
        }
    }
}

/// The event types of an answer or update.
pub fn event_types(m: &Value) -> Vec<String> {
    m["events"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["type"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Opens accounts 1 and 2 and funds them through the operator session.
pub async fn open_and_fund(url: &str, t: &TestServer) -> (Ws, Ws) {
    let mut alice = session(url, &t.alice).await;
    let mut bob = session(url, &t.bob).await;
    let mut op = session(url, &t.operator).await;
    for (ws, tag) in [(&mut alice, "a"), (&mut bob, "b")] {
        let a = call(ws, json!({"type":"open_account","request_id":1}), tag).await;
        assert_eq!(a["type"], "answer", "{a}");
        assert_eq!(event_types(&a), ["account_opened", "accepted"]);
    }
    for (account, asset, amount) in [(1, "USD", "1000000"), (2, "BTC", "10")] {
        let a = call(
            &mut op,
            json!({"type":"deposit","account":account,"request_id":2,"asset":asset,"amount":amount}),
            "d",
        )
        .await;
        assert_eq!(event_types(&a), ["accepted", "deposited"], "{a}");
    }
    (alice, bob)
}
