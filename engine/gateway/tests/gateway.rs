//! `keel serve` with a real server on loopback and raw WebSocket clients:
//! order life across two sessions, authentication, authorization, limits,
//! hostile input, cancel-on-disconnect, the dead-man switch, resend and
//! query. What was refused must be absent from the journal.

mod support;

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

fn place(request_id: u64, side: &str, price: &str, qty: &str) -> Value {
    json!({"type":"place_order","request_id":request_id,"symbol":"BTC-USD","side":side,
           "order_type":"limit","price":price,"qty":qty,"tif":"gtc"})
}

/// The next update caused by a `command` (updates of other commands, such
/// as the operator's deposits, are skipped).
async fn update_of(ws: &mut Ws, command: &str) -> Value {
    loop {
        let (update, _) = until(ws, "update", None).await;
        if update["command"] == command {
            return update;
        }
    }
}

#[test]
fn order_life_across_two_sessions() {
    let mut t = TestServer::start(|_| {});
    let url = t.url();
    rt().block_on(async {
        let (mut alice, mut bob) = open_and_fund(&url, &t).await;
        // Bob rests a sell; Alice's buy crosses it.
        let sell = call(&mut bob, place(3, "sell", "30000.00", "1.0000"), "s").await;
        assert_eq!(sell["type"], "answer", "{sell}");
        assert_eq!(event_types(&sell), ["accepted", "order_accepted", "order_rested"]);
        let order = sell["events"][1]["order"].as_u64().unwrap();
        let buy = call(&mut alice, place(3, "buy", "30000.00", "0.4000"), "b").await;
        assert_eq!(buy["account"], 1);
        assert_eq!(buy["request_id"], 3);
        let trade = buy["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["type"] == "trade_executed")
            .unwrap_or_else(|| panic!("a trade in {buy}"))
            .clone();
        assert_eq!(trade["taker_account"], 1);
        assert!(trade.get("maker_account").is_none(), "counterparty hidden: {trade}");
        // Bob sees the fill as an update, without Alice's account or order.
        let (update, _) = until(&mut bob, "update", None).await;
        assert_eq!(update["command"], "place_order");
        assert!(update.get("account").is_none(), "{update}");
        let types = event_types(&update);
        assert_eq!(types, ["trade_executed"], "only Bob's part: {update}");
        assert_eq!(update["events"][0]["maker_account"], 2);
        assert!(update["events"][0].get("taker_account").is_none());
        // Bob amends the rest down, then cancels it.
        let amend = call(
            &mut bob,
            json!({"type":"amend_order","request_id":4,"order":order,"symbol":"BTC-USD","price":"30000.00","qty":"0.5000"}),
            "am",
        )
        .await;
        assert_eq!(event_types(&amend), ["accepted", "order_amended"], "{amend}");
        let cancel = call(&mut bob, json!({"type":"cancel_order","request_id":5,"order":order}), "c").await;
        assert_eq!(event_types(&cancel), ["accepted", "order_cancelled"], "{cancel}");
        // Alice cannot cancel Bob's order: the engine refuses it.
        let theirs = call(&mut alice, json!({"type":"cancel_order","request_id":4,"order":order}), "x").await;
        assert_eq!(event_types(&theirs), ["rejected"], "{theirs}");
    });
    let journal = t.stop_and_read_journal();
    assert!(journal
        .iter()
        .any(|r| r["kind"] == "amend_order" && r["account"] == 2));
}

#[test]
fn a_bad_or_missing_key_gets_401_and_thousands_of_them_hurt_no_one() {
    let t = TestServer::start(|_| {});
    let url = t.url();
    rt().block_on(async {
        assert_eq!(connect(&url, None).await.err(), Some(401));
        assert_eq!(
            connect(&url, Some("keel_000000000000_00")).await.err(),
            Some(401)
        );
        let mut wrong = t.alice.clone();
        wrong.pop();
        wrong.push('x');
        assert_eq!(connect(&url, Some(&wrong)).await.err(), Some(401));
        let mut alice = session(&url, &t.alice).await;
        let n = std::env::var("KEEL_GATEWAY_BAD_CONNECTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1000u64);
        for _ in 0..n {
            assert_eq!(connect(&url, Some("nonsense")).await.err(), Some(401));
        }
        let a = call(
            &mut alice,
            json!({"type":"open_account","request_id":1}),
            "a",
        )
        .await;
        assert_eq!(event_types(&a), ["account_opened", "accepted"]);
        assert_eq!(t.telemetry()["unauthorized"], 3 + n);
    });
}

#[test]
fn cross_account_and_non_operator_admin_are_refused_and_never_journaled() {
    let mut t = TestServer::start(|_| {});
    let url = t.url();
    rt().block_on(async {
        let mut alice = session(&url, &t.alice).await;
        let a = call(
            &mut alice,
            json!({"type":"open_account","request_id":1}),
            "o",
        )
        .await;
        assert_eq!(a["type"], "answer");
        let refusals = [
            (
                json!({"type":"open_account","account":2,"request_id":1}),
                "cross_account",
            ),
            (
                json!({"type":"cancel_all","account":0,"request_id":5}),
                "cross_account",
            ),
            (
                json!({"type":"deposit","request_id":2,"asset":"USD","amount":"5"}),
                "not_operator",
            ),
            (
                json!({"type":"halt_symbol","request_id":3,"symbol":"BTC-USD"}),
                "not_operator",
            ),
            (
                json!({"type":"add_asset","request_id":4,"name":"SOL","scale":9}),
                "not_operator",
            ),
            (
                json!({"type":"query","account":2,"request_id":1}),
                "cross_account",
            ),
        ];
        for (i, (msg, code)) in refusals.iter().enumerate() {
            let tag = format!("r{i}");
            let e = call(&mut alice, msg.clone(), &tag).await;
            assert_eq!(e["type"], "error", "{msg} -> {e}");
            assert_eq!(e["code"], *code, "{msg} -> {e}");
        }
        // The operator may act for another account.
        let mut op = session(&url, &t.operator).await;
        let d = call(
            &mut op,
            json!({"type":"deposit","account":1,"request_id":2,"asset":"USD","amount":"5"}),
            "d",
        )
        .await;
        assert_eq!(event_types(&d), ["accepted", "deposited"], "{d}");
    });
    let t_errors = t.telemetry()["errors"].clone();
    assert_eq!(t_errors["cross_account"], 3);
    assert_eq!(t_errors["not_operator"], 3);
    let journal = t.stop_and_read_journal();
    let commands: Vec<(String, u64)> = journal
        .iter()
        .filter(|r| r["account"] != 0 || r["kind"] == "deposit")
        .map(|r| {
            (
                r["kind"].as_str().unwrap().to_owned(),
                r["account"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        commands,
        [("open_account".to_owned(), 1), ("deposit".to_owned(), 1)],
        "only what was allowed reached the journal"
    );
}

#[test]
fn hostile_input_gets_typed_errors_and_the_session_goes_on() {
    let t = TestServer::start(|_| {});
    let url = t.url();
    rt().block_on(async {
        let mut ws = session(&url, &t.alice).await;
        for (text, code) in [
            ("not json", "malformed"),
            ("[1,2]", "malformed"),
            (
                r#"{"type":"open_account","request_id":1,"request_id":2}"#,
                "malformed",
            ),
            (
                r#"{"type":"open_account","request_id":1,"color":"red"}"#,
                "bad_command",
            ),
            (r#"{"type":"no_such","request_id":1}"#, "bad_command"),
            (
                r#"{"type":"open_account","request_id":1,"tag":{"x":1}}"#,
                "bad_tag",
            ),
            (
                r#"{"type":"cancel_after","timeout_ms":-1}"#,
                "bad_cancel_after",
            ),
            (r#"{"type":"query"}"#, "bad_query"),
            (r#"{"type":"open_account","request_id":0}"#, "bad_command"),
        ] {
            ws.send(Message::Text(text.into())).await.unwrap();
            let e = next(&mut ws).await;
            assert_eq!(e["type"], "error", "{text} -> {e}");
            assert_eq!(e["code"], code, "{text} -> {e}");
            assert!(!e["message"].as_str().unwrap().is_empty());
        }
        ws.send(Message::Binary(vec![1, 2, 3].into()))
            .await
            .unwrap();
        assert_eq!(next(&mut ws).await["code"], "binary_frame");
        let a = call(&mut ws, json!({"type":"open_account","request_id":1}), "ok").await;
        assert_eq!(a["type"], "answer", "the session still works: {a}");
    });
}

#[test]
fn an_oversized_frame_closes_that_session_only() {
    let t = TestServer::start(|g| g.max_message_bytes = 1024);
    let url = t.url();
    rt().block_on(async {
        let mut big = session(&url, &t.alice).await;
        let mut other = session(&url, &t.bob).await;
        let huge = format!(
            r#"{{"type":"open_account","request_id":1,"tag":"{}"}}"#,
            "x".repeat(5000)
        );
        let _ = big.send(Message::Text(huge.into())).await;
        let (closing, _) = until(&mut big, "closing", None).await;
        assert_eq!(closing["reason"], "too_large");
        let a = call(
            &mut other,
            json!({"type":"open_account","request_id":1}),
            "b",
        )
        .await;
        assert_eq!(a["type"], "answer");
    });
    assert_eq!(t.telemetry()["closed"]["too_large"], 1);
}

#[test]
fn the_rate_limit_refuses_then_closes_an_abuser() {
    let t = TestServer::start(|g| {
        g.rate_per_s = 5;
        g.rate_burst = 5;
        g.rate_abuse_limit = 50;
    });
    let url = t.url();
    rt().block_on(async {
        let mut ws = session(&url, &t.alice).await;
        for i in 0..200u64 {
            let msg = json!({"type":"query","request_id":i + 1});
            if ws
                .send(Message::Text(msg.to_string().into()))
                .await
                .is_err()
            {
                break;
            }
        }
        let mut limited_in_a_row = 0;
        let mut answered = 0;
        loop {
            let m = next(&mut ws).await;
            match m["type"].as_str().unwrap() {
                "error" => {
                    assert_eq!(m["code"], "rate_limited", "{m}");
                    limited_in_a_row += 1;
                }
                "query" => {
                    answered += 1;
                    limited_in_a_row = 0;
                }
                "closing" => {
                    assert_eq!(m["reason"], "rate_limit_abuse");
                    break;
                }
                other => panic!("unexpected {other}: {m}"),
            }
        }
        // The burst, and at most what 5/s refills while the flood is read.
        assert!(
            (5..=20).contains(&answered),
            "about the burst was served: {answered}"
        );
        assert_eq!(limited_in_a_row, 49, "refused until the abuse limit");
    });
    assert_eq!(t.telemetry()["closed"]["rate_limit_abuse"], 1);
}

#[test]
fn a_reader_that_never_reads_is_closed_while_another_session_trades() {
    let t = TestServer::start(|g| {
        g.outbound_queue = 16;
        g.write_timeout_ms = 200;
        g.rate_per_s = 1_000_000;
        g.rate_burst = 1_000_000;
    });
    let url = t.url();
    rt().block_on(async {
        let (mut alice, mut bob) = open_and_fund(&url, &t).await;
        // Alice floods queries and never reads an answer.
        let flood = tokio::spawn(async move {
            let big = json!({"type":"query","request_id":1}).to_string();
            for _ in 0..200_000 {
                if alice.send(Message::Text(big.clone().into())).await.is_err() {
                    break;
                }
            }
            alice
        });
        // Bob keeps trading meanwhile and gets every answer.
        for i in 0..50u64 {
            let a = call(
                &mut bob,
                place(3 + i, "sell", "31000.00", "0.0001"),
                &format!("t{i}"),
            )
            .await;
            assert_eq!(a["type"], "answer", "{a}");
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while t.telemetry()["closed"]["slow_reader"] != 1 {
            assert!(
                std::time::Instant::now() < deadline,
                "the slow reader was closed: {}",
                t.telemetry()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(flood.await);
    });
}

#[test]
fn cancel_on_disconnect_and_cancel_after_cancel_through_the_journal() {
    let mut t = TestServer::start(|_| {});
    let url = t.url();
    rt().block_on(async {
        let (mut alice, bob) = open_and_fund(&url, &t).await;
        drop(bob);
        // Alice's second session asks for cancel-on-disconnect and rests an order.
        let mut cod = connect(&format!("{url}?cancel_on_disconnect=true"), Some(&t.alice))
            .await
            .unwrap();
        let welcome = next(&mut cod).await;
        assert_eq!(welcome["cancel_on_disconnect"], true);
        let a = call(&mut cod, place(3, "buy", "100.00", "0.0100"), "p").await;
        assert_eq!(
            event_types(&a),
            ["accepted", "order_accepted", "order_rested"]
        );
        cod.close(None).await.unwrap();
        drop(cod);
        // Alice's first session sees the cancel as an update.
        let update = update_of(&mut alice, "cancel_all_continued").await;
        assert_eq!(event_types(&update), ["order_cancelled"]);
        // The dead-man switch: armed, not renewed, it fires.
        let a = call(&mut alice, place(4, "buy", "100.00", "0.0100"), "p2").await;
        assert_eq!(
            event_types(&a),
            ["accepted", "order_accepted", "order_rested"]
        );
        let armed = call(
            &mut alice,
            json!({"type":"cancel_after","timeout_ms":300}),
            "arm",
        )
        .await;
        assert_eq!(armed["type"], "cancel_after");
        assert_eq!(armed["timeout_ms"], 300);
        let (fired, _) = until(&mut alice, "cancel_after_fired", None).await;
        assert_eq!(fired["type"], "cancel_after_fired");
        let update = update_of(&mut alice, "cancel_all_continued").await;
        assert_eq!(event_types(&update), ["order_cancelled"], "{update}");
        // Disarmed with 0, nothing fires.
        let a = call(&mut alice, place(5, "buy", "100.00", "0.0100"), "p3").await;
        assert_eq!(a["type"], "answer");
        call(
            &mut alice,
            json!({"type":"cancel_after","timeout_ms":200}),
            "arm2",
        )
        .await;
        call(
            &mut alice,
            json!({"type":"cancel_after","timeout_ms":0}),
            "off",
        )
        .await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        let q = call(&mut alice, json!({"type":"query","request_id":5}), "q").await;
        assert_eq!(q["status"], "accepted", "{q}");
    });
    let journal = t.stop_and_read_journal();
    let cancels: Vec<&Value> = journal
        .iter()
        .filter(|r| r["kind"] == "cancel_all_continued" && r["account"] == 1)
        .collect();
    assert_eq!(
        cancels.len(),
        2,
        "one for the disconnect, one for cancel_after"
    );
    for c in cancels {
        assert_eq!(event_types(c), ["order_cancelled"], "{c}");
        assert_eq!(c["request_id"], 0, "takes none of the client's request ids");
    }
}

#[test]
fn reconnect_and_resend_gives_duplicate_and_query_tells_the_outcome() {
    let t = TestServer::start(|_| {});
    let url = t.url();
    rt().block_on(async {
        let (mut alice, _bob) = open_and_fund(&url, &t).await;
        // The answer to request 3 is "lost": the client drops the session
        // right after sending.
        send(&mut alice, place(3, "buy", "100.00", "0.0100")).await;
        drop(alice);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut again = session(&url, &t.alice).await;
        let q = call(&mut again, json!({"type":"query","request_id":3}), "q").await;
        assert_eq!(q["status"], "accepted", "{q}");
        assert!(q["seq"].as_u64().unwrap() > 0);
        let resent = call(&mut again, place(3, "buy", "100.00", "0.0100"), "r").await;
        assert_eq!(event_types(&resent), ["rejected"], "{resent}");
        assert_eq!(resent["events"][0]["reason"], "duplicate");
        let q = call(&mut again, json!({"type":"query","request_id":9}), "q9").await;
        assert_eq!(q["status"], "not_executed", "{q}");
        assert_eq!(q["last_accepted"], 3);
    });
}

#[test]
fn too_many_sessions_for_one_key_are_refused_with_429() {
    let t = TestServer::start(|g| g.max_sessions_per_key = 2);
    let url = t.url();
    rt().block_on(async {
        let a = session(&url, &t.alice).await;
        let _b = session(&url, &t.alice).await;
        assert_eq!(connect(&url, Some(&t.alice)).await.err(), Some(429));
        drop(a);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            match connect(&url, Some(&t.alice)).await {
                Ok(_) => break,
                Err(429) if std::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                Err(s) => panic!("status {s}"),
            }
        }
    });
}

#[test]
fn shutdown_answers_what_was_committed_then_closes_with_a_reason() {
    let mut t = TestServer::start(|_| {});
    let url = t.url();
    let server = t.server.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let client = std::thread::spawn({
        let alice = t.alice.clone();
        move || {
            rt().block_on(async move {
                let mut ws = session(&url, &alice).await;
                let a = call(&mut ws, json!({"type":"open_account","request_id":1}), "a").await;
                assert_eq!(a["type"], "answer");
                tx.send(()).unwrap();
                let (closing, _) = until(&mut ws, "closing", None).await;
                closing["reason"].clone()
            })
        }
    });
    rx.recv().unwrap();
    let exit = server.shutdown().unwrap();
    assert_eq!(client.join().unwrap(), "shutdown");
    assert_eq!(exit.telemetry["closed"]["shutdown"], 1);
    let journal = read_journal(&t.journal);
    assert!(journal
        .iter()
        .any(|r| r["kind"] == "open_account" && r["account"] == 1));
}

#[test]
fn a_silent_client_that_answers_no_ping_is_closed_as_idle() {
    let t = TestServer::start(|g| {
        g.idle_timeout_ms = 300;
        g.ping_interval_ms = 100;
    });
    let url = t.url();
    rt().block_on(async {
        let mut ws = session(&url, &t.alice).await;
        // Not reading means not answering pings.
        tokio::time::sleep(Duration::from_millis(1000)).await;
        // The server has closed; reading may end in an error once the
        // client tries to answer the old pings, but the stream ends.
        use futures_util::StreamExt;
        let mut reasons = Vec::new();
        while let Ok(Some(Ok(frame))) =
            tokio::time::timeout(Duration::from_secs(5), ws.next()).await
        {
            if let Message::Text(t) = frame {
                let m: Value = serde_json::from_str(t.as_str()).unwrap();
                if m["type"] == "closing" {
                    reasons.push(m["reason"].clone());
                }
            }
        }
        assert!(
            reasons.len() <= 1 && reasons.iter().all(|r| r == "idle"),
            "{reasons:?}"
        );
    });
    assert_eq!(t.telemetry()["closed"]["idle"], 1);
}

#[test]
fn half_open_connections_are_closed_and_capped_without_hurting_a_session() {
    let t = TestServer::start(|g| {
        g.handshake_timeout_ms = 300;
        g.max_connections = 8;
    });
    let addr = t.server.as_ref().unwrap().local_addr();
    let url = t.url();
    rt().block_on(async {
        use tokio::io::AsyncReadExt;
        let mut alice = session(&url, &t.alice).await;
        // Eight connections that never send a request, and more beyond the cap.
        let mut silent = Vec::new();
        for _ in 0..8 {
            silent.push(tokio::net::TcpStream::connect(addr).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut extra = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(5), extra.read(&mut buf))
            .await
            .expect("the connection over the cap is closed at once");
        assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
        // The session is unaffected.
        let a = call(
            &mut alice,
            json!({"type":"open_account","request_id":1}),
            "a",
        )
        .await;
        assert_eq!(a["type"], "answer");
        // The silent ones are closed after the handshake timeout.
        for mut s in silent {
            let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
                .await
                .expect("a silent connection is closed after the handshake timeout");
            assert!(
                matches!(n, Ok(0) | Err(_)) || n.as_ref().is_ok_and(|n| *n > 0),
                "{n:?}"
            );
        }
        // And new connections get in again.
        let mut again = session(&url, &t.bob).await;
        let a = call(
            &mut again,
            json!({"type":"open_account","request_id":1}),
            "b",
        )
        .await;
        assert_eq!(a["type"], "answer");
    });
    assert!(t.telemetry()["refused_connections"].as_u64().unwrap() >= 1);
}

#[test]
fn two_sessions_racing_with_one_request_id_each_get_their_own_answer() {
    let t = TestServer::start(|_| {});
    let url = t.url();
    rt().block_on(async {
        let (mut a1, _bob) = open_and_fund(&url, &t).await;
        let mut a2 = session(&url, &t.alice).await;
        for rid in 3..53u64 {
            // Different prices tell the two commands apart.
            let mut m1 = place(rid, "buy", "100.00", "0.0100");
            m1["tag"] = json!("one");
            let mut m2 = place(rid, "buy", "101.00", "0.0100");
            m2["tag"] = json!("two");
            let (s1, s2) = tokio::join!(send(&mut a1, m1), send(&mut a2, m2));
            let ((), ()) = (s1, s2);
            let (r1, _) = until(&mut a1, "answer", Some(&json!("one"))).await;
            let (r2, _) = until(&mut a2, "answer", Some(&json!("two"))).await;
            let outcome = |r: &Value| -> (bool, Option<String>) {
                let accepted = event_types(r).first().map(String::as_str) == Some("accepted");
                let price = r["events"][1]["price"].as_str().map(str::to_owned);
                (accepted, price)
            };
            let (o1, o2) = (outcome(&r1), outcome(&r2));
            assert!(o1.0 ^ o2.0, "exactly one executed: {r1} / {r2}");
            if o1.0 {
                assert_eq!(
                    o1.1.as_deref(),
                    Some("100.00"),
                    "session one got its own order: {r1}"
                );
            } else {
                assert_eq!(
                    o2.1.as_deref(),
                    Some("101.00"),
                    "session two got its own order: {r2}"
                );
            }
        }
    });
}
