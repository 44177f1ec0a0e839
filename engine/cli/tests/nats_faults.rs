//! NATS faults under a replicated Keel, with a three-server JetStream
//! cluster and an R3 stream: one server killed, Keel keeps committing;
//! all of them killed, outputs stop (nothing is acknowledged that is not
//! replicated), and Keel waits (`on_timeout = "wait"`) or stops
//! (`"fail"`) as configured; after the servers come back nothing
//! acknowledged is lost.

mod replication_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use replication_support::*;
use serde_json::Value;

fn orders(account: u32, rids: std::ops::Range<u64>) -> Vec<(u64, Value)> {
    rids.map(|r| (r, order(account, r))).collect()
}

fn wait_url(node: &Node) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(u) = node.url() {
            return u;
        }
        assert!(
            Instant::now() < deadline,
            "{} did not serve:\n{}",
            node.name,
            node.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every answer in `answers` names its request at that sequence in `node`'s journal.
fn answered_in_journal(node: &Node, account: u64, answers: &BTreeMap<u64, Value>) {
    let journal = executed(&node.journal());
    for (rid, a) in answers {
        let seq = a["seq"].as_u64().unwrap();
        let recs = journal
            .get(&(account, *rid))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        assert!(
            recs.iter().any(|(s, _)| *s == seq),
            "answered ({account}, {rid}) at {seq} is in {}'s journal: {recs:?}",
            node.name
        );
    }
}

#[test]
fn replication_r3_keeps_committing_without_one_server_and_waits_through_a_full_outage() {
    let Some(bin) = nats_server() else { return };
    let root = tempfile::tempdir().unwrap();
    let mut servers = nats(&bin, root.path(), 3);
    let urls: Vec<String> = servers.iter().map(NatsNode::url).collect();
    let extra = "replicas = 3\non_timeout = \"wait\"";
    let mut a = Node::new(root.path(), "a", &urls, extra);
    let mut b = Node::new(root.path(), "b", &urls, extra);
    let operator = add_key(&a.config, 0, true);
    let keys = vec![add_key(&a.config, 1, false)];
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    a.spawn("serve");
    let url = wait_url(&a);
    b.spawn("follow");
    b.wait_log("following stream", 1, Duration::from_secs(60));
    set_up_accounts(&rt, &url, &operator, &keys);
    let mut ws = rt.block_on(try_connect(&url, &keys[0])).unwrap();
    let mut answers = BTreeMap::new();
    let quiet = Duration::from_secs(30);
    rt.block_on(pipeline(&mut ws, &orders(1, 4..504), &mut answers, quiet));
    assert_eq!(answers.len(), 500);

    // One server down: a quorum of two remains; Keel keeps committing.
    servers[0].kill();
    rt.block_on(pipeline(
        &mut ws,
        &orders(1, 504..1004),
        &mut answers,
        quiet,
    ));
    assert_eq!(answers.len(), 1000, "answers with one NATS server down");

    // All down: nothing can be replicated, so nothing is answered.
    servers[1].kill();
    servers[2].kill();
    let waiting = orders(1, 1004..1104);
    let mut during = BTreeMap::new();
    rt.block_on(pipeline(
        &mut ws,
        &waiting,
        &mut during,
        Duration::from_secs(3),
    ));
    assert!(
        during.is_empty(),
        "answered with no NATS server up: {during:?}"
    );
    assert!(
        a.exited().is_none(),
        "on_timeout = \"wait\": the leader waits"
    );

    // Back: the waiting batches are acknowledged and answered.
    for s in &mut servers {
        s.start();
    }
    rt.block_on(async {
        use futures_util::StreamExt;
        let deadline = Instant::now() + Duration::from_secs(60);
        while during.len() < waiting.len() && Instant::now() < deadline {
            let Ok(Some(Ok(frame))) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await
            else {
                continue;
            };
            let tokio_tungstenite::tungstenite::Message::Text(t) = frame else {
                continue;
            };
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v["type"] == "answer" {
                during.insert(v["request_id"].as_u64().unwrap(), v);
            }
        }
    });
    assert_eq!(
        during.len(),
        waiting.len(),
        "answered once NATS came back:\n{}",
        a.stderr()
    );
    answers.extend(during);
    answered_in_journal(&a, 1, &answers);
    // The follower has every one of them, byte for byte.
    let end = records(&a.journal()).len();
    let deadline = Instant::now() + Duration::from_secs(60);
    while records(&b.journal()).len() < end {
        assert!(
            Instant::now() < deadline,
            "b did not catch up:\n{}",
            b.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(records(&a.journal())[..end], records(&b.journal())[..end]);
    answered_in_journal(&b, 1, &answers);
    drop(ws);
    a.signal(libc::SIGTERM);
    b.signal(libc::SIGTERM);
    assert_eq!(a.wait(), Some(0), "{}", a.stderr());
    assert_eq!(b.wait(), Some(0), "{}", b.stderr());
}

#[test]
fn replication_fails_stop_when_the_cluster_is_gone_and_loses_nothing_acknowledged() {
    let Some(bin) = nats_server() else { return };
    let root = tempfile::tempdir().unwrap();
    let mut servers = nats(&bin, root.path(), 3);
    let urls: Vec<String> = servers.iter().map(NatsNode::url).collect();
    let mut a = Node::new(
        root.path(),
        "a",
        &urls,
        "replicas = 3\non_timeout = \"fail\"",
    );
    let operator = add_key(&a.config, 0, true);
    let keys = vec![add_key(&a.config, 1, false)];
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    a.spawn("serve");
    let url = wait_url(&a);
    set_up_accounts(&rt, &url, &operator, &keys);
    let mut ws = rt.block_on(try_connect(&url, &keys[0])).unwrap();
    let mut answers = BTreeMap::new();
    rt.block_on(pipeline(
        &mut ws,
        &orders(1, 4..504),
        &mut answers,
        Duration::from_secs(30),
    ));
    assert_eq!(answers.len(), 500);

    for s in &mut servers {
        s.kill();
    }
    let unanswered = orders(1, 504..604);
    let mut during = BTreeMap::new();
    rt.block_on(pipeline(
        &mut ws,
        &unanswered,
        &mut during,
        Duration::from_secs(10),
    ));
    assert!(
        during.is_empty(),
        "answered with no NATS server up: {during:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let code = loop {
        if let Some(code) = a.exited() {
            break code;
        }
        assert!(
            Instant::now() < deadline,
            "on_timeout = \"fail\": the leader stops:\n{}",
            a.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(code, Some(3), "{}", a.stderr());
    assert!(a.stderr().contains("not acknowledged"), "{}", a.stderr());

    // Back up: the node leads again with everything acknowledged; the
    // client resends what had no answer, each executes at most once.
    for s in &mut servers {
        s.start();
    }
    a.spawn("serve");
    let url = wait_url(&a);
    answered_in_journal(&a, 1, &answers);
    let mut ws = rt.block_on(try_connect(&url, &keys[0])).unwrap();
    let mut resent = BTreeMap::new();
    rt.block_on(pipeline(
        &mut ws,
        &unanswered,
        &mut resent,
        Duration::from_secs(30),
    ));
    assert_eq!(resent.len(), unanswered.len());
    for ((account, rid), recs) in executed(&a.journal()) {
        let accepted = recs.iter().filter(|(_, x)| *x).count();
        assert!(
            accepted <= 1,
            "({account}, {rid}) executed {accepted} times"
        );
    }
    drop(ws);
    a.signal(libc::SIGTERM);
    assert_eq!(a.wait(), Some(0), "{}", a.stderr());
}

/// A message on the journal's subject that no Keel leader wrote (a stray
/// publisher, a damaged copy): a follower refuses it with a message naming
/// the stream sequence and appends nothing; the leader, whose expected
/// sequence it took, is fenced on its next batch. Nothing of it is ever in
/// a journal.
#[test]
fn replication_a_foreign_message_on_the_stream_stops_both_and_is_never_journaled() {
    let Some(bin) = nats_server() else { return };
    let root = tempfile::tempdir().unwrap();
    let servers = nats(&bin, root.path(), 1);
    let urls = vec![servers[0].url()];
    let mut a = Node::new(root.path(), "a", &urls, "");
    let mut b = Node::new(root.path(), "b", &urls, "");
    let operator = add_key(&a.config, 0, true);
    let keys = vec![add_key(&a.config, 1, false)];
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    a.spawn("serve");
    let url = wait_url(&a);
    b.spawn("follow");
    b.wait_log("following stream", 1, Duration::from_secs(30));
    set_up_accounts(&rt, &url, &operator, &keys);
    let end = records(&a.journal()).len();
    let deadline = Instant::now() + Duration::from_secs(30);
    while records(&b.journal()).len() < end {
        assert!(Instant::now() < deadline, "b did not catch up");
        std::thread::sleep(Duration::from_millis(20));
    }
    // A stray publisher: a batch-shaped message with a flipped byte.
    let cfg = keel_replication::ReplicationConfig {
        servers: urls.clone(),
        node: "stray".into(),
        ..Default::default()
    };
    let link = keel_replication::Link::connect(&cfg).unwrap();
    let last = link.last_stream_seq().unwrap();
    let mut bytes = link.get(last).unwrap().bytes.to_vec();
    bytes[20] ^= 0x01;
    let js = link.js.clone();
    link.rt
        .block_on(async move {
            js.publish("keel.journal", bytes.into())
                .await
                .unwrap()
                .await
        })
        .unwrap();
    // The follower stops on it, naming it, with its journal unchanged.
    let deadline = Instant::now() + Duration::from_secs(30);
    let code = loop {
        if let Some(code) = b.exited() {
            break code;
        }
        assert!(
            Instant::now() < deadline,
            "b kept following:\n{}",
            b.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(code, Some(2), "{}", b.stderr());
    assert!(
        b.stderr().contains(&format!("stream message {}", last + 1)),
        "{}",
        b.stderr()
    );
    assert_eq!(records(&b.journal()), records(&a.journal())[..end]);
    keel_engine::keel_journal::verify(&b.journal()).unwrap();
    // The leader's next batch is refused: it stops, answering nothing.
    let mut ws = rt.block_on(try_connect(&url, &keys[0])).unwrap();
    let mut answers = BTreeMap::new();
    rt.block_on(pipeline(
        &mut ws,
        &orders(1, 4..5),
        &mut answers,
        Duration::from_secs(5),
    ));
    assert!(answers.is_empty(), "{answers:?}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let code = loop {
        if let Some(code) = a.exited() {
            break code;
        }
        assert!(Instant::now() < deadline, "a kept leading:\n{}", a.stderr());
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(code, Some(3), "{}", a.stderr());
    assert!(a.stderr().contains("fenced"), "{}", a.stderr());
}

/// A node pointed at a stream that holds none of its history (a new
/// stream name, another venue's) refuses to start instead of cutting its
/// journal to fit, and changes nothing.
#[test]
fn replication_a_stream_without_the_node_s_history_is_refused_not_cut_to() {
    let Some(bin) = nats_server() else { return };
    let root = tempfile::tempdir().unwrap();
    let servers = nats(&bin, root.path(), 1);
    let urls = vec![servers[0].url()];
    let mut a = Node::new(root.path(), "a", &urls, "");
    let operator = add_key(&a.config, 0, true);
    let keys = vec![add_key(&a.config, 1, false)];
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    a.spawn("serve");
    let url = wait_url(&a);
    set_up_accounts(&rt, &url, &operator, &keys);
    a.signal(libc::SIGTERM);
    assert_eq!(a.wait(), Some(0), "{}", a.stderr());
    let before = records(&a.journal());
    assert!(!before.is_empty());
    let text = std::fs::read_to_string(&a.config).unwrap();
    std::fs::write(
        &a.config,
        text.replace(
            "[replication]\n",
            "[replication]\nstream = \"ELSEWHERE\"\nsubject = \"keel.elsewhere\"\n",
        ),
    )
    .unwrap();
    a.spawn("serve");
    assert_eq!(a.wait(), Some(2), "{}", a.stderr());
    assert!(a.stderr().contains("holds none of them"), "{}", a.stderr());
    assert_eq!(records(&a.journal()), before, "nothing was cut");
}
