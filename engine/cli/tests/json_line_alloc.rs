//! No heap allocation per line in steady state on `keel run`'s path: a JSON
//! line parsed into a command, the command processed by the core, its
//! output line written by the edge's `OutputWriter`. A counting global
//! allocator counts what this thread allocates over thousands of lines of
//! the realistic flow (limit, market, IOC, FOK, GTD and post-only orders,
//! cancels, amends, cancel-alls, transfers, withdrawals, halts, rejections)
//! after a warm-up, per command kind.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::Path;

use keel_cli::generator::{generate, DemoParams};
use keel_edge::json_out::command_json;
use keel_edge::{parse_command_bytes, OutputWriter};
use keel_engine::model::Event;
use keel_engine::{process, process_to_vec, Registry, State};

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count_one() {
    // `try_with`: the allocator may run while thread locals are torn down.
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

// SAFETY: every call is passed unchanged to the system allocator; the
// wrapper only counts, in thread locals that never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: the caller upholds `alloc`'s contract, which we forward.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through this wrapper.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: `ptr` came from `System` through this wrapper.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations `f` makes on this thread.
fn allocations_in<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let before = ALLOCATIONS.with(Cell::get);
    COUNTING.with(|c| c.set(true));
    let t = f();
    COUNTING.with(|c| c.set(false));
    (t, ALLOCATIONS.with(Cell::get) - before)
}

/// The command's name, from its JSON line (for the per-kind report).
fn kind_of(line: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    v["type"].as_str().unwrap().to_owned()
}

#[test]
fn parse_process_format_allocates_nothing_per_line_in_steady_state() {
    let config_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/json_bench.toml");
    let config = keel_edge::load_config(&config_path).expect("configs/json_bench.toml loads");
    let startup = config.genesis_commands().unwrap();
    let mut state = State::new(config.limits());
    state.prefault();
    let mut names = Registry::default();
    for cmd in &startup {
        for event in process_to_vec(&mut state, cmd, 0).unwrap() {
            names.learn(&event);
        }
    }
    const WARM: usize = 40_000;
    const MEASURED: usize = 40_000;
    let flow = generate(
        config.limits(),
        &startup,
        DemoParams {
            seed: 7,
            accounts: 200,
            commands: (WARM + MEASURED) as u64,
        },
    );
    let lines: Vec<String> = flow
        .commands
        .iter()
        .map(|(cmd, ts)| {
            let mut line = command_json(&names, cmd);
            line["ts"] = (*ts).into();
            line.to_string()
        })
        .collect();
    assert!(lines.len() >= WARM + MEASURED, "the flow is long enough");
    let kinds: Vec<String> = lines.iter().map(|l| kind_of(l)).collect();

    let mut events: Vec<Event> = Vec::with_capacity(4096);
    let mut writer = OutputWriter::default();
    // The printer's pending bytes, written out (here: dropped) in large
    // pieces, as `keel run` does.
    let mut pending: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut seq = 0u64;
    let mut per_kind: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    let mut rejected = 0u64;
    let mut offenders: Vec<String> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let ((), allocated) = allocations_in(|| {
            let parsed = parse_command_bytes(line.as_bytes(), &names).expect("every line parses");
            let ts = parsed.ts.expect("every line has a ts");
            process(&mut state, &parsed.command, ts, &mut events).expect("processes");
            seq += 1;
            for e in &events {
                names.learn(e);
            }
            if pending.len() >= (1 << 20) - (64 << 10) {
                pending.clear();
            }
            writer.append_line(&mut pending, &names, seq, ts, &parsed.command, &events);
        });
        if events.iter().any(|e| matches!(e, Event::Rejected { .. })) {
            rejected += 1;
        }
        if i >= WARM && allocated > 0 && offenders.len() < 5 {
            offenders.push(format!(
                "line {i} allocated {allocated}: {line} -> {events:?}"
            ));
        }
        if i >= WARM {
            let entry = per_kind.entry(kinds[i].as_str()).or_default();
            entry.0 += 1;
            entry.1 += allocated;
        }
    }
    let total: u64 = per_kind.values().map(|(_, a)| a).sum();
    let lines_measured: u64 = per_kind.values().map(|(n, _)| n).sum();
    eprintln!("{lines_measured} lines measured, {rejected} rejected in all; (lines, allocations) per kind: {per_kind:?}");
    // The measured window holds the flow's variety, so the claim is about
    // more than one kind of line.
    for kind in ["place_order", "cancel_order", "amend_order", "cancel_all"] {
        assert!(
            per_kind.get(kind).is_some_and(|(n, _)| *n > 100),
            "the measured window holds `{kind}` lines: {per_kind:?}"
        );
    }
    assert!(rejected > 0, "the flow includes rejected commands");
    assert_eq!(
        total, 0,
        "allocations in {lines_measured} steady-state lines (per kind: {per_kind:?}); first lines that allocated: {offenders:#?}"
    );
}
