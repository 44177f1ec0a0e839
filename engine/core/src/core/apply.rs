//! `apply`: the one way state changes. Processing applies the events it just
//! decided; recovery applies journaled events. Neither re-decides.

use crate::model::{Event, Side, TimeInForce, Trade, OPERATOR};
use crate::state::{ApplyError, Asset, Order, State, Symbol};

use super::symbol_spec::scales_for;

/// Applies one event. An error means the event does not fit this state (a
/// foreign or damaged journal, or a bug); the state may then be partly
/// changed and must be discarded.
pub fn apply(state: &mut State, event: &Event) -> Result<(), ApplyError> {
    match *event {
        Event::Accepted {
            account,
            request_id,
        } => {
            let account = state.account_mut(account)?;
            if request_id <= account.last_request_id {
                return Err(ApplyError::Inconsistent {
                    what: "accepted request id not above the last",
                    values: format!("request id {request_id}, last {}", account.last_request_id),
                });
            }
            account.last_request_id = request_id;
        }
        Event::Rejected { .. } => {}
        Event::AssetAdded { asset, name, scale } => {
            if asset as usize != state.assets.len() {
                return Err(ApplyError::Inconsistent {
                    what: "asset id out of sequence",
                    values: format!("asset {asset}, next {}", state.assets.len()),
                });
            }
            state.push_asset(Asset {
                name,
                scale,
                supply: 0,
            })?;
        }
        Event::SymbolAdded { symbol, spec } => {
            if symbol as usize != state.symbols.len() {
                return Err(ApplyError::Inconsistent {
                    what: "symbol id out of sequence",
                    values: format!("symbol {symbol}, next {}", state.symbols.len()),
                });
            }
            let base = *state
                .asset(spec.base)
                .ok_or(ApplyError::UnknownAsset { asset: spec.base })?;
            let quote = *state
                .asset(spec.quote)
                .ok_or(ApplyError::UnknownAsset { asset: spec.quote })?;
            let scales =
                scales_for(&spec, &base, &quote).map_err(|_| ApplyError::Inconsistent {
                    what: "invalid symbol spec",
                    values: format!("{spec:?}"),
                })?;
            state.push_symbol(Symbol {
                spec,
                scales,
                halted: false,
            })?;
        }
        Event::SymbolHalted { symbol } => state.symbol_mut(symbol)?.halted = true,
        Event::SymbolResumed { symbol } => state.symbol_mut(symbol)?.halted = false,
        Event::AccountOpened { account } => state.open_account(account)?,
        Event::Deposited {
            account,
            asset,
            amount,
        } => {
            state.adjust_supply(asset, amount, 0)?;
            state.credit(account, asset, amount)?;
        }
        Event::Withdrawn {
            account,
            asset,
            amount,
        } => {
            state.debit(account, asset, amount)?;
            state.adjust_supply(asset, 0, amount)?;
        }
        Event::Transferred {
            from,
            to,
            asset,
            amount,
        } => {
            state.account_mut(to)?;
            state.debit(from, asset, amount)?;
            state.credit(to, asset, amount)?;
        }
        Event::OrderAccepted {
            order,
            account,
            symbol,
            side,
            price,
            qty,
            is_market,
            tif,
            post_only,
            stp,
            hold,
        } => {
            if qty == 0 {
                return Err(ApplyError::Inconsistent {
                    what: "order accepted for zero lots",
                    values: format!("order {order}"),
                });
            }
            let asset = state.order_hold_asset(symbol, side)?;
            state.hold(account, asset, hold)?;
            state.insert_order(Order {
                id: order,
                account,
                symbol,
                side,
                is_market,
                post_only,
                stp,
                expiry_ns: match tif {
                    TimeInForce::Gtd { expiry_ns } => expiry_ns,
                    _ => 0,
                },
                price,
                remaining: qty,
                reserved: hold,
                arrival: 0,
                level: 0,
                level_prev: 0,
                level_next: 0,
                account_prev: 0,
                account_next: 0,
            })?;
        }
        Event::TradeExecuted(ref trade) => apply_trade(state, trade)?,
        Event::OrderRested { order } => {
            let slot = state.slot_of(order)?;
            state.rest_order(slot)?;
        }
        Event::OrderAmended {
            order,
            price,
            qty,
            reserved,
            priority_kept,
        } => {
            let slot = state.slot_of(order)?;
            let o = *state.order_at(slot);
            if !o.is_resting() || qty == 0 || price == 0 {
                return Err(ApplyError::Inconsistent {
                    what: "amend of an order that is not resting",
                    values: format!(
                        "order {order} resting {}, amend to price {price} qty {qty}",
                        o.is_resting()
                    ),
                });
            }
            if priority_kept {
                if price != o.price || qty >= o.remaining {
                    return Err(ApplyError::Inconsistent {
 what: "priority kept on a price change or increase",
 values: format!("order {order} at price {} with {} lots, amend to price {price} qty {qty}", o.price, o.remaining),
 });
                }
                state.reduce_order(slot, o.remaining - qty)?;
            } else {
                state.unrest_order(slot);
                let m = state.order_mut(slot);
                m.price = price;
                m.remaining = qty;
            }
            let asset = state.order_hold_asset(o.symbol, o.side)?;
            if reserved > o.reserved {
                state.hold(o.account, asset, reserved - o.reserved)?;
            } else {
                state.release(o.account, asset, o.reserved - reserved)?;
            }
            state.order_mut(slot).reserved = reserved;
        }
        Event::OrderCancelled {
            order,
            account,
            remaining,
            reason: _,
        } => {
            let slot = state.slot_of(order)?;
            let o = state.order_at(slot);
            if o.account != account || o.remaining != remaining {
                return Err(ApplyError::Inconsistent {
 what: "cancel does not match its order",
 values: format!("cancel of order {order} for account {account} with {remaining} lots; order has account {} and {} lots", o.account, o.remaining),
 });
            }
            state.close_order(slot)?;
        }
    }
    Ok(())
}

/// A fill: moves reserved funds between the two accounts, fees to the
/// operator, and reduces (and closes) both orders.
fn apply_trade(state: &mut State, trade: &Trade) -> Result<(), ApplyError> {
    let sym = *state
        .symbol(trade.symbol)
        .ok_or(ApplyError::UnknownSymbol {
            symbol: trade.symbol,
        })?;
    let taker = state.slot_of(trade.taker_order)?;
    let maker = state.slot_of_once(trade.maker_order)?;
    {
        let (m, t) = (state.order_at(maker), state.order_at(taker));
        if !m.is_resting()
            || t.is_resting()
            || m.account != trade.maker_account
            || t.account != trade.taker_account
            || m.symbol != trade.symbol
            || t.symbol != trade.symbol
            || m.side == trade.taker_side
            || t.side != trade.taker_side
            || m.price != trade.price
        {
            return Err(ApplyError::Inconsistent {
                what: "trade does not match its orders",
                values: format!("{trade:?}; maker {m:?}; taker {t:?}"),
            });
        }
    }
    let notional = sym
        .scales
        .notional(trade.price, trade.qty)
        .ok_or(ApplyError::Overflow { what: "notional" })?;
    let base_amount = sym
        .scales
        .base_amount(trade.qty)
        .ok_or(ApplyError::Overflow {
            what: "base amount",
        })?;
    let (buyer, seller, buyer_fee, seller_fee) = match trade.taker_side {
        Side::Buy => (taker, maker, trade.taker_fee, trade.maker_fee),
        Side::Sell => (maker, taker, trade.maker_fee, trade.taker_fee),
    };
    if seller_fee > notional {
        return Err(ApplyError::Inconsistent {
            what: "seller fee above notional",
            values: format!("seller fee {seller_fee}, notional {notional}"),
        });
    }
    let buyer_cost = notional
        .checked_add(buyer_fee)
        .ok_or(ApplyError::Overflow { what: "buyer cost" })?;
    let fees = trade
        .maker_fee
        .checked_add(trade.taker_fee)
        .ok_or(ApplyError::Overflow { what: "fees" })?;
    let (buyer_account, seller_account) = (
        state.order_at(buyer).account,
        state.order_at(seller).account,
    );
    state.spend_reserved(buyer, buyer_cost)?;
    state.spend_reserved(seller, base_amount)?;
    state.credit(buyer_account, sym.spec.base, base_amount)?;
    state.credit(seller_account, sym.spec.quote, notional - seller_fee)?;
    state.credit(OPERATOR, sym.spec.quote, fees)?;
    state.reduce_order(maker, trade.qty)?;
    state.reduce_order(taker, trade.qty)?;
    if state.order_at(maker).remaining == 0 {
        state.close_order(maker)?;
    }
    if state.order_at(taker).remaining == 0 {
        state.close_order(taker)?;
    }
    Ok(())
}
