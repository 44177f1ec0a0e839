//! Keel workloads and benchmark harnesses.
//!
//! - [`workload::synthetic`]: exchange-core style seeded generator.

pub mod rng;
pub mod workload;
