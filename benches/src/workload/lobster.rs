//! The `lobster` workload: a LOBSTER message file (NASDAQ TotalView-ITCH
//! reconstructed by lobsterdata.com) turned into Keel commands.
//!
//! # Input
//!
//! One row per message, no header: `time,type,order_id,size,price,direction`,
//! where `time` is seconds after midnight with nanosecond decimals, `price`
//! is dollars × 10000 and `direction` is 1 (buy) or -1 (sell).
//!
//! # Mapping
//!
//! One symbol, base asset scale 0 and quote `USD` scale 4, tick 0.0001 USD
//! and lot 1 share, no fees: a LOBSTER price is the Keel price in ticks and a
//! LOBSTER size the quantity in lots, unchanged.
//!
//! | LOBSTER row | Keel command |
//! |---|---|
//! | 1 new limit order | `PlaceOrder` GTC limit, side = direction, from the next *maker* account (round-robin) |
//! | 2 partial cancellation | `AmendOrder` same price, qty = Keel's remaining − size (keeps priority); a `CancelOrder` if nothing would remain |
//! | 3 deletion | `CancelOrder` |
//! | 4 visible execution | `PlaceOrder` IOC limit from the *taker* account on the side opposite to `direction` (which is the resting order's side), for `size` at the row's price (the resting order's price) |
//! | 5 hidden execution, 6 cross trade, 7 trading halt, anything else | dropped, counted by reason |
//!
//! - **Dropped rows.** Every row is either converted (exactly one command)
//!   or dropped with one reason ([`DROP_REASONS`], counted in
//!   [`LobsterStats::dropped_by_reason`]): `hidden_execution` (type 5),
//!   `cross_trade` (type 6), `trading_halt` (type 7), `unknown_type` (any
//!   other type), `unknown_order` (a type 2–4 row naming an id never seen as
//!   type 1: an order resting before the file starts), `rejected_order` (a
//!   type 2–4 row naming a type-1 order Keel rejected) and `order_gone` (a
//!   type 2–4 row naming an order Keel had already filled or cancelled).
//! - **Ids.** The converter runs the Keel core while converting (like
//!   [`super::synthetic`]), so a type-1 row's Keel order id is
//!   `state.next_order_id()` when it is accepted.
//! - **Divergence.** NASDAQ executions do not always hit the oldest displayed
//!   order at a price (reserve and other order types), and hidden executions
//!   (type 5) are not replayed, so a Keel IOC can fill orders other than the
//!   row's. The book therefore drifts slightly from LOBSTER's; rows that
//!   reference an order Keel already filled or cancelled are skipped and
//!   counted as *gone* (`order_gone`), so the stream carries no
//!   rejections from stale references; the latency run counts the engine's
//!   rejections itself rather than relying on this.
//! - **Accounts.** `maker_accounts` accounts (1..=N) place the resting
//!   orders, round-robin; account N+1 sends every IOC and never rests an
//!   order, so an execution row can never self-trade. Orders use STP
//!   `cancel_oldest`, which only matters when drift lets a new order cross
//!   one of its own account's. Every account gets ample funds (2^58 quote
//!   minor units, 2^50 shares).
//! - **Time.** Each measured command carries the row's timestamp in ns after
//!   midnight ([`LobsterWorkload::ts_ns`]).

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::Path;

use keel_engine::model::{
    Command, CommandKind, Event, Fixed, Name, OrderId, OrderType, PlaceOrder, RejectReason, Side,
    StpMode, SymbolSpec, TimeInForce, OPERATOR,
};
use keel_engine::{Limits, State};

use super::Workload;

/// Knobs of the conversion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LobsterConfig {
    /// Accounts placing the resting orders, round-robin.
    pub maker_accounts: u32,
    /// Base asset name (the ticker), also the symbol name `<base>-USD`.
    pub base: String,
    /// Stop after this many rows (`None`: the whole file).
    pub max_rows: Option<usize>,
}

impl Default for LobsterConfig {
    fn default() -> LobsterConfig {
        LobsterConfig {
            maker_accounts: 16,
            base: "STOCK".into(),
            max_rows: None,
        }
    }
}

/// Why a row was dropped, in the order of [`LobsterStats::dropped_by_reason`].
pub const DROP_REASONS: [&str; 7] = [
    "hidden_execution",
    "cross_trade",
    "trading_halt",
    "unknown_type",
    "unknown_order",
    "rejected_order",
    "order_gone",
];

/// What the conversion saw and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LobsterStats {
    /// Non-blank lines of the file (all of them, also when `max_rows` stops
    /// the reading early; 0 for [`convert`], which sees no file).
    pub rows_in_file: usize,
    /// Rows read and converted or dropped.
    pub rows: usize,
    /// Rows turned into a command (one command per converted row).
    pub converted: usize,
    /// Rows dropped because of their type (5, 6, 7, others), by type.
    pub skipped_by_type: BTreeMap<i64, usize>,
    /// Rows of type 2, 3 or 4 naming an order never seen as type 1, by type.
    pub unknown_id: BTreeMap<i64, usize>,
    /// Rows of type 2, 3 or 4 naming a type-1 order Keel rejected, by type.
    pub rejected_id: BTreeMap<i64, usize>,
    /// Rows of type 2, 3 or 4 naming an order Keel had already filled or
    /// cancelled (the book drifted), by type.
    pub gone: BTreeMap<i64, usize>,
    /// Partial cancellations sent as a full cancel (nothing would remain).
    pub partial_cancel_as_cancel: usize,
    pub trades: usize,
    /// Keel orders cancelled by self-trade prevention.
    pub stp_cancels: usize,
    /// Rejections while converting, by reason code (the same stream replayed
    /// through the engine gives the same rejections).
    pub rejections: BTreeMap<&'static str, usize>,
}

impl LobsterStats {
    pub fn rejected(&self) -> usize {
        self.rejections.values().sum()
    }

    /// Dropped rows by reason, every reason of [`DROP_REASONS`] in its
    /// order, zeros included.
    pub fn dropped_by_reason(&self) -> [(&'static str, usize); DROP_REASONS.len()] {
        let sum = |m: &BTreeMap<i64, usize>| m.values().sum::<usize>();
        let of_type = |t: i64| self.skipped_by_type.get(&t).copied().unwrap_or(0);
        let other_types = self
            .skipped_by_type
            .iter()
            .filter(|(t, _)| !(5..=7).contains(*t))
            .map(|(_, n)| n)
            .sum();
        let counts = [
            of_type(5),
            of_type(6),
            of_type(7),
            other_types,
            sum(&self.unknown_id),
            sum(&self.rejected_id),
            sum(&self.gone),
        ];
        std::array::from_fn(|i| (DROP_REASONS[i], counts[i]))
    }

    /// Rows the converter did not turn into a command (every reason of
    /// [`DROP_REASONS`]): the stream a run replays leaves them out.
    pub fn dropped(&self) -> usize {
        self.dropped_by_reason().iter().map(|(_, n)| n).sum()
    }

    /// The non-zero drop reasons as `reason n, reason n` (`none` if none).
    pub fn dropped_text(&self) -> String {
        let parts: Vec<String> = self
            .dropped_by_reason()
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(r, n)| format!("{r} {n}"))
            .collect();
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(", ")
        }
    }

    /// A one-paragraph summary for reports.
    pub fn summary(&self) -> String {
        format!(
            "rows in file {}, read {}, converted {}, dropped {} ({}; by type: skipped {:?}, unknown id {:?}, \
             rejected id {:?}, gone {:?}), partial cancels sent as cancel {}, trades {}, STP cancels {}, \
             rejections while converting {:?}",
            self.rows_in_file,
            self.rows,
            self.converted,
            self.dropped(),
            self.dropped_text(),
            self.skipped_by_type,
            self.unknown_id,
            self.rejected_id,
            self.gone,
            self.partial_cancel_as_cancel,
            self.trades,
            self.stp_cancels,
            self.rejections
        )
    }
}

/// A converted LOBSTER file.
#[derive(Clone, Debug)]
pub struct LobsterWorkload {
    pub workload: Workload,
    /// The row timestamp of each measured command, ns after midnight.
    pub ts_ns: Vec<u64>,
    pub stats: LobsterStats,
}

/// One parsed message row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message {
    pub ts_ns: u64,
    pub kind: i64,
    pub id: u64,
    pub size: u64,
    pub price: u64,
    pub direction: i64,
}

/// Parses `seconds.fraction` into ns.
fn parse_time(text: &str) -> Option<u64> {
    let (secs, frac) = text.split_once('.').unwrap_or((text, ""));
    let secs: u64 = secs.parse().ok()?;
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut ns: u64 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    for _ in frac.len()..9 {
        ns *= 10;
    }
    secs.checked_mul(1_000_000_000)?.checked_add(ns)
}

/// Parses one row.
pub fn parse_row(line: &str) -> Option<Message> {
    let mut f = line.trim().split(',');
    let ts_ns = parse_time(f.next()?.trim())?;
    let kind = f.next()?.trim().parse().ok()?;
    let id = f.next()?.trim().parse().ok()?;
    let size = f.next()?.trim().parse().ok()?;
    let price: i64 = f.next()?.trim().parse().ok()?;
    let direction = f.next()?.trim().parse().ok()?;
    Some(Message {
        ts_ns,
        kind,
        id,
        size,
        price: price.max(0) as u64,
        direction,
    })
}

/// Reads and converts a message file.
pub fn load(path: &Path, cfg: &LobsterConfig) -> io::Result<LobsterWorkload> {
    let text = std::fs::read_to_string(path)?;
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let m = parse_row(line).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}:{}: not a LOBSTER message row: {line:?}",
                    path.display(),
                    i + 1
                ),
            )
        })?;
        rows.push(m);
        if cfg.max_rows.is_some_and(|max| rows.len() >= max) {
            break;
        }
    }
    let mut w = convert(&rows, cfg);
    w.stats.rows_in_file = text.lines().filter(|l| !l.trim().is_empty()).count();
    Ok(w)
}

/// Limits generous enough for a LOBSTER day.
pub fn limits_for(cfg: &LobsterConfig) -> Limits {
    Limits {
        max_accounts: cfg.maker_accounts + 2,
        max_orders: 1 << 18,
        max_levels: 1 << 17,
        max_open_orders_per_account: u32::MAX,
        max_assets: 2,
        max_symbols: 1,
        ..Limits::default()
    }
}

struct Converter {
    sim: State,
    out: Vec<Event>,
    next_request: Vec<u64>,
    commands: Vec<Command>,
    stats: LobsterStats,
}

impl Converter {
    fn command(&mut self, account: u32, kind: CommandKind) -> Command {
        let request_id = self.next_request[account as usize];
        self.next_request[account as usize] += 1;
        Command {
            account,
            request_id,
            kind,
        }
    }

    /// Processes `cmd` on the simulation, counts what happened, and keeps it.
    fn push(&mut self, cmd: Command, ts: u64) {
        keel_engine::process(&mut self.sim, &cmd, ts, &mut self.out)
            .expect("converted command processes");
        for e in &self.out {
            match e {
                Event::Rejected { reason, .. } => {
                    *self.stats.rejections.entry(reason.code()).or_default() += 1;
                }
                Event::TradeExecuted(_) => self.stats.trades += 1,
                Event::OrderCancelled {
                    reason: keel_engine::model::CancelReason::SelfTradePrevention,
                    ..
                } => self.stats.stp_cancels += 1,
                _ => {}
            }
        }
        self.commands.push(cmd);
    }
}

/// Converts parsed rows (see the module docs for the mapping).
pub fn convert(rows: &[Message], cfg: &LobsterConfig) -> LobsterWorkload {
    assert!(cfg.maker_accounts >= 1, "need a maker account");
    let limits = limits_for(cfg);
    let taker = cfg.maker_accounts + 1;
    let mut c = Converter {
        sim: State::new(limits),
        out: Vec::with_capacity(256),
        next_request: vec![1; taker as usize + 1],
        commands: Vec::new(),
        stats: LobsterStats::default(),
    };
    // Genesis: quote USD (asset 0), base (asset 1), the symbol, accounts.
    let usd = c.command(
        OPERATOR,
        CommandKind::AddAsset {
            name: Name::new("USD").expect("valid name"),
            scale: 4,
        },
    );
    c.push(usd, 0);
    let base_name = Name::new(&cfg.base).expect("base name: 1 to 16 ASCII characters");
    let base = c.command(
        OPERATOR,
        CommandKind::AddAsset {
            name: base_name,
            scale: 0,
        },
    );
    c.push(base, 0);
    let spec = SymbolSpec {
        name: Name::new(&format!("{}-USD", cfg.base)).expect("symbol name"),
        base: 1,
        quote: 0,
        tick_size: Fixed::new(1, 4),
        lot_size: Fixed::new(1, 0),
        maker_fee_bps: 0,
        taker_fee_bps: 0,
    };
    let add = c.command(OPERATOR, CommandKind::AddSymbol(spec));
    c.push(add, 0);
    for account in 1..=taker {
        let open = c.command(account, CommandKind::OpenAccount);
        c.push(open, 0);
        for (asset, amount) in [(0, 1u64 << 58), (1, 1u64 << 50)] {
            let dep = c.command(account, CommandKind::Deposit { asset, amount });
            c.push(dep, 0);
        }
    }
    assert!(
        c.stats.rejections.is_empty(),
        "genesis rejected: {:?}",
        c.stats.rejections
    );
    let setup_len = c.commands.len();
    c.stats = LobsterStats::default();

    // LOBSTER id → the Keel order id, `None` when Keel rejected the place.
    let mut ids: HashMap<u64, Option<OrderId>> = HashMap::new();
    let mut ts_ns = Vec::with_capacity(rows.len());
    let mut next_maker = 0u32;
    let side_of = |direction: i64| {
        if direction > 0 {
            Side::Buy
        } else {
            Side::Sell
        }
    };
    for m in rows {
        c.stats.rows += 1;
        let cmd = match m.kind {
            1 => {
                let account = 1 + next_maker % cfg.maker_accounts;
                next_maker = next_maker.wrapping_add(1);
                let expected = c.sim.next_order_id();
                let cmd = c.command(
                    account,
                    CommandKind::PlaceOrder(PlaceOrder {
                        symbol: 0,
                        side: side_of(m.direction),
                        order_type: OrderType::Limit { price: m.price },
                        qty: m.size,
                        tif: TimeInForce::Gtc,
                        post_only: false,
                        stp: StpMode::CancelOldest,
                    }),
                );
                c.push(cmd, m.ts_ns);
                let accepted = c.sim.next_order_id() != expected;
                ids.insert(m.id, accepted.then_some(expected));
                ts_ns.push(m.ts_ns);
                c.stats.converted += 1;
                continue;
            }
            2..=4 => {
                let Some(&known) = ids.get(&m.id) else {
                    *c.stats.unknown_id.entry(m.kind).or_default() += 1;
                    continue;
                };
                let Some(id) = known else {
                    *c.stats.rejected_id.entry(m.kind).or_default() += 1;
                    continue;
                };
                let Some(order) = c.sim.order(id).copied() else {
                    *c.stats.gone.entry(m.kind).or_default() += 1;
                    continue;
                };
                match m.kind {
                    2 if m.size < order.remaining => c.command(
                        order.account,
                        CommandKind::AmendOrder {
                            order: id,
                            price: order.price,
                            qty: order.remaining - m.size,
                        },
                    ),
                    2 | 3 => {
                        if m.kind == 2 {
                            c.stats.partial_cancel_as_cancel += 1;
                        }
                        c.command(order.account, CommandKind::CancelOrder { order: id })
                    }
                    _ => c.command(
                        taker,
                        CommandKind::PlaceOrder(PlaceOrder {
                            symbol: 0,
                            side: side_of(m.direction).opposite(),
                            order_type: OrderType::Limit { price: m.price },
                            qty: m.size,
                            tif: TimeInForce::Ioc,
                            post_only: false,
                            stp: StpMode::CancelOldest,
                        }),
                    ),
                }
            }
            other => {
                *c.stats.skipped_by_type.entry(other).or_default() += 1;
                continue;
            }
        };
        c.push(cmd, m.ts_ns);
        ts_ns.push(m.ts_ns);
        c.stats.converted += 1;
    }
    let measured = c.commands.split_off(setup_len);
    LobsterWorkload {
        workload: Workload {
            setup: c.commands,
            measured,
            limits,
        },
        ts_ns,
        stats: c.stats,
    }
}

/// The reason codes in the order of `Stats::rejections`.
pub fn reject_codes() -> &'static [&'static str] {
    &RejectReason::CODES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rows_and_times() {
        let m = parse_row("34200.017459617,5,0,1,2238200,-1").unwrap();
        assert_eq!(m.ts_ns, 34_200_017_459_617);
        assert_eq!(
            (m.kind, m.id, m.size, m.price, m.direction),
            (5, 0, 1, 2238200, -1)
        );
        assert_eq!(parse_time("34200.5"), Some(34_200_500_000_000));
        assert_eq!(parse_time("1"), Some(1_000_000_000));
        assert!(parse_row("x,1,2,3,4,5").is_none());
    }

    #[test]
    fn maps_each_type() {
        let row = |kind, id, size, price, direction| Message {
            ts_ns: 1_000,
            kind,
            id,
            size,
            price,
            direction,
        };
        let rows = [
            row(1, 10, 100, 5000, 1), // buy 100 @ 5000
            row(1, 11, 50, 5001, -1), // sell 50 @ 5001
            row(2, 10, 30, 5000, 1),  // partial cancel: 70 left
            row(4, 10, 20, 5000, 1),  // execution of the buy: sell IOC 20 @ 5000
            row(3, 11, 50, 5001, -1), // delete the sell
            row(3, 99, 1, 5001, -1),  // unknown id
            row(5, 0, 1, 5000, -1),   // hidden execution
            row(7, 0, 0, 0, 0),       // halt
            row(2, 10, 500, 5000, 1), // more than remains: cancel
            row(3, 10, 50, 5000, 1),  // gone
            row(6, 0, 10, 5000, 1),   // cross trade
            row(9, 0, 0, 0, 0),       // a type LOBSTER does not define
            row(1, 12, 0, 5000, 1),   // zero quantity: Keel rejects it
            row(4, 12, 0, 5000, 1),   // names the rejected order
        ];
        let w = convert(&rows, &LobsterConfig::default());
        let s = &w.stats;
        assert_eq!(s.rows, 14);
        assert_eq!(s.converted, 7);
        assert_eq!(
            s.skipped_by_type,
            BTreeMap::from([(5, 1), (6, 1), (7, 1), (9, 1)])
        );
        assert_eq!(s.unknown_id, BTreeMap::from([(3, 1)]));
        assert_eq!(s.rejected_id, BTreeMap::from([(4, 1)]));
        assert_eq!(s.gone, BTreeMap::from([(3, 1)]));
        assert_eq!(
            s.dropped_by_reason(),
            [
                ("hidden_execution", 1),
                ("cross_trade", 1),
                ("trading_halt", 1),
                ("unknown_type", 1),
                ("unknown_order", 1),
                ("rejected_order", 1),
                ("order_gone", 1),
            ]
        );
        assert_eq!(s.dropped(), 7);
        assert_eq!(s.converted + s.dropped(), s.rows);
        assert_eq!(s.partial_cancel_as_cancel, 1);
        assert_eq!(s.trades, 1);
        assert_eq!(s.rejections, BTreeMap::from([("zero_value", 1)]), "{s:?}");
        assert_eq!(s.rejected(), 1);
        assert_eq!(w.ts_ns.len(), w.workload.measured.len());
        assert!(matches!(
            w.workload.measured[2].kind,
            CommandKind::AmendOrder {
                qty: 70,
                price: 5000,
                ..
            }
        ));
        assert!(matches!(
            w.workload.measured[3].kind,
            CommandKind::PlaceOrder(PlaceOrder {
                side: Side::Sell,
                tif: TimeInForce::Ioc,
                qty: 20,
                ..
            })
        ));
    }
}
