//! The core at venue scale: seeded random streams over a book of 100,000+
//! resting orders, thousands of price levels far outside the window and
//! thousands of GTD orders with colliding expiries. After every command the
//! events applied to a replica reproduce the state (digest equality with
//! `apply`), and at checkpoints every invariant holds. The state, not the
//! replica, gets the loop's cache hints (`prefetch_ahead`) before each
//! command, so the same check shows they change nothing.
//!
//! `KEEL_SCALE_ORDERS` (default 100000) sets the resting orders built first,
//! `KEEL_SCALE_COMMANDS` (default 30000) the random commands after, and
//! `KEEL_SCALE_SEEDS` (comma-separated) the seeds.

use keel_core::model::{
    Command, CommandKind, Event, Fixed, MarketBound, Name, PlaceOrder, Side, SymbolSpec,
    TimeInForce, OPERATOR,
};
use keel_core::rng::SplitMix64;
use keel_core::{apply, process, CancelReason, Limits, State};

const ACCOUNTS: u32 = 200;
const MID: u64 = 1_000_000;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

struct Scale {
    state: State,
    replica: State,
    rng: SplitMix64,
    now: u64,
    request: Vec<u64>,
    out: Vec<Event>,
    /// Ids of orders placed, oldest first (some have since ended).
    placed: Vec<u64>,
    expired: u64,
    fill_limited: u64,
}

impl Scale {
    fn new(seed: u64, orders: u64) -> Scale {
        let limits = Limits {
            max_accounts: ACCOUNTS + 1,
            max_orders: (orders * 2) as u32,
            max_levels: orders as u32,
            max_open_orders_per_account: u32::MAX,
            ..Limits::default()
        };
        let mut s = Scale {
            state: State::new(limits),
            replica: State::new(limits),
            rng: SplitMix64::new(seed),
            now: 1,
            request: vec![0; ACCOUNTS as usize + 1],
            out: Vec::new(),
            placed: Vec::new(),
            expired: 0,
            fill_limited: 0,
        };
        let name = |n| Name::new(n).unwrap();
        s.run(
            OPERATOR,
            CommandKind::AddAsset {
                name: name("B"),
                scale: 0,
            },
        );
        s.run(
            OPERATOR,
            CommandKind::AddAsset {
                name: name("Q"),
                scale: 0,
            },
        );
        s.run(
            OPERATOR,
            CommandKind::AddSymbol(SymbolSpec {
                name: name("B-Q"),
                base: 0,
                quote: 1,
                tick_size: Fixed::new(1, 0),
                lot_size: Fixed::new(1, 0),
                maker_fee_bps: 1,
                taker_fee_bps: 2,
            }),
        );
        for a in 1..=ACCOUNTS {
            s.run(a, CommandKind::OpenAccount);
            s.run(
                a,
                CommandKind::Deposit {
                    asset: 0,
                    amount: 1 << 40,
                },
            );
            s.run(
                a,
                CommandKind::Deposit {
                    asset: 1,
                    amount: 1 << 58,
                },
            );
        }
        s
    }

    /// Processes one command and checks the replica reproduces it by apply.
    fn run(&mut self, account: u32, kind: CommandKind) {
        self.now += 1 + self.rng.below(3);
        let r = &mut self.request[account as usize];
        *r += 1;
        let cmd = Command::new(account, *r, kind);
        // The loop's cache hints, on the state but not the replica: they
        // must change nothing (digest equality below), whatever they name:
        // an order that exists, one that has ended or never existed.
        let named = |order| Command::new(account, 0, CommandKind::CancelOrder { order });
        let known = named(self.placed.last().copied().unwrap_or(1));
        let any = named(self.rng.below(4 * self.placed.len() as u64 + 2));
        self.state
            .prefetch_ahead([Some(&cmd), Some(&known), Some(&any)]);
        process(&mut self.state, &cmd, self.now, &mut self.out).expect("process");
        for e in &self.out {
            apply(&mut self.replica, e).expect("the events apply to the replica");
            match e {
                Event::OrderAccepted { order, .. } => self.placed.push(*order),
                Event::OrderCancelled {
                    reason: CancelReason::Expired,
                    ..
                } => self.expired += 1,
                Event::OrderCancelled {
                    reason: CancelReason::FillLimit,
                    ..
                } => self.fill_limited += 1,
                _ => {}
            }
        }
    }

    fn account(&mut self) -> u32 {
        1 + self.rng.below(u64::from(ACCOUNTS)) as u32
    }

    /// A resting price: mostly near the touch, often far outside the window.
    fn resting_price(&mut self, side: Side) -> u64 {
        let far = self.rng.chance(1, 4);
        match (side, far) {
            (Side::Buy, false) => MID - 1 - self.rng.below(3_000),
            (Side::Sell, false) => MID + 1 + self.rng.below(3_000),
            (Side::Buy, true) => 1 + self.rng.below(MID / 2),
            (Side::Sell, true) => MID * 2 + self.rng.below(MID * 100),
        }
    }

    fn place_resting(&mut self) {
        let side = if self.rng.chance(1, 2) {
            Side::Buy
        } else {
            Side::Sell
        };
        let price = self.resting_price(side);
        let mut order = PlaceOrder::limit(0, side, price, 1 + self.rng.below(5));
        if self.rng.chance(1, 5) {
            // A handful of shared expiries: bursts expire together.
            let bucket = self.now / 1_000_000 + 1 + self.rng.below(4);
            order = order.with_tif(TimeInForce::Gtd {
                expiry_ns: bucket * 1_000_000,
            });
        }
        let a = self.account();
        self.run(a, CommandKind::PlaceOrder(order));
    }

    fn random_command(&mut self) {
        let a = self.account();
        match self.rng.below(100) {
            0..=39 => self.place_resting(),
            40..=54 => {
                // Cancel one of the oldest orders (the oldest-first pattern).
                let i = self.rng.below(self.placed.len().min(5_000) as u64) as usize;
                let order = self.placed[i];
                let owner = self.state.order(order).map_or(a, |o| o.account);
                self.run(owner, CommandKind::CancelOrder { order });
            }
            55..=69 => {
                let i = self.rng.below(self.placed.len() as u64) as usize;
                let order = self.placed[i];
                let owner = self.state.order(order).map_or(a, |o| o.account);
                self.run(owner, CommandKind::CancelOrder { order });
            }
            70..=79 => {
                let i = self.rng.below(self.placed.len() as u64) as usize;
                let order = self.placed[i];
                if let Some(o) = self.state.order(order).copied() {
                    let price = self.resting_price(o.side);
                    let qty = 1 + self.rng.below(4);
                    self.run(o.account, CommandKind::AmendOrder { order, price, qty });
                }
            }
            80..=91 => {
                // A marketable order that sweeps near levels (sometimes far).
                let side = if self.rng.chance(1, 2) {
                    Side::Buy
                } else {
                    Side::Sell
                };
                let reach = if self.rng.chance(1, 10) { MID } else { 200 };
                let price = match side {
                    Side::Buy => MID + reach,
                    Side::Sell => MID - reach,
                };
                let order = PlaceOrder::limit(0, side, price, 1 + self.rng.below(10_000))
                    .with_tif(TimeInForce::Ioc);
                self.run(a, CommandKind::PlaceOrder(order));
            }
            92..=95 => {
                let order = PlaceOrder::market(
                    0,
                    Side::Buy,
                    1 + self.rng.below(100),
                    MarketBound::QuoteBudget {
                        amount: 1 + self.rng.below(1 << 30),
                    },
                );
                self.run(a, CommandKind::PlaceOrder(order));
            }
            _ => {
                // Time passes: GTD buckets come due.
                self.now += 2_000 + self.rng.below(20_000);
                self.run(
                    a,
                    CommandKind::Deposit {
                        asset: 1,
                        amount: 1,
                    },
                );
            }
        }
    }

    fn check(&self, at: &str) {
        assert_eq!(
            self.state.digest(),
            self.replica.digest(),
            "{at}: apply diverged from process"
        );
        self.state
            .check_invariants()
            .unwrap_or_else(|e| panic!("{at}: {e}"));
    }
}

#[test]
fn venue_scale_streams_keep_every_invariant() {
    let orders = env_or("KEEL_SCALE_ORDERS", 100_000);
    let commands = env_or("KEEL_SCALE_COMMANDS", 30_000);
    let seeds: Vec<u64> = std::env::var("KEEL_SCALE_SEEDS")
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().parse().expect("KEEL_SCALE_SEEDS"))
                .collect()
        })
        .unwrap_or_else(|_| vec![0x5CA1E]);
    for seed in seeds {
        let mut s = Scale::new(seed, orders);
        while (s.state.open_order_count() as u64) < orders {
            s.place_resting();
        }
        s.check("after the build-up");
        let far_levels: usize = [Side::Buy, Side::Sell]
            .into_iter()
            .map(|side| {
                s.state
                    .depth(0, side)
                    .iter()
                    .filter(|(p, _, _)| p.abs_diff(MID) > 4_096)
                    .count()
            })
            .sum();
        let gtd = (0..s.placed.len())
            .filter(|&i| {
                s.state
                    .order(s.placed[i])
                    .is_some_and(|o| o.expiry_ns().is_some())
            })
            .count();
        println!(
            "seed {seed:#x}: {} resting orders, {far_levels} far levels, {gtd} resting GTD orders",
            s.state.open_order_count()
        );
        assert!(
            far_levels >= 2_000 * orders as usize / 100_000,
            "only {far_levels} far levels"
        );
        assert!(
            gtd >= 1_000 * orders as usize / 100_000,
            "only {gtd} GTD orders"
        );
        for i in 1..=commands {
            s.random_command();
            if i % 5_000 == 0 {
                s.check(&format!("seed {seed:#x}, command {i}"));
            }
        }
        s.check("at the end");
        println!(
            "seed {seed:#x}: {} expiries, {} fill-limit cancels over {commands} commands",
            s.expired, s.fill_limited
        );
        assert!(s.expired > 0, "no GTD order expired");
        assert!(s.fill_limited > 0, "no sweep reached the fill limit");
    }
}
