//! The `keel` command's library side: the seeded demo flow, shared by
//! `keel demo` and the benches' JSON-lines generator
//! (`cargo run --release -p benches --bin json_lines`).

pub mod generator;
