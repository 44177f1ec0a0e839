//! The edge: JSON lines in and out, names instead of ids, decimal strings
//! instead of integers. `rust_decimal` lives here and in `config`, never in
//! the core.

pub mod json_in;
pub mod json_out;
pub mod registry;
pub mod units;

pub use json_in::{parse_command_line, ParsedCommand};
pub use json_out::{event_json, output_json};
pub use registry::Registry;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum EdgeError {
    #[error("invalid JSON command: {0}")]
    Json(String),
    #[error("`{field}` = {value:?}: {why}")]
    BadValue {
        field: &'static str,
        value: String,
        why: String,
    },
    #[error("unknown {what} {name:?} (known: {known})")]
    UnknownName {
        what: &'static str,
        name: String,
        known: String,
    },
    #[error("`{field}`: {why}")]
    Missing {
        field: &'static str,
        why: &'static str,
    },
}
