//! The state's invariants, checked in full. Tests run this after every
//! command; `replay verify` runs it at intervals and at the end.

use std::collections::BTreeMap;

use crate::model::money::buy_cost;
use crate::model::Side;

use super::slab::NIL;
use super::State;

/// The first invariant found broken, described for a human.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("state invariant broken: {0}")]
pub struct InvariantViolation(pub String);

fn fail<T>(msg: String) -> Result<T, InvariantViolation> {
    Err(InvariantViolation(msg))
}

impl State {
    /// Checks every invariant. Cost is linear in the state's size.
    pub fn check_invariants(&self) -> Result<(), InvariantViolation> {
        // Conservation: per asset, the accounts' balances sum to the supply
        // (the external account holds -supply, so the total is zero).
        for (asset_id, asset) in self.assets.iter().enumerate() {
            let mut total: u128 = 0;
            for (_, account) in self.accounts() {
                let b = account.balance(asset_id as u32);
                total += b.available as u128 + b.held as u128;
            }
            if total != asset.supply as u128 {
                return fail(format!(
                    "asset {asset_id}: balances sum to {total}, supply is {}",
                    asset.supply
                ));
            }
        }
        // Held equals what open orders reserve; orders are consistent.
        let mut held: BTreeMap<(u32, u32), u128> = BTreeMap::new();
        let mut open_per_account: BTreeMap<u32, u32> = BTreeMap::new();
        for (slot, o) in self.orders.iter() {
            if self.order_index.get(&o.id) != Some(slot) {
                return fail(format!("order {} at slot {slot} not indexed there", o.id));
            }
            if !o.is_resting() {
                return fail(format!(
                    "order {} is open between commands but not resting",
                    o.id
                ));
            }
            if o.is_market || o.remaining == 0 || o.id >= self.next_order_id {
                return fail(format!("order {} should not rest: {o:?}", o.id));
            }
            let Some(symbol) = self.symbols.get(o.symbol as usize) else {
                return fail(format!("order {} on unknown symbol {}", o.id, o.symbol));
            };
            let asset = self.hold_asset(symbol, o.side);
            *held.entry((o.account, asset)).or_default() += o.reserved as u128;
            *open_per_account.entry(o.account).or_default() += 1;
            let needed = match o.side {
                Side::Buy => buy_cost(&symbol.scales, o.price, o.remaining, symbol.hold_fee_bps()),
                Side::Sell => symbol.scales.base_amount(o.remaining),
            };
            match needed {
                Some(n) if o.reserved >= n => {}
                _ => {
                    return fail(format!(
                        "order {} reserves {} but needs {needed:?}",
                        o.id, o.reserved
                    ))
                }
            }
            if o.side == Side::Sell && Some(o.reserved) != needed {
                return fail(format!(
                    "sell order {} reserves {} instead of exactly {needed:?}",
                    o.id, o.reserved
                ));
            }
        }
        if self.order_index.len() != self.orders.len() {
            return fail(format!(
                "index has {} orders, pool has {}",
                self.order_index.len(),
                self.orders.len()
            ));
        }
        for (account_id, account) in self.accounts() {
            for (asset, b) in account.balances.iter().enumerate() {
                let expected = held.get(&(account_id, asset as u32)).copied().unwrap_or(0);
                if b.held as u128 != expected {
                    return fail(format!(
                        "account {account_id} asset {asset}: held {} but open orders reserve {expected}",
                        b.held
                    ));
                }
            }
            let count = open_per_account.get(&account_id).copied().unwrap_or(0);
            if account.open_orders != count {
                return fail(format!(
                    "account {account_id} counts {} open orders, has {count}",
                    account.open_orders
                ));
            }
            // The account's list holds exactly its orders, by ascending id.
            let mut listed = 0u32;
            let mut prev_id = 0;
            let mut prev_slot = NIL;
            let mut slot = account.orders_head;
            while slot != NIL {
                let o = self.order_at(slot);
                if o.account != account_id || o.id <= prev_id || o.account_prev != prev_slot {
                    return fail(format!(
                        "account {account_id} order list broken at order {}",
                        o.id
                    ));
                }
                listed += 1;
                prev_id = o.id;
                prev_slot = slot;
                slot = o.account_next;
            }
            if listed != count || account.orders_tail != prev_slot {
                return fail(format!(
                    "account {account_id} lists {listed} orders, has {count}"
                ));
            }
        }
        // Books: sorted, never crossed, levels consistent, FIFO by arrival.
        let mut resting = 0usize;
        let mut level_count = 0usize;
        for (symbol_id, book) in self.books.iter().enumerate() {
            for side in [&book.bids, &book.asks] {
                if let Err(e) = side.check(&self.levels) {
                    return fail(format!("symbol {symbol_id} {:?} levels: {e}", side.side()));
                }
                for r in side.iter_best_first(&self.levels) {
                    level_count += 1;
                    let Some(level) = self.levels.get(r.level) else {
                        return fail(format!(
                            "symbol {symbol_id}: sorted level slot {} empty",
                            r.level
                        ));
                    };
                    if side.price_of(r.key) != level.price || level.order_count == 0 {
                        return fail(format!(
                            "symbol {symbol_id}: level {} mislabelled or empty",
                            level.price
                        ));
                    }
                    let (mut qty, mut n, mut last_arrival, mut prev) = (0u128, 0u32, 0u64, NIL);
                    let mut slot = level.head;
                    while slot != NIL {
                        let o = self.order_at(slot);
                        if o.symbol != symbol_id as u32
                            || o.side != side.side()
                            || o.price != level.price
                        {
                            return fail(format!("order {} in wrong level {}", o.id, level.price));
                        }
                        if o.level != r.level || o.level_prev != prev || o.arrival <= last_arrival {
                            return fail(format!(
                                "level {} FIFO broken at order {}",
                                level.price, o.id
                            ));
                        }
                        if let Some(expiry) = o.expiry_ns() {
                            if !self.expiries.contains(expiry, o.id, slot) {
                                return fail(format!(
                                    "GTD order {} missing from expiry index",
                                    o.id
                                ));
                            }
                        }
                        last_arrival = o.arrival;
                        qty += o.remaining as u128;
                        n += 1;
                        prev = slot;
                        slot = o.level_next;
                    }
                    if qty != level.total_qty as u128
                        || n != level.order_count
                        || prev != level.tail
                    {
                        return fail(format!(
                            "level {} totals {}/{} but holds {qty}/{n}",
                            level.price, level.total_qty, level.order_count
                        ));
                    }
                    resting += n as usize;
                }
            }
            if let (Some(bid), Some(ask)) = (book.bids.best_price(), book.asks.best_price()) {
                if bid >= ask {
                    return fail(format!(
                        "symbol {symbol_id} crossed: best bid {bid} >= best ask {ask}"
                    ));
                }
            }
        }
        if resting != self.orders.len() || level_count != self.levels.len() {
            return fail(format!(
                "{resting} resting of {} open orders; {level_count} linked of {} levels",
                self.orders.len(),
                self.levels.len()
            ));
        }
        let gtd = self
            .orders
            .iter()
            .filter(|(_, o)| o.expiry_ns().is_some())
            .count();
        if gtd != self.expiries.len() {
            return fail(format!(
                "{gtd} GTD orders but {} expiry entries",
                self.expiries.len()
            ));
        }
        Ok(())
    }
}
