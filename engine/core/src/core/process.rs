//! `process`: expire what is due, decide the command, apply its events, in
//! steps that each fit one journal record.

use crate::model::{CancelReason, Command, CommandKind, Event};
use crate::state::{ApplyError, State};

use super::apply::apply;
use super::decide::decide;

/// What one [`process_step`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub struct Step {
    /// The command the step's events belong to: journal them under it. It is
    /// the command given, or [`Command::expire_due`] when the step only
    /// expired orders and deferred the command given.
    pub command: Command,
    /// What to process next, at the same timestamp and before any other
    /// command: the deferred command, or a continuation. `None`: done.
    pub next: Option<Command>,
}

/// One step of processing `cmd` at `now_ns` (its journaled timestamp): the
/// work of one journal record, bounded by the limits whatever the command.
///
/// First GTD orders with expiry ≤ `now_ns` expire, soonest first (then by
/// order id), at most `limits.max_cancels_per_record` of them. If more are
/// still due, `cmd` is deferred: the step's events are those expiries alone,
/// [`Step::command`] is [`Command::expire_due`] and [`Step::next`] is `cmd`.
/// Otherwise `cmd` is decided and its events applied; a `CancelAll` with more
/// orders than fit one record continues in [`Step::next`].
///
/// The events are appended to `out` and the state is mutated through `apply`
/// only, so applying them to the previous state reproduces the new one.
/// An error means a broken internal invariant, never bad input: bad input is
/// a `Rejected` event.
pub fn process_step(
    state: &mut State,
    cmd: &Command,
    now_ns: u64,
    out: &mut Vec<Event>,
) -> Result<Step, ApplyError> {
    Ok(match step(state, cmd, now_ns, out)? {
        Next::Done => Step {
            command: *cmd,
            next: None,
        },
        Next::Deferred => Step {
            command: Command::expire_due(),
            next: Some(*cmd),
        },
        Next::Continue(next) => Step {
            command: *cmd,
            next: Some(next),
        },
    })
}

/// What follows one step (see [`process_step`]); kept small so the common
/// case, [`Next::Done`], copies no command.
enum Next {
    /// The command is done.
    Done,
    /// Only expiries ran; the command itself comes next.
    Deferred,
    /// The command ran; its continuation comes next.
    Continue(Command),
}

#[inline(always)]
fn step(
    state: &mut State,
    cmd: &Command,
    now_ns: u64,
    out: &mut Vec<Event>,
) -> Result<Next, ApplyError> {
    // Almost always nothing is due: one comparison, no call.
    let more_due = state.expiries.next_due(now_ns).is_some() && {
        let chunk = state.limits.max_cancels_per_record;
        expire(state, now_ns, out, chunk)?
    };
    if more_due && !matches!(cmd.kind, CommandKind::ExpireDue) {
        return Ok(Next::Deferred);
    }
    let start = out.len();
    let next = decide(state, cmd, now_ns, out);
    for event in &out[start..] {
        apply(state, event)?;
    }
    Ok(match next {
        None => Next::Done,
        Some(next) => Next::Continue(next),
    })
}

/// Processes `cmd` completely at `now_ns`: every [`process_step`], with the
/// events of all its records in `out` (cleared first), in order. Same final
/// state as the loop, which journals each step as its own record.
pub fn process(
    state: &mut State,
    cmd: &Command,
    now_ns: u64,
    out: &mut Vec<Event>,
) -> Result<(), ApplyError> {
    out.clear();
    let mut next = match step(state, cmd, now_ns, out)? {
        Next::Done => return Ok(()),
        Next::Deferred => *cmd,
        Next::Continue(next) => next,
    };
    loop {
        next = match step(state, &next, now_ns, out)? {
            Next::Done => return Ok(()),
            Next::Deferred => next,
            Next::Continue(more) => more,
        };
    }
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

/// Expires GTD orders due at `now_ns`, at most `max` of them, pushing and
/// applying the cancels. Returns whether more are still due.
pub fn expire(
    state: &mut State,
    now_ns: u64,
    out: &mut Vec<Event>,
    max: u32,
) -> Result<bool, ApplyError> {
    let mut left = max;
    while let Some(order) = state.expiries.next_due(now_ns) {
        if left == 0 {
            return Ok(true);
        }
        left -= 1;
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
    Ok(false)
}
