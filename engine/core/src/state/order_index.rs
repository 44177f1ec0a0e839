//! Order id → slot: a fixed-size open-addressing table (linear probing,
//! backward-shift deletion). It is sized once for the order capacity at a
//! load of at most 2/3, never rehashes and never allocates, and keeps no
//! tombstones. Lookups are deterministic; iteration is never needed.
//! The bucket count and home function are internal: nothing observable
//! depends on them.

use crate::model::OrderId;

/// Marks an empty bucket (order ids start at 1).
const EMPTY: OrderId = 0;

/// Maps the id of each open order to its slot (see the module docs).
#[derive(Clone, Debug)]
pub struct OrderIndex {
    keys: Box<[OrderId]>,
    slots: Box<[u32]>,
    len: usize,
    /// Largest power of two ≤ the bucket count, minus one.
    home_mask: usize,
}

impl OrderIndex {
    /// A table for at most `capacity` orders.
    pub fn with_capacity(capacity: usize) -> OrderIndex {
        let buckets = (capacity + capacity / 2).max(16);
        let home_mask = (1usize << (usize::BITS - 1 - buckets.leading_zeros())) - 1;
        OrderIndex {
            keys: vec![EMPTY; buckets].into_boxed_slice(),
            slots: vec![0; buckets].into_boxed_slice(),
            len: 0,
            home_mask,
        }
    }

    /// How many ids are indexed.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no id is indexed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bucket an id starts probing at: its low bits. Order ids are
    /// sequential, so the live ids form a moving window that maps onto
    /// neighbouring buckets without collisions (and stays in cache), and no
    /// division is needed. Probes may run past the power-of-two range into
    /// the rest of the table, which is 1.5× the capacity.
    #[inline]
    fn home(&self, id: OrderId) -> usize {
        id as usize & self.home_mask
    }

    #[inline]
    fn next(&self, i: usize) -> usize {
        if i + 1 == self.keys.len() {
            0
        } else {
            i + 1
        }
    }

    #[inline]
    fn find(&self, id: OrderId) -> Option<usize> {
        if id == EMPTY {
            return None;
        }
        let mut i = self.home(id);
        loop {
            let k = self.keys[i];
            if k == id {
                return Some(i);
            }
            if k == EMPTY {
                return None;
            }
            i = self.next(i);
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
        let mut i = self.home(id);
        while self.keys[i] != EMPTY {
            assert_ne!(self.keys[i], id, "order {id} indexed twice");
            i = self.next(i);
        }
        self.keys[i] = id;
        self.slots[i] = slot;
        self.len += 1;
    }

    /// Removes an id, shifting later entries of its probe run back so no
    /// tombstone is needed.
    pub fn remove(&mut self, id: &OrderId) -> Option<u32> {
        let mut hole = self.find(*id)?;
        let slot = self.slots[hole];
        let mut j = hole;
        loop {
            j = self.next(j);
            let k = self.keys[j];
            if k == EMPTY {
                break;
            }
            let home = self.home(k);
            // Move k into the hole unless its home lies cyclically in (hole, j].
            let stays = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !stays {
                self.keys[hole] = k;
                self.slots[hole] = self.slots[j];
                hole = j;
            }
        }
        self.keys[hole] = EMPTY;
        self.len -= 1;
        Some(slot)
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
    }
}
