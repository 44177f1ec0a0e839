//! `cargo bench -p benches --bench scale`: the cost of one command as the
//! book grows. For each size (1,000 / 10,000 / 100,000 / 1,000,000 resting
//! orders) and each operation, the state is built once, then commands are
//! timed in chunks of 1,000, and each chunk is undone outside the timing so
//! the book stays at its size:
//!
//! - `place`: a GTC limit that rests near the touch (undone: cancelled).
//! - `cancel_oldest`: cancel the oldest resting order (undone: a new order).
//! - `fifo_fill`: a one-lot IOC buy that fills the oldest one-lot ask at the
//!   best level, FIFO (undone: a new one-lot ask at the back).
//! - `gtd_place`: a GTD limit with the latest expiry, among resting GTD
//!   orders with colliding expiries (undone: cancelled).
//! - `far_place`: a limit at a new price level far outside the window, among
//!   many far levels (undone: cancelled).
//!
//! Every state's memory is allocated, advised for transparent huge pages
//! (`advise_huge_pages`, as `keel run` does with `engine.prefault`) and
//! touched (`prefault`) before timing. Before each command the bench calls
//! `State::prefetch_ahead` with the next three commands of its chunk, as the
//! business-logic loop does over a batch (it hints only from 8,192 open
//! orders; `KEEL_SCALE_PREFETCH=0` turns it off). `KEEL_SCALE_OPS` (a comma
//! list of the names above) runs only those operations.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use keel_core::model::{
    Command, CommandKind, Event, Fixed, Name, PlaceOrder, Side, SymbolSpec, TimeInForce, OPERATOR,
};
use keel_core::rng::SplitMix64;
use keel_core::{process, Limits, State};

const SIZES: [u64; 4] = [1_000, 10_000, 100_000, 1_000_000];
const CHUNK: u64 = 1_000;
const ACCOUNTS: u32 = 64;
const MID: u64 = 1_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Place,
    CancelOldest,
    FifoFill,
    GtdPlace,
    FarPlace,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Place => "place",
            Op::CancelOldest => "cancel_oldest",
            Op::FifoFill => "fifo_fill",
            Op::GtdPlace => "gtd_place",
            Op::FarPlace => "far_place",
        }
    }
}

struct Bench {
    state: State,
    out: Vec<Event>,
    rng: SplitMix64,
    request: Vec<u64>,
    ts: u64,
    /// Resting orders, oldest first: (id, account).
    resting: std::collections::VecDeque<(u64, u32)>,
    far_next: u64,
    /// Whether to call `prefetch_ahead` (`KEEL_SCALE_PREFETCH=0` turns it
    /// off, to see what it buys).
    prefetch: bool,
}

impl Bench {
    fn new(size: u64, op: Op) -> Bench {
        let max_orders = (size + 4 * CHUNK + 16) as u32;
        let mut b = Bench {
            state: State::new(Limits {
                max_accounts: ACCOUNTS + 1,
                max_orders,
                max_levels: max_orders,
                max_open_orders_per_account: u32::MAX,
                ..Limits::default()
            }),
            out: Vec::with_capacity(4096),
            rng: SplitMix64::new(size ^ op as u64),
            request: vec![0; ACCOUNTS as usize + 1],
            ts: 1,
            resting: std::collections::VecDeque::with_capacity(max_orders as usize),
            far_next: MID * 10,
            prefetch: std::env::var("KEEL_SCALE_PREFETCH").map_or(true, |v| v != "0"),
        };
        keel_engine::advise_huge_pages(&b.state);
        b.state.prefault();
        let name = |n| Name::new(n).expect("name");
        b.run(
            OPERATOR,
            CommandKind::AddAsset {
                name: name("B"),
                scale: 0,
            },
        );
        b.run(
            OPERATOR,
            CommandKind::AddAsset {
                name: name("Q"),
                scale: 0,
            },
        );
        b.run(
            OPERATOR,
            CommandKind::AddSymbol(SymbolSpec {
                name: name("B-Q"),
                base: 0,
                quote: 1,
                tick_size: Fixed::new(1, 0),
                lot_size: Fixed::new(1, 0),
                maker_fee_bps: 0,
                taker_fee_bps: 0,
            }),
        );
        for a in 1..=ACCOUNTS {
            b.run(a, CommandKind::OpenAccount);
            b.run(
                a,
                CommandKind::Deposit {
                    asset: 0,
                    amount: 1 << 50,
                },
            );
            b.run(
                a,
                CommandKind::Deposit {
                    asset: 1,
                    amount: 1 << 56,
                },
            );
        }
        for _ in 0..size {
            let order = b.resting_order(op);
            b.place(order);
            assert!(
                matches!(b.out.last(), Some(Event::OrderRested { .. })),
                "{op:?}: a build-up order did not rest: {:?}",
                b.out
            );
        }
        assert_eq!(b.state.open_order_count() as u64, size);
        b
    }

    fn run(&mut self, account: u32, kind: CommandKind) {
        let r = &mut self.request[account as usize];
        *r += 1;
        let cmd = Command::new(account, *r, kind);
        self.ts += 1;
        process(&mut self.state, &cmd, self.ts, &mut self.out).expect("processes");
    }

    /// A maker account (the taker of `fifo_fill` is `ACCOUNTS`, so that
    /// self-trade prevention never stops a fill).
    fn account(&mut self) -> u32 {
        1 + self.rng.below(u64::from(ACCOUNTS - 1)) as u32
    }

    /// The book each operation runs against.
    fn resting_order(&mut self, op: Op) -> PlaceOrder {
        match op {
            // One-lot asks at the touch, FIFO: fills take the oldest.
            Op::FifoFill => PlaceOrder::limit(0, Side::Sell, MID + self.rng.below(4), 1),
            Op::GtdPlace if self.rng.chance(1, 2) => {
                let expiry_ns = (1 + self.rng.below(8)) << 40;
                self.near(Side::Buy)
                    .with_tif(TimeInForce::Gtd { expiry_ns })
            }
            Op::FarPlace if self.rng.chance(1, 2) => self.far(),
            _ => {
                let side = if self.rng.chance(1, 2) {
                    Side::Buy
                } else {
                    Side::Sell
                };
                self.near(side)
            }
        }
    }

    fn near(&mut self, side: Side) -> PlaceOrder {
        let offset = 1 + self.rng.below(1_000);
        let price = match side {
            Side::Buy => MID - 1 - offset,
            Side::Sell => MID + 10 + offset,
        };
        PlaceOrder::limit(0, side, price, 1 + self.rng.below(9))
    }

    /// An ask at a new price level far above the window.
    fn far(&mut self) -> PlaceOrder {
        self.far_next += 1 + self.rng.below(100);
        PlaceOrder::limit(0, Side::Sell, self.far_next, 1)
    }

    fn place(&mut self, order: PlaceOrder) -> u64 {
        let account = self.account();
        self.run(account, CommandKind::PlaceOrder(order));
        let id = self.state.next_order_id() - 1;
        if matches!(self.out.last(), Some(Event::OrderRested { .. })) {
            self.resting.push_back((id, account));
        }
        id
    }

    fn cancel(&mut self, id: u64, account: u32) {
        self.run(account, CommandKind::CancelOrder { order: id });
    }

    /// The next timed command of `op`.
    fn timed(&mut self, op: Op) -> Command {
        let account = self.account();
        let kind = match op {
            Op::Place => CommandKind::PlaceOrder(self.near(Side::Buy)),
            Op::CancelOldest => {
                let (order, owner) = self.resting.pop_front().expect("resting orders");
                return self.command(owner, CommandKind::CancelOrder { order });
            }
            Op::FifoFill => {
                let buy = PlaceOrder::limit(0, Side::Buy, MID + 4, 1).with_tif(TimeInForce::Ioc);
                return self.command(ACCOUNTS, CommandKind::PlaceOrder(buy));
            }
            Op::GtdPlace => CommandKind::PlaceOrder(
                self.near(Side::Buy)
                    .with_tif(TimeInForce::Gtd { expiry_ns: 1 << 50 }),
            ),
            Op::FarPlace => CommandKind::PlaceOrder(self.far()),
        };
        self.command(account, kind)
    }

    fn command(&mut self, account: u32, kind: CommandKind) -> Command {
        let r = &mut self.request[account as usize];
        *r += 1;
        Command::new(account, *r, kind)
    }

    /// Times `n` commands of `op`, undoing each chunk outside the timing.
    fn measure(&mut self, op: Op, n: u64) -> Duration {
        let mut total = Duration::ZERO;
        let mut cmds = Vec::with_capacity(CHUNK as usize);
        let mut left = n;
        while left > 0 {
            let k = left.min(CHUNK);
            left -= k;
            cmds.clear();
            for _ in 0..k {
                let cmd = self.timed(op);
                cmds.push(cmd);
            }
            let first_id = self.state.next_order_id();
            let started = Instant::now();
            for (i, cmd) in cmds.iter().enumerate() {
                // As the business-logic loop does over a batch.
                if self.prefetch {
                    self.state
                        .prefetch_ahead([cmds.get(i + 1), cmds.get(i + 2), cmds.get(i + 3)]);
                }
                self.ts += 1;
                process(&mut self.state, cmd, self.ts, &mut self.out).expect("processes");
                black_box(&self.out);
            }
            total += started.elapsed();
            self.undo(op, &cmds, first_id);
        }
        total
    }

    fn undo(&mut self, op: Op, cmds: &[Command], first_id: u64) {
        match op {
            Op::Place | Op::GtdPlace | Op::FarPlace => {
                for (i, cmd) in cmds.iter().enumerate() {
                    self.cancel(first_id + i as u64, cmd.account);
                }
            }
            Op::CancelOldest => {
                for _ in cmds {
                    let order = self.resting_order(Op::Place);
                    self.place(order);
                }
            }
            Op::FifoFill => {
                for _ in cmds {
                    let order = self.resting_order(Op::FifoFill);
                    self.place(order);
                }
            }
        }
    }
}

fn scale(c: &mut Criterion) {
    let ops = [
        Op::Place,
        Op::CancelOldest,
        Op::FifoFill,
        Op::GtdPlace,
        Op::FarPlace,
    ];
    let sizes: Vec<u64> = match std::env::var("KEEL_SCALE_SIZES") {
        Ok(v) => v
            .split(',')
            .map(|s| s.trim().parse().expect("KEEL_SCALE_SIZES"))
            .collect(),
        Err(_) => SIZES.to_vec(),
    };
    let only: Option<Vec<String>> = std::env::var("KEEL_SCALE_OPS")
        .ok()
        .map(|v| v.split(',').map(|s| s.trim().to_string()).collect());
    for op in ops {
        if let Some(only) = &only {
            if !only.iter().any(|o| o == op.name()) {
                continue;
            }
        }
        let mut group = c.benchmark_group(format!("scale/{}", op.name()));
        group.sample_size(10);
        group.warm_up_time(Duration::from_millis(500));
        group.measurement_time(Duration::from_secs(2));
        group.throughput(Throughput::Elements(1));
        for &size in &sizes {
            let mut bench = Bench::new(size, op);
            group.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, _| {
                b.iter_custom(|iters| bench.measure(op, iters));
            });
            assert_eq!(
                bench.state.open_order_count() as u64,
                size,
                "{op:?}: the undo kept the book at its size"
            );
        }
        group.finish();
    }
}

criterion_group!(benches, scale);
criterion_main!(benches);
