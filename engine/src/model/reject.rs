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
        }
    }

    /// All codes, in a fixed order (for telemetry tables).
    pub const CODES: [&'static str; 26] = [
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
