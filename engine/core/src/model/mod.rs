//! The domain model: identifiers, commands (intent), events (facts), reject
//! reasons and checked money arithmetic. Plain data; no behaviour beyond
//! arithmetic.

pub mod command;
pub mod decimal;
pub mod event;
pub mod ids;
pub mod money;
pub mod reject;

pub use command::{
    Command, CommandKind, MarketBound, OrderType, PlaceOrder, Side, StpMode, SymbolSpec,
    TimeInForce,
};
pub use decimal::Fixed;
pub use event::{CancelReason, Event, Trade};
pub use ids::{AccountId, AssetId, Name, OrderId, SymbolId, OPERATOR};
pub use money::Scales;
pub use reject::{RejectReason, MAX_REQUEST_ID};
