//! Orders: place, cancel, amend, cancel-all.

use super::funds::check_available;
use crate::core::matching::{walk, MatchOutcome, Taker};
use crate::model::money::buy_cost;
use crate::model::{
    AccountId, CancelReason, Event, MarketBound, OrderId, OrderType, PlaceOrder, RejectReason,
    Side, SymbolId, TimeInForce,
};
use crate::state::{Order, State, Symbol};

/// What an order of `side` for `qty` lots at `price` must hold: for a buy
/// the notional plus the worst-case fee in quote, for a sell the lots in base.
fn hold_for(symbol: &Symbol, side: Side, price: u64, qty: u64) -> Result<u64, RejectReason> {
    match side {
        Side::Buy => buy_cost(&symbol.scales, price, qty, symbol.hold_fee_bps()),
        Side::Sell => symbol.scales.base_amount(qty),
    }
    .ok_or(RejectReason::Overflow)
}

/// Rejects a remainder that would rest on a new price level when every
/// level slot is in use **in the state the order leaves**: the levels its
/// own walk empties (`emptied`) and the level an amended order (`moving`)
/// leaves empty count as free. Decided after matching, so an order that
/// fills completely, or does not rest, is never rejected for capacity.
fn check_level_capacity(
    state: &State,
    symbol: SymbolId,
    side: Side,
    price: u64,
    emptied: u32,
    moving: Option<&Order>,
) -> Result<(), RejectReason> {
    let used = state.levels.len() as u64 - emptied as u64;
    // Cheap test first (before looking at the moving order's level, a
    // branch no predictor guesses): levels are almost never all in use.
    if used < state.levels.capacity() as u64 {
        return Ok(());
    }
    let freed_own = moving.and_then(|o| level_freed_by_move(state, o));
    if used - u64::from(freed_own.is_some()) < state.levels.capacity() as u64 {
        return Ok(());
    }
    // The walk only touches the other side, so the level exists afterwards
    // unless it is the one the amended order leaves empty.
    let exists = state.books[symbol as usize]
        .side(side)
        .find(&state.levels, price)
        .is_some()
        && freed_own != Some(price);
    if exists {
        return Ok(());
    }
    Err(RejectReason::LevelCapacity {
        max_levels: state.limits.max_levels,
    })
}

/// The price of the level `o` leaves empty when it moves off it, if it is
/// the only order there.
fn level_freed_by_move(state: &State, o: &Order) -> Option<u64> {
    let level = state.levels.get(o.level)?;
    (level.order_count == 1).then_some(level.price)
}

fn tradable_symbol(state: &State, symbol: SymbolId) -> Result<&Symbol, RejectReason> {
    let s = state
        .symbol(symbol)
        .ok_or(RejectReason::UnknownSymbol { symbol })?;
    if s.halted {
        return Err(RejectReason::SymbolHalted { symbol });
    }
    Ok(s)
}

fn owned_order(state: &State, account: AccountId, order: OrderId) -> Result<&Order, RejectReason> {
    let o = state
        .order(order)
        .ok_or(RejectReason::UnknownOrder { order })?;
    if o.account != account {
        return Err(RejectReason::NotOrderOwner { order });
    }
    Ok(o)
}

pub fn place(
    state: &State,
    account: AccountId,
    p: &PlaceOrder,
    now_ns: u64,
    out: &mut Vec<Event>,
) -> Result<(), RejectReason> {
    let symbol = tradable_symbol(state, p.symbol)?;
    if p.qty == 0 {
        return Err(RejectReason::ZeroValue);
    }
    // (is_market, price in the event, walk limit, budget)
    let (is_market, price, limit, budget) = match (p.order_type, p.side) {
        (OrderType::Limit { price: 0 }, _) => return Err(RejectReason::ZeroValue),
        (OrderType::Limit { price }, _) => (false, price, Some(price), None),
        (
            OrderType::Market {
                bound: MarketBound::ProtectionPrice { price: 0 },
            },
            _,
        ) => return Err(RejectReason::ZeroValue),
        (
            OrderType::Market {
                bound: MarketBound::ProtectionPrice { price },
            },
            _,
        ) => (true, price, Some(price), None),
        (
            OrderType::Market {
                bound: MarketBound::QuoteBudget { amount: 0 },
            },
            Side::Buy,
        ) => return Err(RejectReason::ZeroValue),
        (
            OrderType::Market {
                bound: MarketBound::QuoteBudget { amount },
            },
            Side::Buy,
        ) => (true, 0, None, Some(amount)),
        (
            OrderType::Market {
                bound: MarketBound::None,
            },
            Side::Sell,
        ) => (true, 0, None, None),
        // A market buy needs a bound; a budget makes no sense on a sell.
        (OrderType::Market { .. }, _) => return Err(RejectReason::InvalidOrder),
    };
    let rests = match p.tif {
        TimeInForce::Gtc => true,
        TimeInForce::Gtd { expiry_ns } => {
            if expiry_ns <= now_ns {
                return Err(RejectReason::InvalidOrder);
            }
            true
        }
        TimeInForce::Ioc | TimeInForce::Fok => false,
    };
    // A market order never rests; post-only only makes sense on a resting limit.
    if is_market && rests {
        return Err(RejectReason::InvalidOrder);
    }
    if p.post_only && (is_market || !rests) {
        return Err(RejectReason::InvalidOrder);
    }
    if state.orders.is_full() {
        return Err(RejectReason::OrderCapacity {
            max_orders: state.limits.max_orders,
        });
    }
    let open = state.account(account).map_or(0, |a| a.open_orders);
    let max_open_orders = state.limits.max_open_orders_per_account;
    if open >= max_open_orders {
        return Err(RejectReason::AccountOrderLimit { max_open_orders });
    }
    let hold = match budget {
        Some(amount) => amount,
        None => hold_for(symbol, p.side, price, p.qty)?,
    };
    let asset = state.hold_asset(symbol, p.side);
    check_available(state, account, asset, hold)?;
    let opposite = state.books[p.symbol as usize].side(p.side.opposite());
    if p.post_only && opposite.crosses(price) {
        return Err(RejectReason::PostOnlyWouldCross);
    }
    let order = state.next_order_id;
    out.push(Event::OrderAccepted {
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
    });
    let taker = Taker {
        order,
        account,
        symbol: p.symbol,
        side: p.side,
        limit,
        qty: p.qty,
        budget,
        stp: p.stp,
        max_touches: state.limits.max_fills_per_command,
    };
    let outcome = walk(state, symbol, &taker, out)?;
    if p.tif == TimeInForce::Fok && outcome.remaining > 0 {
        return Err(RejectReason::FokNotFillable);
    }
    let rests_now = rests && outcome.remaining > 0 && !outcome.taker_cancelled;
    if rests_now && !outcome.fill_limited {
        check_level_capacity(state, p.symbol, p.side, price, outcome.levels_emptied, None)?;
    }
    if outcome.remaining > 0 && !outcome.taker_cancelled {
        out.push(if outcome.fill_limited {
            Event::OrderCancelled {
                order,
                account,
                remaining: outcome.remaining,
                reason: CancelReason::FillLimit,
            }
        } else if rests {
            Event::OrderRested { order }
        } else {
            Event::OrderCancelled {
                order,
                account,
                remaining: outcome.remaining,
                reason: CancelReason::IocRemainder,
            }
        });
    }
    Ok(())
}

pub fn cancel(
    state: &State,
    account: AccountId,
    order: OrderId,
    out: &mut Vec<Event>,
) -> Result<(), RejectReason> {
    let o = owned_order(state, account, order)?;
    out.push(Event::OrderCancelled {
        order,
        account,
        remaining: o.remaining,
        reason: CancelReason::User,
    });
    Ok(())
}

pub fn amend(
    state: &State,
    account: AccountId,
    order: OrderId,
    price: u64,
    qty: u64,
    out: &mut Vec<Event>,
) -> Result<(), RejectReason> {
    let o = owned_order(state, account, order)?;
    let symbol = tradable_symbol(state, o.symbol)?;
    if price == 0 || qty == 0 {
        return Err(RejectReason::ZeroValue);
    }
    if price == o.price && qty == o.remaining {
        return Err(RejectReason::AmendNoChange);
    }
    let priority_kept = price == o.price && qty < o.remaining;
    let reserved = hold_for(symbol, o.side, price, qty)?;
    if reserved > o.reserved {
        let asset = state.hold_asset(symbol, o.side);
        check_available(state, account, asset, reserved - o.reserved)?;
    }
    // Whether the moved order meets the other side (only asked when it
    // moves: a kept-priority reduction never trades).
    let crosses = !priority_kept
        && state.books[o.symbol as usize]
            .side(o.side.opposite())
            .crosses(price);
    if crosses && o.post_only {
        return Err(RejectReason::PostOnlyWouldCross);
    }
    out.push(Event::OrderAmended {
        order,
        price,
        qty,
        reserved,
        priority_kept,
    });
    if priority_kept {
        return Ok(());
    }
    // Most amends move an order without meeting the other side: no walk.
    let outcome = if crosses {
        let taker = Taker {
            order,
            account,
            symbol: o.symbol,
            side: o.side,
            limit: Some(price),
            qty,
            budget: None,
            stp: o.stp,
            max_touches: state.limits.max_fills_per_command,
        };
        walk(state, symbol, &taker, out)?
    } else {
        MatchOutcome::ended(qty, false, 0)
    };
    if outcome.remaining > 0 && !outcome.taker_cancelled && !outcome.fill_limited {
        check_level_capacity(
            state,
            o.symbol,
            o.side,
            price,
            outcome.levels_emptied,
            Some(o),
        )?;
    }
    if outcome.remaining > 0 && !outcome.taker_cancelled {
        out.push(if outcome.fill_limited {
            Event::OrderCancelled {
                order,
                account,
                remaining: outcome.remaining,
                reason: CancelReason::FillLimit,
            }
        } else {
            Event::OrderRested { order }
        });
    }
    Ok(())
}

/// Cancels the account's open orders (on `symbol` if given), oldest first,
/// at most `limits.max_cancels_per_record` of them; returns whether more
/// remain, for a [`CommandKind::CancelAllContinued`](crate::model::CommandKind::CancelAllContinued)
/// to take on.
pub fn cancel_all(
    state: &State,
    account: AccountId,
    symbol: Option<SymbolId>,
    out: &mut Vec<Event>,
) -> Result<bool, RejectReason> {
    if let Some(symbol) = symbol {
        state
            .symbol(symbol)
            .ok_or(RejectReason::UnknownSymbol { symbol })?;
    }
    let mut left = state.limits.max_cancels_per_record;
    for o in state.account_orders(account) {
        if symbol.is_none_or(|s| s == o.symbol) {
            if left == 0 {
                return Ok(true);
            }
            left -= 1;
            out.push(Event::OrderCancelled {
                order: o.id,
                account,
                remaining: o.remaining,
                reason: CancelReason::MassCancel,
            });
        }
    }
    Ok(false)
}
