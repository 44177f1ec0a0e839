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
}

impl MatchOutcome {
    fn ended(remaining: u64, taker_cancelled: bool) -> MatchOutcome {
        MatchOutcome {
            remaining,
            taker_cancelled,
            fill_limited: false,
        }
    }
}

/// Walks the opposite side best-first, FIFO within a level, and pushes the
/// resulting events. It touches at most `taker.max_touches` resting orders.
/// A budget buy takes each maker for as many lots as the budget affords and
/// stops at the first maker it cannot fill completely (price-time priority:
/// a younger maker never trades before an older one it left unfilled).
/// Fails with `Overflow` if a fill's amounts do not fit.
pub fn walk(
    state: &State,
    symbol: &Symbol,
    taker: &Taker,
    out: &mut Vec<Event>,
) -> Result<MatchOutcome, RejectReason> {
    let book = &state.books[taker.symbol as usize];
    let makers = book.side(taker.side.opposite());
    let scales = symbol.scales;
    let (maker_bps, taker_bps) = (symbol.spec.maker_fee_bps, symbol.spec.taker_fee_bps);
    let mut remaining = taker.qty;
    let mut budget = taker.budget;
    let mut touches = 0u32;
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
            if let Some(left) = budget {
                // Out of budget: not even one lot at this price is affordable.
                if affordable_qty(&scales, price, taker_bps, left, 1) == 0 {
                    return Ok(MatchOutcome::ended(remaining, false));
                }
            }
            if touches == taker.max_touches {
                return Ok(MatchOutcome {
                    remaining,
                    taker_cancelled: false,
                    fill_limited: true,
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
                        continue;
                    }
                    StpMode::CancelNewest => out.push(taker_cancel),
                    StpMode::CancelBoth => {
                        out.push(maker_cancel);
                        out.push(taker_cancel);
                    }
                }
                return Ok(MatchOutcome::ended(remaining, true));
            }
            let mut fill = remaining.min(maker.remaining);
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
            if remaining == 0 {
                return Ok(MatchOutcome::ended(remaining, false));
            }
            if fill < maker.remaining {
                // The budget stopped this fill short of the maker: never skip
                // past it to a younger maker (see the doc above).
                return Ok(MatchOutcome::ended(remaining, false));
            }
        }
    }
    Ok(MatchOutcome::ended(remaining, false))
}
