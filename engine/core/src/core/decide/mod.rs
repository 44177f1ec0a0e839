//! `decide`: turns one command into events, reading the state only. Every
//! check runs before any event is kept, so a rejection changes nothing (no
//! rollback is ever needed).

mod admin;
mod funds;
mod orders;

use crate::model::{Command, CommandKind, Event, RejectReason, OPERATOR};
use crate::state::State;

/// Pushes the events of `cmd` decided at `now_ns` onto `out`: either
/// `Rejected`, or `Accepted` followed by the facts.
pub fn decide(state: &State, cmd: &Command, now_ns: u64, out: &mut Vec<Event>) {
    let start = out.len();
    if let Err(reason) = decide_inner(state, cmd, now_ns, out) {
        out.truncate(start);
        out.push(Event::Rejected {
            account: cmd.account,
            request_id: cmd.request_id,
            reason,
        });
    }
}

fn decide_inner(
    state: &State,
    cmd: &Command,
    now_ns: u64,
    out: &mut Vec<Event>,
) -> Result<(), RejectReason> {
    let accepted = Event::Accepted {
        account: cmd.account,
        request_id: cmd.request_id,
    };
    if let CommandKind::OpenAccount = cmd.kind {
        funds::open_account(state, cmd, out)?;
        out.push(accepted);
        return Ok(());
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
    match cmd.kind {
        CommandKind::OpenAccount => unreachable!("handled above"),
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
        CommandKind::CancelAll { symbol } => orders::cancel_all(state, cmd.account, symbol, out),
        CommandKind::AddAsset { name, scale } => admin::add_asset(state, name, scale, out),
        CommandKind::AddSymbol(ref spec) => admin::add_symbol(state, spec, out),
        CommandKind::HaltSymbol { symbol } => admin::halt(state, symbol, true, out),
        CommandKind::ResumeSymbol { symbol } => admin::halt(state, symbol, false, out),
    }
}
