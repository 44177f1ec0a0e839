//! The client against a real gateway on loopback: order life across two
//! accounts on two sessions, refusals, the dead-man switch, many calls in
//! flight, shutdown, and reconnect with resend.

mod support;

use std::time::Duration;

use keel_client::{Client, ClientError, Command, Event, Options, Order, QueryStatus, Side, Update};
use serde_json::{json, Value};
use support::{eventually, runtime, Proxy, TestServer};

const WAIT: Duration = Duration::from_secs(5);

fn deposit(account: u32, request_id: u64, asset: &str, amount: &str) -> Value {
    json!({"type": "deposit", "account": account, "request_id": request_id, "asset": asset, "amount": amount})
}

/// Opens `client`'s account (request id 1) and has the operator fund it
/// (request id 2).
async fn open_and_fund(client: &Client, operator: &Client, asset: &str, amount: &str) {
    let opened = client
        .submit(&Command::OpenAccount { request_id: 1 })
        .await
        .unwrap();
    assert!(opened.is_accepted(), "{opened:?}");
    let funded = operator
        .submit(&deposit(client.account(), 2, asset, amount))
        .await
        .unwrap();
    assert!(funded.is_accepted(), "{funded:?}");
}

async fn update_with(updates: &mut keel_client::Updates, event: &str) -> Update {
    loop {
        let u = updates
            .next_update(WAIT)
            .await
            .unwrap_or_else(|| panic!("no update with {event}"));
        if u.events_of(event).next().is_some() {
            return u;
        }
    }
}

#[test]
fn order_life_across_two_accounts_on_two_sessions() {
    let server = TestServer::start();
    let (alice_key, bob_key) = (server.key(1), server.key(2));
    runtime().block_on(async {
        let alice = Client::connect(&server.url, &alice_key, Options::default())
            .await
            .unwrap();
        let bob = Client::connect(&server.url, &bob_key, Options::default())
            .await
            .unwrap();
        let operator = Client::connect(&server.url, &server.operator_key, Options::default())
            .await
            .unwrap();
        let welcome = bob.welcome();
        assert_eq!(
            (welcome.v, welcome.account, welcome.operator),
            (1, 2, false)
        );
        assert!(operator.welcome().operator);
        let mut alice_updates = alice.updates();
        let mut bob_updates = bob.updates();

        open_and_fund(&alice, &operator, "USD", "100000").await;
        open_and_fund(&bob, &operator, "BTC", "2.5").await;
        // Each sees the operator's deposit as an update.
        let d = update_with(&mut alice_updates, "deposited").await;
        assert_eq!(d.command, "deposit");
        update_with(&mut bob_updates, "deposited").await;

        // Bob rests a sell.
        let ask = bob
            .place(Order::limit(3, "BTC-USD", Side::Sell, "30000.00", "1.0000"))
            .await
            .unwrap();
        assert!(ask.is_accepted(), "{ask:?}");
        assert_eq!((ask.account, ask.request_id), (2, 3));
        assert!(ask.events_of("order_rested").next().is_some(), "{ask:?}");
        let ask_id = ask.order_id().unwrap();

        // Alice crosses it: the fill is in her answer ...
        let bid = alice
            .place(
                Order::limit(3, "BTC-USD", Side::Buy, "30010.00", "0.4000")
                    .tif(keel_client::Tif::Ioc),
            )
            .await
            .unwrap();
        assert!(bid.is_accepted(), "{bid:?}");
        let trade = bid
            .events_of("trade_executed")
            .next()
            .expect("a fill")
            .clone();
        assert_eq!(trade["maker_order"], ask_id);
        assert_eq!(trade["taker_account"], 1);
        assert_eq!(trade["qty"], "0.4000");
        assert_eq!(trade["price"], "30000.00");
        assert!(
            trade.get("maker_account").is_none(),
            "counterparty shown: {trade}"
        );
        assert!(bid.seq > ask.seq);

        // ... and in Bob's updates, as maker, without Alice's account.
        let fill = update_with(&mut bob_updates, "trade_executed").await;
        assert_eq!(fill.seq, bid.seq);
        assert_eq!(fill.command, "place_order");
        let maker = fill.events_of("trade_executed").next().unwrap();
        assert_eq!(maker["maker_account"], 2);
        assert_eq!(maker["maker_order"], ask_id);
        assert!(
            maker.get("taker_account").is_none(),
            "counterparty shown: {maker}"
        );
        assert_eq!(fill.account, None, "another account's command");

        // Bob amends the rest (same price, smaller: priority kept), then
        // cancels it; a second cancel is the engine's rejection.
        let amend = bob
            .submit(&Command::AmendOrder {
                request_id: 4,
                order: ask_id,
                symbol: "BTC-USD".into(),
                price: "30000.00".into(),
                qty: "0.5000".into(),
            })
            .await
            .unwrap();
        let amended = amend.events_of("order_amended").next().expect("amended");
        assert_eq!(amended["priority_kept"], true, "{amend:?}");
        let cancel = bob
            .submit(&Command::CancelOrder {
                request_id: 5,
                order: ask_id,
            })
            .await
            .unwrap();
        let cancelled = cancel
            .events_of("order_cancelled")
            .next()
            .expect("cancelled");
        assert_eq!(cancelled["order"], ask_id);
        let again = bob
            .submit(&Command::CancelOrder {
                request_id: 6,
                order: ask_id,
            })
            .await
            .unwrap();
        assert_eq!(again.rejection().unwrap().reason, "unknown_order");
        // An engine rejection is an answer; a resend of an accepted id is
        // `duplicate`, naming the last accepted id.
        let dup = bob
            .submit(&Command::CancelOrder {
                request_id: 5,
                order: ask_id,
            })
            .await
            .unwrap();
        let r = dup.rejection().unwrap();
        assert_eq!(r.reason, "duplicate");
        assert!(r.message.contains('5'), "{r:?}");

        // What the gateway refuses never reaches the engine.
        let cross = alice
            .submit(&json!({"type": "cancel_all", "account": 2, "request_id": 9}))
            .await
            .unwrap_err();
        assert_eq!(cross.code(), Some("cross_account"), "{cross}");
        let not_op = alice.submit(&deposit(1, 9, "USD", "1")).await.unwrap_err();
        assert_eq!(not_op.code(), Some("not_operator"), "{not_op}");
        let bad = alice
            .submit(&json!({"type": "place_order", "request_id": 9, "nonsense": 1}))
            .await
            .unwrap_err();
        assert_eq!(bad.code(), Some("bad_command"), "{bad}");
        match alice.query(9).await.unwrap().status {
            QueryStatus::NotExecuted => {}
            other => panic!("refused commands were executed: {other:?}"),
        }
        match bob.query(4).await.unwrap().status {
            QueryStatus::Accepted { seq } => assert_eq!(seq, amend.seq),
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn many_calls_in_flight_from_clones_each_get_their_own_answer() {
    let server = TestServer::start();
    let key = server.key(3);
    runtime().block_on(async {
        let client = Client::connect(&server.url, &key, Options::default())
            .await
            .unwrap();
        client
            .submit(&Command::OpenAccount { request_id: 1 })
            .await
            .unwrap();
        // Rejections leave the last accepted id alone, so their order on
        // the wire does not matter: each answer must match its request.
        let mut calls = tokio::task::JoinSet::new();
        for request_id in 2..66u64 {
            let c = client.clone();
            calls.spawn(async move {
                let order = 1000 + request_id;
                let a = c
                    .submit(&Command::CancelOrder { request_id, order })
                    .await
                    .unwrap();
                assert_eq!(a.request_id, request_id);
                assert_eq!(a.rejection().unwrap().reason, "unknown_order");
                let q = c.query(request_id).await.unwrap();
                assert_eq!(q.request_id, request_id);
                assert!(
                    matches!(q.status, QueryStatus::Rejected { ref reason, .. } if reason == "unknown_order"),
                    "{q:?}"
                );
                request_id
            });
        }
        let mut done = Vec::new();
        while let Some(r) = calls.join_next().await {
            done.push(r.unwrap());
        }
        assert_eq!(done.len(), 64);
    });
}

#[test]
fn a_bad_key_is_unauthorized() {
    let server = TestServer::start();
    let key = server.key(4);
    runtime().block_on(async {
        let mut wrong = key.clone();
        wrong.pop();
        wrong.push(if key.ends_with('0') { '1' } else { '0' });
        for bad in [wrong.as_str(), "nonsense", ""] {
            match Client::connect(&server.url, bad, Options::default()).await {
                Err(ClientError::Unauthorized { message }) => {
                    assert!(message.contains("API key"), "{message}")
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        assert!(Client::connect(&server.url, &key, Options::default())
            .await
            .is_ok());
    });
}

#[test]
fn cancel_after_cancels_the_accounts_orders_and_says_so() {
    let server = TestServer::start();
    let key = server.key(5);
    runtime().block_on(async {
        let client = Client::connect(&server.url, &key, Options::default())
            .await
            .unwrap();
        let operator = Client::connect(&server.url, &server.operator_key, Options::default())
            .await
            .unwrap();
        let mut updates = client.updates();
        open_and_fund(&client, &operator, "USD", "10000").await;
        let bid = client
            .place(Order::limit(3, "BTC-USD", Side::Buy, "100.00", "1.0000"))
            .await
            .unwrap();
        let order = bid.order_id().unwrap();
        assert_eq!(client.cancel_after(150).await.unwrap(), 150);
        let bad = client.cancel_after(u64::MAX).await.unwrap_err();
        assert_eq!(bad.code(), Some("bad_cancel_after"));
        // `cancel_after_fired` and the cancel's update, in either order (the
        // session acknowledges as the router routes the cancel).
        let (mut fired, mut cancelled) = (false, None);
        let seen = tokio::time::timeout(WAIT, async {
            while !fired || cancelled.is_none() {
                match updates.recv().await {
                    Some(Event::CancelAfterFired) => fired = true,
                    Some(Event::Update(u)) if u.events_of("order_cancelled").next().is_some() => {
                        cancelled = Some(u)
                    }
                    Some(_) => {}
                    None => panic!("events ended"),
                }
            }
        })
        .await;
        assert!(seen.is_ok(), "fired: {fired}, cancelled: {cancelled:?}");
        let cancelled = cancelled.unwrap();
        assert_eq!(
            cancelled.events_of("order_cancelled").next().unwrap()["order"],
            order
        );
        // The account's own safety cancel shows its account.
        assert_eq!(cancelled.account, Some(5));
    });
}

#[test]
fn shutdown_closes_the_session_with_its_reason() {
    let mut server = TestServer::start();
    let key = server.key(6);
    let rt = runtime();
    let client = rt.block_on(async {
        let client = Client::connect(&server.url, &key, Options::default())
            .await
            .unwrap();
        client
            .submit(&Command::OpenAccount { request_id: 1 })
            .await
            .unwrap();
        client
    });
    let mut updates = client.updates();
    server.shutdown();
    rt.block_on(async {
        let reason = tokio::time::timeout(WAIT, async {
            loop {
                match updates.recv().await {
                    Some(Event::Disconnected { reason }) => return reason,
                    Some(_) => continue,
                    None => panic!("events ended"),
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(reason, "shutdown");
        assert!(!client.is_connected());
        match client.submit(&Command::OpenAccount { request_id: 2 }).await {
            Err(ClientError::Closed { reason }) => assert_eq!(reason, "shutdown"),
            other => panic!("{other:?}"),
        }
    });
}

/// Two commands go unanswered: the answer to request 3 is lost on the way
/// back (it executed), request 4 is lost on the way in (it never arrived).
/// The connection drops; the client reconnects and resends both, in order:
/// the engine answers 3 with `duplicate` (naming the last accepted id) and
/// executes 4, once. Nothing executes twice.
#[test]
fn reconnect_resends_what_had_no_answer_in_order_and_nothing_executes_twice() {
    use std::sync::atomic::Ordering::SeqCst;
    let server = TestServer::start();
    let key = server.key(7);
    runtime().block_on(async {
        let proxy = Proxy::start(server.addr).await;
        let client = Client::connect(&proxy.url(), &key, Options::default())
            .await
            .unwrap();
        let operator = Client::connect(&server.url, &server.operator_key, Options::default())
            .await
            .unwrap();
        open_and_fund(&client, &operator, "USD", "10000").await;
        let status = |request_id: u64| {
            let operator = operator.clone();
            async move { operator.query_account(7, request_id).await.unwrap().status }
        };

        // Request 3 executes; its answer is lost.
        proxy.lose_replies.store(true, SeqCst);
        let calls = [(3, "100.00"), (4, "101.00")].map(|(request_id, price)| {
            let c = client.clone();
            let order = Order::limit(request_id, "BTC-USD", Side::Buy, price, "1.0000");
            async move { c.place(order).await }
        });
        let [three, four] = calls;
        let three = tokio::spawn(three);
        let seq = eventually(|| async {
            match status(3).await {
                QueryStatus::Accepted { seq } => Some(seq),
                _ => None,
            }
        })
        .await;
        // Request 4 never reaches the server.
        proxy.lose_requests.store(true, SeqCst);
        let four = tokio::spawn(four);
        eventually(|| async { (proxy.requests_lost.load(SeqCst) > 0).then_some(()) }).await;
        assert_eq!(status(4).await, QueryStatus::NotExecuted);

        proxy.cut();
        proxy.lose_replies.store(false, SeqCst);
        proxy.lose_requests.store(false, SeqCst);
        for call in [three, four] {
            match tokio::time::timeout(WAIT, call).await.unwrap().unwrap() {
                Err(ClientError::Closed { .. }) => {}
                other => panic!("{other:?}"),
            }
        }
        assert!(!client.is_connected());
        let unanswered = client.unanswered();
        let ids: Vec<&Value> = unanswered.iter().map(|c| &c["request_id"]).collect();
        assert_eq!(ids, [3, 4], "{unanswered:?}");
        assert!(unanswered.iter().all(|c| c.get("tag").is_none()));
        match client.query(3).await {
            Err(ClientError::Closed { .. }) => {}
            other => panic!("a call on a closed session: {other:?}"),
        }

        let resent = client.reconnect().await.unwrap();
        assert!(client.is_connected());
        assert!(client.unanswered().is_empty());
        let answers: Vec<&keel_client::Answer> =
            resent.iter().map(|r| r.result.as_ref().unwrap()).collect();
        assert_eq!(
            answers.iter().map(|a| a.request_id).collect::<Vec<_>>(),
            [3, 4]
        );
        let r = answers[0].rejection().expect("duplicate");
        assert_eq!(r.reason, "duplicate");
        assert!(r.message.contains('3'), "{r:?}");
        assert!(answers[0].events_of("order_accepted").next().is_none());
        assert!(answers[0].seq > seq);
        assert!(answers[1].is_accepted(), "{:?}", answers[1]);
        assert_eq!(
            answers[1].order_id(),
            Some(2),
            "request 3 placed order 1, once"
        );
        let q = client.query(4).await.unwrap();
        assert_eq!(
            q.status,
            QueryStatus::Accepted {
                seq: answers[1].seq
            }
        );
        assert_eq!(q.last_accepted, Some(4));

        // The session goes on.
        let next = client
            .place(Order::limit(5, "BTC-USD", Side::Buy, "102.00", "1.0000"))
            .await
            .unwrap();
        assert_eq!(next.order_id(), Some(3), "{next:?}");
    });
}

/// Against a server allowing 100 messages/s with a burst of 10, 40 calls at
/// once: a pacing client stays under the limit and every call gets its
/// answer; without pacing the server refuses some as `rate_limited` (the
/// refusal carries the call's tag, so the call itself fails with it).
#[test]
fn pacing_keeps_under_the_servers_rate_limit() {
    let server = TestServer::start_with(|g| {
        g.rate_per_s = 100;
        g.rate_burst = 10;
    });
    let key = server.key(11);
    runtime().block_on(async {
        let burst = |client: Client| async move {
            let mut calls = tokio::task::JoinSet::new();
            for request_id in 100..140u64 {
                let c = client.clone();
                calls.spawn(async move {
                    c.submit(&Command::CancelOrder {
                        request_id,
                        order: request_id,
                    })
                    .await
                });
            }
            let (mut answered, mut limited) = (0, 0);
            while let Some(r) = calls.join_next().await {
                match r.unwrap() {
                    Ok(_) => answered += 1,
                    Err(ClientError::Refused { code, .. }) if code == "rate_limited" => {
                        limited += 1
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            (answered, limited)
        };
        let paced = Client::connect(&server.url, &key, Options::default())
            .await
            .unwrap();
        let mut events = paced.updates();
        assert_eq!(burst(paced.clone()).await, (40, 0));
        while let Some(e) = events.try_recv() {
            assert!(!matches!(e, Event::Error(_)), "{e:?}");
        }
        paced.close().await;

        let options = Options {
            pace: false,
            request_timeout: Some(Duration::from_millis(500)),
            ..Options::default()
        };
        let unpaced = Client::connect(&server.url, &key, options).await.unwrap();
        let (answered, limited) = burst(unpaced.clone()).await;
        assert_eq!(
            answered + limited,
            40,
            "every call ended, answered or refused"
        );
        assert!(limited > 0, "some were rate limited");
    });
}
