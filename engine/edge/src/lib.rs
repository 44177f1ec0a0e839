//! Keel's text edge: JSON command lines in, JSON event lines out, and config
//! files in TOML. Names instead of ids, decimal strings instead of integers.
//!
//! The edge never runs the loop or touches the journal (that is
//! `keel-engine`'s), never decides anything (that is `keel-core`'s), and
//! never predicts an id: names are resolved against a
//! [`Registry`] built from committed state and events. It must never depend
//! on a CLI crate.
//!
//! ```
//! use keel_edge::{config_from_toml, output_json, parse_command_line};
//! use keel_engine::Registry;
//!
//! let config = config_from_toml(
//!     "[journal]\ntemporary = true\n[[assets]]\nname = \"USD\"\nscale = 2\n",
//!     "inline.toml",
//! )?;
//! let (mut state, mut names) = (keel_engine::State::new(config.limits()), Registry::default());
//! for cmd in config.genesis_commands()? {
//!     for event in keel_engine::process_to_vec(&mut state, &cmd, 0)? {
//!         names.learn(&event); // names come from committed events only
//!     }
//! }
//! let open = parse_command_line(r#"{"type":"open_account","account":1,"request_id":1}"#, &names)?;
//! keel_engine::process_to_vec(&mut state, &open.command, 0)?;
//! let deposit = parse_command_line(
//!     r#"{"type":"deposit","account":1,"request_id":2,"asset":"USD","amount":"12.5"}"#,
//!     &names,
//! )?;
//! let events = keel_engine::process_to_vec(&mut state, &deposit.command, 0)?;
//! let line = output_json(&names, 3, 0, &deposit.command, &events);
//! assert_eq!(line["events"][1]["type"], "deposited"); // after "accepted"
//! assert_eq!(line["events"][1]["amount"], "12.50");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

pub mod config_file;
pub mod json_in;
pub mod json_out;

pub use config_file::{config_from_toml, load_config, load_config_with_extras};
pub use json_in::fast::{Tag, MAX_TAG_BYTES};
pub use json_in::{
    parse_command_bytes, parse_command_line, parse_command_value, parse_session_line, strict_value,
    ParsedCommand, SessionCommand,
};
pub use json_out::{event_json, output_json, OutputWriter};
pub use keel_engine::units::UnitError;
pub use keel_engine::{Registry, UnknownName};

/// A JSON command line that cannot become a command.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EdgeError {
    /// Not JSON, not an object, or not a known command shape.
    #[error("invalid JSON command: {0}")]
    Json(String),
    /// A key that appears twice in one object (`object` is its path, `$`
    /// for the line's top level): the line is refused, never "last wins".
    #[error("invalid JSON command: duplicate key `{key}` in `{object}`: each key may appear once")]
    DuplicateKey {
        /// The repeated key.
        key: String,
        /// The object holding it, as a path from the line (`$`, `$.a`).
        object: String,
    },
    /// The line is not valid UTF-8.
    #[error("invalid JSON command: not valid UTF-8 (the first {valid_up_to} bytes are)")]
    InvalidUtf8 {
        /// How many bytes from the start of the line are valid UTF-8.
        valid_up_to: usize,
    },
    /// A value that does not convert.
    #[error("`{field}` = {value:?}: {why}")]
    BadValue {
        /// The JSON field.
        field: &'static str,
        /// The text given.
        value: String,
        /// Why, naming the unit.
        why: String,
    },
    /// An asset or symbol name not (yet) committed.
    #[error("unknown {what} {name:?} (known: {known})")]
    UnknownName {
        /// `"asset"` or `"symbol"`.
        what: &'static str,
        /// The name given.
        name: String,
        /// The known names.
        known: String,
    },
    /// A field missing, or present where it does not belong.
    #[error("`{field}`: {why}")]
    Missing {
        /// The JSON field.
        field: &'static str,
        /// What is wrong.
        why: &'static str,
    },
}

impl From<UnknownName> for EdgeError {
    fn from(e: UnknownName) -> EdgeError {
        EdgeError::UnknownName {
            what: e.what,
            name: e.name,
            known: e.known,
        }
    }
}

impl From<UnitError> for EdgeError {
    fn from(e: UnitError) -> EdgeError {
        match e {
            UnitError::BadValue { field, value, why } => EdgeError::BadValue { field, value, why },
            UnitError::UnknownName(n) => n.into(),
            other => EdgeError::Json(other.to_string()),
        }
    }
}
