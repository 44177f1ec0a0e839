//! Limits on everything. Each one is checked before any mutation, and hitting
//! one rejects the command with a reason that names the limit.

/// The engine's fixed capacities. Memory for orders is reserved up front, so
/// steady-state trading never allocates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Account ids must be below this.
    pub max_accounts: u32,
    /// Open orders across all symbols (includes the one order being matched).
    pub max_orders: u32,
    /// Open orders per account.
    pub max_open_orders_per_account: u32,
    /// Assets that can be added.
    pub max_assets: u32,
    /// Symbols that can be added.
    pub max_symbols: u32,
    /// Price levels across all books (a level holds at least one order).
    pub max_levels: u32,
    /// Resting orders one incoming order may touch (trades plus self-trade
    /// cancels) before it stops; its remainder is then cancelled with reason
    /// `fill_limit`. Bounds the work and the record of one command.
    pub max_fills_per_command: u32,
    /// Cancels one record may hold from a single cause: GTD expiries due at
    /// one timestamp, or the orders of one `cancel_all`. More continue in
    /// the engine's continuation records (`expire_due`,
    /// `cancel_all_continued`), in the same deterministic order.
    pub max_cancels_per_record: u32,
}

/// The default of [`Limits::max_fills_per_command`].
pub const DEFAULT_MAX_FILLS_PER_COMMAND: u32 = 1000;
/// The default of [`Limits::max_cancels_per_record`].
pub const DEFAULT_MAX_CANCELS_PER_RECORD: u32 = 1000;

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_accounts: 1 << 20,
            max_orders: 1 << 20,
            max_open_orders_per_account: 1 << 16,
            max_assets: 256,
            max_symbols: 1024,
            max_levels: 1 << 19,
            max_fills_per_command: DEFAULT_MAX_FILLS_PER_COMMAND,
            max_cancels_per_record: DEFAULT_MAX_CANCELS_PER_RECORD,
        }
    }
}
