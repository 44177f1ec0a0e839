//! `keel serve` killed with SIGKILL while clients trade: after each restart
//! every answer a client received is in the journal (same sequence, account
//! and request id), and clients that resend their unanswered requests
//! execute each at most once (the resend of one already executed is a
//! `duplicate`). `KEEL_SERVE_CRASH_KILLS` sets the kills (default 3).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const ACCOUNTS: u32 = 4;

fn keel() -> &'static str {
    env!("CARGO_BIN_EXE_keel")
}

fn write_config(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/serve.toml"),
    )
    .unwrap();
    let text = text
        .replace(
            "dir = \"keel-data/serve-journal\"",
            &format!("dir = \"{}\"", dir.join("journal").display()),
        )
        .replace("listen = \"127.0.0.1:7070\"", "listen = \"127.0.0.1:0\"")
        .replace(
            "keys_file = \"keel-data/keys.toml\"",
            &format!("keys_file = \"{}\"", dir.join("keys.toml").display()),
        )
        .replace("rate_per_s = 5000", "rate_per_s = 1000000")
        .replace("rate_burst = 500", "rate_burst = 100000")
        .replace("prefault = true", "prefault = false")
        .replace("max_orders = 1048576", "max_orders = 65536")
        .replace("max_accounts = 1048576", "max_accounts = 1024");
    assert!(text.contains("127.0.0.1:0") && text.contains(&*dir.to_string_lossy()));
    let path = dir.join("serve.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn add_key(config: &Path, account: u32, operator: bool) -> String {
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

/// A `keel serve` child, killed if the test ends early (a panic leaves no
/// server running).
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `keel serve`; returns the child and its WebSocket URL.
fn start(config: &Path) -> (Served, String) {
    let mut child = Command::new(keel())
        .args(["serve", "--config", &config.display().to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("keel serve: listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    (Served(child), url)
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str, key: &str) -> Ws {
    try_connect(url, key).await.expect("the server is up")
}

/// `None` if the server died before the session was set up.
async fn try_connect(url: &str, key: &str) -> Option<Ws> {
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

/// Sends `msgs` pipelined, 1,000 at a time (well under the session's
/// in-flight limit), and collects answers (by request id) until the
/// connection drops or every one is answered.
async fn pipeline(ws: &mut Ws, msgs: &[(u64, Value)], answers: &mut BTreeMap<u64, Value>) {
    for chunk in msgs.chunks(1_000) {
        if !window(ws, chunk, answers).await {
            return;
        }
    }
}

/// One window of [`pipeline`]; false if the connection dropped.
async fn window(ws: &mut Ws, msgs: &[(u64, Value)], answers: &mut BTreeMap<u64, Value>) -> bool {
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
        while let Ok(Some(Ok(frame))) =
            tokio::time::timeout(Duration::from_secs(10), stream.next()).await
        {
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

/// Every journal record: (account, request id) → [(seq, accepted?)].
fn journal(dir: &Path) -> BTreeMap<(u64, u64), Vec<(u64, bool)>> {
    let mut reader = keel_engine::keel_journal::Journal::reader(&dir.join("journal"), 1).unwrap();
    let mut out: BTreeMap<(u64, u64), Vec<(u64, bool)>> = BTreeMap::new();
    let mut events = Vec::new();
    while let Some(r) = reader.try_next_ref().unwrap() {
        let (_, cmd) = keel_engine::record::decode_into(r.payload, &mut events).unwrap();
        let accepted = events
            .iter()
            .any(|e| matches!(e, keel_engine::model::Event::Accepted { .. }));
        out.entry((cmd.account.into(), cmd.request_id))
            .or_default()
            .push((r.seq, accepted));
    }
    out
}

fn order(account: u32, rid: u64) -> Value {
    let side = if (account + rid as u32).is_multiple_of(2) {
        "buy"
    } else {
        "sell"
    };
    let price = 30_000 + (rid % 7) as i64 - 3;
    json!({"type":"place_order","request_id":rid,"symbol":"BTC-USD","side":side,
           "order_type":"limit","price":format!("{price}.00"),"qty":"0.0010","tif":"gtc","tag":rid})
}

#[test]
fn answers_survive_sigkill_and_resends_execute_at_most_once() {
    let kills: usize = std::env::var("KEEL_SERVE_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let operator = add_key(&config, 0, true);
    let keys: Vec<String> = (1..=ACCOUNTS).map(|a| add_key(&config, a, false)).collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Set-up, answered in full before the first kill.
    let (mut child, mut url) = start(&config);
    rt.block_on(async {
        let mut op = connect(&url, &operator).await;
        for (i, key) in keys.iter().enumerate() {
            let account = i as u64 + 1;
            let mut ws = connect(&url, key).await;
            let mut answers = BTreeMap::new();
            pipeline(&mut ws, &[(1, json!({"type":"open_account","request_id":1}))], &mut answers).await;
            let mut funded = BTreeMap::new();
            let deposits = [
                (2, json!({"type":"deposit","account":account,"request_id":2,"asset":"USD","amount":"100000000"})),
                (3, json!({"type":"deposit","account":account,"request_id":3,"asset":"BTC","amount":"1000"})),
            ];
            pipeline(&mut op, &deposits, &mut funded).await;
            assert_eq!(funded.len(), 2);
        }
    });
    let mut next_rid = vec![4u64; ACCOUNTS as usize];
    let mut received: BTreeSet<((u64, u64), u64)> = BTreeSet::new();
    let mut unanswered: Vec<Vec<u64>> = vec![Vec::new(); ACCOUNTS as usize];
    let mut duplicates = 0;
    let mut cut_short = 0;
    for kill in 0..=kills {
        // Each account resends what had no answer, then sends new orders.
        let batches: Vec<Vec<(u64, Value)>> = (0..ACCOUNTS as usize)
            .map(|i| {
                let account = i as u32 + 1;
                let mut msgs: Vec<(u64, Value)> = unanswered[i]
                    .iter()
                    .map(|&r| (r, order(account, r)))
                    .collect();
                let fresh = if kill == kills { 50 } else { 2_000 };
                for _ in 0..fresh {
                    msgs.push((next_rid[i], order(account, next_rid[i])));
                    next_rid[i] += 1;
                }
                msgs
            })
            .collect();
        let killer = (kill < kills).then(|| {
            let pid = child.0.id();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(40 + 37 * kill as u64));
                // SAFETY: kill(2) on our own child's pid; no memory involved.
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            })
        });
        let answers: Vec<BTreeMap<u64, Value>> = rt.block_on(async {
            let mut tasks = Vec::new();
            for (i, msgs) in batches.iter().cloned().enumerate() {
                let url = url.clone();
                let key = keys[i].clone();
                tasks.push(tokio::spawn(async move {
                    let mut answers = BTreeMap::new();
                    if let Some(mut ws) = try_connect(&url, &key).await {
                        pipeline(&mut ws, &msgs, &mut answers).await;
                    }
                    answers
                }));
            }
            let mut all = Vec::new();
            for t in tasks {
                all.push(t.await.unwrap());
            }
            all
        });
        if let Some(k) = killer {
            k.join().unwrap();
        } else {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(child.0.id() as i32, libc::SIGTERM) };
        }
        let status = child.0.wait().unwrap();
        assert!(kill < kills || status.success(), "clean stop: {status:?}");
        let journaled = journal(dir.path());
        for (i, msgs) in batches.iter().enumerate() {
            let account = i as u64 + 1;
            unanswered[i].clear();
            for (rid, _) in msgs {
                match answers[i].get(rid) {
                    Some(answer) => {
                        let seq = answer["seq"].as_u64().unwrap();
                        let records = journaled
                            .get(&(account, *rid))
                            .map(Vec::as_slice)
                            .unwrap_or(&[]);
                        assert!(
                            records.iter().any(|(s, _)| *s == seq),
                            "answer {answer} (account {account}) is in the journal: {records:?}"
                        );
                        if answer["events"][0]["reason"] == "duplicate" {
                            duplicates += 1;
                        }
                        received.insert(((account, *rid), seq));
                    }
                    None => {
                        unanswered[i].push(*rid);
                        cut_short += 1;
                    }
                }
            }
        }
        for ((account, rid), records) in &journaled {
            let accepted = records.iter().filter(|(_, a)| *a).count();
            assert!(
                accepted <= 1,
                "account {account} request {rid} executed {accepted} times: {records:?}"
            );
        }
        if kill < kills {
            // The port (listen = 127.0.0.1:0) is new after each restart.
            (child, url) = start(&config);
        }
    }
    assert!(
        cut_short > 0,
        "the kills fell while requests were in flight (else this test checks nothing)"
    );
    // Restarts cut no answered record: every answer of every round is in the
    // final journal.
    let last = journal(dir.path());
    for ((account, rid), seq) in &received {
        assert!(
            last.get(&(*account, *rid))
                .is_some_and(|r| r.iter().any(|(s, _)| s == seq)),
            "answered record seq {seq} (account {account}, request {rid}) survived every restart"
        );
    }
    let total: usize = unanswered.iter().map(Vec::len).sum();
    assert_eq!(total, 0, "after the clean run every request was answered");
    eprintln!(
        "{kills} kills: {} answers checked against the journal, {cut_short} requests left unanswered by a kill and resent, {duplicates} resends answered duplicate",
        received.len()
    );
}
