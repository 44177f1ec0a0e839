use crate::model::{AccountId, OrderId, Side, StpMode, SymbolId, TimeInForce};

use super::slab::NIL;

/// An open order. Between commands every open order rests in a book; during a
/// command, the incoming order exists here before it rests or ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Order {
    pub id: OrderId,
    pub account: AccountId,
    pub symbol: SymbolId,
    pub side: Side,
    pub is_market: bool,
    pub post_only: bool,
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
    pub level_prev: u32,
    pub level_next: u32,
    pub account_prev: u32,
    pub account_next: u32,
}

impl Order {
    pub fn is_resting(&self) -> bool {
        self.level != NIL
    }

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
