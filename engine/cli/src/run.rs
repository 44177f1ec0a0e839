//! `keel run`: JSON command lines in, JSON event lines out.
//!
//! A malformed line is reported on stderr with its line number and is not
//! executed; the run continues with the next line, and the exit status is 1
//! at the end. Blank lines are ignored.
//!
//! Names are resolved only against committed state: after an `add_asset` or
//! `add_symbol` line, reading waits until that command's output has been
//! published, and later lines see the names as the engine committed them
//! (a rejected add leaves no name behind).

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use keel_edge::{output_json, parse_command_bytes};
use keel_engine::model::{AccountId, CommandKind};
use keel_engine::runtime::{Engine, SubscriptionError};
use keel_engine::Registry;

/// The registry after an add command's output, sent by the printer to the
/// reader: (account, request id, registry learned through that output).
type Learned = (AccountId, u64, Registry);

pub fn run(config_path: &Path, input: &str, output: &str) -> u8 {
    let config = match keel_edge::load_config(config_path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("keel: {e}");
            return 2;
        }
    };
    let reader: Box<dyn BufRead> = if input == "-" {
        Box::new(BufReader::new(std::io::stdin()))
    } else {
        match File::open(input) {
            Ok(f) => Box::new(BufReader::new(f)),
            Err(e) => {
                eprintln!("keel: cannot open input {input}: {e}");
                return 2;
            }
        }
    };
    let writer: Box<dyn Write + Send> = if output == "-" {
        Box::new(BufWriter::new(std::io::stdout()))
    } else {
        match File::create(output) {
            Ok(f) => Box::new(BufWriter::new(f)),
            Err(e) => {
                eprintln!("keel: cannot create output {output}: {e}");
                return 2;
            }
        }
    };
    let engine = match Engine::start(&config) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("keel: {e}");
            return 2;
        }
    };
    report_start(&engine);
    let mut registry = match engine.registry() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("keel: {e}");
            return 3;
        }
    };
    let subscription = match engine.subscribe() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("keel: {e}");
            return 3;
        }
    };
    let mut out_registry = registry.clone();
    let (learned_tx, learned_rx) = crossbeam_channel::unbounded::<Learned>();
    let printer = std::thread::spawn(move || -> Result<u64, String> {
        let mut writer = writer;
        let mut written = 0u64;
        loop {
            match subscription.recv() {
                Ok(batch) => {
                    for o in batch.iter() {
                        for e in o.events {
                            out_registry.learn(e);
                        }
                        if matches!(
                            o.command.kind,
                            CommandKind::AddAsset { .. } | CommandKind::AddSymbol(_)
                        ) {
                            let _ = learned_tx.send((
                                o.command.account,
                                o.command.request_id,
                                out_registry.clone(),
                            ));
                        }
                        let line = output_json(&out_registry, o.seq, o.ts_ns, o.command, o.events);
                        writeln!(writer, "{line}")
                            .map_err(|e| format!("cannot write output: {e}"))?;
                        written += 1;
                    }
                }
                Err(SubscriptionError::Closed) => break,
                Err(e) => return Err(e.to_string()),
            }
        }
        writer
            .flush()
            .map_err(|e| format!("cannot write output: {e}"))?;
        Ok(written)
    });
    let sender = engine.sender();
    let (mut lines, mut malformed, mut submitted) = (0u64, 0u64, 0u64);
    let mut failure = None;
    // Lines as bytes: one that is not UTF-8 is a malformed line (the parser
    // says so), not the end of the input.
    let (mut reader, mut buf, mut number) = (reader, Vec::new(), 0u64);
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                eprintln!("keel: line {}: cannot read input: {e}", number + 1);
                malformed += 1;
                break;
            }
        }
        number += 1;
        let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.trim_ascii().is_empty() {
            continue;
        }
        lines += 1;
        match parse_command_bytes(line, &registry) {
            Ok(parsed) => match sender.submit_at(parsed.command, parsed.ts) {
                Ok(()) => {
                    submitted += 1;
                    let c = parsed.command;
                    if matches!(
                        c.kind,
                        CommandKind::AddAsset { .. } | CommandKind::AddSymbol(_)
                    ) {
                        // Wait for the add's committed outcome before reading on.
                        match wait_for_names(&learned_rx, c.account, c.request_id) {
                            Some(r) => registry = r,
                            None => break, // the engine stopped; shutdown says why
                        }
                    }
                }
                Err(e) => {
                    failure = Some(e.to_string());
                    break;
                }
            },
            Err(e) => {
                eprintln!("keel: line {number}: {e} (not executed)");
                malformed += 1;
            }
        }
    }
    drop(sender);
    let exit = engine.shutdown();
    let printed = printer
        .join()
        .unwrap_or_else(|_| Err("output thread panicked".into()));
    match (exit, printed) {
        (Ok(exit), Ok(written)) => {
            let s = &exit.stats;
            eprintln!(
                "keel run: {lines} lines, {malformed} malformed, {submitted} submitted, {written} outputs | {} | digest {}",
                s.summary_line(),
                exit.digest
            );
            if let Some(f) = failure {
                eprintln!("keel: {f}");
                return 3;
            }
            u8::from(malformed > 0)
        }
        (Err(e), _) => {
            eprintln!("keel: {e}");
            3
        }
        (_, Err(e)) => {
            eprintln!("keel: {e}");
            3
        }
    }
}

/// The registry as of the output of (account, request_id)'s add command;
/// None if the printer stopped first.
fn wait_for_names(
    learned: &crossbeam_channel::Receiver<Learned>,
    account: AccountId,
    request_id: u64,
) -> Option<Registry> {
    loop {
        let (a, r, registry) = learned.recv().ok()?;
        if (a, r) == (account, request_id) {
            return Some(registry);
        }
    }
}

/// Prints what start-up found (and its warnings) to stderr.
pub fn report_start(engine: &Engine) {
    let r = engine.start_report();
    if r.journal.torn_tail_bytes > 0 || r.journal.uncommitted_records_dropped > 0 {
        eprintln!(
            "keel: journal recovery dropped a torn tail of {} bytes and {} uncommitted records",
            r.journal.torn_tail_bytes, r.journal.uncommitted_records_dropped
        );
    }
    for warning in &r.warnings {
        eprintln!("keel: warning: {warning}");
    }
    for (path, why) in &r.snapshots_skipped {
        eprintln!("keel: skipped snapshot {}: {why}", path.display());
    }
    eprintln!(
        "keel: recovered {} records{} in {:.1} ms, digest {}; loop {}",
        r.records_replayed,
        r.snapshot_seq
            .map_or(String::new(), |s| format!(" after snapshot at {s}")),
        r.recovery_time.as_secs_f64() * 1e3,
        r.digest,
        r.pinned_core
            .map_or("unpinned".to_string(), |c| format!("pinned to core {c}"))
    );
}
