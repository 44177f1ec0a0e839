//! Commands: intent. A command can fail; its outcome is a list of events.

use bincode::{Decode, Encode};

use super::decimal::Fixed;
use super::ids::{AccountId, AssetId, Name, OrderId, SymbolId};

/// One command from a client. `request_id` must be strictly greater than the
/// last request id accepted for `account` (idempotency: a retry is rejected as
/// `Duplicate` and never executes twice).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Command {
    /// The issuing account (the operator for admin commands); for
    /// `OpenAccount`, the account to open.
    pub account: AccountId,
    /// The client's sequence number for `account`: above the last accepted
    /// one (and above 0 for `OpenAccount`).
    pub request_id: u64,
    /// What the command asks for.
    pub kind: CommandKind,
}

/// What a command asks for. Amounts are minor units of their asset, prices
/// are ticks and quantities are lots; zero values are rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub enum CommandKind {
    /// Opens `Command::account`.
    OpenAccount,
    /// Credits the account from the asset's external account.
    Deposit {
        /// The asset credited.
        asset: AssetId,
        /// Minor units credited to the available balance.
        amount: u64,
    },
    /// Debits the account's available balance to the external account.
    Withdraw {
        /// The asset debited.
        asset: AssetId,
        /// Minor units debited; at most the available balance.
        amount: u64,
    },
    /// Moves available funds from `Command::account` to `to`.
    Transfer {
        /// The receiving account: open, and not the sender.
        to: AccountId,
        /// The asset moved.
        asset: AssetId,
        /// Minor units moved; at most the sender's available balance.
        amount: u64,
    },
    /// Places a new order: it may trade at once, rest, or both.
    PlaceOrder(PlaceOrder),
    /// Cancels one of the account's open orders and releases its hold.
    /// Accepted on halted symbols too.
    CancelOrder {
        /// The order to cancel; it must belong to the account.
        order: OrderId,
    },
    /// Sets a resting order's price and remaining quantity. Same price and a
    /// smaller quantity keeps time priority; anything else loses it and may
    /// match.
    AmendOrder {
        /// The resting order to amend; it must belong to the account.
        order: OrderId,
        /// The new limit price in ticks.
        price: u64,
        /// The new remaining quantity in lots.
        qty: u64,
    },
    /// Cancels all of the account's open orders, optionally on one symbol.
    CancelAll {
        /// Only this symbol's orders, or every symbol's when `None`.
        symbol: Option<SymbolId>,
    },
    /// Admin (operator only): adds an asset with `scale` decimal places.
    AddAsset {
        /// The asset's name, unique among assets.
        name: Name,
        /// Decimal places of one minor unit, at most
        /// [`SCALE_MAX`](super::decimal::SCALE_MAX).
        scale: u8,
    },
    /// Admin (operator only): adds a symbol trading `base` against `quote`.
    AddSymbol(SymbolSpec),
    /// Admin (operator only): stops new orders and amends on a symbol.
    HaltSymbol {
        /// The symbol to halt; resting orders stay and can be cancelled.
        symbol: SymbolId,
    },
    /// Admin (operator only): lifts a halt.
    ResumeSymbol {
        /// The halted symbol to resume.
        symbol: SymbolId,
    },
    /// The engine's own continuation: expires GTD orders due at its
    /// timestamp, at most `limits.max_cancels_per_record` of them. Written by
    /// the loop, before the command it defers, when more orders are due than
    /// one record may hold. Operator account, request id 0; no `accepted`.
    ExpireDue,
    /// The engine's own continuation of a `CancelAll` whose orders do not fit
    /// one record: cancels the next `limits.max_cancels_per_record` of them.
    /// The account's, request id 0; no `accepted`.
    CancelAllContinued {
        /// The same symbol filter as the `CancelAll` it continues.
        symbol: Option<SymbolId>,
    },
}

impl Command {
    /// A command of `account` with `request_id`.
    pub fn new(account: AccountId, request_id: u64, kind: CommandKind) -> Command {
        Command {
            account,
            request_id,
            kind,
        }
    }

    /// Opens `account`.
    pub fn open_account(account: AccountId, request_id: u64) -> Command {
        Command::new(account, request_id, CommandKind::OpenAccount)
    }

    /// A deposit of `amount` minor units of `asset`.
    pub fn deposit(account: AccountId, request_id: u64, asset: AssetId, amount: u64) -> Command {
        Command::new(account, request_id, CommandKind::Deposit { asset, amount })
    }

    /// Places `order` for `account`.
    pub fn place(account: AccountId, request_id: u64, order: PlaceOrder) -> Command {
        Command::new(account, request_id, CommandKind::PlaceOrder(order))
    }

    /// Cancels `order`.
    pub fn cancel(account: AccountId, request_id: u64, order: OrderId) -> Command {
        Command::new(account, request_id, CommandKind::CancelOrder { order })
    }

    /// The engine's continuation that expires due GTD orders.
    pub fn expire_due() -> Command {
        Command::new(super::ids::OPERATOR, 0, CommandKind::ExpireDue)
    }
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
            CommandKind::ExpireDue => "expire_due",
            CommandKind::CancelAllContinued { .. } => "cancel_all_continued",
        }
    }

    /// Whether this is one of the engine's own continuation commands
    /// ([`CommandKind::ExpireDue`], [`CommandKind::CancelAllContinued`]):
    /// request id 0, no `accepted`, never from a client.
    pub fn is_continuation(&self) -> bool {
        matches!(
            self,
            CommandKind::ExpireDue | CommandKind::CancelAllContinued { .. }
        )
    }
}

/// A symbol's static definition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct SymbolSpec {
    /// The symbol's name, unique among symbols (e.g. `BTC-USD`).
    pub name: Name,
    /// The asset traded: quantities (lots) are in base.
    pub base: AssetId,
    /// The asset prices (ticks), notionals and fees are in; not `base`.
    pub quote: AssetId,
    /// Price increment, in quote units per one base unit.
    pub tick_size: Fixed,
    /// Quantity increment, in base units.
    pub lot_size: Fixed,
    /// Fee charged to the maker of a trade, in basis points of the notional
    /// (at most 10 000).
    pub maker_fee_bps: u16,
    /// Fee charged to the taker of a trade, in basis points of the notional
    /// (at most 10 000).
    pub taker_fee_bps: u16,
}

/// The side of an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub enum Side {
    /// Buys base, paying quote; holds quote while open.
    Buy,
    /// Sells base for quote; holds base while open.
    Sell,
}

impl Side {
    /// The other side: the one an order of this side trades against.
    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }
}

/// How long an order's unfilled remainder stays open.
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
    Gtd {
        /// Expiry in nanoseconds on the commands' clock; must be after the
        /// placing command's timestamp.
        expiry_ns: u64,
    },
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

/// Limit or market, with the order's price or bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub enum OrderType {
    /// Rests at `price` (ticks) unless its time in force says otherwise.
    Limit {
        /// The worst acceptable price in ticks; above zero.
        price: u64,
    },
    /// Never rests (time in force `Ioc` or `Fok`). A buy must be bounded by a
    /// budget or a protection price.
    Market {
        /// What limits the order.
        bound: MarketBound,
    },
}

/// The bound on what a market order may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub enum MarketBound {
    /// No bound (allowed for sells only: they hold base, not quote).
    None,
    /// Spend at most this much quote, fees included (buys only).
    QuoteBudget {
        /// The budget in quote minor units; above zero. All of it is held
        /// while the order runs.
        amount: u64,
    },
    /// Trade no worse than this price in ticks: at most for a buy, at least
    /// for a sell.
    ProtectionPrice {
        /// The worst acceptable price in ticks; above zero.
        price: u64,
    },
}

/// A new order. Start from [`PlaceOrder::limit`] or [`PlaceOrder::market`]
/// and change what differs with the `with_*` methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct PlaceOrder {
    /// The symbol to trade; it must not be halted.
    pub symbol: SymbolId,
    /// Buy or sell.
    pub side: Side,
    /// Limit or market, with its price or bound.
    pub order_type: OrderType,
    /// Quantity in lots; above zero.
    pub qty: u64,
    /// How long the remainder stays open; a market order must be `Ioc` or
    /// `Fok`.
    pub tif: TimeInForce,
    /// Reject the order rather than let it take liquidity. Only for limit
    /// orders that can rest (`Gtc` or `Gtd`).
    pub post_only: bool,
    /// What happens if the order would trade against its own account.
    pub stp: StpMode,
}

impl PlaceOrder {
    /// A good-till-cancelled limit order of `qty` lots at `price` ticks; not
    /// post-only; self-trades cancel the newest order.
    pub fn limit(symbol: SymbolId, side: Side, price: u64, qty: u64) -> PlaceOrder {
        PlaceOrder {
            symbol,
            side,
            order_type: OrderType::Limit { price },
            qty,
            tif: TimeInForce::Gtc,
            post_only: false,
            stp: StpMode::CancelNewest,
        }
    }

    /// An immediate-or-cancel market order of `qty` lots within `bound`
    /// (a buy needs a budget or a protection price).
    pub fn market(symbol: SymbolId, side: Side, qty: u64, bound: MarketBound) -> PlaceOrder {
        PlaceOrder {
            order_type: OrderType::Market { bound },
            tif: TimeInForce::Ioc,
            ..PlaceOrder::limit(symbol, side, 0, qty)
        }
    }

    /// The same order with time in force `tif`.
    #[must_use]
    pub fn with_tif(self, tif: TimeInForce) -> PlaceOrder {
        PlaceOrder { tif, ..self }
    }

    /// The same order, post-only (rejected if it would take liquidity).
    #[must_use]
    pub fn with_post_only(self) -> PlaceOrder {
        PlaceOrder {
            post_only: true,
            ..self
        }
    }

    /// The same order with self-trade prevention mode `stp`.
    #[must_use]
    pub fn with_stp(self, stp: StpMode) -> PlaceOrder {
        PlaceOrder { stp, ..self }
    }
}
