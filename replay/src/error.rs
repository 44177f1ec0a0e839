//! The tool's one error type: a message and an exit status.

use std::path::Path;

use keel_journal::{CorruptionError, ReadError};

/// Exit status 1: the journal failed a check (corruption, divergence,
/// invariant, undecodable record). Exit status 2: bad input (missing
/// directory, not a journal, sequence out of range, malformed `--command`).
/// Exit status 3: what-if corrections cannot apply
/// (`whatif::CORRECTIONS_CANNOT_APPLY`). Exit status 4: verify passed except
/// for records decided under earlier rules (`verify::RULES_CHANGED`).
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

pub const CHECK_FAILED: u8 = 1;
pub const BAD_INPUT: u8 = 2;

impl Failure {
    pub fn check(message: impl Into<String>) -> Failure {
        Failure {
            code: CHECK_FAILED,
            message: message.into(),
        }
    }

    pub fn input(message: impl Into<String>) -> Failure {
        Failure {
            code: BAD_INPUT,
            message: message.into(),
        }
    }

    pub fn output(e: std::io::Error) -> Failure {
        Failure::check(format!("cannot write output: {e}"))
    }

    /// A damaged journal: names the sequence, the file and the offset.
    pub fn corrupt(e: &CorruptionError) -> Failure {
        if let CorruptionError::UnknownVersion { .. } = e {
            return Failure::check(format!("unsupported journal: {e}"));
        }
        let seq = e.seq().map_or_else(
            || "unknown sequence".to_string(),
            |s| format!("sequence {s}"),
        );
        let offset = e
            .offset()
            .map_or_else(String::new, |o| format!(", offset {o}"));
        Failure::check(format!(
            "journal corrupt at {seq} (file {}{offset}): {e}",
            e.file().display()
        ))
    }

    pub fn read(dir: &Path, e: ReadError) -> Failure {
        match e {
            ReadError::Corrupt(c) => Failure::corrupt(&c),
            ReadError::Io { .. } => Failure::check(format!("cannot read {}: {e}", dir.display())),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}
