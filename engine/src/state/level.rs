//! A price level: a FIFO of resting orders at one price, linked through the
//! orders' slots.

use crate::model::Side;

use super::slab::NIL;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Level {
    pub price: u64,
    /// The side of the book the level is on (also gives `Option<Level>` a
    /// niche, keeping free slab slots at the level's own size).
    pub side: Side,
    /// Sum of the remaining lots of the orders in this level.
    pub total_qty: u64,
    pub order_count: u32,
    /// Oldest order (first to match).
    pub head: u32,
    /// Newest order.
    pub tail: u32,
}

impl Level {
    pub fn new(price: u64, side: Side) -> Level {
        Level {
            price,
            side,
            total_qty: 0,
            order_count: 0,
            head: NIL,
            tail: NIL,
        }
    }
}
