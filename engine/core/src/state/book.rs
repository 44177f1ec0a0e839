//! A symbol's order book: its two sides.

use crate::model::Side;

use super::book_side::BookSide;

/// One symbol's order book.
#[derive(Clone, Debug)]
pub struct Book {
    /// Resting buy orders, highest price first.
    pub bids: BookSide,
    /// Resting sell orders, lowest price first.
    pub asks: BookSide,
}

impl Default for Book {
    fn default() -> Book {
        Book::new()
    }
}

impl Book {
    /// An empty book.
    pub fn new() -> Book {
        Book {
            bids: BookSide::new(Side::Buy),
            asks: BookSide::new(Side::Sell),
        }
    }

    /// The side where orders of `side` rest.
    #[inline]
    pub fn side(&self, side: Side) -> &BookSide {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    /// The side where orders of `side` rest, mutably.
    #[inline]
    pub fn side_mut(&mut self, side: Side) -> &mut BookSide {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }
}
