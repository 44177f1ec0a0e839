//! The matching walk. It reads the book and writes the trades (and
//! self-trade cancels) an incoming order would cause, without mutating
//! anything: the caller can still drop them all (FOK) before `apply`.

use crate::model::money::{affordable_qty, fee};
use crate::model::Trade;
use crate::model::{
    AccountId, CancelReason, Event, OrderId, RejectReason, Side, StpMode, SymbolId,
};
use crate::state::slab::NIL;
use crate::state::{State, Symbol};

/// The incoming order, as the walk sees it.
pub struct Taker {
    /// The incoming order's id.
    pub order: OrderId,
    /// Its owner.
    pub account: AccountId,
    /// The symbol.
    pub symbol: SymbolId,
    /// Its side (it matches the other one).
    pub side: Side,
    /// Worst acceptable price, or `None` for an unbounded market order.
    pub limit: Option<u64>,
    /// Lots to fill.
    pub qty: u64,
    /// Quote the order may still spend, fees included (market buy by budget).
    pub budget: Option<u64>,
    /// Its self-trade prevention mode.
    pub stp: StpMode,
    /// Most resting orders it may touch (trades plus self-trade cancels).
    pub max_touches: u32,
}

/// What the walk left of the incoming order.
pub struct MatchOutcome {
    /// Lots left unfilled.
    pub remaining: u64,
    /// Self-trade prevention already cancelled the incoming order.
    pub taker_cancelled: bool,
    /// The walk stopped at `max_touches` with another acceptable maker
    /// still in the book: the remainder must not rest.
    pub fill_limited: bool,
    /// Price levels the walk empties completely (every maker on them filled
    /// or cancelled by self-trade prevention): after `apply` their slots are
    /// free, which is what a remainder that rests may use (`level_capacity`
    /// is decided on the state the order leaves).
    pub levels_emptied: u32,
}

impl MatchOutcome {
    pub(crate) fn ended(
        remaining: u64,
        taker_cancelled: bool,
        levels_emptied: u32,
    ) -> MatchOutcome {
        MatchOutcome {
            remaining,
            taker_cancelled,
            fill_limited: false,
            levels_emptied,
        }
    }
}

/// Walks the opposite side best-first, FIFO within a level, and pushes the
/// resulting events. It touches at most `taker.max_touches` resting orders.
/// A budget buy takes each maker, in price-time order, for as many lots as
/// the remaining budget affords (notional plus taker fee); when that leaves
/// the maker with lots, it tries the same maker again for what the rest of
/// the budget affords (fees round down, so two fills can cost less than
/// one), and moves to the next maker only when the current one is exhausted.
/// It stops when not one more lot at the current price is affordable: a
/// younger maker never trades before an older one it left unfilled.
/// Fails with `Overflow` if a fill's amounts do not fit.
pub fn walk(
    state: &State,
    symbol: &Symbol,
    taker: &Taker,
    out: &mut Vec<Event>,
) -> Result<MatchOutcome, RejectReason> {
    let book = &state.books[taker.symbol as usize];
    let makers = book.side(taker.side.opposite());
    // Most price-changing amends and many limit orders do not cross: skip
    // the walk's set-up for them.
    if let Some(limit) = taker.limit {
        if !makers.crosses(limit) {
            return Ok(MatchOutcome::ended(taker.qty, false, 0));
        }
    }
    let scales = symbol.scales;
    let (maker_bps, taker_bps) = (symbol.spec.maker_fee_bps, symbol.spec.taker_fee_bps);
    let mut remaining = taker.qty;
    let mut budget = taker.budget;
    let mut touches = 0u32;
    let mut levels_emptied = 0u32;
    for level_ref in makers.iter_best_first(&state.levels) {
        let level = state
            .levels
            .get(level_ref.level)
            .expect("sorted level exists");
        let price = level.price;
        if let Some(limit) = taker.limit {
            if !makers.price_acceptable(price, limit) {
                break;
            }
        }
        let mut slot = level.head;
        while slot != NIL {
            let maker = state.order_at(slot);
            slot = maker.level_next;
            let mut maker_left = maker.remaining;
            // One pass per fill: a budget may take the same maker twice.
            loop {
                if let Some(left) = budget {
                    // Out of budget: not even one lot at this price is affordable.
                    if affordable_qty(&scales, price, taker_bps, left, 1) == 0 {
                        return Ok(MatchOutcome::ended(remaining, false, levels_emptied));
                    }
                }
                if touches == taker.max_touches {
                    return Ok(MatchOutcome {
                        remaining,
                        taker_cancelled: false,
                        fill_limited: true,
                        levels_emptied,
                    });
                }
                touches += 1;
                if maker.account == taker.account {
                    let maker_cancel = Event::OrderCancelled {
                        order: maker.id,
                        account: maker.account,
                        remaining: maker.remaining,
                        reason: CancelReason::SelfTradePrevention,
                    };
                    let taker_cancel = Event::OrderCancelled {
                        order: taker.order,
                        account: taker.account,
                        remaining,
                        reason: CancelReason::SelfTradePrevention,
                    };
                    match taker.stp {
                        StpMode::CancelOldest => {
                            out.push(maker_cancel);
                            break;
                        }
                        StpMode::CancelNewest => out.push(taker_cancel),
                        StpMode::CancelBoth => {
                            out.push(maker_cancel);
                            out.push(taker_cancel);
                        }
                    }
                    return Ok(MatchOutcome::ended(remaining, true, levels_emptied));
                }
                let mut fill = remaining.min(maker_left);
                if let Some(left) = budget {
                    fill = affordable_qty(&scales, price, taker_bps, left, fill);
                }
                let notional = scales.notional(price, fill).ok_or(RejectReason::Overflow)?;
                scales.base_amount(fill).ok_or(RejectReason::Overflow)?;
                let maker_fee = fee(notional, maker_bps);
                let taker_fee = fee(notional, taker_bps);
                if let Some(left) = budget.as_mut() {
                    // affordable_qty guarantees the cost fits the budget.
                    *left -= notional + taker_fee;
                }
                out.push(Event::TradeExecuted(Trade {
                    symbol: taker.symbol,
                    maker_order: maker.id,
                    taker_order: taker.order,
                    maker_account: maker.account,
                    taker_account: taker.account,
                    taker_side: taker.side,
                    price,
                    qty: fill,
                    maker_fee,
                    taker_fee,
                }));
                remaining -= fill;
                maker_left -= fill;
                if remaining == 0 {
                    return Ok(MatchOutcome::ended(remaining, false, levels_emptied));
                }
                if maker_left == 0 {
                    break;
                }
                // Only a budget stops a fill short of both the maker and the
                // taker: try this maker again before any younger one.
                debug_assert!(budget.is_some(), "a fill short of both needs a budget");
            }
        }
        levels_emptied += 1;
    }
    Ok(MatchOutcome::ended(remaining, false, levels_emptied))
}
