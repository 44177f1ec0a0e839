//! Why a command was rejected. A rejection is an event, never a panic, and a
//! rejected command changes nothing but the journal.

use bincode::{Decode, Encode};

use super::ids::{AccountId, AssetId, OrderId, SymbolId};

/// Why a command was rejected, carried by
/// [`Event::Rejected`](super::event::Event::Rejected). The command had no
/// effect and its request id is not used up: fix what the reason names and
/// send it again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, Decode)]
#[non_exhaustive]
pub enum RejectReason {
    /// `request_id` was not above the last accepted one, which is named (a
    /// retry of an accepted command, or a request id of 0 to open an account).
    Duplicate {
        /// The account's last accepted request id: use a larger one.
        last_request_id: u64,
    },
    /// The command's account, or a transfer's receiver, is not open: open it
    /// first.
    UnknownAccount {
        /// The account that is not open.
        account: AccountId,
    },
    /// `OpenAccount` for an account that is already open: nothing to do.
    AccountExists {
        /// The account.
        account: AccountId,
    },
    /// The account id is at or above the configured limit.
    AccountLimit {
        /// The id asked for.
        account: AccountId,
        /// The limit: account ids must be below it.
        max_accounts: u32,
    },
    /// No asset has this id.
    UnknownAsset {
        /// The id asked for.
        asset: AssetId,
    },
    /// No symbol has this id.
    UnknownSymbol {
        /// The id asked for.
        symbol: SymbolId,
    },
    /// No open order has this id: it was never placed, or already filled,
    /// was cancelled or expired.
    UnknownOrder {
        /// The id asked for.
        order: OrderId,
    },
    /// The order belongs to another account: only its owner may cancel or
    /// amend it.
    NotOrderOwner {
        /// The order.
        order: OrderId,
    },
    /// An admin command from an account other than the operator.
    NotAuthorized,
    /// The symbol is halted: orders and amends are refused until it resumes;
    /// cancels are still accepted.
    SymbolHalted {
        /// The halted symbol.
        symbol: SymbolId,
    },
    /// A zero amount, quantity or price.
    ZeroValue,
    /// The available balance does not cover a withdrawal, a transfer or an
    /// order's hold: deposit more, or cancel orders to release held funds.
    InsufficientFunds {
        /// The asset that is short.
        asset: AssetId,
        /// Minor units needed (for an amend, the increase of the hold).
        needed: u64,
        /// Minor units available.
        available: u64,
    },
    /// Arithmetic would overflow u64.
    Overflow,
    /// A post-only order, or an amend of one that loses priority, would
    /// trade on arrival: price it so that it does not cross the book.
    PostOnlyWouldCross,
    /// A fill-or-kill order cannot fill completely against the book now;
    /// nothing traded.
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
        /// The limit ([`Limits::max_orders`](crate::state::Limits::max_orders)).
        max_orders: u32,
    },
    /// The limit on open orders per account is reached: cancel some first.
    AccountOrderLimit {
        /// The limit
        /// ([`Limits::max_open_orders_per_account`](crate::state::Limits::max_open_orders_per_account)).
        max_open_orders: u32,
    },
    /// The limit on assets or symbols is reached.
    InstrumentCapacity,
    /// An asset or symbol with this name already exists.
    DuplicateName,
    /// A symbol's tick/lot/scale combination does not convert exactly into
    /// minor units, a fee is above 10000 bps, base equals quote, or a name
    /// is not valid.
    InvalidSymbolSpec,
    /// A scale above the supported maximum.
    InvalidScale,
    /// `HaltSymbol` on a symbol that is already halted.
    SymbolAlreadyHalted {
        /// The symbol.
        symbol: SymbolId,
    },
    /// `ResumeSymbol` on a symbol that is not halted.
    SymbolNotHalted {
        /// The symbol.
        symbol: SymbolId,
    },
    /// The engine-wide limit on price levels is reached and the order would
    /// open a new one: use a price that already has a level, or retry later.
    LevelCapacity {
        /// The limit ([`Limits::max_levels`](crate::state::Limits::max_levels)).
        max_levels: u32,
    },
    /// The request id is above [`MAX_REQUEST_ID`]: an account that used it
    /// could never act again (ids must increase), so it is refused.
    RequestIdOutOfRange {
        /// The id sent.
        request_id: u64,
    },
}

/// The largest request id the engine accepts: 2^53 − 1, the largest integer
/// that clients in every language (JavaScript included) represent exactly.
pub const MAX_REQUEST_ID: u64 = (1 << 53) - 1;

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
            RejectReason::RequestIdOutOfRange { .. } => "request_id_out_of_range",
        }
    }

    /// All codes, in a fixed order (for telemetry tables).
    pub const CODES: [&'static str; 28] = [
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
        "request_id_out_of_range",
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
            RejectReason::RequestIdOutOfRange { request_id } => write!(
                f,
                "request id {request_id} is above the maximum {MAX_REQUEST_ID} (2^53 - 1): use a smaller, increasing request id"
            ),
        }
    }
}
