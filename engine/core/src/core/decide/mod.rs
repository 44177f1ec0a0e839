//! `decide`: turns one command into events, reading the state only. Every
//! check runs before any event is kept, so a rejection changes nothing (no
//! rollback is ever needed).

mod admin;
mod funds;
mod orders;

use crate::model::{Command, CommandKind, Event, RejectReason, MAX_REQUEST_ID, OPERATOR};
use crate::state::State;

/// Pushes the events of `cmd` decided at `now_ns` onto `out`: either
/// `Rejected`, or `Accepted` followed by the facts (a continuation command
/// has only the facts). Returns the continuation to process next, at the
/// same timestamp, when the work does not fit one record.
pub fn decide(state: &State, cmd: &Command, now_ns: u64, out: &mut Vec<Event>) -> Option<Command> {
    let start = out.len();
    match decide_inner(state, cmd, now_ns, out) {
        Ok(More::Done) => None,
        Ok(More::CancelAll { symbol }) => Some(Command::new(
            cmd.account,
            0,
            CommandKind::CancelAllContinued { symbol },
        )),
        Err(reason) => {
            out.truncate(start);
            out.push(Event::Rejected {
                account: cmd.account,
                request_id: cmd.request_id,
                reason,
            });
            None
        }
    }
}

/// What follows a decided command: small, so the common case copies no
/// command.
enum More {
    Done,
    /// The account's mass cancel continues (more orders than one record).
    CancelAll {
        symbol: Option<u32>,
    },
}

/// The continuation of a mass cancel, if `more` orders remain.
fn continue_cancel_all(symbol: Option<u32>, more: bool) -> More {
    if more {
        More::CancelAll { symbol }
    } else {
        More::Done
    }
}

/// The engine's continuation commands: request id 0, no `Accepted`.
fn decide_continuation(
    state: &State,
    cmd: &Command,
    out: &mut Vec<Event>,
) -> Result<More, RejectReason> {
    if cmd.request_id != 0 {
        return Err(RejectReason::NotAuthorized);
    }
    match cmd.kind {
        // The expiries themselves ran before decide, in `process_step`.
        CommandKind::ExpireDue if cmd.account == OPERATOR => Ok(More::Done),
        CommandKind::CancelAllContinued { symbol } => {
            state
                .account(cmd.account)
                .ok_or(RejectReason::UnknownAccount {
                    account: cmd.account,
                })?;
            let more = orders::cancel_all(state, cmd.account, symbol, out)?;
            Ok(continue_cancel_all(symbol, more))
        }
        _ => Err(RejectReason::NotAuthorized),
    }
}

fn decide_inner(
    state: &State,
    cmd: &Command,
    now_ns: u64,
    out: &mut Vec<Event>,
) -> Result<More, RejectReason> {
    if cmd.kind.is_continuation() {
        return decide_continuation(state, cmd, out);
    }
    if cmd.request_id > MAX_REQUEST_ID {
        return Err(RejectReason::RequestIdOutOfRange {
            request_id: cmd.request_id,
        });
    }
    let accepted = Event::Accepted {
        account: cmd.account,
        request_id: cmd.request_id,
    };
    if let CommandKind::OpenAccount = cmd.kind {
        funds::open_account(state, cmd, out)?;
        out.push(accepted);
        return Ok(More::Done);
    }
    let account = state
        .account(cmd.account)
        .ok_or(RejectReason::UnknownAccount {
            account: cmd.account,
        })?;
    if cmd.request_id <= account.last_request_id {
        return Err(RejectReason::Duplicate {
            last_request_id: account.last_request_id,
        });
    }
    if cmd.kind.is_admin() && cmd.account != OPERATOR {
        return Err(RejectReason::NotAuthorized);
    }
    out.push(accepted);
    if let CommandKind::CancelAll { symbol } = cmd.kind {
        let more = orders::cancel_all(state, cmd.account, symbol, out)?;
        return Ok(continue_cancel_all(symbol, more));
    }
    match cmd.kind {
        CommandKind::OpenAccount
        | CommandKind::CancelAll { .. }
        | CommandKind::ExpireDue
        | CommandKind::CancelAllContinued { .. } => unreachable!("handled above"),
        CommandKind::Deposit { asset, amount } => {
            funds::deposit(state, cmd.account, asset, amount, out)
        }
        CommandKind::Withdraw { asset, amount } => {
            funds::withdraw(state, cmd.account, asset, amount, out)
        }
        CommandKind::Transfer { to, asset, amount } => {
            funds::transfer(state, cmd.account, to, asset, amount, out)
        }
        CommandKind::PlaceOrder(ref p) => orders::place(state, cmd.account, p, now_ns, out),
        CommandKind::CancelOrder { order } => orders::cancel(state, cmd.account, order, out),
        CommandKind::AmendOrder { order, price, qty } => {
            orders::amend(state, cmd.account, order, price, qty, out)
        }
        CommandKind::AddAsset { name, scale } => admin::add_asset(state, name, scale, out),
        CommandKind::AddSymbol(ref spec) => admin::add_symbol(state, spec, out),
        CommandKind::HaltSymbol { symbol } => admin::halt(state, symbol, true, out),
        CommandKind::ResumeSymbol { symbol } => admin::halt(state, symbol, false, out),
    }
    .map(|()| More::Done)
}
