//! Keel workloads and benchmark harnesses.
