//! Assets and their supply.

use crate::model::Name;

/// An asset and its external account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Asset {
    /// The asset's name, unique among assets.
    pub name: Name,
    /// Decimal places of one minor unit.
    pub scale: u8,
    /// Net amount deposited from outside. The external account's balance is
    /// `-supply`, so conservation reads: the accounts' balances sum to `supply`.
    pub supply: u64,
}
