//! `keel demo`: a seeded, realistic flow through the real loop with
//! journaling. The demo always uses the simulated clock and starts from an
//! empty journal directory (it clears `journal.dir`, refusing if that
//! directory holds anything Keel did not write), so the same seed and
//! config always print the same digest.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use keel_engine::config::ClockKind;
use keel_engine::model::Event;
use keel_engine::runtime::recovery::startup_commands;
use keel_engine::runtime::{Engine, SubscriptionError};
use keel_engine::State;
use serde::Deserialize;

use crate::run::report_start;
use keel_cli::generator::{generate, DemoParams};

/// `[demo]` in the config: the seeded flow's knobs.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
#[serde(deny_unknown_fields)]
struct DemoSection {
    seed: u64,
    accounts: u32,
    commands: u64,
}

impl Default for DemoSection {
    fn default() -> DemoSection {
        DemoSection {
            seed: 42,
            accounts: 200,
            commands: 200_000,
        }
    }
}

/// Clears a journal directory, if it only holds journal files.
fn clear_journal_dir(dir: &Path) -> Result<(), String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = name == "LOCK"
            || name.ends_with(".seg")
            || name.ends_with(".keelsnap")
            || name.ends_with(".tmp")
            || name.ends_with(".bak");
        if !ours || !entry.file_type().is_ok_and(|t| t.is_file()) {
            return Err(format!(
                "refusing to clear {}: it holds {name:?}, which Keel did not write; point journal.dir elsewhere",
                dir.display()
            ));
        }
        files.push(entry.path());
    }
    for f in files {
        std::fs::remove_file(&f).map_err(|e| format!("cannot remove {}: {e}", f.display()))?;
    }
    Ok(())
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

pub fn demo(config_path: &Path) -> u8 {
    let (mut config, extras) = match keel_edge::load_config_with_extras(config_path, &["demo"]) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("keel: {e}");
            return 2;
        }
    };
    config.engine.clock = ClockKind::Simulated;
    let demo = match extras.get("demo").cloned().map(DemoSection::deserialize) {
        None => DemoSection::default(),
        Some(Ok(demo)) => demo,
        Some(Err(e)) => {
            eprintln!(
                "keel: config {}: [demo]: {}",
                config_path.display(),
                e.to_string().trim_end()
            );
            return 2;
        }
    };
    let params = DemoParams {
        seed: demo.seed,
        accounts: demo.accounts,
        commands: demo.commands,
    };
    if let Err(e) = clear_journal_dir(&config.journal.dir) {
        eprintln!("keel: {e}");
        return 2;
    }
    let startup = match startup_commands(&config, &State::new(config.limits())) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("keel: {e}");
            return 2;
        }
    };
    eprintln!(
        "keel demo: generating {} commands (seed {}, {} accounts)...",
        params.commands, params.seed, params.accounts
    );
    let flow = generate(config.limits(), &startup, params);
    let engine = match Engine::start(&config) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("keel: {e}");
            return 2;
        }
    };
    report_start(&engine);
    let subscription = match engine.subscribe() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("keel: {e}");
            return 3;
        }
    };
    let total = flow.commands.len() as u64;
    let consumer = std::thread::spawn(move || -> Result<(u64, u64), String> {
        let (mut outputs, mut trades, mut last_seq) = (0u64, 0u64, 0u64);
        loop {
            match subscription.recv() {
                Ok(batch) => {
                    for o in batch.iter() {
                        if o.seq <= last_seq {
                            return Err(format!(
                                "output sequence went from {last_seq} to {}",
                                o.seq
                            ));
                        }
                        last_seq = o.seq;
                        outputs += 1;
                        trades += o
                            .events
                            .iter()
                            .filter(|e| matches!(e, Event::TradeExecuted(_)))
                            .count() as u64;
                    }
                }
                Err(SubscriptionError::Closed) => return Ok((outputs, trades)),
                Err(e) => return Err(e.to_string()),
            }
        }
    });
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {bar:40} {pos}/{len} commands {per_sec} eta {eta}",
            )
            .expect("valid template"),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let sender = engine.sender();
    let started = Instant::now();
    let mut next_note = total / 10;
    for (i, (command, ts)) in flow.commands.iter().enumerate() {
        if let Err(e) = sender.submit_at(*command, Some(*ts)) {
            eprintln!("keel: {e}");
            return 3;
        }
        if (i as u64).is_multiple_of(4096) {
            bar.set_position(i as u64);
        }
        if bar.is_hidden() && i as u64 >= next_note && next_note > 0 {
            eprintln!("keel demo: {}% submitted", (i as u64 * 100) / total);
            next_note += total / 10;
        }
    }
    drop(sender);
    let exit = match engine.shutdown() {
        Ok(x) => x,
        Err(e) => {
            eprintln!("keel: {e}");
            return 3;
        }
    };
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    let (outputs, trades) = match consumer
        .join()
        .unwrap_or_else(|_| Err("output thread panicked".into()))
    {
        Ok(x) => x,
        Err(e) => {
            eprintln!("keel: {e}");
            return 3;
        }
    };
    let s = &exit.stats;
    let pct = |q: f64| s.end_to_end_ns.value_at_quantile(q) as f64 / 1_000.0;
    println!(
        "keel demo: seed {} over {} symbols",
        params.seed,
        config.symbols.len()
    );
    println!(
        "commands: {} in {:.3} s = {:.0} commands/s ({} outputs, {} rejected)",
        s.commands,
        elapsed.as_secs_f64(),
        s.commands as f64 / elapsed.as_secs_f64(),
        outputs,
        s.rejected
    );
    println!("trades: {trades}");
    let reasons: Vec<String> = s
        .rejections_by_reason()
        .iter()
        .map(|(c, n)| format!("{c} {n}"))
        .collect();
    println!(
        "rejections by reason: {}",
        if reasons.is_empty() {
            "none".to_string()
        } else {
            reasons.join(", ")
        }
    );
    let p = |q: f64| s.process_ns.value_at_quantile(q) as f64 / 1_000.0;
    println!("processing per command us (decide + apply + journal encode): p50 {:.2} p99 {:.2} p99.9 {:.2}", p(0.5), p(0.99), p(0.999));
    println!(
        "end-to-end latency us: p50 {:.1} p90 {:.1} p99 {:.1} p99.9 {:.1} max {:.1}",
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(0.999),
        s.end_to_end_ns.max() as f64 / 1_000.0
    );
    println!(
        "journal: {} records, {} bytes of records, {} bytes on disk in {}",
        s.last_seq,
        s.bytes_journaled,
        dir_size(&config.journal.dir),
        config.journal.dir.display()
    );
    println!("digest: {}", exit.digest);
    if exit.digest != flow.shadow_digest || trades != flow.shadow_trades {
        eprintln!(
            "keel demo: DETERMINISM CHECK FAILED: the engine reached {} with {trades} trades, the shadow core {} with {}",
            exit.digest, flow.shadow_digest, flow.shadow_trades
        );
        return 1;
    }
    println!(
        "determinism check: passed (the engine and an independent shadow core both reached this digest with {trades} trades)"
    );
    0
}
