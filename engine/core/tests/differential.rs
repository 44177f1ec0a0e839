//! Differential test: the engine against the reference model of
//! `tests/reference`, event for event, on long seeded random streams from
//! `tests/common`.
//!
//! After every command it also compares every balance `(available, held)`,
//! every account's last request id, every asset's supply, every open order
//! `(id, price, remaining, reservation)` and the exact FIFO content of every
//! book side. Every 1,000 commands (and at the end) it checks the engine's
//! invariants and that applying the journaled events to a replica (recovery)
//! reproduces the same digest.
//!
//! `KEEL_DIFF_COMMANDS` (total over all seeds, default 125,000) scales it;
//! `KEEL_DIFF_SEEDS` (comma-separated) picks the seeds. Run with
//! `--nocapture` to see what the stream exercised.

mod common;
mod reference;

use keel_core::Trade;
use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use keel_core::{apply, process, CancelReason, Command, Event, Side, State};

use common::{genesis, limits, StreamGen};
use reference::Reference;

const DEFAULT_SEEDS: [u64; 5] = [1, 2, 3, 0xC0FFEE, 0x5EED_0000_0000_0042];
const DEFAULT_COMMANDS: usize = 125_000;
const CHECK_EVERY: usize = 1_000;
const HISTORY: usize = 40;

#[derive(Default)]
struct Stats {
    commands: BTreeMap<&'static str, u64>,
    events: BTreeMap<&'static str, u64>,
    rejects: BTreeMap<&'static str, u64>,
    cancels: BTreeMap<&'static str, u64>,
    misc: BTreeMap<&'static str, u64>,
}

impl Stats {
    fn count(&mut self, cmd: &Command, events: &[Event]) {
        *self.commands.entry(cmd.kind.name()).or_default() += 1;
        let mut trades = 0;
        for e in events {
            *self.events.entry(e.name()).or_default() += 1;
            match e {
                Event::Rejected { reason, .. } => {
                    *self.rejects.entry(reason.code()).or_default() += 1
                }
                Event::OrderCancelled { reason, .. } => {
                    *self.cancels.entry(reason.code()).or_default() += 1
                }
                Event::TradeExecuted(Trade {
                    maker_fee,
                    taker_fee,
                    ..
                }) => {
                    trades += 1;
                    if *maker_fee > 0 || *taker_fee > 0 {
                        *self.misc.entry("trades with fees").or_default() += 1;
                    }
                }
                Event::OrderAmended { priority_kept, .. } => {
                    let k = if *priority_kept {
                        "amend priority kept"
                    } else {
                        "amend priority lost"
                    };
                    *self.misc.entry(k).or_default() += 1;
                }
                Event::OrderAccepted {
                    is_market: true,
                    price,
                    ..
                } => {
                    let k = if *price == 0 {
                        "market unbounded/budget accepted"
                    } else {
                        "market protected accepted"
                    };
                    *self.misc.entry(k).or_default() += 1;
                }
                _ => {}
            }
        }
        if trades > 1 {
            *self.misc.entry("commands with >1 trade").or_default() += 1;
        }
        if let Some(Event::OrderCancelled {
            reason: CancelReason::Expired,
            ..
        }) = events.first()
        {
            *self
                .misc
                .entry("commands preceded by expiries")
                .or_default() += 1;
        }
    }

    fn print(&self) {
        let show = |title: &str, m: &BTreeMap<&'static str, u64>| {
            println!("{title}:");
            for (k, v) in m {
                println!("  {k:<34} {v:>9}");
            }
        };
        show("commands", &self.commands);
        show("events", &self.events);
        show("reject reasons", &self.rejects);
        show("cancel reasons", &self.cancels);
        show("other", &self.misc);
        let missing: Vec<&str> = keel_core::RejectReason::CODES
            .iter()
            .copied()
            .filter(|c| !self.rejects.contains_key(c))
            .collect();
        println!("reject reasons never seen: {missing:?}");
    }
}

struct Run {
    seed: u64,
    state: State,
    replica: State,
    reference: Reference,
    out: Vec<Event>,
    history: VecDeque<(usize, u64, Command, Vec<Event>)>,
}

impl Run {
    fn new(seed: u64) -> Run {
        Run::with_limits(seed, limits())
    }

    fn with_limits(seed: u64, limits: keel_core::Limits) -> Run {
        Run {
            seed,
            state: State::new(limits),
            replica: State::new(limits),
            reference: Reference::new(limits),
            out: Vec::new(),
            history: VecDeque::new(),
        }
    }

    fn fail(&self, index: usize, cmd: &Command, now: u64, what: String) -> ! {
        let mut msg = format!(
            "seed {:#x}, command #{index} at t={now}: {what}\n  command: {cmd:?}\n  recent history (oldest first):\n",
            self.seed
        );
        for (i, t, c, ev) in &self.history {
            msg.push_str(&format!("    #{i} t={t} {c:?}\n        -> {ev:?}\n"));
        }
        panic!("{msg}");
    }

    fn step(&mut self, index: usize, cmd: &Command, now: u64) {
        if let Err(e) = process(&mut self.state, cmd, now, &mut self.out) {
            self.fail(index, cmd, now, format!("engine process() failed: {e:?}"));
        }
        let expected = self.reference.process(cmd, now);
        if self.out != expected {
            let mut diff = String::from("events differ\n");
            let n = self.out.len().max(expected.len());
            for i in 0..n {
                let (a, b) = (self.out.get(i), expected.get(i));
                let mark = if a == b { " " } else { "!" };
                diff.push_str(&format!(
                    "   {mark} engine:    {a:?}\n   {mark} reference: {b:?}\n"
                ));
            }
            self.fail(index, cmd, now, diff);
        }
        for e in &self.out {
            if let Err(err) = apply(&mut self.replica, e) {
                self.fail(
                    index,
                    cmd,
                    now,
                    format!("replica apply({e:?}) failed: {err:?}"),
                );
            }
        }
        if let Err(what) = self.compare_state() {
            self.fail(index, cmd, now, what);
        }
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back((index, now, *cmd, self.out.clone()));
        if index.is_multiple_of(CHECK_EVERY) {
            self.deep_check(index, cmd, now);
        }
    }

    fn deep_check(&self, index: usize, cmd: &Command, now: u64) {
        if let Err(v) = self.state.check_invariants() {
            self.fail(index, cmd, now, format!("invariant violated: {v:?}"));
        }
        if self.state.digest() != self.replica.digest() {
            self.fail(
                index,
                cmd,
                now,
                "replica built by apply() has a different digest".into(),
            );
        }
    }

    fn compare_state(&self) -> Result<(), String> {
        let (s, r) = (&self.state, &self.reference);
        let engine_accounts: Vec<(u32, u64)> = s
            .accounts()
            .map(|(id, a)| (id, a.last_request_id))
            .collect();
        if engine_accounts != r.accounts() {
            return Err(format!(
                "accounts/last request ids differ:\n  engine    {engine_accounts:?}\n  reference {:?}",
                r.accounts()
            ));
        }
        if s.assets().len() as u32 != r.asset_count()
            || s.symbols().len() as u32 != r.symbol_count()
        {
            return Err("asset or symbol count differs".into());
        }
        for (asset, a) in s.assets().iter().enumerate() {
            if a.supply != r.supply(asset as u32) {
                return Err(format!(
                    "supply of asset {asset}: engine {} reference {}",
                    a.supply,
                    r.supply(asset as u32)
                ));
            }
        }
        for symbol in 0..r.symbol_count() {
            if s.symbol(symbol).map(|x| x.halted) != Some(r.halted(symbol)) {
                return Err(format!("halt flag of symbol {symbol} differs"));
            }
        }
        if s.next_order_id() != r.next_order_id() {
            return Err(format!(
                "next order id: engine {} reference {}",
                s.next_order_id(),
                r.next_order_id()
            ));
        }
        if s.open_order_count() != r.open_order_count() {
            return Err(format!(
                "open orders: engine {} reference {}",
                s.open_order_count(),
                r.open_order_count()
            ));
        }
        for (account, _) in r.accounts() {
            for asset in 0..r.asset_count() {
                let b = s.balance(account, asset).expect("account exists");
                let (available, held) = r.balance(account, asset);
                if (b.available, b.held) != (available, held) {
                    return Err(format!(
                        "balance of account {account} asset {asset}: engine (available {}, held {}) reference (available {available}, held {held})",
                        b.available, b.held
                    ));
                }
            }
            let engine: Vec<(u64, u64, u64, u64)> = s
                .account_orders(account)
                .map(|o| (o.id, o.price, o.remaining, o.reserved))
                .collect();
            let model: Vec<(u64, u64, u64, u64)> = r
                .account_orders(account)
                .iter()
                .map(|o| (o.id, o.price, o.remaining, o.reserved as u64))
                .collect();
            if engine != model {
                return Err(format!(
                    "open orders (id, price, remaining, reserved) of account {account}:\n  engine    {engine:?}\n  reference {model:?}"
                ));
            }
        }
        for symbol in 0..r.symbol_count() {
            assert!(s.book(symbol).is_some(), "symbol {symbol} has a book");
            for side in [Side::Buy, Side::Sell] {
                let engine: Vec<(u64, Vec<u64>)> = s
                    .levels_best_first(symbol, side)
                    .map(|l| {
                        let price = s.level(l.level).expect("level").price;
                        (price, s.level_orders(l.level).map(|o| o.id).collect())
                    })
                    .collect();
                let model = r.book_side(symbol, side);
                if engine != model {
                    return Err(format!(
                        "book {symbol} {side:?} (price, FIFO ids):\n  engine    {engine:?}\n  reference {model:?}"
                    ));
                }
            }
        }
        Ok(())
    }
}

fn run_seed(seed: u64, commands: usize, stats: &mut Stats) {
    run_stream(Run::new(seed), StreamGen::new(seed), commands, stats);
}

fn run_stream(mut run: Run, mut gen: StreamGen, commands: usize, stats: &mut Stats) {
    let mut index = 0;
    for cmd in genesis() {
        let now = gen.tick();
        run.step(index, &cmd, now);
        gen.observe(&run.out);
        stats.count(&cmd, &run.out);
        index += 1;
    }
    for _ in 0..commands {
        let (cmd, now) = gen.next_command();
        run.step(index, &cmd, now);
        gen.observe(&run.out);
        stats.count(&cmd, &run.out);
        index += 1;
    }
    let (cmd, now) = gen.next_command();
    run.deep_check(index, &cmd, now);
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

#[test]
fn engine_matches_reference_on_random_streams() {
    let seeds: Vec<u64> = match std::env::var("KEEL_DIFF_SEEDS") {
        Ok(list) => list
            .split(',')
            .map(|s| {
                let s = s.trim();
                match s.strip_prefix("0x") {
                    Some(hex) => u64::from_str_radix(hex, 16),
                    None => s.parse(),
                }
                .expect("KEEL_DIFF_SEEDS: comma-separated integers")
            })
            .collect(),
        Err(_) => DEFAULT_SEEDS.to_vec(),
    };
    let total: usize = env_or("KEEL_DIFF_COMMANDS", DEFAULT_COMMANDS);
    let per_seed = total.div_ceil(seeds.len());
    let started = Instant::now();
    let mut stats = Stats::default();
    for &seed in &seeds {
        run_seed(seed, per_seed, &mut stats);
    }
    println!(
        "differential: {} seeds x {per_seed} commands in {:.2?}",
        seeds.len(),
        started.elapsed()
    );
    stats.print();
}

/// Far levels, GTD bursts with shared expiries, and bounds small enough that
/// the fill limit, chunked expiries and chunked mass cancels all happen: the
/// engine still agrees with the reference (which has no chunking: chunks
/// concatenate to the unbounded events) event for event.
#[test]
fn engine_matches_reference_on_far_levels_and_gtd_bursts() {
    let limits = keel_core::Limits {
        max_levels: 40,
        max_fills_per_command: 3,
        max_cancels_per_record: 2,
        ..limits()
    };
    let total: usize = env_or("KEEL_DIFF_COMMANDS", DEFAULT_COMMANDS) / 5;
    let seeds = [7u64, 0xFA4, 0xB0_0575];
    let mut stats = Stats::default();
    let (mut fill_limited, mut expired, mut bursts) = (0u64, 0u64, 0u64);
    for &seed in &seeds {
        let mut run = Run::with_limits(seed, limits);
        let mut gen = StreamGen::hostile(seed);
        let mut index = 0;
        for cmd in genesis() {
            let now = gen.tick();
            run.step(index, &cmd, now);
            gen.observe(&run.out);
            index += 1;
        }
        for _ in 0..total.div_ceil(seeds.len()) {
            let (cmd, now) = gen.next_command();
            run.step(index, &cmd, now);
            gen.observe(&run.out);
            stats.count(&cmd, &run.out);
            let due = run.out.iter().filter(|e| {
                matches!(
                    e,
                    Event::OrderCancelled {
                        reason: CancelReason::Expired,
                        ..
                    }
                )
            });
            // More than one record's worth: the chunked path was taken.
            bursts += u64::from(due.count() > limits.max_cancels_per_record as usize);
            for e in &run.out {
                match e {
                    Event::OrderCancelled {
                        reason: CancelReason::FillLimit,
                        ..
                    } => fill_limited += 1,
                    Event::OrderCancelled {
                        reason: CancelReason::Expired,
                        ..
                    } => expired += 1,
                    _ => {}
                }
            }
            index += 1;
        }
        let (cmd, now) = gen.next_command();
        run.deep_check(index, &cmd, now);
    }
    println!(
        "far levels and GTD bursts: {fill_limited} fill-limit cancels, {expired} expiries, {bursts} chunked bursts"
    );
    assert!(fill_limited > 0, "the family never reached the fill limit");
    assert!(bursts > 0, "no expiry burst exceeded one record");
    assert!(expired > 0, "the family never expired an order");
}

// ----- scripted differential cases --------------------------------------
//
// Short hand-written sequences run through the same machinery (engine vs
// reference, event for event, plus the state comparison after each
// command). They pin down rules the random stream reaches only rarely, and
// keep minimal reproductions of the engine bugs found by the random test.

use keel_core::{
    CommandKind, Fixed, MarketBound, OrderType, PlaceOrder, StpMode, SymbolSpec, TimeInForce,
};

struct Script {
    run: Run,
    index: usize,
    now: u64,
    request_ids: BTreeMap<u32, u64>,
}

impl Script {
    /// Genesis (3 assets, 3 symbols) already applied.
    fn new() -> Script {
        let mut s = Script {
            run: Run::new(0),
            index: 0,
            now: 1_000,
            request_ids: BTreeMap::new(),
        };
        s.request_ids.insert(0, genesis().len() as u64);
        for cmd in genesis() {
            s.raw(cmd);
        }
        s
    }

    fn raw(&mut self, cmd: Command) -> Vec<Event> {
        self.now += 10;
        self.run.step(self.index, &cmd, self.now);
        self.index += 1;
        self.run.out.clone()
    }

    fn cmd(&mut self, account: u32, kind: CommandKind) -> Vec<Event> {
        let r = self.request_ids.entry(account).or_insert(0);
        *r += 1;
        let request_id = *r;
        self.raw(Command {
            account,
            request_id,
            kind,
        })
    }

    fn open(&mut self, account: u32) {
        self.cmd(account, CommandKind::OpenAccount);
    }

    fn deposit(&mut self, account: u32, asset: u32, amount: u64) {
        self.cmd(account, CommandKind::Deposit { asset, amount });
    }

    fn limit(&mut self, account: u32, symbol: u32, side: Side, price: u64, qty: u64) -> Vec<Event> {
        self.cmd(
            account,
            CommandKind::PlaceOrder(PlaceOrder {
                symbol,
                side,
                order_type: OrderType::Limit { price },
                qty,
                tif: TimeInForce::Gtc,
                post_only: false,
                stp: StpMode::CancelNewest,
            }),
        )
    }
}

fn budget_buy(stp: StpMode) -> Vec<Event> {
    // BTC-USDC: 7 micro-USDC per tick-lot, taker fee 20 bps.
    let mut s = Script::new();
    s.open(1);
    s.open(2);
    s.deposit(1, common::BTC, 10_000_000);
    s.deposit(2, common::BTC, 10_000_000);
    s.deposit(2, common::USDC, 1_000_000);
    s.limit(1, 0, Side::Sell, 100, 3); // order 1: someone else's, best
    s.limit(2, 0, Side::Sell, 101, 1); // order 2: the buyer's own, deeper
                                       // Budget 1000 affords one lot at 100 (700 + fee 1 = 701), not two: the
                                       // buy is out of budget after one lot of order 1, which keeps 2 lots and
                                       // stays the next maker. The walk must stop there (`ioc_remainder`); it
                                       // must not go on to the account's own order 2 and apply STP to it.
    s.cmd(
        2,
        CommandKind::PlaceOrder(PlaceOrder {
            symbol: 0,
            side: Side::Buy,
            order_type: OrderType::Market {
                bound: MarketBound::QuoteBudget { amount: 1_000 },
            },
            qty: 3,
            tif: TimeInForce::Ioc,
            post_only: false,
            stp,
        }),
    )
}

#[test]
fn budget_market_buy_stops_when_out_of_budget_cancel_oldest() {
    budget_buy(StpMode::CancelOldest);
}

#[test]
fn budget_market_buy_stops_when_out_of_budget_cancel_newest() {
    budget_buy(StpMode::CancelNewest);
}

#[test]
fn symbol_spec_with_unnormalised_decimals_is_exact() {
    // tick = 1.0000000000 and lot = 1.0000000000 (as a decimal parser that
    // keeps trailing zeros gives them): base_per_lot = 10^8 and
    // quote_per_tick_lot = 10^6 are whole numbers ≥ 1, so the spec says the
    // symbol is valid. (The engine multiplies the two mantissas in u64
    // first, 10^20 overflows, and it rejects InvalidSymbolSpec.)
    let mut s = Script::new();
    s.cmd(
        0,
        CommandKind::AddSymbol(SymbolSpec {
            name: common::name("BTC-USDC-2"),
            base: common::BTC,
            quote: common::USDC,
            tick_size: Fixed::new(10_000_000_000, 10),
            lot_size: Fixed::new(10_000_000_000, 10),
            maker_fee_bps: 0,
            taker_fee_bps: 0,
        }),
    );
}

#[test]
fn scripted_rules_match() {
    let mut s = Script::new();
    for a in 1..=3 {
        s.open(a);
        s.deposit(a, common::BTC, 100_000_000);
        s.deposit(a, common::USDC, 10_000_000);
        s.deposit(a, common::ETH, 1_000_000_000_000);
    }
    // FIFO, partial fills, fee rounding, a sweep across levels.
    s.limit(1, 0, Side::Sell, 101, 2);
    s.limit(2, 0, Side::Sell, 101, 3);
    s.limit(1, 0, Side::Sell, 102, 4);
    s.limit(3, 0, Side::Buy, 102, 8);
    // FOK that would need its own STP cancel: rejected, nothing happens.
    s.limit(3, 0, Side::Buy, 99, 2);
    let fok = CommandKind::PlaceOrder(PlaceOrder {
        symbol: 0,
        side: Side::Sell,
        order_type: OrderType::Limit { price: 98 },
        qty: 2,
        tif: TimeInForce::Fok,
        post_only: false,
        stp: StpMode::CancelOldest,
    });
    s.cmd(3, fok);
    // The same FOK from another account fills.
    s.cmd(2, fok);
    // GTD expiring exactly at a command's timestamp, two of them at the
    // same expiry (by id).
    let expiry_ns = s.now + 25;
    for a in [2, 1] {
        s.cmd(
            a,
            CommandKind::PlaceOrder(PlaceOrder {
                symbol: 1,
                side: Side::Buy,
                order_type: OrderType::Limit { price: 50 },
                qty: 1,
                tif: TimeInForce::Gtd { expiry_ns },
                post_only: true,
                stp: StpMode::CancelBoth,
            }),
        );
    }
    s.deposit(1, common::USDC, 1); // t = expiry: both expire first
                                   // Amends: reduce in place, increase (loses priority), price move that
                                   // crosses and trades, post-only amend that would cross.
    s.limit(1, 1, Side::Buy, 90, 5);
    s.limit(2, 1, Side::Buy, 90, 5);
    s.cmd(
        1,
        CommandKind::AmendOrder {
            order: 10,
            price: 90,
            qty: 3,
        },
    );
    s.cmd(
        1,
        CommandKind::AmendOrder {
            order: 10,
            price: 90,
            qty: 6,
        },
    );
    s.limit(3, 1, Side::Sell, 95, 4);
    s.cmd(
        2,
        CommandKind::AmendOrder {
            order: 11,
            price: 96,
            qty: 9,
        },
    );
    // Cancel-all in id order, with and without a symbol; halt blocks new
    // orders and amends but not cancels.
    s.limit(1, 2, Side::Sell, 100, 1);
    s.cmd(0, CommandKind::HaltSymbol { symbol: 2 });
    s.limit(1, 2, Side::Sell, 100, 1);
    s.cmd(1, CommandKind::CancelAll { symbol: Some(2) });
    s.cmd(0, CommandKind::ResumeSymbol { symbol: 2 });
    s.cmd(2, CommandKind::CancelAll { symbol: None });
    s.cmd(1, CommandKind::CancelAll { symbol: None });
}
