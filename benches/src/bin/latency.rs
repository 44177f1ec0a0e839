//! `cargo run --release -p benches --bin latency -- --config configs/bench.toml [--quick] [--rates R,R] [--durability none,batch] [--out DIR]`
//!
//! Open-loop, coordinated-omission-free latency of the whole engine (ring,
//! loop, core, journal, outputs), per workload (synthetic, LOBSTER) and
//! durability policy (`none`, `batch`), stepping the offered rate up until
//! saturation; beside it, in the same run, the floor: the same harness
//! against a null loop. See `keel_benches::harness` for the method and
//! `configs/bench.toml` for the knobs.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use keel_benches::harness::config::BenchConfig;
use keel_benches::harness::report::{self, latencies, Row, Series, WorkloadInfo};
use keel_benches::harness::run::{
    rejections_text, run_step, KeelConsumer, KeelProducer, Rejections, StepResult, StepSpec,
};
use keel_benches::harness::{nats, null};
use keel_benches::workload::lobster::{self, LobsterConfig, LobsterStats, DROP_REASONS};
use keel_benches::workload::synthetic::{self, SyntheticConfig};
use keel_benches::workload::Workload;
use keel_engine::model::{Event, RejectReason};
use keel_engine::runtime::Engine;

#[derive(Parser, Debug)]
#[command(about = "Keel's open-loop latency benchmark")]
struct Args {
    /// The bench config.
    #[arg(long, default_value = "configs/bench.toml")]
    config: PathBuf,
    /// A short run (under 20 s) for CI: the `[quick]` overrides.
    #[arg(long)]
    quick: bool,
    /// Output directory (overrides `run.output_dir`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Only these rates, in commands/s (overrides `run.rates`, no growth
    /// steps beyond them), e.g. `--rates 100000,300000`.
    #[arg(long, value_delimiter = ',')]
    rates: Option<Vec<u64>>,
    /// Only these durability policies (overrides `run.durability`), e.g.
    /// `--durability none`.
    #[arg(long, value_delimiter = ',')]
    durability: Option<Vec<String>>,
    /// Replicated runs (`r1`, `r3`): batches published and not yet
    /// acknowledged at once (`replication.max_in_flight`; default its
    /// default).
    #[arg(long)]
    replication_in_flight: Option<usize>,
}

/// `--replication-in-flight`, for the replicated steps.
static IN_FLIGHT: std::sync::OnceLock<usize> = std::sync::OnceLock::new();

struct NamedWorkload {
    name: &'static str,
    workload: Workload,
    /// Whether every rate replays the whole stream (LOBSTER: the whole day).
    whole: bool,
    /// What it is made of, for the report.
    info: WorkloadInfo,
}

impl NamedWorkload {
    /// The rejections a run of the first `sent` measured commands must
    /// count, when known: the builder's count if the step sent the whole
    /// stream, or zeros for any prefix of a stream the builder saw no
    /// rejection in.
    fn expected_rejections(&self, sent: usize) -> Option<Rejections> {
        let built = self.info.rejected_when_built?;
        let whole = sent == self.workload.measured.len();
        (whole || self.info.rejected_when_built_total == 0).then_some(built)
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let in_flight = args
        .replication_in_flight
        .unwrap_or(keel_replication::ReplicationConfig::default().max_in_flight)
        .max(1);
    let _ = IN_FLIGHT.set(in_flight);
    let mut cfg = match BenchConfig::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if args.quick {
        cfg.make_quick();
    }
    if let Some(rates) = &args.rates {
        if rates.is_empty() || rates.contains(&0) {
            eprintln!("error: --rates: at least one rate, all > 0");
            return ExitCode::from(2);
        }
        cfg.run.rates = rates.clone();
        cfg.run.max_steps = rates.len();
        cfg.run.max_rate = cfg
            .run
            .max_rate
            .max(*rates.iter().max().expect("non-empty"));
    }
    if let Some(d) = &args.durability {
        if let Some(bad) = d
            .iter()
            .find(|d| !["none", "batch", "r1", "r3"].contains(&d.as_str()))
        {
            eprintln!("error: --durability: {bad:?} is not none, batch, r1 or r3");
            return ExitCode::from(2);
        }
        cfg.run.durability = d.clone();
    }
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| cfg.resolve(&cfg.run.output_dir));
    if let Err(e) = std::fs::create_dir_all(&out_dir) {
        eprintln!("error: cannot create {}: {e}", out_dir.display());
        return ExitCode::from(2);
    }
    let started = Instant::now();

    // The machine and the placement of the threads.
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let parallelism = std::thread::available_parallelism().map_or(0, |n| n.get());
    let t = &cfg.threads;
    let show = |c: Option<usize>| c.map_or("unpinned".to_string(), |c| format!("core {c}"));
    let machine = format!(
        "{parallelism} logical cores (ids {:?}); loop thread {}, producer {}, consumer {} (consumer wait: {:?}, producer yields when the next send is > {} ns away); engine wait strategy {}, ring {} commands, batch_max {}",
        cores.iter().map(|c| c.id).collect::<Vec<_>>(),
        show(t.loop_core),
        show(t.producer_core),
        show(t.consumer_core),
        t.consumer_wait,
        t.producer_yield_above_ns,
        cfg.engine.wait_strategy,
        cfg.engine.ring_capacity,
        cfg.engine.batch_max,
    );
    eprintln!("machine: {machine}");

    // Workloads, generated before anything is timed.
    let mut workloads = Vec::new();
    let mut lobster_stats: Option<(PathBuf, LobsterStats)> = None;
    let mut notes = Vec::new();
    for name in &cfg.run.workloads {
        match name.as_str() {
            "synthetic" => {
                let s = &cfg.synthetic;
                let sc = SyntheticConfig {
                    seed: s.seed,
                    symbols: s.symbols,
                    accounts: s.accounts,
                    target_depth: s.target_depth,
                    warmup_commands: s.warmup_commands,
                    measured_commands: s.max_commands,
                    ..Default::default()
                };
                let t0 = Instant::now();
                let (w, stats) = synthetic::generate(&sc);
                eprintln!(
                    "synthetic: {} setup + {} measured commands ({:.1}% trading) generated in {:.1} s",
                    w.setup.len(),
                    w.measured.len(),
                    100.0 * stats.trading_commands as f64 / stats.commands.max(1) as f64,
                    t0.elapsed().as_secs_f64()
                );
                let info = WorkloadInfo {
                    name: "synthetic".into(),
                    source: format!(
                        "generator: seed {}, symbols {}, accounts {}, depth {}",
                        s.seed,
                        s.symbols,
                        report::fmt_count(s.accounts.into()),
                        report::fmt_count(s.target_depth.into())
                    ),
                    rows_in_file: None,
                    rows: None,
                    converted: None,
                    dropped: None,
                    setup_commands: w.setup.len(),
                    measured_commands: w.measured.len(),
                    // The generator counts only a total: its breakdown is
                    // known when the total is zero.
                    rejected_when_built: (stats.rejected == 0)
                        .then_some([0; RejectReason::CODES.len()]),
                    rejected_when_built_total: stats.rejected as u64,
                };
                workloads.push(NamedWorkload {
                    name: "synthetic",
                    workload: w,
                    whole: false,
                    info,
                });
            }
            "lobster" => {
                let path = cfg.resolve(&cfg.lobster.file);
                if !path.exists() {
                    let n = format!("lobster: {} not found, workload skipped", path.display());
                    eprintln!("{n}");
                    notes.push(n);
                    continue;
                }
                let lc = LobsterConfig {
                    maker_accounts: cfg.lobster.maker_accounts,
                    base: cfg.lobster.base.clone(),
                    max_rows: (args.quick && cfg.quick.lobster_max_rows > 0)
                        .then_some(cfg.quick.lobster_max_rows),
                };
                match lobster::load(&path, &lc) {
                    Ok(lw) => {
                        eprintln!("lobster: {}", lw.stats.summary());
                        let st = &lw.stats;
                        let mut built = [0u64; RejectReason::CODES.len()];
                        for (code, n) in &st.rejections {
                            let i = RejectReason::CODES
                                .iter()
                                .position(|c| c == code)
                                .expect("a reason code");
                            built[i] = *n as u64;
                        }
                        let info = WorkloadInfo {
                            name: "lobster".into(),
                            source: format!(
                                "`{}`",
                                path.file_name().map_or_else(
                                    || path.display().to_string(),
                                    |f| f.to_string_lossy().into_owned()
                                )
                            ),
                            rows_in_file: Some(st.rows_in_file),
                            rows: Some(st.rows),
                            converted: Some(st.converted),
                            dropped: Some(st.dropped_by_reason().to_vec()),
                            setup_commands: lw.workload.setup.len(),
                            measured_commands: lw.workload.measured.len(),
                            rejected_when_built: Some(built),
                            rejected_when_built_total: st.rejected() as u64,
                        };
                        lobster_stats = Some((path, lw.stats.clone()));
                        workloads.push(NamedWorkload {
                            name: "lobster",
                            workload: lw.workload,
                            whole: true,
                            info,
                        });
                    }
                    Err(e) => {
                        eprintln!("error: lobster: {e}");
                        return ExitCode::from(2);
                    }
                }
            }
            _ => unreachable!("validated"),
        }
    }

    let style = ProgressStyle::with_template(
        "{prefix:>28} [{bar:30}] {pos}/{len} outputs {elapsed_precise}",
    )
    .expect("valid template")
    .progress_chars("=> ");
    let progress = AtomicUsize::new(0);
    let mut failures = Vec::new();
    let mut all_series = Vec::new();
    let mut rates_used: Vec<u64> = Vec::new();

    for nw in &workloads {
        for durability in &cfg.run.durability {
            let mut series = Series {
                title: format!("{} workload, durability = {durability}", nw.name),
                slug: format!("{}-{durability}", nw.name),
                rows: Vec::new(),
            };
            for rate in rate_schedule(&cfg) {
                let (count, warmup) = step_size(&cfg, nw, rate);
                let commands = &nw.workload.measured[..count];
                let pb = ProgressBar::new(count as u64)
                    .with_style(style.clone())
                    .with_prefix(format!(
                        "{} @ {}/s",
                        series.slug,
                        report::fmt_rate(rate as f64)
                    ));
                let outcome =
                    run_keel(&cfg, nw, commands, durability, rate, warmup, &progress, &pb);
                pb.finish_and_clear();
                let row = match outcome {
                    Ok(row) => row,
                    Err(e) => {
                        eprintln!("error: {} @ {rate}/s: {e}", series.slug);
                        failures.push(format!("{} @ {rate}/s: {e}", series.slug));
                        break;
                    }
                };
                eprintln!("{}", summary_line(&series.slug, &row));
                if row.result.error.is_some() {
                    failures.push(format!("{} @ {rate}/s: {}", series.slug, row.note));
                }
                if !rates_used.contains(&rate) {
                    rates_used.push(rate);
                }
                let saturated = row.saturated;
                series.rows.push(row);
                if saturated {
                    break;
                }
            }
            all_series.push(series);
        }
    }

    // The floor at every rate Keel ran at, with the first workload's commands.
    let mut floor = None;
    if cfg.run.floor {
        if let Some(nw) = workloads.first() {
            rates_used.sort_unstable();
            let mut series = Series {
                title: "floor: null loop (ring in, ring out, no work, no journal)".into(),
                slug: "floor".into(),
                rows: Vec::new(),
            };
            for &rate in &rates_used {
                let (count, warmup) = step_size(&cfg, nw, rate);
                let pb = ProgressBar::new(count as u64)
                    .with_style(style.clone())
                    .with_prefix(format!("floor @ {}/s", report::fmt_rate(rate as f64)));
                let row = run_floor(
                    &cfg,
                    &nw.workload.measured[..count],
                    rate,
                    warmup,
                    &progress,
                    &pb,
                );
                pb.finish_and_clear();
                eprintln!("{}", summary_line("floor", &row));
                series.rows.push(row);
            }
            floor = Some(series);
        }
    }

    // Outputs.
    let hlog_dir = out_dir.join("hlog");
    let _ = std::fs::create_dir_all(&hlog_dir);
    let mut md = String::new();
    md.push_str("# Keel latency report\n\n");
    let mode = if args.quick {
        "quick (CI smoke run: few short rates, small workloads; not for publication)".to_string()
    } else if args.rates.is_some() || args.durability.is_some() {
        format!(
            "short (rates {:?}, durability {:?} from the command line: not the full climb)",
            cfg.run.rates, cfg.run.durability
        )
    } else {
        "full".to_string()
    };
    md.push_str(&format!("Mode: {mode}. Machine: {machine}.\n\n"));
    md.push_str(
        "Method: open loop, free of coordinated omission. A producer thread sends command k at its planned time \
         start + k/rate (busy-waiting until then, never skipping); a subscriber thread receives the outputs \
         (in submission order) and records received − planned into an HdrHistogram, so time spent queued \
         behind a slow engine counts. A warm-up prefix of each step is not recorded. Each step starts a fresh \
         engine (journal in a temp directory) and runs the workload's setup first. Latency is in µs. A step is \
         saturated when the achieved throughput is below ",
    );
    md.push_str(&format!(
        "{:.0}% of the offered rate, its p99 is above {} µs, or the producer fell more than {} s behind; the climb stops there. \
         The floor is the same harness against a null loop with Keel's ring, batching and output channel but no work and no journal; \
         Keel ÷ floor is per percentile at the same rate. Journal B/cmd is the bytes journaled per command. \
         Rejected is the number of commands the engine rejected in the step, warm-up included: the subscriber counts \
         the `rejected` events in the outputs it receives, and the run checks that count, reason by reason, against the \
         engine's own counters and against what the workload's builder saw when it simulated the stream; a disagreement \
         is an error. A step with rejections says REJECTED in its note, with the count per reason code; `latency.json` \
         has every reason code of every step, zeros included, and the workloads' dropped rows by reason.\n\n",
        cfg.run.saturation_ratio * 100.0,
        cfg.run.p99_bound_us,
        cfg.run.max_lag_s
    ));
    for n in &notes {
        md.push_str(&format!("Note: {n}\n\n"));
    }
    let infos: Vec<WorkloadInfo> = workloads.iter().map(|w| w.info.clone()).collect();
    md.push_str(&report::workloads_table(&infos));
    md.push_str(&format!(
        "Rows read = converted + dropped. Drop reasons: {}; see `benches/src/workload/lobster.rs`. \
         Rejected when built: what the simulation the workload was built with rejected (every step checks its own count against it).\n\n",
        DROP_REASONS.join(", ")
    ));
    if let Some(f) = &floor {
        md.push_str(&report::markdown_table(f, None));
    }
    for s in &all_series {
        md.push_str(&report::markdown_table(s, floor.as_ref()));
    }
    if let Some((path, s)) = &lobster_stats {
        md.push_str(&format!(
            "### LOBSTER conversion\n\nFile `{}`: {}.\n\nEach rate replays the converted file from the start on a fresh engine \
             (the engine stamps its own clock; the file's timestamps set only the order of the flow). \
             NASDAQ executions do not always hit the oldest order at a price, so an IOC can fill other orders than the row's; \
             rows naming orders Keel already filled or cancelled are dropped (`order_gone`).\n\n",
            path.display(),
            s.summary()
        ));
    }
    md.push_str("### Files\n\n");
    md.push_str("- every figure of this report, rejections and dropped rows per reason included: `latency.json`\n");
    for s in floor.iter().chain(&all_series) {
        let hlog = hlog_dir.join(format!("{}.hlog", s.slug));
        let svg = out_dir.join(format!("{}.svg", s.slug));
        if let Err(e) = report::write_hlog(&hlog, s) {
            eprintln!("error: {}: {e}", hlog.display());
            failures.push(e.to_string());
        }
        if let Err(e) = report::write_svg(&svg, s) {
            eprintln!("error: {e}");
            failures.push(e);
        }
        md.push_str(&format!(
            "- {}: `hlog/{}.hlog`, `{}.svg`\n",
            s.title, s.slug, s.slug
        ));
    }
    md.push_str(&format!(
        "\nTotal run time {:.1} s.\n",
        started.elapsed().as_secs_f64()
    ));
    let header = serde_json::json!({
        "mode": mode,
        "machine": machine,
        "notes": notes,
        "reject_codes": RejectReason::CODES,
        "drop_reasons": DROP_REASONS,
    });
    let series: Vec<&Series> = floor.iter().chain(&all_series).collect();
    let json = report::json_report(header, &infos, &series);
    let json_path = out_dir.join("latency.json");
    let text = serde_json::to_string_pretty(&json).expect("the report serializes");
    if let Err(e) = std::fs::write(&json_path, text + "\n") {
        eprintln!("error: {}: {e}", json_path.display());
        return ExitCode::from(1);
    }
    let md_path = out_dir.join("latency.md");
    if let Err(e) = std::fs::write(&md_path, &md) {
        eprintln!("error: {}: {e}", md_path.display());
        return ExitCode::from(1);
    }
    println!("{md}");
    eprintln!("report: {}", md_path.display());
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("failures:\n  {}", failures.join("\n  "));
        ExitCode::from(1)
    }
}

/// The configured rates, then ×growth up to `max_rate`, `max_steps` in all.
fn rate_schedule(cfg: &BenchConfig) -> Vec<u64> {
    let r = &cfg.run;
    let mut rates: Vec<u64> = r
        .rates
        .iter()
        .copied()
        .filter(|&x| x <= r.max_rate)
        .collect();
    while rates.len() < r.max_steps {
        let next = (*rates.last().unwrap_or(&r.rates[0]) as f64 * r.growth) as u64;
        if next > r.max_rate {
            break;
        }
        rates.push(next);
    }
    rates.truncate(r.max_steps);
    rates
}

/// Commands and warm-up of one step at `rate`.
fn step_size(cfg: &BenchConfig, nw: &NamedWorkload, rate: u64) -> (usize, usize) {
    let available = nw.workload.measured.len();
    let wanted = (rate as f64 * (cfg.run.warmup_s + cfg.run.duration_s)) as usize;
    let count = if nw.whole {
        available
    } else {
        wanted.min(available)
    };
    let warmup = ((rate as f64 * cfg.run.warmup_s) as usize).min(count / 4);
    (count.max(1), warmup)
}

fn spec(cfg: &BenchConfig, rate: u64, warmup: usize) -> StepSpec {
    StepSpec {
        rate,
        warmup,
        producer_core: cfg.threads.producer_core,
        consumer_core: cfg.threads.consumer_core,
        consumer_wait: cfg.threads.consumer_wait,
        producer_yield_above_ns: cfg.threads.producer_yield_above_ns,
        max_lag_ns: (cfg.run.max_lag_s * 1e9) as u64,
    }
}

/// Replicated steps (r1, r3) add a network round trip per batch: they
/// count as saturated at this many times `run.p99_bound_us`.
const REPLICATED_P99_FACTOR: u64 = 10;

/// The loop's wait strategy in replicated steps.
const REPLICATED_WAIT: &str = "spin_then_park";

fn judge(cfg: &BenchConfig, r: &StepResult) -> (bool, Vec<String>) {
    judge_with(cfg, r, cfg.run.p99_bound_us)
}

fn judge_with(cfg: &BenchConfig, r: &StepResult, p99_bound_us: u64) -> (bool, Vec<String>) {
    let mut notes = Vec::new();
    if r.achieved < cfg.run.saturation_ratio * r.rate as f64 {
        notes.push(format!(
            "saturated: achieved {:.0}% of offered",
            100.0 * r.achieved / r.rate as f64
        ));
    }
    let p99 = latencies(&r.hist)[2];
    if p99 > p99_bound_us * 1000 {
        notes.push(format!("saturated: p99 > {p99_bound_us} µs"));
    }
    if r.aborted {
        notes.push(format!(
            "saturated: producer > {} s behind, stopped after {} commands",
            cfg.run.max_lag_s, r.sent
        ));
    }
    if let Some(e) = &r.error {
        notes.push(format!("ERROR: {e}"));
    }
    (!notes.is_empty(), notes)
}

#[allow(clippy::too_many_arguments)]
fn run_keel(
    cfg: &BenchConfig,
    nw: &NamedWorkload,
    commands: &[keel_engine::model::Command],
    durability: &str,
    rate: u64,
    warmup: usize,
    progress: &AtomicUsize,
    pb: &ProgressBar,
) -> Result<Row, String> {
    let workload = &nw.workload;
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let replicas = nats::replicas_of(durability);
    let local = if replicas.is_some() {
        "none"
    } else {
        durability
    };
    // Replicated: the NATS servers need CPU on the same machine, so a loop
    // with nothing to do parks instead of spinning (`spin_then_park`).
    let mut step_cfg;
    let engine_cfg = match replicas {
        Some(_) => {
            step_cfg = cfg.clone();
            step_cfg.engine.wait_strategy = REPLICATED_WAIT.into();
            &step_cfg
        }
        None => cfg,
    };
    let config = engine_cfg.engine_config(&dir.path().join("journal"), local, workload.limits);
    // Replicated (r1, r3): fresh NATS servers for the step, the floor (one
    // publish round trip) measured on them first, then the engine with its
    // batches published to JetStream before any output.
    let mut floor_note = None;
    let servers = match replicas {
        Some(r) => Some(nats::Nats::start(r)?),
        None => None,
    };
    let engine = match &servers {
        None => Engine::start(&config).map_err(|e| format!("engine start: {e}"))?,
        Some(n) => {
            let rtt = n.publish_round_trips(2_000, 1024)?;
            floor_note = Some(format!(
                "JetStream R{} publish round trip (1 KiB, sequential, same servers): p50 {:.1} µs, p99 {:.1} µs; {} batches in flight; loop wait {REPLICATED_WAIT}",
                n.replicas,
                nats::quantile(&rtt, 0.5) as f64 / 1e3,
                nats::quantile(&rtt, 0.99) as f64 / 1e3,
                IN_FLIGHT.get().copied().unwrap_or(8)
            ));
            let in_flight = IN_FLIGHT.get().copied().unwrap_or(8);
            Engine::start_replicated(&config, Box::new(n.replicator(in_flight)?))
                .map_err(|e| format!("engine start: {e}"))?
        }
    };
    let sub = engine.subscribe().map_err(|e| e.to_string())?;
    // Setup (genesis, accounts, deposits, the books), outputs drained as we go.
    let sender = engine.sender();
    let (mut received, mut setup_rejected) = (0usize, 0usize);
    let mut drain = |received: &mut usize, wait: bool| -> Result<(), String> {
        loop {
            let batch = if wait {
                Some(
                    sub.recv_timeout(Duration::from_secs(30))
                        .map_err(|e| e.to_string())?,
                )
            } else {
                sub.try_recv().map_err(|e| e.to_string())?
            };
            let Some(batch) = batch else { return Ok(()) };
            for o in batch.iter() {
                *received += 1;
                setup_rejected += o
                    .events
                    .iter()
                    .filter(|e| matches!(e, Event::Rejected { .. }))
                    .count();
            }
            if wait {
                return Ok(());
            }
        }
    };
    for chunk in workload.setup.chunks(1024) {
        for cmd in chunk {
            sender.submit(*cmd).map_err(|e| e.to_string())?;
        }
        drain(&mut received, false)?;
    }
    while received < workload.setup.len() {
        drain(&mut received, true)?;
    }
    if setup_rejected > 0 {
        return Err(format!("{setup_rejected} setup commands rejected"));
    }
    let before = engine.stats().map_err(|e| e.to_string())?;
    let mut tick = |n: usize| pb.set_position(n as u64);
    let result = run_step(
        &spec(cfg, rate, warmup),
        commands,
        KeelProducer(sender),
        KeelConsumer::new(sub),
        progress,
        &mut tick,
    );
    let bound = match replicas {
        Some(_) => cfg.run.p99_bound_us * REPLICATED_P99_FACTOR,
        None => cfg.run.p99_bound_us,
    };
    let (saturated, mut notes) = judge_with(cfg, &result, bound);
    notes.extend(floor_note);
    let mut journal = None;
    let mut result = result;
    // Rejections: counted by the subscriber from the outputs, checked
    // against the engine's own counters, and against what the workload's
    // builder saw when that is known. Never hidden: a non-zero count is in
    // the note, a disagreement is an error.
    let counted = result
        .rejections
        .expect("the Keel subscriber counts rejections");
    if counted.iter().any(|&n| n > 0) {
        notes.push(format!("REJECTED: {}", rejections_text(&counted)));
    }
    match engine.shutdown() {
        Ok(exit) => {
            let bytes = exit.stats.bytes_journaled - before.bytes_journaled;
            journal = Some(bytes as f64 / result.sent.max(1) as f64);
            let by_engine: Rejections =
                std::array::from_fn(|i| exit.stats.rejections[i] - before.rejections[i]);
            if by_engine != counted && result.error.is_none() {
                let e = format!(
                    "the engine counted rejections [{}] but the subscriber [{}]",
                    rejections_text(&by_engine),
                    rejections_text(&counted)
                );
                notes.push(format!("ERROR: {e}"));
                result.error = Some(e);
            }
        }
        Err(e) => {
            notes.push(format!("ERROR: engine: {e}"));
            result.error.get_or_insert_with(|| format!("engine: {e}"));
        }
    }
    if let Some(expected) = nw.expected_rejections(result.sent) {
        if expected != counted && result.error.is_none() {
            let e = format!(
                "{} rejections counted [{}], but building the workload saw {} [{}]",
                counted.iter().sum::<u64>(),
                rejections_text(&counted),
                expected.iter().sum::<u64>(),
                rejections_text(&expected)
            );
            notes.push(format!("ERROR: {e}"));
            result.error = Some(e);
        }
    }
    Ok(Row {
        result,
        journal_bytes_per_cmd: journal,
        saturated,
        note: notes.join("; "),
    })
}

fn run_floor(
    cfg: &BenchConfig,
    commands: &[keel_engine::model::Command],
    rate: u64,
    warmup: usize,
    progress: &AtomicUsize,
    pb: &ProgressBar,
) -> Row {
    let (producer, consumer, handle) = null::start(
        cfg.engine.ring_capacity as usize,
        cfg.engine.batch_max as usize,
        cfg.engine.outputs_capacity as usize,
        cfg.threads.loop_core,
        cfg.engine.wait_strategy == "spin",
    );
    let mut tick = |n: usize| pb.set_position(n as u64);
    let result = run_step(
        &spec(cfg, rate, warmup),
        commands,
        producer,
        consumer,
        progress,
        &mut tick,
    );
    handle.shutdown();
    let (saturated, notes) = judge(cfg, &result);
    Row {
        result,
        journal_bytes_per_cmd: None,
        saturated,
        note: notes.join("; "),
    }
}

fn summary_line(slug: &str, row: &Row) -> String {
    let r = &row.result;
    let l = latencies(&r.hist);
    format!(
        "{slug:>18} @ {:>6}/s: achieved {:>6}/s  p50 {} p99 {} p99.9 {} p99.99 {} max {} µs  {}",
        report::fmt_rate(r.rate as f64),
        report::fmt_rate(r.achieved),
        report::fmt_us(l[0]),
        report::fmt_us(l[2]),
        report::fmt_us(l[3]),
        report::fmt_us(l[4]),
        report::fmt_us(l[5]),
        row.note
    )
}
