//! Keel's journal replay tool: the library behind the `replay` binary.
//!
//! Every subcommand reads a journal directory written by `keel` (read-only,
//! except `snapshot`, which adds a snapshot file, and `repair`, which cuts the
//! journal after asking). See `replay --help` and the README's "Replay" section.
//!
//! - [`verify`]: journal checks plus the determinism audit (re-execute every
//!   command and compare events with the journaled ones, byte for byte).
//! - [`dump`]: records as aligned text or JSON lines.
//! - [`state`]: the state as of a sequence (apply-only), [`diff`] between two.
//! - [`whatif`]: an alternative history (drop, insert, replace a command).
//! - [`snapshot`], [`export`], [`repair`].

// `is_multiple_of` needs Rust 1.87; the workspace MSRV is 1.80.
#![allow(clippy::manual_is_multiple_of)]

pub mod book;
pub mod cli;
pub mod diff;
pub mod dump;
pub mod error;
pub mod export;
pub mod progress;
pub mod render;
pub mod repair;
pub mod rules;
pub mod snapshot;
pub mod source;
pub mod state;
pub mod verify;
pub mod whatif;

pub use error::Failure;

use std::io::Write;

/// Runs the tool with parsed arguments, writing results to `out`. Messages
/// about failures are the caller's to print (the binary prints them to
/// stderr).
pub fn run(cli: cli::Cli, out: &mut dyn Write) -> Result<(), Failure> {
    use cli::Cmd;
    let limits = cli::limits(cli.config.as_deref())?;
    match cli.cmd {
        Cmd::Verify(a) => verify::run(&a, limits, out),
        Cmd::Dump(a) => dump::run(&a, out),
        Cmd::State(a) => state::run(&a, limits, out),
        Cmd::Book(a) => book::run(&a, limits, out),
        Cmd::Diff(a) => diff::run(&a, limits, out),
        Cmd::WhatIf(a) => whatif::run(&a, limits, out),
        Cmd::Snapshot(a) => snapshot::run(&a, limits, out),
        Cmd::Export(a) => export::run(&a, limits, out),
        Cmd::Repair(a) => repair::run(&a, out),
    }?;
    out.flush().map_err(Failure::output)
}
