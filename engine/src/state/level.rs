//! A price level: a FIFO of resting orders at one price, linked through the
//! orders' slots.

use super::slab::NIL;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Level {
    pub price: u64,
    /// Sum of the remaining lots of the orders in this level.
    pub total_qty: u64,
    pub order_count: u32,
    /// Oldest order (first to match).
    pub head: u32,
    /// Newest order.
    pub tail: u32,
}

impl Level {
    pub fn new(price: u64) -> Level {
        Level {
            price,
            total_qty: 0,
            order_count: 0,
            head: NIL,
            tail: NIL,
        }
    }
}
