//! Events: facts, in the past tense. Applying a command's events to the state
//! it was decided on reproduces the state exactly; recovery applies journaled
//! events and never re-decides.

use bincode::{Decode, Encode};

use super::command::{Side, StpMode, SymbolSpec, TimeInForce};
use super::ids::{AccountId, AssetId, Name, OrderId, SymbolId};
use super::reject::RejectReason;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Event {
    /// The command was accepted; its request id is now the account's last.
    Accepted {
        account: AccountId,
        request_id: u64,
    },
    /// The command was rejected and changed nothing.
    Rejected {
        account: AccountId,
        request_id: u64,
        reason: RejectReason,
    },
    AssetAdded {
        asset: AssetId,
        name: Name,
        scale: u8,
    },
    SymbolAdded {
        symbol: SymbolId,
        spec: SymbolSpec,
    },
    SymbolHalted {
        symbol: SymbolId,
    },
    SymbolResumed {
        symbol: SymbolId,
    },
    AccountOpened {
        account: AccountId,
    },
    /// Credited from the asset's external account.
    Deposited {
        account: AccountId,
        asset: AssetId,
        amount: u64,
    },
    /// Debited to the asset's external account.
    Withdrawn {
        account: AccountId,
        asset: AssetId,
        amount: u64,
    },
    Transferred {
        from: AccountId,
        to: AccountId,
        asset: AssetId,
        amount: u64,
    },
    /// An order entered the engine and `hold` moved from available to held
    /// (quote for a buy, base for a sell). It is not in the book until
    /// `OrderRested`.
    OrderAccepted {
        order: OrderId,
        account: AccountId,
        symbol: SymbolId,
        side: Side,
        /// Limit price in ticks; for a market order its protection price, or
        /// 0 when it has none.
        price: u64,
        qty: u64,
        is_market: bool,
        tif: TimeInForce,
        post_only: bool,
        stp: StpMode,
        hold: u64,
    },
    /// A fill between a resting maker and an incoming taker at the maker's
    /// price. Fees are in quote minor units and go to the fee account.
    TradeExecuted {
        symbol: SymbolId,
        maker_order: OrderId,
        taker_order: OrderId,
        maker_account: AccountId,
        taker_account: AccountId,
        taker_side: Side,
        price: u64,
        qty: u64,
        maker_fee: u64,
        taker_fee: u64,
    },
    /// The order's remainder joined the back of its price level.
    OrderRested {
        order: OrderId,
    },
    /// A resting order's price and remaining quantity changed. With
    /// `priority_kept` it keeps its place; otherwise it left the book, and
    /// `OrderRested` or trades follow. `reserved` is the order's new hold;
    /// the difference moved between available and held.
    OrderAmended {
        order: OrderId,
        price: u64,
        qty: u64,
        reserved: u64,
        priority_kept: bool,
    },
    /// The order ended unfilled for `remaining` lots; its hold was released.
    OrderCancelled {
        order: OrderId,
        account: AccountId,
        remaining: u64,
        reason: CancelReason,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, Decode)]
pub enum CancelReason {
    User,
    IocRemainder,
    SelfTradePrevention,
    MassCancel,
    Expired,
}

impl CancelReason {
    pub fn code(&self) -> &'static str {
        match self {
            CancelReason::User => "user",
            CancelReason::IocRemainder => "ioc_remainder",
            CancelReason::SelfTradePrevention => "self_trade_prevention",
            CancelReason::MassCancel => "mass_cancel",
            CancelReason::Expired => "expired",
        }
    }
}

impl Event {
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
