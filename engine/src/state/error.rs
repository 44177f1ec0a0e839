use thiserror::Error;

use crate::model::{AccountId, AssetId, OrderId, SymbolId};

/// An event that does not fit the state it is applied to. Events produced by
/// the core always fit; this only arises from a journal that was not written
/// by this core's decisions (or a bug), and recovery stops on it.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ApplyError {
    #[error("event names unknown account {account}; the journal does not match this state (replay from genesis or check the snapshot)")]
    UnknownAccount { account: AccountId },
    #[error("event opens account {account}, which already exists")]
    AccountExists { account: AccountId },
    #[error("event names unknown asset {asset}")]
    UnknownAsset { asset: AssetId },
    #[error("event names unknown symbol {symbol}")]
    UnknownSymbol { symbol: SymbolId },
    #[error("event names unknown order {order}")]
    UnknownOrder { order: OrderId },
    #[error("event accepts order {got} but the next order id is {expected}")]
    OrderIdOutOfSequence { expected: OrderId, got: OrderId },
    #[error("event would take {needed} of asset {asset} from account {account}'s {bucket} balance of {have}")]
    InsufficientBalance {
        account: AccountId,
        asset: AssetId,
        bucket: &'static str,
        needed: u64,
        have: u64,
    },
    #[error("event would take {needed} from order {order}, which has {have} {what}")]
    OrderShort {
        order: OrderId,
        what: &'static str,
        needed: u64,
        have: u64,
    },
    #[error("event overflows u64 arithmetic ({what})")]
    Overflow { what: &'static str },
    #[error("event exceeds a capacity limit ({what})")]
    Capacity { what: &'static str },
    #[error("event is inconsistent: {what}")]
    Inconsistent { what: &'static str },
}
