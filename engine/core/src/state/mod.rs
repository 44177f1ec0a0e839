//! The state the business-logic loop owns: assets, symbols, accounts and their
//! balances, order books. Only `core::apply` mutates it; `core::process`
//! decides on it read-only and then applies.

pub mod account;
pub mod asset;
pub mod book;
pub mod book_side;
pub mod digest;
pub mod error;
pub mod expiry;
pub mod footprint;
pub mod invariants;
pub mod level;
pub mod limits;
pub mod mutate;
pub mod order;
pub mod order_index;
mod prefetch;
pub use prefetch::PREFETCH_FROM_ORDERS;
pub mod slab;
pub mod snapshot;
pub mod symbol;

pub use account::{Account, Balance};
pub use asset::Asset;
pub use book::Book;
pub use book_side::BookSide;
pub use error::ApplyError;
pub use footprint::Footprint;
pub use level::Level;
pub use limits::Limits;
pub use order::Order;
pub use symbol::Symbol;

use crate::model::{AccountId, AssetId, OrderId, Side, SymbolId, OPERATOR};
use expiry::ExpiryIndex;
use order_index::OrderIndex;
use slab::Slab;

/// Everything the loop owns: assets, symbols and their books, accounts and
/// their balances, open orders. Read it through the accessors below; only
/// [`apply`](fn@crate::apply) changes it.
#[derive(Clone, Debug)]
pub struct State {
    pub(crate) limits: Limits,
    pub(crate) assets: Vec<Asset>,
    pub(crate) symbols: Vec<Symbol>,
    pub(crate) books: Vec<Book>,
    pub(crate) accounts: Vec<Option<Account>>,
    pub(crate) orders: Slab<Order>,
    pub(crate) order_index: OrderIndex,
    pub(crate) levels: Slab<Level>,
    pub(crate) expiries: ExpiryIndex,
    pub(crate) next_order_id: OrderId,
    pub(crate) next_arrival: u64,
}

impl State {
    /// The genesis state: no assets or symbols, only the operator account.
    pub fn new(limits: Limits) -> State {
        let max_orders = limits.max_orders as usize;
        let mut state = State {
            limits,
            assets: Vec::new(),
            symbols: Vec::new(),
            books: Vec::new(),
            accounts: Vec::new(),
            orders: Slab::with_capacity(max_orders),
            order_index: OrderIndex::with_capacity(max_orders),
            levels: Slab::with_capacity(limits.max_levels as usize),
            expiries: ExpiryIndex::with_capacity(max_orders),
            next_order_id: 1,
            next_arrival: 1,
        };
        state.accounts.push(Some(Account::new(0)));
        assert_eq!(state.accounts.len(), OPERATOR as usize + 1);
        state
    }

    /// Touches the memory reserved for orders and levels, so that the first
    /// orders do not page-fault on the hot path.
    pub fn prefault(&mut self) {
        self.orders.prefault();
        self.levels.prefault();
    }

    /// The address and byte length of each large region [`State::new`]
    /// reserved (order and level slabs, order index, expiry index), for a
    /// runtime that advises the kernel about them (transparent huge pages).
    /// Reads only pointers and capacities; the core itself does no I/O.
    pub fn reserved_regions(&self) -> Vec<(usize, usize)> {
        let mut regions = Vec::with_capacity(8);
        self.orders.regions(&mut regions);
        self.levels.regions(&mut regions);
        self.order_index.regions(&mut regions);
        self.expiries.regions(&mut regions);
        regions
    }

    /// The limits the state was created with.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The asset with this id, if it exists.
    pub fn asset(&self, asset: AssetId) -> Option<&Asset> {
        self.assets.get(asset as usize)
    }

    /// All assets, in id order.
    pub fn assets(&self) -> &[Asset] {
        &self.assets
    }

    /// The symbol with this id, if it exists.
    pub fn symbol(&self, symbol: SymbolId) -> Option<&Symbol> {
        self.symbols.get(symbol as usize)
    }

    /// All symbols, in id order.
    pub fn symbols(&self) -> &[Symbol] {
        &self.symbols
    }

    /// The symbol's book, if the symbol exists.
    pub fn book(&self, symbol: SymbolId) -> Option<&Book> {
        self.books.get(symbol as usize)
    }

    /// The account, if it is open.
    pub fn account(&self, account: AccountId) -> Option<&Account> {
        self.accounts.get(account as usize)?.as_ref()
    }

    /// Open accounts in id order.
    pub fn accounts(&self) -> impl Iterator<Item = (AccountId, &Account)> {
        self.accounts
            .iter()
            .enumerate()
            .filter_map(|(i, a)| a.as_ref().map(|a| (i as AccountId, a)))
    }

    /// The account's balance in `asset`: `None` if the account is not open,
    /// zero if the asset does not exist.
    pub fn balance(&self, account: AccountId, asset: AssetId) -> Option<Balance> {
        self.account(account).map(|a| a.balance(asset))
    }

    /// The open order with this id: `None` if it was never accepted or has
    /// ended (filled, cancelled or expired).
    pub fn order(&self, order: OrderId) -> Option<&Order> {
        let slot = self.order_index.get(&order)?;
        self.orders.get(slot)
    }

    /// How many orders are open (between commands, all of them rest).
    pub fn open_order_count(&self) -> usize {
        self.orders.len()
    }

    /// The id the next accepted order will get.
    pub fn next_order_id(&self) -> OrderId {
        self.next_order_id
    }

    /// The level in slot `slot` (a [`LevelRef::level`](book_side::LevelRef::level)
    /// or an [`Order::level`]), if the slot is occupied.
    pub fn level(&self, slot: u32) -> Option<&Level> {
        self.levels.get(slot)
    }

    pub(crate) fn order_at(&self, slot: u32) -> &Order {
        self.orders.get(slot).expect("linked slot holds an order")
    }

    /// The account's open orders, in order-id order.
    pub fn account_orders(&self, account: AccountId) -> impl Iterator<Item = &Order> {
        let mut slot = self.account(account).map_or(slab::NIL, |a| a.orders_head);
        std::iter::from_fn(move || {
            if slot == slab::NIL {
                return None;
            }
            let order = self.order_at(slot);
            slot = order.account_next;
            Some(order)
        })
    }

    /// The orders of one level, oldest first.
    pub fn level_orders(&self, level: u32) -> impl Iterator<Item = &Order> {
        let mut slot = self.levels.get(level).map_or(slab::NIL, |l| l.head);
        std::iter::from_fn(move || {
            if slot == slab::NIL {
                return None;
            }
            let order = self.order_at(slot);
            slot = order.level_next;
            Some(order)
        })
    }

    /// The levels of one side, best first (empty for an unknown symbol).
    pub fn levels_best_first(
        &self,
        symbol: SymbolId,
        side: Side,
    ) -> impl Iterator<Item = book_side::LevelRef> + '_ {
        self.book(symbol)
            .map(|book| book.side(side).iter_best_first(&self.levels))
            .into_iter()
            .flatten()
    }

    /// The level of one side at `price`: `(total lots, order count)`, or
    /// `None` if no order rests there (or the symbol is unknown).
    pub fn level_at(&self, symbol: SymbolId, side: Side, price: u64) -> Option<(u64, u32)> {
        let book = self.book(symbol)?;
        let slot = book.side(side).find(&self.levels, price)?;
        let level = self.levels.get(slot)?;
        Some((level.total_qty, level.order_count))
    }

    /// Depth of one side: `(price, total lots, order count)` from the best.
    pub fn depth(&self, symbol: SymbolId, side: Side) -> Vec<(u64, u64, u32)> {
        let Some(book) = self.book(symbol) else {
            return Vec::new();
        };
        let book_side = book.side(side);
        book_side
            .iter_best_first(&self.levels)
            .map(|r| {
                let level = self.levels.get(r.level).expect("sorted level exists");
                (level.price, level.total_qty, level.order_count)
            })
            .collect()
    }

    /// The asset an order of `side` on `symbol` holds.
    pub fn hold_asset(&self, symbol: &Symbol, side: Side) -> AssetId {
        match side {
            Side::Buy => symbol.spec.quote,
            Side::Sell => symbol.spec.base,
        }
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;

    #[test]
    fn per_order_structures_stay_small() {
        // The memory budget per resting order (README: Memory) rests on these.
        assert_eq!(std::mem::size_of::<Option<Order>>(), 80);
        // 32 bytes of level plus 9 of outside-tree links (left, right, height).
        assert_eq!(std::mem::size_of::<Option<Level>>(), 40);
    }
}
