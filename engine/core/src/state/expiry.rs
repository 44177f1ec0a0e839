//! GTD expiries: an indexed binary min-heap of `(expiry_ns, order id)`, with
//! each order slot's position in the heap, so that insert, remove and
//! pop-the-soonest are O(log n) and finding the next due order is O(1). The
//! order of expiry is deterministic: by time, then by order id.
//!
//! Everything is allocated once, for the order capacity: the heap never
//! grows past it and never reallocates (an order must be open, and so have a
//! slot below the capacity, to be indexed).

use crate::model::OrderId;

use super::slab::NIL;

/// One resting GTD order in the heap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    expiry_ns: u64,
    order: OrderId,
    slot: u32,
}

impl Entry {
    /// Heap order: sooner first, then the lower order id.
    #[inline]
    fn before(&self, other: &Entry) -> bool {
        (self.expiry_ns, self.order) < (other.expiry_ns, other.order)
    }
}

/// The expiries of resting GTD orders (see the module docs).
#[derive(Clone, Debug)]
pub struct ExpiryIndex {
    heap: Vec<Entry>,
    /// For each order slot, its entry's index in `heap`, or `NIL`.
    position: Box<[u32]>,
}

impl Default for ExpiryIndex {
    fn default() -> ExpiryIndex {
        ExpiryIndex::with_capacity(0)
    }
}

impl ExpiryIndex {
    /// An empty index for orders in slots `0..capacity`.
    pub fn with_capacity(capacity: usize) -> ExpiryIndex {
        assert!(capacity < NIL as usize, "expiry index capacity {capacity}");
        ExpiryIndex {
            heap: Vec::with_capacity(capacity),
            position: vec![NIL; capacity].into_boxed_slice(),
        }
    }

    /// Adds the expiry of `order`, open in `slot`. Panics if the slot is
    /// already indexed or beyond the capacity (a caller bug).
    pub fn insert(&mut self, expiry_ns: u64, order: OrderId, slot: u32) {
        assert!(
            (slot as usize) < self.position.len(),
            "order {order} in slot {slot} beyond the expiry index capacity {}",
            self.position.len()
        );
        assert_eq!(
            self.position[slot as usize], NIL,
            "order {order} in slot {slot} indexed twice"
        );
        let at = self.heap.len();
        self.heap.push(Entry {
            expiry_ns,
            order,
            slot,
        });
        self.position[slot as usize] = at as u32;
        self.sift_up(at);
    }

    /// Removes the expiry of the order in `slot`; returns whether it was
    /// indexed with that expiry and id.
    pub fn remove(&mut self, expiry_ns: u64, order: OrderId, slot: u32) -> bool {
        let Some(&at) = self.position.get(slot as usize) else {
            return false;
        };
        if at == NIL {
            return false;
        }
        let at = at as usize;
        let entry = self.heap[at];
        if (entry.expiry_ns, entry.order) != (expiry_ns, order) {
            return false;
        }
        self.position[slot as usize] = NIL;
        let last = self.heap.pop().expect("a positioned entry is in the heap");
        if at < self.heap.len() {
            self.heap[at] = last;
            self.position[last.slot as usize] = at as u32;
            self.sift_up(at);
            let now_at = self.position[last.slot as usize] as usize;
            self.sift_down(now_at);
        }
        true
    }

    /// The next order to expire at or before `now_ns`.
    #[inline]
    pub fn next_due(&self, now_ns: u64) -> Option<OrderId> {
        match self.heap.first() {
            Some(e) if e.expiry_ns <= now_ns => Some(e.order),
            _ => None,
        }
    }

    /// Whether the order in `slot` is indexed with this expiry and id.
    pub fn contains(&self, expiry_ns: u64, order: OrderId, slot: u32) -> bool {
        match self.position.get(slot as usize) {
            Some(&at) if at != NIL => {
                let e = self.heap[at as usize];
                (e.expiry_ns, e.order) == (expiry_ns, order)
            }
            _ => false,
        }
    }

    /// How many orders are indexed.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether no order is indexed.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Appends (address, bytes) of the heap and position tables.
    pub(crate) fn regions(&self, out: &mut Vec<(usize, usize)>) {
        out.push(super::slab::capacity_region(&self.heap));
        out.push(super::slab::region(&self.position));
    }

    /// All entries `(expiry_ns, order)`, soonest first (a sorted copy, for
    /// the tests).
    #[cfg(test)]
    fn iter_soonest_first(&self) -> impl Iterator<Item = (u64, OrderId)> {
        let mut all: Vec<(u64, OrderId)> =
            self.heap.iter().map(|e| (e.expiry_ns, e.order)).collect();
        all.sort_unstable();
        all.into_iter()
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        self.position[self.heap[a].slot as usize] = a as u32;
        self.position[self.heap[b].slot as usize] = b as u32;
    }

    fn sift_up(&mut self, mut at: usize) {
        while at > 0 {
            let parent = (at - 1) / 2;
            if !self.heap[at].before(&self.heap[parent]) {
                break;
            }
            self.swap(at, parent);
            at = parent;
        }
    }

    fn sift_down(&mut self, mut at: usize) {
        loop {
            let (left, right) = (2 * at + 1, 2 * at + 2);
            let mut first = at;
            if left < self.heap.len() && self.heap[left].before(&self.heap[first]) {
                first = left;
            }
            if right < self.heap.len() && self.heap[right].before(&self.heap[first]) {
                first = right;
            }
            if first == at {
                break;
            }
            self.swap(at, first);
            at = first;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn expires_by_time_then_id() {
        let mut idx = ExpiryIndex::with_capacity(4);
        idx.insert(20, 1, 0);
        idx.insert(10, 3, 1);
        idx.insert(10, 2, 2);
        assert_eq!(idx.next_due(9), None);
        assert_eq!(idx.next_due(10), Some(2));
        assert!(idx.remove(10, 2, 2));
        assert!(!idx.remove(10, 2, 2));
        assert!(!idx.remove(20, 9, 0), "wrong id in the slot");
        assert_eq!(idx.next_due(100), Some(3));
        assert_eq!(
            idx.iter_soonest_first().collect::<Vec<_>>(),
            vec![(10, 3), (20, 1)]
        );
    }

    proptest! {
        #[test]
        fn behaves_like_a_sorted_set(ops in proptest::collection::vec((0u8..4, 0u32..40, 0u64..8), 1..400)) {
            let mut idx = ExpiryIndex::with_capacity(40);
            let mut model: BTreeSet<(u64, OrderId, u32)> = BTreeSet::new();
            let mut next_id = 1;
            for (op, slot, expiry) in ops {
                let held = model.iter().find(|e| e.2 == slot).copied();
                match (op, held) {
                    (0 | 1, None) => {
                        idx.insert(expiry, next_id, slot);
                        model.insert((expiry, next_id, slot));
                        next_id += 1;
                    }
                    (2, Some(e)) => {
                        prop_assert!(idx.remove(e.0, e.1, e.2));
                        model.remove(&e);
                    }
                    (3, _) => {
                        // Pop everything due at `expiry`.
                        while let Some(order) = idx.next_due(expiry) {
                            let e = *model.iter().next().unwrap();
                            prop_assert_eq!(order, e.1);
                            prop_assert!(idx.remove(e.0, e.1, e.2));
                            model.remove(&e);
                        }
                    }
                    _ => {}
                }
                prop_assert_eq!(idx.len(), model.len());
                prop_assert_eq!(idx.next_due(u64::MAX), model.iter().next().map(|e| e.1));
            }
            let all: Vec<(u64, OrderId)> = model.iter().map(|e| (e.0, e.1)).collect();
            prop_assert_eq!(idx.iter_soonest_first().collect::<Vec<_>>(), all);
        }
    }
}
