//! The connection to NATS: a small tokio runtime of its own (the engine's
//! threads never run async code), the JetStream stream holding the journal
//! and the key-value bucket holding the lease.

use std::time::Duration;

use async_nats::jetstream::{self, kv, stream};

use bytes::Bytes;

use crate::config::ReplicationConfig;
use crate::error::ReplError;

/// A batch as stored in the stream: its stream sequence and bytes, with the
/// journal sequences its commit marker names.
#[derive(Clone, Debug)]
pub struct StoredBatch {
    /// Stream sequence of the message.
    pub stream_seq: u64,
    /// First and last journal sequence of the batch.
    pub first_seq: u64,
    /// Last journal sequence of the batch.
    pub last_seq: u64,
    /// Chain after the batch.
    pub chain: [u8; 32],
    /// The batch bytes (record frames and commit marker).
    pub bytes: Bytes,
}

/// The NATS connection, stream and lease bucket.
pub struct Link {
    /// Runs the NATS client's tasks.
    pub rt: tokio::runtime::Runtime,
    /// The JetStream context (its timeout is `ack_timeout_ms`).
    pub js: jetstream::Context,
    /// The journal's stream.
    pub stream: stream::Stream,
    /// The lease bucket.
    pub kv: kv::Store,
    /// The settings.
    pub cfg: ReplicationConfig,
}

impl Link {
    /// Connects, and creates the stream and the lease bucket if missing.
    pub fn connect(cfg: &ReplicationConfig) -> Result<Link, ReplError> {
        cfg.validate().map_err(ReplError::Config)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("keel-nats")
            .enable_all()
            .build()
            .map_err(|e| ReplError::Nats(format!("cannot start the NATS client runtime: {e}")))?;
        let servers = cfg.servers.join(",");
        let mut addrs = Vec::new();
        for url in &cfg.servers {
            addrs.push(url.parse::<async_nats::ServerAddr>().map_err(|e| {
                ReplError::Config(format!(
                    "replication.servers: {url:?} is not a NATS URL: {e}"
                ))
            })?);
        }
        let (js, stream, kv) = rt.block_on(async {
            let client = async_nats::ConnectOptions::new()
                .connection_timeout(Duration::from_millis(cfg.ack_timeout_ms.max(1000)))
                .name(format!("keel {}", cfg.node))
                .connect(addrs)
                .await
                .map_err(|e| ReplError::Nats(format!("cannot connect to NATS at {servers}: {e}; is nats-server running with JetStream (-js)?")))?;
            let mut js = jetstream::new(client);
            js.set_timeout(Duration::from_millis(cfg.ack_timeout_ms));
            // A cluster that just started may not have elected its
            // JetStream leader yet: retry for a while.
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            let stream = loop {
                let got = js
                    .get_or_create_stream(stream::Config {
                        name: cfg.stream.clone(),
                        subjects: vec![cfg.subject.clone()],
                        num_replicas: cfg.replicas,
                        storage: stream::StorageType::File,
                        duplicate_window: Duration::from_secs(120),
                        ..Default::default()
                    })
                    .await;
                match got {
                    Ok(s) => break s,
                    Err(e) if std::time::Instant::now() >= deadline => {
                        return Err(ReplError::Nats(format!("stream {}: {e}", cfg.stream)))
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
                }
            };
            // The bucket's stream is created here as a key-value bucket's
            // (what `create_key_value` would make), because that call asks
            // for account information nats-server 2.9 answers differently.
            let kv = match js.get_key_value(cfg.lease_bucket.as_str()).await {
                Ok(kv) => kv,
                Err(_) => {
                    js.get_or_create_stream(stream::Config {
                        name: format!("KV_{}", cfg.lease_bucket),
                        subjects: vec![format!("$KV.{}.>", cfg.lease_bucket)],
                        max_messages_per_subject: 1,
                        storage: stream::StorageType::File,
                        num_replicas: cfg.replicas,
                        allow_rollup: true,
                        deny_delete: true,
                        allow_direct: true,
                        discard: stream::DiscardPolicy::New,
                        ..Default::default()
                    })
                    .await
                    .map_err(|e| ReplError::Nats(format!("lease bucket {}: {e}", cfg.lease_bucket)))?;
                    js.get_key_value(cfg.lease_bucket.as_str())
                        .await
                        .map_err(|e| ReplError::Nats(format!("lease bucket {}: {e}", cfg.lease_bucket)))?
                }
            };
            Ok::<_, ReplError>((js, stream, kv))
        })?;
        Ok(Link {
            rt,
            js,
            stream,
            kv,
            cfg: cfg.clone(),
        })
    }

    /// The stream's last sequence (0 when empty).
    pub fn last_stream_seq(&self) -> Result<u64, ReplError> {
        let stream = self.stream.clone();
        self.rt.block_on(async move {
            let info = stream
                .get_info()
                .await
                .map_err(|e| ReplError::Nats(format!("stream info: {e}")))?;
            Ok(info.state.last_sequence)
        })
    }

    /// The batch stored at `stream_seq`, named by its commit marker
    /// ([`stored`]).
    pub fn get(&self, stream_seq: u64) -> Result<StoredBatch, ReplError> {
        let stream = self.stream.clone();
        let msg = self
            .rt
            .block_on(async move { stream.get_raw_message(stream_seq).await })
            .map_err(|e| ReplError::Nats(format!("reading stream message {stream_seq}: {e}")))?;
        stored(stream_seq, msg.payload)
    }

    /// The stream sequence of the batch holding journal sequence `seq`, if
    /// the stream holds it (a binary search: batches are in order).
    pub fn locate(&self, seq: u64) -> Result<Option<u64>, ReplError> {
        let last = self.last_stream_seq()?;
        let (mut lo, mut hi) = (1u64, last);
        while lo <= hi && last > 0 {
            let mid = lo + (hi - lo) / 2;
            let b = self.get(mid)?;
            if b.last_seq < seq {
                lo = mid + 1;
            } else if b.first_seq > seq {
                if mid == 1 {
                    return Ok(None);
                }
                hi = mid - 1;
            } else {
                return Ok(Some(mid));
            }
        }
        Ok(None)
    }
}

/// A stream message's payload as a batch named by its commit marker (its
/// CRC checked; the records are checked by `Batch::parse` when the batch is
/// appended, not on every look-up).
pub fn stored(stream_seq: u64, payload: Bytes) -> Result<StoredBatch, ReplError> {
    let m = keel_journal::Batch::marker_of(&payload)
        .map_err(|source| ReplError::Stream { stream_seq, source })?;
    Ok(StoredBatch {
        stream_seq,
        first_seq: m.first_seq,
        last_seq: m.last_seq,
        chain: m.chain,
        bytes: payload,
    })
}

/// The message id of a batch: its sequences and the start of its chain, so
/// the same batch resent is deduplicated and a different batch at the same
/// sequences (another leader's) is not.
pub fn message_id(first_seq: u64, last_seq: u64, chain: &[u8; 32]) -> String {
    let mut id = format!("keel-{first_seq}-{last_seq}-");
    for b in &chain[..8] {
        id.push_str(&format!("{b:02x}"));
    }
    id
}
