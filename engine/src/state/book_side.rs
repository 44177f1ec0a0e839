//! One side of a book: its price levels sorted so that the best is last.
//!
//! Levels are kept in a sorted `Vec` keyed so that "better" is "larger" on
//! both sides (bids by price, asks by the complement of price). Trading happens
//! at the top of the book, which is the end of the vector, so the memmove on
//! insert or remove is short where it matters and a sweep pops from the end.

use crate::model::Side;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LevelRef {
    pub key: u64,
    pub level: u32,
}

#[derive(Clone, Debug)]
pub struct BookSide {
    side: Side,
    sorted: Vec<LevelRef>,
}

impl BookSide {
    pub fn new(side: Side, capacity: usize) -> BookSide {
        BookSide {
            side,
            sorted: Vec::with_capacity(capacity),
        }
    }

    pub fn side(&self) -> Side {
        self.side
    }

    /// The ordering key: larger is better.
    #[inline]
    pub fn key(&self, price: u64) -> u64 {
        match self.side {
            Side::Buy => price,
            Side::Sell => !price,
        }
    }

    #[inline]
    pub fn price_of(&self, key: u64) -> u64 {
        match self.side {
            Side::Buy => key,
            Side::Sell => !key,
        }
    }

    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    /// The best level, if any.
    #[inline]
    pub fn best(&self) -> Option<LevelRef> {
        self.sorted.last().copied()
    }

    #[inline]
    pub fn best_price(&self) -> Option<u64> {
        self.best().map(|r| self.price_of(r.key))
    }

    /// Levels from best to worst.
    pub fn iter_best_first(&self) -> impl Iterator<Item = LevelRef> + '_ {
        self.sorted.iter().rev().copied()
    }

    /// The level at `price`: `Ok(level)` if present, else `Err(insert_pos)`.
    #[inline]
    pub fn find(&self, price: u64) -> Result<u32, usize> {
        let key = self.key(price);
        // Search from the top: most lookups are near the best price.
        self.sorted
            .binary_search_by(|r| r.key.cmp(&key))
            .map(|i| self.sorted[i].level)
    }

    pub fn insert_at(&mut self, pos: usize, price: u64, level: u32) {
        let key = self.key(price);
        debug_assert!(pos == 0 || self.sorted[pos - 1].key < key);
        debug_assert!(pos == self.sorted.len() || self.sorted[pos].key > key);
        self.sorted.insert(pos, LevelRef { key, level });
    }

    /// Removes the level at `price`; returns its slot.
    pub fn remove(&mut self, price: u64) -> Option<u32> {
        let key = self.key(price);
        if let Some(last) = self.sorted.last() {
            if last.key == key {
                return self.sorted.pop().map(|r| r.level);
            }
        }
        let pos = self.sorted.binary_search_by(|r| r.key.cmp(&key)).ok()?;
        Some(self.sorted.remove(pos).level)
    }

    /// Whether a taker on the other side with limit `price` crosses this side.
    #[inline]
    pub fn crosses(&self, taker_price: u64) -> bool {
        match self.best_price() {
            None => false,
            Some(best) => match self.side {
                // Resting bids: a sell at or below the best bid crosses.
                Side::Buy => taker_price <= best,
                Side::Sell => taker_price >= best,
            },
        }
    }

    /// Whether a level at `level_price` on this side is acceptable to a taker
    /// whose worst acceptable price is `limit`.
    #[inline]
    pub fn price_acceptable(&self, level_price: u64, limit: u64) -> bool {
        match self.side {
            Side::Buy => level_price >= limit,
            Side::Sell => level_price <= limit,
        }
    }

    /// Checks the levels are strictly sorted.
    pub fn is_sorted_strictly(&self) -> bool {
        self.sorted.windows(2).all(|w| w[0].key < w[1].key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_is_highest_bid_and_lowest_ask() {
        let mut bids = BookSide::new(Side::Buy, 8);
        let mut asks = BookSide::new(Side::Sell, 8);
        for (i, p) in [100u64, 102, 101].into_iter().enumerate() {
            let pos = bids.find(p).unwrap_err();
            bids.insert_at(pos, p, i as u32);
            let pos = asks.find(p).unwrap_err();
            asks.insert_at(pos, p, i as u32);
        }
        assert_eq!(bids.best_price(), Some(102));
        assert_eq!(asks.best_price(), Some(100));
        assert!(bids.is_sorted_strictly() && asks.is_sorted_strictly());
        assert_eq!(bids.find(101), Ok(2));
        assert!(asks.crosses(100) && !asks.crosses(99));
        assert!(bids.crosses(102) && !bids.crosses(103));
        assert_eq!(asks.remove(100), Some(0));
        assert_eq!(asks.best_price(), Some(101));
        assert_eq!(asks.remove(100), None);
        let prices: Vec<u64> = bids
            .iter_best_first()
            .map(|r| bids.price_of(r.key))
            .collect();
        assert_eq!(prices, vec![102, 101, 100]);
    }
}
