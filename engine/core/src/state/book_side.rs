//! One side of a book: its price levels, best first.
//!
//! Most activity sits within a few thousand ticks of the top of the book, so
//! levels there live in a **window**: an array indexed by `price - base`
//! over [`WINDOW_TICKS`] ticks, with a two-level occupancy bitmap (one bit
//! per tick, one summary bit per 64-tick word). Finding, adding and removing
//! a level there is O(1), and finding the next level is a couple of
//! leading/trailing-zero counts.
//!
//! Levels outside the window (far from the market) are kept in an **AVL
//! tree** whose nodes are the levels themselves: the links live in each
//! [`Level`]'s slot of the state's level slab, so the tree is preallocated
//! with the levels and never allocates. Finding, adding and removing such a
//! level is O(log n), and best-first iteration steps to the next tree level
//! in O(log n). No level in the tree lies within the window's range.
//!
//! The window recentres on a level added outside it when the window is empty,
//! or when the new level is better than every level in the window and the
//! window holds at most [`RECENTRE_MAX_LEVELS`] levels (a few stale levels
//! never pin the window away from the market). Recentring moves the window's
//! levels that fall outside the new range into the tree and pulls the tree's
//! levels inside it into the window; a recentre can only move the window
//! towards better prices unless it is empty, so its cost is amortized over
//! the commands that placed the levels it moves.

use crate::model::Side;

use super::level::Level;
use super::slab::{Slab, NIL};

/// Ticks covered by the direct-index window (64 words of 64 bits).
pub const WINDOW_TICKS: usize = 4096;
const WORDS: usize = WINDOW_TICKS / 64;

/// The most levels a non-empty window may hold and still recentre on a
/// better level added outside it.
pub const RECENTRE_MAX_LEVELS: usize = 64;

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
    /// Root of the tree of levels outside the window, or `NIL`.
    root: u32,
    /// Levels in the tree.
    in_tree: usize,
    /// The tree's best level (largest key), cached for `best`.
    tree_best: Option<LevelRef>,
}

impl BookSide {
    /// An empty side for orders of `side`.
    pub fn new(side: Side) -> BookSide {
        BookSide {
            side,
            base: 0,
            window: vec![NIL; WINDOW_TICKS].into_boxed_slice(),
            words: vec![0; WORDS].into_boxed_slice(),
            summary: 0,
            in_window: 0,
            root: NIL,
            in_tree: 0,
            tree_best: None,
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
        self.in_window + self.in_tree
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
    pub fn find(&self, levels: &Slab<Level>, price: u64) -> Option<u32> {
        match self.slot(price) {
            Some(i) => {
                let level = self.window[i];
                (level != NIL).then_some(level)
            }
            None => tree::find(levels, self.side, self.root, self.key(price)),
        }
    }

    /// The level at `price`, or, when there is none, the one `make` adds to
    /// the slab (at `price`, on this side), linked in: what [`Self::find`]
    /// then [`Self::insert`] do, with one tree descent instead of two for a
    /// level outside the window. An error from `make` changes nothing.
    pub fn find_or_insert<E>(
        &mut self,
        levels: &mut Slab<Level>,
        price: u64,
        make: impl FnOnce(&mut Slab<Level>) -> Result<u32, E>,
    ) -> Result<u32, E> {
        let window_slot = self.slot(price);
        if let Some(i) = window_slot {
            let level = self.window[i];
            if level != NIL {
                return Ok(level);
            }
            let level = make(levels)?;
            self.window_put(i, level);
            return Ok(level);
        }
        if !self.should_recentre(price) {
            let key = self.key(price);
            let mut make = Some(make);
            return Ok(
                match tree::find_or_insert(levels, self.side, self.root, key, &mut make)? {
                    tree::Put::Found(level) => level,
                    tree::Put::Added { root, level, .. } => {
                        self.root = root;
                        self.in_tree += 1;
                        if self.tree_best.is_none_or(|b| key > b.key) {
                            self.tree_best = Some(LevelRef { key, level });
                        }
                        level
                    }
                },
            );
        }
        if let Some(level) = tree::find(levels, self.side, self.root, self.key(price)) {
            return Ok(level);
        }
        let level = make(levels)?;
        self.insert(levels, level);
        Ok(level)
    }

    /// Adds the level in slot `level` (at its price; there must be none).
    pub fn insert(&mut self, levels: &mut Slab<Level>, level: u32) {
        let price = node(levels, level).price;
        if self.slot(price).is_none() && self.should_recentre(price) {
            self.recentre(levels, price);
        }
        match self.slot(price) {
            Some(i) => self.window_put(i, level),
            None => self.tree_put(levels, level),
        }
    }

    fn window_put(&mut self, i: usize, level: u32) {
        assert_eq!(self.window[i], NIL, "level added twice");
        self.window[i] = level;
        self.set_bit(i);
        self.in_window += 1;
    }

    fn tree_put(&mut self, levels: &mut Slab<Level>, level: u32) {
        let key = self.key(node(levels, level).price);
        self.root = tree::insert(levels, self.side, self.root, level);
        self.in_tree += 1;
        if self.tree_best.is_none_or(|b| key > b.key) {
            self.tree_best = Some(LevelRef { key, level });
        }
    }

    fn tree_take(&mut self, levels: &mut Slab<Level>, key: u64) -> Option<u32> {
        let (root, taken) = tree::remove(levels, self.side, self.root, key);
        self.root = root;
        let level = taken?;
        self.in_tree -= 1;
        if self.tree_best.is_some_and(|b| b.key == key) {
            self.tree_best = tree::max(levels, self.root).map(|l| LevelRef {
                key: self.key(node(levels, l).price),
                level: l,
            });
        }
        Some(level)
    }

    /// Whether adding a level at `price` (outside the window) moves the
    /// window (see the module docs).
    fn should_recentre(&self, price: u64) -> bool {
        if self.in_window == 0 {
            return true;
        }
        let window_best = self.window_next(self.window_start());
        self.in_window <= RECENTRE_MAX_LEVELS
            && window_best.is_some_and(|i| self.key(price) > self.key(self.base + i as u64))
    }

    /// Moves the window to be centred on `price`: window levels outside the
    /// new range go to the tree, tree levels inside it come to the window.
    fn recentre(&mut self, levels: &mut Slab<Level>, price: u64) {
        let old_base = self.base;
        let new_base = price.saturating_sub(WINDOW_TICKS as u64 / 2);
        let in_new = |p: u64| p >= new_base && p - new_base < WINDOW_TICKS as u64;
        let mut kept: [(u64, u32); RECENTRE_MAX_LEVELS] = [(0, NIL); RECENTRE_MAX_LEVELS];
        let mut kept_len = 0;
        let mut i = self.window_next(self.window_start());
        while let Some(at) = i {
            let level = self.window[at];
            let p = old_base + at as u64;
            self.window[at] = NIL;
            self.clear_bit(at);
            self.in_window -= 1;
            if in_new(p) && kept_len < RECENTRE_MAX_LEVELS {
                kept[kept_len] = (p, level);
                kept_len += 1;
            } else {
                self.tree_put(levels, level);
            }
            i = self.window_next(self.window_after(at));
        }
        debug_assert_eq!(self.in_window, 0);
        self.base = new_base;
        for &(p, level) in &kept[..kept_len] {
            let at = self.slot(p).expect("kept levels are in the new range");
            self.window_put(at, level);
        }
        // Pull the tree's levels in the new range, best first.
        let top = self.key(if self.side == Side::Buy {
            new_base.saturating_add(WINDOW_TICKS as u64 - 1)
        } else {
            new_base
        });
        let mut below = top;
        while let Some(l) = tree::at_or_below(levels, self.side, self.root, below) {
            let p = node(levels, l).price;
            if !in_new(p) {
                break;
            }
            let key = self.key(p);
            let taken = self.tree_take(levels, key).expect("found in the tree");
            let at = self.slot(p).expect("in the new range");
            self.window_put(at, taken);
            match key.checked_sub(1) {
                Some(k) => below = k,
                None => break,
            }
        }
    }

    /// Removes the level at `price`; returns its slot.
    pub fn remove(&mut self, levels: &mut Slab<Level>, price: u64) -> Option<u32> {
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
            None => self.tree_take(levels, self.key(price)),
        }
    }

    /// The best level, if any.
    #[inline]
    pub fn best(&self) -> Option<LevelRef> {
        let window = self.window_next(self.window_start()).map(|i| LevelRef {
            key: self.key(self.base + i as u64),
            level: self.window[i],
        });
        match (window, self.tree_best) {
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
    pub fn iter_best_first<'a>(&'a self, levels: &'a Slab<Level>) -> BestFirst<'a> {
        // `next` scans from the window's best end; nothing is scanned until then.
        BestFirst {
            side: self,
            levels,
            window: self.window_start(),
            tree: self.tree_best,
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
    pub fn check(&self, levels: &Slab<Level>) -> Result<(), String> {
        let mut count = 0;
        for (i, &level) in self.window.iter().enumerate() {
            let bit = self.words[i / 64] & (1 << (i % 64)) != 0;
            if bit != (level != NIL) {
                return Err(format!("window index {i}: bit {bit} but slot {level}"));
            }
            if level != NIL && levels.get(level).map(|l| l.price) != Some(self.base + i as u64) {
                return Err(format!("window index {i}: level {level} has another price"));
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
        let mut keys = Vec::with_capacity(self.in_tree);
        tree::check(levels, self.side, self.root, &mut keys)?;
        if keys.len() != self.in_tree {
            return Err(format!(
                "tree counts {} levels, holds {}",
                self.in_tree,
                keys.len()
            ));
        }
        if !keys.windows(2).all(|w| w[0] < w[1]) {
            return Err("tree levels not strictly ordered".into());
        }
        if self.tree_best.map(|b| b.key) != keys.last().copied() {
            return Err("cached best tree level is stale".into());
        }
        if let Some(&k) = keys
            .iter()
            .find(|&&k| self.slot(self.price_of(k)).is_some())
        {
            return Err(format!(
                "level at {} is in the tree but within the window's range",
                self.price_of(k)
            ));
        }
        Ok(())
    }
}

#[inline]
fn node(levels: &Slab<Level>, slot: u32) -> &Level {
    levels
        .get(slot)
        .expect("a level in a book exists in the slab")
}

/// The AVL tree over level slots, keyed by the side's ordering key of each
/// level's price. Recursion depth is the tree's height: at most 1.44 log2 of
/// the level capacity (under 45 for 2^28 levels).
mod tree {
    use super::{node, Level, Side, Slab, NIL};

    fn key(levels: &Slab<Level>, side: Side, n: u32) -> u64 {
        let p = node(levels, n).price;
        match side {
            Side::Buy => p,
            Side::Sell => !p,
        }
    }

    fn height(levels: &Slab<Level>, n: u32) -> i32 {
        if n == NIL {
            0
        } else {
            i32::from(node(levels, n).height)
        }
    }

    fn at(levels: &mut Slab<Level>, n: u32) -> &mut Level {
        levels
            .get_mut(n)
            .expect("a level in a book exists in the slab")
    }

    fn update(levels: &mut Slab<Level>, n: u32) {
        let (l, r) = (node(levels, n).left, node(levels, n).right);
        let h = 1 + height(levels, l).max(height(levels, r));
        at(levels, n).height = h as u8;
    }

    fn rotate_right(levels: &mut Slab<Level>, n: u32) -> u32 {
        let l = node(levels, n).left;
        let lr = node(levels, l).right;
        at(levels, n).left = lr;
        at(levels, l).right = n;
        update(levels, n);
        update(levels, l);
        l
    }

    fn rotate_left(levels: &mut Slab<Level>, n: u32) -> u32 {
        let r = node(levels, n).right;
        let rl = node(levels, r).left;
        at(levels, n).right = rl;
        at(levels, r).left = n;
        update(levels, n);
        update(levels, r);
        r
    }

    fn balance(levels: &mut Slab<Level>, n: u32) -> u32 {
        update(levels, n);
        let (l, r) = (node(levels, n).left, node(levels, n).right);
        let bf = height(levels, l) - height(levels, r);
        if bf > 1 {
            let (ll, lr) = (node(levels, l).left, node(levels, l).right);
            if height(levels, ll) < height(levels, lr) {
                let nl = rotate_left(levels, l);
                at(levels, n).left = nl;
            }
            return rotate_right(levels, n);
        }
        if bf < -1 {
            let (rl, rr) = (node(levels, r).left, node(levels, r).right);
            if height(levels, rr) < height(levels, rl) {
                let nr = rotate_right(levels, r);
                at(levels, n).right = nr;
            }
            return rotate_left(levels, n);
        }
        n
    }

    /// The level with `k`, if any.
    pub fn find(levels: &Slab<Level>, side: Side, mut n: u32, k: u64) -> Option<u32> {
        while n != NIL {
            let nk = key(levels, side, n);
            if k == nk {
                return Some(n);
            }
            n = if k < nk {
                node(levels, n).left
            } else {
                node(levels, n).right
            };
        }
        None
    }

    /// The level with the largest key ≤ `k`.
    pub fn at_or_below(levels: &Slab<Level>, side: Side, mut n: u32, k: u64) -> Option<u32> {
        let mut found = None;
        while n != NIL {
            if key(levels, side, n) <= k {
                found = Some(n);
                n = node(levels, n).right;
            } else {
                n = node(levels, n).left;
            }
        }
        found
    }

    /// The level with the largest key.
    pub fn max(levels: &Slab<Level>, mut n: u32) -> Option<u32> {
        if n == NIL {
            return None;
        }
        while node(levels, n).right != NIL {
            n = node(levels, n).right;
        }
        Some(n)
    }

    /// Inserts level `new` (its key must not be in the tree); the new root.
    pub fn insert(levels: &mut Slab<Level>, side: Side, n: u32, new: u32) -> u32 {
        let k = key(levels, side, new);
        let mut make = Some(|_: &mut Slab<Level>| Ok::<u32, std::convert::Infallible>(new));
        match find_or_insert(levels, side, n, k, &mut make) {
            Ok(Put::Added { root, .. }) => root,
            Ok(Put::Found(_)) => panic!("level added twice"),
            Err(never) => match never {},
        }
    }

    /// What [`find_or_insert`] did.
    pub enum Put {
        /// The key was there, at this level.
        Found(u32),
        /// `level` was made and inserted; `root` is the subtree's new root
        /// and `grew` whether its height grew.
        Added { root: u32, level: u32, grew: bool },
    }

    /// The level with key `k` in subtree `n`, or a new one from `make`
    /// (called at most once, only when `k` is absent) inserted there, in
    /// one descent, rebalancing as [`insert`] does. If `make` fails nothing
    /// has changed yet: links are written only on the way back up.
    pub fn find_or_insert<E, F>(
        levels: &mut Slab<Level>,
        side: Side,
        n: u32,
        k: u64,
        make: &mut Option<F>,
    ) -> Result<Put, E>
    where
        F: FnOnce(&mut Slab<Level>) -> Result<u32, E>,
    {
        if n == NIL {
            let make = make.take().expect("a level is made at most once");
            let new = make(levels)?;
            debug_assert_eq!(key(levels, side, new), k, "made level has the key");
            let l = at(levels, new);
            (l.left, l.right, l.height) = (NIL, NIL, 1);
            return Ok(Put::Added {
                root: new,
                level: new,
                grew: true,
            });
        }
        let nk = key(levels, side, n);
        if k == nk {
            return Ok(Put::Found(n));
        }
        let left = k < nk;
        let child = if left {
            node(levels, n).left
        } else {
            node(levels, n).right
        };
        let (c, level, grew) = match find_or_insert(levels, side, child, k, make)? {
            Put::Found(level) => return Ok(Put::Found(level)),
            Put::Added { root, level, grew } => (root, level, grew),
        };
        if left {
            at(levels, n).left = c;
        } else {
            at(levels, n).right = c;
        }
        if !grew {
            return Ok(Put::Added {
                root: n,
                level,
                grew: false,
            });
        }
        let before = height(levels, n);
        let root = balance(levels, n);
        Ok(Put::Added {
            root,
            level,
            grew: height(levels, root) > before,
        })
    }

    /// Removes the smallest key of subtree `n`: (new subtree root, removed).
    fn remove_min(levels: &mut Slab<Level>, n: u32) -> (u32, u32) {
        let l = node(levels, n).left;
        if l == NIL {
            return (node(levels, n).right, n);
        }
        let (nl, min) = remove_min(levels, l);
        at(levels, n).left = nl;
        (balance(levels, n), min)
    }

    /// Removes the level with key `k`: (new root, the removed level).
    pub fn remove(levels: &mut Slab<Level>, side: Side, n: u32, k: u64) -> (u32, Option<u32>) {
        if n == NIL {
            return (NIL, None);
        }
        let nk = key(levels, side, n);
        let (root, removed) = if k < nk {
            let (l, removed) = remove(levels, side, node(levels, n).left, k);
            at(levels, n).left = l;
            (n, removed)
        } else if k > nk {
            let (r, removed) = remove(levels, side, node(levels, n).right, k);
            at(levels, n).right = r;
            (n, removed)
        } else {
            let (l, r) = (node(levels, n).left, node(levels, n).right);
            let root = if l == NIL || r == NIL {
                if l == NIL {
                    r
                } else {
                    l
                }
            } else {
                let (nr, successor) = remove_min(levels, r);
                let s = at(levels, successor);
                (s.left, s.right) = (l, nr);
                successor
            };
            let gone = at(levels, n);
            (gone.left, gone.right, gone.height) = (NIL, NIL, 0);
            return (
                if root == NIL {
                    NIL
                } else {
                    balance(levels, root)
                },
                Some(n),
            );
        };
        if removed.is_none() {
            return (root, None);
        }
        (balance(levels, root), removed)
    }

    /// Checks ordering, heights and balance; pushes the keys in order.
    pub fn check(
        levels: &Slab<Level>,
        side: Side,
        n: u32,
        keys: &mut Vec<u64>,
    ) -> Result<i32, String> {
        if n == NIL {
            return Ok(0);
        }
        let Some(level) = levels.get(n) else {
            return Err(format!("tree node {n} is not a level"));
        };
        let hl = check(levels, side, level.left, keys)?;
        keys.push(key(levels, side, n));
        let hr = check(levels, side, level.right, keys)?;
        if (hl - hr).abs() > 1 || i32::from(level.height) != 1 + hl.max(hr) {
            return Err(format!("tree node {n} unbalanced or mis-sized"));
        }
        Ok(1 + hl.max(hr))
    }
}

/// Best-first iteration: merges the window (scanned by its bitmap) with the
/// tree (stepping to the next smaller key).
pub struct BestFirst<'a> {
    side: &'a BookSide,
    levels: &'a Slab<Level>,
    /// Next window index to scan from, towards worse prices.
    window: Option<usize>,
    /// The next tree level not yet yielded.
    tree: Option<LevelRef>,
}

impl BestFirst<'_> {
    fn tree_after(&self, key: u64) -> Option<LevelRef> {
        let s = self.side;
        let below = tree::at_or_below(self.levels, s.side, s.root, key.checked_sub(1)?)?;
        Some(LevelRef {
            key: s.key(node(self.levels, below).price),
            level: below,
        })
    }
}

impl Iterator for BestFirst<'_> {
    type Item = LevelRef;

    #[inline]
    fn next(&mut self) -> Option<LevelRef> {
        let s = self.side;
        let w = s.window_next(self.window);
        let w_ref = w.map(|i| LevelRef {
            key: s.key(s.base + i as u64),
            level: s.window[i],
        });
        match (w_ref, self.tree) {
            (Some(wr), Some(tr)) if tr.key > wr.key => {
                self.window = w;
                self.tree = self.tree_after(tr.key);
                Some(tr)
            }
            (Some(wr), _) => {
                let i = w.expect("window hit");
                self.window = s.window_after(i);
                Some(wr)
            }
            (None, Some(tr)) => {
                self.window = None;
                self.tree = self.tree_after(tr.key);
                Some(tr)
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

    /// A side and its level slab, used as the state uses them.
    struct Harness {
        side: BookSide,
        levels: Slab<Level>,
    }

    impl Harness {
        fn new(side: Side) -> Harness {
            Harness {
                side: BookSide::new(side),
                levels: Slab::with_capacity(1 << 12),
            }
        }
        fn add(&mut self, price: u64) -> u32 {
            let slot = self
                .levels
                .insert(Level::new(price, self.side.side()))
                .expect("capacity");
            self.side.insert(&mut self.levels, slot);
            slot
        }
        fn remove(&mut self, price: u64) -> Option<u32> {
            let slot = self.side.remove(&mut self.levels, price)?;
            self.levels.remove(slot);
            Some(slot)
        }
        fn find(&self, price: u64) -> Option<u32> {
            self.side.find(&self.levels, price)
        }
        /// `find_or_insert`: the slot, and whether `make` ran.
        fn find_or_add(&mut self, price: u64) -> (u32, bool) {
            let side = self.side.side();
            let mut made = false;
            let slot = self
                .side
                .find_or_insert(&mut self.levels, price, |levels| {
                    made = true;
                    levels.insert(Level::new(price, side)).map_err(|_| ())
                })
                .expect("capacity");
            (slot, made)
        }
        fn prices(&self) -> Vec<u64> {
            self.side
                .iter_best_first(&self.levels)
                .map(|r| self.side.price_of(r.key))
                .collect()
        }
        fn check(&self) -> Result<(), String> {
            self.side.check(&self.levels)
        }
    }

    #[test]
    fn best_is_highest_bid_and_lowest_ask() {
        let mut bids = Harness::new(Side::Buy);
        let mut asks = Harness::new(Side::Sell);
        let mut slots = Vec::new();
        for p in [100u64, 102, 101] {
            slots.push(bids.add(p));
            asks.add(p);
        }
        assert_eq!(bids.side.best_price(), Some(102));
        assert_eq!(asks.side.best_price(), Some(100));
        assert_eq!(bids.find(101), Some(slots[2]));
        assert!(asks.side.crosses(100) && !asks.side.crosses(99));
        assert!(bids.side.crosses(102) && !bids.side.crosses(103));
        assert!(asks.remove(100).is_some());
        assert_eq!(asks.side.best_price(), Some(101));
        assert_eq!(asks.remove(100), None);
        assert_eq!(bids.prices(), vec![102, 101, 100]);
        bids.check().unwrap();
        asks.check().unwrap();
    }

    #[test]
    fn a_stale_level_does_not_pin_the_window() {
        // One bid left far below, then the market trades 100,000 ticks higher:
        // the window follows the market instead of keeping the stale level.
        let mut bids = Harness::new(Side::Buy);
        bids.add(1_000);
        for p in 100_000..100_050 {
            bids.add(p);
        }
        assert_eq!(bids.side.in_window, 50, "the window moved to the market");
        assert_eq!(bids.side.in_tree, 1, "the stale level went to the tree");
        bids.check().unwrap();
        let mut want: Vec<u64> = (100_000..100_050).rev().collect();
        want.push(1_000);
        assert_eq!(bids.prices(), want);
    }

    #[test]
    fn a_level_that_cannot_be_made_changes_nothing() {
        let mut asks = Harness::new(Side::Sell);
        for i in 0..100u64 {
            asks.add(1_000_000 + i * 10_000);
        }
        let before = asks.prices();
        let got = asks
            .side
            .find_or_insert(&mut asks.levels, 1_005_000, |_| Err("full"));
        assert_eq!(got, Err("full"));
        assert_eq!(asks.prices(), before);
        asks.check().unwrap();
    }

    #[test]
    fn far_levels_stay_balanced() {
        let mut asks = Harness::new(Side::Sell);
        asks.add(50_000);
        for i in 0..2_000u64 {
            // Far above the window, in an order that would degenerate an
            // unbalanced tree.
            asks.add(1_000_000 + i * 10_000);
        }
        asks.check().unwrap();
        assert!(asks.side.in_tree >= 2_000);
        let root = asks.side.root;
        assert!(
            asks.levels.get(root).unwrap().height <= 16,
            "height {}",
            asks.levels.get(root).unwrap().height
        );
        for i in (0..2_000u64).step_by(3) {
            assert!(asks.remove(1_000_000 + i * 10_000).is_some());
        }
        asks.check().unwrap();
    }

    proptest! {
        /// The side behaves like a sorted map from price to level, for prices
        /// both inside and far outside the window, across recentring.
        #[test]
        fn behaves_like_a_sorted_map(
            buy in any::<bool>(),
            ops in proptest::collection::vec((0u8..6, 0u64..12_000, prop_oneof![Just(0u64), Just(u64::MAX - 5_000), Just(1_000_000), Just(20_000)]), 1..400),
        ) {
            let side = if buy { Side::Buy } else { Side::Sell };
            let mut s = Harness::new(side);
            let mut model: BTreeMap<u64, u32> = BTreeMap::new();
            for (op, p, shift) in ops {
                let price = p.saturating_add(shift);
                match op {
                    0 | 1 if !model.contains_key(&price) => {
                        let slot = s.add(price);
                        model.insert(price, slot);
                    }
                    2 => prop_assert_eq!(s.remove(price), model.remove(&price)),
                    3 | 4 => {
                        let (slot, made) = s.find_or_add(price);
                        match model.get(&price) {
                            Some(&want) => prop_assert_eq!((slot, made), (want, false)),
                            None => {
                                prop_assert!(made);
                                model.insert(price, slot);
                            }
                        }
                    }
                    _ => prop_assert_eq!(s.find(price), model.get(&price).copied()),
                }
                prop_assert!(s.check().is_ok(), "{:?}", s.check());
                let got: Vec<(u64, u32)> = s.side.iter_best_first(&s.levels).map(|r| (s.side.price_of(r.key), r.level)).collect();
                let want: Vec<(u64, u32)> = match side {
                    Side::Buy => model.iter().rev().map(|(p, l)| (*p, *l)).collect(),
                    Side::Sell => model.iter().map(|(p, l)| (*p, *l)).collect(),
                };
                prop_assert_eq!(&got, &want);
                prop_assert_eq!(s.side.best_price(), want.first().map(|x| x.0));
                prop_assert_eq!(s.side.len(), model.len());
            }
        }
    }
}
