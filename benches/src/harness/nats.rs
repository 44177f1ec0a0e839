//! Replication in the latency harness: `nats-server` processes started for
//! a step (one server for R1, a three-server JetStream cluster for R3, on
//! loopback with temporary stores), the engine's [`JetStreamReplicator`]
//! against them, and the floor: one JetStream publish round trip (publish
//! a message of a batch's size, wait for its acknowledgement), measured on
//! the same servers in the same run.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use keel_replication::{JetStreamReplicator, Link, ReplicationConfig};

/// `r1` / `r3` → replicas; anything else is not a replicated run.
pub fn replicas_of(durability: &str) -> Option<usize> {
    match durability {
        "r1" => Some(1),
        "r3" => Some(3),
        _ => None,
    }
}

fn binary() -> Result<PathBuf, String> {
    [
        "/usr/sbin/nats-server",
        "/usr/bin/nats-server",
        "/usr/local/bin/nats-server",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
    .ok_or_else(|| {
        "nats-server is not installed (apt-get install -y nats-server): no replicated runs"
            .to_string()
    })
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

/// NATS servers for one step; killed on drop.
pub struct Nats {
    children: Vec<Child>,
    /// Client URLs.
    pub urls: Vec<String>,
    /// Stream replicas (1 or 3).
    pub replicas: usize,
    _dir: tempfile::TempDir,
}

impl Nats {
    /// Starts `replicas` servers (clustered when 3) and waits until they
    /// accept connections.
    pub fn start(replicas: usize) -> Result<Nats, String> {
        let bin = binary()?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let ports: Vec<(u16, u16)> = (0..replicas)
            .map(|_| Ok((free_port()?, free_port()?)))
            .collect::<Result<_, String>>()?;
        let mut children = Vec::new();
        for (i, (port, cport)) in ports.iter().enumerate() {
            let mut cmd = Command::new(&bin);
            cmd.args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-n",
                &format!("b{i}"),
            ])
            .args([
                "-sd",
                &dir.path().join(format!("s{i}")).display().to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
            if replicas > 1 {
                let routes: Vec<String> = ports
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, (_, c))| format!("nats://127.0.0.1:{c}"))
                    .collect();
                cmd.args(["--cluster_name", "keel-bench"])
                    .args(["--cluster", &format!("nats://127.0.0.1:{cport}")])
                    .args(["--routes", &routes.join(",")]);
            }
            children.push(cmd.spawn().map_err(|e| format!("nats-server: {e}"))?);
        }
        let nats = Nats {
            children,
            urls: ports
                .iter()
                .map(|(p, _)| format!("nats://127.0.0.1:{p}"))
                .collect(),
            replicas,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        for (p, _) in &ports {
            while std::net::TcpStream::connect(("127.0.0.1", *p)).is_err() {
                if Instant::now() > deadline {
                    return Err(format!("nats-server on port {p} did not start"));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(nats)
    }

    fn config(&self, stream: &str, subject: &str) -> ReplicationConfig {
        ReplicationConfig {
            servers: self.urls.clone(),
            node: "bench".into(),
            stream: stream.into(),
            subject: subject.into(),
            replicas: self.replicas,
            ack_timeout_ms: 10_000,
            ..ReplicationConfig::default()
        }
    }

    /// The engine's replicator on a fresh stream, `max_in_flight` batches
    /// unacknowledged at most.
    pub fn replicator(&self, max_in_flight: usize) -> Result<JetStreamReplicator, String> {
        let mut cfg = self.config("BENCH", "keel.bench");
        cfg.max_in_flight = max_in_flight;
        let link = Link::connect(&cfg).map_err(|e| e.to_string())?;
        Ok(JetStreamReplicator::new(Arc::new(link), 0, None))
    }

    /// The floor: `samples` sequential publishes of `bytes`-byte messages
    /// on their own stream, each waiting for its acknowledgement; returns
    /// the round trips in ns, sorted.
    pub fn publish_round_trips(&self, samples: usize, bytes: usize) -> Result<Vec<u64>, String> {
        let link = Link::connect(&self.config("RTT", "keel.rtt")).map_err(|e| e.to_string())?;
        let payload = bytes::Bytes::from(vec![0x5a; bytes.max(1)]);
        let js = link.js.clone();
        let mut out = link.rt.block_on(async move {
            let mut out = Vec::with_capacity(samples);
            for i in 0..samples + samples / 10 {
                let t = Instant::now();
                let ack = js
                    .publish("keel.rtt", payload.clone())
                    .await
                    .map_err(|e| e.to_string())?;
                ack.await.map_err(|e| e.to_string())?;
                // The first tenth warms the connection up.
                if i >= samples / 10 {
                    out.push(t.elapsed().as_nanos() as u64);
                }
            }
            Ok::<_, String>(out)
        })?;
        out.sort_unstable();
        Ok(out)
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The `q`-quantile of sorted values.
pub fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}
