//! Keel's pure core: the domain model and the deterministic state machine,
//! order books and a double-entry ledger, that the business-logic loop owns.
//!
//! Everything here is a function of the state, a command and its timestamp:
//! no I/O, no threads, no clock, no randomness, no hash order, no floats.
//! Same commands, same timestamps: bit-identical state and the same
//! [`digest`](state::State::digest). `keel-core` must never depend on an
//! I/O, threading, CLI, TOML or JSON crate; its `Cargo.toml` is the proof.
//!
//! - [`model`]: commands (intent), events (facts), ids, checked money.
//! - [`state`]: what the loop owns, its digest and its invariants.
//! - [`core`]: [`process`](fn@process) (decide read-only, then apply) and
//!   [`apply`](fn@apply) (what recovery uses: it never re-decides).
//! - [`record`]: the journal payload (one record per command).
//! - [`registry`]: names and scales of assets and symbols, learned from
//!   committed state and events.
//!
//! ```
//! use keel_core::{process, Command, CommandKind, Event, Limits, State};
//!
//! let mut state = State::new(Limits::default());
//! let mut events = Vec::new();
//! let open = Command { account: 7, request_id: 1, kind: CommandKind::OpenAccount };
//! process(&mut state, &open, 1_000, &mut events);
//! assert_eq!(events[0], Event::AccountOpened { account: 7 });
//! assert!(matches!(events[1], Event::Accepted { account: 7, request_id: 1 }));
//! assert!(state.account(7).is_some());
//! ```

#![warn(missing_docs)]

pub mod core;
pub mod model;
pub mod record;
pub mod registry;
pub mod rng;
pub mod state;

pub use crate::core::{apply, process, process_step, process_to_vec, Step};
pub use model::*;
pub use registry::{Registry, UnknownName};
pub use state::{Limits, State};
