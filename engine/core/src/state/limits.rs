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
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_accounts: 1 << 20,
            max_orders: 1 << 20,
            max_open_orders_per_account: 1 << 16,
            max_assets: 256,
            max_symbols: 1024,
            max_levels: 1 << 19,
        }
    }
}
