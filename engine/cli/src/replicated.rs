//! `keel serve`, `keel follow` and `keel promote` with `[replication]`:
//! the node follows the stream until it holds the lease, then leads (the
//! gateway, its engine publishing every batch to JetStream before any
//! output).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use keel_gateway::{GatewayConfig, Server};
use keel_replication::{
    acquire, Follower, JetStreamReplicator, Lease, Link, ReplError, ReplicationConfig, Takeover,
};

/// How the node comes to lead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// `keel serve`: lead now if the lease is free, lapsed or this node's.
    Lead,
    /// `keel follow`: follow; lead when the leader's lease lapses.
    Follow,
    /// `keel promote`: catch up, take the lease whoever holds it, lead.
    Promote,
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn name(role: Role) -> &'static str {
    match role {
        Role::Lead => "keel serve",
        Role::Follow => "keel follow",
        Role::Promote => "keel promote",
    }
}

/// Runs a replicated node. Exit status: 0 clean stop, 2 bad config or start
/// failure, 3 the engine stopped on a failure (fenced, lease lost, log not
/// acknowledging).
pub fn run(
    config: &keel_engine::Config,
    gateway: GatewayConfig,
    table: toml::Value,
    role: Role,
) -> u8 {
    let me = name(role);
    let cfg = match ReplicationConfig::from_table(table) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{me}: {e}");
            return 2;
        }
    };
    // SAFETY: `on_stop` only stores to an atomic, which is
    // async-signal-safe; the handlers are installed before any thread of
    // this node starts.
    unsafe {
        libc::signal(libc::SIGTERM, on_stop as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_stop as *const () as libc::sighandler_t);
    }
    match lead_when_possible(config, &cfg, role) {
        Ok(None) => 0,
        Ok(Some((link, last_stream_seq, revision))) => {
            serve(config, gateway, link, last_stream_seq, revision, role)
        }
        Err(e) => {
            eprintln!("{me}: {e}");
            2
        }
    }
}

type Leading = (Arc<Link>, u64, u64);

fn lead_when_possible(
    config: &keel_engine::Config,
    cfg: &ReplicationConfig,
    role: Role,
) -> Result<Option<Leading>, ReplError> {
    let me = name(role);
    let link = Arc::new(Link::connect(cfg)?);
    let mut follower = Follower::open(config, link.clone())?;
    if let Some(cut) = &follower.cut {
        eprintln!("{me}: {cut}");
    }
    let applied = follower.catch_up()?;
    let s = follower.status().clone();
    eprintln!(
        "{me}: node {} caught up: applied {applied} batches from stream {}; journal at sequence {}, stream at {}",
        cfg.node, cfg.stream, s.last_seq, s.stream_seq
    );
    let (last_stream_seq, revision) = match role {
        Role::Lead | Role::Promote => {
            let revision = acquire(&link, role == Role::Promote)?;
            // Anything published before the lease moved to this node.
            follower.catch_up()?;
            (follower.status().stream_seq, revision)
        }
        Role::Follow => {
            eprintln!("{me}: following stream {} as node {}", cfg.stream, cfg.node);
            match follower.follow(
                || STOP.load(Ordering::SeqCst),
                |s| {
                    eprintln!(
                        "{me}: at sequence {} (stream {} of {}; lag {} batches)",
                        s.last_seq,
                        s.stream_seq,
                        s.stream_last,
                        s.stream_last.saturating_sub(s.stream_seq)
                    )
                },
                |why| eprintln!("{me}: {why}; retrying"),
            )? {
                Takeover::Stopped => {
                    let s = follower.status();
                    eprintln!(
                        "{me}: stopped at sequence {} (stream sequence {}), digest {}",
                        s.last_seq,
                        s.stream_seq,
                        follower.state().digest()
                    );
                    return Ok(None);
                }
                Takeover::Promoted {
                    last_stream_seq,
                    revision,
                } => (last_stream_seq, revision),
            }
        }
    };
    let s = follower.close();
    eprintln!(
        "{me}: node {} holds the lease (revision {revision}); leading from journal sequence {} (stream sequence {last_stream_seq})",
        cfg.node, s.last_seq
    );
    Ok(Some((link, last_stream_seq, revision)))
}

fn serve(
    config: &keel_engine::Config,
    gateway: GatewayConfig,
    link: Arc<Link>,
    last_stream_seq: u64,
    revision: u64,
    role: Role,
) -> u8 {
    let me = name(role);
    let lease = Lease::hold(&link, revision);
    let replicator = JetStreamReplicator::new(link.clone(), last_stream_seq, Some(lease.clone()));
    let server = match Server::start_replicated(config, gateway, Box::new(replicator)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{me}: {e}");
            lease.release();
            return 2;
        }
    };
    let report = server.start_report();
    eprintln!(
        "{me}: recovered {} records (journal {}), digest {}",
        report.records_replayed,
        report.journal_dir.display(),
        report.digest
    );
    println!("{me}: listening on ws://{}/v1/ws", server.local_addr());
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    if STOP.load(Ordering::SeqCst) {
        eprintln!("{me}: stop signal while starting");
    }
    // A leader that lost its lease stops at once, even when idle (its next
    // batch would be refused anyway): the watcher raises SIGTERM, which the
    // server takes as an ordered stop.
    let watch = lease.clone();
    let watcher_me = me.to_owned();
    std::thread::spawn(move || loop {
        std::thread::sleep(std::time::Duration::from_millis(50));
        if let Some(why) = watch.lost() {
            eprintln!("{watcher_me}: leadership lost ({why}): stopping");
            // SAFETY: kill(2) on this process's own pid; no memory involved.
            unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
            return;
        }
    });
    let result = server.run_until_signal();
    lease.release();
    if let Some(why) = lease.lost() {
        eprintln!("{me}: stopped: leadership lost ({why}); restart this node with `keel follow`");
        return 3;
    }
    match result {
        Ok(exit) => {
            eprintln!("{me}: stopped; gateway {}", exit.telemetry);
            eprintln!("{me}: final digest {}", exit.engine.digest);
            0
        }
        Err(e) => {
            eprintln!("{me}: {e}");
            3
        }
    }
}

/// Reads the config for a replicated command; `None` (after printing why)
/// if it cannot, or has no `[replication]`.
pub fn load(
    path: &Path,
    me: &str,
) -> Result<(keel_engine::Config, GatewayConfig, Option<toml::Value>), u8> {
    keel_gateway::load_sections(path).map_err(|e| {
        eprintln!("{me}: {e}");
        2
    })
}
