//! Keel workloads and benchmark harnesses.
//!
//! - [`workload::synthetic`]: exchange-core style seeded generator.
//! - [`workload::lobster`]: LOBSTER (NASDAQ) message files replayed as Keel commands.
//! - [`harness`]: the open-loop latency harness and its floor.

pub mod harness;
pub mod workload;
