use super::slab::NIL;

/// One asset's balances of one account.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Balance {
    pub available: u64,
    /// Reserved by open orders: the sum of their `reserved`.
    pub held: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub last_request_id: u64,
    /// Indexed by asset id; grows when an asset is added (admin time only).
    pub balances: Vec<Balance>,
    /// The account's open orders in order-id order, linked through the order
    /// slots (`Order::account_prev/next`).
    pub orders_head: u32,
    pub orders_tail: u32,
    pub open_orders: u32,
}

impl Account {
    pub fn new(assets: usize) -> Account {
        Account {
            last_request_id: 0,
            balances: vec![Balance::default(); assets],
            orders_head: NIL,
            orders_tail: NIL,
            open_orders: 0,
        }
    }

    #[inline]
    pub fn balance(&self, asset: u32) -> Balance {
        self.balances
            .get(asset as usize)
            .copied()
            .unwrap_or_default()
    }
}
