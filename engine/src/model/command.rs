//! Commands: intent. A command can fail; its outcome is a list of events.

use bincode::{Decode, Encode};

use super::decimal::Fixed;
use super::ids::{AccountId, AssetId, Name, OrderId, SymbolId};

/// One command from a client. `request_id` must be strictly greater than the
/// last request id accepted for `account` (idempotency: a retry is rejected as
/// `Duplicate` and never executes twice).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Command {
    pub account: AccountId,
    pub request_id: u64,
    pub kind: CommandKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub enum CommandKind {
    /// Opens `Command::account`.
    OpenAccount,
    /// Credits the account from the asset's external account.
    Deposit {
        asset: AssetId,
        amount: u64,
    },
    /// Debits the account's available balance to the external account.
    Withdraw {
        asset: AssetId,
        amount: u64,
    },
    /// Moves available funds from `Command::account` to `to`.
    Transfer {
        to: AccountId,
        asset: AssetId,
        amount: u64,
    },
    PlaceOrder(PlaceOrder),
    CancelOrder {
        order: OrderId,
    },
    /// Sets a resting order's price and remaining quantity. Same price and a
    /// smaller quantity keeps time priority; anything else loses it and may
    /// match.
    AmendOrder {
        order: OrderId,
        price: u64,
        qty: u64,
    },
    /// Cancels all of the account's open orders, optionally on one symbol.
    CancelAll {
        symbol: Option<SymbolId>,
    },
    /// Admin (operator only): adds an asset with `scale` decimal places.
    AddAsset {
        name: Name,
        scale: u8,
    },
    /// Admin (operator only): adds a symbol trading `base` against `quote`.
    AddSymbol(SymbolSpec),
    /// Admin (operator only): stops new orders and amends on a symbol.
    HaltSymbol {
        symbol: SymbolId,
    },
    /// Admin (operator only): lifts a halt.
    ResumeSymbol {
        symbol: SymbolId,
    },
}

impl CommandKind {
    /// Whether only the operator may issue this command.
    pub fn is_admin(&self) -> bool {
        matches!(
            self,
            CommandKind::AddAsset { .. }
                | CommandKind::AddSymbol(_)
                | CommandKind::HaltSymbol { .. }
                | CommandKind::ResumeSymbol { .. }
        )
    }

    /// A stable, short name for telemetry and dumps.
    pub fn name(&self) -> &'static str {
        match self {
            CommandKind::OpenAccount => "open_account",
            CommandKind::Deposit { .. } => "deposit",
            CommandKind::Withdraw { .. } => "withdraw",
            CommandKind::Transfer { .. } => "transfer",
            CommandKind::PlaceOrder(_) => "place_order",
            CommandKind::CancelOrder { .. } => "cancel_order",
            CommandKind::AmendOrder { .. } => "amend_order",
            CommandKind::CancelAll { .. } => "cancel_all",
            CommandKind::AddAsset { .. } => "add_asset",
            CommandKind::AddSymbol(_) => "add_symbol",
            CommandKind::HaltSymbol { .. } => "halt_symbol",
            CommandKind::ResumeSymbol { .. } => "resume_symbol",
        }
    }
}

/// A symbol's static definition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct SymbolSpec {
    pub name: Name,
    pub base: AssetId,
    pub quote: AssetId,
    /// Price increment, in quote units per one base unit.
    pub tick_size: Fixed,
    /// Quantity increment, in base units.
    pub lot_size: Fixed,
    /// Fee charged to the maker of a trade, in basis points of the notional.
    pub maker_fee_bps: u16,
    /// Fee charged to the taker of a trade, in basis points of the notional.
    pub taker_fee_bps: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub enum TimeInForce {
    /// Good till cancelled: the remainder rests.
    Gtc,
    /// Immediate or cancel: the remainder is cancelled.
    Ioc,
    /// Fill or kill: fills completely at once or is rejected, with no effect.
    Fok,
    /// Good till date: rests until the first command whose timestamp is ≥
    /// `expiry_ns`.
    Gtd { expiry_ns: u64 },
}

/// Self-trade prevention: what happens when a taker would meet a resting
/// order of its own account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub enum StpMode {
    /// Cancel the incoming order's remainder; the resting one stays.
    CancelNewest,
    /// Cancel the resting order and keep matching.
    CancelOldest,
    /// Cancel both.
    CancelBoth,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub enum OrderType {
    /// Rests at `price` (ticks) unless its time in force says otherwise.
    Limit { price: u64 },
    /// Never rests. A buy must be bounded by a budget or a protection price.
    Market { bound: MarketBound },
}

/// The bound on what a market order may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub enum MarketBound {
    /// No bound (allowed for sells only: they hold base, not quote).
    None,
    /// Spend at most this much quote, fees included (buys only).
    QuoteBudget { amount: u64 },
    /// Trade no worse than this price in ticks: at most for a buy, at least
    /// for a sell.
    ProtectionPrice { price: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct PlaceOrder {
    pub symbol: SymbolId,
    pub side: Side,
    pub order_type: OrderType,
    /// Quantity in lots.
    pub qty: u64,
    pub tif: TimeInForce,
    pub post_only: bool,
    pub stp: StpMode,
}
