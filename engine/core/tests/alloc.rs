//! Zero heap allocations per command in steady state: a counting global
//! allocator counts the allocations made by this thread while commands are
//! processed on a warmed-up book, per command kind (place, cancel, amend,
//! and commands that match).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use keel_core::model::{
    Command, CommandKind, Event, Fixed, Name, OrderType, PlaceOrder, Side, StpMode, SymbolSpec,
    TimeInForce, OPERATOR,
};
use keel_core::{process, Limits, State};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: delegates every call to the system allocator unchanged; only
// counts allocations made while this thread has counting switched on.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(|c| c.get()) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(|c| c.get()) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `f` on this thread.
fn allocations_in(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

use keel_core::rng::SplitMix64 as Rng;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Place,
    Cancel,
    Amend,
    Match,
    /// A GTD order (with one of a few shared expiries).
    Gtd,
    /// A limit order far outside the book window.
    Far,
}

struct Book {
    state: State,
    out: Vec<Event>,
    rng: Rng,
    live: Vec<u64>,
    request: Vec<u64>,
    ts: u64,
    /// Also place GTD orders and orders at far price levels.
    far_and_gtd: bool,
}

const ACCOUNTS: u32 = 50;

impl Book {
    fn new() -> Book {
        Book::with(1 << 14, false)
    }

    fn with(max_orders: u32, far_and_gtd: bool) -> Book {
        let mut state = State::new(Limits {
            max_orders,
            max_levels: max_orders / 2,
            max_open_orders_per_account: u32::MAX,
            ..Limits::default()
        });
        state.prefault();
        let mut b = Book {
            state,
            out: Vec::with_capacity(4096),
            rng: Rng::new(0x1234_5678),
            live: Vec::with_capacity(1 << 14),
            request: vec![0; ACCOUNTS as usize + 1],
            ts: 0,
            far_and_gtd,
        };
        for (name, scale) in [("BASE", 4), ("QUOTE", 4)] {
            b.run(
                OPERATOR,
                CommandKind::AddAsset {
                    name: Name::new(name).unwrap(),
                    scale,
                },
            );
        }
        b.run(
            OPERATOR,
            CommandKind::AddSymbol(SymbolSpec {
                name: Name::new("BASE-QUOTE").unwrap(),
                base: 0,
                quote: 1,
                tick_size: Fixed::new(1, 2),
                lot_size: Fixed::new(1, 2),
                maker_fee_bps: 1,
                taker_fee_bps: 2,
            }),
        );
        for a in 1..=ACCOUNTS {
            b.run(a, CommandKind::OpenAccount);
            for asset in 0..2 {
                b.run(
                    a,
                    CommandKind::Deposit {
                        asset,
                        amount: 1 << 50,
                    },
                );
            }
        }
        b
    }

    fn command(&mut self, account: u32, kind: CommandKind) -> Command {
        self.request[account as usize] += 1;
        Command {
            account,
            request_id: self.request[account as usize],
            kind,
        }
    }

    fn run(&mut self, account: u32, kind: CommandKind) {
        let cmd = self.command(account, kind);
        self.process(&cmd);
    }

    fn process(&mut self, cmd: &Command) {
        self.ts += 1;
        process(&mut self.state, cmd, self.ts, &mut self.out).expect("processes");
    }

    /// A non-crossing order that rests: near the touch, far outside the
    /// window, or GTD with a shared expiry (for building a deep book).
    fn resting_order(&mut self) -> Command {
        let account = 1 + self.rng.below(ACCOUNTS as u64) as u32;
        let side = if self.rng.below(2) == 0 {
            Side::Buy
        } else {
            Side::Sell
        };
        let (price, tif) = match self.rng.below(10) {
            0..=3 => {
                let offset = 1 + self.rng.below(300);
                let price = match side {
                    Side::Buy => 10_000 - offset,
                    Side::Sell => 10_000 + offset,
                };
                let bucket = 1_000_000 + self.rng.below(3);
                (
                    price,
                    TimeInForce::Gtd {
                        expiry_ns: bucket * 50_000,
                    },
                )
            }
            4..=6 => match side {
                Side::Buy => (1 + self.rng.below(5_000), TimeInForce::Gtc),
                Side::Sell => (20_000 + self.rng.below(1_000_000), TimeInForce::Gtc),
            },
            _ => {
                let offset = 1 + self.rng.below(300);
                match side {
                    Side::Buy => (10_000 - offset, TimeInForce::Gtc),
                    Side::Sell => (10_000 + offset, TimeInForce::Gtc),
                }
            }
        };
        let qty = 1 + self.rng.below(20);
        let order = PlaceOrder::limit(0, side, price, qty).with_tif(tif);
        self.command(account, CommandKind::PlaceOrder(order))
    }

    /// The next command of the mix (built outside the counted region).
    fn next(&mut self) -> (Command, Kind) {
        let account = 1 + self.rng.below(ACCOUNTS as u64) as u32;
        let side = if self.rng.below(2) == 0 {
            Side::Buy
        } else {
            Side::Sell
        };
        let roll = self.rng.below(100);
        let pick = |b: &mut Book| -> Option<(u64, u32, u64, u64)> {
            while !b.live.is_empty() {
                let i = b.rng.below(b.live.len() as u64) as usize;
                match b.state.order(b.live[i]) {
                    Some(o) => return Some((o.id, o.account, o.price, o.remaining)),
                    None => {
                        b.live.swap_remove(i);
                    }
                }
            }
            None
        };
        let place = |b: &mut Book, price: u64, tif| {
            let qty = 1 + b.rng.below(20);
            b.command(
                account,
                CommandKind::PlaceOrder(PlaceOrder {
                    symbol: 0,
                    side,
                    order_type: OrderType::Limit { price },
                    qty,
                    tif,
                    post_only: false,
                    stp: StpMode::CancelOldest,
                }),
            )
        };
        if self.far_and_gtd && roll < 30 {
            return if roll < 15 {
                // Far outside the window around 10_000, on both sides.
                let price = match side {
                    Side::Buy => 1 + self.rng.below(5_000),
                    Side::Sell => 20_000 + self.rng.below(1_000_000),
                };
                (place(self, price, TimeInForce::Gtc), Kind::Far)
            } else {
                let offset = 1 + self.rng.below(300);
                let price = match side {
                    Side::Buy => 10_000 - offset,
                    Side::Sell => 10_000 + offset,
                };
                let bucket = self.ts / 50_000 + 1 + self.rng.below(3);
                let tif = TimeInForce::Gtd {
                    expiry_ns: bucket * 50_000,
                };
                (place(self, price, tif), Kind::Gtd)
            };
        }
        match roll {
            0..=39 => {
                let offset = 1 + self.rng.below(300);
                let price = match side {
                    Side::Buy => 10_000 - offset,
                    Side::Sell => 10_000 + offset,
                };
                (place(self, price, TimeInForce::Gtc), Kind::Place)
            }
            40..=54 => {
                let price = match side {
                    Side::Buy => 10_400,
                    Side::Sell => 9_600,
                };
                (place(self, price, TimeInForce::Ioc), Kind::Match)
            }
            55..=74 => match pick(self) {
                Some((order, owner, _, _)) => (
                    self.command(owner, CommandKind::CancelOrder { order }),
                    Kind::Cancel,
                ),
                None => (place(self, 10_000, TimeInForce::Gtc), Kind::Place),
            },
            _ => match pick(self) {
                Some((order, owner, price, remaining)) => {
                    let o = *self.state.order(order).unwrap();
                    let delta = 1 + self.rng.below(5);
                    // Move away from the spread so amends rarely cross.
                    let new_price = match o.side {
                        Side::Buy => price.saturating_sub(delta).max(9_000),
                        Side::Sell => price + delta,
                    };
                    let new_price = if new_price == price {
                        price + 1
                    } else {
                        new_price
                    };
                    (
                        self.command(
                            owner,
                            CommandKind::AmendOrder {
                                order,
                                price: new_price,
                                qty: remaining,
                            },
                        ),
                        Kind::Amend,
                    )
                }
                None => (place(self, 10_000, TimeInForce::Gtc), Kind::Place),
            },
        }
    }

    /// Runs `n` commands; returns allocations per kind and commands per kind.
    fn steady(&mut self, n: usize) -> [(Kind, u64, u64); 6] {
        let mut tally = [
            (Kind::Place, 0, 0),
            (Kind::Cancel, 0, 0),
            (Kind::Amend, 0, 0),
            (Kind::Match, 0, 0),
            (Kind::Gtd, 0, 0),
            (Kind::Far, 0, 0),
        ];
        for _ in 0..n {
            let (cmd, mut kind) = self.next();
            let allocs = allocations_in(|| self.process(&cmd));
            if kind != Kind::Far
                && kind != Kind::Gtd
                && self
                    .out
                    .iter()
                    .any(|e| matches!(e, Event::TradeExecuted(_)))
            {
                kind = Kind::Match;
            }
            for e in &self.out {
                if let Event::OrderRested { order } = e {
                    self.live.push(*order);
                }
            }
            let t = tally.iter_mut().find(|t| t.0 == kind).unwrap();
            t.1 += allocs;
            t.2 += 1;
        }
        tally
    }
}

#[test]
fn steady_state_commands_do_not_allocate() {
    let mut book = Book::new();
    // Warm up: the book fills to its working depth and every buffer reaches
    // its high-water mark.
    book.steady(60_000);
    let resting = book.state.open_order_count();
    assert!(resting > 200, "warm-up built a book ({resting} orders)");
    let tally = book.steady(60_000);
    for (kind, allocs, count) in tally.into_iter().take(4) {
        assert!(
            count > 1_000,
            "{kind:?} ran {count} times: the mix must exercise it"
        );
        assert_eq!(
            allocs, 0,
            "{kind:?}: {allocs} allocations over {count} commands"
        );
    }
    book.state.check_invariants().unwrap();
    // The counter works: a Vec allocation on this thread is counted.
    assert_eq!(
        allocations_in(|| drop(std::hint::black_box(vec![1u8; 64]))),
        1
    );
}

#[test]
fn steady_state_at_100k_resting_orders_with_gtd_and_far_levels_does_not_allocate() {
    let mut book = Book::with(1 << 18, true);
    // Build 100,000 resting orders: near, far outside the window, and GTD
    // with shared expiries; the mix then keeps the book near that depth.
    while book.state.open_order_count() < 100_000 {
        let cmd = book.resting_order();
        book.process(&cmd);
        assert!(
            matches!(book.out.last(), Some(Event::OrderRested { .. })),
            "build-up order did not rest: {:?}",
            book.out
        );
        if let Some(Event::OrderRested { order }) = book.out.last() {
            book.live.push(*order);
        }
    }
    book.steady(60_000);
    let tally = book.steady(60_000);
    let resting = book.state.open_order_count();
    assert!(
        resting > 50_000,
        "the mix kept a deep book ({resting} orders)"
    );
    let expired = book.out.len();
    let _ = expired;
    for (kind, allocs, count) in tally {
        assert!(
            count > 1_000,
            "{kind:?} ran {count} times: the mix must exercise it"
        );
        assert_eq!(
            allocs, 0,
            "{kind:?}: {allocs} allocations over {count} commands"
        );
    }
    book.state.check_invariants().unwrap();
}
