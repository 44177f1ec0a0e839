//! `keel`: run the engine on JSON lines, or run the demo.
//!
//! Exit status: 0 success; 1 some input lines were malformed (the rest ran)
//! or the demo's digest check failed; 2 bad usage or config, or the engine
//! could not start; 3 the engine stopped on a failure (fail-stop). `keel run`
//! stopped by SIGTERM or SIGINT exits as at the end of its input (0, 1 or 3);
//! a second such signal exits at once with 128 + the signal number (143 for
//! SIGTERM, 130 for SIGINT).

mod demo;
mod replicated;
mod run;
mod serve;
mod signals;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "keel",
    version,
    about = "Keel: a single-writer matching engine and ledger"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run commands from JSON lines through the engine; print events as JSON lines.
    Run {
        #[arg(long)]
        config: PathBuf,
        /// Input file of JSON command lines, or `-` for stdin.
        #[arg(long, default_value = "-")]
        input: String,
        /// Output file for JSON event lines, or `-` for stdout.
        #[arg(long, default_value = "-")]
        output: String,
    },
    /// Run a seeded, realistic flow through the real loop with journaling.
    Demo {
        #[arg(long)]
        config: PathBuf,
    },
    /// Serve WebSocket order entry (`[gateway]` in the config; docs/PROTOCOL.md).
    Serve {
        #[arg(long)]
        config: PathBuf,
    },
    /// Follow a leader's replicated journal (`[replication]`); take over
    /// when its lease lapses.
    Follow {
        #[arg(long)]
        config: PathBuf,
    },
    /// Catch up from the replicated journal, take the lease whoever holds
    /// it, and lead.
    Promote {
        #[arg(long)]
        config: PathBuf,
    },
    /// Manage the API keys `keel serve` accepts.
    Keys {
        #[command(subcommand)]
        action: KeysCmd,
    },
}

#[derive(Subcommand)]
enum KeysCmd {
    /// Create a key for one account; prints the secret once, as the last word.
    Add {
        #[arg(long)]
        config: PathBuf,
        /// The account the key acts for.
        #[arg(long)]
        account: u32,
        /// Let the key send admin commands and deposits and act for any account.
        #[arg(long)]
        operator: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Cmd::Run {
            config,
            input,
            output,
        } => run::run(&config, &input, &output),
        Cmd::Demo { config } => demo::demo(&config),
        Cmd::Serve { config } => serve::serve(&config),
        Cmd::Follow { config } => serve::replicated(&config, replicated::Role::Follow),
        Cmd::Promote { config } => serve::replicated(&config, replicated::Role::Promote),
        Cmd::Keys {
            action:
                KeysCmd::Add {
                    config,
                    account,
                    operator,
                },
        } => serve::add_key(&config, account, operator),
    };
    ExitCode::from(code)
}
