use std::path::PathBuf;

use crate::config::ConfigError;
use crate::record::RecordError;
use crate::state::ApplyError;

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot open the journal in {dir}: {source}")]
    Journal {
        dir: PathBuf,
        source: keel_journal::OpenError,
    },
    #[error("cannot read journal record {seq} in {dir}: {message}")]
    Read {
        dir: PathBuf,
        seq: u64,
        message: String,
    },
    #[error("journal record {seq} does not decode: {source}")]
    Record { seq: u64, source: RecordError },
    #[error("journal record {seq} does not apply to the recovered state: {source} (the journal was not written by this core's decisions; run `replay verify`)")]
    Replay { seq: u64, source: ApplyError },
    #[error("the recovered state breaks an invariant ({message}): the journal holds events this core would not decide; run `replay verify`")]
    Invariant { message: String },
    #[error("config {key} = {value:?} disagrees with the journal, which has {journal:?}: change the config back (the journal is the record)")]
    ConfigDrift {
        key: String,
        value: String,
        journal: String,
    },
    #[error("engine.core = {core}: no such core (this machine has cores {available:?}); set another core, or allow_unpinned = true")]
    NoSuchCore { core: usize, available: Vec<usize> },
    #[error("engine.core is not set: set it to a core, or allow_unpinned = true")]
    NotPinned,
    #[error("could not pin the loop to core {core}: set allow_unpinned = true to run unpinned")]
    PinFailed { core: usize },
    #[error("cannot spawn the business-logic thread: {0}")]
    Spawn(std::io::Error),
}

/// Why the engine stopped (fail-stop): it accepts no more commands.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    #[error("journal failure, engine stopped (nothing after the last commit was published): {0}")]
    Journal(String),
    #[error("internal invariant broken while processing, engine stopped: {0}")]
    Core(String),
    #[error("engine thread panicked: {0}")]
    Panicked(String),
    #[error("engine is not running")]
    NotRunning,
}
