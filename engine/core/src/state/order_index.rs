//! Order id → slot: a fixed-size open-addressing table with Robin Hood
//! linear probing and backward-shift deletion. It is sized once for the
//! order capacity at a load of at most 2/3, never rehashes and never
//! allocates, and keeps no tombstones.
//!
//! Robin Hood order (along a probe run, entries never sit closer to their
//! home than an entry before them) bounds every operation by the local
//! cluster, not by the number of live orders: a lookup stops at the first
//! entry nearer its home than the probe, and a delete stops shifting at the
//! first entry that sits at its home.
//!
//! Homes come from Fibonacci hashing of the id's block (the id without its
//! low [`BLOCK_BITS`] bits; multiply by 2^64/φ, keep the top bits), with the
//! low bits kept as the offset inside the block. Not from the id's low bits
//! alone: engine ids are sequential, and low bits would map a block of old
//! live ids and the new ids that wrap onto it to one long run, which a Robin
//! Hood insert or delete then shifts whole. Hashed by block, any pattern of
//! live ids (FIFO fills, oldest-first cancels, very old orders among millions
//! of new ones) spreads like random keys of 16 ids each: expected O(1)
//! probes at a load of at most 2/3 (runs of up to a block or two). Keeping
//! 16 consecutive ids in adjacent buckets keeps the table's working set
//! small: new ids land on the cache line the previous one used, where hashing
//! each id alone cost a cache miss per new order.
//! Lookups are deterministic; iteration is never needed. The bucket count and
//! home function are internal: nothing observable depends on them.

use crate::model::OrderId;

/// Marks an empty bucket (order ids start at 1).
const EMPTY: OrderId = 0;

/// Consecutive ids that share a hashed block of buckets: 2^4 = 16.
const BLOCK_BITS: u32 = 4;

/// Maps the id of each open order to its slot (see the module docs).
#[derive(Clone, Debug)]
pub struct OrderIndex {
    keys: Box<[OrderId]>,
    slots: Box<[u32]>,
    len: usize,
    /// The bucket count (a power of two) minus one.
    mask: usize,
    /// 64 minus log2 of the block count: the hash's top bits are the home
    /// block.
    shift: u32,
}

impl OrderIndex {
    /// A table for at most `capacity` orders.
    pub fn with_capacity(capacity: usize) -> OrderIndex {
        let buckets = (capacity + capacity / 2).max(32).next_power_of_two();
        OrderIndex {
            keys: vec![EMPTY; buckets].into_boxed_slice(),
            slots: vec![0; buckets].into_boxed_slice(),
            len: 0,
            mask: buckets - 1,
            shift: 64 - (buckets.trailing_zeros() - BLOCK_BITS),
        }
    }

    /// Appends (address, bytes) of the key and slot tables.
    pub(crate) fn regions(&self, out: &mut Vec<(usize, usize)>) {
        out.push(super::slab::region(&self.keys));
        out.push(super::slab::region(&self.slots));
    }

    /// How many ids are indexed.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no id is indexed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bucket an id starts probing at: Fibonacci hashing of its block,
    /// plus its offset in the block (see the module docs). Deterministic: no
    /// seed, the same for every run.
    #[inline]
    fn home(&self, id: OrderId) -> usize {
        let block = (id >> BLOCK_BITS).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift;
        ((block << BLOCK_BITS) as usize | (id as usize & ((1 << BLOCK_BITS) - 1))) & self.mask
    }

    #[inline]
    fn next(&self, i: usize) -> usize {
        (i + 1) & self.mask
    }

    /// How far bucket `i` is from the home of the id stored there.
    #[inline]
    fn distance(&self, i: usize, id: OrderId) -> usize {
        i.wrapping_sub(self.home(id)) & self.mask
    }

    #[inline]
    fn find(&self, id: OrderId) -> Option<usize> {
        if id == EMPTY {
            return None;
        }
        let mut i = self.home(id);
        let mut probed = 0;
        loop {
            let k = self.keys[i];
            if k == id {
                return Some(i);
            }
            // Robin Hood: `id` would sit before any entry nearer its home.
            if k == EMPTY || self.distance(i, k) < probed {
                return None;
            }
            i = self.next(i);
            probed += 1;
        }
    }

    /// The slot of order `id`, if it is indexed.
    #[inline]
    pub fn get(&self, id: &OrderId) -> Option<&u32> {
        self.find(*id).map(|i| &self.slots[i])
    }

    /// Inserts a new id. The caller keeps `len` within the capacity.
    pub fn insert(&mut self, id: OrderId, slot: u32) {
        assert_ne!(id, EMPTY, "order id 0 is reserved");
        assert!(
            self.len * 3 < self.keys.len() * 2,
            "order index over its capacity"
        );
        assert!(self.find(id).is_none(), "order {id} indexed twice");
        let (mut id, mut slot) = (id, slot);
        let mut i = self.home(id);
        let mut probed = 0;
        loop {
            let k = self.keys[i];
            if k == EMPTY {
                self.keys[i] = id;
                self.slots[i] = slot;
                self.len += 1;
                return;
            }
            let resident = self.distance(i, k);
            if resident < probed {
                // Take the bucket from the entry nearer its home; carry it on.
                std::mem::swap(&mut self.keys[i], &mut id);
                std::mem::swap(&mut self.slots[i], &mut slot);
                probed = resident;
            }
            i = self.next(i);
            probed += 1;
        }
    }

    /// Removes an id, shifting the rest of its cluster back by one until an
    /// empty bucket or an entry at its home, so no tombstone is needed.
    pub fn remove(&mut self, id: &OrderId) -> Option<u32> {
        let mut hole = self.find(*id)?;
        let slot = self.slots[hole];
        loop {
            let j = self.next(hole);
            let k = self.keys[j];
            if k == EMPTY || self.distance(j, k) == 0 {
                break;
            }
            self.keys[hole] = k;
            self.slots[hole] = self.slots[j];
            hole = j;
        }
        self.keys[hole] = EMPTY;
        self.len -= 1;
        Some(slot)
    }

    /// The longest distance of any entry from its home (for tests).
    #[cfg(test)]
    fn max_probe(&self) -> usize {
        (0..self.keys.len())
            .filter(|&i| self.keys[i] != EMPTY)
            .map(|i| self.distance(i, self.keys[i]))
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    proptest! {
        #[test]
        fn behaves_like_a_map(ops in proptest::collection::vec((0u8..3, 0u64..200), 1..600)) {
            let mut index = OrderIndex::with_capacity(150);
            let mut model = BTreeMap::new();
            prop_assert_eq!(index.get(&0), None);
            for (op, id) in ops {
                match op {
                    0 if id > 0 && model.len() < 150 && !model.contains_key(&id) => {
                        index.insert(id, id as u32 * 7);
                        model.insert(id, id as u32 * 7);
                    }
                    1 => prop_assert_eq!(index.remove(&id), model.remove(&id)),
                    _ => prop_assert_eq!(index.get(&id).copied(), model.get(&id).copied()),
                }
                prop_assert_eq!(index.len(), model.len());
            }
            for id in 1..200 {
                prop_assert_eq!(index.get(&id).copied(), model.get(&id).copied());
            }
        }

        #[test]
        fn behaves_like_a_map_with_colliding_ids(ops in proptest::collection::vec((0u8..3, 0u64..64), 1..600)) {
            // Ids 16 apart share a home in a 16-order table: long clusters.
            let mut index = OrderIndex::with_capacity(16);
            let mut model = BTreeMap::new();
            for (op, x) in ops {
                let id = 1 + x * 16 + x % 3;
                match op {
                    0 if model.len() < 16 && !model.contains_key(&id) => {
                        index.insert(id, x as u32);
                        model.insert(id, x as u32);
                    }
                    1 => prop_assert_eq!(index.remove(&id), model.remove(&id)),
                    _ => prop_assert_eq!(index.get(&id).copied(), model.get(&id).copied()),
                }
            }
            for x in 0..64 {
                let id = 1 + x * 16 + x % 3;
                prop_assert_eq!(index.get(&id).copied(), model.get(&id).copied());
            }
        }
    }

    #[test]
    fn probe_runs_stay_short_with_old_ids_among_new_ones() {
        let cap = 1 << 12;
        let mut index = OrderIndex::with_capacity(cap);
        let mut next = 1u64;
        for _ in 0..cap {
            index.insert(next, next as u32);
            next += 1;
        }
        // Oldest-first removal while new ids keep arriving, with a block of
        // old ids kept throughout (their homes do not collide with the new
        // ids wrapping around): probe runs stay short.
        let kept = 1..=(cap as u64 / 2);
        for oldest in 1..(cap as u64 * 8) {
            if !kept.contains(&oldest) && index.remove(&oldest).is_some() {
                index.insert(next, next as u32);
                next += 1;
            }
            if oldest % 512 == 0 {
                assert!(
                    index.max_probe() <= 24,
                    "probe run grew to {} at {oldest}",
                    index.max_probe()
                );
            }
        }
        for id in kept {
            assert_eq!(index.get(&id), Some(&(id as u32)));
        }
    }
}
