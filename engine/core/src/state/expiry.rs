//! GTD expiries: `(expiry_ns, order id)` kept sorted with the soonest last, so
//! expiring pops from the end. The order of expiry is deterministic: by time,
//! then by order id.

use crate::model::OrderId;

/// The expiries of resting GTD orders, soonest (then lowest id) last.
#[derive(Clone, Debug, Default)]
pub struct ExpiryIndex {
    /// Descending by (expiry, order): the next to expire is last.
    entries: Vec<(u64, OrderId)>,
}

impl ExpiryIndex {
    /// An empty index with room for `capacity` entries before it grows.
    pub fn with_capacity(capacity: usize) -> ExpiryIndex {
        ExpiryIndex {
            entries: Vec::with_capacity(capacity),
        }
    }

    fn position(&self, entry: (u64, OrderId)) -> Result<usize, usize> {
        self.entries.binary_search_by(|probe| entry.cmp(probe))
    }

    /// Adds an order's expiry. Panics if it is already indexed.
    pub fn insert(&mut self, expiry_ns: u64, order: OrderId) {
        let pos = self
            .position((expiry_ns, order))
            .expect_err("an order is indexed once");
        self.entries.insert(pos, (expiry_ns, order));
    }

    /// Removes an order's expiry; returns whether it was indexed.
    pub fn remove(&mut self, expiry_ns: u64, order: OrderId) -> bool {
        match self.position((expiry_ns, order)) {
            Ok(pos) => {
                self.entries.remove(pos);
                true
            }
            Err(_) => false,
        }
    }

    /// The next order to expire at or before `now_ns`.
    #[inline]
    pub fn next_due(&self, now_ns: u64) -> Option<OrderId> {
        match self.entries.last() {
            Some(&(expiry, order)) if expiry <= now_ns => Some(order),
            _ => None,
        }
    }

    /// How many orders are indexed.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no order is indexed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries from the next to expire onwards.
    pub fn iter_soonest_first(&self) -> impl Iterator<Item = (u64, OrderId)> + '_ {
        self.entries.iter().rev().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_by_time_then_id() {
        let mut idx = ExpiryIndex::with_capacity(4);
        idx.insert(20, 1);
        idx.insert(10, 3);
        idx.insert(10, 2);
        assert_eq!(idx.next_due(9), None);
        assert_eq!(idx.next_due(10), Some(2));
        assert!(idx.remove(10, 2));
        assert!(!idx.remove(10, 2));
        assert_eq!(idx.next_due(100), Some(3));
        assert_eq!(
            idx.iter_soonest_first().collect::<Vec<_>>(),
            vec![(10, 3), (20, 1)]
        );
    }
}
