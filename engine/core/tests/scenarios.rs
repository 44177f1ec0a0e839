//! Hand-computed scenarios, one feature each, asserting the exact events and
//! balances. Every command goes through `support::Harness`, which also checks
//! `State::check_invariants()` and replays the events on a replica after each
//! command.
//!
//! The market used throughout (`setup`):
//! - asset 0 `BTC`, scale 8 (satoshis); asset 1 `USD`, scale 2 (cents);
//! - symbol 0 `BTC-USD`: tick 1 USD, lot 0.01 BTC, so one lot is 1_000_000
//!   sat and `notional(price, qty) = price × qty` cents; maker fee 100 bps,
//!   taker fee 200 bps (hold fee rate = 200 bps);
//! - accounts 1, 2, 3 each hold 100_000 cents and 10 lots (10_000_000 sat).

mod support;

use keel_core::Trade;
use keel_core::{
    CancelReason, CommandKind, Event, Fixed, MarketBound, OrderType, PlaceOrder, RejectReason,
    Scales, Side, State, StpMode, TimeInForce,
};
use support::*;

const BTC: u32 = 0;
const USD: u32 = 1;
const SYM: u32 = 0;
const LOT: u64 = 1_000_000;
const CASH: u64 = 100_000;

fn btc_usd() -> keel_core::SymbolSpec {
    spec(
        "BTC-USD",
        BTC,
        USD,
        Fixed::new(1, 0),
        Fixed::new(1, 2),
        100,
        200,
    )
}

fn setup() -> Harness {
    let mut h = Harness::new(small_limits());
    assert_eq!(h.add_asset("BTC", 8), BTC);
    assert_eq!(h.add_asset("USD", 2), USD);
    assert_eq!(h.add_symbol(btc_usd()), SYM);
    for account in 1..=3 {
        h.open(account);
        h.deposit(account, USD, CASH);
        h.deposit(account, BTC, 10 * LOT);
    }
    h
}

fn buy(price: u64, qty: u64) -> PlaceOrder {
    limit(SYM, Side::Buy, price, qty)
}

fn sell(price: u64, qty: u64) -> PlaceOrder {
    limit(SYM, Side::Sell, price, qty)
}

/// `OrderAccepted` for an order built by `p`.
fn order_accepted(order: u64, account: u32, p: PlaceOrder, hold: u64) -> Event {
    let (price, is_market) = match p.order_type {
        OrderType::Limit { price } => (price, false),
        OrderType::Market {
            bound: MarketBound::ProtectionPrice { price },
        } => (price, true),
        OrderType::Market { .. } => (0, true),
    };
    Event::OrderAccepted {
        order,
        account,
        symbol: p.symbol,
        side: p.side,
        price,
        qty: p.qty,
        is_market,
        tif: p.tif,
        post_only: p.post_only,
        stp: p.stp,
        hold,
    }
}

#[allow(clippy::too_many_arguments)]
fn trade(
    maker_order: u64,
    taker_order: u64,
    maker_account: u32,
    taker_account: u32,
    taker_side: Side,
    price: u64,
    qty: u64,
    maker_fee: u64,
    taker_fee: u64,
) -> Event {
    Event::TradeExecuted(Trade {
        symbol: SYM,
        maker_order,
        taker_order,
        maker_account,
        taker_account,
        taker_side,
        price,
        qty,
        maker_fee,
        taker_fee,
    })
}

fn cancelled(order: u64, account: u32, remaining: u64, reason: CancelReason) -> Event {
    Event::OrderCancelled {
        order,
        account,
        remaining,
        reason,
    }
}

fn rested(order: u64) -> Event {
    Event::OrderRested { order }
}

fn amend(order: u64, price: u64, qty: u64) -> CommandKind {
    CommandKind::AmendOrder { order, price, qty }
}

fn cancel(order: u64) -> CommandKind {
    CommandKind::CancelOrder { order }
}

fn finish(h: &Harness) {
    h.state.check_invariants().expect("invariants");
    h.replica.check_invariants().expect("replica invariants");
    assert_eq!(h.state.digest(), h.replica.digest());
    // The full log rebuilds the state from genesis.
    let mut rebuilt = State::new(*h.state.limits());
    for e in &h.log {
        keel_core::apply(&mut rebuilt, e).expect("log replays");
    }
    assert_eq!(rebuilt.digest(), h.state.digest());
}

// ---------------------------------------------------------------- genesis/admin

#[test]
fn genesis_and_admin_commands() {
    let mut h = Harness::new(small_limits());
    assert!(h.state.account(OP).is_some(), "operator exists at genesis");
    assert!(h.state.assets().is_empty() && h.state.symbols().is_empty());

    let events = h.run_req(
        OP,
        1,
        CommandKind::AddAsset {
            name: name("BTC"),
            scale: 8,
        },
    );
    assert_eq!(
        events,
        vec![
            accepted(OP, 1),
            Event::AssetAdded {
                asset: 0,
                name: name("BTC"),
                scale: 8
            }
        ]
    );
    let events = h.run_req(
        OP,
        2,
        CommandKind::AddAsset {
            name: name("USD"),
            scale: 2,
        },
    );
    assert_eq!(
        events[1],
        Event::AssetAdded {
            asset: 1,
            name: name("USD"),
            scale: 2
        }
    );
    h.reject(
        OP,
        CommandKind::AddAsset {
            name: name("BTC"),
            scale: 2,
        },
        RejectReason::DuplicateName,
    );
    h.reject(
        OP,
        CommandKind::AddAsset {
            name: name("WEIRD"),
            scale: 19,
        },
        RejectReason::InvalidScale,
    );

    // tick 0.01 USD × lot 0.001 BTC = 0.00001 USD: not a whole cent.
    let inexact = spec(
        "BTC-USD",
        BTC,
        USD,
        Fixed::new(1, 2),
        Fixed::new(1, 3),
        0,
        0,
    );
    h.reject(
        OP,
        CommandKind::AddSymbol(inexact),
        RejectReason::InvalidSymbolSpec,
    );
    // A lot of 1e-9 BTC is finer than a satoshi.
    let finer = spec(
        "BTC-USD",
        BTC,
        USD,
        Fixed::new(1, 0),
        Fixed::new(1, 9),
        0,
        0,
    );
    h.reject(
        OP,
        CommandKind::AddSymbol(finer),
        RejectReason::InvalidSymbolSpec,
    );
    let mut same = btc_usd();
    same.quote = BTC;
    h.reject(
        OP,
        CommandKind::AddSymbol(same),
        RejectReason::InvalidSymbolSpec,
    );
    let mut fee = btc_usd();
    fee.taker_fee_bps = 10_001;
    h.reject(
        OP,
        CommandKind::AddSymbol(fee),
        RejectReason::InvalidSymbolSpec,
    );
    let mut zero_tick = btc_usd();
    zero_tick.tick_size = Fixed::new(0, 0);
    h.reject(
        OP,
        CommandKind::AddSymbol(zero_tick),
        RejectReason::InvalidSymbolSpec,
    );
    let mut unknown = btc_usd();
    unknown.base = 5;
    h.reject(
        OP,
        CommandKind::AddSymbol(unknown),
        RejectReason::UnknownAsset { asset: 5 },
    );

    let req = h.next_req(OP);
    assert_eq!(req, 3, "rejections do not advance the request id");
    let events = h.run(OP, CommandKind::AddSymbol(btc_usd()));
    assert_eq!(
        events,
        vec![
            accepted(OP, 3),
            Event::SymbolAdded {
                symbol: 0,
                spec: btc_usd()
            }
        ]
    );
    assert_eq!(
        h.state.symbol(0).unwrap().scales,
        Scales {
            base_per_lot: 1_000_000,
            quote_per_tick_lot: 1
        }
    );
    h.reject(
        OP,
        CommandKind::AddSymbol(btc_usd()),
        RejectReason::DuplicateName,
    );
    // Fee exactly 10000 bps is allowed.
    let mut full_fee = btc_usd();
    full_fee.name = name("BTC-USD2");
    full_fee.maker_fee_bps = 10_000;
    full_fee.taker_fee_bps = 10_000;
    assert_eq!(h.add_symbol(full_fee), 1);

    let events = h.run(OP, CommandKind::HaltSymbol { symbol: 0 });
    assert_eq!(events[1], Event::SymbolHalted { symbol: 0 });
    assert!(h.state.symbol(0).unwrap().halted);
    h.reject(
        OP,
        CommandKind::HaltSymbol { symbol: 0 },
        RejectReason::SymbolAlreadyHalted { symbol: 0 },
    );
    let events = h.run(OP, CommandKind::ResumeSymbol { symbol: 0 });
    assert_eq!(events[1], Event::SymbolResumed { symbol: 0 });
    h.reject(
        OP,
        CommandKind::ResumeSymbol { symbol: 0 },
        RejectReason::SymbolNotHalted { symbol: 0 },
    );
    h.reject(
        OP,
        CommandKind::HaltSymbol { symbol: 9 },
        RejectReason::UnknownSymbol { symbol: 9 },
    );
    finish(&h);
}

#[test]
fn admin_commands_from_non_operator_are_rejected() {
    let mut h = setup();
    let d = h.digest();
    for kind in [
        CommandKind::AddAsset {
            name: name("ETH"),
            scale: 18,
        },
        CommandKind::AddSymbol(spec(
            "USD-BTC",
            USD,
            BTC,
            Fixed::new(1, 0),
            Fixed::new(1, 0),
            0,
            0,
        )),
        CommandKind::HaltSymbol { symbol: SYM },
        CommandKind::ResumeSymbol { symbol: SYM },
    ] {
        h.reject(1, kind, RejectReason::NotAuthorized);
    }
    assert_eq!(h.digest(), d);
    assert_eq!(h.state.assets().len(), 2);
    finish(&h);
}

#[test]
fn instrument_capacity() {
    let mut h = Harness::new(keel_core::Limits {
        max_assets: 2,
        max_symbols: 1,
        ..small_limits()
    });
    h.add_asset("A", 0);
    h.add_asset("B", 0);
    h.reject(
        OP,
        CommandKind::AddAsset {
            name: name("C"),
            scale: 0,
        },
        RejectReason::InstrumentCapacity,
    );
    let s = spec("A-B", 0, 1, Fixed::new(1, 0), Fixed::new(1, 0), 0, 0);
    h.add_symbol(s);
    let s2 = spec("B-A", 1, 0, Fixed::new(1, 0), Fixed::new(1, 0), 0, 0);
    h.reject(
        OP,
        CommandKind::AddSymbol(s2),
        RejectReason::InstrumentCapacity,
    );
    finish(&h);
}

// ---------------------------------------------------------------- funds

#[test]
fn accounts_deposits_withdrawals_transfers() {
    let mut h = Harness::new(small_limits());
    h.add_asset("BTC", 8);
    h.add_asset("USD", 2);

    assert_eq!(
        h.run_req(1, 1, CommandKind::OpenAccount),
        vec![Event::AccountOpened { account: 1 }, accepted(1, 1)]
    );
    assert_eq!(h.bal(1, USD), (0, 0));
    h.reject_req(
        1,
        2,
        CommandKind::OpenAccount,
        RejectReason::AccountExists { account: 1 },
    );
    h.reject_req(
        16,
        1,
        CommandKind::OpenAccount,
        RejectReason::AccountLimit {
            account: 16,
            max_accounts: 16,
        },
    );
    h.reject_req(
        2,
        0,
        CommandKind::OpenAccount,
        RejectReason::Duplicate { last_request_id: 0 },
    );
    h.open(2);
    h.reject_req(
        5,
        1,
        CommandKind::Deposit {
            asset: USD,
            amount: 1,
        },
        RejectReason::UnknownAccount { account: 5 },
    );

    let events = h.run(
        1,
        CommandKind::Deposit {
            asset: USD,
            amount: 5_000,
        },
    );
    assert_eq!(
        events,
        vec![
            accepted(1, 2),
            Event::Deposited {
                account: 1,
                asset: USD,
                amount: 5_000
            }
        ]
    );
    assert_eq!(h.bal(1, USD), (5_000, 0));
    assert_eq!(h.state.asset(USD).unwrap().supply, 5_000);
    h.reject(
        1,
        CommandKind::Deposit {
            asset: USD,
            amount: 0,
        },
        RejectReason::ZeroValue,
    );
    h.reject(
        1,
        CommandKind::Deposit {
            asset: 7,
            amount: 1,
        },
        RejectReason::UnknownAsset { asset: 7 },
    );

    h.reject(
        1,
        CommandKind::Withdraw {
            asset: USD,
            amount: 6_000,
        },
        RejectReason::InsufficientFunds {
            asset: USD,
            needed: 6_000,
            available: 5_000,
        },
    );
    h.reject(
        1,
        CommandKind::Withdraw {
            asset: USD,
            amount: 0,
        },
        RejectReason::ZeroValue,
    );
    let events = h.run(
        1,
        CommandKind::Withdraw {
            asset: USD,
            amount: 1_000,
        },
    );
    assert_eq!(
        events[1],
        Event::Withdrawn {
            account: 1,
            asset: USD,
            amount: 1_000
        }
    );
    assert_eq!(h.bal(1, USD), (4_000, 0));
    assert_eq!(h.state.asset(USD).unwrap().supply, 4_000);

    h.reject(
        1,
        CommandKind::Transfer {
            to: 1,
            asset: USD,
            amount: 1,
        },
        RejectReason::SelfTransfer,
    );
    h.reject(
        1,
        CommandKind::Transfer {
            to: 9,
            asset: USD,
            amount: 1,
        },
        RejectReason::UnknownAccount { account: 9 },
    );
    h.reject(
        1,
        CommandKind::Transfer {
            to: 2,
            asset: USD,
            amount: 4_001,
        },
        RejectReason::InsufficientFunds {
            asset: USD,
            needed: 4_001,
            available: 4_000,
        },
    );
    // Account 2 has no BTC at all.
    h.reject(
        2,
        CommandKind::Transfer {
            to: 1,
            asset: BTC,
            amount: 1,
        },
        RejectReason::InsufficientFunds {
            asset: BTC,
            needed: 1,
            available: 0,
        },
    );
    let events = h.run(
        1,
        CommandKind::Transfer {
            to: 2,
            asset: USD,
            amount: 1_500,
        },
    );
    assert_eq!(
        events[1],
        Event::Transferred {
            from: 1,
            to: 2,
            asset: USD,
            amount: 1_500
        }
    );
    assert_eq!(h.bal(1, USD), (2_500, 0));
    assert_eq!(h.bal(2, USD), (1_500, 0));
    assert_eq!(h.state.asset(USD).unwrap().supply, 4_000);
    finish(&h);
}

#[test]
fn duplicate_names_the_last_accepted_request_id() {
    let mut h = setup();
    let d = |last| RejectReason::Duplicate {
        last_request_id: last,
    };
    let dep = CommandKind::Deposit {
        asset: USD,
        amount: 1,
    };
    // Gaps are allowed.
    let last = h.last_req(1);
    let events = h.run_req(1, 10, dep);
    assert_eq!(events[0], accepted(1, 10));
    assert!(last < 10);
    h.reject_req(1, 10, dep, d(10));
    h.reject_req(1, 5, dep, d(10));
    h.reject_req(1, 0, dep, d(10));
    // A rejected command (insufficient funds) does not advance the id...
    h.reject_req(
        1,
        20,
        CommandKind::Withdraw {
            asset: USD,
            amount: u64::MAX,
        },
        RejectReason::InsufficientFunds {
            asset: USD,
            needed: u64::MAX,
            available: CASH + 1,
        },
    );
    // ...so 15 is still fresh.
    assert_eq!(h.run_req(1, 15, dep)[0], accepted(1, 15));
    h.reject_req(1, 15, dep, d(15));
    // Duplicate is checked before authorisation and validation.
    h.reject_req(1, 3, CommandKind::HaltSymbol { symbol: 99 }, d(15));
    finish(&h);
}

#[test]
fn withdraw_and_transfer_take_only_available() {
    let mut h = setup();
    h.place(2, sell(120, 6));
    assert_eq!(h.bal(2, BTC), (4 * LOT, 6 * LOT));
    h.reject(
        2,
        CommandKind::Withdraw {
            asset: BTC,
            amount: 5 * LOT,
        },
        RejectReason::InsufficientFunds {
            asset: BTC,
            needed: 5 * LOT,
            available: 4 * LOT,
        },
    );
    h.reject(
        2,
        CommandKind::Transfer {
            to: 1,
            asset: BTC,
            amount: 4 * LOT + 1,
        },
        RejectReason::InsufficientFunds {
            asset: BTC,
            needed: 4 * LOT + 1,
            available: 4 * LOT,
        },
    );
    h.ok(
        2,
        CommandKind::Withdraw {
            asset: BTC,
            amount: 4 * LOT,
        },
    );
    assert_eq!(h.bal(2, BTC), (0, 6 * LOT));
    assert_eq!(h.state.asset(BTC).unwrap().supply, 26 * LOT);
    // Buy holds too: 10 @ 100 holds 1000 + 20 = 1020 cents.
    h.place(1, buy(100, 10));
    assert_eq!(h.bal(1, USD), (CASH - 1_020, 1_020));
    h.reject(
        1,
        CommandKind::Withdraw {
            asset: USD,
            amount: CASH,
        },
        RejectReason::InsufficientFunds {
            asset: USD,
            needed: CASH,
            available: CASH - 1_020,
        },
    );
    finish(&h);
}

// ---------------------------------------------------------------- matching

#[test]
fn limit_buy_rests_then_fills_partially_at_the_makers_price() {
    let mut h = setup();
    let r = h.next_req(1);
    // Buy 10 @ 105: notional 1050, hold fee 200 bps = 21 -> hold 1071.
    let (o1, events) = h.place(1, buy(105, 10));
    assert_eq!(o1, 1);
    assert_eq!(
        events,
        vec![
            accepted(1, r),
            order_accepted(1, 1, buy(105, 10), 1_071),
            rested(1)
        ]
    );
    assert_eq!(h.bal(1, USD), (CASH - 1_071, 1_071));
    assert_eq!(h.state.depth(SYM, Side::Buy), vec![(105, 10, 1)]);

    // Sell 4 @ 100 trades at the maker's 105: notional 420, maker fee
    // floor(4.2) = 4, taker fee floor(8.4) = 8.
    let r = h.next_req(2);
    let (o2, events) = h.place(2, sell(100, 4));
    assert_eq!(o2, 2);
    assert_eq!(
        events,
        vec![
            accepted(2, r),
            order_accepted(2, 2, sell(100, 4), 4 * LOT),
            trade(1, 2, 1, 2, Side::Sell, 105, 4, 4, 8),
        ]
    );
    // Buyer: reservation 1071 - (420 + 4) = 647 still held.
    assert_eq!(h.bal(1, USD), (CASH - 1_071, 647));
    assert_eq!(h.bal(1, BTC), (14 * LOT, 0));
    let o = h.state.order(1).unwrap();
    assert_eq!((o.remaining, o.reserved), (6, 647));
    // Seller: 4 lots gone, 420 - 8 cents in.
    assert_eq!(h.bal(2, BTC), (6 * LOT, 0));
    assert_eq!(h.bal(2, USD), (CASH + 412, 0));
    assert_eq!(h.bal(OP, USD), (12, 0));
    assert_eq!(h.state.depth(SYM, Side::Buy), vec![(105, 6, 1)]);
    assert!(h.state.order(2).is_none());

    // Sell the other 6 (IOC): notional 630, maker fee 6, taker fee 12. The
    // buyer's order ends; the 647 - 636 = 11 left (fee-rate surplus) returns.
    let (_, events) = h.place(
        2,
        PlaceOrder {
            tif: TimeInForce::Ioc,
            ..sell(105, 6)
        },
    );
    assert_eq!(events[2], trade(1, 3, 1, 2, Side::Sell, 105, 6, 6, 12));
    assert_eq!(events.len(), 3);
    assert_eq!(h.bal(1, USD), (CASH - 1_060, 0));
    assert_eq!(h.bal(2, USD), (CASH + 1_030, 0));
    assert_eq!(h.bal(OP, USD), (30, 0));
    assert!(h.state.order(1).is_none());
    assert!(h.state.depth(SYM, Side::Buy).is_empty());
    assert_eq!(h.state.account_orders(1).count(), 0);
    finish(&h);
}

#[test]
fn buyer_taking_at_a_better_price_gets_the_surplus_back() {
    let mut h = setup();
    h.place(2, sell(100, 5)); // order 1
                              // Buy 8 @ 110: hold 880 + floor(17.6) = 897.
    let (o2, events) = h.place(1, buy(110, 8));
    // Trade 5 @ 100: notional 500, maker fee 5, taker fee 10.
    assert_eq!(
        events[1..],
        [
            order_accepted(o2, 1, buy(110, 8), 897),
            trade(1, o2, 2, 1, Side::Buy, 100, 5, 5, 10),
            rested(o2),
        ]
    );
    // 897 - 510 = 387 still reserved for 3 lots (which need only 330 + 6).
    assert_eq!(h.bal(1, USD), (CASH - 897, 387));
    assert_eq!(h.state.order(o2).unwrap().reserved, 387);
    assert_eq!(h.bal(2, USD), (CASH + 495, 0));
    assert_eq!(h.bal(2, BTC), (5 * LOT, 0));
    // Cancelling releases the whole remaining reservation.
    let events = h.ok(1, cancel(o2));
    assert_eq!(events[1], cancelled(o2, 1, 3, CancelReason::User));
    assert_eq!(h.bal(1, USD), (CASH - 510, 0));
    assert_eq!(h.bal(1, BTC), (15 * LOT, 0));

    // Fully filled at a better price: surplus released when the order ends.
    h.place(3, sell(100, 5)); // order 3
    let (o4, events) = h.place(1, buy(110, 5)); // hold 550 + 11 = 561
    assert_eq!(
        events[1..],
        [
            order_accepted(o4, 1, buy(110, 5), 561),
            trade(3, o4, 3, 1, Side::Buy, 100, 5, 5, 10),
        ]
    );
    assert_eq!(h.bal(1, USD), (CASH - 1_020, 0));
    assert_eq!(h.bal(OP, USD), (30, 0));
    finish(&h);
}

#[test]
fn fifo_within_a_level_and_best_level_first() {
    let mut h = setup();
    h.place(2, sell(100, 3)); // 1
    h.place(3, sell(100, 3)); // 2
    h.place(2, sell(100, 2)); // 3
    h.place(3, sell(101, 5)); // 4
    h.place(2, sell(99, 1)); // 5: the best level, although newest
    assert_eq!(
        h.state.depth(SYM, Side::Sell),
        vec![(99, 1, 1), (100, 8, 3), (101, 5, 1)]
    );
    let (t, events) = h.place(
        1,
        PlaceOrder {
            tif: TimeInForce::Ioc,
            ..buy(101, 8)
        },
    );
    assert_eq!(
        events[2..],
        [
            trade(5, t, 2, 1, Side::Buy, 99, 1, 0, 1),
            trade(1, t, 2, 1, Side::Buy, 100, 3, 3, 6),
            trade(2, t, 3, 1, Side::Buy, 100, 3, 3, 6),
            trade(3, t, 2, 1, Side::Buy, 100, 1, 1, 2),
        ]
    );
    assert_eq!(
        h.state.depth(SYM, Side::Sell),
        vec![(100, 1, 1), (101, 5, 1)]
    );
    assert_eq!(h.state.order(3).unwrap().remaining, 1);
    let (t, events) = h.place(1, buy(101, 3));
    assert_eq!(
        events[2..],
        [
            trade(3, t, 2, 1, Side::Buy, 100, 1, 1, 2),
            trade(4, t, 3, 1, Side::Buy, 101, 2, 2, 4),
        ]
    );
    assert_eq!(h.state.depth(SYM, Side::Sell), vec![(101, 3, 1)]);
    finish(&h);
}

#[test]
fn ioc_remainder_is_cancelled() {
    let mut h = setup();
    h.place(2, sell(100, 3));
    let p = PlaceOrder {
        tif: TimeInForce::Ioc,
        ..buy(100, 5)
    };
    // Hold 500 + 10 = 510; trade 3 @ 100 (300, fees 3/6); 2 lots cancelled.
    let (o, events) = h.place(1, p);
    assert_eq!(
        events[1..],
        [
            order_accepted(o, 1, p, 510),
            trade(1, o, 2, 1, Side::Buy, 100, 3, 3, 6),
            cancelled(o, 1, 2, CancelReason::IocRemainder),
        ]
    );
    assert_eq!(h.bal(1, USD), (CASH - 306, 0));
    assert!(h.state.depth(SYM, Side::Buy).is_empty());
    // No liquidity at all: accepted, then cancelled whole.
    let (o, events) = h.place(1, p);
    assert_eq!(
        events[1..],
        [
            order_accepted(o, 1, p, 510),
            cancelled(o, 1, 5, CancelReason::IocRemainder),
        ]
    );
    assert_eq!(h.bal(1, USD), (CASH - 306, 0));
    finish(&h);
}

#[test]
fn fok_fills_completely_or_is_rejected_without_effect() {
    let mut h = setup();
    h.place(2, sell(100, 3)); // 1
    h.place(3, sell(101, 2)); // 2
    let fok = |price, qty| PlaceOrder {
        tif: TimeInForce::Fok,
        ..buy(price, qty)
    };
    // Not enough liquidity.
    h.reject(1, place(fok(101, 6)), RejectReason::FokNotFillable);
    // Enough liquidity, but not within the limit.
    h.reject(1, place(fok(100, 5)), RejectReason::FokNotFillable);
    assert_eq!(h.state.next_order_id(), 3, "no order id consumed");
    assert_eq!(h.bal(1, USD), (CASH, 0));
    // Fillable: hold 505 + floor(10.1) = 515; trades 3 @ 100 (300, 3, 6) and
    // 2 @ 101 (202, floor 2.02 = 2, floor 4.04 = 4); spent 512, 3 released.
    let (o, events) = h.place(1, fok(101, 5));
    assert_eq!(o, 3);
    assert_eq!(
        events[1..],
        [
            order_accepted(3, 1, fok(101, 5), 515),
            trade(1, 3, 2, 1, Side::Buy, 100, 3, 3, 6),
            trade(2, 3, 3, 1, Side::Buy, 101, 2, 2, 4),
        ]
    );
    assert_eq!(h.bal(1, USD), (CASH - 512, 0));
    assert_eq!(h.bal(1, BTC), (15 * LOT, 0));
    assert!(h.state.depth(SYM, Side::Sell).is_empty());
    // FOK sell against an empty book.
    h.reject(
        2,
        place(PlaceOrder {
            tif: TimeInForce::Fok,
            ..sell(1, 1)
        }),
        RejectReason::FokNotFillable,
    );
    finish(&h);
}

#[test]
fn post_only() {
    let mut h = setup();
    h.place(2, sell(100, 3)); // 1
    let po = |price| PlaceOrder {
        post_only: true,
        ..buy(price, 2)
    };
    h.reject(1, place(po(100)), RejectReason::PostOnlyWouldCross);
    h.reject(1, place(po(101)), RejectReason::PostOnlyWouldCross);
    h.reject(
        1,
        place(PlaceOrder {
            tif: TimeInForce::Ioc,
            ..po(90)
        }),
        RejectReason::InvalidOrder,
    );
    h.reject(
        1,
        place(PlaceOrder {
            post_only: true,
            ..market(SYM, Side::Sell, MarketBound::None, 1)
        }),
        RejectReason::InvalidOrder,
    );
    let (o, events) = h.place(1, po(99));
    assert_eq!(events[1..], [order_accepted(o, 1, po(99), 201), rested(o)]);
    // An amend that loses priority re-checks post-only; one that keeps it
    // does not need to.
    h.reject(1, amend(o, 100, 2), RejectReason::PostOnlyWouldCross);
    let events = h.ok(1, amend(o, 99, 1));
    assert_eq!(
        events[1],
        Event::OrderAmended {
            order: o,
            price: 99,
            qty: 1,
            reserved: 100,
            priority_kept: true
        }
    );
    let events = h.ok(1, amend(o, 98, 1));
    assert_eq!(events.len(), 3);
    assert_eq!(events[2], rested(o));
    finish(&h);
}

#[test]
fn market_sell_is_unbounded() {
    let mut h = setup();
    h.place(1, buy(100, 2)); // 1
    h.place(3, buy(98, 3)); // 2
    let p = market(SYM, Side::Sell, MarketBound::None, 10);
    let (o, events) = h.place(2, p);
    // 2 @ 100: 200, fees 2/4. 3 @ 98: 294, fees floor 2.94 = 2, floor 5.88 = 5.
    assert_eq!(
        events[1..],
        [
            order_accepted(o, 2, p, 10 * LOT),
            trade(1, o, 1, 2, Side::Sell, 100, 2, 2, 4),
            trade(2, o, 3, 2, Side::Sell, 98, 3, 2, 5),
            cancelled(o, 2, 5, CancelReason::IocRemainder),
        ]
    );
    assert!(matches!(
        events[1],
        Event::OrderAccepted {
            price: 0,
            is_market: true,
            ..
        }
    ));
    assert_eq!(h.bal(2, BTC), (5 * LOT, 0));
    assert_eq!(h.bal(2, USD), (CASH + 196 + 289, 0));
    assert!(h.state.depth(SYM, Side::Buy).is_empty());
    // Market orders never rest; a budget is for buys only.
    h.reject(
        2,
        place(PlaceOrder {
            tif: TimeInForce::Gtc,
            ..p
        }),
        RejectReason::InvalidOrder,
    );
    h.reject(
        2,
        place(market(
            SYM,
            Side::Sell,
            MarketBound::QuoteBudget { amount: 100 },
            1,
        )),
        RejectReason::InvalidOrder,
    );
    // A sell with a protection price stops at it.
    h.place(1, buy(100, 2)); // 4
    h.place(1, buy(90, 2)); // 5
    let p = market(
        SYM,
        Side::Sell,
        MarketBound::ProtectionPrice { price: 95 },
        4,
    );
    let (o, events) = h.place(2, p);
    assert_eq!(
        events[1..],
        [
            order_accepted(o, 2, p, 4 * LOT),
            trade(4, o, 1, 2, Side::Sell, 100, 2, 2, 4),
            cancelled(o, 2, 2, CancelReason::IocRemainder),
        ]
    );
    finish(&h);
}

#[test]
fn market_buy_with_budget_stops_when_one_more_lot_is_unaffordable() {
    let mut h = setup();
    h.place(2, sell(100, 2)); // 1
    h.place(3, sell(150, 3)); // 2
    let p = market(SYM, Side::Buy, MarketBound::QuoteBudget { amount: 500 }, 10);
    let (o, events) = h.place(1, p);
    // 2 @ 100 costs 200 + 4 = 204, 296 left. At 150 one lot costs 153, two
    // cost 306 > 296: one lot (150, fees floor 1.5 = 1 / 3), 143 left.
    assert_eq!(
        events[1..],
        [
            order_accepted(o, 1, p, 500),
            trade(1, o, 2, 1, Side::Buy, 100, 2, 2, 4),
            trade(2, o, 3, 1, Side::Buy, 150, 1, 1, 3),
            cancelled(o, 1, 7, CancelReason::IocRemainder),
        ]
    );
    assert_eq!(h.bal(1, USD), (CASH - 357, 0));
    assert_eq!(h.bal(1, BTC), (13 * LOT, 0));
    assert_eq!(h.state.depth(SYM, Side::Sell), vec![(150, 2, 1)]);

    // Fees included: a fresh level at 100.
    h.place(2, sell(100, 5)); // 4
                              // Three lots cost 300 + 6 = 306 > 302 although 300 ≤ 302: two lots.
    let p = market(SYM, Side::Buy, MarketBound::QuoteBudget { amount: 302 }, 5);
    let (o, events) = h.place(1, p);
    assert_eq!(
        events[1..],
        [
            order_accepted(o, 1, p, 302),
            trade(4, o, 2, 1, Side::Buy, 100, 2, 2, 4),
            cancelled(o, 1, 3, CancelReason::IocRemainder),
        ]
    );
    // With exactly 306, three lots.
    let p = market(SYM, Side::Buy, MarketBound::QuoteBudget { amount: 306 }, 5);
    let (o, events) = h.place(1, p);
    assert_eq!(
        events[2..],
        [
            trade(4, o, 2, 1, Side::Buy, 100, 3, 3, 6),
            cancelled(o, 1, 2, CancelReason::IocRemainder),
        ]
    );
    assert_eq!(h.bal(1, USD), (CASH - 357 - 204 - 306, 0));
    // The budget must be available.
    h.reject(
        1,
        place(market(
            SYM,
            Side::Buy,
            MarketBound::QuoteBudget { amount: CASH },
            1,
        )),
        RejectReason::InsufficientFunds {
            asset: USD,
            needed: CASH,
            available: CASH - 867,
        },
    );
    // FOK by budget: 2 lots at 150 cost 306.
    let fok = |amount| PlaceOrder {
        tif: TimeInForce::Fok,
        ..market(SYM, Side::Buy, MarketBound::QuoteBudget { amount }, 2)
    };
    h.reject(1, place(fok(305)), RejectReason::FokNotFillable);
    let (o, events) = h.place(1, fok(306));
    assert_eq!(events[2..], [trade(2, o, 3, 1, Side::Buy, 150, 2, 3, 6)]);
    finish(&h);
}

#[test]
fn market_buy_with_protection_price_and_without_bound() {
    let mut h = setup();
    h.place(2, sell(100, 2)); // 1
    h.place(3, sell(102, 3)); // 2
    h.place(2, sell(105, 4)); // 3
    let p = market(
        SYM,
        Side::Buy,
        MarketBound::ProtectionPrice { price: 102 },
        10,
    );
    // Hold as a limit buy at 102: 1020 + floor(20.4) = 1040.
    let (o, events) = h.place(1, p);
    assert_eq!(
        events[1..],
        [
            order_accepted(o, 1, p, 1_040),
            trade(1, o, 2, 1, Side::Buy, 100, 2, 2, 4),
            trade(2, o, 3, 1, Side::Buy, 102, 3, 3, 6),
            cancelled(o, 1, 5, CancelReason::IocRemainder),
        ]
    );
    assert!(matches!(
        events[1],
        Event::OrderAccepted {
            price: 102,
            is_market: true,
            ..
        }
    ));
    assert_eq!(h.bal(1, USD), (CASH - 204 - 312, 0));
    assert_eq!(h.state.depth(SYM, Side::Sell), vec![(105, 4, 1)]);
    h.reject(
        1,
        place(market(SYM, Side::Buy, MarketBound::None, 1)),
        RejectReason::InvalidOrder,
    );
    h.reject(
        1,
        place(market(
            SYM,
            Side::Buy,
            MarketBound::ProtectionPrice { price: 0 },
            1,
        )),
        RejectReason::ZeroValue,
    );
    h.reject(
        1,
        place(market(
            SYM,
            Side::Buy,
            MarketBound::QuoteBudget { amount: 0 },
            1,
        )),
        RejectReason::ZeroValue,
    );
    h.reject(1, place(buy(100, 0)), RejectReason::ZeroValue);
    h.reject(1, place(buy(0, 1)), RejectReason::ZeroValue);
    h.reject(
        1,
        place(PlaceOrder {
            symbol: 7,
            ..buy(1, 1)
        }),
        RejectReason::UnknownSymbol { symbol: 7 },
    );
    finish(&h);
}

// ---------------------------------------------------------------- STP

/// Book for the STP tests: order 1 (account 2) then order 2 (account 1), both
/// selling 2 @ 100.
fn stp_book() -> Harness {
    let mut h = setup();
    h.place(2, sell(100, 2));
    h.place(1, sell(100, 2));
    h
}

fn stp_buy(stp: StpMode) -> PlaceOrder {
    PlaceOrder { stp, ..buy(100, 4) }
}

#[test]
fn stp_cancel_newest() {
    let mut h = stp_book();
    let (o, events) = h.place(1, stp_buy(StpMode::CancelNewest));
    assert_eq!(
        events[2..],
        [
            trade(1, o, 2, 1, Side::Buy, 100, 2, 2, 4),
            cancelled(o, 1, 2, CancelReason::SelfTradePrevention),
        ]
    );
    assert_eq!(h.state.depth(SYM, Side::Sell), vec![(100, 2, 1)]);
    assert!(h.state.order(2).is_some());
    assert!(h.state.depth(SYM, Side::Buy).is_empty());
    assert_eq!(h.bal(1, USD), (CASH - 204, 0));
    finish(&h);
}

#[test]
fn stp_cancel_oldest() {
    let mut h = stp_book();
    let (o, events) = h.place(1, stp_buy(StpMode::CancelOldest));
    assert_eq!(
        events[2..],
        [
            trade(1, o, 2, 1, Side::Buy, 100, 2, 2, 4),
            cancelled(2, 1, 2, CancelReason::SelfTradePrevention),
            rested(o),
        ]
    );
    assert!(h.state.order(2).is_none());
    assert!(h.state.depth(SYM, Side::Sell).is_empty());
    assert_eq!(h.state.depth(SYM, Side::Buy), vec![(100, 2, 1)]);
    assert_eq!(h.bal(1, BTC), (12 * LOT, 0), "2 lots bought, 2 released");
    finish(&h);
}

#[test]
fn stp_cancel_both() {
    let mut h = stp_book();
    let (o, events) = h.place(1, stp_buy(StpMode::CancelBoth));
    assert_eq!(
        events[2..],
        [
            trade(1, o, 2, 1, Side::Buy, 100, 2, 2, 4),
            cancelled(2, 1, 2, CancelReason::SelfTradePrevention),
            cancelled(o, 1, 2, CancelReason::SelfTradePrevention),
        ]
    );
    assert!(h.state.depth(SYM, Side::Sell).is_empty());
    assert!(h.state.depth(SYM, Side::Buy).is_empty());
    assert_eq!(h.bal(1, USD), (CASH - 204, 0));
    assert_eq!(h.bal(1, BTC), (12 * LOT, 0));
    finish(&h);
}

#[test]
fn stp_inside_fok() {
    for (stp, fillable) in [
        (StpMode::CancelNewest, false),
        (StpMode::CancelOldest, true),
        (StpMode::CancelBoth, false),
    ] {
        let mut h = stp_book();
        h.place(3, sell(100, 2)); // 3
        let p = PlaceOrder {
            tif: TimeInForce::Fok,
            ..stp_buy(stp)
        };
        if fillable {
            let (o, events) = h.place(1, p);
            assert_eq!(
                events[2..],
                [
                    trade(1, o, 2, 1, Side::Buy, 100, 2, 2, 4),
                    cancelled(2, 1, 2, CancelReason::SelfTradePrevention),
                    trade(3, o, 3, 1, Side::Buy, 100, 2, 2, 4),
                ]
            );
            assert!(h.state.depth(SYM, Side::Sell).is_empty());
        } else {
            // Rejected: the own order is not cancelled either.
            h.reject(1, place(p), RejectReason::FokNotFillable);
            assert_eq!(h.state.depth(SYM, Side::Sell), vec![(100, 6, 3)]);
        }
        finish(&h);
    }
}

#[test]
fn budget_is_checked_before_stp() {
    // Own ask at 150; the budget cannot buy one lot there (150 + 3 > 152),
    // so the walk stops as out of budget: no STP cancel even with
    // cancel-oldest, and the own ask stays.
    let mut h = setup();
    let (own, _) = h.place(1, sell(150, 2));
    let p = PlaceOrder {
        stp: StpMode::CancelOldest,
        ..market(SYM, Side::Buy, MarketBound::QuoteBudget { amount: 152 }, 1)
    };
    let (o, events) = h.place(1, p);
    assert_eq!(
        events[1..],
        [
            order_accepted(o, 1, p, 152),
            cancelled(o, 1, 1, CancelReason::IocRemainder)
        ]
    );
    assert!(h.state.order(own).is_some());
    // With 153 one lot is affordable: now STP applies to the own ask.
    let p = PlaceOrder {
        stp: StpMode::CancelOldest,
        ..market(SYM, Side::Buy, MarketBound::QuoteBudget { amount: 153 }, 1)
    };
    let (o, events) = h.place(1, p);
    assert_eq!(
        events[2..],
        [
            cancelled(own, 1, 2, CancelReason::SelfTradePrevention),
            cancelled(o, 1, 1, CancelReason::IocRemainder)
        ]
    );
    finish(&h);
}

#[test]
fn stp_applies_to_amend() {
    let mut h = setup();
    let (own, _) = h.place(1, sell(101, 2));
    let (bid, _) = h.place(
        1,
        PlaceOrder {
            stp: StpMode::CancelOldest,
            ..buy(99, 2)
        },
    );
    // Re-pricing the bid to 101 meets its own ask: cancel-oldest cancels it.
    let events = h.ok(1, amend(bid, 101, 2));
    assert_eq!(
        events[1..],
        [
            Event::OrderAmended {
                order: bid,
                price: 101,
                qty: 2,
                reserved: 206,
                priority_kept: false
            },
            cancelled(own, 1, 2, CancelReason::SelfTradePrevention),
            rested(bid),
        ]
    );
    finish(&h);
}

// ---------------------------------------------------------------- amend

#[test]
fn amend_reduce_keeps_priority_and_change_loses_it() {
    let mut h = setup();
    h.place(2, sell(100, 5)); // 1
    h.place(3, sell(100, 5)); // 2
    let events = h.ok(2, amend(1, 100, 3));
    assert_eq!(
        events[1..],
        [Event::OrderAmended {
            order: 1,
            price: 100,
            qty: 3,
            reserved: 3 * LOT,
            priority_kept: true
        }]
    );
    assert_eq!(h.bal(2, BTC), (7 * LOT, 3 * LOT));
    assert_eq!(h.state.depth(SYM, Side::Sell), vec![(100, 8, 2)]);
    // Still first in line.
    let (t, events) = h.place(1, buy(100, 1));
    assert_eq!(events[2..], [trade(1, t, 2, 1, Side::Buy, 100, 1, 1, 2)]);

    // Same price, larger qty: loses priority (goes to the back).
    let events = h.ok(2, amend(1, 100, 4));
    assert_eq!(
        events[1..],
        [
            Event::OrderAmended {
                order: 1,
                price: 100,
                qty: 4,
                reserved: 4 * LOT,
                priority_kept: false
            },
            rested(1),
        ]
    );
    assert_eq!(h.bal(2, BTC), (5 * LOT, 4 * LOT));
    let (t, events) = h.place(1, buy(100, 1));
    assert_eq!(events[2..], [trade(2, t, 3, 1, Side::Buy, 100, 1, 1, 2)]);

    // A re-price that crosses trades like a new taker, at the maker's price.
    let (bid, _) = h.place(1, buy(98, 2));
    let events = h.ok(3, amend(2, 97, 4));
    assert_eq!(
        events[1..],
        [
            Event::OrderAmended {
                order: 2,
                price: 97,
                qty: 4,
                reserved: 4 * LOT,
                priority_kept: false
            },
            // 2 @ 98 = 196: maker fee 1, taker fee 3.
            trade(bid, 2, 1, 3, Side::Sell, 98, 2, 1, 3),
            rested(2),
        ]
    );
    assert_eq!(
        h.state.depth(SYM, Side::Sell),
        vec![(97, 2, 1), (100, 4, 1)]
    );
    assert!(h.state.depth(SYM, Side::Buy).is_empty());

    // Validation.
    h.reject(3, amend(2, 97, 2), RejectReason::AmendNoChange);
    h.reject(3, amend(2, 0, 1), RejectReason::ZeroValue);
    h.reject(3, amend(2, 97, 0), RejectReason::ZeroValue);
    h.reject(1, amend(2, 97, 1), RejectReason::NotOrderOwner { order: 2 });
    h.reject(
        3,
        amend(999, 97, 1),
        RejectReason::UnknownOrder { order: 999 },
    );
    finish(&h);
}

#[test]
fn amend_increase_needs_available_funds() {
    let mut h = setup();
    h.open(4);
    h.deposit(4, USD, 1_000);
    // 5 @ 100 holds 500 + 10 = 510; 490 left.
    let (o, _) = h.place(4, buy(100, 5));
    assert_eq!(h.bal(4, USD), (490, 510));
    // 10 lots would hold 1020: 510 more, only 490 available.
    h.reject(
        4,
        amend(o, 100, 10),
        RejectReason::InsufficientFunds {
            asset: USD,
            needed: 510,
            available: 490,
        },
    );
    // 9 lots hold 900 + 18 = 918: 408 more.
    let events = h.ok(4, amend(o, 100, 9));
    assert_eq!(
        events[1],
        Event::OrderAmended {
            order: o,
            price: 100,
            qty: 9,
            reserved: 918,
            priority_kept: false
        }
    );
    assert_eq!(h.bal(4, USD), (82, 918));
    // Lowering the price releases: 9 @ 90 holds 810 + 16 = 826.
    h.ok(4, amend(o, 90, 9));
    assert_eq!(h.bal(4, USD), (174, 826));
    finish(&h);
}

// ---------------------------------------------------------------- cancels

#[test]
fn cancel_and_cancel_all() {
    let mut h = setup();
    let eth = h.add_asset("ETH", 0);
    let sym1 = h.add_symbol(spec(
        "ETH-USD",
        eth,
        USD,
        Fixed::new(1, 0),
        Fixed::new(1, 0),
        0,
        0,
    ));
    h.deposit(1, eth, 100);
    let (a, _) = h.place(1, buy(90, 1)); // sym 0
    let (b, _) = h.place(1, limit(sym1, Side::Sell, 50, 10));
    let (c, _) = h.place(1, sell(120, 1)); // sym 0
    let (d, _) = h.place(1, limit(sym1, Side::Buy, 40, 1));
    let (other, _) = h.place(2, buy(80, 1));

    h.reject(
        1,
        cancel(other),
        RejectReason::NotOrderOwner { order: other },
    );
    h.reject(
        1,
        cancel(12345),
        RejectReason::UnknownOrder { order: 12345 },
    );
    h.reject(
        1,
        CommandKind::CancelAll { symbol: Some(9) },
        RejectReason::UnknownSymbol { symbol: 9 },
    );

    let events = h.ok(1, CommandKind::CancelAll { symbol: Some(sym1) });
    assert_eq!(
        events[1..],
        [
            cancelled(b, 1, 10, CancelReason::MassCancel),
            cancelled(d, 1, 1, CancelReason::MassCancel),
        ]
    );
    assert_eq!(h.bal(1, eth), (100, 0));
    let events = h.ok(1, CommandKind::CancelAll { symbol: None });
    assert_eq!(
        events[1..],
        [
            cancelled(a, 1, 1, CancelReason::MassCancel),
            cancelled(c, 1, 1, CancelReason::MassCancel),
        ]
    );
    assert_eq!(h.bal(1, USD), (CASH, 0));
    assert_eq!(h.bal(1, BTC), (10 * LOT, 0));
    assert!(h.state.order(other).is_some());
    // Nothing left: still accepted, no facts.
    let r = h.next_req(1);
    assert_eq!(
        h.run(1, CommandKind::CancelAll { symbol: None }),
        vec![accepted(1, r)]
    );
    finish(&h);
}

// ---------------------------------------------------------------- GTD

fn gtd(p: PlaceOrder, expiry_ns: u64) -> PlaceOrder {
    PlaceOrder {
        tif: TimeInForce::Gtd { expiry_ns },
        ..p
    }
}

#[test]
fn gtd_expires_before_the_next_command_at_or_after_expiry() {
    let mut h = setup();
    let t0 = h.now;
    let (o1, _) = h.place(1, gtd(buy(99, 1), t0 + 2_000));
    let (o2, _) = h.place(1, gtd(buy(98, 1), t0 + 1_500));
    let (o3, _) = h.place(2, gtd(buy(97, 1), t0 + 1_500));
    let (o4, _) = h.place(1, buy(96, 1));
    let now = h.now;
    h.reject(
        1,
        place(gtd(buy(95, 1), now + 10)),
        RejectReason::InvalidOrder,
    ); // expiry == now (+10 is the command's time)
    h.reject(1, place(gtd(buy(95, 1), 5)), RejectReason::InvalidOrder);

    let dep = CommandKind::Deposit {
        asset: USD,
        amount: 1,
    };
    // One ns before: nothing expires.
    let events = h.run_at(t0 + 1_499, 3, dep);
    assert_eq!(events.len(), 2);
    // At the expiry: o2 then o3 (same expiry, by id), before the command.
    let r = h.next_req(3);
    let events = h.run_at(t0 + 1_500, 3, dep);
    assert_eq!(
        events,
        vec![
            cancelled(o2, 1, 1, CancelReason::Expired),
            cancelled(o3, 2, 1, CancelReason::Expired),
            accepted(3, r),
            Event::Deposited {
                account: 3,
                asset: USD,
                amount: 1
            },
        ]
    );
    assert_eq!(h.bal(2, USD), (CASH, 0));
    // Expiries precede even a rejected command.
    let r = h.next_req(3);
    let events = h.run_at(t0 + 5_000, 3, cancel(o1));
    assert_eq!(
        events,
        vec![
            cancelled(o1, 1, 1, CancelReason::Expired),
            rejected(3, r, RejectReason::UnknownOrder { order: o1 }).remove(0),
        ]
    );
    assert_eq!(h.state.depth(SYM, Side::Buy), vec![(96, 1, 1)]);
    assert!(h.state.order(o4).is_some());
    assert_eq!(h.bal(1, USD), (CASH - 97, 97));
    finish(&h);
}

#[test]
fn gtd_expiry_order_is_by_expiry_then_id() {
    let mut h = setup();
    let t0 = h.now;
    let (o1, _) = h.place(1, gtd(sell(110, 1), t0 + 300));
    let (o2, _) = h.place(2, gtd(sell(111, 1), t0 + 100));
    let (o3, _) = h.place(3, gtd(sell(112, 1), t0 + 300));
    let (o4, _) = h.place(1, gtd(sell(113, 1), t0 + 200));
    // An incoming buy at t0 + 1000 cannot match any expired order.
    let p = PlaceOrder {
        tif: TimeInForce::Ioc,
        ..buy(120, 1)
    };
    let events = h.run_at(t0 + 1_000, 1, place(p));
    assert_eq!(
        events[..4],
        [
            cancelled(o2, 2, 1, CancelReason::Expired),
            cancelled(o4, 1, 1, CancelReason::Expired),
            cancelled(o1, 1, 1, CancelReason::Expired),
            cancelled(o3, 3, 1, CancelReason::Expired),
        ]
    );
    assert_eq!(
        events[5..],
        [
            order_accepted(5, 1, p, 122),
            cancelled(5, 1, 1, CancelReason::IocRemainder)
        ]
    );
    finish(&h);
}

// ---------------------------------------------------------------- halts

#[test]
fn halted_symbol_rejects_place_and_amend_but_allows_cancel() {
    let mut h = setup();
    let (o1, _) = h.place(1, buy(99, 1));
    let (o2, _) = h.place(1, buy(98, 1));
    let (o3, _) = h.place(2, buy(97, 1));
    h.ok(OP, CommandKind::HaltSymbol { symbol: SYM });
    let halted = RejectReason::SymbolHalted { symbol: SYM };
    h.reject(1, place(buy(99, 1)), halted);
    h.reject(1, place(sell(200, 1)), halted);
    h.reject(1, amend(o1, 99, 2), halted);
    h.reject(1, amend(o1, 98, 1), halted);
    let events = h.ok(1, cancel(o1));
    assert_eq!(events[1], cancelled(o1, 1, 1, CancelReason::User));
    let events = h.ok(2, CommandKind::CancelAll { symbol: Some(SYM) });
    assert_eq!(events[1], cancelled(o3, 2, 1, CancelReason::MassCancel));
    h.ok(OP, CommandKind::ResumeSymbol { symbol: SYM });
    h.ok(1, amend(o2, 98, 2));
    h.place(1, buy(99, 1));
    finish(&h);
}

// ---------------------------------------------------------------- limits

#[test]
fn order_limits() {
    let mut h = Harness::new(keel_core::Limits {
        max_orders: 5,
        max_open_orders_per_account: 3,
        ..small_limits()
    });
    h.add_asset("BTC", 8);
    h.add_asset("USD", 2);
    h.add_symbol(btc_usd());
    for a in 1..=2 {
        h.open(a);
        h.deposit(a, USD, CASH);
    }
    for p in 1..=3 {
        h.place(1, buy(p, 1));
    }
    h.reject(
        1,
        place(buy(4, 1)),
        RejectReason::AccountOrderLimit { max_open_orders: 3 },
    );
    h.place(2, buy(5, 1));
    h.place(2, buy(6, 1));
    h.reject(
        2,
        place(buy(7, 1)),
        RejectReason::OrderCapacity { max_orders: 5 },
    );
    finish(&h);
}

// ---------------------------------------------------------------- overflow

#[test]
fn overflow_is_rejected_with_state_unchanged() {
    let mut h = setup();
    let overflow = RejectReason::Overflow;
    h.reject(1, place(buy(u64::MAX, 1)), overflow);
    h.reject(1, place(buy(1, u64::MAX)), overflow);
    h.reject(1, place(buy(1 << 63, 2)), overflow);
    h.reject(2, place(sell(100, u64::MAX)), overflow);
    h.reject(
        1,
        place(market(
            SYM,
            Side::Buy,
            MarketBound::ProtectionPrice { price: u64::MAX },
            1,
        )),
        overflow,
    );
    // A sell at the top price rests (it holds base only)...
    let (top, _) = h.place(2, sell(u64::MAX, 1));
    assert_eq!(h.state.depth(SYM, Side::Sell), vec![(u64::MAX, 1, 1)]);
    // ...but no budget can buy a lot of it.
    let p = market(SYM, Side::Buy, MarketBound::QuoteBudget { amount: CASH }, 1);
    let (o, events) = h.place(1, p);
    assert_eq!(
        events[1..],
        [
            order_accepted(o, 1, p, CASH),
            cancelled(o, 1, 1, CancelReason::IocRemainder)
        ]
    );
    h.reject(2, amend(top, u64::MAX, u64::MAX), overflow);
    let (b, _) = h.place(1, buy(10, 1));
    h.reject(1, amend(b, u64::MAX, 1), overflow);

    // Deposits overflowing the supply.
    let remaining = u64::MAX - h.state.asset(BTC).unwrap().supply;
    h.deposit(3, BTC, remaining);
    assert_eq!(h.state.asset(BTC).unwrap().supply, u64::MAX);
    h.reject(
        1,
        CommandKind::Deposit {
            asset: BTC,
            amount: 1,
        },
        overflow,
    );
    h.reject(
        OP,
        CommandKind::Deposit {
            asset: BTC,
            amount: u64::MAX,
        },
        overflow,
    );
    finish(&h);
}

#[test]
fn extreme_fee_rate_leaves_seller_nothing() {
    // Maker and taker fee both 10000 bps: the buyer pays double, the seller
    // receives nothing, the operator everything.
    let mut h = Harness::new(small_limits());
    h.add_asset("A", 0);
    h.add_asset("B", 0);
    h.add_symbol(spec(
        "A-B",
        0,
        1,
        Fixed::new(1, 0),
        Fixed::new(1, 0),
        10_000,
        10_000,
    ));
    for a in 1..=2 {
        h.open(a);
        h.deposit(a, 0, 100);
        h.deposit(a, 1, 1_000);
    }
    let (m, _) = h.place(2, limit(0, Side::Sell, 10, 3));
    let (t, events) = h.place(1, limit(0, Side::Buy, 10, 3));
    assert_eq!(
        events[2],
        Event::TradeExecuted(Trade {
            symbol: 0,
            maker_order: m,
            taker_order: t,
            maker_account: 2,
            taker_account: 1,
            taker_side: Side::Buy,
            price: 10,
            qty: 3,
            maker_fee: 30,
            taker_fee: 30
        })
    );
    assert_eq!(h.bal(1, 1), (940, 0));
    assert_eq!(h.bal(2, 1), (1_000, 0));
    assert_eq!(h.bal(OP, 1), (60, 0));
    finish(&h);
}

// ---------------------------------------------------------------- budget walk (issue 17)

/// Taker fee 200 bps, floored: at 30 cents a lot, one lot costs 30, three
/// cost 90 + 1 = 91 and four cost 120 + 2 = 122. So with 121 the walk takes
/// three lots from the oldest maker, and the 30 left buy exactly one more
/// lot *from the same maker* (it is older than maker 2 and still has lots).
#[test]
fn budget_buy_takes_the_same_maker_again_before_a_younger_one() {
    let mut h = setup();
    h.place(2, sell(30, 5)); // 1, older
    h.place(3, sell(30, 5)); // 2, younger, same price
    let p = market(SYM, Side::Buy, MarketBound::QuoteBudget { amount: 121 }, 10);
    let (o, events) = h.place(1, p);
    assert_eq!(
        events[1..],
        [
            order_accepted(o, 1, p, 121),
            // 3 @ 30 = 90: maker fee floor(0.9) = 0, taker fee floor(1.8) = 1.
            trade(1, o, 2, 1, Side::Buy, 30, 3, 0, 1),
            // Exact budget: 30 left, one lot costs 30 + floor(0.6) = 30.
            trade(1, o, 2, 1, Side::Buy, 30, 1, 0, 0),
            cancelled(o, 1, 6, CancelReason::IocRemainder),
        ]
    );
    assert_eq!(h.bal(1, USD), (CASH - 121, 0));
    assert_eq!(h.state.depth(SYM, Side::Sell), vec![(30, 6, 2)]);
    // Maker 1 keeps its place with one lot: it is still first.
    let (t, events) = h.place(3, buy(30, 1));
    assert_eq!(events[2..], [trade(1, t, 2, 3, Side::Buy, 30, 1, 0, 0)]);
    finish(&h);
}

#[test]
fn budget_one_minor_unit_short_stops_at_the_oldest_maker() {
    let mut h = setup();
    h.place(2, sell(30, 5)); // 1
    h.place(3, sell(30, 5)); // 2
                             // 120: three lots cost 91, four 122 > 120; 29 left < 30 for one more lot.
    let p = market(SYM, Side::Buy, MarketBound::QuoteBudget { amount: 120 }, 10);
    let (o, events) = h.place(1, p);
    assert_eq!(
        events[2..],
        [
            trade(1, o, 2, 1, Side::Buy, 30, 3, 0, 1),
            cancelled(o, 1, 7, CancelReason::IocRemainder),
        ]
    );
    // The hold is released in full: 91 spent, 29 back.
    assert_eq!(h.bal(1, USD), (CASH - 91, 0));
    assert_eq!(h.state.depth(SYM, Side::Sell), vec![(30, 7, 2)]);
    finish(&h);
}

#[test]
fn budget_fok_fills_completely_over_two_fills_of_one_maker() {
    let mut h = setup();
    h.place(2, sell(30, 5)); // 1
    h.place(3, sell(30, 5)); // 2
    let fok = |amount, qty| PlaceOrder {
        tif: TimeInForce::Fok,
        ..market(SYM, Side::Buy, MarketBound::QuoteBudget { amount }, qty)
    };
    // Four lots: one fill of four costs 122, but 3 + 1 cost 91 + 30 = 121.
    h.reject(1, place(fok(120, 4)), RejectReason::FokNotFillable);
    let (o, events) = h.place(1, fok(121, 4));
    assert_eq!(
        events[2..],
        [
            trade(1, o, 2, 1, Side::Buy, 30, 3, 0, 1),
            trade(1, o, 2, 1, Side::Buy, 30, 1, 0, 0),
        ]
    );
    assert_eq!(h.bal(1, USD), (CASH - 121, 0));
    assert_eq!(h.state.depth(SYM, Side::Sell), vec![(30, 6, 2)]);
    finish(&h);
}

/// The case of issue 17, with `configs/default.toml`'s ETH-USD: tick 0.01,
/// lot 0.001, maker fee 0, taker fee 3 bps; ETH scale 8, USD scale 6.
#[test]
fn budget_buy_issue_17_case_fills_14_lots_from_the_oldest_maker() {
    let mut h = Harness::new(small_limits());
    let eth = h.add_asset("ETH", 8);
    let usd = h.add_asset("USD", 6);
    let sym = h.add_symbol(spec(
        "ETH-USD",
        eth,
        usd,
        Fixed::new(1, 2),
        Fixed::new(1, 3),
        0,
        3,
    ));
    for a in 1..=3 {
        h.open(a);
    }
    h.deposit(1, eth, 100_000_000);
    h.deposit(2, eth, 100_000_000);
    h.deposit(3, usd, 100_000_000);
    let (o1, _) = h.place(1, limit(sym, Side::Sell, 199_895, 20));
    let (o2, _) = h.place(2, limit(sym, Side::Sell, 199_895, 10));
    let p = market(
        sym,
        Side::Buy,
        MarketBound::QuoteBudget { amount: 27_993_694 },
        14,
    );
    let (t, events) = h.place(3, p);
    // One lot is 1.99895 USD = 1_998_950 µUSD. 14 lots in one fill cost
    // 27_985_300 + floor(8_395.59) = 27_993_695, one more than the budget;
    // 13 lots cost 25_986_350 + 7_795 = 25_994_145, leaving 1_999_549, which
    // is exactly one more lot: 1_998_950 + floor(599.685) = 1_999_549.
    let t_trade = |qty, taker_fee| {
        Event::TradeExecuted(Trade {
            symbol: sym,
            maker_order: o1,
            taker_order: t,
            maker_account: 1,
            taker_account: 3,
            taker_side: Side::Buy,
            price: 199_895,
            qty,
            maker_fee: 0,
            taker_fee,
        })
    };
    assert_eq!(events[2..], [t_trade(13, 7_795), t_trade(1, 599)]);
    assert_eq!(h.bal(3, usd), (100_000_000 - 27_993_694, 0));
    assert_eq!(h.bal(3, eth), (1_400_000, 0));
    assert_eq!(
        h.state.depth(sym, Side::Sell),
        vec![(199_895, 16, 2)],
        "order 1 keeps 6 lots ahead of order {o2}"
    );
    finish(&h);
}

// ---------------------------------------------------------------- level capacity (issue 17)

fn two_level_book() -> Harness {
    let mut h = Harness::new(keel_core::Limits {
        max_levels: 2,
        ..small_limits()
    });
    h.add_asset("BTC", 8);
    h.add_asset("USD", 2);
    h.add_symbol(btc_usd());
    for account in 1..=3 {
        h.open(account);
        h.deposit(account, USD, CASH);
        h.deposit(account, BTC, 10 * LOT);
    }
    h.place(1, buy(100, 1)); // 1: level 100 (bids)
    h.place(2, sell(200, 2)); // 2: level 200 (asks)
    h
}

const LEVEL_CAPACITY: RejectReason = RejectReason::LevelCapacity { max_levels: 2 };

#[test]
fn level_capacity_rejects_a_remainder_that_needs_a_new_level() {
    let mut h = two_level_book();
    h.reject(1, place(buy(150, 1)), LEVEL_CAPACITY);
    h.reject(3, place(sell(250, 1)), LEVEL_CAPACITY);
    // Existing levels still take orders.
    h.place(3, buy(100, 1));
    h.place(3, sell(200, 1));
    // Orders that never rest are never rejected for capacity.
    let p = PlaceOrder {
        tif: TimeInForce::Ioc,
        ..buy(150, 1)
    };
    let (o, events) = h.place(1, p);
    assert_eq!(
        events[2..],
        [cancelled(o, 1, 1, CancelReason::IocRemainder)]
    );
    finish(&h);
}

#[test]
fn level_capacity_counts_levels_the_order_itself_empties() {
    let mut h = two_level_book();
    // Fills completely inside level 200: never rests, never rejected.
    let (o, events) = h.place(3, buy(200, 1));
    assert_eq!(events[2..], [trade(2, o, 2, 3, Side::Buy, 200, 1, 2, 4)]);
    // Sweeps level 200 (1 lot left) and rests the remainder at 200: the
    // level it empties is free for its own remainder.
    let (o, events) = h.place(3, buy(200, 3));
    assert_eq!(
        events[2..],
        [trade(2, o, 2, 3, Side::Buy, 200, 1, 2, 4), rested(o)]
    );
    assert_eq!(
        h.state.depth(SYM, Side::Buy),
        vec![(200, 2, 1), (100, 1, 1)]
    );
    assert!(h.state.depth(SYM, Side::Sell).is_empty());
    finish(&h);
}

#[test]
fn level_capacity_counts_the_level_an_amend_leaves() {
    let mut h = two_level_book();
    // The only order at 100 moves to 101: 100 is freed, 101 takes its slot.
    let events = h.ok(1, amend(1, 101, 1));
    assert_eq!(
        events[1..],
        [
            Event::OrderAmended {
                order: 1,
                price: 101,
                qty: 1,
                reserved: 101 + 2,
                priority_kept: false
            },
            rested(1),
        ]
    );
    // Same price, more lots: leaves its level and comes back to it.
    h.ok(1, amend(1, 101, 2));
    assert_eq!(h.state.depth(SYM, Side::Buy), vec![(101, 2, 1)]);
    // With a second order on 101, moving one of them frees nothing.
    h.place(3, buy(101, 1)); // 3
    h.reject(1, amend(1, 102, 2), LEVEL_CAPACITY);
    finish(&h);
}

/// `level_capacity` is the last check of place and amend: it is decided
/// after the walk, so every other reason wins over it.
#[test]
fn level_capacity_comes_after_every_other_check() {
    let mut h = two_level_book();
    h.open(4);
    h.deposit(4, USD, 10);
    h.reject(
        4,
        place(buy(150, 1)),
        RejectReason::InsufficientFunds {
            asset: USD,
            needed: 153,
            available: 10,
        },
    );
    let post_only = |p: PlaceOrder| PlaceOrder {
        post_only: true,
        ..p
    };
    h.reject(
        1,
        place(post_only(buy(200, 1))),
        RejectReason::PostOnlyWouldCross,
    );
    h.reject(1, place(post_only(buy(150, 1))), LEVEL_CAPACITY);
    h.reject(1, place(buy(0, 1)), RejectReason::ZeroValue);
    h.reject(1, amend(1, 150, 0), RejectReason::ZeroValue);
    finish(&h);
}

// ---------------------------------------------------------------- request ids (issues 11, 17)

#[test]
fn open_account_repeat_is_a_duplicate_before_account_exists() {
    let mut h = setup();
    let last = h.last_req(1);
    // A retried open (same or older request id) is answered as a retry.
    h.reject_req(
        1,
        last,
        CommandKind::OpenAccount,
        RejectReason::Duplicate {
            last_request_id: last,
        },
    );
    // A fresh request id for an open account: it exists.
    h.reject(
        1,
        CommandKind::OpenAccount,
        RejectReason::AccountExists { account: 1 },
    );
    // Request id 0 for a new account is a duplicate of "nothing yet".
    h.reject_req(
        9,
        0,
        CommandKind::OpenAccount,
        RejectReason::Duplicate { last_request_id: 0 },
    );
    finish(&h);
}

#[test]
fn request_id_above_two_to_the_53_is_rejected_first() {
    let mut h = setup();
    let max = keel_core::model::MAX_REQUEST_ID;
    assert_eq!(max, 9_007_199_254_740_991);
    for (account, kind) in [
        (
            1,
            CommandKind::Deposit {
                asset: USD,
                amount: 1,
            },
        ),
        (9, CommandKind::OpenAccount),
        (
            1234,
            CommandKind::Deposit {
                asset: USD,
                amount: 1,
            },
        ),
    ] {
        for request_id in [max + 1, u64::MAX] {
            h.reject_req(
                account,
                request_id,
                kind,
                RejectReason::RequestIdOutOfRange { request_id },
            );
        }
    }
    // The maximum itself is accepted, and then the account is done.
    h.run_req(
        1,
        max,
        CommandKind::Deposit {
            asset: USD,
            amount: 1,
        },
    );
    assert_eq!(h.last_req(1), max);
    finish(&h);
}
