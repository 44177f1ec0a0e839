//! Keel's journal replicated on NATS JetStream.
//!
//! * A **leader** ([`JetStreamReplicator`], given to
//!   `keel_engine::Engine::start_replicated`) publishes every locally
//!   committed batch as one stream message: the batch's journal bytes as
//!   written (record frames and commit marker, so the hash chain travels
//!   with them), with `Nats-Msg-Id` naming it and
//!   `Nats-Expected-Last-Sequence` set to the message before it. Outputs
//!   are published only after JetStream acknowledged the batch (stored on
//!   a quorum for an R3 stream). A publish the stream refuses (another
//!   leader wrote since) or that is not acknowledged in time stops the
//!   engine.
//! * A **follower** ([`Follower`]) reads the stream from just after its own
//!   journal, checks each batch (CRCs, sequences, chain against its own
//!   journal), appends the same bytes and applies the events (never
//!   re-decides).
//! * **Leadership** is a lease in a key-value bucket ([`Lease`], [`acquire`]):
//!   renewed by compare-and-set; a follower that has applied the whole
//!   stream takes it when it lapses.

#![warn(missing_docs)]

mod config;
mod error;
mod follower;
mod leader;
mod link;

pub use config::{OnTimeout, ReplicationConfig};
pub use error::ReplError;
pub use follower::{Follower, FollowerStatus, Takeover};
pub use leader::{acquire, lease_holder, lease_value, JetStreamReplicator, Lease, LEASE_KEY};
pub use link::{message_id, Link, StoredBatch};
