//! The deterministic core: `process` decides and applies, `apply` replays.
//! No I/O, no threads, no clock: time is the command's timestamp.

pub mod apply;
pub mod decide;
pub mod matching;
pub mod process;
pub mod symbol_spec;

pub use apply::apply;
pub use process::{expire, process, process_step, process_to_vec, Step};
