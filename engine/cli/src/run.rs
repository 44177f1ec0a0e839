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
//!
//! Outputs are written through a buffer that is flushed whenever no further
//! committed batch is waiting, so a client gets each answer as soon as its
//! batch has committed, while a busy stream still goes out in large writes.
//!
//! SIGTERM or SIGINT stops the run as the end of the input would: no line is
//! read or submitted after it, what was submitted is drained, committed and
//! written, and the summary is printed (see [`crate::signals`]). Lines are
//! read on their own thread, so a signal never waits for a blocked read.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use crossbeam_channel::Receiver;
use keel_edge::{parse_command_bytes, OutputWriter};
use keel_engine::model::{AccountId, CommandKind};
use keel_engine::runtime::{CommandSender, Engine, SubscriptionError};
use keel_engine::Registry;

use crate::signals;

/// The registry after an add command's output, sent by the printer to the
/// reader: (account, request id, registry learned through that output).
type Learned = (AccountId, u64, Registry);

/// Output buffer: large writes while outputs stream, flushed when idle.
const OUTPUT_BUFFER_BYTES: usize = 64 << 10;

/// Output lines gathered for one large write: written out when they pass
/// [`OUTPUT_BUFFER_BYTES`], and flushed whenever no committed batch waits.
struct Pending {
    writer: Box<dyn Write + Send>,
    bytes: Vec<u8>,
}

impl Pending {
    fn new(writer: Box<dyn Write + Send>) -> Pending {
        Pending {
            writer,
            // Room for the largest line on top of a full buffer, mostly.
            bytes: Vec::with_capacity(2 * OUTPUT_BUFFER_BYTES),
        }
    }

    fn write_if_full(&mut self) -> Result<(), String> {
        if self.bytes.len() >= OUTPUT_BUFFER_BYTES {
            self.write_out()?;
        }
        Ok(())
    }

    fn write_out(&mut self) -> Result<(), String> {
        let written = self.writer.write_all(&self.bytes);
        self.bytes.clear();
        written.map_err(|e| format!("cannot write output: {e}"))
    }

    fn flush(&mut self) -> Result<(), String> {
        self.write_out()?;
        self.writer
            .flush()
            .map_err(|e| format!("cannot write output: {e}"))
    }
}

/// What the input side has done so far, shared with the main thread.
#[derive(Debug, Default)]
struct Fed {
    /// Non-blank lines read.
    lines: u64,
    /// Lines reported malformed (not executed).
    malformed: u64,
    /// Commands submitted.
    submitted: u64,
    /// Why submitting failed (the engine stopped), if it did.
    failure: Option<String>,
    /// Set by the main thread once it stops waiting for the input: handle
    /// no more lines.
    stopped: bool,
}

pub fn run(config_path: &Path, input: &str, output: &str) -> u8 {
    // First, before any thread exists: every thread inherits the mask.
    let signals = match signals::install() {
        Ok(rx) => rx,
        Err(e) => {
            eprintln!("keel: {e}");
            return 2;
        }
    };
    let config = match keel_edge::load_config(config_path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("keel: {e}");
            return 2;
        }
    };
    let reader: Box<dyn BufRead + Send> = if input == "-" {
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
    // Unbuffered here: the printer gathers output lines in its own buffer
    // and writes it out in large pieces (see `Pending`).
    let writer: Box<dyn Write + Send> = if output == "-" {
        Box::new(std::io::stdout())
    } else {
        match File::create(output) {
            Ok(f) => Box::new(f),
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
    let registry = match engine.registry() {
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
        let mut out = Pending::new(writer);
        let mut lines = OutputWriter::default();
        let mut written = 0u64;
        loop {
            let next = match subscription.try_recv() {
                Ok(Some(batch)) => Ok(batch),
                // Nothing more committed right now: hand the client
                // everything so far before waiting.
                Ok(None) => {
                    out.flush()?;
                    subscription.recv()
                }
                Err(e) => Err(e),
            };
            match next {
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
                        lines.append_line(
                            &mut out.bytes,
                            &out_registry,
                            o.seq,
                            o.ts_ns,
                            o.command,
                            o.events,
                        );
                        out.write_if_full()?;
                        written += 1;
                    }
                }
                Err(SubscriptionError::Closed) => break,
                Err(e) => return Err(e.to_string()),
            }
        }
        out.flush()?;
        Ok(written)
    });
    let sender = engine.sender();
    let fed = std::sync::Arc::new(Mutex::new(Fed::default()));
    let (done_tx, done_rx) = crossbeam_channel::bounded::<()>(0);
    let feeding = fed.clone();
    let spawned = std::thread::Builder::new()
        .name("keel-input".into())
        .spawn(move || {
            feed(reader, registry, sender, &learned_rx, &feeding);
            drop(done_tx);
        });
    if let Err(e) = spawned {
        eprintln!("keel: cannot spawn the input thread: {e}");
        return 3;
    }
    // The end of the input, or a signal: whichever comes first. The input
    // thread is never waited for after a signal (it may be blocked reading).
    crossbeam_channel::select! {
        recv(done_rx) -> _ => {}
        recv(signals) -> signal => match signal {
            Ok(signal) => eprintln!(
                "keel: {signal}: stopping: no more input is read; draining, committing and \
                 writing what was submitted (send it again to exit at once)"
            ),
            // The signal thread is gone (sigwait failed): signals stay
            // blocked; wait for the end of the input alone.
            Err(_) => {
                let _ = done_rx.recv();
            }
        },
    }
    let (lines, malformed, submitted, failure) = {
        // Waits for a line being handled to finish: after this, nothing
        // more is submitted.
        let mut fed = fed.lock().unwrap_or_else(PoisonError::into_inner);
        fed.stopped = true;
        (fed.lines, fed.malformed, fed.submitted, fed.failure.take())
    };
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

/// Reads, parses and submits the input's lines until its end, a failure, or
/// a stop ([`Fed::stopped`]), counting in `shared` as it goes.
fn feed(
    reader: Box<dyn BufRead + Send>,
    mut registry: Registry,
    sender: CommandSender,
    learned_rx: &Receiver<Learned>,
    shared: &Mutex<Fed>,
) {
    // Lines as bytes: one that is not UTF-8 is a malformed line (the parser
    // says so), not the end of the input.
    let (mut reader, mut buf, mut number) = (reader, Vec::new(), 0u64);
    loop {
        buf.clear();
        let read = reader.read_until(b'\n', &mut buf);
        // Held while this line is handled, never while the next is read.
        let mut fed = shared.lock().unwrap_or_else(PoisonError::into_inner);
        if fed.stopped {
            break;
        }
        match read {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                eprintln!("keel: line {}: cannot read input: {e}", number + 1);
                fed.malformed += 1;
                break;
            }
        }
        number += 1;
        let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.trim_ascii().is_empty() {
            continue;
        }
        fed.lines += 1;
        match parse_command_bytes(line, &registry) {
            Ok(parsed) => match sender.submit_at(parsed.command, parsed.ts) {
                Ok(()) => {
                    fed.submitted += 1;
                    let c = parsed.command;
                    if matches!(
                        c.kind,
                        CommandKind::AddAsset { .. } | CommandKind::AddSymbol(_)
                    ) {
                        // Wait for the add's committed outcome before reading on.
                        match wait_for_names(learned_rx, c.account, c.request_id) {
                            Some(r) => registry = r,
                            None => break, // the engine stopped; shutdown says why
                        }
                    }
                }
                Err(e) => {
                    fed.failure = Some(e.to_string());
                    break;
                }
            },
            Err(e) => {
                eprintln!("keel: line {number}: {e} (not executed)");
                fed.malformed += 1;
            }
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
