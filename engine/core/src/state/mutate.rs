//! The only mutations of [`State`]. Each checks what it relies on and returns
//! an [`ApplyError`] instead of corrupting the state; `core::apply` composes
//! them per event.

use crate::model::{AccountId, AssetId, OrderId, Side};

use super::slab::NIL;
use super::{Account, ApplyError, Asset, Balance, Book, Level, Order, State, Symbol};

impl State {
    pub(crate) fn account_mut(&mut self, account: AccountId) -> Result<&mut Account, ApplyError> {
        self.accounts
            .get_mut(account as usize)
            .and_then(|a| a.as_mut())
            .ok_or(ApplyError::UnknownAccount { account })
    }

    fn check_asset(&self, asset: AssetId) -> Result<(), ApplyError> {
        if (asset as usize) < self.assets.len() {
            Ok(())
        } else {
            Err(ApplyError::UnknownAsset { asset })
        }
    }

    pub(crate) fn push_asset(&mut self, asset: Asset) -> Result<AssetId, ApplyError> {
        if self.assets.len() >= self.limits.max_assets as usize {
            return Err(ApplyError::Capacity { what: "assets" });
        }
        self.assets.push(asset);
        for account in self.accounts.iter_mut().flatten() {
            account.balances.push(Default::default());
        }
        Ok(self.assets.len() as AssetId - 1)
    }

    pub(crate) fn push_symbol(&mut self, symbol: Symbol) -> Result<(), ApplyError> {
        if self.symbols.len() >= self.limits.max_symbols as usize {
            return Err(ApplyError::Capacity { what: "symbols" });
        }
        self.symbols.push(symbol);
        self.books.push(Book::new());
        Ok(())
    }

    pub(crate) fn symbol_mut(&mut self, symbol: u32) -> Result<&mut Symbol, ApplyError> {
        self.symbols
            .get_mut(symbol as usize)
            .ok_or(ApplyError::UnknownSymbol { symbol })
    }

    pub(crate) fn open_account(&mut self, account: AccountId) -> Result<(), ApplyError> {
        if account >= self.limits.max_accounts {
            return Err(ApplyError::Capacity { what: "accounts" });
        }
        let index = account as usize;
        if self.accounts.len() <= index {
            self.accounts.resize(index + 1, None);
        }
        if self.accounts[index].is_some() {
            return Err(ApplyError::AccountExists { account });
        }
        self.accounts[index] = Some(Account::new(self.assets.len()));
        Ok(())
    }

    /// Adds to an account's available balance (the amount already exists
    /// elsewhere in the ledger, or is being issued by `issue`).
    pub(crate) fn credit(
        &mut self,
        account: AccountId,
        asset: AssetId,
        amount: u64,
    ) -> Result<(), ApplyError> {
        self.check_asset(asset)?;
        let balance = &mut self.account_mut(account)?.balances[asset as usize];
        balance.available = balance
            .available
            .checked_add(amount)
            .ok_or(ApplyError::Overflow {
                what: "available balance",
            })?;
        Ok(())
    }

    /// Takes `amount` from one bucket of a balance, or names the shortfall.
    fn take(
        &mut self,
        account: AccountId,
        asset: AssetId,
        amount: u64,
        bucket: &'static str,
        pick: fn(&mut Balance) -> &mut u64,
    ) -> Result<(), ApplyError> {
        self.check_asset(asset)?;
        let have = pick(&mut self.account_mut(account)?.balances[asset as usize]);
        if *have < amount {
            return Err(ApplyError::InsufficientBalance {
                account,
                asset,
                bucket,
                needed: amount,
                have: *have,
            });
        }
        *have -= amount;
        Ok(())
    }

    /// Takes from an account's available balance.
    pub(crate) fn debit(
        &mut self,
        account: AccountId,
        asset: AssetId,
        amount: u64,
    ) -> Result<(), ApplyError> {
        self.take(account, asset, amount, "available", |b| &mut b.available)
    }

    /// Moves available → held.
    pub(crate) fn hold(
        &mut self,
        account: AccountId,
        asset: AssetId,
        amount: u64,
    ) -> Result<(), ApplyError> {
        self.debit(account, asset, amount)?;
        let balance = &mut self.account_mut(account)?.balances[asset as usize];
        balance.held = balance
            .held
            .checked_add(amount)
            .ok_or(ApplyError::Overflow {
                what: "held balance",
            })?;
        Ok(())
    }

    /// Takes from held (spent by a trade, or released by `release`).
    pub(crate) fn take_held(
        &mut self,
        account: AccountId,
        asset: AssetId,
        amount: u64,
    ) -> Result<(), ApplyError> {
        self.take(account, asset, amount, "held", |b| &mut b.held)
    }

    /// Moves held → available.
    pub(crate) fn release(
        &mut self,
        account: AccountId,
        asset: AssetId,
        amount: u64,
    ) -> Result<(), ApplyError> {
        self.take_held(account, asset, amount)?;
        self.credit(account, asset, amount)
    }

    /// Changes the external supply of an asset (deposits add, withdrawals
    /// subtract), keeping conservation.
    pub(crate) fn adjust_supply(
        &mut self,
        asset: AssetId,
        add: u64,
        sub: u64,
    ) -> Result<(), ApplyError> {
        let asset = self
            .assets
            .get_mut(asset as usize)
            .ok_or(ApplyError::UnknownAsset { asset })?;
        asset.supply = asset
            .supply
            .checked_add(add)
            .and_then(|s| s.checked_sub(sub))
            .ok_or(ApplyError::Overflow {
                what: "asset supply",
            })?;
        Ok(())
    }

    /// The slot of an open order, for `apply` (remembers it: the next
    /// event of the same command usually names the same order).
    #[inline]
    pub(crate) fn slot_of(&mut self, order: OrderId) -> Result<u32, ApplyError> {
        self.order_index
            .slot_cached(order)
            .ok_or(ApplyError::UnknownOrder { order })
    }

    /// The slot of an open order, without remembering it (a trade's maker:
    /// usually named once, between two events of the taker).
    #[inline]
    pub(crate) fn slot_of_once(&self, order: OrderId) -> Result<u32, ApplyError> {
        self.order_index
            .get(&order)
            .ok_or(ApplyError::UnknownOrder { order })
    }

    pub(crate) fn order_mut(&mut self, slot: u32) -> &mut Order {
        self.orders
            .get_mut(slot)
            .expect("indexed slot holds an order")
    }

    /// Inserts a new open order (not yet resting) and links it to its
    /// account. The caller has already moved its hold.
    pub(crate) fn insert_order(&mut self, mut order: Order) -> Result<u32, ApplyError> {
        if order.id != self.next_order_id {
            return Err(ApplyError::OrderIdOutOfSequence {
                expected: self.next_order_id,
                got: order.id,
            });
        }
        let tail = self.account_mut(order.account)?.orders_tail;
        order.level = NIL;
        order.level_prev = NIL;
        order.level_next = NIL;
        order.account_prev = tail;
        order.account_next = NIL;
        let id = order.id;
        let account_id = order.account;
        let slot = self
            .orders
            .insert(order)
            .map_err(|_| ApplyError::Capacity { what: "orders" })?;
        self.order_index.insert(id, slot);
        if tail != NIL {
            self.order_mut(tail).account_next = slot;
        }
        let account = self.account_mut(account_id)?;
        if account.orders_head == NIL {
            account.orders_head = slot;
        }
        account.orders_tail = slot;
        account.open_orders += 1;
        self.next_order_id += 1;
        Ok(slot)
    }

    /// Links an open order at the back of its price level.
    pub(crate) fn rest_order(&mut self, slot: u32) -> Result<(), ApplyError> {
        let order = *self.order_at(slot);
        if order.is_resting() {
            return Err(ApplyError::Inconsistent {
                what: "order rested twice",
                values: format!("order {}", order.id),
            });
        }
        if order.remaining == 0 || order.is_market {
            return Err(ApplyError::Inconsistent {
                what: "only a limit order with a remainder can rest",
                values: format!(
                    "order {} with {} lots, market {}",
                    order.id, order.remaining, order.is_market
                ),
            });
        }
        let book = self
            .books
            .get_mut(order.symbol as usize)
            .ok_or(ApplyError::UnknownSymbol {
                symbol: order.symbol,
            })?;
        let side = book.side_mut(order.side);
        let level_slot = side.find_or_insert(&mut self.levels, order.price, |levels| {
            levels
                .insert(Level::new(order.price, order.side))
                .map_err(|_| ApplyError::Capacity { what: "levels" })
        })?;
        let level = self.levels.get_mut(level_slot).expect("found level exists");
        let tail = level.tail;
        level.tail = slot;
        if level.head == NIL {
            level.head = slot;
        }
        level.order_count += 1;
        level.total_qty =
            level
                .total_qty
                .checked_add(order.remaining)
                .ok_or(ApplyError::Overflow {
                    what: "level quantity",
                })?;
        if tail != NIL {
            self.order_mut(tail).level_next = slot;
        }
        let arrival = self.next_arrival;
        self.next_arrival += 1;
        let o = self.order_mut(slot);
        o.level = level_slot;
        o.level_prev = tail;
        o.level_next = NIL;
        o.arrival = arrival;
        if let Some(expiry) = order.expiry_ns() {
            self.expiries.insert(expiry, order.id, slot);
        }
        Ok(())
    }

    /// Unlinks a resting order from its level (removing the level if empty)
    /// and from the expiry index. The order stays open.
    pub(crate) fn unrest_order(&mut self, slot: u32) {
        let order = *self.order_at(slot);
        assert!(
            order.is_resting(),
            "unrest of order {} that is not resting",
            order.id
        );
        if order.level_prev != NIL {
            self.order_mut(order.level_prev).level_next = order.level_next;
        }
        if order.level_next != NIL {
            self.order_mut(order.level_next).level_prev = order.level_prev;
        }
        let level = self
            .levels
            .get_mut(order.level)
            .expect("resting order's level exists");
        if level.head == slot {
            level.head = order.level_next;
        }
        if level.tail == slot {
            level.tail = order.level_prev;
        }
        level.order_count -= 1;
        level.total_qty -= order.remaining;
        if level.order_count == 0 {
            assert_eq!(level.total_qty, 0, "empty level keeps quantity");
            let price = level.price;
            // Out of its side first: the side's tree links live in the slot.
            let removed = self.books[order.symbol as usize]
                .side_mut(order.side)
                .remove(&mut self.levels, price);
            assert_eq!(removed, Some(order.level), "level missing from its side");
            self.levels.remove(order.level);
        }
        let o = self.order_mut(slot);
        o.level = NIL;
        o.level_prev = NIL;
        o.level_next = NIL;
        if let Some(expiry) = order.expiry_ns() {
            let removed = self.expiries.remove(expiry, order.id, slot);
            assert!(
                removed,
                "resting GTD order {} missing from expiry index",
                order.id
            );
        }
    }

    /// Reduces an open order's remaining quantity (and its level's total if
    /// resting) by `qty`.
    pub(crate) fn reduce_order(&mut self, slot: u32, qty: u64) -> Result<(), ApplyError> {
        let order = self.order_mut(slot);
        if order.remaining < qty {
            return Err(ApplyError::OrderShort {
                order: order.id,
                what: "lots",
                needed: qty,
                have: order.remaining,
            });
        }
        order.remaining -= qty;
        let level = order.level;
        if level != NIL {
            self.levels
                .get_mut(level)
                .expect("resting order's level exists")
                .total_qty -= qty;
        }
        Ok(())
    }

    /// Spends `amount` of an open order's reservation (a trade consumed it).
    pub(crate) fn spend_reserved(&mut self, slot: u32, amount: u64) -> Result<(), ApplyError> {
        let order = self.order_mut(slot);
        if order.reserved < amount {
            return Err(ApplyError::OrderShort {
                order: order.id,
                what: "reserved",
                needed: amount,
                have: order.reserved,
            });
        }
        order.reserved -= amount;
        let (account, symbol, side) = (order.account, order.symbol, order.side);
        let asset = self.order_hold_asset(symbol, side)?;
        self.take_held(account, asset, amount)
    }

    pub(crate) fn order_hold_asset(&self, symbol: u32, side: Side) -> Result<AssetId, ApplyError> {
        let symbol = self
            .symbols
            .get(symbol as usize)
            .ok_or(ApplyError::UnknownSymbol { symbol })?;
        Ok(self.hold_asset(symbol, side))
    }

    /// Closes an open order: unlinks it everywhere, releases what it still
    /// holds, and frees its slot.
    pub(crate) fn close_order(&mut self, slot: u32) -> Result<Order, ApplyError> {
        if self.order_at(slot).is_resting() {
            self.unrest_order(slot);
        }
        let order = *self.order_at(slot);
        if order.account_prev != NIL {
            self.order_mut(order.account_prev).account_next = order.account_next;
        }
        if order.account_next != NIL {
            self.order_mut(order.account_next).account_prev = order.account_prev;
        }
        let account = self.account_mut(order.account)?;
        if account.orders_head == slot {
            account.orders_head = order.account_next;
        }
        if account.orders_tail == slot {
            account.orders_tail = order.account_prev;
        }
        account.open_orders -= 1;
        let asset = self.order_hold_asset(order.symbol, order.side)?;
        self.release(order.account, asset, order.reserved)?;
        self.order_index.remove(&order.id);
        self.orders.remove(slot);
        Ok(order)
    }
}
