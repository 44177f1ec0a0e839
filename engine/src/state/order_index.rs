//! Order id → slot. A hash map sized at start for twice the order capacity,
//! so it never grows (hashbrown rehashes in place below half load), keyed by a
//! fixed multiplicative hash: lookups are deterministic and iteration order is
//! never used.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::model::OrderId;

#[derive(Default, Clone, Copy)]
pub struct OrderIdHasher(u64);

impl Hasher for OrderIdHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    #[inline]
    fn write_u64(&mut self, id: u64) {
        // Fibonacci hashing: sequential ids spread over all buckets, and the
        // high bits (hashbrown's tag) vary too.
        self.0 = id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (id >> 29);
    }
}

pub type OrderIndex = HashMap<OrderId, u32, BuildHasherDefault<OrderIdHasher>>;

pub fn new_order_index(max_orders: usize) -> OrderIndex {
    HashMap::with_capacity_and_hasher(max_orders.saturating_mul(2), Default::default())
}
