//! Keel's engine: the domain model, the deterministic state machine (order
//! books and a double-entry ledger), and, around it, the business-logic loop.
//!
//! - [`model`]: commands (intent), events (facts), ids, checked money.
//! - [`state`]: what the loop owns, its digest and its invariants.
//! - [`core`]: `process` (decide + apply) and `apply` (recovery).

pub mod config;
pub mod core;
pub mod demo;
pub mod edge;
pub mod model;
pub mod record;
pub mod runtime;
pub mod snapshot;
pub mod state;

pub use crate::core::{apply, process, process_to_vec};
pub use model::*;
pub use state::{Limits, State};
