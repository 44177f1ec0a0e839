//! One side of a book: its price levels, best first.
//!
//! Most activity sits within a few thousand ticks of the top of the book, so
//! levels there live in a **window**: an array indexed by `price - base`
//! over [`WINDOW_TICKS`] ticks, with a two-level occupancy bitmap (one bit
//! per tick, one summary bit per 64-tick word). Finding, adding and removing
//! a level there is O(1), and finding the next level is a couple of
//! leading/trailing-zero counts. Levels outside the window (far from the
//! market) are kept in a `Vec` sorted so the best is last. When the window
//! holds no level, it recentres on the next level added.

use crate::model::Side;

use super::slab::NIL;

/// Ticks covered by the direct-index window (64 words of 64 bits).
pub const WINDOW_TICKS: usize = 4096;
const WORDS: usize = WINDOW_TICKS / 64;

/// A level as its side orders it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LevelRef {
    /// Ordering key: larger is better on both sides.
    pub key: u64,
    /// The level's slot in the state's level slab.
    pub level: u32,
}

/// One side of a book: its price levels, best first (see the module docs).
#[derive(Clone, Debug)]
pub struct BookSide {
    side: Side,
    /// Price of window index 0.
    base: u64,
    window: Box<[u32]>,
    words: Box<[u64]>,
    summary: u64,
    in_window: usize,
    /// Levels outside the window, ascending by key (best last).
    outside: Vec<LevelRef>,
}

impl BookSide {
    /// An empty side for orders of `side`, with room reserved for
    /// `outside_capacity` levels outside the window.
    pub fn new(side: Side, outside_capacity: usize) -> BookSide {
        BookSide {
            side,
            base: 0,
            window: vec![NIL; WINDOW_TICKS].into_boxed_slice(),
            words: vec![0; WORDS].into_boxed_slice(),
            summary: 0,
            in_window: 0,
            outside: Vec::with_capacity(outside_capacity),
        }
    }

    /// The side of the orders that rest here.
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

    /// The price in ticks of an ordering key (the inverse of
    /// [`key`](Self::key)).
    #[inline]
    pub fn price_of(&self, key: u64) -> u64 {
        match self.side {
            Side::Buy => key,
            Side::Sell => !key,
        }
    }

    /// How many price levels the side holds.
    pub fn len(&self) -> usize {
        self.in_window + self.outside.len()
    }

    /// Whether the side holds no level.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline]
    fn slot(&self, price: u64) -> Option<usize> {
        let offset = price.checked_sub(self.base)?;
        (offset < WINDOW_TICKS as u64).then_some(offset as usize)
    }

    #[inline]
    fn set_bit(&mut self, i: usize) {
        self.words[i / 64] |= 1 << (i % 64);
        self.summary |= 1 << (i / 64);
    }

    #[inline]
    fn clear_bit(&mut self, i: usize) {
        let w = i / 64;
        self.words[w] &= !(1 << (i % 64));
        if self.words[w] == 0 {
            self.summary &= !(1 << w);
        }
    }

    /// Highest occupied window index ≤ `i`.
    #[inline]
    fn highest_at_or_below(&self, i: usize) -> Option<usize> {
        let (w, b) = (i / 64, i % 64);
        let mask = if b == 63 {
            u64::MAX
        } else {
            (1u64 << (b + 1)) - 1
        };
        let m = self.words[w] & mask;
        if m != 0 {
            return Some(w * 64 + 63 - m.leading_zeros() as usize);
        }
        let s = self.summary & ((1u64 << w) - 1);
        if s == 0 {
            return None;
        }
        let w2 = 63 - s.leading_zeros() as usize;
        Some(w2 * 64 + 63 - self.words[w2].leading_zeros() as usize)
    }

    /// Lowest occupied window index ≥ `i`.
    #[inline]
    fn lowest_at_or_above(&self, i: usize) -> Option<usize> {
        let (w, b) = (i / 64, i % 64);
        let m = self.words[w] & (u64::MAX << b);
        if m != 0 {
            return Some(w * 64 + m.trailing_zeros() as usize);
        }
        let s = if w == 63 {
            0
        } else {
            self.summary & (u64::MAX << (w + 1))
        };
        if s == 0 {
            return None;
        }
        let w2 = s.trailing_zeros() as usize;
        Some(w2 * 64 + self.words[w2].trailing_zeros() as usize)
    }

    /// The best occupied window index at or after `from` (towards worse).
    #[inline]
    fn window_next(&self, from: Option<usize>) -> Option<usize> {
        let from = from?;
        match self.side {
            Side::Buy => self.highest_at_or_below(from),
            Side::Sell => self.lowest_at_or_above(from),
        }
    }

    /// The window index to continue from after `i`.
    #[inline]
    fn window_after(&self, i: usize) -> Option<usize> {
        match self.side {
            Side::Buy => i.checked_sub(1),
            Side::Sell => (i + 1 < WINDOW_TICKS).then_some(i + 1),
        }
    }

    #[inline]
    fn window_start(&self) -> Option<usize> {
        match self.side {
            Side::Buy => Some(WINDOW_TICKS - 1),
            Side::Sell => Some(0),
        }
    }

    /// The level at `price`, if any.
    #[inline]
    pub fn find(&self, price: u64) -> Option<u32> {
        match self.slot(price) {
            Some(i) => {
                let level = self.window[i];
                (level != NIL).then_some(level)
            }
            None => {
                let key = self.key(price);
                self.outside
                    .binary_search_by(|r| r.key.cmp(&key))
                    .ok()
                    .map(|i| self.outside[i].level)
            }
        }
    }

    /// Adds a level at `price` (there must be none).
    pub fn insert(&mut self, price: u64, level: u32) {
        if self.in_window == 0 && self.slot(price).is_none() {
            self.recentre(price);
        }
        match self.slot(price) {
            Some(i) => {
                assert_eq!(self.window[i], NIL, "level at {price} added twice");
                self.window[i] = level;
                self.set_bit(i);
                self.in_window += 1;
            }
            None => {
                let key = self.key(price);
                let pos = self
                    .outside
                    .binary_search_by(|r| r.key.cmp(&key))
                    .expect_err("level added twice");
                self.outside.insert(pos, LevelRef { key, level });
            }
        }
    }

    /// Moves the empty window to be centred on `price`, pulling in the
    /// outside levels it now covers.
    fn recentre(&mut self, price: u64) {
        debug_assert_eq!(self.in_window, 0);
        self.base = price.saturating_sub(WINDOW_TICKS as u64 / 2);
        let mut moved = 0;
        for r in &self.outside {
            let p = self.price_of(r.key);
            if let Some(offset) = p
                .checked_sub(self.base)
                .filter(|o| *o < WINDOW_TICKS as u64)
            {
                self.window[offset as usize] = r.level;
                self.words[offset as usize / 64] |= 1 << (offset % 64);
                self.summary |= 1 << (offset / 64);
                moved += 1;
            }
        }
        if moved > 0 {
            let base = self.base;
            let side = self.side;
            self.outside.retain(|r| {
                let p = match side {
                    Side::Buy => r.key,
                    Side::Sell => !r.key,
                };
                !(p >= base && p - base < WINDOW_TICKS as u64)
            });
            self.in_window = moved;
        }
    }

    /// Removes the level at `price`; returns its slot.
    pub fn remove(&mut self, price: u64) -> Option<u32> {
        match self.slot(price) {
            Some(i) => {
                let level = self.window[i];
                if level == NIL {
                    return None;
                }
                self.window[i] = NIL;
                self.clear_bit(i);
                self.in_window -= 1;
                Some(level)
            }
            None => {
                let key = self.key(price);
                if self.outside.last().is_some_and(|r| r.key == key) {
                    return self.outside.pop().map(|r| r.level);
                }
                let pos = self.outside.binary_search_by(|r| r.key.cmp(&key)).ok()?;
                Some(self.outside.remove(pos).level)
            }
        }
    }

    /// The best level, if any.
    #[inline]
    pub fn best(&self) -> Option<LevelRef> {
        let window = self.window_next(self.window_start()).map(|i| LevelRef {
            key: self.key(self.base + i as u64),
            level: self.window[i],
        });
        match (window, self.outside.last().copied()) {
            (Some(w), Some(o)) => Some(if w.key > o.key { w } else { o }),
            (w, o) => w.or(o),
        }
    }

    /// The best price in ticks, or `None` when the side is empty.
    #[inline]
    pub fn best_price(&self) -> Option<u64> {
        self.best().map(|r| self.price_of(r.key))
    }

    /// Levels from best to worst.
    pub fn iter_best_first(&self) -> BestFirst<'_> {
        // `next` scans from the window's best end; nothing is scanned until then.
        BestFirst {
            side: self,
            window: self.window_start(),
            outside: self.outside.len(),
        }
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

    /// Checks the structure's own consistency (for `check_invariants`).
    pub fn check(&self) -> Result<(), String> {
        let mut count = 0;
        for (i, &level) in self.window.iter().enumerate() {
            let bit = self.words[i / 64] & (1 << (i % 64)) != 0;
            if bit != (level != NIL) {
                return Err(format!("window index {i}: bit {bit} but slot {level}"));
            }
            count += usize::from(bit);
        }
        for (w, &word) in self.words.iter().enumerate() {
            if (self.summary & (1 << w) != 0) != (word != 0) {
                return Err(format!("summary bit {w} disagrees with its word"));
            }
        }
        if count != self.in_window {
            return Err(format!(
                "window counts {} levels, holds {count}",
                self.in_window
            ));
        }
        if !self.outside.windows(2).all(|w| w[0].key < w[1].key) {
            return Err("outside levels not strictly sorted".into());
        }
        if let Some(r) = self
            .outside
            .iter()
            .find(|r| self.slot(self.price_of(r.key)).is_some())
        {
            return Err(format!(
                "level at {} is outside the window but within its range",
                self.price_of(r.key)
            ));
        }
        Ok(())
    }
}

/// Best-first iteration: merges the window (scanned by its bitmap) with the
/// outside levels (from the end of their vector).
pub struct BestFirst<'a> {
    side: &'a BookSide,
    /// Next window index to scan from, towards worse prices.
    window: Option<usize>,
    /// Outside levels not yet yielded: indices `0..outside`.
    outside: usize,
}

impl Iterator for BestFirst<'_> {
    type Item = LevelRef;

    #[inline]
    fn next(&mut self) -> Option<LevelRef> {
        let s = self.side;
        let w = s.window_next(self.window);
        let o = self.outside.checked_sub(1).map(|i| s.outside[i]);
        let w_ref = w.map(|i| LevelRef {
            key: s.key(s.base + i as u64),
            level: s.window[i],
        });
        match (w_ref, o) {
            (Some(wr), Some(or)) if or.key > wr.key => {
                self.window = w;
                self.outside -= 1;
                Some(or)
            }
            (Some(wr), _) => {
                let i = w.expect("window hit");
                self.window = s.window_after(i);
                Some(wr)
            }
            (None, Some(or)) => {
                self.window = None;
                self.outside -= 1;
                Some(or)
            }
            (None, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[test]
    fn best_is_highest_bid_and_lowest_ask() {
        let mut bids = BookSide::new(Side::Buy, 8);
        let mut asks = BookSide::new(Side::Sell, 8);
        for (i, p) in [100u64, 102, 101].into_iter().enumerate() {
            bids.insert(p, i as u32);
            asks.insert(p, i as u32);
        }
        assert_eq!(bids.best_price(), Some(102));
        assert_eq!(asks.best_price(), Some(100));
        assert_eq!(bids.find(101), Some(2));
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
        bids.check().unwrap();
        asks.check().unwrap();
    }

    proptest! {
        /// The side behaves like a sorted map from price to level, for prices
        /// both inside and far outside the window, across recentring.
        #[test]
        fn behaves_like_a_sorted_map(
            buy in any::<bool>(),
            ops in proptest::collection::vec((0u8..4, 0u64..12_000, prop_oneof![Just(0u64), Just(u64::MAX - 5_000), Just(1_000_000)]), 1..400),
        ) {
            let side = if buy { Side::Buy } else { Side::Sell };
            let mut s = BookSide::new(side, 4);
            let mut model: BTreeMap<u64, u32> = BTreeMap::new();
            for (n, (op, p, shift)) in ops.into_iter().enumerate() {
                let price = p.saturating_add(shift);
                match op {
                    0 | 1 if !model.contains_key(&price) => {
                        s.insert(price, n as u32);
                        model.insert(price, n as u32);
                    }
                    2 => prop_assert_eq!(s.remove(price), model.remove(&price)),
                    _ => prop_assert_eq!(s.find(price), model.get(&price).copied()),
                }
                prop_assert!(s.check().is_ok(), "{:?}", s.check());
                let got: Vec<(u64, u32)> = s.iter_best_first().map(|r| (s.price_of(r.key), r.level)).collect();
                let want: Vec<(u64, u32)> = match side {
                    Side::Buy => model.iter().rev().map(|(p, l)| (*p, *l)).collect(),
                    Side::Sell => model.iter().map(|(p, l)| (*p, *l)).collect(),
                };
                prop_assert_eq!(&got, &want);
                prop_assert_eq!(s.best_price(), want.first().map(|x| x.0));
                prop_assert_eq!(s.len(), model.len());
            }
        }
    }
}
