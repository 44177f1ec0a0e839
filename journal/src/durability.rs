//! Durability levels.

/// What `commit` guarantees before it returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// Records are in the page cache: they survive a process kill, not a
    /// power loss or kernel crash.
    #[default]
    None,
    /// Once per commit, before `commit` returns: `msync(MS_SYNC)` of exactly
    /// the byte range written since the last commit (a data sync of that
    /// range, as fdatasync would do for the whole file), plus an fsync of
    /// the directory after a segment roll. A failed sync puts the journal in
    /// the failed state; it is never retried.
    Batch,
}
