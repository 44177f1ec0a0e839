//! A price level: a FIFO of resting orders at one price, linked through the
//! orders' slots.

use crate::model::Side;

use super::slab::NIL;

/// A price level: the orders resting at one price on one side, oldest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Level {
    /// The price in ticks.
    pub price: u64,
    /// The side of the book the level is on (also gives `Option<Level>` a
    /// niche, keeping free slab slots at the level's own size).
    pub side: Side,
    /// Sum of the remaining lots of the orders in this level.
    pub total_qty: u64,
    /// How many orders rest here (at least one while the level is in a book).
    pub order_count: u32,
    /// Oldest order (first to match).
    pub head: u32,
    /// Newest order.
    pub tail: u32,
    /// Internal to [`BookSide`](super::BookSide): the left child (worse
    /// key) in its side's tree of levels outside the window, or `NIL`.
    pub left: u32,
    /// Internal: the right child (better key) in that tree, or `NIL`.
    pub right: u32,
    /// Internal: the AVL height of this node's subtree (1 for a leaf; 0 while
    /// the level is in the window).
    pub height: u8,
}

impl Level {
    /// An empty level at `price` ticks on `side`.
    pub fn new(price: u64, side: Side) -> Level {
        Level {
            price,
            side,
            total_qty: 0,
            order_count: 0,
            head: NIL,
            tail: NIL,
            left: NIL,
            right: NIL,
            height: 0,
        }
    }
}
