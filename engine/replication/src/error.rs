//! Errors of replication set-up, following and leading.

/// Why a replication step failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplError {
    /// A `[replication]` value is wrong.
    #[error("{0}")]
    Config(String),
    /// NATS or JetStream refused or failed.
    #[error("NATS: {0}")]
    Nats(String),
    /// A stream message is not a well-formed batch.
    #[error("stream message {stream_seq}: {source}")]
    Stream {
        /// The stream sequence.
        stream_seq: u64,
        /// What is wrong with it.
        source: keel_journal::ReplicaError,
    },
    /// This node's journal does not continue the stream.
    #[error("journal {dir}: {source}")]
    Journal {
        /// The journal directory.
        dir: std::path::PathBuf,
        /// What failed.
        source: keel_journal::ReplicaError,
    },
    /// The journal could not be opened, cut or read.
    #[error("{0}")]
    Local(String),
    /// Applying a replicated record failed (a follower never re-decides:
    /// this is a leader whose records this core does not apply).
    #[error("record {seq}: {message}")]
    Apply {
        /// The record's sequence.
        seq: u64,
        /// What failed.
        message: String,
    },
    /// Another node holds the lease.
    #[error("node {holder:?} holds the lease (revision {revision}, renewed within the last {lease_ms} ms); start this node with `keel follow`, or stop that node first")]
    LeaseHeld {
        /// The leaseholder's name.
        holder: String,
        /// The lease entry's revision.
        revision: u64,
        /// The lease length.
        lease_ms: u64,
    },
}
