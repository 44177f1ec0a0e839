//! Open orders.

use crate::model::{AccountId, OrderId, Side, StpMode, SymbolId, TimeInForce};

use super::slab::NIL;

/// An open order. Between commands every open order rests in a book; during a
/// command, the incoming order exists here before it rests or ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Order {
    /// The order's id.
    pub id: OrderId,
    /// The owner.
    pub account: AccountId,
    /// The symbol whose book it is in.
    pub symbol: SymbolId,
    /// Buy or sell.
    pub side: Side,
    /// Whether it is a market order (which never rests).
    pub is_market: bool,
    /// Whether it may only add liquidity.
    pub post_only: bool,
    /// Its self-trade prevention mode, applied when it is the taker.
    pub stp: StpMode,
    /// GTD expiry in ns, or 0 for none. (The rest of the time in force only
    /// matters while the order is decided, so it is not stored.)
    pub expiry_ns: u64,
    /// Limit price in ticks (protection price or 0 for a market order).
    pub price: u64,
    /// Lots still open.
    pub remaining: u64,
    /// Funds still held for this order (quote for a buy, base for a sell).
    pub reserved: u64,
    /// Position in time priority; larger is newer. Internal: only the relative
    /// order matters.
    pub arrival: u64,
    /// The level slot while resting, else `NIL`.
    pub level: u32,
    /// The previous (older) order's slot in its level, or `NIL`.
    pub level_prev: u32,
    /// The next (newer) order's slot in its level, or `NIL`.
    pub level_next: u32,
    /// The slot of the account's previous open order (lower id), or `NIL`.
    pub account_prev: u32,
    /// The slot of the account's next open order (higher id), or `NIL`.
    pub account_next: u32,
}

impl Order {
    /// Whether the order rests in its book.
    pub fn is_resting(&self) -> bool {
        self.level != NIL
    }

    /// The GTD expiry in nanoseconds, or `None` for an order that does not
    /// expire.
    pub fn expiry_ns(&self) -> Option<u64> {
        (self.expiry_ns != 0).then_some(self.expiry_ns)
    }

    /// The time in force of a resting order.
    pub fn tif(&self) -> TimeInForce {
        match self.expiry_ns() {
            Some(expiry_ns) => TimeInForce::Gtd { expiry_ns },
            None => TimeInForce::Gtc,
        }
    }
}
