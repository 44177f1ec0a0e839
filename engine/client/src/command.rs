//! Typed order-entry commands: the `keel run` schema without `account` (the
//! gateway fills in the session's). Any `serde::Serialize` value of that
//! schema may be submitted instead, e.g. a `serde_json::json!` object.
//! Decimals are strings, in whole units of the asset's scale, the symbol's
//! tick (prices) and lot (quantities).

use serde::Serialize;

/// Order side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Buy.
    Buy,
    /// Sell.
    Sell,
}

/// Time in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tif {
    /// Good till cancelled.
    Gtc,
    /// Immediate or cancel.
    Ioc,
    /// Fill or kill.
    Fok,
    /// Good till `expiry_ns` (set [`Order::expiry_ns`]).
    Gtd,
}

/// A `place_order`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Order {
    /// Strictly above the account's last accepted request id.
    pub request_id: u64,
    /// Symbol name, e.g. `BTC-USD`.
    pub symbol: String,
    /// Buy or sell.
    pub side: Side,
    /// `limit` or `market`.
    pub order_type: &'static str,
    /// Limit price (limit orders only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
    /// Quantity.
    pub qty: String,
    /// Time in force.
    pub tif: Tif,
    /// GTD expiry, ns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiry_ns: Option<u64>,
    /// Refuse the order if it would trade on arrival.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub post_only: bool,
    /// Market buy: quote to spend, fees included.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget: Option<String>,
    /// Market order: worst price.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protection_price: Option<String>,
}

impl Order {
    /// A GTC limit order.
    pub fn limit(request_id: u64, symbol: &str, side: Side, price: &str, qty: &str) -> Order {
        Order {
            request_id,
            symbol: symbol.into(),
            side,
            order_type: "limit",
            price: Some(price.into()),
            qty: qty.into(),
            tif: Tif::Gtc,
            expiry_ns: None,
            post_only: false,
            budget: None,
            protection_price: None,
        }
    }

    /// An IOC market order; a buy needs [`Order::budget`] or
    /// [`Order::protection_price`].
    pub fn market(request_id: u64, symbol: &str, side: Side, qty: &str) -> Order {
        Order {
            order_type: "market",
            price: None,
            tif: Tif::Ioc,
            ..Order::limit(request_id, symbol, side, "", qty)
        }
    }

    /// Sets the time in force.
    pub fn tif(mut self, tif: Tif) -> Order {
        self.tif = tif;
        self
    }

    /// Good till `expiry_ns`.
    pub fn expiry_ns(mut self, expiry_ns: u64) -> Order {
        self.tif = Tif::Gtd;
        self.expiry_ns = Some(expiry_ns);
        self
    }

    /// Post only.
    pub fn post_only(mut self) -> Order {
        self.post_only = true;
        self
    }

    /// Market buy budget.
    pub fn budget(mut self, budget: &str) -> Order {
        self.budget = Some(budget.into());
        self
    }

    /// Market order protection price.
    pub fn protection_price(mut self, price: &str) -> Order {
        self.protection_price = Some(price.into());
        self
    }
}

/// A command, serialized as the gateway reads it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    /// Opens the session's account.
    OpenAccount {
        /// Request id.
        request_id: u64,
    },
    /// Credits an account (operator keys only; `account` names it).
    Deposit {
        /// The account credited (an operator session acts for any).
        #[serde(skip_serializing_if = "Option::is_none")]
        account: Option<u32>,
        /// Request id (of `account`).
        request_id: u64,
        /// Asset name.
        asset: String,
        /// Amount.
        amount: String,
    },
    /// Takes from the account's available balance.
    Withdraw {
        /// Request id.
        request_id: u64,
        /// Asset name.
        asset: String,
        /// Amount.
        amount: String,
    },
    /// Moves available balance to another account.
    Transfer {
        /// Request id.
        request_id: u64,
        /// The receiving account.
        to: u32,
        /// Asset name.
        asset: String,
        /// Amount.
        amount: String,
    },
    /// Places an order.
    PlaceOrder(Order),
    /// Cancels one order.
    CancelOrder {
        /// Request id.
        request_id: u64,
        /// The order id (from the placing answer's `order_accepted`).
        order: u64,
    },
    /// Replaces an order's price and remaining quantity.
    AmendOrder {
        /// Request id.
        request_id: u64,
        /// The order id.
        order: u64,
        /// The order's symbol.
        symbol: String,
        /// New price.
        price: String,
        /// New remaining quantity.
        qty: String,
    },
    /// Cancels every order of the account (in one symbol, if given).
    CancelAll {
        /// Request id.
        request_id: u64,
        /// Only this symbol.
        #[serde(skip_serializing_if = "Option::is_none")]
        symbol: Option<String>,
    },
}

impl From<Order> for Command {
    fn from(order: Order) -> Command {
        Command::PlaceOrder(order)
    }
}
