use crate::model::Side;

use super::book_side::BookSide;

/// One symbol's order book.
#[derive(Clone, Debug)]
pub struct Book {
    pub bids: BookSide,
    pub asks: BookSide,
}

impl Book {
    pub fn new(level_capacity: usize) -> Book {
        Book {
            bids: BookSide::new(Side::Buy, level_capacity),
            asks: BookSide::new(Side::Sell, level_capacity),
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

    #[inline]
    pub fn side_mut(&mut self, side: Side) -> &mut BookSide {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }
}
