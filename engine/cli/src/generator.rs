//! The demo flow: a seeded, realistic command stream over the configured
//! symbols: accounts opened and funded, then limit, market, IOC, FOK, GTD and
//! post-only orders, cancels, amends, cancel-alls, transfers, withdrawals and
//! the odd halt. It is generated ahead of time against a shadow copy of the
//! core (so cancels and amends name real orders), with simulated timestamps,
//! so the same seed always yields the same journal and digest.

use keel_core::model::{
    AccountId, Command, CommandKind, Event, MarketBound, OrderId, OrderType, PlaceOrder, Side,
    StpMode, SymbolId, TimeInForce, OPERATOR,
};
use keel_core::state::digest::Digest;
use keel_core::state::{Limits, State};

/// Demo knobs (from `[demo]` in the config).
#[derive(Clone, Copy, Debug)]
pub struct DemoParams {
    pub seed: u64,
    pub accounts: u32,
    pub commands: u64,
}

/// A generated flow: commands with their simulated timestamps, and the
/// digest the shadow core reached (what the engine must reach too).
pub struct DemoFlow {
    pub commands: Vec<(Command, u64)>,
    pub shadow_digest: Digest,
    pub shadow_trades: u64,
}

/// Time between demo commands (simulated), ns.
pub const STEP_NS: u64 = 1_000;
/// Mid price of every demo symbol, in ticks.
pub const MID_TICKS: u64 = 10_000;

use keel_core::rng::SplitMix64 as Rng;

struct Gen {
    rng: Rng,
    shadow: State,
    out: Vec<Event>,
    next_request: Vec<u64>,
    live: Vec<OrderId>,
    commands: Vec<(Command, u64)>,
    trades: u64,
    accounts: u32,
    symbols: u32,
    assets: u32,
    /// A halted symbol and the command index at which it resumes.
    halted: Option<(SymbolId, usize)>,
}

impl Gen {
    fn push(&mut self, command: Command) {
        let ts = 1_000_000 + self.commands.len() as u64 * STEP_NS;
        keel_core::process(&mut self.shadow, &command, ts, &mut self.out)
            .expect("demo commands process");
        for e in &self.out {
            match *e {
                Event::OrderRested { order } => self.live.push(order),
                Event::TradeExecuted(_) => self.trades += 1,
                _ => {}
            }
        }
        if self.live.len() > 4 * 4096 {
            let shadow = &self.shadow;
            self.live.retain(|id| shadow.order(*id).is_some());
        }
        self.commands.push((command, ts));
    }

    fn cmd(&mut self, account: AccountId, kind: CommandKind) -> Command {
        let slot = &mut self.next_request[account as usize];
        *slot += 1;
        Command {
            account,
            request_id: *slot,
            kind,
        }
    }

    fn account(&mut self) -> AccountId {
        self.rng.range(1, self.accounts as u64) as AccountId
    }

    fn live_order(&mut self) -> Option<(OrderId, AccountId)> {
        for _ in 0..8 {
            if self.live.is_empty() {
                return None;
            }
            let i = self.rng.below(self.live.len() as u64) as usize;
            let id = self.live[i];
            match self.shadow.order(id) {
                Some(o) => return Some((id, o.account)),
                None => {
                    self.live.swap_remove(i);
                }
            }
        }
        None
    }

    fn best(&self, symbol: SymbolId, side: Side) -> Option<u64> {
        self.shadow
            .book(symbol)
            .and_then(|b| b.side(side).best_price())
    }

    fn place(&mut self) -> Command {
        let symbol = self.rng.below(self.symbols as u64) as SymbolId;
        let side = if self.rng.below(2) == 0 {
            Side::Buy
        } else {
            Side::Sell
        };
        let account = self.account();
        let qty = self.rng.range(1, 50);
        let opposite = self.best(symbol, side.opposite());
        let aggressive = opposite.unwrap_or(MID_TICKS);
        let passive = match side {
            Side::Buy => MID_TICKS - self.rng.range(1, 200),
            Side::Sell => MID_TICKS + self.rng.range(1, 200),
        };
        let roll = self.rng.below(100);
        let (order_type, tif, post_only) = match roll {
            0..=44 => (OrderType::Limit { price: passive }, TimeInForce::Gtc, false),
            45..=59 => (
                OrderType::Limit { price: aggressive },
                TimeInForce::Gtc,
                false,
            ),
            60..=71 => (
                OrderType::Limit { price: aggressive },
                TimeInForce::Ioc,
                false,
            ),
            72..=79 => (
                OrderType::Limit { price: aggressive },
                TimeInForce::Fok,
                false,
            ),
            80..=85 => {
                let bound = match side {
                    Side::Buy if self.rng.below(2) == 0 => MarketBound::QuoteBudget {
                        amount: self.rng.range(1, 1_000) * 1_000_000,
                    },
                    Side::Buy => MarketBound::ProtectionPrice {
                        price: aggressive + 5,
                    },
                    Side::Sell => MarketBound::None,
                };
                (OrderType::Market { bound }, TimeInForce::Ioc, false)
            }
            86..=93 => {
                let now = 1_000_000 + self.commands.len() as u64 * STEP_NS;
                let expiry_ns = now + self.rng.range(1, 20_000) * STEP_NS;
                (
                    OrderType::Limit { price: passive },
                    TimeInForce::Gtd { expiry_ns },
                    false,
                )
            }
            _ => (OrderType::Limit { price: passive }, TimeInForce::Gtc, true),
        };
        let stp = match self.rng.below(3) {
            0 => StpMode::CancelNewest,
            1 => StpMode::CancelOldest,
            _ => StpMode::CancelBoth,
        };
        self.cmd(
            account,
            CommandKind::PlaceOrder(PlaceOrder {
                symbol,
                side,
                order_type,
                qty,
                tif,
                post_only,
                stp,
            }),
        )
    }

    fn next(&mut self) -> Command {
        if let Some((symbol, at)) = self.halted {
            if self.commands.len() >= at {
                self.halted = None;
                return self.cmd(OPERATOR, CommandKind::ResumeSymbol { symbol });
            }
        }
        let roll = self.rng.below(1000);
        match roll {
            0..=579 => self.place(),
            580..=739 => match self.live_order() {
                Some((order, account)) => self.cmd(account, CommandKind::CancelOrder { order }),
                None => self.place(),
            },
            740..=949 => match self.live_order() {
                Some((order, account)) => {
                    let o = *self.shadow.order(order).expect("live");
                    let (price, qty) = match self.rng.below(3) {
                        0 => (o.price, (o.remaining / 2).max(1)),
                        1 => (
                            o.price.saturating_add(self.rng.range(1, 5)).max(1),
                            o.remaining,
                        ),
                        _ => (
                            o.price.saturating_sub(self.rng.range(1, 5)).max(1),
                            o.remaining + self.rng.range(0, 5),
                        ),
                    };
                    self.cmd(account, CommandKind::AmendOrder { order, price, qty })
                }
                None => self.place(),
            },
            950..=964 => {
                let account = self.account();
                let symbol = (self.rng.below(2) == 0)
                    .then(|| self.rng.below(self.symbols as u64) as SymbolId);
                self.cmd(account, CommandKind::CancelAll { symbol })
            }
            965..=979 => {
                let (from, to) = (self.account(), self.account());
                let asset = self.rng.below(self.assets as u64) as u32;
                let amount = self.rng.range(1, 1_000_000);
                self.cmd(from, CommandKind::Transfer { to, asset, amount })
            }
            980..=989 => {
                let account = self.account();
                let asset = self.rng.below(self.assets as u64) as u32;
                let amount = self.rng.range(1, 1_000_000);
                self.cmd(account, CommandKind::Withdraw { asset, amount })
            }
            990..=997 => {
                let account = self.account();
                let asset = self.rng.below(self.assets as u64) as u32;
                let amount = self.rng.range(1, 1_000_000_000);
                self.cmd(account, CommandKind::Deposit { asset, amount })
            }
            _ if self.halted.is_none() && self.rng.below(4) == 0 => {
                // A short halt: resumed about 200 commands later.
                let symbol = self.rng.below(self.symbols as u64) as SymbolId;
                self.halted = Some((symbol, self.commands.len() + 200));
                self.cmd(OPERATOR, CommandKind::HaltSymbol { symbol })
            }
            _ => self.place(),
        }
    }
}

/// Generates the flow. `startup` are the admin commands the engine will
/// process first (config genesis); the shadow processes them the same way.
pub fn generate(limits: Limits, startup: &[Command], params: DemoParams) -> DemoFlow {
    let mut shadow = State::new(limits);
    let mut out = Vec::new();
    for c in startup {
        keel_core::process(&mut shadow, c, 0, &mut out).expect("startup commands process");
    }
    let (symbols, assets) = (shadow.symbols().len() as u32, shadow.assets().len() as u32);
    assert!(
        symbols > 0 && assets > 0,
        "the demo config needs at least one symbol"
    );
    let accounts = params.accounts.max(2).min(limits.max_accounts - 1);
    let mut next_request = vec![0u64; accounts as usize + 1];
    next_request[OPERATOR as usize] = shadow.account(OPERATOR).map_or(0, |a| a.last_request_id);
    let mut g = Gen {
        rng: Rng::from_state(params.seed),
        shadow,
        out,
        next_request,
        live: Vec::new(),
        commands: Vec::new(),
        trades: 0,
        accounts,
        symbols,
        assets,
        halted: None,
    };
    for account in 1..=accounts {
        let open = g.cmd(account, CommandKind::OpenAccount);
        g.push(open);
        for asset in 0..assets {
            let scale = g.shadow.asset(asset).map_or(0, |a| a.scale);
            let amount = 10u64.pow(scale as u32).saturating_mul(1_000_000);
            let deposit = g.cmd(account, CommandKind::Deposit { asset, amount });
            g.push(deposit);
        }
    }
    while (g.commands.len() as u64) < params.commands {
        let c = g.next();
        g.push(c);
    }
    DemoFlow {
        shadow_digest: g.shadow.digest(),
        shadow_trades: g.trades,
        commands: g.commands,
    }
}
