//! Market data and account views over a real server: a subscriber that
//! follows a book's snapshot and deltas while two accounts trade ends with
//! exactly the book `GET /v1/book` and the read models rebuilt from the
//! journal (what `replay book` prints) show at the same sequence; trades,
//! BBO and account views agree too; bad subscriptions get typed errors; a
//! restarted server continues the numbering.
//!
//! The long test (`followers_of_many_books_and_accounts_...`): 8 symbols,
//! 5 accounts and `KEEL_FEED_COMMANDS` (default 6,000) seeded random
//! commands in two phases around a server restart. Two market-data clients
//! follow every book (the update numbering and the checksum checked on
//! every delta); one of them drops a delta and corrupts a level on purpose
//! in each phase, must detect both (gap, checksum) and re-snapshot. Their
//! books at the end of each phase, and books sampled along the way, must be
//! what `replay book` prints at that sequence (and the depth `replay state`
//! prints); every account's view, at the end and sampled, what `replay
//! state --account` prints.

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

// ---------------------------------------------------------------------------
// Many symbols, many accounts, a long random stream and a restart: followers
// of every book and account end with what `replay book` / `replay state`
// print at the same sequence.

/// Symbols followed: the config's BTC-USD and these, added by the operator.
const ADDED: [&str; 7] = ["AAA", "BBB", "CCC", "DDD", "EEE", "FFF", "GGG"];
/// Trading accounts (each with its own key and session).
const ACCOUNTS: u32 = 5;

fn symbols() -> Vec<String> {
    std::iter::once("BTC-USD".to_owned())
        .chain(ADDED.iter().map(|a| format!("{a}-USD")))
        .collect()
}

/// Commands in the random stream (both phases together).
fn feed_commands() -> usize {
    std::env::var("KEEL_FEED_COMMANDS")
        .ok()
        .map(|v| v.parse().expect("KEEL_FEED_COMMANDS is a number"))
        .unwrap_or(6_000)
        // Each phase needs room for the injected faults to be seen.
        .max(400)
}

/// A journal, keys for the operator and accounts 1 to `ACCOUNTS`, and a
/// config: the server is started on them again after a restart.
struct Venue {
    dir: tempfile::TempDir,
    journal: std::path::PathBuf,
    keys_file: std::path::PathBuf,
    operator: String,
    keys: Vec<String>,
}

impl Venue {
    fn new() -> Venue {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("journal");
        let keys_file = dir.path().join("keys.toml");
        let (_, operator) = keel_gateway::add_key(&keys_file, 0, true).unwrap();
        let keys = (1..=ACCOUNTS)
            .map(|a| keel_gateway::add_key(&keys_file, a, false).unwrap().1)
            .collect();
        std::fs::write(dir.path().join("engine.toml"), engine_toml(&journal)).unwrap();
        Venue {
            dir,
            journal,
            keys_file,
            operator,
            keys,
        }
    }

    fn start(&self) -> keel_gateway::Server {
        let config = keel_edge::config_from_toml(&engine_toml(&self.journal), "t.toml").unwrap();
        keel_gateway::Server::start(
            &config,
            keel_gateway::GatewayConfig {
                listen: "127.0.0.1:0".into(),
                keys_file: self.keys_file.clone(),
                rate_per_s: 1_000_000,
                rate_burst: 1_000_000,
                ..Default::default()
            },
        )
        .unwrap()
    }

    /// What the `replay` tool prints (as JSON) for `args`: its own argument
    /// parsing and code, with this venue's config for the limits.
    fn replay(&self, args: &[&str]) -> Value {
        use clap::Parser;
        let config = self.dir.path().join("engine.toml");
        let journal = self.journal.to_str().unwrap();
        let mut argv = vec!["replay", "--config", config.to_str().unwrap()];
        argv.extend_from_slice(&args[..1]);
        argv.push(journal);
        argv.extend_from_slice(&args[1..]);
        argv.extend_from_slice(&["--format", "json"]);
        let cli = keel_replay::cli::Cli::try_parse_from(&argv).unwrap();
        let mut out = Vec::new();
        if let Err(f) = keel_replay::run(cli, &mut out) {
            panic!("replay {argv:?}: {}", f.message);
        }
        serde_json::from_slice(&out).unwrap_or_else(|e| panic!("replay {argv:?}: {e}"))
    }
}

/// Reads the next text message, allowing a loaded machine 30 s.
async fn next_slow(ws: &mut Ws) -> Value {
    use futures_util::StreamExt;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("a message within 30 s")
            .expect("the stream is open")
            .expect("no stream error");
        match frame {
            Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// A book held at an update, as `(update, bids, asks)`, for a later check
/// against `replay book --at update`.
type Sample = (String, u64, Vec<Value>, Vec<Value>);

/// A market-data client following every symbol's book.
struct Follower {
    name: &'static str,
    books: BTreeMap<String, Book>,
    /// Symbols re-snapshotting: their deltas until the new snapshot belong
    /// to the old subscription and are skipped.
    resyncing: BTreeMap<String, u32>,
    /// Faults this client made on purpose, by symbol, not yet detected.
    injected: BTreeMap<String, &'static str>,
    /// Deltas applied, per symbol.
    deltas: BTreeMap<String, u64>,
    gaps_detected: u32,
    divergences_detected: u32,
    resnapshots: u32,
    samples: Vec<Sample>,
    /// Inject a dropped delta and a corrupted level during the stream.
    faults: bool,
    applied: u64,
}

impl Follower {
    /// Connects and subscribes to every symbol's book.
    async fn connect(name: &'static str, url: &str, faults: bool) -> (Follower, Ws) {
        let mut ws = market_session(url).await;
        let mut f = Follower {
            name,
            books: BTreeMap::new(),
            resyncing: BTreeMap::new(),
            injected: BTreeMap::new(),
            deltas: BTreeMap::new(),
            gaps_detected: 0,
            divergences_detected: 0,
            resnapshots: 0,
            samples: Vec::new(),
            faults,
            applied: 0,
        };
        for s in symbols() {
            let snap = call(
                &mut ws,
                json!({"type":"subscribe","channel":"book","symbol":s}),
                &format!("b:{s}"),
            )
            .await;
            f.take_snapshot(&snap);
        }
        (f, ws)
    }

    fn take_snapshot(&mut self, snap: &Value) {
        assert_eq!(snap["type"], "book", "{snap}");
        let s = snap["symbol"].as_str().unwrap().to_owned();
        let book = Book::from_snapshot(snap);
        assert_eq!(
            snap["checksum"].as_u64().unwrap(),
            u64::from(book.checksum()),
            "{}: snapshot checksum: {snap}",
            self.name
        );
        self.books.insert(s.clone(), book);
        self.resyncing.remove(&s);
    }

    /// Asks for a fresh snapshot of `symbol`'s book.
    async fn resnapshot(&mut self, ws: &mut Ws, symbol: &str) {
        let n = self.resyncing.len() as u32 + self.resnapshots;
        self.resyncing.insert(symbol.to_owned(), n);
        self.resnapshots += 1;
        send(ws, json!({"type":"unsubscribe","channel":"book","symbol":symbol,"tag":format!("u:{symbol}:{n}")})).await;
        send(ws, json!({"type":"subscribe","channel":"book","symbol":symbol,"tag":format!("r:{symbol}:{n}")})).await;
    }

    /// Handles one message of the feed.
    async fn on_message(&mut self, ws: &mut Ws, m: Value) {
        match m["type"].as_str().unwrap() {
            "book" => self.take_snapshot(&m),
            "unsubscribed" | "bbo" => {}
            "book_delta" => {
                let s = m["symbol"].as_str().unwrap().to_owned();
                if self.resyncing.contains_key(&s) {
                    return;
                }
                self.applied += 1;
                // A client that lost this delta (it is not applied).
                if self.faults && self.applied == 25 {
                    self.injected.insert(s, "dropped");
                    return;
                }
                let book = self.books.get_mut(&s).unwrap();
                match book.follow(&m) {
                    Ok(()) => {}
                    Err(fault) => {
                        let expected = self.injected.remove(&s);
                        match (&fault, expected) {
                            (Fault::Gap { .. }, Some("dropped")) => self.gaps_detected += 1,
                            (Fault::Diverged { .. }, Some("corrupted")) => {
                                self.divergences_detected += 1
                            }
                            _ => panic!(
                                "{}: {s}: {fault:?} with no fault injected ({expected:?}): {m}",
                                self.name
                            ),
                        }
                        self.resnapshot(ws, &s).await;
                        return;
                    }
                }
                *self.deltas.entry(s.clone()).or_default() += 1;
                if self.applied.is_multiple_of(97) {
                    let (bids, asks) = book.levels();
                    self.samples.push((s.clone(), book.update, bids, asks));
                }
                // A client whose copy of a level went wrong: a phantom best
                // ask at a price off the stream's whole units, which no
                // delta will ever touch.
                if self.faults && self.applied == 80 && !self.injected.contains_key(&s) {
                    let best = book
                        .asks
                        .values()
                        .next()
                        .map(|l| l[0].as_str().unwrap().parse::<f64>().unwrap())
                        .unwrap_or(100_000.0);
                    let price = json!(format!("{:.2}", best - 0.37));
                    book.asks.insert(key(&price), json!([price, "0.0001", 1]));
                    self.injected.insert(s, "corrupted");
                }
            }
            other => panic!("{}: unexpected {other}: {m}", self.name),
        }
    }

    /// Follows the feed until `end` arrives, then until a `bbo` snapshot
    /// (queued after every update before it) reflects at least `end`.
    async fn run(mut self, mut ws: Ws, mut end: tokio::sync::oneshot::Receiver<u64>) -> Self {
        let end = loop {
            tokio::select! {
                m = next_slow(&mut ws) => self.on_message(&mut ws, m).await,
                e = &mut end => break e.unwrap(),
            }
        };
        let probe = symbols()[0].clone();
        for attempt in 0.. {
            let tag = format!("barrier:{attempt}");
            send(
                &mut ws,
                json!({"type":"subscribe","channel":"bbo","symbol":probe,"tag":tag}),
            )
            .await;
            let reply = loop {
                let m = next_slow(&mut ws).await;
                if m["tag"] == json!(tag) {
                    break m;
                }
                self.on_message(&mut ws, m).await;
            };
            assert_eq!(reply["type"], "bbo", "{reply}");
            if reply["seq"].as_u64().unwrap() >= end && self.resyncing.is_empty() {
                break;
            }
            assert!(
                attempt < 1_000,
                "{}: the feed never reached {end}",
                self.name
            );
            let tag = format!("unbarrier:{attempt}");
            send(
                &mut ws,
                json!({"type":"unsubscribe","channel":"bbo","symbol":probe,"tag":tag}),
            )
            .await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let _ = ws.send(Message::Close(None)).await;
        self
    }
}

/// An account's session: it sends the account's commands and follows its
/// `account` channel.
struct Trader {
    account: u32,
    ws: Ws,
    rid: u64,
    /// The latest `account` message.
    view: Value,
    /// Views kept for a check against `replay state --at` their sequence.
    samples: Vec<Value>,
    views: u64,
    trades: u64,
    /// Orders this session cancelled (its view may not show it yet).
    cancelled: std::collections::BTreeSet<u64>,
    /// Rejections by reason.
    rejected: BTreeMap<String, u64>,
    max_seq: u64,
}

impl Trader {
    fn absorb(&mut self, m: Value) {
        match m["type"].as_str().unwrap() {
            "account" => {
                assert_eq!(m["account"], self.account, "{m}");
                assert!(
                    m["seq"].as_u64().unwrap() >= self.view["seq"].as_u64().unwrap_or(0),
                    "views in order: {m} after {}",
                    self.view
                );
                self.views += 1;
                if self.views.is_multiple_of(61) {
                    self.samples.push(m.clone());
                }
                self.view = m;
            }
            "answer" => {
                self.max_seq = self.max_seq.max(m["seq"].as_u64().unwrap());
                if let Some(r) = m["events"][0]["reason"].as_str() {
                    *self.rejected.entry(r.to_owned()).or_default() += 1;
                }
                self.trades += m["events"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|e| e["type"] == "trade_executed")
                    .count() as u64;
            }
            "update" | "unsubscribed" | "bbo" => {}
            other => panic!("account {}: unexpected {other}: {m}", self.account),
        }
    }

    /// Reads until the message tagged `tag`, absorbing the rest.
    async fn until_tag(&mut self, tag: &str) -> Value {
        loop {
            let m = next_slow(&mut self.ws).await;
            if m["tag"] == json!(tag) {
                return m;
            }
            self.absorb(m);
        }
    }

    async fn connect(url: &str, account: u32, key: &str, rid: u64) -> Trader {
        let mut t = Trader {
            account,
            ws: session(url, key).await,
            rid,
            view: json!({}),
            samples: Vec::new(),
            views: 0,
            trades: 0,
            cancelled: Default::default(),
            rejected: BTreeMap::new(),
            max_seq: 0,
        };
        send(
            &mut t.ws,
            json!({"type":"subscribe","channel":"account","tag":"view"}),
        )
        .await;
        let view = t.until_tag("view").await;
        assert_eq!(view["type"], "account", "{view}");
        t.view = view;
        t
    }

    /// Like the followers: until a snapshot queued after every update up
    /// to `end` came.
    async fn barrier(&mut self, end: u64) {
        for attempt in 0.. {
            let tag = format!("barrier:{attempt}");
            send(
                &mut self.ws,
                json!({"type":"subscribe","channel":"bbo","symbol":"BTC-USD","tag":tag}),
            )
            .await;
            let reply = self.until_tag(&tag).await;
            assert_eq!(reply["type"], "bbo", "{reply}");
            if reply["seq"].as_u64().unwrap() >= end {
                return;
            }
            assert!(
                attempt < 1_000,
                "account {}: the feed never reached {end}",
                self.account
            );
            let tag = format!("unbarrier:{attempt}");
            send(
                &mut self.ws,
                json!({"type":"unsubscribe","channel":"bbo","symbol":"BTC-USD","tag":tag}),
            )
            .await;
            self.until_tag(&tag).await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// The seeded random stream: resting and crossing limits, IOC and FOK,
/// market orders, cancels, amends and mass cancels, over every symbol.
struct Flow {
    x: u64,
    n: u64,
}

impl Flow {
    fn rnd(&mut self, below: u64) -> u64 {
        self.x = self
            .x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.x >> 33) % below
    }

    /// The next command of `t`'s account (its open orders from its view,
    /// less those it cancelled since). The stream is seeded, but which
    /// orders it cancels and amends depends on what the views showed when.
    fn command(&mut self, t: &mut Trader) -> Value {
        let syms = symbols();
        let k = self.rnd(syms.len() as u64);
        let symbol = &syms[k as usize];
        let mid = 1_000 + 50 * k;
        let qty = format!("0.{:04}", 1 + self.rnd(200));
        let side = if self.rnd(2) == 0 { "buy" } else { "sell" };
        let orders: Vec<Value> = t.view["orders"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|o| !t.cancelled.contains(&o["order"].as_u64().unwrap()))
            .cloned()
            .collect();
        let pick = |f: &mut Flow| -> Option<Value> {
            (!orders.is_empty()).then(|| orders[f.rnd(orders.len() as u64) as usize].clone())
        };
        let limit = |price: u64, tif: &str| {
            json!({"type":"place_order","symbol":symbol,"side":side,"order_type":"limit",
                   "price":format!("{price}.00"),"qty":qty,"tif":tif})
        };
        let r = self.rnd(100);
        let away = 1 + self.rnd(12);
        let through = self.rnd(6);
        let mut msg = match r {
            0..=39 => limit(
                if side == "buy" {
                    mid - away
                } else {
                    mid + away
                },
                "gtc",
            ),
            40..=51 => limit(
                if side == "buy" {
                    mid + through
                } else {
                    mid - through
                },
                "gtc",
            ),
            52..=56 => limit(
                if side == "buy" {
                    mid + through
                } else {
                    mid - through
                },
                "ioc",
            ),
            57..=58 => limit(
                if side == "buy" {
                    mid + through
                } else {
                    mid - through
                },
                "fok",
            ),
            59..=61 => {
                if side == "buy" {
                    json!({"type":"place_order","symbol":symbol,"side":"buy","order_type":"market","qty":qty,"tif":"ioc","budget":"100"})
                } else {
                    json!({"type":"place_order","symbol":symbol,"side":"sell","order_type":"market","qty":qty,"tif":"ioc","protection_price":format!("{}.00", mid - 20)})
                }
            }
            62..=79 => match pick(self) {
                Some(o) => {
                    t.cancelled.insert(o["order"].as_u64().unwrap());
                    json!({"type":"cancel_order","order":o["order"]})
                }
                None => limit(mid - away, "gtc"),
            },
            80..=95 => match pick(self) {
                Some(o) => {
                    let price: f64 = o["price"].as_str().unwrap().parse().unwrap();
                    let step = self.rnd(3) as f64 - 1.0;
                    json!({"type":"amend_order","order":o["order"],"symbol":o["symbol"],
                           "price":format!("{:.2}", price + step),"qty":qty})
                }
                None => limit(mid + away, "gtc"),
            },
            _ => {
                for o in orders.iter().filter(|o| o["symbol"] == symbol.as_str()) {
                    t.cancelled.insert(o["order"].as_u64().unwrap());
                }
                json!({"type":"cancel_all","symbol":symbol})
            }
        };
        msg["request_id"] = json!(t.rid);
        self.n += 1;
        msg
    }
}

/// Runs `commands` commands in rounds (each trader sends its share
/// without waiting, then reads its answers); returns the last sequence.
async fn trade_rounds(traders: &mut [Trader], flow: &mut Flow, commands: usize) -> u64 {
    let per_round = 20;
    let mut sent = 0;
    while sent < commands {
        let mut tags = Vec::new();
        for t in traders.iter_mut() {
            let mut last = None;
            for _ in 0..per_round.min(commands - sent) {
                let msg = flow.command(t);
                let tag = format!("c{}", flow.n);
                let mut msg = msg;
                msg["tag"] = json!(tag);
                t.rid += 1;
                send(&mut t.ws, msg).await;
                last = Some(tag);
                sent += 1;
            }
            tags.push(last);
        }
        for (t, last) in traders.iter_mut().zip(tags) {
            if let Some(tag) = last {
                // Answers come in order: the last one's arrival means all did.
                let a = t.until_tag(&tag).await;
                assert_eq!(a["type"], "answer", "{a}");
                t.absorb(a);
            }
        }
    }
    traders.iter().map(|t| t.max_seq).max().unwrap()
}

/// What one phase ended with.
struct Phase {
    end: u64,
    followers: Vec<Follower>,
    views: BTreeMap<u32, Value>,
    view_samples: Vec<Value>,
    trades: u64,
    rejected: BTreeMap<String, u64>,
}

async fn run_phase(
    url: &str,
    venue: &Venue,
    flow: &mut Flow,
    rids: &mut [u64],
    commands: usize,
    before: Option<&Phase>,
) -> Phase {
    let mut traders = Vec::new();
    for a in 1..=ACCOUNTS {
        let i = a as usize - 1;
        traders.push(Trader::connect(url, a, &venue.keys[i], rids[i]).await);
    }
    let mut followers = Vec::new();
    let mut tasks = Vec::new();
    for (name, faults) in [("clean", false), ("lossy", true)] {
        let (f, ws) = Follower::connect(name, url, faults).await;
        if let Some(before) = before {
            // After a restart the snapshots continue the numbering and
            // hold what the followers held before it.
            for old in &before.followers {
                for (s, book) in &old.books {
                    assert_eq!(f.books[s], *book, "{s} after the restart");
                }
            }
            for t in &traders {
                let old = &before.views[&t.account];
                assert_eq!(
                    t.view["balances"], old["balances"],
                    "account {} after the restart",
                    t.account
                );
                assert_eq!(
                    t.view["orders"], old["orders"],
                    "account {} after the restart",
                    t.account
                );
            }
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        followers.push(tx);
        tasks.push(tokio::spawn(f.run(ws, rx)));
    }
    let end = trade_rounds(&mut traders, flow, commands).await;
    for tx in followers {
        tx.send(end).unwrap();
    }
    let mut followers = Vec::new();
    for task in tasks {
        followers.push(task.await.expect("follower"));
    }
    let mut views = BTreeMap::new();
    let mut view_samples = Vec::new();
    let mut trades = 0;
    let mut rejected = BTreeMap::new();
    for (i, t) in traders.iter_mut().enumerate() {
        t.barrier(end).await;
        rids[i] = t.rid;
        views.insert(t.account, t.view.clone());
        view_samples.append(&mut t.samples);
        trades += t.trades;
        for (r, n) in &t.rejected {
            *rejected.entry(r.clone()).or_default() += n;
        }
        assert!(t.views > 1, "account {} saw its view change", t.account);
        let _ = t.ws.send(Message::Close(None)).await;
    }
    Phase {
        end,
        followers,
        views,
        view_samples,
        trades,
        rejected,
    }
}

/// Adds the symbols, opens the accounts and funds them.
async fn set_up_venue(url: &str, venue: &Venue) -> Vec<u64> {
    let mut op = session(url, &venue.operator).await;
    let mut rid = 1_000;
    for a in ADDED {
        for msg in [
            json!({"type":"add_asset","name":a,"scale":8}),
            json!({"type":"add_symbol","name":format!("{a}-USD"),"base":a,"quote":"USD",
                   "tick_size":"0.01","lot_size":"0.0001","maker_fee_bps":1,"taker_fee_bps":5}),
        ] {
            let mut msg = msg;
            msg["request_id"] = json!(rid);
            rid += 1;
            let r = call(&mut op, msg, "admin").await;
            assert_eq!(event_types(&r)[0], "accepted", "{r}");
        }
    }
    let mut rids = Vec::new();
    for a in 1..=ACCOUNTS {
        let mut ws = session(url, &venue.keys[a as usize - 1]).await;
        let r = call(
            &mut ws,
            json!({"type":"open_account","request_id":1}),
            "open",
        )
        .await;
        assert_eq!(event_types(&r), ["account_opened", "accepted"], "{r}");
        let mut next_rid = 2;
        for (asset, amount) in std::iter::once(("USD", "100000000"))
            .chain(std::iter::once(("BTC", "10000")))
            .chain(ADDED.iter().map(|a| (*a, "10000")))
        {
            let r = call(
                &mut op,
                json!({"type":"deposit","account":a,"request_id":next_rid,"asset":asset,"amount":amount}),
                "d",
            )
            .await;
            assert_eq!(event_types(&r), ["accepted", "deposited"], "{r}");
            next_rid += 1;
        }
        rids.push(next_rid);
        let _ = ws.send(Message::Close(None)).await;
    }
    let _ = op.send(Message::Close(None)).await;
    rids
}

/// A followed book as `replay book` prints its levels.
fn check_book(
    venue: &Venue,
    symbol: &str,
    at: u64,
    update: u64,
    bids: &[Value],
    asks: &[Value],
    who: &str,
) {
    let at_text = at.to_string();
    let printed = venue.replay(&["book", "--symbol", symbol, "--at", &at_text]);
    assert_eq!(printed["seq"], at, "{printed}");
    assert_eq!(
        printed["update"].as_u64().unwrap(),
        update,
        "{who}: {symbol} update at {at}"
    );
    assert_eq!(
        printed["bids"].as_array().unwrap(),
        bids,
        "{who}: {symbol} bids at {at}"
    );
    assert_eq!(
        printed["asks"].as_array().unwrap(),
        asks,
        "{who}: {symbol} asks at {at}"
    );
}

/// An account view as `replay state --account` prints the account at the
/// view's sequence: its non-zero balances and its open orders.
fn check_view(venue: &Venue, view: &Value) {
    let account = view["account"].as_u64().unwrap().to_string();
    let at = view["seq"].as_u64().unwrap().to_string();
    let state = venue.replay(&["state", "--account", &account, "--at", &at]);
    assert_eq!(state["seq"].as_u64().unwrap().to_string(), at);
    let want: Vec<Value> = state["balances"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| {
            let zero = |x: &Value| {
                x.as_str()
                    .unwrap()
                    .trim_start_matches(['0', '.'])
                    .is_empty()
            };
            !(zero(&b["available"]) && zero(&b["held"]))
        })
        .map(|b| json!({"asset": b["asset"], "available": b["available"], "held": b["held"]}))
        .collect();
    assert_eq!(
        view["balances"].as_array().unwrap(),
        &want,
        "account {account} balances at {at}"
    );
    let order_key = |o: &Value| o["order"].as_u64().unwrap();
    let mut want: Vec<Value> = state["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            json!({"order": o["order"], "symbol": o["symbol"], "side": o["side"],
                        "price": o["price"], "remaining": o["remaining"]})
        })
        .collect();
    want.sort_by_key(order_key);
    let mut got = view["orders"].as_array().unwrap().clone();
    got.sort_by_key(order_key);
    assert_eq!(got, want, "account {account} orders at {at}");
}

#[test]
fn followers_of_many_books_and_accounts_hold_what_replay_prints_across_a_restart() {
    let commands = feed_commands();
    let venue = Venue::new();
    let runtime = rt();
    let mut flow = Flow { x: 2026, n: 0 };
    let server = venue.start();
    let url = format!("ws://{}/v1/ws", server.local_addr());
    let (mut rids, first) = runtime.block_on(async {
        let mut rids = set_up_venue(&url, &venue).await;
        let first = run_phase(&url, &venue, &mut flow, &mut rids, commands / 2, None).await;
        (rids, first)
    });
    server.shutdown().unwrap();
    // The same journal and keys: numbering and content continue.
    let server = venue.start();
    let url = format!("ws://{}/v1/ws", server.local_addr());
    let second = runtime.block_on(run_phase(
        &url,
        &venue,
        &mut flow,
        &mut rids,
        commands - commands / 2,
        Some(&first),
    ));
    server.shutdown().unwrap();
    assert!(second.end > first.end);

    for (phase, p) in [("before the restart", &first), ("after it", &second)] {
        assert!(
            p.trades > 50,
            "{phase}: the stream crosses: {} trades",
            p.trades
        );
        let state = venue.replay(&["state", "--at", &p.end.to_string()]);
        let mut levels = 0;
        for f in &p.followers {
            let who = format!("{} {phase}", f.name);
            assert_eq!(f.books.len(), symbols().len(), "{who}");
            for s in symbols() {
                assert!(
                    f.deltas.get(&s).copied().unwrap_or(0) > 10,
                    "{who}: {s} moved: {:?}",
                    f.deltas
                );
                let book = &f.books[&s];
                let (bids, asks) = book.levels();
                levels += bids.len() + asks.len();
                check_book(&venue, &s, p.end, book.update, &bids, &asks, &who);
                // `replay state` shows the same depth.
                let in_state = state["books"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|b| b["symbol"] == s.as_str())
                    .unwrap_or_else(|| panic!("{s} in replay state"));
                for (side, held) in [("bids", &bids), ("asks", &asks)] {
                    let want: Vec<Value> = in_state[side]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|l| json!([l["price"], l["qty"], l["orders"]]))
                        .collect();
                    assert_eq!(held, &want, "{who}: {s} {side} as replay state prints them");
                }
            }
            // Books held along the way, at the update they were at.
            assert!(f.samples.len() >= 5, "{who}: {} samples", f.samples.len());
            for (s, update, bids, asks) in &f.samples {
                check_book(&venue, s, *update, *update, bids, asks, &who);
            }
            // The faults the lossy client made were all caught and repaired.
            if f.faults {
                assert!(f.injected.is_empty(), "{who}: undetected {:?}", f.injected);
                assert_eq!((f.gaps_detected, f.divergences_detected), (1, 1), "{who}");
                assert_eq!(f.resnapshots, 2, "{who}");
            } else {
                assert_eq!(f.resnapshots, 0, "{who}");
            }
        }
        assert!(levels > 100, "{phase}: the books are deep: {levels} levels");
        eprintln!(
            "{phase}: up to seq {}, {} trades, {levels} levels held by the followers, deltas {:?}, {} book and {} view samples checked, rejections {:?}",
            p.end,
            p.trades,
            p.followers.iter().map(|f| f.deltas.values().sum::<u64>()).collect::<Vec<_>>(),
            p.followers.iter().map(|f| f.samples.len()).sum::<usize>(),
            p.view_samples.len(),
            p.rejected,
        );
        for view in p.views.values() {
            assert!(view["seq"].as_u64().unwrap() <= p.end);
            let mut at_end = view.clone();
            at_end["seq"] = json!(p.end);
            check_view(&venue, &at_end);
            assert!(
                !view["orders"].as_array().unwrap().is_empty()
                    || !view["balances"].as_array().unwrap().is_empty()
            );
        }
        assert!(
            p.view_samples.len() >= 5,
            "{phase}: {} view samples",
            p.view_samples.len()
        );
        for view in &p.view_samples {
            check_view(&venue, view);
        }
    }
}
