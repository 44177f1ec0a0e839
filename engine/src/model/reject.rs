//! Why a command was rejected. A rejection is an event, never a panic, and a
//! rejected command changes nothing but the journal.

use bincode::{Decode, Encode};

use super::ids::{AccountId, AssetId, OrderId, SymbolId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, Decode)]
pub enum RejectReason {
    /// `request_id` was not above the last accepted one, which is named.
    Duplicate {
        last_request_id: u64,
    },
    UnknownAccount {
        account: AccountId,
    },
    AccountExists {
        account: AccountId,
    },
    /// The account id is at or above the configured limit.
    AccountLimit {
        account: AccountId,
        max_accounts: u32,
    },
    UnknownAsset {
        asset: AssetId,
    },
    UnknownSymbol {
        symbol: SymbolId,
    },
    UnknownOrder {
        order: OrderId,
    },
    NotOrderOwner {
        order: OrderId,
    },
    /// An admin command from an account other than the operator.
    NotAuthorized,
    SymbolHalted {
        symbol: SymbolId,
    },
    /// A zero amount, quantity or price.
    ZeroValue,
    InsufficientFunds {
        asset: AssetId,
        needed: u64,
        available: u64,
    },
    /// Arithmetic would overflow u64.
    Overflow,
    PostOnlyWouldCross,
    FokNotFillable,
    /// The order's options contradict each other (market with post-only,
    /// market GTC, a market buy without a bound, a GTD expiry not after the
    /// command's time...).
    InvalidOrder,
    /// Transfer to the same account.
    SelfTransfer,
    /// An amend that changes nothing.
    AmendNoChange,
    /// The engine-wide limit on open orders is reached.
    OrderCapacity {
        max_orders: u32,
    },
    /// The limit on open orders per account is reached.
    AccountOrderLimit {
        max_open_orders: u32,
    },
    /// The limit on assets or symbols is reached.
    InstrumentCapacity,
    DuplicateName,
    /// A symbol's tick/lot/scale combination does not convert exactly into
    /// minor units, a fee is above 10000 bps, or base equals quote.
    InvalidSymbolSpec,
    /// A scale above the supported maximum.
    InvalidScale,
    SymbolAlreadyHalted {
        symbol: SymbolId,
    },
    SymbolNotHalted {
        symbol: SymbolId,
    },
    /// The engine-wide limit on price levels is reached and the order would
    /// open a new one.
    LevelCapacity {
        max_levels: u32,
    },
}

impl RejectReason {
    /// A stable, short name for telemetry counters and dumps.
    pub fn code(&self) -> &'static str {
        match self {
            RejectReason::Duplicate { .. } => "duplicate",
            RejectReason::UnknownAccount { .. } => "unknown_account",
            RejectReason::AccountExists { .. } => "account_exists",
            RejectReason::AccountLimit { .. } => "account_limit",
            RejectReason::UnknownAsset { .. } => "unknown_asset",
            RejectReason::UnknownSymbol { .. } => "unknown_symbol",
            RejectReason::UnknownOrder { .. } => "unknown_order",
            RejectReason::NotOrderOwner { .. } => "not_order_owner",
            RejectReason::NotAuthorized => "not_authorized",
            RejectReason::SymbolHalted { .. } => "symbol_halted",
            RejectReason::ZeroValue => "zero_value",
            RejectReason::InsufficientFunds { .. } => "insufficient_funds",
            RejectReason::Overflow => "overflow",
            RejectReason::PostOnlyWouldCross => "post_only_would_cross",
            RejectReason::FokNotFillable => "fok_not_fillable",
            RejectReason::InvalidOrder => "invalid_order",
            RejectReason::SelfTransfer => "self_transfer",
            RejectReason::AmendNoChange => "amend_no_change",
            RejectReason::OrderCapacity { .. } => "order_capacity",
            RejectReason::AccountOrderLimit { .. } => "account_order_limit",
            RejectReason::InstrumentCapacity => "instrument_capacity",
            RejectReason::DuplicateName => "duplicate_name",
            RejectReason::InvalidSymbolSpec => "invalid_symbol_spec",
            RejectReason::InvalidScale => "invalid_scale",
            RejectReason::SymbolAlreadyHalted { .. } => "symbol_already_halted",
            RejectReason::SymbolNotHalted { .. } => "symbol_not_halted",
            RejectReason::LevelCapacity { .. } => "level_capacity",
        }
    }

    /// All codes, in a fixed order (for telemetry tables).
    pub const CODES: [&'static str; 27] = [
        "duplicate",
        "unknown_account",
        "account_exists",
        "account_limit",
        "unknown_asset",
        "unknown_symbol",
        "unknown_order",
        "not_order_owner",
        "not_authorized",
        "symbol_halted",
        "zero_value",
        "insufficient_funds",
        "overflow",
        "post_only_would_cross",
        "fok_not_fillable",
        "invalid_order",
        "self_transfer",
        "amend_no_change",
        "order_capacity",
        "account_order_limit",
        "instrument_capacity",
        "duplicate_name",
        "invalid_symbol_spec",
        "invalid_scale",
        "symbol_already_halted",
        "symbol_not_halted",
        "level_capacity",
    ];

    /// Index of this reason's code in [`RejectReason::CODES`].
    pub fn code_index(&self) -> usize {
        let code = self.code();
        RejectReason::CODES
            .iter()
            .position(|c| *c == code)
            .expect("every code is listed in CODES")
    }
}

impl std::fmt::Display for RejectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            RejectReason::Duplicate { last_request_id } => write!(
                f,
                "duplicate: request_id must be above {last_request_id}, the last accepted for this account"
            ),
            RejectReason::UnknownAccount { account } => write!(f, "unknown account {account}: open it first"),
            RejectReason::AccountExists { account } => write!(f, "account {account} is already open"),
            RejectReason::AccountLimit { account, max_accounts } => {
                write!(f, "account id {account} is not below the limit {max_accounts}")
            }
            RejectReason::UnknownAsset { asset } => write!(f, "unknown asset {asset}"),
            RejectReason::UnknownSymbol { symbol } => write!(f, "unknown symbol {symbol}"),
            RejectReason::UnknownOrder { order } => write!(f, "unknown order {order} (never placed, or already ended)"),
            RejectReason::NotOrderOwner { order } => write!(f, "order {order} belongs to another account"),
            RejectReason::NotAuthorized => write!(f, "admin commands must come from the operator account 0"),
            RejectReason::SymbolHalted { symbol } => write!(f, "symbol {symbol} is halted: only cancels are accepted"),
            RejectReason::ZeroValue => write!(f, "amounts, quantities and prices must be above zero"),
            RejectReason::InsufficientFunds { asset, needed, available } => {
                write!(f, "insufficient funds in asset {asset}: needs {needed} minor units, {available} available")
            }
            RejectReason::Overflow => write!(f, "the amounts involved overflow 64 bits: use smaller values"),
            RejectReason::PostOnlyWouldCross => write!(f, "post-only order would cross the book"),
            RejectReason::FokNotFillable => write!(f, "fill-or-kill order cannot fill completely now"),
            RejectReason::InvalidOrder => write!(
                f,
                "invalid order options (market orders must be IOC/FOK, market buys need a budget or protection price, post-only only on GTC/GTD limits, GTD expiry must be in the future)"
            ),
            RejectReason::SelfTransfer => write!(f, "cannot transfer to the same account"),
            RejectReason::AmendNoChange => write!(f, "amend changes nothing"),
            RejectReason::OrderCapacity { max_orders } => write!(f, "engine order capacity {max_orders} reached"),
            RejectReason::AccountOrderLimit { max_open_orders } => {
                write!(f, "account reached its limit of {max_open_orders} open orders")
            }
            RejectReason::InstrumentCapacity => write!(f, "asset or symbol capacity reached"),
            RejectReason::DuplicateName => write!(f, "name already in use"),
            RejectReason::InvalidSymbolSpec => write!(
                f,
                "invalid symbol: tick and lot sizes must convert exactly into minor units, fees at most 10000 bps, base and quote distinct"
            ),
            RejectReason::InvalidScale => write!(f, "scale must be at most 18"),
            RejectReason::SymbolAlreadyHalted { symbol } => write!(f, "symbol {symbol} is already halted"),
            RejectReason::SymbolNotHalted { symbol } => write!(f, "symbol {symbol} is not halted"),
            RejectReason::LevelCapacity { max_levels } => {
                write!(f, "engine price-level capacity {max_levels} reached: the order would open a new level")
            }
        }
    }
}
