//! Code shared by the integration tests and the peers bench.

pub mod peers;
