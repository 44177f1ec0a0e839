//! Keel journal.
