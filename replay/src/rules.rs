//! Known changes of the core's decision rules, for the determinism audit.
//!
//! `replay verify` re-executes every command with this build's rules. A
//! journal written by an earlier build may hold records that build decided
//! differently, on purpose: the rules were corrected since. Those records
//! still *replay* (replay applies journaled events and never re-decides);
//! only their re-execution differs. [`classify`] names such a divergence so
//! the audit can report it as a rules change rather than as corruption or a
//! nondeterminism bug. Every change here is listed in the README (`replay
//! verify`, "Rules changes").

use keel_core::model::{CommandKind, Event, MarketBound, OrderType, RejectReason, MAX_REQUEST_ID};
use keel_core::Command;

/// A rules change a divergence is explained by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RulesChange {
    /// Rules 2: a budget market buy retakes the same maker while the rest of
    /// its budget affords a lot (before: it moved on, or stopped).
    BudgetWalk,
    /// Rules 2: `level_capacity` is decided after matching, on the state the
    /// order leaves (before: before matching, counting no level as freed).
    LevelCapacity,
    /// Rules 2: `open_account` with a repeated request id is `duplicate`
    /// (before: `account_exists`).
    OpenAccountDuplicate,
    /// Rules 2: request ids above 2^53 − 1 are rejected
    /// (`request_id_out_of_range`; before: accepted).
    RequestIdRange,
}

impl RulesChange {
    /// One line for the audit's report.
    pub fn describe(self) -> &'static str {
        match self {
            RulesChange::BudgetWalk => {
                "budget market buys now retake the same maker while the rest of the budget affords a lot (rules 2)"
            }
            RulesChange::LevelCapacity => {
                "level_capacity is now decided after matching, on the state the order leaves (rules 2)"
            }
            RulesChange::OpenAccountDuplicate => {
                "open_account with a repeated request id is now `duplicate`, checked before `account_exists` (rules 2)"
            }
            RulesChange::RequestIdRange => {
                "request ids above 2^53 - 1 are now rejected as `request_id_out_of_range` (rules 2)"
            }
        }
    }
}

fn rejected_with(events: &[Event], pred: impl Fn(&RejectReason) -> bool) -> bool {
    events
        .iter()
        .any(|e| matches!(e, Event::Rejected { reason, .. } if pred(reason)))
}

/// The rules change that explains why re-executing `command` gave `got`
/// where the journal holds `expected`, if one does. Only the command kinds
/// and outcomes a change touched qualify; anything else stays a divergence.
pub fn classify(command: &Command, expected: &[Event], got: &[Event]) -> Option<RulesChange> {
    let either = |pred: &dyn Fn(&RejectReason) -> bool| {
        rejected_with(expected, pred) || rejected_with(got, pred)
    };
    if command.request_id > MAX_REQUEST_ID
        && either(&|r| matches!(r, RejectReason::RequestIdOutOfRange { .. }))
    {
        return Some(RulesChange::RequestIdRange);
    }
    match command.kind {
        CommandKind::OpenAccount
            if either(&|r| matches!(r, RejectReason::AccountExists { .. }))
                && either(&|r| matches!(r, RejectReason::Duplicate { .. })) =>
        {
            Some(RulesChange::OpenAccountDuplicate)
        }
        CommandKind::PlaceOrder(ref p)
            if matches!(
                p.order_type,
                OrderType::Market {
                    bound: MarketBound::QuoteBudget { .. }
                }
            ) =>
        {
            Some(RulesChange::BudgetWalk)
        }
        CommandKind::PlaceOrder(_) | CommandKind::AmendOrder { .. }
            if either(&|r| matches!(r, RejectReason::LevelCapacity { .. })) =>
        {
            Some(RulesChange::LevelCapacity)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reject(reason: RejectReason) -> Vec<Event> {
        vec![Event::Rejected {
            account: 1,
            request_id: 5,
            reason,
        }]
    }

    #[test]
    fn names_only_the_changed_rules() {
        let open = Command::new(1, 5, CommandKind::OpenAccount);
        assert_eq!(
            classify(
                &open,
                &reject(RejectReason::AccountExists { account: 1 }),
                &reject(RejectReason::Duplicate { last_request_id: 5 })
            ),
            Some(RulesChange::OpenAccountDuplicate)
        );
        // Another divergence of the same command is not explained.
        assert_eq!(
            classify(
                &open,
                &reject(RejectReason::AccountExists { account: 1 }),
                &reject(RejectReason::AccountLimit {
                    account: 1,
                    max_accounts: 1
                })
            ),
            None
        );
        let deposit = Command::new(
            1,
            5,
            CommandKind::Deposit {
                asset: 0,
                amount: 1,
            },
        );
        assert_eq!(
            classify(&deposit, &[], &reject(RejectReason::ZeroValue)),
            None
        );
        let big = Command::new(
            1,
            u64::MAX,
            CommandKind::Deposit {
                asset: 0,
                amount: 1,
            },
        );
        assert_eq!(
            classify(
                &big,
                &[],
                &reject(RejectReason::RequestIdOutOfRange {
                    request_id: u64::MAX
                })
            ),
            Some(RulesChange::RequestIdRange)
        );
    }
}
