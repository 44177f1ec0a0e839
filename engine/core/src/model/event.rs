//! Events: facts, in the past tense. Applying a command's events to the state
//! it was decided on reproduces the state exactly; recovery applies journaled
//! events and never re-decides.

use bincode::{Decode, Encode};

use super::command::{Side, StpMode, SymbolSpec, TimeInForce};
use super::ids::{AccountId, AssetId, Name, OrderId, SymbolId};
use super::reject::RejectReason;

/// A fact decided by the core. A command yields `Rejected` alone, or
/// `Accepted` and its facts (`AccountOpened` comes first, as `Accepted` names
/// the new account); GTD expiries due at its timestamp come before either.
/// Amounts are minor units, prices ticks, quantities lots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Event {
    /// The command was accepted; its request id is now the account's last.
    Accepted {
        /// The issuing account.
        account: AccountId,
        /// The command's request id.
        request_id: u64,
    },
    /// The command was rejected and changed nothing; its request id is not
    /// used up.
    Rejected {
        /// The issuing account (it may not exist).
        account: AccountId,
        /// The command's request id.
        request_id: u64,
        /// Why, and what the client can do about it.
        reason: RejectReason,
    },
    /// An asset was added, with no supply.
    AssetAdded {
        /// Its id: the number of assets before it.
        asset: AssetId,
        /// Its name, unique among assets.
        name: Name,
        /// Decimal places of one minor unit.
        scale: u8,
    },
    /// A symbol was added, with an empty book, not halted.
    SymbolAdded {
        /// Its id: the number of symbols before it.
        symbol: SymbolId,
        /// Its definition, validated.
        spec: SymbolSpec,
    },
    /// The symbol was halted: new orders and amends are rejected, cancels
    /// still go through, resting orders stay.
    SymbolHalted {
        /// The halted symbol.
        symbol: SymbolId,
    },
    /// The symbol's halt was lifted.
    SymbolResumed {
        /// The resumed symbol.
        symbol: SymbolId,
    },
    /// The account was opened, with zero balances and no orders.
    AccountOpened {
        /// The new account.
        account: AccountId,
    },
    /// Credited from the asset's external account.
    Deposited {
        /// The account credited.
        account: AccountId,
        /// The asset.
        asset: AssetId,
        /// Minor units added to the available balance and to the supply.
        amount: u64,
    },
    /// Debited to the asset's external account.
    Withdrawn {
        /// The account debited.
        account: AccountId,
        /// The asset.
        asset: AssetId,
        /// Minor units taken from the available balance and the supply.
        amount: u64,
    },
    /// Available funds moved between two accounts.
    Transferred {
        /// The sending account (the command's).
        from: AccountId,
        /// The receiving account.
        to: AccountId,
        /// The asset.
        asset: AssetId,
        /// Minor units moved, from available to available.
        amount: u64,
    },
    /// An order entered the engine and `hold` moved from available to held
    /// (quote for a buy, base for a sell). It is not in the book until
    /// `OrderRested`.
    OrderAccepted {
        /// The new order's id: the state's next order id.
        order: OrderId,
        /// The owner.
        account: AccountId,
        /// The symbol.
        symbol: SymbolId,
        /// Buy or sell.
        side: Side,
        /// Limit price in ticks; for a market order its protection price, or
        /// 0 when it has none.
        price: u64,
        /// Quantity in lots.
        qty: u64,
        /// Whether it is a market order (which never rests).
        is_market: bool,
        /// Its time in force.
        tif: TimeInForce,
        /// Whether it may only add liquidity.
        post_only: bool,
        /// Its self-trade prevention mode.
        stp: StpMode,
        /// Minor units held: for a buy the notional plus the worst-case fee,
        /// or a market buy's whole budget; for a sell the base quantity.
        hold: u64,
    },
    /// A fill between a resting maker and an incoming taker at the maker's
    /// price. Fees are in quote minor units and go to the fee account.
    TradeExecuted(Trade),
    /// The order's remainder joined the back of its price level.
    OrderRested {
        /// The order now resting.
        order: OrderId,
    },
    /// A resting order's price and remaining quantity changed. With
    /// `priority_kept` it keeps its place; otherwise it left the book, and
    /// `OrderRested` or trades follow. `reserved` is the order's new hold;
    /// the difference moved between available and held.
    OrderAmended {
        /// The amended order.
        order: OrderId,
        /// The new price in ticks.
        price: u64,
        /// The new remaining quantity in lots.
        qty: u64,
        /// The order's new hold, in minor units of the held asset.
        reserved: u64,
        /// Whether it kept its place (same price, smaller quantity).
        priority_kept: bool,
    },
    /// The order ended unfilled for `remaining` lots; its hold was released.
    OrderCancelled {
        /// The order that ended.
        order: OrderId,
        /// Its owner.
        account: AccountId,
        /// Lots still open when it ended.
        remaining: u64,
        /// Why it ended.
        reason: CancelReason,
    },
}

/// Why an order ended before it filled completely.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, Decode)]
#[non_exhaustive]
pub enum CancelReason {
    /// Its owner cancelled it (`CancelOrder`).
    User,
    /// The unfilled rest of an IOC order (market orders included): it never
    /// rests.
    IocRemainder,
    /// Self-trade prevention cancelled it (see [`StpMode`]).
    SelfTradePrevention,
    /// Its owner cancelled it with `CancelAll`.
    MassCancel,
    /// A GTD order reached its expiry.
    Expired,
    /// The incoming order reached `limits.max_fills_per_command` while more
    /// of the book would still have matched it: its remainder never rests
    /// (it could cross the book) and is cancelled.
    FillLimit,
}

impl CancelReason {
    /// A stable, short name for telemetry and dumps.
    pub fn code(&self) -> &'static str {
        match self {
            CancelReason::User => "user",
            CancelReason::IocRemainder => "ioc_remainder",
            CancelReason::SelfTradePrevention => "self_trade_prevention",
            CancelReason::MassCancel => "mass_cancel",
            CancelReason::Expired => "expired",
            CancelReason::FillLimit => "fill_limit",
        }
    }
}

/// The facts of one [`Event::TradeExecuted`]. Encoded exactly as the
/// struct-like variant it replaced (fields in this order), so the record
/// format is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Trade {
    /// The symbol traded.
    pub symbol: SymbolId,
    /// The resting order.
    pub maker_order: OrderId,
    /// The incoming order.
    pub taker_order: OrderId,
    /// The maker's account.
    pub maker_account: AccountId,
    /// The taker's account.
    pub taker_account: AccountId,
    /// The taker's side (the maker's is the other).
    pub taker_side: Side,
    /// Price in ticks (the maker's price).
    pub price: u64,
    /// Quantity in lots.
    pub qty: u64,
    /// The maker's fee, in quote minor units.
    pub maker_fee: u64,
    /// The taker's fee, in quote minor units.
    pub taker_fee: u64,
}

impl Event {
    /// The trade, if this event is a [`Event::TradeExecuted`].
    pub fn trade(&self) -> Option<&Trade> {
        match self {
            Event::TradeExecuted(trade) => Some(trade),
            _ => None,
        }
    }

    /// A stable, short name for dumps and telemetry.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Accepted { .. } => "accepted",
            Event::Rejected { .. } => "rejected",
            Event::AssetAdded { .. } => "asset_added",
            Event::SymbolAdded { .. } => "symbol_added",
            Event::SymbolHalted { .. } => "symbol_halted",
            Event::SymbolResumed { .. } => "symbol_resumed",
            Event::AccountOpened { .. } => "account_opened",
            Event::Deposited { .. } => "deposited",
            Event::Withdrawn { .. } => "withdrawn",
            Event::Transferred { .. } => "transferred",
            Event::OrderAccepted { .. } => "order_accepted",
            Event::TradeExecuted { .. } => "trade_executed",
            Event::OrderRested { .. } => "order_rested",
            Event::OrderAmended { .. } => "order_amended",
            Event::OrderCancelled { .. } => "order_cancelled",
        }
    }
}
