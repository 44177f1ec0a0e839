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

/// One bucket: the id (8 bytes, read as one unaligned load) and its slot,
/// packed into 12 bytes, so that a lookup reads the id and the slot from the
/// same cache line: one miss per lookup, not one in a key table and another
/// in a slot table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, packed(4))]
struct Bucket {
    id: OrderId,
    slot: u32,
}

// The memory footprint (`footprint.rs`) counts 12 bytes a bucket.
const _: () = assert!(std::mem::size_of::<Bucket>() == 12);

impl Bucket {
    const EMPTY: Bucket = Bucket { id: EMPTY, slot: 0 };

    #[inline]
    fn new(id: OrderId, slot: u32) -> Bucket {
        Bucket { id, slot }
    }

    #[inline]
    fn id(self) -> OrderId {
        self.id
    }

    #[inline]
    fn slot(self) -> u32 {
        self.slot
    }
}

/// Maps the id of each open order to its slot (see the module docs).
#[derive(Clone, Debug)]
pub struct OrderIndex {
    buckets: Box<[Bucket]>,
    len: usize,
    /// The bucket count (a power of two) minus one.
    mask: usize,
    /// 64 minus log2 of the block count: the hash's top bits are the home
    /// block.
    shift: u32,
    /// The id and slot last inserted or looked up through
    /// [`OrderIndex::slot_cached`], or [`Bucket::EMPTY`]: the events of one
    /// command name the same order again and again (placed, then rested;
    /// amended, then rested), and this answers the repeats without a probe.
    /// Slots never move while an id is indexed, so the entry stays true
    /// until [`OrderIndex::remove`] of that id clears it.
    recent: Bucket,
}

impl OrderIndex {
    /// A table for at most `capacity` orders.
    pub fn with_capacity(capacity: usize) -> OrderIndex {
        let buckets = (capacity + capacity / 2).max(32).next_power_of_two();
        OrderIndex {
            buckets: vec![Bucket::EMPTY; buckets].into_boxed_slice(),
            len: 0,
            mask: buckets - 1,
            shift: 64 - (buckets.trailing_zeros() - BLOCK_BITS),
            recent: Bucket::EMPTY,
        }
    }

    /// Appends (address, bytes) of the bucket table.
    pub(crate) fn regions(&self, out: &mut Vec<(usize, usize)>) {
        out.push(super::slab::region(&self.buckets));
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
        // `block` has log2(buckets) - BLOCK_BITS bits, so the result is
        // below the bucket count without a mask.
        let block = (id >> BLOCK_BITS).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift;
        (block << BLOCK_BITS) as usize | (id as usize & ((1 << BLOCK_BITS) - 1))
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
            let k = self.buckets[i].id();
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

    /// Asks the CPU to load the bucket where a lookup of `id` starts (a
    /// hint; see `prefetch.rs`).
    #[inline]
    pub(crate) fn prefetch(&self, id: OrderId) {
        super::prefetch::prefetch_line(&self.buckets[self.home(id)]);
    }

    /// The slot of order `id`, if it is indexed.
    #[inline]
    pub fn get(&self, id: &OrderId) -> Option<u32> {
        self.find(*id).map(|i| self.buckets[i].slot())
    }

    /// The slot of order `id`, if it is indexed, remembering it for the
    /// next call (see `recent`). For the applying path, which names the same
    /// order several times in a row.
    #[inline]
    pub fn slot_cached(&mut self, id: OrderId) -> Option<u32> {
        if id != EMPTY && self.recent.id() == id {
            return Some(self.recent.slot());
        }
        let i = self.find(id)?;
        self.recent = self.buckets[i];
        Some(self.recent.slot())
    }

    /// Inserts a new id. The caller keeps `len` within the capacity.
    ///
    /// # Panics
    /// If `id` is 0 or already indexed, or the table is full: broken
    /// invariants of the caller, never input.
    pub fn insert(&mut self, id: OrderId, slot: u32) {
        assert_ne!(id, EMPTY, "order id 0 is reserved");
        assert!(
            self.len * 3 < self.buckets.len() * 2,
            "order index over its capacity"
        );
        let mut carried = Bucket::new(id, slot);
        self.recent = carried;
        let mut i = self.home(id);
        let mut probed = 0;
        // Until the first swap the probe is exactly a lookup of `id` (Robin
        // Hood: it would be found before any entry nearer its home), so a
        // second copy is caught here without a separate `find`.
        let mut carrying_new = true;
        loop {
            let k = self.buckets[i].id();
            if k == EMPTY {
                self.buckets[i] = carried;
                self.len += 1;
                return;
            }
            assert!(!(carrying_new && k == id), "order {id} indexed twice");
            let resident = self.distance(i, k);
            if resident < probed {
                carrying_new = false;
                // Take the bucket from the entry nearer its home; carry it on.
                std::mem::swap(&mut self.buckets[i], &mut carried);
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
        if self.recent.id() == *id {
            self.recent = Bucket::EMPTY;
        }
        let slot = self.buckets[hole].slot();
        loop {
            let j = self.next(hole);
            let b = self.buckets[j];
            if b.id() == EMPTY || self.distance(j, b.id()) == 0 {
                break;
            }
            self.buckets[hole] = b;
            hole = j;
        }
        self.buckets[hole] = Bucket::EMPTY;
        self.len -= 1;
        Some(slot)
    }

    /// The longest distance of any entry from its home (for tests).
    #[cfg(test)]
    fn max_probe(&self) -> usize {
        (0..self.buckets.len())
            .map(|i| (i, self.buckets[i].id()))
            .filter(|&(_, k)| k != EMPTY)
            .map(|(i, k)| self.distance(i, k))
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
        fn behaves_like_a_map(ops in proptest::collection::vec((0u8..4, 0u64..200), 1..600)) {
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
                    2 => prop_assert_eq!(index.slot_cached(id), model.get(&id).copied()),
                    _ => prop_assert_eq!(index.get(&id), model.get(&id).copied()),
                }
                prop_assert_eq!(index.len(), model.len());
            }
            for id in 1..200 {
                prop_assert_eq!(index.get(&id), model.get(&id).copied());
            }
        }

        #[test]
        fn behaves_like_a_map_with_colliding_ids(ops in proptest::collection::vec((0u8..4, 0u64..64), 1..600)) {
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
                    2 => prop_assert_eq!(index.slot_cached(id), model.get(&id).copied()),
                    _ => prop_assert_eq!(index.get(&id), model.get(&id).copied()),
                }
            }
            for x in 0..64 {
                let id = 1 + x * 16 + x % 3;
                prop_assert_eq!(index.get(&id), model.get(&id).copied());
            }
        }
    }

    #[test]
    fn the_remembered_slot_never_outlives_its_id() {
        let mut index = OrderIndex::with_capacity(64);
        index.insert(5, 50);
        assert_eq!(index.slot_cached(5), Some(50));
        index.insert(6, 60);
        assert_eq!(index.slot_cached(5), Some(50));
        assert_eq!(index.remove(&5), Some(50));
        assert_eq!(index.slot_cached(5), None);
        index.insert(5, 51);
        assert_eq!(index.slot_cached(5), Some(51));
        assert_eq!(index.slot_cached(6), Some(60));
        assert_eq!(index.remove(&5), Some(51));
        assert_eq!(index.slot_cached(5), None);
        assert_eq!(index.slot_cached(0), None);
    }

    #[test]
    #[should_panic(expected = "indexed twice")]
    fn a_second_insert_of_an_id_is_caught() {
        let mut index = OrderIndex::with_capacity(64);
        for id in 1..40 {
            index.insert(id, id as u32);
        }
        index.insert(17, 99);
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
            assert_eq!(index.get(&id), Some(id as u32));
        }
    }
}
