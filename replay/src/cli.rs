//! Command-line interface (clap derive).

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};
use keel_engine::Limits;

use crate::Failure;

/// Keel's journal tool: audit, inspect, explore and repair a journal.
#[derive(Parser, Debug)]
#[command(name = "replay", version, about)]
pub struct Cli {
    /// Engine config whose [limits] the state is rebuilt with (default:
    /// the engine's default limits).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Check CRCs, chain and sequences, then re-execute every command and
    /// compare its events with the journaled ones (determinism audit).
    Verify(VerifyArgs),
    /// Print records: timestamp, intent (command) and facts (events).
    Dump(DumpArgs),
    /// The state as of a sequence (apply-only): balances, orders, books.
    State(StateArgs),
    /// The order book a market-data subscriber held at a sequence: levels,
    /// update number and checksum, as the feed's `book` message.
    Book(BookArgs),
    /// Balance changes and order activity between two sequences.
    Diff(DiffArgs),
    /// Re-execute an alternative history (journal untouched) and compare.
    #[command(name = "what-if")]
    WhatIf(WhatIfArgs),
    /// Write a snapshot file next to the journal.
    Snapshot(SnapshotArgs),
    /// Export trades, balances or open orders as CSV or JSON lines.
    Export(ExportArgs),
    /// Cut the journal at a sequence, moving the tail to a backup file.
    Repair(RepairArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Csv,
    Jsonl,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportWhat {
    Trades,
    Balances,
    Orders,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// Journal directory.
    pub dir: PathBuf,
    /// Check the state's invariants every N records (and always at the
    /// end); 0: only at the end. Each check walks the whole state.
    #[arg(long, value_name = "N", default_value_t = crate::verify::INVARIANT_EVERY)]
    pub invariants_every: u64,
}

#[derive(Args, Debug)]
pub struct DumpArgs {
    pub dir: PathBuf,
    /// First sequence to print.
    #[arg(long)]
    pub from: Option<u64>,
    /// Last sequence to print.
    #[arg(long)]
    pub to: Option<u64>,
    /// Only records whose command is by this account or whose events mention it.
    #[arg(long)]
    pub account: Option<u32>,
    /// Only records about this symbol (by name).
    #[arg(long)]
    pub symbol: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Args, Debug)]
pub struct StateArgs {
    pub dir: PathBuf,
    /// Print how long the rebuild took (records, seconds, records/s) to stderr.
    #[arg(long)]
    pub timing: bool,
    /// Sequence to stop after (default: the last committed record; 0: genesis).
    #[arg(long)]
    pub at: Option<u64>,
    #[arg(long)]
    pub account: Option<u32>,
    #[arg(long)]
    pub symbol: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Args, Debug)]
pub struct BookArgs {
    pub dir: PathBuf,
    /// The symbol's name.
    #[arg(long)]
    pub symbol: String,
    /// The sequence (default: the end of the journal).
    #[arg(long)]
    pub at: Option<u64>,
    /// Levels per side (default: all).
    #[arg(long)]
    pub depth: Option<usize>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Args, Debug)]
pub struct DiffArgs {
    pub dir: PathBuf,
    /// The earlier point: the state after this sequence (0: genesis).
    #[arg(long)]
    pub from: u64,
    /// The later point: the state after this sequence.
    #[arg(long)]
    pub to: u64,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("change").required(true).args(["drop", "insert_before", "replace"])))]
pub struct WhatIfArgs {
    pub dir: PathBuf,
    /// Leave out the command at this sequence.
    #[arg(long, value_name = "SEQ")]
    pub drop: Option<u64>,
    /// Execute `--command` just before the command at this sequence.
    #[arg(long, value_name = "SEQ", requires = "command")]
    pub insert_before: Option<u64>,
    /// Execute `--command` instead of the command at this sequence.
    #[arg(long, value_name = "SEQ", requires = "command")]
    pub replace: Option<u64>,
    /// The command, as a `keel run` JSON line (its `ts` is optional: default
    /// the timestamp of the record at SEQ).
    #[arg(long, value_name = "JSON")]
    pub command: Option<String>,
    /// Write correcting commands (JSON lines for `keel run`) that move
    /// today's available balances to the alternative outcome.
    #[arg(long, value_name = "FILE")]
    pub corrections: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct SnapshotArgs {
    pub dir: PathBuf,
    /// Sequence the snapshot includes (default: the last committed record).
    #[arg(long)]
    pub at: Option<u64>,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    pub dir: PathBuf,
    #[arg(long, value_enum)]
    pub what: ExportWhat,
    #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
    pub format: ExportFormat,
    /// For balances and orders: the state after this sequence (default: the
    /// end). For trades: the last sequence exported.
    #[arg(long)]
    pub at: Option<u64>,
}

#[derive(Args, Debug)]
pub struct RepairArgs {
    pub dir: PathBuf,
    /// First sequence to remove; the journal will end at SEQ - 1.
    #[arg(long, value_name = "SEQ")]
    pub truncate_at: u64,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
    /// Where to write the removed tail (default:
    /// DIR/truncated-at-SEQ.keelbak, with a numeric suffix if taken).
    #[arg(long, value_name = "FILE")]
    pub backup: Option<PathBuf>,
}

/// Limits from `--config`, else the engine's defaults.
pub fn limits(config: Option<&Path>) -> Result<Limits, Failure> {
    match config {
        None => Ok(Limits::default()),
        Some(path) => keel_edge::load_config(path)
            .map(|c| c.limits())
            .map_err(|e| Failure::input(e.to_string())),
    }
}
