//! The runtime's errors: why the engine could not start, and why it stopped.

use std::path::PathBuf;
use std::sync::Arc;

use crate::config::ConfigError;
use crate::model::Command;
use crate::record::RecordError;
use crate::state::ApplyError;

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The config is not usable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The journal could not be opened (or is locked by another writer).
    #[error("cannot open the journal in {dir}: {source}")]
    Journal {
        /// The journal directory.
        dir: PathBuf,
        /// What the journal said.
        source: keel_journal::OpenError,
    },
    /// A temporary journal directory could not be created.
    #[error("cannot create a temporary journal directory: {source} (check TMPDIR)")]
    TemporaryJournal {
        /// What the OS said.
        source: std::io::Error,
    },
    /// A committed record could not be read back.
    #[error("cannot read journal record {seq} in {dir}: {source}")]
    Read {
        /// The journal directory.
        dir: PathBuf,
        /// The record's sequence.
        seq: u64,
        /// What the journal said.
        source: keel_journal::ReadError,
    },
    /// A record's payload does not decode.
    #[error("journal record {seq} does not decode: {source}")]
    Record {
        /// The record's sequence.
        seq: u64,
        /// Why.
        source: RecordError,
    },
    /// A record's events do not fit the state rebuilt so far.
    #[error("journal record {seq} does not apply to the recovered state: {source} (the journal was not written by this core's decisions; run `replay verify`)")]
    Replay {
        /// The record's sequence.
        seq: u64,
        /// Why.
        source: ApplyError,
    },
    /// The recovered state breaks an invariant.
    #[error("the recovered state breaks an invariant ({message}): the journal holds events this core would not decide; run `replay verify`")]
    Invariant {
        /// The invariant broken, with the values.
        message: String,
    },
    /// The config contradicts what the journal already holds.
    #[error("config {key} = {value:?} disagrees with the journal, which has {journal:?}: change the config back (the journal is the record)")]
    ConfigDrift {
        /// The config key.
        key: String,
        /// Its value in the config.
        value: String,
        /// Its value in the journal.
        journal: String,
    },
    /// `engine.core` names a core this machine does not have.
    #[error("engine.core = {core}: no such core (this machine has cores {available:?}); set another core, or engine.allow_unpinned = true")]
    NoSuchCore {
        /// The core asked for.
        core: usize,
        /// The cores there are.
        available: Vec<usize>,
    },
    /// Pinning to `engine.core` failed.
    #[error(
        "could not pin the loop to core {core}: set engine.allow_unpinned = true to run unpinned"
    )]
    PinFailed {
        /// The core asked for.
        core: usize,
    },
    /// The business-logic thread could not be spawned.
    #[error("cannot spawn the business-logic thread: {0}")]
    Spawn(std::io::Error),
}

/// Why the engine stopped (fail-stop): it accepts no more commands. Every
/// caller waiting on the loop gets the same error.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// A journal append or commit failed; nothing after the last commit was
    /// published.
    #[error("journal failure, engine stopped (nothing after the last commit was published): {0}")]
    Journal(#[source] Arc<keel_journal::AppendError>),
    /// Applying the events the core decided failed: a core bug.
    #[error(
        "internal invariant broken while processing command {command:?}, engine stopped: {source}"
    )]
    Core {
        /// The command being processed.
        command: Box<Command>,
        /// What did not apply.
        #[source]
        source: ApplyError,
    },
    /// Replication failed (fail-stop): nothing after the last acknowledged
    /// batch was published.
    #[error("replication failure, engine stopped (no output of an unacknowledged batch was published): {0}")]
    Replication(#[from] super::replication::ReplicationError),
    /// The loop thread panicked.
    #[error("engine thread panicked: {0}")]
    Panicked(String),
    /// The engine was shut down, or its loop is gone.
    #[error("engine is not running")]
    NotRunning,
}

impl From<keel_journal::AppendError> for EngineError {
    fn from(e: keel_journal::AppendError) -> EngineError {
        EngineError::Journal(Arc::new(e))
    }
}
