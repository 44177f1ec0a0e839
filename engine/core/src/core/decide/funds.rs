//! Accounts and money movements: open, deposit, withdraw, transfer.

use crate::model::{AccountId, AssetId, Command, Event, RejectReason};
use crate::state::State;

/// Opens `cmd.account`. Checks, in order: a repeat of a request the
/// account already accepted is `duplicate` (the general rule, so a retried
/// open is answered like any retry), then `account_limit`,
/// `account_exists`, and a request id of 0 (never above the last accepted,
/// which starts at 0) is `duplicate`.
pub fn open_account(
    state: &State,
    cmd: &Command,
    out: &mut Vec<Event>,
) -> Result<(), RejectReason> {
    if let Some(existing) = state.account(cmd.account) {
        if cmd.request_id <= existing.last_request_id {
            return Err(RejectReason::Duplicate {
                last_request_id: existing.last_request_id,
            });
        }
    }
    let max_accounts = state.limits.max_accounts;
    if cmd.account >= max_accounts {
        return Err(RejectReason::AccountLimit {
            account: cmd.account,
            max_accounts,
        });
    }
    if state.account(cmd.account).is_some() {
        return Err(RejectReason::AccountExists {
            account: cmd.account,
        });
    }
    if cmd.request_id == 0 {
        return Err(RejectReason::Duplicate { last_request_id: 0 });
    }
    out.push(Event::AccountOpened {
        account: cmd.account,
    });
    Ok(())
}

fn check_amount(state: &State, asset: AssetId, amount: u64) -> Result<(), RejectReason> {
    state
        .asset(asset)
        .ok_or(RejectReason::UnknownAsset { asset })?;
    if amount == 0 {
        return Err(RejectReason::ZeroValue);
    }
    Ok(())
}

/// Rejects unless `account` has `amount` of `asset` available (not held).
pub(super) fn check_available(
    state: &State,
    account: AccountId,
    asset: AssetId,
    amount: u64,
) -> Result<(), RejectReason> {
    let available = state.balance(account, asset).map_or(0, |b| b.available);
    if available < amount {
        return Err(RejectReason::InsufficientFunds {
            asset,
            needed: amount,
            available,
        });
    }
    Ok(())
}

pub fn deposit(
    state: &State,
    account: AccountId,
    asset: AssetId,
    amount: u64,
    out: &mut Vec<Event>,
) -> Result<(), RejectReason> {
    check_amount(state, asset, amount)?;
    // Every balance is bounded by the supply, so checking the supply bounds
    // the account's balance too.
    let supply = state.asset(asset).map_or(0, |a| a.supply);
    supply.checked_add(amount).ok_or(RejectReason::Overflow)?;
    out.push(Event::Deposited {
        account,
        asset,
        amount,
    });
    Ok(())
}

pub fn withdraw(
    state: &State,
    account: AccountId,
    asset: AssetId,
    amount: u64,
    out: &mut Vec<Event>,
) -> Result<(), RejectReason> {
    check_amount(state, asset, amount)?;
    check_available(state, account, asset, amount)?;
    out.push(Event::Withdrawn {
        account,
        asset,
        amount,
    });
    Ok(())
}

pub fn transfer(
    state: &State,
    from: AccountId,
    to: AccountId,
    asset: AssetId,
    amount: u64,
    out: &mut Vec<Event>,
) -> Result<(), RejectReason> {
    if from == to {
        return Err(RejectReason::SelfTransfer);
    }
    state
        .account(to)
        .ok_or(RejectReason::UnknownAccount { account: to })?;
    check_amount(state, asset, amount)?;
    check_available(state, from, asset, amount)?;
    out.push(Event::Transferred {
        from,
        to,
        asset,
        amount,
    });
    Ok(())
}
