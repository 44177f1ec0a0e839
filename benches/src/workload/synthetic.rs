//! The `synthetic` workload: exchange-core's method. A seeded generator keeps
//! books around a target depth over N symbols with Pareto (Zipf) weighted
//! activity and M funded accounts, with a configurable mix. The default mix
//! follows exchange-core: 9% GTC, 3% IOC, 6% cancel, 82% amend (price moves),
//! with about 6% of commands trading.
//!
//! The generator runs the Keel core itself while generating, so it knows the
//! order ids the engine will assign and which orders rest; replaying the
//! stream on a fresh state reproduces exactly the same books.

use keel_engine::model::Trade;
use std::collections::HashMap;

use keel_engine::model::{
    Command, CommandKind, Event, Fixed, Name, OrderId, OrderType, PlaceOrder, Side, StpMode,
    SymbolSpec, TimeInForce, OPERATOR,
};
use keel_engine::{Limits, State};

use super::Workload;
use keel_core::rng::SplitMix64 as Rng;

/// Knobs of the synthetic generator.
#[derive(Clone, Debug, PartialEq)]
pub struct SyntheticConfig {
    pub seed: u64,
    pub symbols: u32,
    pub accounts: u32,
    /// Resting orders per book the generator steers towards.
    pub target_depth: u32,
    /// Half-width of the passive price band around the mid, in ticks
    /// (±800 gives about 750 distinct levels for 1,000 orders).
    pub price_band_ticks: u64,
    pub qty_max_lots: u64,
    /// Commands of the mix run before measurement (after the books fill).
    pub warmup_commands: usize,
    pub measured_commands: usize,
    pub mix: Mix,
}

/// Shares of the mix, in per mille.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mix {
    pub gtc: u64,
    pub ioc: u64,
    pub cancel: u64,
    pub amend: u64,
    /// Of GTC orders, the share priced through the opposite best.
    pub gtc_aggressive: u64,
    /// Of amends, the share moved through the opposite best.
    pub amend_aggressive: u64,
}

impl Default for Mix {
    fn default() -> Mix {
        Mix {
            gtc: 90,
            ioc: 30,
            cancel: 60,
            amend: 820,
            gtc_aggressive: 100,
            amend_aggressive: 25,
        }
    }
}

impl Default for SyntheticConfig {
    fn default() -> SyntheticConfig {
        SyntheticConfig {
            seed: 1,
            symbols: 1,
            accounts: 1_000,
            target_depth: 1_000,
            price_band_ticks: 800,
            qty_max_lots: 100,
            warmup_commands: 20_000,
            measured_commands: 200_000,
            mix: Mix::default(),
        }
    }
}

/// Figures about a generated stream, measured while generating.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyntheticStats {
    pub commands: usize,
    pub trading_commands: usize,
    pub trades: usize,
    pub rejected: usize,
    pub distinct_levels_end: usize,
    pub resting_orders_end: usize,
}

/// The anchor price of every symbol, in ticks.
pub const MID_TICKS: u64 = 100_000;

struct LiveBook {
    orders: Vec<OrderId>,
    position: HashMap<OrderId, usize>,
}

impl LiveBook {
    fn add(&mut self, id: OrderId) {
        if let std::collections::hash_map::Entry::Vacant(e) = self.position.entry(id) {
            e.insert(self.orders.len());
            self.orders.push(id);
        }
    }

    fn remove(&mut self, id: OrderId) {
        if let Some(pos) = self.position.remove(&id) {
            self.orders.swap_remove(pos);
            if let Some(&moved) = self.orders.get(pos) {
                self.position.insert(moved, pos);
            }
        }
    }
}

struct Generator {
    cfg: SyntheticConfig,
    rng: Rng,
    sim: State,
    out: Vec<Event>,
    next_request: Vec<u64>,
    live: Vec<LiveBook>,
    zipf_cumulative: Vec<f64>,
    commands: Vec<Command>,
    stats: SyntheticStats,
}

/// Limits generous enough for the workload.
pub fn limits_for(cfg: &SyntheticConfig) -> Limits {
    Limits {
        max_accounts: cfg.accounts + 1,
        max_orders: (cfg.symbols * cfg.target_depth * 4).max(1 << 12),
        max_open_orders_per_account: u32::MAX,
        max_assets: cfg.symbols + 1,
        max_symbols: cfg.symbols,
        max_levels: cfg.symbols * cfg.target_depth * 4,
        ..Limits::default()
    }
}

/// Generates the workload and the figures seen while generating.
pub fn generate(cfg: &SyntheticConfig) -> (Workload, SyntheticStats) {
    assert!(
        cfg.symbols >= 1 && cfg.accounts >= 2,
        "need a symbol and two accounts"
    );
    let limits = limits_for(cfg);
    // Zipf weights 1/(rank+1): a few symbols carry most of the flow.
    let mut acc = 0.0;
    let zipf_cumulative = (0..cfg.symbols)
        .map(|i| {
            acc += 1.0 / (i as f64 + 1.0);
            acc
        })
        .collect();
    let mut g = Generator {
        cfg: cfg.clone(),
        rng: Rng::new(cfg.seed),
        sim: State::new(limits),
        out: Vec::with_capacity(1024),
        next_request: vec![1; cfg.accounts as usize + 1],
        live: (0..cfg.symbols)
            .map(|_| LiveBook {
                orders: Vec::new(),
                position: HashMap::new(),
            })
            .collect(),
        zipf_cumulative,
        commands: Vec::new(),
        stats: SyntheticStats::default(),
    };
    g.genesis();
    for symbol in 0..cfg.symbols {
        while (g.live[symbol as usize].orders.len() as u32) < cfg.target_depth {
            let cmd = g.gtc(symbol, false);
            g.push(cmd);
        }
    }
    for _ in 0..cfg.warmup_commands {
        let cmd = g.next_mixed();
        g.push(cmd);
    }
    let setup_len = g.commands.len();
    g.stats = SyntheticStats::default();
    for _ in 0..cfg.measured_commands {
        let cmd = g.next_mixed();
        g.push(cmd);
    }
    let mut stats = g.stats.clone();
    stats.resting_orders_end = g.sim.open_order_count();
    stats.distinct_levels_end = (0..cfg.symbols)
        .map(|s| g.sim.depth(s, Side::Buy).len() + g.sim.depth(s, Side::Sell).len())
        .sum();
    let measured = g.commands.split_off(setup_len);
    (
        Workload {
            setup: g.commands,
            measured,
            limits,
        },
        stats,
    )
}

impl Generator {
    fn request(&mut self, account: u32) -> u64 {
        let r = self.next_request[account as usize];
        self.next_request[account as usize] += 1;
        r
    }

    fn command(&mut self, account: u32, kind: CommandKind) -> Command {
        let request_id = self.request(account);
        Command {
            account,
            request_id,
            kind,
        }
    }

    fn push(&mut self, cmd: Command) {
        let ts = self.commands.len() as u64;
        keel_engine::process(&mut self.sim, &cmd, ts, &mut self.out)
            .expect("generated command processes");
        self.stats.commands += 1;
        let mut traded = false;
        for i in 0..self.out.len() {
            match self.out[i] {
                Event::Rejected { .. } => self.stats.rejected += 1,
                Event::OrderRested { order } => {
                    let symbol = self.sim.order(order).expect("rested order is open").symbol;
                    self.live[symbol as usize].add(order);
                }
                Event::OrderCancelled { order, .. } => {
                    for book in &mut self.live {
                        book.remove(order);
                    }
                }
                Event::TradeExecuted(Trade {
                    symbol,
                    maker_order,
                    taker_order,
                    ..
                }) => {
                    traded = true;
                    self.stats.trades += 1;
                    for id in [maker_order, taker_order] {
                        if self.sim.order(id).is_none() {
                            self.live[symbol as usize].remove(id);
                        }
                    }
                }
                _ => {}
            }
        }
        if traded {
            self.stats.trading_commands += 1;
        }
        self.commands.push(cmd);
    }

    fn genesis(&mut self) {
        let usd = self.command(
            OPERATOR,
            CommandKind::AddAsset {
                name: Name::new("USD").unwrap(),
                scale: 4,
            },
        );
        self.push(usd);
        for s in 0..self.cfg.symbols {
            let name = Name::new(&format!("B{s}")).unwrap();
            let cmd = self.command(OPERATOR, CommandKind::AddAsset { name, scale: 2 });
            self.push(cmd);
            let spec = SymbolSpec {
                name: Name::new(&format!("B{s}-USD")).unwrap(),
                base: s + 1,
                quote: 0,
                tick_size: Fixed::new(1, 2),
                lot_size: Fixed::new(1, 2),
                maker_fee_bps: 1,
                taker_fee_bps: 2,
            };
            let cmd = self.command(OPERATOR, CommandKind::AddSymbol(spec));
            self.push(cmd);
        }
        for account in 1..=self.cfg.accounts {
            let cmd = self.command(account, CommandKind::OpenAccount);
            self.push(cmd);
            for asset in 0..=self.cfg.symbols {
                let cmd = self.command(
                    account,
                    CommandKind::Deposit {
                        asset,
                        amount: 1 << 50,
                    },
                );
                self.push(cmd);
            }
        }
    }

    fn account(&mut self) -> u32 {
        self.rng.range(1, self.cfg.accounts as u64) as u32
    }

    fn symbol(&mut self) -> u32 {
        let total = *self.zipf_cumulative.last().expect("at least one symbol");
        let x = (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * total;
        self.zipf_cumulative
            .partition_point(|&c| c < x)
            .min(self.cfg.symbols as usize - 1) as u32
    }

    fn best(&self, symbol: u32, side: Side) -> Option<u64> {
        self.sim
            .book(symbol)
            .and_then(|b| b.side(side).best_price())
    }

    fn mid(&self, symbol: u32) -> u64 {
        match (self.best(symbol, Side::Buy), self.best(symbol, Side::Sell)) {
            (Some(b), Some(a)) => (a + b) / 2,
            (Some(b), None) => b + 1,
            (None, Some(a)) => a.saturating_sub(1).max(1),
            (None, None) => MID_TICKS,
        }
    }

    fn side(&mut self) -> Side {
        if self.rng.below(2) == 0 {
            Side::Buy
        } else {
            Side::Sell
        }
    }

    /// A price on `side`'s own half of the book, not crossing.
    fn passive_price(&mut self, symbol: u32, side: Side) -> u64 {
        let mid = self.mid(symbol);
        let offset = self.rng.range(1, self.cfg.price_band_ticks);
        match side {
            Side::Buy => {
                let cap = self.best(symbol, Side::Sell).map_or(u64::MAX, |a| a - 1);
                mid.saturating_sub(offset).clamp(1, cap.max(1))
            }
            Side::Sell => {
                let floor = self.best(symbol, Side::Buy).map_or(1, |b| b + 1);
                (mid + offset).max(floor)
            }
        }
    }

    /// A price through the opposite best (or the mid if that side is empty).
    fn aggressive_price(&mut self, symbol: u32, side: Side) -> u64 {
        let through = self.rng.range(0, 2);
        match side {
            Side::Buy => {
                self.best(symbol, Side::Sell)
                    .unwrap_or_else(|| self.mid(symbol))
                    + through
            }
            Side::Sell => self
                .best(symbol, Side::Buy)
                .unwrap_or_else(|| self.mid(symbol))
                .saturating_sub(through)
                .max(1),
        }
    }

    fn place(&mut self, symbol: u32, side: Side, price: u64, tif: TimeInForce) -> Command {
        let account = self.account();
        let qty = self.rng.range(1, self.cfg.qty_max_lots);
        self.command(
            account,
            CommandKind::PlaceOrder(PlaceOrder {
                symbol,
                side,
                order_type: OrderType::Limit { price },
                qty,
                tif,
                post_only: false,
                stp: StpMode::CancelOldest,
            }),
        )
    }

    fn gtc(&mut self, symbol: u32, allow_aggressive: bool) -> Command {
        let side = self.side();
        let price = if allow_aggressive && self.rng.chance(self.cfg.mix.gtc_aggressive, 1000) {
            self.aggressive_price(symbol, side)
        } else {
            self.passive_price(symbol, side)
        };
        self.place(symbol, side, price, TimeInForce::Gtc)
    }

    fn ioc(&mut self, symbol: u32) -> Command {
        let side = self.side();
        let price = self.aggressive_price(symbol, side);
        self.place(symbol, side, price, TimeInForce::Ioc)
    }

    fn pick_live(&mut self, symbol: u32) -> Option<OrderId> {
        let book = &self.live[symbol as usize];
        if book.orders.is_empty() {
            return None;
        }
        let i = self.rng.below(book.orders.len() as u64) as usize;
        Some(self.live[symbol as usize].orders[i])
    }

    fn cancel(&mut self, symbol: u32) -> Option<Command> {
        let id = self.pick_live(symbol)?;
        let account = self.sim.order(id)?.account;
        Some(self.command(account, CommandKind::CancelOrder { order: id }))
    }

    fn amend(&mut self, symbol: u32) -> Option<Command> {
        let id = self.pick_live(symbol)?;
        let order = *self.sim.order(id)?;
        let price = if self.rng.chance(self.cfg.mix.amend_aggressive, 1000) {
            self.aggressive_price(symbol, order.side)
        } else {
            // Move within the order's own half, by a few ticks.
            let delta = self.rng.range(1, 10);
            let moved = if self.rng.below(2) == 0 {
                order.price + delta
            } else {
                order.price.saturating_sub(delta)
            };
            match order.side {
                Side::Buy => moved
                    .min(self.best(symbol, Side::Sell).map_or(u64::MAX, |a| a - 1))
                    .max(1),
                Side::Sell => moved.max(self.best(symbol, Side::Buy).map_or(1, |b| b + 1)),
            }
        };
        let price = if price == order.price {
            order.price + 1
        } else {
            price
        };
        Some(self.command(
            order.account,
            CommandKind::AmendOrder {
                order: id,
                price,
                qty: order.remaining,
            },
        ))
    }

    fn next_mixed(&mut self) -> Command {
        let symbol = self.symbol();
        let depth = self.live[symbol as usize].orders.len() as u32;
        let target = self.cfg.target_depth;
        let mix = self.cfg.mix;
        let total = mix.gtc + mix.ioc + mix.cancel + mix.amend;
        let mut roll = self.rng.below(total);
        // Steer the depth: too shallow turns cancels into GTCs, too deep the
        // other way round.
        let op = if roll < mix.gtc {
            0
        } else if roll < mix.gtc + mix.ioc {
            1
        } else if roll < mix.gtc + mix.ioc + mix.cancel {
            2
        } else {
            3
        };
        roll = op;
        let op = match (
            roll,
            depth < target.saturating_sub(target / 20),
            depth > target + target / 20,
        ) {
            (2, true, _) => 0,
            (0, _, true) => 2,
            (op, _, _) => op,
        };
        let cmd = match op {
            0 => Some(self.gtc(symbol, true)),
            1 => Some(self.ioc(symbol)),
            2 => self.cancel(symbol),
            _ => self.amend(symbol),
        };
        cmd.unwrap_or_else(|| self.gtc(symbol, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_the_documented_shape_and_replays_identically() {
        let cfg = SyntheticConfig {
            warmup_commands: 2_000,
            measured_commands: 20_000,
            ..Default::default()
        };
        let (w, stats) = generate(&cfg);
        assert_eq!(stats.commands, 20_000);
        assert_eq!(
            stats.rejected, 0,
            "the workload should be all valid commands"
        );
        let trading = stats.trading_commands as f64 / stats.commands as f64;
        assert!((0.03..0.10).contains(&trading), "trading share {trading}");
        assert!(
            (900..=1_100).contains(&stats.resting_orders_end),
            "depth {}",
            stats.resting_orders_end
        );
        assert!(
            (500..=1_000).contains(&stats.distinct_levels_end),
            "levels {}",
            stats.distinct_levels_end
        );
        // Same seed, same stream; replaying it gives the same final state.
        let (w2, _) = generate(&cfg);
        assert_eq!(w.measured, w2.measured);
        let mut state = w.prepared_state();
        let mut out = Vec::new();
        for (i, cmd) in w.measured.iter().enumerate() {
            keel_engine::process(&mut state, cmd, w.measured_ts(i), &mut out).unwrap();
        }
        state.check_invariants().unwrap();
        assert_eq!(state.open_order_count(), stats.resting_orders_end);
    }
}
