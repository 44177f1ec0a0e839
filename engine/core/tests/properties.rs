//! Property tests over random command streams.
//!
//! Streams are `Vec<Step>`: each step is a complete `Command` plus its time
//! delta. Cancel/amend steps may carry a *retarget* hint: at run time the
//! order id is replaced by one of the (account's, or anyone's) open orders,
//! so that amends and cancels hit real orders instead of being rejected as
//! unknown most of the time. Values are biased to a narrow price band so that
//! trades happen, with extremes mixed in (0, 1, 2^63, u64::MAX, unknown ids).
//!
//! Checked after EVERY command:
//! - (b) `process` returns Ok (a panic fails the case too);
//! - the event shape: expiries first (exactly the due GTD orders, by
//!   (expiry, id)), then `[Rejected]`, `[AccountOpened, Accepted]` or
//!   `[Accepted, facts...]`;
//! - (c) a rejected command leaves the digest as the expiries alone would,
//!   consumes no order id and does not advance the request id;
//! - (a) `check_invariants()`, plus independent checks: per-asset
//!   conservation, held = Σ reserved of the account's open orders, account
//!   order lists ascending, every open order resting;
//! - a shadow ledger, fed the events with its own arithmetic (scales from the
//!   spec, fees, holds), must match the state's balances, supply and orders;
//!   each trade must be at the maker's price, with the best-priority maker
//!   (price, then time), within the taker's limit/budget, with exact fees;
//! - (d) a replica fed only the events through `apply` digests the same;
//!   the full log replayed from genesis also matches at midpoints and at the
//!   end.

mod support;

use keel_core::Trade;
use std::collections::{BTreeMap, BTreeSet};

use keel_core::core::expire;
use keel_core::{
    apply, process, AccountId, CancelReason, Command, CommandKind, Event, Fixed, Limits,
    MarketBound, Name, OrderId, OrderType, PlaceOrder, Side, State, StpMode, SymbolSpec,
    TimeInForce, OPERATOR,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

fn limits() -> Limits {
    Limits {
        max_accounts: 8,
        max_orders: 24,
        max_open_orders_per_account: 8,
        max_assets: 5,
        max_symbols: 4,
        max_levels: 10,
        ..Limits::default()
    }
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // Do not write regression files into the source tree.
        failure_persistence: None,
        max_shrink_iters: 4_096,
        ..ProptestConfig::default()
    }
}

// ------------------------------------------------------------------ steps

#[derive(Clone, Debug)]
struct Retarget {
    pick: usize,
    /// Pick among every account's orders (so NotOrderOwner happens too).
    any_account: bool,
    /// For an amend: keep the order's price (priority kept if qty shrinks).
    keep_price: bool,
    /// For an amend: set exactly the current price and qty (no change).
    same: bool,
}

#[derive(Clone, Debug)]
struct Step {
    dt: u64,
    cmd: Command,
    retarget: Option<Retarget>,
}

#[derive(Clone, Copy, Debug)]
enum Req {
    Seq,
    Zero,
    Raw(u64),
    Max,
}

fn n(text: &str) -> Name {
    Name::new(text).unwrap()
}

fn genesis(fees: [u16; 4]) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut push = |account, request_id, kind| {
        steps.push(Step {
            dt: 1,
            cmd: Command {
                account,
                request_id,
                kind,
            },
            retarget: None,
        })
    };
    push(
        OPERATOR,
        1,
        CommandKind::AddAsset {
            name: n("BASE"),
            scale: 3,
        },
    );
    push(
        OPERATOR,
        2,
        CommandKind::AddAsset {
            name: n("QUOTE"),
            scale: 2,
        },
    );
    push(
        OPERATOR,
        3,
        CommandKind::AddAsset {
            name: n("ALT"),
            scale: 0,
        },
    );
    // base_per_lot 1000, quote_per_tick_lot 1.
    push(
        OPERATOR,
        4,
        CommandKind::AddSymbol(SymbolSpec {
            name: n("BASE-QUOTE"),
            base: 0,
            quote: 1,
            tick_size: Fixed::new(1, 2),
            lot_size: Fixed::new(1, 0),
            maker_fee_bps: fees[0],
            taker_fee_bps: fees[1],
        }),
    );
    // base_per_lot 2, quote_per_tick_lot 100.
    push(
        OPERATOR,
        5,
        CommandKind::AddSymbol(SymbolSpec {
            name: n("ALT-QUOTE"),
            base: 2,
            quote: 1,
            tick_size: Fixed::new(5, 1),
            lot_size: Fixed::new(2, 0),
            maker_fee_bps: fees[2],
            taker_fee_bps: fees[3],
        }),
    );
    for account in 1..=4 {
        push(account, 1, CommandKind::OpenAccount);
        let rich = account != 4;
        let amounts: [u64; 3] = if rich {
            [1_000_000, 10_000_000, 10_000]
        } else {
            [20_000, 50_000, 100]
        };
        for (asset, amount) in amounts.into_iter().enumerate() {
            push(
                account,
                2 + asset as u64,
                CommandKind::Deposit {
                    asset: asset as u32,
                    amount,
                },
            );
        }
    }
    steps
}

fn fee_bps() -> impl Strategy<Value = u16> {
    prop_oneof![
        4 => Just(0u16),
        2 => Just(1u16),
        6 => 2u16..=300,
        1 => Just(9_999u16),
        1 => Just(10_000u16),
    ]
}

fn price() -> impl Strategy<Value = u64> {
    prop_oneof![
        80 => 97u64..=103,
        4 => 1u64..=300,
        1 => Just(0u64),
        1 => Just(1u64),
        1 => Just(u64::MAX),
        1 => Just(1u64 << 63),
        1 => any::<u64>(),
    ]
}

fn qty() -> impl Strategy<Value = u64> {
    prop_oneof![
        80 => 1u64..=10,
        6 => 11u64..=300,
        1 => Just(0u64),
        1 => Just(u64::MAX),
        1 => Just(1u64 << 63),
        1 => any::<u64>(),
    ]
}

fn amount() -> impl Strategy<Value = u64> {
    prop_oneof![
        12 => 1u64..=100_000,
        3 => 100_001u64..=1_000_000_000,
        1 => Just(0u64),
        1 => Just(u64::MAX),
        1 => Just(1u64 << 63),
        1 => any::<u64>(),
    ]
}

fn budget() -> impl Strategy<Value = u64> {
    prop_oneof![
        8 => 1u64..=5_000,
        3 => 5_001u64..=1_000_000,
        1 => Just(0u64),
        1 => Just(u64::MAX),
        1 => Just(1u64 << 63),
    ]
}

fn account() -> impl Strategy<Value = AccountId> {
    prop_oneof![
        60 => 1u32..=4,
        2 => Just(0u32),
        2 => 5u32..=7,
        1 => Just(8u32),
        1 => Just(u32::MAX),
    ]
}

fn admin_account() -> impl Strategy<Value = AccountId> {
    prop_oneof![4 => Just(OPERATOR), 1 => account()]
}

fn asset() -> impl Strategy<Value = u32> {
    prop_oneof![30 => 0u32..=2, 2 => 3u32..=5, 1 => Just(u32::MAX)]
}

fn symbol() -> impl Strategy<Value = u32> {
    prop_oneof![40 => 0u32..=1, 2 => 2u32..=4, 1 => Just(u32::MAX)]
}

/// Halts mostly hit symbol 1, so that symbol 0 keeps trading.
fn halt_symbol() -> impl Strategy<Value = u32> {
    prop_oneof![8 => Just(1u32), 1 => symbol()]
}

fn order_id() -> impl Strategy<Value = OrderId> {
    prop_oneof![
        6 => 1u64..=80,
        1 => Just(0u64),
        1 => Just(u64::MAX),
        1 => Just(1u64 << 63),
    ]
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Buy), Just(Side::Sell)]
}

fn stp() -> impl Strategy<Value = StpMode> {
    prop_oneof![
        Just(StpMode::CancelNewest),
        Just(StpMode::CancelOldest),
        Just(StpMode::CancelBoth)
    ]
}

/// A time in force; `true` when the GTD expiry is relative to the step's time.
fn tif(market: bool) -> impl Strategy<Value = (TimeInForce, bool)> {
    let gtd_rel = prop_oneof![1 => 0u64..=5, 4 => 6u64..=1_500]
        .prop_map(|d| (TimeInForce::Gtd { expiry_ns: d }, true));
    let gtd_abs = prop_oneof![Just(0u64), Just(1u64), Just(u64::MAX), Just(1u64 << 63)]
        .prop_map(|e| (TimeInForce::Gtd { expiry_ns: e }, false));
    let (gtc, ioc, fok, rel, abs) = if market {
        (1, 6, 4, 1, 1)
    } else {
        (10, 4, 3, 5, 1)
    };
    prop_oneof![
        gtc => Just((TimeInForce::Gtc, false)),
        ioc => Just((TimeInForce::Ioc, false)),
        fok => Just((TimeInForce::Fok, false)),
        rel => gtd_rel,
        abs => gtd_abs,
    ]
}

fn order_type() -> impl Strategy<Value = OrderType> {
    prop_oneof![
        10 => price().prop_map(|price| OrderType::Limit { price }),
        1 => Just(OrderType::Market { bound: MarketBound::None }),
        2 => budget().prop_map(|amount| OrderType::Market {
            bound: MarketBound::QuoteBudget { amount }
        }),
        2 => price().prop_map(|price| OrderType::Market {
            bound: MarketBound::ProtectionPrice { price }
        }),
    ]
}

fn place_order() -> impl Strategy<Value = (PlaceOrder, bool)> {
    (
        symbol(),
        side(),
        order_type(),
        qty(),
        tif(false),
        tif(true),
        prop::bool::weighted(0.08),
        stp(),
    )
        .prop_map(
            |(symbol, side, order_type, qty, limit_tif, market_tif, post_only, stp)| {
                let (tif, rel) = match order_type {
                    OrderType::Limit { .. } => limit_tif,
                    OrderType::Market { .. } => market_tif,
                };
                (
                    PlaceOrder {
                        symbol,
                        side,
                        order_type,
                        qty,
                        tif,
                        post_only,
                        stp,
                    },
                    rel,
                )
            },
        )
}

fn fixed() -> impl Strategy<Value = Fixed> {
    (
        prop_oneof![
            6 => 1u64..=100,
            1 => Just(0u64),
            1 => Just(u64::MAX),
            1 => any::<u64>()
        ],
        prop_oneof![6 => 0u8..=6, 2 => 7u8..=20, 1 => any::<u8>()],
    )
        .prop_map(|(m, s)| Fixed::new(m, s))
}

fn symbol_spec() -> impl Strategy<Value = SymbolSpec> {
    (
        prop::sample::select(vec!["BASE-QUOTE", "ALT-QUOTE", "X-QUOTE", "X-Y", "QUOTE-X"]),
        asset(),
        asset(),
        fixed(),
        fixed(),
        prop_oneof![4 => fee_bps(), 1 => Just(10_001u16), 1 => any::<u16>()],
        prop_oneof![4 => fee_bps(), 1 => Just(10_001u16), 1 => any::<u16>()],
    )
        .prop_map(|(name, base, quote, tick, lot, maker, taker)| SymbolSpec {
            name: n(name),
            base,
            quote,
            tick_size: tick,
            lot_size: lot,
            maker_fee_bps: maker,
            taker_fee_bps: taker,
        })
}

fn retarget() -> impl Strategy<Value = Option<Retarget>> {
    prop_oneof![
        1 => Just(None),
        12 => (
            any::<usize>(),
            prop::bool::weighted(0.15),
            prop::bool::weighted(0.35),
            prop::bool::weighted(0.05)
        )
            .prop_map(|(pick, any_account, keep_price, same)| Some(Retarget {
                pick,
                any_account,
                keep_price,
                same
            })),
    ]
}

/// `(account, kind, gtd expiry is relative, retarget)`.
type Draft = (AccountId, CommandKind, bool, Option<Retarget>);

fn draft() -> impl Strategy<Value = Draft> {
    prop_oneof![
        50 => (account(), place_order())
            .prop_map(|(a, (p, rel))| (a, CommandKind::PlaceOrder(p), rel, None)),
        8 => (account(), order_id(), retarget())
            .prop_map(|(a, order, r)| (a, CommandKind::CancelOrder { order }, false, r)),
        12 => (account(), order_id(), price(), qty(), retarget()).prop_map(
            |(a, order, price, qty, r)| (a, CommandKind::AmendOrder { order, price, qty }, false, r)
        ),
        3 => (account(), prop::option::weighted(0.6, symbol()))
            .prop_map(|(a, symbol)| (a, CommandKind::CancelAll { symbol }, false, None)),
        5 => (account(), asset(), amount())
            .prop_map(|(a, asset, amount)| (a, CommandKind::Deposit { asset, amount }, false, None)),
        4 => (account(), asset(), amount())
            .prop_map(|(a, asset, amount)| (a, CommandKind::Withdraw { asset, amount }, false, None)),
        4 => (account(), account(), asset(), amount()).prop_map(|(a, to, asset, amount)| {
            (a, CommandKind::Transfer { to, asset, amount }, false, None)
        }),
        2 => account().prop_map(|a| (a, CommandKind::OpenAccount, false, None)),
        1 => (admin_account(), halt_symbol())
            .prop_map(|(a, symbol)| (a, CommandKind::HaltSymbol { symbol }, false, None)),
        3 => (admin_account(), halt_symbol())
            .prop_map(|(a, symbol)| (a, CommandKind::ResumeSymbol { symbol }, false, None)),
        1 => (
            admin_account(),
            prop::sample::select(vec!["BASE", "QUOTE", "ALT", "X", "Y"]),
            prop_oneof![4 => 0u8..=18, 1 => 19u8..=255]
        )
            .prop_map(|(a, name, scale)| (
                a,
                CommandKind::AddAsset {
                    name: n(name),
                    scale
                },
                false,
                None
            )),
        1 => (admin_account(), symbol_spec())
            .prop_map(|(a, spec)| (a, CommandKind::AddSymbol(spec), false, None)),
    ]
}

fn req() -> impl Strategy<Value = Req> {
    prop_oneof![
        2_000 => Just(Req::Seq),
        30 => Just(Req::Zero),
        30 => (1u64..=300).prop_map(Req::Raw),
        1 => Just(Req::Max),
    ]
}

fn dt() -> impl Strategy<Value = u64> {
    prop_oneof![8 => 0u64..=3, 2 => 4u64..=40, 1 => Just(0u64)]
}

/// Genesis plus `len` random steps, as complete commands.
fn stream(len: std::ops::Range<usize>) -> impl Strategy<Value = Vec<Step>> {
    (
        [fee_bps(), fee_bps(), fee_bps(), fee_bps()],
        prop::collection::vec((dt(), req(), draft()), len),
    )
        .prop_map(|(fees, drafts)| {
            let mut steps = genesis(fees);
            let mut now: u64 = steps.iter().map(|s| s.dt).sum::<u64>() + START;
            for (i, (dt, req, (account, mut kind, rel, retarget))) in drafts.into_iter().enumerate()
            {
                now += dt;
                if let (true, CommandKind::PlaceOrder(p)) = (rel, &mut kind) {
                    if let TimeInForce::Gtd { expiry_ns } = &mut p.tif {
                        *expiry_ns = now.saturating_add(*expiry_ns);
                    }
                }
                let request_id = match req {
                    Req::Seq => 1_000 + i as u64,
                    Req::Zero => 0,
                    Req::Raw(r) => r,
                    Req::Max => u64::MAX,
                };
                steps.push(Step {
                    dt,
                    cmd: Command {
                        account,
                        request_id,
                        kind,
                    },
                    retarget,
                });
            }
            steps
        })
}

/// Arbitrary commands with arbitrary values (mostly rejected).
fn raw_command() -> impl Strategy<Value = Command> {
    let raw_place = (
        any::<u32>(),
        side(),
        prop_oneof![
            any::<u64>().prop_map(|price| OrderType::Limit { price }),
            Just(OrderType::Market {
                bound: MarketBound::None
            }),
            any::<u64>().prop_map(|amount| OrderType::Market {
                bound: MarketBound::QuoteBudget { amount }
            }),
            any::<u64>().prop_map(|price| OrderType::Market {
                bound: MarketBound::ProtectionPrice { price }
            }),
        ],
        any::<u64>(),
        prop_oneof![
            Just(TimeInForce::Gtc),
            Just(TimeInForce::Ioc),
            Just(TimeInForce::Fok),
            any::<u64>().prop_map(|expiry_ns| TimeInForce::Gtd { expiry_ns }),
        ],
        any::<bool>(),
        stp(),
    )
        .prop_map(
            |(symbol, side, order_type, qty, tif, post_only, stp)| PlaceOrder {
                symbol,
                side,
                order_type,
                qty,
                tif,
                post_only,
                stp,
            },
        );
    let small = |max: u32| prop_oneof![3 => 0..=max, 1 => any::<u32>()];
    let kind =
        prop_oneof![
            Just(CommandKind::OpenAccount),
            (small(5), any::<u64>())
                .prop_map(|(asset, amount)| CommandKind::Deposit { asset, amount }),
            (small(5), any::<u64>())
                .prop_map(|(asset, amount)| CommandKind::Withdraw { asset, amount }),
            (small(9), small(5), any::<u64>())
                .prop_map(|(to, asset, amount)| CommandKind::Transfer { to, asset, amount }),
            raw_place.prop_map(CommandKind::PlaceOrder),
            any::<u64>().prop_map(|order| CommandKind::CancelOrder { order }),
            (any::<u64>(), any::<u64>(), any::<u64>())
                .prop_map(|(order, price, qty)| CommandKind::AmendOrder { order, price, qty }),
            prop::option::of(any::<u32>()).prop_map(|symbol| CommandKind::CancelAll { symbol }),
            any::<u8>().prop_map(|scale| CommandKind::AddAsset {
                name: n("R"),
                scale
            }),
            symbol_spec().prop_map(CommandKind::AddSymbol),
            any::<u32>().prop_map(|symbol| CommandKind::HaltSymbol { symbol }),
            any::<u32>().prop_map(|symbol| CommandKind::ResumeSymbol { symbol }),
        ];
    (small(9), any::<u64>(), kind).prop_map(|(account, request_id, kind)| Command {
        account,
        request_id,
        kind,
    })
}

const START: u64 = 1_000_000;

// ------------------------------------------------------------------ shadow ledger

#[derive(Clone, Debug)]
struct SOrder {
    account: AccountId,
    symbol: u32,
    side: Side,
    price: u64,
    remaining: u64,
    reserved: u64,
    is_market: bool,
    resting: bool,
    seq: u64,
}

#[derive(Clone, Debug)]
struct SSymbol {
    base: u32,
    quote: u32,
    base_per_lot: u64,
    quote_per_tick_lot: u64,
    maker_bps: u16,
    taker_bps: u16,
}

impl SSymbol {
    fn hold_asset(&self, side: Side) -> u32 {
        match side {
            Side::Buy => self.quote,
            Side::Sell => self.base,
        }
    }
    fn notional(&self, price: u64, qty: u64) -> Option<u64> {
        u64::try_from(price as u128 * qty as u128 * self.quote_per_tick_lot as u128).ok()
    }
    /// What an order of `side` for `qty` at `price` must hold.
    fn hold(&self, side: Side, price: u64, qty: u64) -> Option<u64> {
        match side {
            Side::Buy => {
                let n = self.notional(price, qty)?;
                n.checked_add(fee(n, self.maker_bps.max(self.taker_bps)))
            }
            Side::Sell => qty.checked_mul(self.base_per_lot),
        }
    }
}

fn fee(notional: u64, bps: u16) -> u64 {
    (notional as u128 * bps as u128 / 10_000) as u64
}

/// `mantissa × 10^-scale` in units of `10^-target`, if whole and within u64.
fn units(mantissa: u128, scale: u32, target: u32) -> Option<u64> {
    let v = if target >= scale {
        mantissa.checked_mul(10u128.checked_pow(target - scale)?)?
    } else {
        let d = 10u128.checked_pow(scale - target)?;
        if !mantissa.is_multiple_of(d) {
            return None;
        }
        mantissa / d
    };
    u64::try_from(v).ok()
}

/// What the current command is, for the trade checks.
#[derive(Default)]
struct Ctx {
    budget: Option<(OrderId, u64)>,
    spent: u64,
}

#[derive(Default)]
struct Shadow {
    scales: Vec<u8>,
    supply: Vec<u64>,
    symbols: Vec<SSymbol>,
    balances: BTreeMap<AccountId, BTreeMap<u32, (u64, u64)>>,
    orders: BTreeMap<OrderId, SOrder>,
    seq: u64,
    next_order: OrderId,
}

type R = Result<(), TestCaseError>;

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)*) => {
        if !$cond {
            return Err(TestCaseError::fail(format!($($fmt)*)));
        }
    };
}

impl Shadow {
    fn new() -> Shadow {
        let mut s = Shadow {
            next_order: 1,
            ..Shadow::default()
        };
        s.balances.insert(OPERATOR, BTreeMap::new());
        s
    }

    fn bal(&mut self, account: AccountId, asset: u32) -> Result<&mut (u64, u64), TestCaseError> {
        ensure!(
            (asset as usize) < self.scales.len(),
            "shadow: unknown asset {asset}"
        );
        let acct = self
            .balances
            .get_mut(&account)
            .ok_or_else(|| TestCaseError::fail(format!("shadow: unknown account {account}")))?;
        Ok(acct.entry(asset).or_default())
    }

    fn credit(&mut self, account: AccountId, asset: u32, amount: u64) -> R {
        let b = self.bal(account, asset)?;
        b.0 =
            b.0.checked_add(amount)
                .ok_or_else(|| TestCaseError::fail("credit overflow"))?;
        Ok(())
    }

    fn debit(&mut self, account: AccountId, asset: u32, amount: u64) -> R {
        let b = self.bal(account, asset)?;
        ensure!(
            b.0 >= amount,
            "shadow: {account}/{asset} available {} < {amount}",
            b.0
        );
        b.0 -= amount;
        Ok(())
    }

    fn hold(&mut self, account: AccountId, asset: u32, amount: u64) -> R {
        self.debit(account, asset, amount)?;
        self.bal(account, asset)?.1 += amount;
        Ok(())
    }

    fn unhold(&mut self, account: AccountId, asset: u32, amount: u64) -> R {
        let b = self.bal(account, asset)?;
        ensure!(
            b.1 >= amount,
            "shadow: {account}/{asset} held {} < {amount}",
            b.1
        );
        b.1 -= amount;
        Ok(())
    }

    fn end_order(&mut self, id: OrderId) -> R {
        let o = self.orders.remove(&id).unwrap();
        let asset = self.symbols[o.symbol as usize].hold_asset(o.side);
        self.unhold(o.account, asset, o.reserved)?;
        self.credit(o.account, asset, o.reserved)
    }

    fn apply(&mut self, e: &Event, ctx: &mut Ctx) -> R {
        match *e {
            Event::Accepted { .. } | Event::Rejected { .. } => {}
            Event::SymbolHalted { .. } | Event::SymbolResumed { .. } => {}
            Event::AssetAdded { asset, scale, .. } => {
                ensure!(
                    asset as usize == self.scales.len(),
                    "asset id out of sequence"
                );
                self.scales.push(scale);
                self.supply.push(0);
            }
            Event::SymbolAdded { symbol, spec } => {
                ensure!(
                    symbol as usize == self.symbols.len(),
                    "symbol id out of sequence"
                );
                let bs = self.scales[spec.base as usize] as u32;
                let qs = self.scales[spec.quote as usize] as u32;
                let bpl = units(
                    spec.lot_size.mantissa as u128,
                    spec.lot_size.scale as u32,
                    bs,
                );
                let qptl = units(
                    spec.tick_size.mantissa as u128 * spec.lot_size.mantissa as u128,
                    spec.tick_size.scale as u32 + spec.lot_size.scale as u32,
                    qs,
                );
                ensure!(
                    spec.base != spec.quote
                        && spec.maker_fee_bps <= 10_000
                        && spec.taker_fee_bps <= 10_000,
                    "accepted an invalid symbol {spec:?}"
                );
                match (bpl, qptl) {
                    (Some(b), Some(q)) if b > 0 && q > 0 => self.symbols.push(SSymbol {
                        base: spec.base,
                        quote: spec.quote,
                        base_per_lot: b,
                        quote_per_tick_lot: q,
                        maker_bps: spec.maker_fee_bps,
                        taker_bps: spec.taker_fee_bps,
                    }),
                    _ => ensure!(false, "accepted an inexact symbol {spec:?}"),
                }
            }
            Event::AccountOpened { account } => {
                ensure!(
                    self.balances.insert(account, BTreeMap::new()).is_none(),
                    "account {account} opened twice"
                );
            }
            Event::Deposited {
                account,
                asset,
                amount,
            } => {
                ensure!(amount > 0, "zero deposit");
                self.credit(account, asset, amount)?;
                let s = &mut self.supply[asset as usize];
                *s = s
                    .checked_add(amount)
                    .ok_or_else(|| TestCaseError::fail("supply overflow"))?;
            }
            Event::Withdrawn {
                account,
                asset,
                amount,
            } => {
                ensure!(amount > 0, "zero withdrawal");
                self.debit(account, asset, amount)?;
                let s = &mut self.supply[asset as usize];
                ensure!(*s >= amount, "supply underflow");
                *s -= amount;
            }
            Event::Transferred {
                from,
                to,
                asset,
                amount,
            } => {
                ensure!(from != to && amount > 0, "bad transfer {e:?}");
                self.debit(from, asset, amount)?;
                self.credit(to, asset, amount)?;
            }
            Event::OrderAccepted {
                order,
                account,
                symbol,
                side,
                price,
                qty,
                is_market,
                hold,
                ..
            } => {
                ensure!(
                    order == self.next_order,
                    "order id {order} != {}",
                    self.next_order
                );
                self.next_order += 1;
                let asset = self.symbols[symbol as usize].hold_asset(side);
                self.hold(account, asset, hold)?;
                self.orders.insert(
                    order,
                    SOrder {
                        account,
                        symbol,
                        side,
                        price,
                        remaining: qty,
                        reserved: hold,
                        is_market,
                        resting: false,
                        seq: 0,
                    },
                );
            }
            Event::OrderRested { order } => {
                self.seq += 1;
                let seq = self.seq;
                let o = self
                    .orders
                    .get_mut(&order)
                    .ok_or_else(|| TestCaseError::fail("rest unknown"))?;
                ensure!(
                    !o.resting && !o.is_market && o.remaining > 0,
                    "bad rest {o:?}"
                );
                o.resting = true;
                o.seq = seq;
            }
            Event::OrderAmended {
                order,
                price,
                qty,
                reserved,
                priority_kept,
            } => {
                let o = self
                    .orders
                    .get_mut(&order)
                    .ok_or_else(|| TestCaseError::fail("amend unknown"))?;
                ensure!(o.resting, "amend of non-resting order");
                ensure!(
                    priority_kept == (price == o.price && qty < o.remaining),
                    "priority_kept {priority_kept} wrong for {o:?} -> {price}/{qty}"
                );
                let sym = self.symbols[o.symbol as usize].clone();
                ensure!(
                    sym.hold(o.side, price, qty) == Some(reserved),
                    "amend reserved {reserved} != {:?}",
                    sym.hold(o.side, price, qty)
                );
                let (old, account, asset) = (o.reserved, o.account, sym.hold_asset(o.side));
                o.price = price;
                o.remaining = qty;
                o.reserved = reserved;
                if !priority_kept {
                    o.resting = false;
                }
                if reserved > old {
                    self.hold(account, asset, reserved - old)?;
                } else {
                    self.unhold(account, asset, old - reserved)?;
                    self.credit(account, asset, old - reserved)?;
                }
            }
            Event::OrderCancelled {
                order,
                account,
                remaining,
                reason,
            } => {
                let o = self
                    .orders
                    .get(&order)
                    .ok_or_else(|| TestCaseError::fail("cancel unknown"))?;
                ensure!(
                    o.account == account && o.remaining == remaining,
                    "cancel {e:?} does not match {o:?}"
                );
                if reason == CancelReason::IocRemainder {
                    ensure!(!o.resting, "ioc remainder of a resting order");
                }
                self.end_order(order)?;
            }
            Event::TradeExecuted(tr) => {
                let sym = self.symbols[tr.symbol as usize].clone();
                let m = self.orders.get(&tr.maker_order).cloned();
                let t = self.orders.get(&tr.taker_order).cloned();
                let (Some(m), Some(t)) = (m, t) else {
                    return Err(TestCaseError::fail(format!("trade on unknown order {e:?}")));
                };
                ensure!(
                    m.resting && !t.resting && m.symbol == tr.symbol && t.symbol == tr.symbol,
                    "trade {e:?} between {m:?} and {t:?}"
                );
                ensure!(
                    m.account == tr.maker_account
                        && t.account == tr.taker_account
                        && t.side == tr.taker_side
                        && m.side != tr.taker_side,
                    "trade {e:?} fields"
                );
                ensure!(m.account != t.account, "self trade {e:?}");
                ensure!(
                    tr.price == m.price,
                    "trade not at the maker's tr.price {e:?} {m:?}"
                );
                ensure!(
                    tr.qty > 0 && tr.qty <= m.remaining && tr.qty <= t.remaining,
                    "trade tr.qty {e:?}"
                );
                // Price-time priority: nothing better resting on the maker side.
                for (id, o) in &self.orders {
                    if o.resting
                        && o.symbol == tr.symbol
                        && o.side == m.side
                        && *id != tr.maker_order
                    {
                        let better = match m.side {
                            Side::Buy => o.price > m.price,
                            Side::Sell => o.price < m.price,
                        };
                        ensure!(
                            !(better || o.price == m.price && o.seq < m.seq),
                            "trade {e:?} skipped order {id} {o:?}"
                        );
                    }
                }
                if !(t.is_market && t.price == 0) {
                    let ok = match tr.taker_side {
                        Side::Buy => tr.price <= t.price,
                        Side::Sell => tr.price >= t.price,
                    };
                    ensure!(ok, "trade {e:?} beyond taker limit {t:?}");
                }
                let notional = sym
                    .notional(tr.price, tr.qty)
                    .ok_or_else(|| TestCaseError::fail("notional overflow in a trade"))?;
                ensure!(
                    tr.maker_fee == fee(notional, sym.maker_bps)
                        && tr.taker_fee == fee(notional, sym.taker_bps),
                    "fees of {e:?}: notional {notional}"
                );
                if let Some((id, budget)) = ctx.budget {
                    if id == tr.taker_order {
                        ctx.spent = ctx
                            .spent
                            .saturating_add(notional)
                            .saturating_add(tr.taker_fee);
                        ensure!(
                            ctx.spent <= budget,
                            "budget {budget} exceeded: {}",
                            ctx.spent
                        );
                    }
                }
                let base = tr
                    .qty
                    .checked_mul(sym.base_per_lot)
                    .ok_or_else(|| TestCaseError::fail("base overflow in a trade"))?;
                let (buyer, seller, buyer_fee, seller_fee) = match tr.taker_side {
                    Side::Buy => (tr.taker_order, tr.maker_order, tr.taker_fee, tr.maker_fee),
                    Side::Sell => (tr.maker_order, tr.taker_order, tr.maker_fee, tr.taker_fee),
                };
                let cost = notional + buyer_fee;
                for (id, amount) in [(buyer, cost), (seller, base)] {
                    let o = self.orders.get_mut(&id).unwrap();
                    ensure!(
                        o.reserved >= amount,
                        "order {id} reserves {} < {amount}",
                        o.reserved
                    );
                    o.reserved -= amount;
                    o.remaining -= tr.qty;
                    let (acct, asset) = (o.account, sym.hold_asset(o.side));
                    self.unhold(acct, asset, amount)?;
                }
                let (ba, sa) = (self.orders[&buyer].account, self.orders[&seller].account);
                self.credit(ba, sym.base, base)?;
                self.credit(sa, sym.quote, notional - seller_fee)?;
                self.credit(OPERATOR, sym.quote, tr.maker_fee + tr.taker_fee)?;
                for id in [tr.maker_order, tr.taker_order] {
                    if self.orders[&id].remaining == 0 {
                        self.end_order(id)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The shadow must agree with the state, and its book must be sane.
    fn compare(&self, state: &State) -> R {
        let accounts: BTreeSet<AccountId> = state.accounts().map(|(id, _)| id).collect();
        let shadow_accounts: BTreeSet<AccountId> = self.balances.keys().copied().collect();
        ensure!(
            accounts == shadow_accounts,
            "accounts {accounts:?} vs {shadow_accounts:?}"
        );
        ensure!(state.assets().len() == self.scales.len(), "asset count");
        for (asset, a) in state.assets().iter().enumerate() {
            ensure!(
                a.supply == self.supply[asset],
                "asset {asset} supply {} vs shadow {}",
                a.supply,
                self.supply[asset]
            );
        }
        for (&account, bals) in &self.balances {
            for asset in 0..self.scales.len() as u32 {
                let b = state.balance(account, asset).unwrap();
                let s = bals.get(&asset).copied().unwrap_or_default();
                ensure!(
                    (b.available, b.held) == s,
                    "account {account} asset {asset}: state {:?} vs shadow {s:?}",
                    (b.available, b.held)
                );
            }
        }
        ensure!(state.symbols().len() == self.symbols.len(), "symbol count");
        for (id, s) in self.symbols.iter().enumerate() {
            let sc = state.symbol(id as u32).unwrap().scales;
            ensure!(
                (sc.base_per_lot, sc.quote_per_tick_lot) == (s.base_per_lot, s.quote_per_tick_lot),
                "symbol {id} scales {sc:?} vs shadow {s:?}"
            );
        }
        ensure!(state.next_order_id() == self.next_order, "next order id");
        let mut n = 0;
        for o in self.orders.values() {
            ensure!(o.resting, "order not resting between commands: {o:?}");
            n += 1;
        }
        ensure!(state.open_order_count() == n, "open order count");
        for (&id, o) in &self.orders {
            let so = state
                .order(id)
                .ok_or_else(|| TestCaseError::fail(format!("order {id} missing")))?;
            ensure!(
                (
                    so.account,
                    so.symbol,
                    so.side,
                    so.price,
                    so.remaining,
                    so.reserved
                ) == (
                    o.account,
                    o.symbol,
                    o.side,
                    o.price,
                    o.remaining,
                    o.reserved
                ),
                "order {id}: state {so:?} vs shadow {o:?}"
            );
        }
        // Depth from the shadow: best first, FIFO irrelevant to totals.
        for symbol in 0..self.symbols.len() as u32 {
            let mut best = [None::<u64>, None::<u64>];
            for side in [Side::Buy, Side::Sell] {
                let mut levels: BTreeMap<u64, (u64, u32)> = BTreeMap::new();
                for o in self.orders.values() {
                    if o.symbol == symbol && o.side == side {
                        let l = levels.entry(o.price).or_default();
                        l.0 += o.remaining;
                        l.1 += 1;
                    }
                }
                let mut expected: Vec<(u64, u64, u32)> =
                    levels.into_iter().map(|(p, (q, c))| (p, q, c)).collect();
                if side == Side::Buy {
                    expected.reverse();
                }
                best[side as usize] = expected.first().map(|l| l.0);
                let depth = state.depth(symbol, side);
                ensure!(
                    depth == expected,
                    "symbol {symbol} {side:?} depth {depth:?} vs shadow {expected:?}"
                );
            }
            if let [Some(bid), Some(ask)] = best {
                ensure!(bid < ask, "symbol {symbol} crossed: {bid} >= {ask}");
            }
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ runner

/// The checks the brief asks for directly on the state (independent of
/// `check_invariants`).
fn independent_checks(state: &State) -> R {
    for (asset, a) in state.assets().iter().enumerate() {
        let total: u128 = state
            .accounts()
            .map(|(_, acct)| {
                let b = acct.balance(asset as u32);
                b.available as u128 + b.held as u128
            })
            .sum();
        ensure!(
            total == a.supply as u128,
            "asset {asset}: Σ {total} != supply {}",
            a.supply
        );
    }
    for (id, acct) in state.accounts() {
        let mut reserved: BTreeMap<u32, u128> = BTreeMap::new();
        let mut last = 0;
        let mut count = 0;
        for o in state.account_orders(id) {
            ensure!(o.id > last, "account {id} orders not ascending");
            ensure!(
                o.is_resting() && o.account == id,
                "order {} not resting/owned",
                o.id
            );
            last = o.id;
            count += 1;
            let sym = state.symbol(o.symbol).unwrap();
            *reserved.entry(state.hold_asset(sym, o.side)).or_default() += o.reserved as u128;
        }
        ensure!(acct.open_orders == count, "account {id} open_orders");
        for (asset, b) in acct.balances.iter().enumerate() {
            let r = reserved.get(&(asset as u32)).copied().unwrap_or(0);
            ensure!(
                b.held as u128 == r,
                "account {id} asset {asset}: held {} != Σ reserved {r}",
                b.held
            );
        }
    }
    Ok(())
}

struct Runner {
    state: State,
    replica: State,
    shadow: Shadow,
    log: Vec<Event>,
    now: u64,
    rejected: usize,
    trades: usize,
}

impl Runner {
    fn new() -> Runner {
        Runner {
            state: State::new(limits()),
            replica: State::new(limits()),
            shadow: Shadow::new(),
            log: Vec::new(),
            now: START,
            rejected: 0,
            trades: 0,
        }
    }

    fn resolve(&self, step: &Step) -> Command {
        let mut cmd = step.cmd;
        let Some(r) = &step.retarget else {
            return cmd;
        };
        let candidates: Vec<_> = if r.any_account {
            self.state
                .accounts()
                .flat_map(|(id, _)| self.state.account_orders(id))
                .copied()
                .collect()
        } else {
            self.state.account_orders(cmd.account).copied().collect()
        };
        if candidates.is_empty() {
            return cmd;
        }
        let o = candidates[r.pick % candidates.len()];
        match &mut cmd.kind {
            CommandKind::CancelOrder { order } => *order = o.id,
            CommandKind::AmendOrder { order, price, qty } => {
                *order = o.id;
                if r.same {
                    (*price, *qty) = (o.price, o.remaining);
                } else if r.keep_price {
                    *price = o.price;
                }
            }
            _ => {}
        }
        cmd
    }

    fn step(&mut self, step: &Step) -> R {
        self.now += step.dt;
        let now = self.now;
        let cmd = self.resolve(step);
        let before = self.state.clone();
        let mut out = Vec::new();
        let res = process(&mut self.state, &cmd, now, &mut out);
        ensure!(res.is_ok(), "process({cmd:?}) at {now} -> {res:?}");

        // Expiries first: exactly the due GTD orders, by (expiry, id).
        let k = out
            .iter()
            .take_while(|e| {
                matches!(
                    e,
                    Event::OrderCancelled {
                        reason: CancelReason::Expired,
                        ..
                    }
                )
            })
            .count();
        let (expired, rest) = out.split_at(k);
        let mut due: Vec<(u64, OrderId, AccountId, u64)> = before
            .accounts()
            .flat_map(|(id, _)| before.account_orders(id))
            .filter_map(|o| match o.tif() {
                TimeInForce::Gtd { expiry_ns } if expiry_ns <= now => {
                    Some((expiry_ns, o.id, o.account, o.remaining))
                }
                _ => None,
            })
            .collect();
        due.sort();
        let expected: Vec<Event> = due
            .iter()
            .map(|&(_, order, account, remaining)| Event::OrderCancelled {
                order,
                account,
                remaining,
                reason: CancelReason::Expired,
            })
            .collect();
        ensure!(expired == expected, "expiries {expired:?} != {expected:?}");

        let last_before = before.account(cmd.account).map(|a| a.last_request_id);
        let is_rejected = match rest {
            [Event::Rejected {
                account,
                request_id,
                ..
            }] => {
                ensure!(
                    *account == cmd.account && *request_id == cmd.request_id,
                    "rejection names the wrong command"
                );
                true
            }
            [Event::AccountOpened { account }, Event::Accepted {
                account: a2,
                request_id,
            }] => {
                ensure!(
                    matches!(cmd.kind, CommandKind::OpenAccount)
                        && *account == cmd.account
                        && *a2 == cmd.account
                        && *request_id == cmd.request_id,
                    "bad open {rest:?} for {cmd:?}"
                );
                false
            }
            [Event::Accepted {
                account,
                request_id,
            }, facts @ ..] => {
                ensure!(
                    !matches!(cmd.kind, CommandKind::OpenAccount)
                        && *account == cmd.account
                        && *request_id == cmd.request_id,
                    "bad acceptance {rest:?} for {cmd:?}"
                );
                ensure!(
                    !facts.iter().any(|e| matches!(
                        e,
                        Event::Accepted { .. }
                            | Event::Rejected { .. }
                            | Event::AccountOpened { .. }
                    )),
                    "stray outcome in {rest:?}"
                );
                ensure!(
                    cmd.request_id > last_before.unwrap_or(0),
                    "accepted a duplicate {cmd:?}"
                );
                false
            }
            _ => {
                return Err(TestCaseError::fail(format!(
                    "bad event shape {out:?} for {cmd:?}"
                )))
            }
        };

        if is_rejected {
            self.rejected += 1;
            let mut expired_only = before.clone();
            let mut v = Vec::new();
            expire(&mut expired_only, now, &mut v, u32::MAX).unwrap();
            ensure!(v == expired, "expire() disagrees with process()");
            ensure!(
                expired_only.digest() == self.state.digest(),
                "rejected {cmd:?} changed the state: {out:?}"
            );
            ensure!(
                self.state.next_order_id() == before.next_order_id(),
                "rejected command consumed an order id"
            );
            ensure!(
                self.state.account(cmd.account).map(|a| a.last_request_id) == last_before,
                "rejection advanced the request id"
            );
        } else {
            ensure!(
                self.state.account(cmd.account).map(|a| a.last_request_id) == Some(cmd.request_id),
                "acceptance did not record the request id"
            );
            ensure!(
                !cmd.kind.is_admin() || cmd.account == OPERATOR,
                "admin command accepted from {}",
                cmd.account
            );
            self.check_accepted(&before, &cmd, rest, now)?;
        }

        // (a)
        if let Err(v) = self.state.check_invariants() {
            ensure!(false, "after {cmd:?} -> {out:?}: {v}");
        }
        independent_checks(&self.state)?;

        // Shadow ledger.
        let mut ctx = Ctx::default();
        if let CommandKind::PlaceOrder(PlaceOrder {
            order_type:
                OrderType::Market {
                    bound: MarketBound::QuoteBudget { amount },
                },
            ..
        }) = cmd.kind
        {
            ctx.budget = Some((before.next_order_id(), amount));
        }
        for (i, e) in out.iter().enumerate() {
            if i == k {
                // Expiries are applied: the shadow book is what the command
                // meets. Compare the engine's walk with the reference one.
                self.check_walk(&cmd, rest)?;
            }
            if let Err(err) = self.shadow.apply(e, &mut ctx) {
                ensure!(false, "shadow rejects {e:?} of {cmd:?} -> {out:?}: {err}");
            }
            if matches!(e, Event::TradeExecuted(_)) {
                self.trades += 1;
            }
        }
        if let Err(err) = self.shadow.compare(&self.state) {
            ensure!(false, "after {cmd:?} -> {out:?}: {err}");
        }

        // (d) incrementally.
        for e in &out {
            let r = apply(&mut self.replica, e);
            ensure!(r.is_ok(), "replica apply({e:?}) -> {r:?}");
        }
        ensure!(
            self.replica.digest() == self.state.digest(),
            "replica diverged after {cmd:?} -> {out:?}"
        );
        self.log.extend_from_slice(&out);
        Ok(())
    }

    /// Compares the engine's fills for a place or an amend that loses
    /// priority with an independent reference walk over the shadow book
    /// (taken after the expiries). Also proves every `FokNotFillable`.
    fn check_walk(&self, cmd: &Command, rest: &[Event]) -> R {
        let rejected_reason = match rest {
            [Event::Rejected { reason, .. }] => Some(*reason),
            _ => None,
        };
        // (order id, account, symbol, side, limit, qty, budget, stp, rests, fok)
        let (id, symbol, side, limit, qty, budget, stp, rests, fok, facts_from) = match cmd.kind {
            CommandKind::PlaceOrder(p) => {
                let (limit, budget) = match p.order_type {
                    OrderType::Limit { price } => (Some(price), None),
                    OrderType::Market {
                        bound: MarketBound::ProtectionPrice { price },
                    } => (Some(price), None),
                    OrderType::Market {
                        bound: MarketBound::QuoteBudget { amount },
                    } => (None, Some(amount)),
                    OrderType::Market {
                        bound: MarketBound::None,
                    } => (None, None),
                };
                let rests = matches!(p.order_type, OrderType::Limit { .. })
                    && matches!(p.tif, TimeInForce::Gtc | TimeInForce::Gtd { .. });
                let fok = p.tif == TimeInForce::Fok;
                match rejected_reason {
                    Some(keel_core::RejectReason::FokNotFillable) => {}
                    Some(_) => return Ok(()),
                    None => {}
                }
                (
                    self.shadow.next_order,
                    p.symbol,
                    p.side,
                    limit,
                    p.qty,
                    budget,
                    p.stp,
                    rests,
                    fok,
                    2,
                )
            }
            CommandKind::AmendOrder { order, price, qty } => {
                if rejected_reason.is_some() {
                    return Ok(());
                }
                let Some(Event::OrderAmended {
                    priority_kept: false,
                    ..
                }) = rest.get(1)
                else {
                    return Ok(());
                };
                let o = &self.shadow.orders[&order];
                // The engine's Taker carries the order's STP mode; the shadow
                // does not keep it, so read it from the pre-command state.
                let stp = self.state_stp(order);
                (
                    order,
                    o.symbol,
                    o.side,
                    Some(price),
                    qty,
                    None,
                    stp,
                    true,
                    false,
                    2,
                )
            }
            _ => return Ok(()),
        };
        let account = cmd.account;
        let Some(sym) = self.shadow.symbols.get(symbol as usize).cloned() else {
            return Ok(());
        };
        let mut makers: Vec<(OrderId, &SOrder)> = self
            .shadow
            .orders
            .iter()
            .filter(|(oid, o)| o.resting && o.symbol == symbol && o.side != side && **oid != id)
            .map(|(oid, o)| (*oid, o))
            .collect();
        makers.sort_by_key(|(_, o)| {
            let key = match o.side {
                Side::Sell => o.price,
                Side::Buy => u64::MAX - o.price,
            };
            (key, o.seq)
        });
        #[derive(Debug, PartialEq)]
        enum Fact {
            Trade(OrderId, u64, u64),
            StpMaker(OrderId),
            StpTaker(u64),
        }
        let mut expected = Vec::new();
        let mut remaining = qty;
        let mut left = budget;
        let mut overflow = false;
        'walk: for (mid, m) in makers {
            if let Some(l) = limit {
                let ok = match side {
                    Side::Buy => m.price <= l,
                    Side::Sell => m.price >= l,
                };
                if !ok {
                    break;
                }
            }
            if let Some(b) = left {
                // Out of budget (one lot at this price, fee included, is
                // unaffordable): stop, checked before self-trade prevention.
                let one = sym
                    .notional(m.price, 1)
                    .and_then(|n| n.checked_add(fee(n, sym.taker_bps)));
                if one.is_none_or(|c| c > b) {
                    break;
                }
            }
            if m.account == account {
                match stp {
                    StpMode::CancelOldest => {
                        expected.push(Fact::StpMaker(mid));
                        continue;
                    }
                    StpMode::CancelNewest => {
                        expected.push(Fact::StpTaker(remaining));
                    }
                    StpMode::CancelBoth => {
                        expected.push(Fact::StpMaker(mid));
                        expected.push(Fact::StpTaker(remaining));
                    }
                }
                break 'walk;
            }
            let mut fill = remaining.min(m.remaining);
            if let Some(b) = left {
                // Largest f <= fill with notional + taker fee <= b.
                let cost = |f: u64| {
                    sym.notional(m.price, f)
                        .and_then(|n| n.checked_add(fee(n, sym.taker_bps)))
                };
                let (mut lo, mut hi) = (0u64, fill);
                while lo < hi {
                    let mid = lo + (hi - lo).div_ceil(2);
                    if cost(mid).is_some_and(|c| c <= b) {
                        lo = mid;
                    } else {
                        hi = mid - 1;
                    }
                }
                fill = lo;
                if fill == 0 {
                    break;
                }
                left = Some(b - cost(fill).unwrap());
            }
            if sym.notional(m.price, fill).is_none() || fill.checked_mul(sym.base_per_lot).is_none()
            {
                overflow = true;
                break;
            }
            expected.push(Fact::Trade(mid, m.price, fill));
            remaining -= fill;
            if remaining == 0 {
                break;
            }
        }
        if overflow {
            return Ok(());
        }
        let taker_cancelled = matches!(expected.last(), Some(Fact::StpTaker(_)));
        let fillable = remaining == 0;
        if fok {
            ensure!(
                fillable == rejected_reason.is_none(),
                "FOK {cmd:?}: reference fillable={fillable} ({expected:?}) but engine {rest:?}"
            );
            if !fillable {
                return Ok(());
            }
        }
        let mut got = Vec::new();
        let mut tail = Vec::new();
        for e in &rest[facts_from..] {
            match *e {
                Event::TradeExecuted(Trade {
                    maker_order,
                    taker_order,
                    price,
                    qty,
                    ..
                }) if taker_order == id => got.push(Fact::Trade(maker_order, price, qty)),
                Event::OrderCancelled {
                    order,
                    remaining,
                    reason: CancelReason::SelfTradePrevention,
                    ..
                } => got.push(if order == id {
                    Fact::StpTaker(remaining)
                } else {
                    Fact::StpMaker(order)
                }),
                other => tail.push(other),
            }
        }
        ensure!(
            got == expected,
            "walk of {cmd:?}: engine {got:?}, reference {expected:?}"
        );
        let expected_tail = if remaining == 0 || taker_cancelled {
            vec![]
        } else if rests {
            vec![Event::OrderRested { order: id }]
        } else {
            vec![Event::OrderCancelled {
                order: id,
                account,
                remaining,
                reason: CancelReason::IocRemainder,
            }]
        };
        ensure!(
            tail == expected_tail,
            "end of walk of {cmd:?}: engine {tail:?}, reference {expected_tail:?}"
        );
        Ok(())
    }

    /// An order's STP mode, from the replica (one command behind here, so
    /// it still holds an order the command ended).
    fn state_stp(&self, order: OrderId) -> StpMode {
        self.replica
            .order(order)
            .map(|o| o.stp)
            .expect("amended order known")
    }

    /// Checks of an accepted place/amend against the command.
    fn check_accepted(&self, before: &State, cmd: &Command, rest: &[Event], now: u64) -> R {
        let facts = &rest[1..];
        match cmd.kind {
            CommandKind::PlaceOrder(p) => {
                let id = before.next_order_id();
                let sym = self.shadow.symbols[p.symbol as usize].clone();
                let (price, is_market, hold) = match p.order_type {
                    OrderType::Limit { price } => (price, false, sym.hold(p.side, price, p.qty)),
                    OrderType::Market {
                        bound: MarketBound::ProtectionPrice { price },
                    } => (price, true, sym.hold(p.side, price, p.qty)),
                    OrderType::Market {
                        bound: MarketBound::QuoteBudget { amount },
                    } => (0, true, Some(amount)),
                    OrderType::Market {
                        bound: MarketBound::None,
                    } => (0, true, sym.hold(p.side, 0, p.qty)),
                };
                let expected = Event::OrderAccepted {
                    order: id,
                    account: cmd.account,
                    symbol: p.symbol,
                    side: p.side,
                    price,
                    qty: p.qty,
                    is_market,
                    tif: p.tif,
                    post_only: p.post_only,
                    stp: p.stp,
                    hold: hold.unwrap_or(u64::MAX),
                };
                ensure!(
                    hold.is_some() && facts.first() == Some(&expected),
                    "placed {p:?}: {facts:?}, expected {expected:?}"
                );
                ensure!(
                    p.qty > 0 && !before.symbol(p.symbol).unwrap().halted,
                    "bad accept"
                );
                if let TimeInForce::Gtd { expiry_ns } = p.tif {
                    ensure!(
                        expiry_ns > now,
                        "GTD accepted with expiry {expiry_ns} <= {now}"
                    );
                }
                let filled: u64 = facts
                    .iter()
                    .filter_map(|e| match e {
                        Event::TradeExecuted(Trade {
                            taker_order, qty, ..
                        }) if *taker_order == id => Some(*qty),
                        _ => None,
                    })
                    .sum();
                let rested = facts.contains(&Event::OrderRested { order: id });
                if rested {
                    ensure!(
                        !is_market && matches!(p.tif, TimeInForce::Gtc | TimeInForce::Gtd { .. }),
                        "{p:?} rested"
                    );
                }
                if p.tif == TimeInForce::Fok {
                    ensure!(
                        filled == p.qty,
                        "FOK accepted but filled {filled} of {}",
                        p.qty
                    );
                }
                if p.post_only {
                    ensure!(filled == 0, "post-only order traded as taker");
                }
                // Every order ends or rests within the command.
                let ended = self.state.order(id).is_none();
                ensure!(ended != rested, "order {id} neither ended nor rested");
            }
            CommandKind::AmendOrder { order, price, qty } => {
                let o = before.order(order).unwrap();
                ensure!(o.account == cmd.account, "amended someone else's order");
                ensure!(
                    !before.symbol(o.symbol).unwrap().halted,
                    "amended on a halted symbol"
                );
                ensure!(
                    matches!(facts.first(), Some(Event::OrderAmended { order: a, price: p, qty: q, .. })
                        if *a == order && *p == price && *q == qty),
                    "amend events {facts:?}"
                );
            }
            CommandKind::CancelOrder { order } => {
                let o = before.order(order).unwrap();
                ensure!(
                    o.account == cmd.account
                        && facts
                            == [Event::OrderCancelled {
                                order,
                                account: cmd.account,
                                remaining: o.remaining,
                                reason: CancelReason::User
                            }],
                    "cancel events {facts:?}"
                );
            }
            CommandKind::CancelAll { symbol } => {
                let expected: Vec<Event> = before
                    .account_orders(cmd.account)
                    .filter(|o| symbol.is_none_or(|s| s == o.symbol))
                    .filter(
                        |o| !matches!(o.tif(), TimeInForce::Gtd { expiry_ns } if expiry_ns <= now),
                    )
                    .map(|o| Event::OrderCancelled {
                        order: o.id,
                        account: cmd.account,
                        remaining: o.remaining,
                        reason: CancelReason::MassCancel,
                    })
                    .collect();
                ensure!(
                    facts == expected.as_slice(),
                    "cancel-all {facts:?} vs {expected:?}"
                );
            }
            _ => {}
        }
        Ok(())
    }

    /// Rebuilds from genesis by applying the whole log; must digest the same.
    fn check_rebuild(&self) -> R {
        let mut rebuilt = State::new(limits());
        for (i, e) in self.log.iter().enumerate() {
            let r = apply(&mut rebuilt, e);
            ensure!(r.is_ok(), "rebuild: event {i} {e:?} -> {r:?}");
        }
        ensure!(
            rebuilt.digest() == self.state.digest(),
            "rebuilt state differs"
        );
        if let Err(v) = rebuilt.check_invariants() {
            ensure!(false, "rebuilt state: {v}");
        }
        Ok(())
    }
}

fn run_stream(steps: &[Step]) -> Result<Runner, TestCaseError> {
    let mut runner = Runner::new();
    let mid = [steps.len() / 3, 2 * steps.len() / 3];
    for (i, step) in steps.iter().enumerate() {
        runner.step(step)?;
        if mid.contains(&i) {
            runner.check_rebuild()?;
        }
    }
    runner.check_rebuild()?;
    Ok(runner)
}

proptest! {
    #![proptest_config(config(256))]

    /// Realistic streams over every command type.
    #[test]
    fn random_streams_keep_every_property(steps in stream(1..400)) {
        run_stream(&steps)?;
    }
}

proptest! {
    #![proptest_config(config(64))]

    /// Arbitrary values everywhere (after the same genesis): mostly rejections,
    /// which must change nothing.
    #[test]
    fn arbitrary_commands_are_handled(
        fees in [fee_bps(), fee_bps(), fee_bps(), fee_bps()],
        cmds in prop::collection::vec((0u64..=5, raw_command()), 1..200),
    ) {
        let mut steps = genesis(fees);
        steps.extend(cmds.into_iter().map(|(dt, cmd)| Step { dt, cmd, retarget: None }));
        run_stream(&steps)?;
    }
}

/// The generators do produce trades, rests, expiries and rejections (a
/// guard against a strategy that silently stops exercising the engine).
#[test]
fn streams_exercise_the_engine() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut trades, mut rejected, mut events) = (0, 0, 0);
    let mut names = BTreeSet::new();
    for _ in 0..16 {
        let steps = stream(250..300).new_tree(&mut runner).unwrap().current();
        let r = run_stream(&steps).unwrap();
        trades += r.trades;
        rejected += r.rejected;
        events += r.log.len();
        for e in &r.log {
            names.insert(match e {
                Event::OrderCancelled { reason, .. } => reason.code(),
                other => other.name(),
            });
        }
    }
    assert!(trades > 150, "only {trades} trades");
    assert!(
        rejected > 100 && rejected < events / 2,
        "{rejected} rejections"
    );
    for needed in [
        "trade_executed",
        "order_rested",
        "order_amended",
        "expired",
        "ioc_remainder",
        "self_trade_prevention",
        "mass_cancel",
        "user",
        "transferred",
        "withdrawn",
        "symbol_halted",
        "symbol_resumed",
        "account_opened",
    ] {
        assert!(names.contains(needed), "no {needed} in {names:?}");
    }
}

// ------------------------------------------------------------------ apply on garbage

/// A state with two symbols, funded accounts, and resting orders 1 (account
/// 1, buy 2 @ 100) and 2 (account 2, sell 3 @ 105) on symbol 0.
fn populated() -> State {
    let mut runner = Runner::new();
    let mut steps = genesis([10, 20, 0, 0]);
    let mut r = 100;
    let mut push = |account, kind| {
        r += 1;
        steps.push(Step {
            dt: 1,
            cmd: Command {
                account,
                request_id: r,
                kind,
            },
            retarget: None,
        });
    };
    push(1, support::place(support::limit(0, Side::Buy, 100, 2)));
    push(2, support::place(support::limit(0, Side::Sell, 105, 3)));
    push(
        3,
        support::place(PlaceOrder {
            tif: TimeInForce::Gtd {
                expiry_ns: u64::MAX,
            },
            ..support::limit(1, Side::Sell, 50, 1)
        }),
    );
    for s in &steps {
        runner.step(s).unwrap();
    }
    assert_eq!(runner.state.open_order_count(), 3);
    runner.state
}

fn garbage_events() -> Vec<(&'static str, Event)> {
    let trade = Event::TradeExecuted(Trade {
        symbol: 0,
        maker_order: 1,
        taker_order: 2,
        maker_account: 1,
        taker_account: 2,
        taker_side: Side::Sell,
        price: 100,
        qty: 1,
        maker_fee: 0,
        taker_fee: 0,
    });
    let accept = Event::OrderAccepted {
        order: 4,
        account: 1,
        symbol: 0,
        side: Side::Buy,
        price: 100,
        qty: 1,
        is_market: false,
        tif: TimeInForce::Gtc,
        post_only: false,
        stp: StpMode::CancelNewest,
        hold: 100,
    };
    let with = |f: &dyn Fn(&mut Event)| {
        let mut e = trade;
        f(&mut e);
        e
    };
    let acc = |f: &dyn Fn(&mut Event)| {
        let mut e = accept;
        f(&mut e);
        e
    };
    macro_rules! tset {
        ($field:ident = $v:expr) => {
            |e: &mut Event| {
                if let Event::TradeExecuted(Trade { $field, .. }) = e {
                    *$field = $v;
                }
            }
        };
    }
    macro_rules! aset {
        ($field:ident = $v:expr) => {
            |e: &mut Event| {
                if let Event::OrderAccepted { $field, .. } = e {
                    *$field = $v;
                }
            }
        };
    }
    vec![
        (
            "accepted: unknown account",
            Event::Accepted {
                account: 7,
                request_id: 1,
            },
        ),
        (
            "accepted: request id not above last",
            Event::Accepted {
                account: 1,
                request_id: 1,
            },
        ),
        (
            "asset added out of sequence",
            Event::AssetAdded {
                asset: 9,
                name: n("Q"),
                scale: 0,
            },
        ),
        (
            "asset added reusing an id",
            Event::AssetAdded {
                asset: 0,
                name: n("Q"),
                scale: 0,
            },
        ),
        (
            "symbol added out of sequence",
            Event::SymbolAdded {
                symbol: 7,
                spec: SymbolSpec {
                    name: n("Z"),
                    base: 0,
                    quote: 1,
                    tick_size: Fixed::new(1, 0),
                    lot_size: Fixed::new(1, 0),
                    maker_fee_bps: 0,
                    taker_fee_bps: 0,
                },
            },
        ),
        (
            "symbol added with unknown asset",
            Event::SymbolAdded {
                symbol: 2,
                spec: SymbolSpec {
                    name: n("Z"),
                    base: 0,
                    quote: 9,
                    tick_size: Fixed::new(1, 0),
                    lot_size: Fixed::new(1, 0),
                    maker_fee_bps: 0,
                    taker_fee_bps: 0,
                },
            },
        ),
        (
            "symbol added with inexact spec",
            Event::SymbolAdded {
                symbol: 2,
                spec: SymbolSpec {
                    name: n("Z"),
                    base: 0,
                    quote: 1,
                    tick_size: Fixed::new(1, 9),
                    lot_size: Fixed::new(1, 9),
                    maker_fee_bps: 0,
                    taker_fee_bps: 0,
                },
            },
        ),
        ("halt unknown symbol", Event::SymbolHalted { symbol: 9 }),
        ("resume unknown symbol", Event::SymbolResumed { symbol: 9 }),
        ("open existing account", Event::AccountOpened { account: 1 }),
        (
            "open account beyond limit",
            Event::AccountOpened { account: 8 },
        ),
        (
            "open account u32::MAX",
            Event::AccountOpened { account: u32::MAX },
        ),
        (
            "deposit unknown asset",
            Event::Deposited {
                account: 1,
                asset: 9,
                amount: 1,
            },
        ),
        (
            "deposit unknown account",
            Event::Deposited {
                account: 6,
                asset: 0,
                amount: 1,
            },
        ),
        (
            "deposit overflowing supply",
            Event::Deposited {
                account: 1,
                asset: 0,
                amount: u64::MAX,
            },
        ),
        (
            "withdraw more than available",
            Event::Withdrawn {
                account: 4,
                asset: 1,
                amount: 1_000_000_000,
            },
        ),
        (
            "withdraw unknown asset",
            Event::Withdrawn {
                account: 1,
                asset: 9,
                amount: 1,
            },
        ),
        (
            "withdraw unknown account",
            Event::Withdrawn {
                account: 6,
                asset: 0,
                amount: 1,
            },
        ),
        (
            "transfer to unknown account",
            Event::Transferred {
                from: 1,
                to: 6,
                asset: 0,
                amount: 1,
            },
        ),
        (
            "transfer from unknown account",
            Event::Transferred {
                from: 6,
                to: 1,
                asset: 0,
                amount: 1,
            },
        ),
        (
            "transfer more than available",
            Event::Transferred {
                from: 4,
                to: 1,
                asset: 1,
                amount: 1_000_000_000,
            },
        ),
        ("order accepted out of sequence", acc(&aset!(order = 9))),
        ("order accepted reusing an id", acc(&aset!(order = 1))),
        ("order accepted for zero lots", acc(&aset!(qty = 0))),
        ("order accepted on unknown symbol", acc(&aset!(symbol = 9))),
        (
            "order accepted for unknown account",
            acc(&aset!(account = 6)),
        ),
        (
            "order accepted holding too much",
            acc(&aset!(hold = u64::MAX)),
        ),
        ("rest unknown order", Event::OrderRested { order: 99 }),
        ("rest a resting order", Event::OrderRested { order: 1 }),
        (
            "amend unknown order",
            Event::OrderAmended {
                order: 99,
                price: 1,
                qty: 1,
                reserved: 1,
                priority_kept: false,
            },
        ),
        (
            "amend keeping priority while growing",
            Event::OrderAmended {
                order: 1,
                price: 100,
                qty: 5,
                reserved: 600,
                priority_kept: true,
            },
        ),
        (
            "amend keeping priority at a new price",
            Event::OrderAmended {
                order: 1,
                price: 99,
                qty: 1,
                reserved: 100,
                priority_kept: true,
            },
        ),
        (
            "amend to zero lots",
            Event::OrderAmended {
                order: 1,
                price: 100,
                qty: 0,
                reserved: 0,
                priority_kept: false,
            },
        ),
        (
            "amend to price zero",
            Event::OrderAmended {
                order: 1,
                price: 0,
                qty: 1,
                reserved: 0,
                priority_kept: false,
            },
        ),
        (
            "amend holding more than available",
            Event::OrderAmended {
                order: 1,
                price: 100,
                qty: 2,
                reserved: u64::MAX,
                priority_kept: false,
            },
        ),
        (
            "cancel unknown order",
            Event::OrderCancelled {
                order: 99,
                account: 1,
                remaining: 2,
                reason: CancelReason::User,
            },
        ),
        (
            "cancel with wrong account",
            Event::OrderCancelled {
                order: 1,
                account: 2,
                remaining: 2,
                reason: CancelReason::User,
            },
        ),
        (
            "cancel with wrong remaining",
            Event::OrderCancelled {
                order: 1,
                account: 1,
                remaining: 1,
                reason: CancelReason::User,
            },
        ),
        ("trade on unknown maker", with(&tset!(maker_order = 99))),
        ("trade on unknown taker", with(&tset!(taker_order = 99))),
        ("trade between two resting orders", trade),
        (
            "trade of an order with itself",
            with(&tset!(taker_order = 1)),
        ),
        ("trade on unknown symbol", with(&tset!(symbol = 9))),
    ]
}

#[test]
fn apply_rejects_garbage_events_without_panicking() {
    let state = populated();
    let mut failures = Vec::new();
    for (what, event) in garbage_events() {
        let mut s = state.clone();
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| apply(&mut s, &event)));
        match result {
            Ok(Err(_)) => {}
            Ok(Ok(())) => failures.push(format!("{what}: {event:?} was applied")),
            Err(_) => failures.push(format!("{what}: {event:?} panicked")),
        }
    }
    // Garbage around an incoming order (accepted, not yet resting).
    let mut s = state.clone();
    apply(
        &mut s,
        &Event::OrderAccepted {
            order: 4,
            account: 3,
            symbol: 0,
            side: Side::Sell,
            price: 90,
            qty: 2,
            is_market: true,
            tif: TimeInForce::Ioc,
            post_only: false,
            stp: StpMode::CancelNewest,
            hold: 2_000,
        },
    )
    .unwrap();
    let trade = |price, qty, maker_fee, taker_fee| {
        Event::TradeExecuted(Trade {
            symbol: 0,
            maker_order: 1,
            taker_order: 4,
            maker_account: 1,
            taker_account: 3,
            taker_side: Side::Sell,
            price,
            qty,
            maker_fee,
            taker_fee,
        })
    };
    for (what, event) in [
        ("trade off the maker's price", trade(99, 1, 0, 0)),
        ("trade beyond the maker's lots", trade(100, 3, 0, 0)),
        (
            "trade with the seller fee above the notional",
            trade(100, 1, 0, 101),
        ),
        (
            "trade with an overflowing buyer fee",
            trade(100, 1, u64::MAX, 0),
        ),
        ("trade with the wrong taker side", {
            let mut e = trade(100, 1, 0, 0);
            if let Event::TradeExecuted(Trade { taker_side, .. }) = &mut e {
                *taker_side = Side::Buy;
            }
            e
        }),
        ("rest a market order", Event::OrderRested { order: 4 }),
        (
            "amend a non-resting order",
            Event::OrderAmended {
                order: 4,
                price: 90,
                qty: 1,
                reserved: 1_000,
                priority_kept: true,
            },
        ),
    ] {
        let mut s2 = s.clone();
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| apply(&mut s2, &event)));
        match result {
            Ok(Err(_)) => {}
            Ok(Ok(())) => failures.push(format!("{what}: {event:?} was applied")),
            Err(_) => failures.push(format!("{what}: {event:?} panicked")),
        }
    }
    assert!(
        failures.is_empty(),
        "apply accepted or panicked on garbage:\n{}",
        failures.join("\n")
    );
}

fn garbage_event() -> impl Strategy<Value = Event> {
    let acct = || prop_oneof![4 => 0u32..=5, 1 => any::<u32>()];
    let order = || prop_oneof![4 => 0u64..=6, 1 => any::<u64>()];
    let small = || prop_oneof![4 => 0u64..=3_000, 1 => any::<u64>()];
    let sym = || prop_oneof![4 => 0u32..=2, 1 => any::<u32>()];
    prop_oneof![
        1 => (acct(), small()).prop_map(|(account, request_id)| Event::Accepted { account, request_id }),
        1 => acct().prop_map(|account| Event::AccountOpened { account }),
        1 => (acct(), 0u32..=3, small()).prop_map(|(account, asset, amount)| Event::Deposited { account, asset, amount }),
        1 => (acct(), 0u32..=3, small()).prop_map(|(account, asset, amount)| Event::Withdrawn { account, asset, amount }),
        1 => (acct(), acct(), 0u32..=3, small()).prop_map(|(from, to, asset, amount)| Event::Transferred { from, to, asset, amount }),
        1 => sym().prop_map(|symbol| Event::SymbolHalted { symbol }),
        1 => (order(), acct(), sym(), side(), small(), small(), any::<bool>(), tif(false), small()).prop_map(
            |(order, account, symbol, side, price, qty, is_market, (tif, _), hold)| Event::OrderAccepted {
                order, account, symbol, side, price, qty, is_market, tif, post_only: false,
                stp: StpMode::CancelNewest, hold,
            }
        ),
        4 => (sym(), order(), order(), acct(), acct(), side(), small(), small(), small(), small()).prop_map(
            |(symbol, maker_order, taker_order, maker_account, taker_account, taker_side, price, qty, maker_fee, taker_fee)| {
                Event::TradeExecuted(Trade { symbol, maker_order, taker_order, maker_account, taker_account, taker_side, price, qty, maker_fee, taker_fee })
            }
        ),
        2 => order().prop_map(|order| Event::OrderRested { order }),
        2 => (order(), small(), small(), small(), any::<bool>()).prop_map(|(order, price, qty, reserved, priority_kept)| {
            Event::OrderAmended { order, price, qty, reserved, priority_kept }
        }),
        2 => (order(), acct(), small()).prop_map(|(order, account, remaining)| Event::OrderCancelled {
            order, account, remaining, reason: CancelReason::User,
        }),
    ]
}

proptest! {
    #![proptest_config(config(256))]

    /// Random event sequences applied to a populated state: `apply` may accept
    /// or refuse each one (a refused event's state is discarded, as recovery
    /// would), but it never panics.
    #[test]
    fn apply_never_panics_on_garbage(events in prop::collection::vec(garbage_event(), 1..40)) {
        let mut state = populated();
        for e in &events {
            let mut next = state.clone();
            if apply(&mut next, e).is_ok() {
                state = next;
            }
            // Digest and the invariant checker must not panic either.
            let _ = state.digest();
            let _ = state.check_invariants();
        }
    }
}

#[test]
#[ignore]
/// Prints how often each event and reject reason occurs (for tuning the
/// strategies): `cargo test --test properties event_histogram -- --ignored --nocapture`.
fn event_histogram() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut hist: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..16 {
        let steps = stream(250..300).new_tree(&mut runner).unwrap().current();
        let r = run_stream(&steps).unwrap();
        for e in &r.log {
            let k = match e {
                Event::Rejected { reason, .. } => format!("rej:{}", reason.code()),
                Event::OrderCancelled { reason, .. } => format!("cancel:{}", reason.code()),
                other => other.name().to_string(),
            };
            *hist.entry(k).or_default() += 1;
        }
    }
    eprintln!("{hist:#?}");
}
