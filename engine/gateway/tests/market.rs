//! Market data and account views over a real server: a subscriber that
//! follows a book's snapshot and deltas while two accounts trade ends with
//! exactly the book `GET /v1/book` and the read models rebuilt from the
//! journal (what `replay book` prints) show at the same sequence; trades,
//! BBO and account views agree too; bad subscriptions get typed errors; a
//! restarted server continues the numbering.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::SinkExt;
use serde_json::{json, Value};
use support::*;
use tokio_tungstenite::tungstenite::Message;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A client's book: price → [price, qty, orders], by side.
#[derive(Default, Debug, PartialEq)]
struct Book {
    bids: BTreeMap<String, Value>,
    asks: BTreeMap<String, Value>,
    update: u64,
}

/// What a careful client notices about a delta.
#[derive(Debug, PartialEq)]
enum Fault {
    /// `prev_update` is not the update held: a delta was missed.
    Gap { held: u64, prev: u64 },
    /// The checksum after applying differs: the book diverged.
    Diverged { sent: u64, own: u32 },
}

/// Prices as sortable keys (decimals with 2 places here).
fn key(price: &Value) -> String {
    let p: f64 = price.as_str().unwrap().parse().unwrap();
    format!("{:020.2}", p)
}

impl Book {
    fn from_snapshot(m: &Value) -> Book {
        let mut b = Book {
            update: m["update"].as_u64().unwrap(),
            ..Book::default()
        };
        for (side, map) in [("bids", &mut b.bids), ("asks", &mut b.asks)] {
            for l in m[side].as_array().unwrap() {
                map.insert(key(&l[0]), l.clone());
            }
        }
        b
    }

    fn apply(&mut self, d: &Value) {
        if let Err(e) = self.follow(d) {
            panic!("{e:?}: {d}");
        }
    }

    /// Applies a delta as a careful client does: refused (`Gap`) unless
    /// its `prev_update` is the update held; `Diverged` if the checksum of
    /// the book after it differs from the delta's (the delta is applied).
    fn follow(&mut self, d: &Value) -> Result<(), Fault> {
        let prev = d["prev_update"].as_u64().expect("prev_update");
        if prev != self.update {
            return Err(Fault::Gap {
                held: self.update,
                prev,
            });
        }
        for (side, map) in [("bids", &mut self.bids), ("asks", &mut self.asks)] {
            for l in d[side].as_array().expect("levels") {
                if l[1]
                    .as_str()
                    .unwrap()
                    .trim_start_matches(['0', '.'])
                    .is_empty()
                {
                    map.remove(&key(&l[0]));
                } else {
                    map.insert(key(&l[0]), l.clone());
                }
            }
        }
        self.update = d["update"].as_u64().expect("update");
        let (sent, own) = (d["checksum"].as_u64().expect("checksum"), self.checksum());
        if sent != u64::from(own) {
            return Err(Fault::Diverged { sent, own });
        }
        Ok(())
    }

    fn levels(&self) -> (Vec<Value>, Vec<Value>) {
        (
            self.bids.values().rev().cloned().collect(),
            self.asks.values().cloned().collect(),
        )
    }

    /// The documented checksum: top 10 asks then top 10 bids, price then
    /// qty, `.` and leading zeros removed, CRC32.
    fn checksum(&self) -> u32 {
        let (bids, asks) = self.levels();
        let mut text = String::new();
        for l in asks.iter().take(10).chain(bids.iter().take(10)) {
            for i in 0..2 {
                let digits: String = l[i]
                    .as_str()
                    .unwrap()
                    .chars()
                    .filter(|c| *c != '.')
                    .collect();
                text.push_str(digits.trim_start_matches('0'));
            }
        }
        crc32fast_hash(text.as_bytes())
    }
}

/// CRC32 (IEEE), bitwise: independent of the server's implementation.
fn crc32fast_hash(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

async fn market_session(url: &str) -> Ws {
    let url = url.replace("/v1/ws", "/v1/market");
    let mut ws = connect(&url, None).await.expect("public market data");
    let welcome = next(&mut ws).await;
    assert_eq!(welcome["type"], "welcome");
    assert_eq!(welcome["market_only"], true);
    ws
}

fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text[9..12].parse().unwrap();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (status, body)
}

#[test]
fn a_subscriber_following_deltas_holds_the_book_the_journal_shows() {
    let mut t = TestServer::start(|g| {
        g.rate_per_s = 1_000_000;
        g.rate_burst = 1_000_000;
    });
    let url = t.url();
    let addr = t.server.as_ref().unwrap().local_addr();
    let (book, trades) = rt().block_on(async {
        let (mut alice, mut bob) = open_and_fund(&url, &t).await;
        let mut md = market_session(&url).await;
        send(&mut md, json!({"type":"subscribe","channel":"book","symbol":"BTC-USD","tag":"b"})).await;
        let (snap, _) = until(&mut md, "book", Some(&json!("b"))).await;
        let mut book = Book::from_snapshot(&snap);
        send(&mut md, json!({"type":"subscribe","channel":"trades","symbol":"BTC-USD","tag":"t"})).await;
        let (tape, _) = until(&mut md, "trades", Some(&json!("t"))).await;
        assert_eq!(tape["trades"].as_array().unwrap().len(), 0);
        // A seeded stream of orders, cancels and crosses from both accounts.
        let mut x = 7u64;
        let mut rids = [3u64, 3u64];
        let mut orders: Vec<u64> = Vec::new();
        for i in 0..400u64 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let who = (x >> 33) % 2;
            let ws = if who == 0 { &mut alice } else { &mut bob };
            let rid = rids[who as usize];
            rids[who as usize] += 1;
            let msg = if (x >> 40).is_multiple_of(5) && !orders.is_empty() {
                json!({"type":"cancel_order","request_id":rid,"order":orders[(x >> 20) as usize % orders.len()]})
            } else {
                let side = if (x >> 45).is_multiple_of(2) { "buy" } else { "sell" };
                let price = format!("{}.00", 30_000 + (x >> 50) % 20);
                json!({"type":"place_order","request_id":rid,"symbol":"BTC-USD","side":side,
                       "order_type":"limit","price":price,"qty":format!("0.{:04}", 1 + (x >> 8) % 50),"tif":"gtc"})
            };
            let a = call(ws, msg, &format!("m{i}")).await;
            assert_eq!(a["type"], "answer", "{a}");
            if let Some(id) = a["events"].as_array().unwrap().iter().find_map(|e| e["order"].as_u64()) {
                orders.push(id);
            }
        }
        // The last command's seq: follow the feed until the book is there.
        let end = {
            let q = call(&mut alice, json!({"type":"query","request_id":rids[0] - 1}), "end").await;
            let q2 = call(&mut bob, json!({"type":"query","request_id":rids[1] - 1}), "end2").await;
            q["seq"].as_u64().unwrap().max(q2["seq"].as_u64().unwrap())
        };
        let mut trades = 0;
        let mut deltas = 0;
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let mut seen_seq = 0;
        while seen_seq < end {
            assert!(std::time::Instant::now() < deadline);
            let m = next(&mut md).await;
            match m["type"].as_str().unwrap() {
                "book_delta" => {
                    book.apply(&m);
                    deltas += 1;
                    seen_seq = seen_seq.max(m["update"].as_u64().unwrap());
                }
                "trade" => {
                    trades += 1;
                    seen_seq = seen_seq.max(m["seq"].as_u64().unwrap());
                }
                other => panic!("unexpected {other}: {m}"),
            }
            if seen_seq < end {
                // Records that change no book (rejections) send nothing:
                // ask the HTTP snapshot how far the feed is.
                let (_, body) = http_get(addr, "/v1/book?symbol=BTC-USD");
                let v: Value = serde_json::from_str(&body).unwrap();
                if v["seq"].as_u64().unwrap() >= end && v["update"].as_u64().unwrap() == book.update {
                    break;
                }
            }
        }
        assert!(deltas > 100 && trades > 10, "{deltas} deltas, {trades} trades");
        // The HTTP snapshot agrees with the followed book.
        let (status, body) = http_get(addr, "/v1/book?symbol=BTC-USD");
        assert_eq!(status, 200);
        let http: Value = serde_json::from_str(&body).unwrap();
        let (bids, asks) = book.levels();
        assert_eq!(http["bids"].as_array().unwrap(), &bids);
        assert_eq!(http["asks"].as_array().unwrap(), &asks);
        assert_eq!(http["update"].as_u64().unwrap(), book.update);
        assert_eq!(http["checksum"].as_u64().unwrap(), u64::from(book.checksum()));
        (book, trades)
    });
    // The journal, rebuilt by the read models from genesis (`replay book`).
    t.stop_and_read_journal();
    let limits = keel_edge::config_from_toml(&engine_toml(&t.journal), "t.toml")
        .unwrap()
        .limits();
    let mut models =
        keel_readmodel::ReadModels::new(keel_engine::State::new(limits), 0, Default::default());
    let mut reader = keel_engine::keel_journal::Journal::reader(&t.journal, 1).unwrap();
    let mut events = Vec::new();
    let mut journal_trades = 0;
    while let Some(r) = reader.try_next_ref().unwrap() {
        let (ts, cmd) = keel_engine::record::decode_into(r.payload, &mut events).unwrap();
        journal_trades += events
            .iter()
            .filter(|e| matches!(e, keel_engine::model::Event::TradeExecuted(_)))
            .count();
        models
            .apply(r.seq, ts, &cmd, &events, &mut Vec::new())
            .unwrap();
    }
    let symbol = models.names().symbol("BTC-USD").unwrap();
    let rebuilt =
        keel_readmodel::json::book(models.names(), &models.depth(symbol, usize::MAX).unwrap());
    let (bids, asks) = book.levels();
    assert_eq!(rebuilt["bids"].as_array().unwrap(), &bids);
    assert_eq!(rebuilt["asks"].as_array().unwrap(), &asks);
    assert_eq!(rebuilt["update"].as_u64().unwrap(), book.update);
    assert_eq!(journal_trades, trades, "every trade was on the tape");
}

#[test]
fn bad_subscriptions_get_typed_errors_and_market_sessions_take_no_commands() {
    let t = TestServer::start(|g| g.max_subscriptions_per_session = 2);
    let url = t.url();
    let addr = t.server.as_ref().unwrap().local_addr();
    rt().block_on(async {
        let mut md = market_session(&url).await;
        for (msg, code) in [
            (
                json!({"type":"subscribe","channel":"book","symbol":"NOPE"}),
                "bad_subscription",
            ),
            (
                json!({"type":"subscribe","channel":"gossip","symbol":"BTC-USD"}),
                "bad_subscription",
            ),
            (
                json!({"type":"subscribe","channel":"book","symbol":"BTC-USD","depth":0}),
                "bad_subscription",
            ),
            (
                json!({"type":"subscribe","channel":"book","symbol":"BTC-USD","depth":100000}),
                "bad_subscription",
            ),
            (
                json!({"type":"subscribe","channel":"candles","symbol":"BTC-USD","interval":"5m"}),
                "bad_subscription",
            ),
            (
                json!({"type":"subscribe","channel":"account"}),
                "not_authenticated",
            ),
            (
                json!({"type":"open_account","request_id":1}),
                "not_authenticated",
            ),
            (
                json!({"type":"unsubscribe","channel":"bbo","symbol":"BTC-USD"}),
                "bad_subscription",
            ),
        ] {
            let e = call(&mut md, msg.clone(), "x").await;
            assert_eq!(e["type"], "error", "{msg} -> {e}");
            assert_eq!(e["code"], code, "{msg} -> {e}");
        }
        let ok1 = call(
            &mut md,
            json!({"type":"subscribe","channel":"bbo","symbol":"BTC-USD"}),
            "1",
        )
        .await;
        assert_eq!(ok1["type"], "bbo");
        let ok2 = call(
            &mut md,
            json!({"type":"subscribe","channel":"candles","symbol":"BTC-USD","interval":"1s"}),
            "2",
        )
        .await;
        assert_eq!(ok2["type"], "candles");
        let again = call(
            &mut md,
            json!({"type":"subscribe","channel":"bbo","symbol":"BTC-USD"}),
            "3",
        )
        .await;
        assert_eq!(again["code"], "bad_subscription", "{again}");
        let over = call(
            &mut md,
            json!({"type":"subscribe","channel":"trades","symbol":"BTC-USD"}),
            "4",
        )
        .await;
        assert_eq!(over["code"], "too_many_subscriptions", "{over}");
        let off = call(
            &mut md,
            json!({"type":"unsubscribe","channel":"bbo","symbol":"BTC-USD"}),
            "5",
        )
        .await;
        assert_eq!(off["type"], "unsubscribed");
        let now = call(
            &mut md,
            json!({"type":"subscribe","channel":"trades","symbol":"BTC-USD"}),
            "6",
        )
        .await;
        assert_eq!(now["type"], "trades");
    });
    assert_eq!(http_get(addr, "/v1/book?symbol=NOPE").0, 404);
    assert_eq!(http_get(addr, "/v1/book?symbol=BTC-USD&depth=0").0, 400);
    assert_eq!(http_get(addr, "/v1/book?symbol=BTC-USD&color=red").0, 400);
    assert_eq!(
        http_get(addr, "/v1/candles?symbol=BTC-USD&interval=1s").0,
        200
    );
    let stats: Value = serde_json::from_str(&http_get(addr, "/v1/stats").1).unwrap();
    assert!(
        stats["errors"]["bad_subscription"].as_u64().unwrap() >= 6,
        "{stats}"
    );
}

#[test]
fn an_account_view_follows_the_account_and_a_restart_keeps_the_numbering() {
    let mut t = TestServer::start(|_| {});
    let url = t.url();
    let (update_before, view_before) = rt().block_on(async {
        let (mut alice, _bob) = open_and_fund(&url, &t).await;
        let view = call(&mut alice, json!({"type":"subscribe","channel":"account"}), "acc").await;
        assert_eq!(view["type"], "account", "{view}");
        assert_eq!(view["account"], 1);
        // The answer (router) and the account update (feed thread) come
        // on two paths: either may be first.
        send(
            &mut alice,
            json!({"type":"place_order","request_id":3,"symbol":"BTC-USD","side":"buy","order_type":"limit","price":"100.00","qty":"0.0100","tif":"gtc","tag":"p"}),
        )
        .await;
        let (mut answer, mut changed) = (None, None);
        while answer.is_none() || changed.is_none() {
            let m = next(&mut alice).await;
            match m["type"].as_str().unwrap() {
                "answer" => answer = Some(m),
                // The feed may still be catching up with the deposits.
                "account" if !m["orders"].as_array().unwrap().is_empty() => changed = Some(m),
                _ => {}
            }
        }
        assert_eq!(answer.unwrap()["tag"], "p");
        let changed = changed.unwrap();
        assert_eq!(changed["orders"].as_array().unwrap().len(), 1, "{changed}");
        let usd = changed["balances"].as_array().unwrap().iter().find(|b| b["asset"] == "USD").unwrap().clone();
        assert_eq!(usd["held"], "1.000500", "hold of 100.00 × 0.01 plus the taker fee");
        let mut md = market_session(&url).await;
        let book = call(&mut md, json!({"type":"subscribe","channel":"book","symbol":"BTC-USD"}), "b").await;
        (book["update"].as_u64().unwrap(), changed)
    });
    // Restart on the same journal: the numbering and the view continue.
    let journal = t.journal.clone();
    let keys = t.dir.path().join("keys.toml");
    drop(t.server.take().map(|s| s.shutdown().unwrap()));
    let config = keel_edge::config_from_toml(&engine_toml(&journal), "t.toml").unwrap();
    let server = keel_gateway::Server::start(
        &config,
        keel_gateway::GatewayConfig {
            listen: "127.0.0.1:0".into(),
            keys_file: keys,
            ..Default::default()
        },
    )
    .unwrap();
    let url = format!("ws://{}/v1/ws", server.local_addr());
    rt().block_on(async {
        let mut md = market_session(&url).await;
        let book = call(
            &mut md,
            json!({"type":"subscribe","channel":"book","symbol":"BTC-USD"}),
            "b",
        )
        .await;
        assert_eq!(
            book["update"].as_u64().unwrap(),
            update_before,
            "the book's update number survives a restart"
        );
        assert_eq!(book["bids"].as_array().unwrap().len(), 1);
        let mut alice = session(&url, &t.alice).await;
        let view = call(
            &mut alice,
            json!({"type":"subscribe","channel":"account"}),
            "acc",
        )
        .await;
        assert_eq!(view["balances"], view_before["balances"]);
        assert_eq!(view["orders"], view_before["orders"]);
        // The view is the state `replay state --account 1` rebuilds at the
        // view's sequence (the same recovery code, read-only, beside the
        // running server).
        let at = view["seq"].as_u64().unwrap();
        let limits = keel_edge::config_from_toml(&engine_toml(&journal), "t.toml")
            .unwrap()
            .limits();
        let (state, ..) =
            keel_engine::runtime::recovery::rebuild(&journal, limits, Some(at)).unwrap();
        let names = keel_engine::Registry::from_state(&state);
        let want_balances: Vec<Value> = (0..state.assets().len() as u32)
            .filter_map(|asset| {
                let b = state.balance(1, asset)?;
                (b.available != 0 || b.held != 0).then(|| {
                    json!({"asset": names.asset_name(asset),
                           "available": names.format_amount(asset, b.available),
                           "held": names.format_amount(asset, b.held)})
                })
            })
            .collect();
        assert_eq!(view["balances"].as_array().unwrap(), &want_balances);
        let want_orders: Vec<(u64, String)> = state
            .account_orders(1)
            .map(|o| (o.id, names.format_qty(o.symbol, o.remaining)))
            .collect();
        let got_orders: Vec<(u64, String)> = view["orders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                (
                    o["order"].as_u64().unwrap(),
                    o["remaining"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(got_orders, want_orders);
        let mut bob = session(&url, &t.bob).await;
        let e = call(
            &mut bob,
            json!({"type":"subscribe","channel":"account","account":1}),
            "x",
        )
        .await;
        assert_eq!(e["code"], "cross_account");
        let _ = bob.send(Message::Close(None)).await;
    });
    server.shutdown().unwrap();
}

/// Checks the Prometheus text format (0.0.4) line by line: `# HELP` and
/// `# TYPE` before a family's samples, one TYPE per family, sample names of
/// the family (with `_sum`/`_count` for summaries), well-formed labels,
/// numeric values. Returns the samples by their name and labels.
fn parse_prometheus(text: &str) -> BTreeMap<String, f64> {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = BTreeMap::new();
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(name_ok(name), "{line}");
            assert!(
                ["counter", "gauge", "summary", "histogram", "untyped"].contains(&kind),
                "{line}"
            );
            assert!(
                types.insert(name.to_owned(), kind.to_owned()).is_none(),
                "one TYPE per family: {line}"
            );
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP name text");
            assert!(name_ok(name) && !help.is_empty(), "{line}");
            continue;
        }
        assert!(!line.starts_with('#') && !line.is_empty(), "{line:?}");
        let (series, value) = line.rsplit_once(' ').expect("sample value");
        let v: f64 = value.parse().unwrap_or_else(|_| panic!("value of {line}"));
        let name = match series.split_once('{') {
            Some((name, labels)) => {
                let labels = labels.strip_suffix('}').expect("closing brace");
                for pair in labels.split(',') {
                    let (k, v) = pair.split_once('=').expect("label=value");
                    assert!(
                        name_ok(k) && v.starts_with('"') && v.ends_with('"'),
                        "{line}"
                    );
                }
                name
            }
            None => series,
        };
        let family = types
            .keys()
            .find(|f| {
                name == f.as_str()
                    || (types[*f] == "summary"
                        && (name == format!("{f}_sum") || name == format!("{f}_count")))
            })
            .unwrap_or_else(|| panic!("a TYPE before {line}"));
        assert!(!family.is_empty());
        samples.insert(series.to_owned(), v);
    }
    samples
}

#[test]
fn metrics_are_valid_prometheus_text_and_equal_the_engine_s_stats() {
    let t = TestServer::start(|_| {});
    let url = t.url();
    let addr = t.server.as_ref().unwrap().local_addr();
    let runtime = rt();
    let _sessions = runtime.block_on(async {
        let (mut alice, mut bob) = open_and_fund(&url, &t).await;
        for (i, (ws, side)) in [(&mut alice, "buy"), (&mut bob, "sell")].into_iter().enumerate() {
            let a = call(
                ws,
                json!({"type":"place_order","request_id":3,"symbol":"BTC-USD","side":side,"order_type":"limit","price":"100.00","qty":"0.0100","tif":"gtc"}),
                &format!("p{i}"),
            )
            .await;
            assert_eq!(a["type"], "answer");
        }
        // One rejection, one gateway refusal, one bad key.
        let r = call(&mut alice, json!({"type":"cancel_order","request_id":4,"order":999}), "r").await;
        assert_eq!(event_types(&r), ["rejected"]);
        let e = call(&mut alice, json!({"type":"deposit","request_id":5,"asset":"USD","amount":"1"}), "e").await;
        assert_eq!(e["code"], "not_operator");
        assert_eq!(connect(&url, Some("bad")).await.err(), Some(401));
        let mut md = market_session(&url).await;
        call(&mut md, json!({"type":"subscribe","channel":"book","symbol":"BTC-USD"}), "b").await;
        // Kept open while the metrics are read.
        (alice, bob, md)
    });
    let (status, body) = http_get(addr, "/metrics");
    assert_eq!(status, 200);
    let m = parse_prometheus(&body);
    let stats = t.server.as_ref().unwrap().engine_stats().unwrap();
    assert_eq!(m["keel_commands_total"], stats.commands as f64);
    assert_eq!(m["keel_trades_total"], stats.trades as f64);
    assert_eq!(stats.trades, 1);
    assert_eq!(m["keel_rejected_total"], stats.rejected as f64);
    assert_eq!(m["keel_rejections_total{reason=\"unknown_order\"}"], 1.0);
    assert_eq!(m["keel_last_sequence"], stats.last_seq as f64);
    assert_eq!(m["keel_journal_bytes_total"], stats.bytes_journaled as f64);
    assert_eq!(
        m["keel_end_to_end_seconds_count"],
        stats.end_to_end_ns.len() as f64
    );
    assert_eq!(m["keel_gateway_unauthorized_total"], 1.0);
    assert_eq!(m["keel_gateway_errors_total{code=\"not_operator\"}"], 1.0);
    assert_eq!(m["keel_market_subscribers{channel=\"book\"}"], 1.0);
    assert_eq!(
        m["keel_gateway_sessions_open"], 3.0,
        "alice, bob and the market session (the operator's closed)"
    );
    promtool_check_metrics(&body);
}

/// `promtool check metrics` (Debian's `prometheus` package) reads the text
/// on stdin and lints it; it must exit 0. Without promtool the check is
/// skipped with a message, except under `CI=true`, where it fails (`.ci/run`
/// installs the package).
fn promtool_check_metrics(body: &str) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let spawned = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            let why = format!(
                "promtool not found ({e}): install Debian's prometheus package \
                 (`apt-get install -y prometheus`) to check /metrics with `promtool check metrics`"
            );
            // As the browser test: under CI (`CI` set) a missing tool fails.
            assert!(std::env::var_os("CI").is_none(), "{why}");
            eprintln!("skipping the promtool check: {why}");
            return;
        }
    };
    // promtool reads all of stdin before it answers: write, close, wait.
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin.write_all(body.as_bytes()).expect("write to promtool");
    drop(stdin);
    let out = child.wait_with_output().expect("promtool ran");
    assert!(
        out.status.success(),
        "promtool check metrics: {}\nstdout:\n{}\nstderr:\n{}\nthe metrics:\n{body}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
}
