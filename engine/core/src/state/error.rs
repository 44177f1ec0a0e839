//! [`ApplyError`]: an event that does not fit the state.

use thiserror::Error;

use crate::model::{AccountId, AssetId, OrderId, SymbolId};

/// An event that does not fit the state it is applied to. Events produced by
/// the core always fit; this only arises from a journal that was not written
/// by this core's decisions (or a bug), and recovery stops on it.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApplyError {
    /// The event names an account that is not open.
    #[error("event names unknown account {account}; the journal does not match this state (replay from genesis or check the snapshot)")]
    UnknownAccount {
        /// The account named.
        account: AccountId,
    },
    /// The event opens an account that is already open.
    #[error("event opens account {account}, which already exists")]
    AccountExists {
        /// The account.
        account: AccountId,
    },
    /// The event names an asset that does not exist.
    #[error("event names unknown asset {asset}")]
    UnknownAsset {
        /// The asset named.
        asset: AssetId,
    },
    /// The event names a symbol that does not exist.
    #[error("event names unknown symbol {symbol}")]
    UnknownSymbol {
        /// The symbol named.
        symbol: SymbolId,
    },
    /// The event names an order that is not open.
    #[error("event names unknown order {order}")]
    UnknownOrder {
        /// The order named.
        order: OrderId,
    },
    /// The event accepts an order whose id is not the state's next one.
    #[error("event accepts order {got} but the next order id is {expected}")]
    OrderIdOutOfSequence {
        /// The state's next order id.
        expected: OrderId,
        /// The id in the event.
        got: OrderId,
    },
    /// The event takes more from a balance than it has.
    #[error("event would take {needed} of asset {asset} from account {account}'s {bucket} balance of {have}")]
    InsufficientBalance {
        /// The account.
        account: AccountId,
        /// The asset.
        asset: AssetId,
        /// Which part of the balance: `"available"` or `"held"`.
        bucket: &'static str,
        /// Minor units the event takes.
        needed: u64,
        /// Minor units there.
        have: u64,
    },
    /// The event takes more from an open order than it has left.
    #[error("event would take {needed} from order {order}, which has {have} {what}")]
    OrderShort {
        /// The order.
        order: OrderId,
        /// What is short: `"lots"` (remaining quantity) or `"reserved"`
        /// (minor units of its hold).
        what: &'static str,
        /// How much the event takes.
        needed: u64,
        /// How much the order has.
        have: u64,
    },
    /// Applying the event would overflow u64 arithmetic.
    #[error("event overflows u64 arithmetic ({what})")]
    Overflow {
        /// The quantity that overflows.
        what: &'static str,
    },
    /// The event exceeds one of the state's [`Limits`](super::Limits).
    #[error("event exceeds a capacity limit ({what})")]
    Capacity {
        /// Which: `"accounts"`, `"assets"`, `"symbols"`, `"orders"` or
        /// `"levels"`.
        what: &'static str,
    },
    /// The event contradicts the state; `values` names what disagrees.
    #[error("event is inconsistent: {what} ({values})")]
    Inconsistent {
        /// The rule broken.
        what: &'static str,
        /// The values that disagree, as found.
        values: String,
    },
}
