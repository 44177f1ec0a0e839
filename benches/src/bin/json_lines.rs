//! Writes a realistic JSON-lines command file for `keel run`: the demo's
//! seeded flow (accounts opened and funded, then limit, market, IOC, FOK,
//! GTD and post-only orders, cancels, amends, cancel-alls, transfers,
//! withdrawals and the odd halt, over every configured symbol), each line
//! with its simulated `ts`. It prints the digest the engine must reach on
//! them, so a run of the file checks itself.
//!
//! ```sh
//! cargo run --release -p benches --bin json_lines -- --config configs/json_bench.toml --out /tmp/keel-1m.jsonl
//! rm -rf keel-data/json-bench && /usr/bin/time -v target/release/keel run \
//!     --config configs/json_bench.toml --input /tmp/keel-1m.jsonl --output /tmp/keel-1m.out
//! ```

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use clap::Parser;
use keel_cli::generator::{generate, DemoParams};
use keel_edge::json_out::command_json;
use keel_engine::Registry;

#[derive(Parser)]
#[command(about = "Write the demo's seeded flow as JSON command lines for `keel run`")]
struct Args {
    /// Config with the assets, symbols and limits `keel run` will use.
    #[arg(long)]
    config: PathBuf,
    /// Output file.
    #[arg(long)]
    out: PathBuf,
    /// Commands to write, setup included.
    #[arg(long, default_value_t = 1_000_000)]
    commands: u64,
    /// Accounts opened and funded first.
    #[arg(long, default_value_t = 1_000)]
    accounts: u32,
    /// The flow's seed: the same seed and config give the same file.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let config = keel_edge::load_config(&args.config)?;
    let params = DemoParams {
        seed: args.seed,
        accounts: args.accounts,
        commands: args.commands,
    };
    let startup = config.genesis_commands()?;
    let mut state = keel_engine::State::new(config.limits());
    let mut names = Registry::default();
    for cmd in &startup {
        for event in keel_engine::process_to_vec(&mut state, cmd, 0)? {
            names.learn(&event);
        }
    }
    let flow = generate(config.limits(), &startup, params);
    let mut out = BufWriter::new(std::fs::File::create(&args.out)?);
    for (cmd, ts) in &flow.commands {
        let mut line = command_json(&names, cmd);
        line["ts"] = (*ts).into();
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    eprintln!(
        "wrote {} lines to {} ({} trades); `keel run` on them with this config must end at digest {}",
        flow.commands.len(),
        args.out.display(),
        flow.shadow_trades,
        flow.shadow_digest
    );
    Ok(())
}
