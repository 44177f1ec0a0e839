//! Read models (CQRS): what market-data feeds and account views show,
//! built only from journaled records. [`ReadModels`] keeps its own replica
//! of the state, advanced by applying each record's events exactly as
//! recovery does (it never decides and never reads the engine's state),
//! and derives from each record:
//!
//! - **L2 depth deltas** per symbol ([`DepthDelta`]): the levels whose totals
//!   changed, numbered by the record's sequence, each naming the previous
//!   update on the symbol so a gap is seen, with a checksum of the top
//!   levels ([`book::checksum`]) so divergence is seen;
//! - **best bid and offer** changes, **trades** (the tape), and **OHLCV
//!   candles** at 1 s and 1 min by the records' timestamps (deterministic on
//!   replay);
//! - the **accounts** whose balances or orders changed, for account views.
//!
//! Because every model is a pure function of the records, `replay book`
//! rebuilds what a feed showed at any sequence.

#![warn(missing_docs)]

pub mod book;
pub mod json;

use std::collections::VecDeque;

use keel_engine::model::{AccountId, Command, Event, OrderId, Side, SymbolId};
use keel_engine::state::error::ApplyError;
use keel_engine::{Registry, State};

pub use book::{ClientBook, DepthDelta, DepthSnapshot, Diverged, Level, LevelChange};

/// Candle intervals built, ns: 1 s and 1 min.
pub const CANDLE_INTERVALS_NS: [u64; 2] = [1_000_000_000, 60_000_000_000];

/// Bounds on what the models keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keep {
    /// Recent trades kept per symbol (the tape's snapshot).
    pub trades: usize,
    /// Recent candles kept per symbol and interval.
    pub candles: usize,
}

impl Default for Keep {
    fn default() -> Keep {
        Keep {
            trades: 1_000,
            candles: 1_000,
        }
    }
}

/// One print on the tape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TradePrint {
    /// The symbol.
    pub symbol: SymbolId,
    /// The record's sequence.
    pub seq: u64,
    /// The record's timestamp, ns.
    pub ts_ns: u64,
    /// Price, ticks.
    pub price: u64,
    /// Quantity, lots.
    pub qty: u64,
    /// The incoming order's side.
    pub taker_side: Side,
}

/// One OHLCV candle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candle {
    /// The symbol.
    pub symbol: SymbolId,
    /// Its interval, ns (one of [`CANDLE_INTERVALS_NS`]).
    pub interval_ns: u64,
    /// Its start, ns (a multiple of the interval).
    pub start_ns: u64,
    /// First, highest, lowest and last price, ticks.
    pub open: u64,
    /// Highest price.
    pub high: u64,
    /// Lowest price.
    pub low: u64,
    /// Last price.
    pub close: u64,
    /// Quantity traded, lots.
    pub volume: u64,
    /// Trades in it.
    pub trades: u64,
}

/// Best bid and offer: `(price ticks, qty lots)` per side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bbo {
    /// The symbol.
    pub symbol: SymbolId,
    /// The record's sequence.
    pub seq: u64,
    /// Best bid.
    pub bid: Option<(u64, u64)>,
    /// Best ask.
    pub ask: Option<(u64, u64)>,
}

/// What one record changed, for the feeds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FeedUpdate {
    /// A book changed.
    Depth(DepthDelta),
    /// The best bid or offer changed.
    Bbo(Bbo),
    /// A trade.
    Trade(TradePrint),
    /// A candle, as it stands after a trade.
    Candle(Candle),
    /// An account's balances or orders changed.
    Account {
        /// The account.
        account: AccountId,
        /// The record's sequence.
        seq: u64,
    },
}

/// An account's view: balances and open orders, at a sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountView {
    /// The account.
    pub account: AccountId,
    /// The sequence it reflects.
    pub seq: u64,
    /// `(asset, available, held)` for each asset with a non-zero balance.
    pub balances: Vec<(u32, u64, u64)>,
    /// Open orders: `(order, symbol, side, price ticks, remaining lots)`.
    pub orders: Vec<(OrderId, SymbolId, Side, u64, u64)>,
}

/// A best price and its quantity: `(price ticks, qty lots)`.
type Best = Option<(u64, u64)>;

/// A level's key and its totals before a record: `(symbol, side, price)`,
/// `(qty, orders)` or `None` when empty.
type LevelBefore = ((SymbolId, Side, u64), Option<(u64, u32)>);

#[derive(Clone, Debug, Default)]
struct SymbolModels {
    /// Sequence of the last record that changed the book.
    update: u64,
    bbo: (Best, Best),
    trades: VecDeque<TradePrint>,
    candles: [VecDeque<Candle>; 2],
}

/// Every read model, kept from records.
pub struct ReadModels {
    state: State,
    names: Registry,
    seq: u64,
    keep: Keep,
    symbols: Vec<SymbolModels>,
    /// Levels touched by the record being applied, with their totals
    /// before it (reused: no allocation per record once grown).
    before: Vec<LevelBefore>,
    /// Symbols whose book the record touched (reused).
    symbols_touched: Vec<SymbolId>,
    accounts: Vec<AccountId>,
    /// Checksum text buffer (reused).
    checksum_buf: String,
}

/// A record's events could not be applied: the records are not the
/// journal's, or not in order.
#[derive(Debug, thiserror::Error)]
pub enum ReadModelError {
    /// A record out of sequence.
    #[error("record {got} after {last}: records must come in sequence")]
    OutOfOrder {
        /// The last sequence applied.
        last: u64,
        /// The sequence offered.
        got: u64,
    },
    /// An event does not apply to the replica.
    #[error("record {seq}: {source}")]
    Apply {
        /// The record.
        seq: u64,
        /// Why.
        source: ApplyError,
    },
}

impl ReadModels {
    /// The models of `state`, which reflects every record up to `seq`
    /// (recovered, or rebuilt by `replay`). Each book's update number starts
    /// at `seq`; tapes and candles start empty.
    pub fn new(state: State, seq: u64, keep: Keep) -> ReadModels {
        let names = Registry::from_state(&state);
        let symbols = (0..state.symbols().len())
            .map(|s| {
                let mut m = SymbolModels {
                    update: seq,
                    ..SymbolModels::default()
                };
                m.bbo = bbo_of(&state, s as SymbolId);
                m
            })
            .collect();
        ReadModels {
            state,
            names,
            seq,
            keep,
            symbols,
            before: Vec::new(),
            symbols_touched: Vec::new(),
            accounts: Vec::new(),
            checksum_buf: String::new(),
        }
    }

    /// The replica (what `replay state` prints at [`ReadModels::seq`]).
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Names of assets and symbols.
    pub fn names(&self) -> &Registry {
        &self.names
    }

    /// The last sequence applied.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Applies one committed record; pushes what it changed onto `out`.
    pub fn apply(
        &mut self,
        seq: u64,
        ts_ns: u64,
        cmd: &Command,
        events: &[Event],
        out: &mut Vec<FeedUpdate>,
    ) -> Result<(), ReadModelError> {
        if seq != self.seq + 1 {
            return Err(ReadModelError::OutOfOrder {
                last: self.seq,
                got: seq,
            });
        }
        self.before.clear();
        self.accounts.clear();
        if cmd.request_id != 0 || cmd.kind.is_continuation() {
            self.account_touched(cmd.account);
        }
        // Levels before: recorded as each event is met, before applying it.
        for event in events {
            for key in self.levels_of(event).into_iter().flatten() {
                if !self.before.iter().any(|(k, _)| *k == key) {
                    let was = self.state.level_at(key.0, key.1, key.2);
                    self.before.push((key, was));
                }
            }
            keel_engine::apply(&mut self.state, event)
                .map_err(|source| ReadModelError::Apply { seq, source })?;
            self.names.learn(event);
            self.note(seq, ts_ns, event, out);
        }
        self.seq = seq;
        while self.symbols.len() < self.state.symbols().len() {
            self.symbols.push(SymbolModels {
                update: seq,
                ..SymbolModels::default()
            });
        }
        let before = std::mem::take(&mut self.before);
        self.deltas(seq, ts_ns, &before, out);
        self.before = before;
        for &account in &self.accounts {
            out.push(FeedUpdate::Account { account, seq });
        }
        Ok(())
    }

    fn account_touched(&mut self, account: AccountId) {
        if !self.accounts.contains(&account) {
            self.accounts.push(account);
        }
    }

    /// The levels `event` may change, read from the replica before it applies.
    fn levels_of(&self, event: &Event) -> [Option<(SymbolId, Side, u64)>; 2] {
        let resting = |order: OrderId| self.state.order(order).map(|o| (o.symbol, o.side, o.price));
        match *event {
            Event::OrderRested { order } => [resting(order), None],
            Event::TradeExecuted(t) => [resting(t.maker_order), None],
            Event::OrderCancelled { order, .. } => [resting(order), None],
            Event::OrderAmended { order, price, .. } => {
                let old = resting(order);
                [old, old.map(|(s, side, _)| (s, side, price))]
            }
            _ => [None, None],
        }
    }

    /// Trades, candles and touched accounts of one event (already applied).
    fn note(&mut self, seq: u64, ts_ns: u64, event: &Event, out: &mut Vec<FeedUpdate>) {
        match *event {
            Event::TradeExecuted(t) => {
                self.account_touched(t.maker_account);
                self.account_touched(t.taker_account);
                let print = TradePrint {
                    symbol: t.symbol,
                    seq,
                    ts_ns,
                    price: t.price,
                    qty: t.qty,
                    taker_side: t.taker_side,
                };
                let keep = self.keep;
                let Some(m) = self.symbols.get_mut(t.symbol as usize) else {
                    return;
                };
                if m.trades.len() == keep.trades {
                    m.trades.pop_front();
                }
                m.trades.push_back(print);
                out.push(FeedUpdate::Trade(print));
                for (i, interval_ns) in CANDLE_INTERVALS_NS.into_iter().enumerate() {
                    let candle =
                        add_to_candle(&mut m.candles[i], keep.candles, &print, interval_ns);
                    out.push(FeedUpdate::Candle(candle));
                }
            }
            Event::AccountOpened { account }
            | Event::Deposited { account, .. }
            | Event::Withdrawn { account, .. }
            | Event::OrderAccepted { account, .. }
            | Event::OrderCancelled { account, .. } => self.account_touched(account),
            Event::Transferred { from, to, .. } => {
                self.account_touched(from);
                self.account_touched(to);
            }
            _ => {}
        }
    }

    /// Depth deltas and BBO changes for the levels the record touched.
    fn deltas(&mut self, seq: u64, ts_ns: u64, before: &[LevelBefore], out: &mut Vec<FeedUpdate>) {
        let mut symbols = std::mem::take(&mut self.symbols_touched);
        symbols.clear();
        symbols.extend(before.iter().map(|((s, _, _), _)| *s));
        symbols.sort_unstable();
        symbols.dedup();
        for &symbol in &symbols {
            let mut changes: Vec<LevelChange> = before
                .iter()
                .filter(|((s, _, _), _)| *s == symbol)
                .filter_map(|&((_, side, price), was)| {
                    let now = self.state.level_at(symbol, side, price);
                    (now != was).then(|| {
                        let (qty, orders) = now.unwrap_or((0, 0));
                        LevelChange {
                            side,
                            level: Level { price, qty, orders },
                        }
                    })
                })
                .collect();
            if changes.is_empty() {
                continue;
            }
            changes.sort_by_key(|c| (c.side == Side::Sell, c.level.price));
            let Some(m) = self.symbols.get_mut(symbol as usize) else {
                continue;
            };
            let prev_update = m.update;
            m.update = seq;
            out.push(FeedUpdate::Depth(DepthDelta {
                symbol,
                update: seq,
                prev_update,
                ts_ns,
                changes,
                checksum: book::book_checksum_with(
                    &self.state,
                    &self.names,
                    symbol,
                    &mut self.checksum_buf,
                ),
            }));
            let bbo = bbo_of(&self.state, symbol);
            if bbo != m.bbo {
                m.bbo = bbo;
                out.push(FeedUpdate::Bbo(Bbo {
                    symbol,
                    seq,
                    bid: bbo.0,
                    ask: bbo.1,
                }));
            }
        }
        self.symbols_touched = symbols;
    }

    /// The book of `symbol` now, `depth` levels per side (`None` for an
    /// unknown symbol).
    pub fn depth(&self, symbol: SymbolId, depth: usize) -> Option<DepthSnapshot> {
        let m = self.symbols.get(symbol as usize)?;
        Some(DepthSnapshot {
            symbol,
            seq: self.seq,
            update: m.update,
            bids: book::top(&self.state, symbol, Side::Buy, depth),
            asks: book::top(&self.state, symbol, Side::Sell, depth),
            checksum: book::book_checksum(&self.state, &self.names, symbol),
        })
    }

    /// The best bid and offer of `symbol` now.
    pub fn bbo(&self, symbol: SymbolId) -> Option<Bbo> {
        let m = self.symbols.get(symbol as usize)?;
        Some(Bbo {
            symbol,
            seq: self.seq,
            bid: m.bbo.0,
            ask: m.bbo.1,
        })
    }

    /// Recent trades of `symbol`, oldest first.
    pub fn trades(&self, symbol: SymbolId) -> Option<&VecDeque<TradePrint>> {
        self.symbols.get(symbol as usize).map(|m| &m.trades)
    }

    /// Recent candles of `symbol` at interval index `i` (of
    /// [`CANDLE_INTERVALS_NS`]), oldest first.
    pub fn candles(&self, symbol: SymbolId, i: usize) -> Option<&VecDeque<Candle>> {
        self.symbols.get(symbol as usize)?.candles.get(i)
    }

    /// An account's balances and open orders now (`None` if not open).
    pub fn account(&self, account: AccountId) -> Option<AccountView> {
        self.state.account(account)?;
        let balances = (0..self.state.assets().len() as u32)
            .filter_map(|asset| {
                let b = self.state.balance(account, asset)?;
                (b.available != 0 || b.held != 0).then_some((asset, b.available, b.held))
            })
            .collect();
        let orders = self
            .state
            .account_orders(account)
            .map(|o| (o.id, o.symbol, o.side, o.price, o.remaining))
            .collect();
        Some(AccountView {
            account,
            seq: self.seq,
            balances,
            orders,
        })
    }
}

fn bbo_of(state: &State, symbol: SymbolId) -> (Best, Best) {
    let best = |side| {
        let r = state.levels_best_first(symbol, side).next()?;
        state.level(r.level).map(|l| (l.price, l.total_qty))
    };
    (best(Side::Buy), best(Side::Sell))
}

/// Adds a trade to the series' current candle (or starts one); returns it.
fn add_to_candle(
    series: &mut VecDeque<Candle>,
    keep: usize,
    t: &TradePrint,
    interval_ns: u64,
) -> Candle {
    let start_ns = t.ts_ns - t.ts_ns % interval_ns;
    match series.back_mut() {
        Some(c) if c.start_ns == start_ns => {
            c.high = c.high.max(t.price);
            c.low = c.low.min(t.price);
            c.close = t.price;
            c.volume = c.volume.saturating_add(t.qty);
            c.trades += 1;
            *c
        }
        _ => {
            if series.len() == keep {
                series.pop_front();
            }
            let c = Candle {
                symbol: t.symbol,
                interval_ns,
                start_ns,
                open: t.price,
                high: t.price,
                low: t.price,
                close: t.price,
                volume: t.qty,
                trades: 1,
            };
            series.push_back(c);
            c
        }
    }
}
