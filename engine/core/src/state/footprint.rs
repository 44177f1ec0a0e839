//! How much memory a [`State`](super::State) takes for given [`Limits`],
//! computed without allocating, so that a config can be checked against the
//! machine before anything is reserved.
//!
//! Two kinds of memory are counted:
//!
//! - **reserved at start** by [`State::new`](super::State::new): the order
//!   slab and its free list, the order index (a power-of-two bucket count at
//!   a load of at most 2/3), the expiry heap and its per-slot positions, the
//!   level slab and its free list;
//! - **grown to a limit** by a single command: the account table (indexed
//!   by account id, so opening the account with the highest id allocates it
//!   whole) and one book per symbol (two direct-index windows each).
//!
//! Not counted: balances (16 bytes per asset per *open* account, growing
//! with accounts opened and assets added) and a `Vec`'s growth slack.

use std::mem::size_of;

use crate::model::OrderId;

use super::book_side::WINDOW_TICKS;
use super::{Account, Book, Level, Limits, Order, Symbol};

/// Bytes of one expiry heap entry (`expiry_ns: u64, order: u64, slot: u32`,
/// padded to 8). The entry type is private to the expiry index; a test in
/// `keel-edge` measures `State::new` to keep this honest.
pub const EXPIRY_ENTRY_BYTES: u64 = 24;

/// One structure's share of a [`Footprint`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FootprintPart {
    /// What it is, for messages ("order slab").
    pub what: &'static str,
    /// The [`Limits`] field that sizes it ("max_orders").
    pub limit: &'static str,
    /// Whether `State::new` reserves it (`false`: it grows to its size
    /// through commands, at most to this).
    pub reserved_at_start: bool,
    /// Bytes.
    pub bytes: u64,
}

/// The memory a state takes at its limits, by structure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Footprint {
    /// Every counted structure.
    pub parts: Vec<FootprintPart>,
}

/// The order index's bucket count for `capacity` orders (as
/// `OrderIndex::with_capacity` sizes it).
fn order_index_buckets(capacity: u64) -> u64 {
    (capacity + capacity / 2).max(32).next_power_of_two()
}

impl Footprint {
    /// The footprint of a state with `limits` (pure arithmetic; saturating,
    /// so absurd limits give huge numbers, never a panic).
    pub fn of(limits: &Limits) -> Footprint {
        let orders = u64::from(limits.max_orders);
        let levels = u64::from(limits.max_levels);
        let slot = size_of::<u32>() as u64;
        let size = |n: usize| n as u64;
        let part = |what, limit, reserved_at_start, count: u64, each: u64| FootprintPart {
            what,
            limit,
            reserved_at_start,
            bytes: count.saturating_mul(each),
        };
        // Two sides, each a window of level slots and its occupancy words.
        let book = 2 * (size(WINDOW_TICKS) * slot + size(WINDOW_TICKS / 64) * 8)
            + size(size_of::<Book>())
            + size(size_of::<Symbol>());
        Footprint {
            parts: vec![
                part(
                    "order slab",
                    "max_orders",
                    true,
                    orders,
                    size(size_of::<Option<Order>>()) + slot,
                ),
                part(
                    "order index",
                    "max_orders",
                    true,
                    order_index_buckets(orders),
                    size(size_of::<OrderId>()) + slot,
                ),
                part(
                    "expiry index",
                    "max_orders",
                    true,
                    orders,
                    EXPIRY_ENTRY_BYTES + slot,
                ),
                part(
                    "level slab",
                    "max_levels",
                    true,
                    levels,
                    size(size_of::<Option<Level>>()) + slot,
                ),
                part(
                    "account table",
                    "max_accounts",
                    false,
                    u64::from(limits.max_accounts),
                    size(size_of::<Option<Account>>()),
                ),
                part(
                    "books",
                    "max_symbols",
                    false,
                    u64::from(limits.max_symbols),
                    book,
                ),
            ],
        }
    }

    /// Bytes of every counted structure.
    pub fn total(&self) -> u64 {
        self.parts.iter().fold(0, |a, p| a.saturating_add(p.bytes))
    }

    /// Bytes [`State::new`](super::State::new) reserves.
    pub fn reserved_at_start(&self) -> u64 {
        self.parts
            .iter()
            .filter(|p| p.reserved_at_start)
            .fold(0, |a, p| a.saturating_add(p.bytes))
    }

    /// Bytes of the structures sized by the [`Limits`] field `limit`.
    pub fn for_limit(&self, limit: &str) -> u64 {
        self.parts
            .iter()
            .filter(|p| p.limit == limit)
            .fold(0, |a, p| a.saturating_add(p.bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_structure_from_its_limit() {
        let limits = Limits {
            max_orders: 1 << 28,
            max_levels: 1 << 27,
            ..Limits::default()
        };
        let f = Footprint::of(&limits);
        let get = |what| f.parts.iter().find(|p| p.what == what).unwrap().bytes;
        assert_eq!(get("order slab"), (1 << 28) * 84);
        // 1.5 × 2^28 rounds up to 2^29 buckets of an id and a slot.
        assert_eq!(get("order index"), (1 << 29) * 12);
        assert_eq!(get("expiry index"), (1 << 28) * 28);
        assert_eq!(get("level slab"), (1 << 27) * 44);
        assert_eq!(
            f.for_limit("max_orders"),
            get("order slab") + get("order index") + get("expiry index")
        );
        assert!(f.total() > 40_000_000_000, "{}", f.total());
        assert!(f.reserved_at_start() < f.total());
        // Saturates instead of overflowing.
        let max = Limits {
            max_orders: u32::MAX,
            max_levels: u32::MAX,
            max_accounts: u32::MAX,
            max_symbols: u32::MAX,
            ..Limits::default()
        };
        assert!(Footprint::of(&max).total() > 1 << 40);
    }
}
