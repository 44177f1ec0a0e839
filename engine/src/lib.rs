//! Keel engine.
