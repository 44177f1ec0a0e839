//! Shared test helpers: a tiny seeded PRNG (no extra crates), the genesis
//! commands of a small exchange, and [`StreamGen`], a seeded generator of a
//! realistic but adversarial stream of commands.
//!
//! The generator only learns about the engine through the events it is shown
//! ([`StreamGen::observe`]), so any test can drive the engine (or a model)
//! with it:
//!
//! ```ignore
//! let mut gen = StreamGen::new(seed);
//! for cmd in genesis() { process(&mut state, &cmd, gen.tick(), &mut out)?; gen.observe(&out); }
//! for _ in 0..n { let (cmd, now) = gen.next_command(); process(&mut state, &cmd, now, &mut out)?; gen.observe(&out); }
//! ```
#![allow(dead_code)]

use keel_core::Trade;
use std::collections::{BTreeMap, BTreeSet};

use keel_core::{
    AccountId, AssetId, Command, CommandKind, Event, Fixed, Limits, MarketBound, Name, OrderId,
    OrderType, PlaceOrder, Side, StpMode, SymbolId, SymbolSpec, TimeInForce, OPERATOR,
};

/// 2^63: the bit pattern of `i64::MIN`, a classic source of sign bugs.
pub const I64_MIN_BITS: u64 = 1 << 63;

/// The tests' generator: keel-core's SplitMix64, with the two helpers the
/// stream generators need.
pub use keel_core::rng::SplitMix64 as Rng;

/// Choosing among items and weights.
pub trait Pick {
    /// One of `items`, uniformly.
    fn pick<T: Copy>(&mut self, items: &[T]) -> T;
    /// An index chosen with the given weights.
    fn weighted(&mut self, weights: &[u64]) -> usize;
}

impl Pick for Rng {
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    fn weighted(&mut self, weights: &[u64]) -> usize {
        let total: u64 = weights.iter().sum();
        let mut x = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            if x < w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }
}

/// Small limits, so that every limit is actually hit by a random stream.
pub fn limits() -> Limits {
    Limits {
        max_accounts: 10,
        max_orders: 48,
        max_open_orders_per_account: 7,
        max_assets: 4,
        max_symbols: 4,
        max_levels: 12,
        ..Limits::default()
    }
}

pub fn name(text: &str) -> Name {
    Name::new(text).expect("valid test name")
}

/// Assets of [`genesis`]: BTC (8 dp), USDC (6 dp), ETH (12 dp).
pub const BTC: AssetId = 0;
pub const USDC: AssetId = 1;
pub const ETH: AssetId = 2;

/// The symbols of [`genesis`], in id order.
pub fn genesis_symbols() -> Vec<SymbolSpec> {
    vec![
        // BTC-USDC: tick 0.0007, lot 0.01 → 10^6 sat per lot, 7 micro-USDC
        // per tick-lot; maker 10 bps, taker 20 bps (fees round a lot).
        SymbolSpec {
            name: name("BTC-USDC"),
            base: BTC,
            quote: USDC,
            tick_size: Fixed::new(7, 4),
            lot_size: Fixed::new(1, 2),
            maker_fee_bps: 10,
            taker_fee_bps: 20,
        },
        // ETH-USDC: tick 0.01, lot 0.01 → 10^10 per lot, 100 per tick-lot;
        // no fees.
        SymbolSpec {
            name: name("ETH-USDC"),
            base: ETH,
            quote: USDC,
            tick_size: Fixed::new(1, 2),
            lot_size: Fixed::new(1, 2),
            maker_fee_bps: 0,
            taker_fee_bps: 0,
        },
        // ETH-BTC: tick 0.000003, lot 0.05 → 5·10^10 per lot, 15 sat per
        // tick-lot; maker fee above the taker fee (the hold uses the max).
        SymbolSpec {
            name: name("ETH-BTC"),
            base: ETH,
            quote: BTC,
            tick_size: Fixed::new(3, 6),
            lot_size: Fixed::new(5, 2),
            maker_fee_bps: 25,
            taker_fee_bps: 5,
        },
    ]
}

/// Operator commands that set up 3 assets and 3 symbols (request ids 1..=6).
pub fn genesis() -> Vec<Command> {
    let mut kinds = vec![
        CommandKind::AddAsset {
            name: name("BTC"),
            scale: 8,
        },
        CommandKind::AddAsset {
            name: name("USDC"),
            scale: 6,
        },
        CommandKind::AddAsset {
            name: name("ETH"),
            scale: 12,
        },
    ];
    kinds.extend(genesis_symbols().into_iter().map(CommandKind::AddSymbol));
    kinds
        .into_iter()
        .enumerate()
        .map(|(i, kind)| Command {
            account: OPERATOR,
            request_id: i as u64 + 1,
            kind,
        })
        .collect()
}

/// What the generator knows of an open order (learnt from events).
#[derive(Clone, Copy, Debug)]
struct GenOrder {
    account: AccountId,
    symbol: SymbolId,
    side: Side,
    price: u64,
    remaining: u64,
    post_only: bool,
    resting: bool,
}

/// A seeded stream of commands over ~10 accounts, drawn from every command
/// type, with prices clustered in 95..=105 ticks so that books cross and
/// trade a lot, strictly increasing timestamps (so GTD orders expire), and a
/// steady dose of bad input.
#[derive(Clone, Debug)]
pub struct StreamGen {
    rng: Rng,
    now_ns: u64,
    /// Accounts the stream talks for: 0..=11, where 10 and 11 are at or
    /// above `max_accounts` and 9 is sometimes driven to `u64::MAX`.
    universe: Vec<AccountId>,
    opened: BTreeSet<AccountId>,
    last_accepted: BTreeMap<AccountId, u64>,
    orders: BTreeMap<OrderId, GenOrder>,
    max_order_id: OrderId,
    closed: Vec<OrderId>,
    n_assets: u32,
    /// Quote minor units per tick-lot of each known symbol (budgets).
    symbols: Vec<u64>,
    halted: BTreeSet<SymbolId>,
    last: Option<Command>,
    count: u64,
    /// Far prices and colliding GTD expiries much more often (see
    /// [`StreamGen::hostile`]).
    hostile: bool,
}

/// Minor units of a "typical" deposit step per asset.
const UNIT: [u64; 4] = [100_000, 1_000, 1_000_000_000, 1_000];
/// Quote per tick-lot of the genesis symbols (for budgets).
const QPTL: [u64; 3] = [7, 100, 15];

impl StreamGen {
    pub fn new(seed: u64) -> StreamGen {
        StreamGen {
            rng: Rng::new(seed),
            now_ns: 1_000_000,
            universe: (0..=11).collect(),
            opened: [OPERATOR].into_iter().collect(),
            last_accepted: BTreeMap::new(),
            orders: BTreeMap::new(),
            max_order_id: 0,
            closed: Vec::new(),
            n_assets: 0,
            symbols: Vec::new(),
            halted: BTreeSet::new(),
            last: None,
            count: 0,
            hostile: false,
        }
    }

    /// A stream that places far more often at prices far outside the book
    /// window and gives GTD orders a handful of shared expiries, so that
    /// levels live in the far-level tree and expiries come in bursts.
    pub fn hostile(seed: u64) -> StreamGen {
        StreamGen {
            hostile: true,
            ..StreamGen::new(seed)
        }
    }

    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    /// Advances the clock by a small step and returns the new time (use it
    /// for commands not made by the generator, e.g. [`genesis`]).
    pub fn tick(&mut self) -> u64 {
        self.now_ns += 1;
        self.now_ns
    }

    pub fn now_ns(&self) -> u64 {
        self.now_ns
    }

    /// Learns from the events of the last processed command.
    pub fn observe(&mut self, events: &[Event]) {
        for e in events {
            match *e {
                Event::Accepted {
                    account,
                    request_id,
                } => {
                    self.last_accepted.insert(account, request_id);
                }
                Event::AccountOpened { account } => {
                    self.opened.insert(account);
                }
                Event::AssetAdded { .. } => self.n_assets += 1,
                Event::SymbolAdded { symbol, .. } => {
                    let qptl = QPTL.get(symbol as usize).copied().unwrap_or(100);
                    self.symbols.push(qptl);
                }
                Event::SymbolHalted { symbol } => {
                    self.halted.insert(symbol);
                }
                Event::SymbolResumed { symbol } => {
                    self.halted.remove(&symbol);
                }
                Event::OrderAccepted {
                    order,
                    account,
                    symbol,
                    side,
                    price,
                    qty,
                    post_only,
                    ..
                } => {
                    self.max_order_id = self.max_order_id.max(order);
                    self.orders.insert(
                        order,
                        GenOrder {
                            account,
                            symbol,
                            side,
                            price,
                            remaining: qty,
                            post_only,
                            resting: false,
                        },
                    );
                }
                Event::TradeExecuted(Trade {
                    maker_order,
                    taker_order,
                    qty,
                    ..
                }) => {
                    for id in [maker_order, taker_order] {
                        if let Some(o) = self.orders.get_mut(&id) {
                            o.remaining = o.remaining.saturating_sub(qty);
                            if o.remaining == 0 {
                                self.orders.remove(&id);
                                self.closed.push(id);
                            }
                        }
                    }
                }
                Event::OrderRested { order } => {
                    if let Some(o) = self.orders.get_mut(&order) {
                        o.resting = true;
                    }
                }
                Event::OrderAmended {
                    order,
                    price,
                    qty,
                    priority_kept,
                    ..
                } => {
                    if let Some(o) = self.orders.get_mut(&order) {
                        o.price = price;
                        o.remaining = qty;
                        o.resting = priority_kept;
                    }
                }
                Event::OrderCancelled { order, .. } => {
                    self.orders.remove(&order);
                    self.closed.push(order);
                }
                _ => {}
            }
        }
        self.orders.retain(|_, o| o.resting);
        if self.closed.len() > 64 {
            self.closed.drain(..32);
        }
    }

    fn n_symbols(&self) -> u32 {
        self.symbols.len() as u32
    }

    /// An opened account mostly; sometimes any id of the universe.
    fn account(&mut self) -> AccountId {
        if self.rng.chance(3, 100) || self.opened.len() <= 1 {
            return self.rng.pick(&self.universe);
        }
        let opened: Vec<AccountId> = self.opened.iter().copied().collect();
        // The operator trades too, but less; an account whose request ids
        // reached u64::MAX (all its commands are duplicates) rarely speaks.
        loop {
            let a = self.rng.pick(&opened);
            let dead = self.last_accepted.get(&a) == Some(&u64::MAX);
            if (a != OPERATOR || self.rng.chance(1, 4)) && (!dead || self.rng.chance(1, 50)) {
                return a;
            }
        }
    }

    /// A request id for `account`: mostly the next one, sometimes with a
    /// gap, sometimes a duplicate or stale one.
    fn request_id(&mut self, account: AccountId) -> u64 {
        let last = self.last_accepted.get(&account).copied().unwrap_or(0);
        match self.rng.weighted(&[900, 50, 25, 15, 8, 2]) {
            0 => last.saturating_add(1),
            1 => last.saturating_add(self.rng.range(2, 5)),
            2 => last,
            3 => last.saturating_sub(self.rng.range(1, 3)),
            4 => 0,
            _ => {
                // Push one sacrificial account to the very end of the range:
                // from then on every request of it is a duplicate.
                if account == 9 {
                    u64::MAX
                } else {
                    last.saturating_add(1 << 40)
                }
            }
        }
    }

    fn symbol(&mut self) -> SymbolId {
        let n = self.n_symbols();
        if n == 0 || self.rng.chance(3, 100) {
            return n + self.rng.below(3) as u32;
        }
        // Halted symbols are tried less, so that halts do not eat the stream.
        let s = self.rng.below(n as u64) as u32;
        if self.halted.contains(&s) && self.rng.chance(2, 3) {
            return self.rng.below(n as u64) as u32;
        }
        s
    }

    fn asset(&mut self) -> AssetId {
        if self.rng.chance(4, 100) || self.n_assets == 0 {
            return self.n_assets + self.rng.below(3) as u32;
        }
        self.rng.below(self.n_assets as u64) as u32
    }

    fn edge_value(&mut self) -> u64 {
        match self.rng.below(6) {
            0 => 0,
            1 => u64::MAX,
            2 => I64_MIN_BITS,
            3 => u64::MAX - 1,
            4 => I64_MIN_BITS - 1,
            _ => 1,
        }
    }

    fn price(&mut self) -> u64 {
        if self.hostile && self.rng.chance(2, 5) {
            // Far from the window around the touch, on both sides of it.
            return match self.rng.below(3) {
                0 => self.rng.range(5_000, 5_000_000),
                1 => self.rng.range(1_000_000_000, 1_000_100_000),
                _ => self.rng.range(1, 50),
            };
        }
        match self.rng.weighted(&[940, 15, 10, 10, 10, 15]) {
            0 => self.rng.range(95, 105),
            1 => 0,
            2 => u64::MAX,
            3 => I64_MIN_BITS,
            4 => self.rng.range(1, 94),
            _ => self.rng.range(106, 1_000_000_000_000),
        }
    }

    fn qty(&mut self) -> u64 {
        match self.rng.weighted(&[900, 15, 10, 10, 45, 20]) {
            0 => self.rng.range(1, 20),
            1 => 0,
            2 => u64::MAX,
            3 => I64_MIN_BITS,
            4 => self.rng.range(21, 200),
            _ => self.rng.range(1_000, 1_000_000_000),
        }
    }

    fn amount(&mut self, asset: AssetId, max_steps: u64) -> u64 {
        let unit = UNIT.get(asset as usize).copied().unwrap_or(1_000);
        match self.rng.weighted(&[880, 40, 30, 20, 30]) {
            0 => unit * self.rng.range(1, max_steps) + self.rng.below(unit),
            1 => self.rng.range(1, 1_000),
            2 => 0,
            3 => self.edge_value(),
            _ => self.rng.range(1, 1 << 62),
        }
    }

    fn tif(&mut self, market: bool) -> TimeInForce {
        let weights: &[u64] = if market {
            &[6, 50, 36, 8]
        } else {
            &[40, 18, 14, 28]
        };
        match self.rng.weighted(weights) {
            0 => TimeInForce::Gtc,
            1 => TimeInForce::Ioc,
            2 => TimeInForce::Fok,
            _ if self.hostile => {
                // A few shared expiries a little ahead: bursts expire together.
                let bucket = self.now_ns / 2_000 + 1 + self.rng.below(3);
                TimeInForce::Gtd {
                    expiry_ns: bucket * 2_000,
                }
            }
            _ => {
                let expiry_ns = match self.rng.weighted(&[88, 4, 4, 2, 2]) {
                    0 => self.now_ns + self.rng.range(1, 40_000),
                    1 => self.now_ns,
                    2 => self.now_ns - self.rng.range(1, 1_000),
                    3 => u64::MAX,
                    _ => self.now_ns + 1,
                };
                TimeInForce::Gtd { expiry_ns }
            }
        }
    }

    fn stp(&mut self) -> StpMode {
        self.rng.pick(&[
            StpMode::CancelNewest,
            StpMode::CancelOldest,
            StpMode::CancelBoth,
        ])
    }

    fn side(&mut self) -> Side {
        self.rng.pick(&[Side::Buy, Side::Sell])
    }

    /// One phase of 1,000 commands in 8 is a build-up phase: passive
    /// GTC quotes and few cancels, so that books get deep and the order
    /// limits (per account and engine-wide) are reached.
    fn building_up(&self) -> bool {
        (self.count / 1_000) % 8 == 7
    }

    fn place_limit(&mut self) -> CommandKind {
        let symbol = self.symbol();
        let side = self.side();
        if self.building_up() && self.rng.chance(4, 5) {
            let price = match side {
                Side::Buy => self.rng.range(85, 99),
                Side::Sell => self.rng.range(101, 115),
            };
            return CommandKind::PlaceOrder(PlaceOrder {
                symbol,
                side,
                order_type: OrderType::Limit { price },
                qty: self.rng.range(1, 5),
                tif: TimeInForce::Gtc,
                post_only: self.rng.chance(1, 4),
                stp: self.stp(),
            });
        }
        let tif = self.tif(false);
        // Post-only makers quote a little away from the middle, so that
        // some of them survive; the rest cross and are rejected.
        let post_only = self.rng.chance(15, 100);
        let price = if post_only && self.rng.chance(1, 2) {
            match side {
                Side::Buy => self.rng.range(93, 100),
                Side::Sell => self.rng.range(100, 107),
            }
        } else {
            self.price()
        };
        CommandKind::PlaceOrder(PlaceOrder {
            symbol,
            side,
            order_type: OrderType::Limit { price },
            qty: self.qty(),
            tif,
            post_only,
            stp: self.stp(),
        })
    }

    fn budget(&mut self, symbol: SymbolId) -> u64 {
        let qptl = self.symbols.get(symbol as usize).copied().unwrap_or(100);
        match self.rng.weighted(&[85, 5, 10]) {
            0 => self.rng.range(1, 30) * 100 * qptl + self.rng.below(100 * qptl),
            1 => self.edge_value(),
            _ => self.rng.range(1, 3 * qptl * 100),
        }
    }

    fn place_market(&mut self) -> CommandKind {
        let symbol = self.symbol();
        let side = self.side();
        let bound = match side {
            Side::Buy => match self.rng.weighted(&[48, 42, 10]) {
                0 => MarketBound::QuoteBudget {
                    amount: self.budget(symbol),
                },
                1 => MarketBound::ProtectionPrice {
                    price: self.price(),
                },
                _ => MarketBound::None,
            },
            Side::Sell => match self.rng.weighted(&[70, 24, 6]) {
                0 => MarketBound::None,
                1 => MarketBound::ProtectionPrice {
                    price: self.price(),
                },
                _ => MarketBound::QuoteBudget {
                    amount: self.budget(symbol),
                },
            },
        };
        CommandKind::PlaceOrder(PlaceOrder {
            symbol,
            side,
            order_type: OrderType::Market { bound },
            qty: self.qty(),
            tif: self.tif(true),
            post_only: self.rng.chance(4, 100),
            stp: self.stp(),
        })
    }

    /// A real open order most of the time, else a bogus or closed one.
    fn order_ref(&mut self) -> (Option<GenOrder>, OrderId) {
        if !self.orders.is_empty() && self.rng.chance(88, 100) {
            let i = self.rng.below(self.orders.len() as u64) as usize;
            let (&id, &o) = self.orders.iter().nth(i).expect("index in range");
            return (Some(o), id);
        }
        let id = match self.rng.below(5) {
            0 => 0,
            1 => u64::MAX,
            2 if !self.closed.is_empty() => self.rng.pick(&self.closed),
            _ => self.max_order_id + self.rng.range(1, 3),
        };
        (None, id)
    }

    fn cancel(&mut self) -> (AccountId, CommandKind) {
        let (order, id) = self.order_ref();
        let account = match order {
            Some(o) if self.rng.chance(92, 100) => o.account,
            _ => self.account(),
        };
        (account, CommandKind::CancelOrder { order: id })
    }

    fn amend(&mut self) -> (AccountId, CommandKind) {
        let (order, id) = self.order_ref();
        let Some(o) = order else {
            let price = self.price();
            let qty = self.qty();
            return (
                self.account(),
                CommandKind::AmendOrder {
                    order: id,
                    price,
                    qty,
                },
            );
        };
        let account = if self.rng.chance(93, 100) {
            o.account
        } else {
            self.account()
        };
        let (price, qty) = match self.rng.weighted(&[30, 25, 15, 12, 5, 5, 4, 4]) {
            // Reduce in place (or a no-op when only one lot is left).
            0 => (o.price, self.rng.range(1, o.remaining.max(2) - 1)),
            // Move the price a little, same or new quantity.
            1 => {
                let p = o
                    .price
                    .saturating_add(self.rng.range(0, 8))
                    .saturating_sub(4)
                    .max(1);
                let q = if self.rng.chance(1, 2) {
                    o.remaining
                } else {
                    self.rng.range(1, 20)
                };
                (p, q)
            }
            // Increase at the same price.
            2 => (o.price, o.remaining.saturating_add(self.rng.range(1, 10))),
            // Jump to the other side of the band: crosses and trades.
            3 => {
                let p = match o.side {
                    Side::Buy => self.rng.range(100, 106),
                    Side::Sell => self.rng.range(94, 100),
                };
                (p, o.remaining)
            }
            4 => (o.price, o.remaining),
            5 => (self.price(), self.qty()),
            6 => (self.edge_value(), o.remaining),
            _ => (o.price, self.edge_value()),
        };
        (
            account,
            CommandKind::AmendOrder {
                order: id,
                price,
                qty,
            },
        )
    }

    fn add_symbol(&mut self) -> CommandKind {
        let names = ["BTC-USDC", "SOL-USDC", "SOL-BTC", "X-Y", "ETH-BTC", "Z-Q"];
        let n = self.n_assets as u64 + 1;
        let mantissas = [1u64, 5, 7, 25, 10, 0];
        let bps = [0u16, 1, 10, 30, 10_000, 10_001];
        CommandKind::AddSymbol(SymbolSpec {
            name: name(self.rng.pick(&names)),
            base: self.rng.below(n) as u32,
            quote: self.rng.below(n) as u32,
            tick_size: Fixed::new(self.rng.pick(&mantissas), self.rng.below(10) as u8),
            lot_size: Fixed::new(self.rng.pick(&mantissas), self.rng.below(10) as u8),
            maker_fee_bps: self.rng.pick(&bps),
            taker_fee_bps: self.rng.pick(&bps),
        })
    }

    fn admin(&mut self) -> CommandKind {
        let n = self.n_symbols();
        // Prefer lifting a halt, so that halts stay short.
        if let Some(&s) = self.halted.iter().next() {
            if self.rng.chance(3, 4) {
                return CommandKind::ResumeSymbol { symbol: s };
            }
        }
        match self.rng.weighted(&[35, 20, 20, 25]) {
            0 => CommandKind::HaltSymbol {
                symbol: self.rng.below(n as u64 + 1) as u32,
            },
            1 => CommandKind::ResumeSymbol {
                symbol: self.rng.below(n as u64 + 1) as u32,
            },
            2 => CommandKind::AddAsset {
                name: name(self.rng.pick(&["SOL", "BTC", "DOGE", "XRP", "USDC"])),
                scale: self.rng.range(0, 20) as u8,
            },
            _ => self.add_symbol(),
        }
    }

    /// The next command and its timestamp (strictly increasing).
    pub fn next_command(&mut self) -> (Command, u64) {
        self.now_ns += if self.rng.chance(1, 50) {
            self.rng.range(5_000, 60_000)
        } else {
            self.rng.range(1, 1_200)
        };
        // Retry the previous command verbatim now and then.
        if let Some(last) = self.last {
            if self.rng.chance(2, 100) {
                return (last, self.now_ns);
            }
        }
        self.count += 1;
        let choice = if self.building_up() {
            self.rng.weighted(&[2, 10, 1, 2, 70, 3, 2, 6, 0, 1])
        } else {
            self.rng.weighted(&[
                2,  // open account
                8,  // deposit
                3,  // withdraw
                3,  // transfer
                38, // limit order
                9,  // market order
                10, // cancel
                14, // amend
                2,  // cancel all
                2,  // admin
            ])
        };
        let (account, kind) = match choice {
            0 => {
                // Mostly new accounts, sometimes existing or out of range.
                let fresh: Vec<AccountId> = self
                    .universe
                    .iter()
                    .copied()
                    .filter(|a| !self.opened.contains(a))
                    .collect();
                let a = if !fresh.is_empty() && self.rng.chance(3, 4) {
                    self.rng.pick(&fresh)
                } else {
                    self.rng.pick(&self.universe)
                };
                (a, CommandKind::OpenAccount)
            }
            1 => {
                let asset = self.asset();
                (
                    self.account(),
                    CommandKind::Deposit {
                        asset,
                        amount: self.amount(asset, 2_000),
                    },
                )
            }
            2 => {
                let asset = self.asset();
                (
                    self.account(),
                    CommandKind::Withdraw {
                        asset,
                        amount: self.amount(asset, 300),
                    },
                )
            }
            3 => {
                let from = self.account();
                let to = match self.rng.weighted(&[85, 5, 10]) {
                    0 => self.account(),
                    1 => from,
                    _ => self.rng.range(0, 20) as u32,
                };
                let asset = self.asset();
                (
                    from,
                    CommandKind::Transfer {
                        to,
                        asset,
                        amount: self.amount(asset, 200),
                    },
                )
            }
            4 => (self.account(), self.place_limit()),
            5 => (self.account(), self.place_market()),
            6 => self.cancel(),
            7 => self.amend(),
            8 => {
                let symbol = match self.rng.weighted(&[50, 45, 5]) {
                    0 => None,
                    1 => Some(self.rng.below(self.n_symbols().max(1) as u64) as u32),
                    _ => Some(self.n_symbols() + self.rng.below(3) as u32),
                };
                let account = match self.orders.values().next() {
                    Some(o) if self.rng.chance(1, 2) => o.account,
                    _ => self.account(),
                };
                (account, CommandKind::CancelAll { symbol })
            }
            _ => {
                let account = if self.rng.chance(85, 100) {
                    OPERATOR
                } else {
                    self.account()
                };
                (account, self.admin())
            }
        };
        let request_id = if matches!(kind, CommandKind::OpenAccount) {
            match self.rng.weighted(&[95, 5]) {
                0 => self.rng.range(1, 3),
                _ => 0,
            }
        } else {
            self.request_id(account)
        };
        let cmd = Command {
            account,
            request_id,
            kind,
        };
        self.last = Some(cmd);
        (cmd, self.now_ns)
    }
}
