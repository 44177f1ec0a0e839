//! The latency harness behind `cargo run --release -p benches --bin latency`:
//! an open-loop, coordinated-omission-free load generator ([`run`]), the null
//! loop that measures the floor ([`null`]), the config ([`config`]) and the
//! report writers ([`report`]).

pub mod config;
pub mod nats;
pub mod null;
pub mod report;
pub mod run;
