//! Accounts: an idempotency counter, one balance per asset, and the list of
//! open orders.

use super::slab::NIL;

/// One asset's balances of one account.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Balance {
    /// Free to withdraw, transfer or hold for new orders, in minor units.
    pub available: u64,
    /// Reserved by open orders: the sum of their `reserved`.
    pub held: u64,
}

/// An open account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// The last accepted request id (0 before any): the next command must
    /// carry a larger one.
    pub last_request_id: u64,
    /// Indexed by asset id; grows when an asset is added (admin time only).
    pub balances: Vec<Balance>,
    /// The account's open orders in order-id order, linked through the order
    /// slots (`Order::account_prev/next`). This is the oldest one's slot, or
    /// [`NIL`] when there is none.
    pub orders_head: u32,
    /// The newest open order's slot, or [`NIL`] when there is none.
    pub orders_tail: u32,
    /// How many orders are open (at most `Limits::max_open_orders_per_account`).
    pub open_orders: u32,
}

impl Account {
    /// A new account with zero balances in `assets` assets and no orders.
    pub fn new(assets: usize) -> Account {
        Account {
            last_request_id: 0,
            balances: vec![Balance::default(); assets],
            orders_head: NIL,
            orders_tail: NIL,
            open_orders: 0,
        }
    }

    /// The balance in `asset` (zero if the account has no such asset).
    #[inline]
    pub fn balance(&self, asset: u32) -> Balance {
        self.balances
            .get(asset as usize)
            .copied()
            .unwrap_or_default()
    }
}
