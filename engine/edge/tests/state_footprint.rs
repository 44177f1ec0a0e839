//! `Footprint` (the bytes a state takes for its limits, which configs are
//! checked against) measured against what `State::new` and the commands that
//! grow the state to a limit really allocate, with a counting allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use keel_engine::model::{Command, CommandKind, Name, SymbolSpec, OPERATOR};
use keel_engine::state::Footprint;
use keel_engine::{Fixed, Limits, State};

/// Counts the bytes this thread asks for (allocations and the new size of
/// reallocations); frees are not subtracted.
struct Counting;

thread_local! {
    static ASKED: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ASKED.with(|a| a.set(a.get() + layout.size() as u64));
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ASKED.with(|a| a.set(a.get() + layout.size() as u64));
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ASKED.with(|a| a.set(a.get() + new_size as u64));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

fn asked<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let before = ASKED.with(Cell::get);
    let t = f();
    (t, ASKED.with(Cell::get) - before)
}

fn part(f: &Footprint, what: &str) -> u64 {
    f.parts.iter().find(|p| p.what == what).unwrap().bytes
}

#[test]
fn state_new_allocates_what_the_footprint_counts() {
    for (orders, levels) in [(1000, 500), (1 << 16, 1 << 15), (3 << 14, 7)] {
        let limits = Limits {
            max_orders: orders,
            max_levels: levels,
            ..Limits::default()
        };
        let footprint = Footprint::of(&limits);
        let (state, bytes) = asked(|| State::new(limits));
        let counted = footprint.reserved_at_start();
        // The only other allocation is the operator account's entry.
        assert!(
            bytes >= counted && bytes - counted <= 1024,
            "State::new({orders} orders, {levels} levels) asked for {bytes} bytes, the footprint counts {counted}: {:?}",
            footprint.parts
        );
        drop(state);
    }
}

#[test]
fn the_account_table_and_books_grow_to_what_the_footprint_counts() {
    let limits = Limits {
        max_orders: 1024,
        max_levels: 512,
        max_accounts: 1 << 16,
        max_symbols: 4,
        ..Limits::default()
    };
    let footprint = Footprint::of(&limits);
    let mut state = State::new(limits);
    let name = |s: &str| Name::new(s).unwrap();
    let mut rid = 0;
    let mut run = |state: &mut State, account, kind| {
        rid += 1;
        let cmd = Command::new(account, rid, kind);
        asked(|| keel_engine::process_to_vec(state, &cmd, 0).unwrap()).1
    };
    run(
        &mut state,
        OPERATOR,
        CommandKind::AddAsset {
            name: name("A"),
            scale: 0,
        },
    );
    run(
        &mut state,
        OPERATOR,
        CommandKind::AddAsset {
            name: name("B"),
            scale: 0,
        },
    );
    // The highest account id: the table is allocated whole.
    let bytes = run(
        &mut state,
        limits.max_accounts - 1,
        CommandKind::OpenAccount,
    );
    let table = part(&footprint, "account table");
    assert!(
        bytes >= table && bytes - table <= 4096,
        "open_account asked for {bytes}, the footprint counts {table}"
    );
    let spec = |n: &str| SymbolSpec {
        name: name(n),
        base: 0,
        quote: 1,
        tick_size: Fixed::new(1, 0),
        lot_size: Fixed::new(1, 0),
        maker_fee_bps: 0,
        taker_fee_bps: 0,
    };
    let mut added = 0;
    for n in ["S1", "S2", "S3", "S4"] {
        added += run(&mut state, OPERATOR, CommandKind::AddSymbol(spec(n)));
    }
    let books = part(&footprint, "books");
    assert!(
        added >= books * 9 / 10 && added <= books + 8192,
        "4 add_symbols asked for {added}, the footprint counts {books}"
    );
}
