//! The stream's rules, deterministically, against a real `nats-server`: a
//! batch resent with the same message id is kept once and acknowledged at
//! its first position; a leader whose idea of the stream's last message is
//! stale (another leader has written since) is refused (fenced) and the
//! stream is unchanged. Skips with a message where `nats-server` is
//! missing, except under CI (`CI=true`), where it fails.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use keel_engine::keel_journal::{Journal, JournalConfig};
use keel_engine::{CommittedBatch, ReplicationError, Replicator};
use keel_replication::{JetStreamReplicator, Link, ReplicationConfig};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn server(store: &std::path::Path) -> Option<(Server, u16)> {
    let bin = ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let Some(bin) = bin else {
        let how = "nats-server is not installed: apt-get install -y nats-server";
        assert!(std::env::var("CI").map_or(true, |v| v != "true"), "{how}");
        eprintln!("SKIPPED: {how}");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(bin)
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string()])
        .args(["-sd", &store.display().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nats-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Some((Server(child), port))
}

/// Batches of a journal of `records` records, one per commit.
fn batches(dir: &std::path::Path, tag: &str, records: u64) -> Vec<CommittedBatch> {
    let (mut j, _) = Journal::open(JournalConfig::new(dir)).unwrap();
    j.set_capture(true);
    (1..=records)
        .map(|i| {
            j.append(format!("{tag} {i}").as_bytes()).unwrap();
            j.commit().unwrap();
            let mut bytes = Vec::new();
            j.take_captured(&mut bytes);
            CommittedBatch {
                first_seq: i,
                last_seq: i,
                bytes,
            }
        })
        .collect()
}

#[test]
fn failover_fence_a_stale_leader_is_refused_and_a_resend_is_kept_once() {
    let store = tempfile::tempdir().unwrap();
    let Some((_server, port)) = server(store.path()) else {
        return;
    };
    let cfg = ReplicationConfig {
        servers: vec![format!("nats://127.0.0.1:{port}")],
        ack_timeout_ms: 5_000,
        ..ReplicationConfig::default()
    };
    let link = Arc::new(Link::connect(&cfg).unwrap());
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ours = batches(d1.path(), "ours", 3);
    let theirs = batches(d2.path(), "theirs", 3);

    // The first leader publishes batch 1.
    let mut old = JetStreamReplicator::new(link.clone(), 0, None);
    old.submit(&ours[0]).unwrap();
    assert_eq!(old.acknowledged().unwrap(), 1);
    // Resent (same id, same expectation): kept once.
    let mut again = JetStreamReplicator::new(link.clone(), 0, None);
    again.submit(&ours[0]).unwrap();
    assert_eq!(again.acknowledged().unwrap(), 1);
    assert_eq!(link.last_stream_seq().unwrap(), 1);

    // A new leader continues from the stream: its batch 2 lands at 2.
    let mut new = JetStreamReplicator::new(link.clone(), 1, None);
    new.submit(&theirs[1]).unwrap();
    assert_eq!(new.acknowledged().unwrap(), 2);

    // The old leader, still believing the stream ends at 1, publishes its
    // own batch 2: refused, and the stream keeps the new leader's.
    old.submit(&ours[1]).unwrap();
    match old.acknowledged() {
        Err(ReplicationError::Fenced { first_seq: 2, .. }) => {}
        other => panic!("expected the stale leader to be fenced, got {other:?}"),
    }
    assert_eq!(link.last_stream_seq().unwrap(), 2);
    let stored = link.get(2).unwrap();
    assert_eq!(&stored.bytes[..], &theirs[1].bytes[..]);
    assert_eq!(link.locate(2).unwrap(), Some(2));
}
