//! `process`: expire what is due, decide the command, apply its events.

use crate::model::{CancelReason, Command, Event};
use crate::state::{ApplyError, State};

use super::apply::apply;
use super::decide::decide;

/// Processes one command at `now_ns` (its journaled timestamp): first every
/// GTD order with expiry ≤ `now_ns` expires, soonest first, then the command
/// is decided and its events applied. The events are appended to `out`
/// (cleared first) and the state is mutated through `apply` only, so applying
/// `out` to the previous state reproduces the new one exactly.
///
/// An error means a broken internal invariant, never bad input: bad input is
/// a `Rejected` event.
pub fn process(
    state: &mut State,
    cmd: &Command,
    now_ns: u64,
    out: &mut Vec<Event>,
) -> Result<(), ApplyError> {
    out.clear();
    expire(state, now_ns, out)?;
    let start = out.len();
    decide(state, cmd, now_ns, out);
    for event in &out[start..] {
        apply(state, event)?;
    }
    Ok(())
}

/// Expires every GTD order due at `now_ns`, pushing and applying the cancels.
pub fn expire(state: &mut State, now_ns: u64, out: &mut Vec<Event>) -> Result<(), ApplyError> {
    while let Some(order) = state.expiries.next_due(now_ns) {
        let o = state
            .order(order)
            .ok_or(ApplyError::UnknownOrder { order })?;
        let event = Event::OrderCancelled {
            order,
            account: o.account,
            remaining: o.remaining,
            reason: CancelReason::Expired,
        };
        apply(state, &event)?;
        out.push(event);
    }
    Ok(())
}

/// Processes a command into a fresh vector (convenience for tests and tools;
/// the loop reuses one buffer instead).
pub fn process_to_vec(
    state: &mut State,
    cmd: &Command,
    now_ns: u64,
) -> Result<Vec<Event>, ApplyError> {
    let mut out = Vec::new();
    process(state, cmd, now_ns, &mut out)?;
    Ok(out)
}
