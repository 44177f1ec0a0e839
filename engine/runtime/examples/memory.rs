//! Measures memory per resting order and per account:
//! `cargo run --release -p keel-engine --example memory [ORDERS]`.
//!
//! A counting allocator records the bytes the state allocates: first for an
//! empty state sized for ORDERS orders (the per-order structures are
//! reserved up front, so this is the fixed cost per order of capacity), then
//! for ORDERS resting orders spread over many price levels, then for opened
//! accounts. Resident memory (RSS) is read from /proc for comparison.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, Ordering};

use keel_engine::model::{
    Command, CommandKind, Fixed, Name, OrderType, PlaceOrder, Side, StpMode, SymbolSpec,
    TimeInForce, OPERATOR,
};
use keel_engine::{process, Limits, State};

struct Counting;
static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);

// SAFETY: delegates to the system allocator unchanged and only tracks the
// number of live bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> i64 {
    LIVE_BYTES.load(Ordering::Relaxed)
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

fn main() {
    let orders: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let accounts: u32 = 100_000;
    let limits = Limits {
        max_orders: orders + 1,
        max_accounts: accounts + 2,
        max_open_orders_per_account: u32::MAX,
        max_levels: orders / 2 + 1,
        ..Limits::default()
    };
    let rss0 = rss_bytes();
    let before = live();
    let mut state = State::new(limits);
    let reserved = live() - before;
    let mut out = Vec::with_capacity(64);
    let mut request = 0u64;
    let mut ts = 0u64;
    let mut run = |state: &mut State, account: u32, request_id: u64, kind: CommandKind| {
        ts += 1;
        process(
            state,
            &Command {
                account,
                request_id,
                kind,
            },
            ts,
            &mut out,
        )
        .expect("processes");
        if let Some(keel_engine::Event::Rejected { reason, .. }) = out.first() {
            panic!("command {kind:?} rejected: {reason}");
        }
    };
    for (name, scale) in [("BASE", 2), ("QUOTE", 4)] {
        request += 1;
        run(
            &mut state,
            OPERATOR,
            request,
            CommandKind::AddAsset {
                name: Name::new(name).unwrap(),
                scale,
            },
        );
    }
    request += 1;
    let spec = SymbolSpec {
        name: Name::new("BASE-QUOTE").unwrap(),
        base: 0,
        quote: 1,
        tick_size: Fixed::new(1, 2),
        lot_size: Fixed::new(1, 2),
        maker_fee_bps: 1,
        taker_fee_bps: 2,
    };
    run(&mut state, OPERATOR, request, CommandKind::AddSymbol(spec));
    run(&mut state, 1, 1, CommandKind::OpenAccount);
    run(
        &mut state,
        1,
        2,
        CommandKind::Deposit {
            asset: 0,
            amount: 1 << 62,
        },
    );
    run(
        &mut state,
        1,
        3,
        CommandKind::Deposit {
            asset: 1,
            amount: 1 << 62,
        },
    );
    let with_symbol = live();
    // Resting orders: bids below 100,000,000 ticks and asks above, spread over
    // many levels (about 8 orders per level).
    let levels = (orders / 8).max(1) as u64;
    for i in 0..orders as u64 {
        let side = if i % 2 == 0 { Side::Buy } else { Side::Sell };
        // Farthest levels first, so each new level lands at the top of the
        // book (the cheap end of the sorted level vector).
        let offset = levels - (i / 2) % levels;
        let price = match side {
            Side::Buy => 100_000_000 - offset,
            Side::Sell => 100_000_000 + offset,
        };
        let place = PlaceOrder {
            symbol: 0,
            side,
            order_type: OrderType::Limit { price },
            qty: 1,
            tif: TimeInForce::Gtc,
            post_only: false,
            stp: StpMode::CancelNewest,
        };
        run(&mut state, 1, 4 + i, CommandKind::PlaceOrder(place));
    }
    assert_eq!(
        state.open_order_count(),
        orders as usize,
        "every order rests"
    );
    let with_orders = live();
    let rss_orders = rss_bytes();
    for a in 2..2 + accounts {
        run(&mut state, a, 1, CommandKind::OpenAccount);
    }
    let with_accounts = live();
    let per_order_reserved = reserved as f64 / (orders + 1) as f64;
    let per_order_total = (with_orders - before) as f64 / orders as f64;
    println!(
        "resting orders: {orders} over {} price levels per side",
        levels
    );
    println!("order structures reserved at start: {reserved} bytes = {per_order_reserved:.1} B per order of capacity");
    println!(
        "allocated with {orders} resting orders: {} bytes = {per_order_total:.1} B per resting order (state, books and levels included; symbol setup {} B)",
        with_orders - before,
        with_symbol - before - reserved
    );
    println!(
        "resident (RSS) growth: {} bytes = {:.1} B per resting order",
        rss_orders - rss0,
        (rss_orders - rss0) as f64 / orders as f64
    );
    println!(
        "accounts: {accounts} opened, {} bytes = {:.1} B per account (2 assets)",
        with_accounts - with_orders,
        (with_accounts - with_orders) as f64 / accounts as f64
    );
    println!(
        "10 million resting orders at this rate: {:.2} GiB",
        per_order_total * 10e6 / (1u64 << 30) as f64
    );
}
