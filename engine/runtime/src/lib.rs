//! Keel, embedded: a single-writer, in-memory matching engine and
//! double-entry ledger with a journal.
//!
//! [`Engine::start`](runtime::Engine::start) recovers the state from the
//! journal (newest valid snapshot, then journaled events; nothing is
//! re-decided), spawns the business-logic thread, and hands back a
//! [`CommandSender`] and
//! [`Subscription`]s. Per batch the loop stamps each
//! command, decides it into events, applies them, journals one record per
//! command, commits the batch under the configured durability, and only then
//! publishes the outputs.
//!
//! This crate may touch the journal, threads and the clock. It must never
//! depend on a CLI, progress-bar, TOML or JSON crate, nor on demo code: those
//! live in `keel-edge` (JSON lines, TOML files) and `keel-cli` (`keel`).
//!
//! ```
//! use keel_engine::prelude::*;
//!
//! let config = Config::builder().temporary_journal().asset("BTC", 8).asset("USD", 6)
//!     .symbol("BTC-USD", "BTC", "USD", "0.01", "0.0001").build()?;
//! let engine = Engine::start(&config)?;
//! let (names, tx, outputs) = (engine.registry()?, engine.sender(), engine.subscribe()?);
//! tx.submit(Command::open_account(1, 1))?;
//! tx.submit(Command::open_account(2, 1))?;
//! tx.submit(names.deposit(1, 2, "BTC", "1.5")?)?;
//! tx.submit(names.deposit(2, 2, "USD", "100000")?)?;
//! tx.submit(names.limit(1, 3, "BTC-USD", Side::Sell, "60000", "1")?)?;
//! tx.submit(names.limit(2, 3, "BTC-USD", Side::Buy, "60000.50", "0.5")?)?;
//! let trade = loop {
//!     let batch = outputs.recv()?;
//!     let trade = batch.iter().flat_map(|o| o.events).find_map(Event::trade).copied();
//!     if let Some(t) = trade { break t; }
//! };
//! assert_eq!((trade.price, names.format_qty(0, trade.qty)), (6_000_000, "0.5000".to_string()));
//! assert_eq!(engine.stats()?.trades, 1);
//! engine.shutdown()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

pub mod config;
pub mod runtime;
pub mod snapshot;
pub mod units;

/// The pure core, re-exported: everything here is also `keel_core`'s.
pub use keel_core::{core, model, record, registry, rng, state};

pub use crate::core::{apply, process, process_step, process_to_vec, Step};
pub use config::{Config, ConfigBuilder, ConfigError};
pub use keel_core::{Registry, UnknownName};
pub use model::*;
pub use runtime::{
    advise_huge_pages, CommandSender, CommittedBatch, Engine, EngineError, LoopExit, Output,
    OutputBatch, ReplicationError, Replicator, StartError, StartReport, Stats, SubmitError,
    Subscription, SubscriptionError,
};
pub use state::{Limits, State};
pub use units::{NamedCommands, UnitError};

/// The journal crate, for its types in this crate's API
/// ([`StartReport::journal`] is a [`keel_journal::RecoveryReport`]).
pub use keel_journal;

/// `hdrhistogram`, whose `Histogram` [`Stats`] exposes.
pub use hdrhistogram;

/// What most embedding programs need: `use keel_engine::prelude::*;`.
pub mod prelude {
    pub use crate::config::{ClockKind, Config, DurabilityConfig, SlowSubscriber, WaitStrategy};
    pub use crate::model::{
        CancelReason, Command, CommandKind, Event, MarketBound, OrderType, PlaceOrder,
        RejectReason, Side, StpMode, TimeInForce, Trade,
    };
    pub use crate::runtime::{
        CommandSender, Engine, EngineError, Output, OutputBatch, StartError, Stats, SubmitError,
        Subscription, SubscriptionError,
    };
    pub use crate::units::{NamedCommands, UnitError};
    pub use crate::Registry;
}
