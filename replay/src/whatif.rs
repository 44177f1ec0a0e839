//! `replay what-if DIR (--drop SEQ | --insert-before SEQ --command JSON |
//! --replace SEQ --command JSON) [--corrections FILE]`.
//!
//! Re-executes the alternative history in memory (the journal is untouched):
//! every journaled command is processed again from genesis at its journaled
//! timestamp, with the change applied, next to the real history (the
//! journaled events applied). Reports the first journaled record whose
//! outcome differs, how many differ, and the end-state difference per
//! account and asset.
//!
//! `--corrections FILE` writes `keel run` JSON lines that, processed after
//! the real history, move every account's **available** balances to the
//! alternative's: an `open_account` for each account only the alternative
//! has, then a `withdraw` wherever the alternative has less, then a
//! `deposit` wherever it has more (withdrawals first, so that a deposit
//! never meets a supply that a later withdrawal would have made room in);
//! request ids continue from each account's last one, at the last journaled
//! timestamp. They are checked on a copy of the real end state first; if
//! one cannot apply (the final supply does not fit in 64 bits, an account
//! has used up its request ids) the report says which and why, nothing is
//! written and the exit status is [`CORRECTIONS_CANNOT_APPLY`]. Not
//! reconciled: **held** balances (they belong to open orders, which differ
//! between the histories: cancel or re-place those orders instead), the
//! order books themselves, request ids, and assets that exist in only one
//! history.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

use keel_edge::json_out::{command_json, event_json};
use keel_edge::parse_command_line;
use keel_engine::model::{AccountId, Command, CommandKind, Event, RejectReason, MAX_REQUEST_ID};
use keel_engine::Registry;
use keel_engine::{apply, process, process_step, Limits, State};

use crate::cli::WhatIfArgs;
use crate::progress::Progress;
use crate::render::{kv_text, signed_amount, table};
use crate::source::{beyond_end, Records};
use crate::Failure;

#[derive(Clone, Debug)]
pub enum Change {
    Drop(u64),
    InsertBefore(u64, String),
    Replace(u64, String),
}

impl Change {
    fn seq(&self) -> u64 {
        match self {
            Change::Drop(s) | Change::InsertBefore(s, _) | Change::Replace(s, _) => *s,
        }
    }
}

/// A record whose outcome differs between the histories.
#[derive(Clone, Debug)]
pub struct Divergence {
    pub seq: u64,
    pub ts: u64,
    pub command: Command,
    pub real: Vec<Event>,
    pub alt: Vec<Event>,
}

/// Both histories' end states and where they part.
pub struct Outcome {
    /// The change, described (`drop sequence 5: deposit ...`).
    pub change: String,
    /// The original command at the changed sequence (none for an insert).
    pub original: Option<(Command, Vec<Event>)>,
    /// The inserted or replacing command and its alternative events.
    pub new_command: Option<(Command, u64, Vec<Event>)>,
    pub first_divergence: Option<Divergence>,
    pub differing: u64,
    pub records: u64,
    pub last_ts: u64,
    pub real: State,
    pub alt: State,
}

/// Balances by (account, asset name): names, because the two histories may
/// number assets differently.
pub fn named_balances(state: &State) -> BTreeMap<(AccountId, String), (u64, u64)> {
    let mut m = BTreeMap::new();
    for (id, acc) in state.accounts() {
        for (i, asset) in state.assets().iter().enumerate() {
            let b = acc.balance(i as u32);
            m.insert((id, asset.name.to_string()), (b.available, b.held));
        }
    }
    m
}

pub fn what_if(dir: &Path, limits: Limits, change: &Change) -> Result<Outcome, Failure> {
    let target = change.seq();
    if target == 0 {
        return Err(Failure::input("sequences start at 1"));
    }
    if let Change::InsertBefore(_, json) | Change::Replace(_, json) = change {
        serde_json::from_str::<serde_json::Value>(json)
            .map_err(|e| Failure::input(format!("--command is not valid JSON: {e}")))?;
    }
    let mut records = Records::open(dir, 1)?;
    let mut real = State::new(limits);
    let mut alt = State::new(limits);
    let mut alt_events: Vec<Event> = Vec::with_capacity(256);
    let mut outcome_change = String::new();
    let mut original = None;
    let mut new_command = None;
    let mut first: Option<Divergence> = None;
    let (mut differing, mut n, mut last_ts) = (0u64, 0u64, 0u64);
    let mut progress = Progress::new("what-if", None);
    let internal = |seq: u64, e: keel_engine::state::ApplyError| {
        Failure::check(format!(
            "alternative history: processing sequence {seq} breaks an internal invariant: {e}"
        ))
    };
    while let Some(rec) = records.next_record()? {
        n += 1;
        progress.tick(n);
        let journaled = records.events();
        let mut skip_original = false;
        if rec.seq == target {
            let describe = |r: &Registry, c: &Command| {
                format!(
                    "{} account={} request_id={} {}",
                    c.kind.name(),
                    c.account,
                    c.request_id,
                    kv_text(&command_json(r, c), &["account", "request_id"])
                )
                .trim_end()
                .to_string()
            };
            let reg = Registry::from_state(&alt);
            original = Some((rec.command, journaled.to_vec()));
            match change {
                Change::Drop(_) => {
                    outcome_change = format!(
                        "drop sequence {}: {}",
                        rec.seq,
                        describe(&reg, &rec.command)
                    );
                    skip_original = true;
                }
                Change::InsertBefore(_, json) | Change::Replace(_, json) => {
                    let parsed = parse_command_line(json, &reg)
                        .map_err(|e| Failure::input(format!("--command: {e}")))?;
                    let ts = parsed.ts.unwrap_or(rec.ts).max(last_ts);
                    process(&mut alt, &parsed.command, ts, &mut alt_events)
                        .map_err(|e| internal(rec.seq, e))?;
                    let reg_after = Registry::from_state(&alt);
                    let verb = if matches!(change, Change::Replace(..)) {
                        skip_original = true;
                        format!(
                            "replace sequence {} ({}) with",
                            rec.seq,
                            describe(&reg, &rec.command)
                        )
                    } else {
                        original = None;
                        format!("insert before sequence {}:", rec.seq)
                    };
                    outcome_change = format!(
                        "{verb} {} at ts {ts}",
                        describe(&reg_after, &parsed.command)
                    );
                    new_command = Some((parsed.command, ts, alt_events.clone()));
                }
            }
        }
        for event in journaled {
            apply(&mut real, event).map_err(|e| {
                Failure::check(format!(
                    "record {}: journaled event {} does not apply to the rebuilt state: {e}",
                    rec.seq,
                    event.name()
                ))
            })?;
        }
        last_ts = rec.ts;
        if skip_original {
            continue;
        }
        // One record, one step: the journal's own continuation records
        // follow and are re-executed in turn.
        alt_events.clear();
        let _ = process_step(&mut alt, &rec.command, rec.ts, &mut alt_events)
            .map_err(|e| internal(rec.seq, e))?;
        if alt_events.as_slice() != journaled {
            differing += 1;
            if first.is_none() {
                first = Some(Divergence {
                    seq: rec.seq,
                    ts: rec.ts,
                    command: rec.command,
                    real: journaled.to_vec(),
                    alt: alt_events.clone(),
                });
            }
        }
    }
    progress.finish();
    if n < target {
        return Err(beyond_end(target, n));
    }
    Ok(Outcome {
        change: outcome_change,
        original,
        new_command,
        first_divergence: first,
        differing,
        records: n,
        last_ts,
        real,
        alt,
    })
}

/// Exit status of `what-if --corrections` when the corrections cannot apply
/// (the report is still printed; the corrections file is not written).
pub const CORRECTIONS_CANNOT_APPLY: u8 = 3;

/// The correcting commands and what they leave alone.
#[derive(Clone, Debug, Default)]
pub struct Corrections {
    /// In processing order, each with its timestamp.
    pub commands: Vec<(Command, u64)>,
    /// What is not reconciled (held balances, assets in one history only).
    pub notes: Vec<String>,
}

/// Why the corrections do not give the alternative's available balances.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CorrectionError {
    /// The engine rejects a correction.
    #[error("correction {line} of {total} ({command}) cannot apply: rejected {code}: {why}")]
    Rejected {
        /// 1-based line in the corrections file.
        line: usize,
        total: usize,
        /// The command as its `keel run` JSON line.
        command: String,
        /// The reject reason's code (`overflow`, `request_id_out_of_range`, ...).
        code: &'static str,
        /// What the rejection means for the corrections.
        why: String,
    },
    /// Processing a correction broke an internal invariant.
    #[error("correction {line} of {total} ({command}) breaks an internal invariant: {message}")]
    Invariant {
        line: usize,
        total: usize,
        command: String,
        message: String,
    },
    /// Every correction applied, yet a balance differs (a bug in this tool).
    #[error("internal error: after the corrections account {account} {asset} has {got} minor units available where the alternative has {want}; please report it")]
    Mismatch {
        account: AccountId,
        asset: String,
        got: u64,
        want: u64,
    },
}

/// The correcting commands (see the module docs), in an order in which they
/// apply whenever the alternative's available balances are reachable from
/// the real end state: first an `open_account` for each account only the
/// alternative has, then every `withdraw`, then every `deposit` (each in
/// account, then asset order). Withdrawals only ever take what is available,
/// and with them first an asset's supply moves monotonically from the real
/// one down and then up to the final one, so no deposit overflows unless
/// the final supply itself (the alternative's available plus the real held
/// balances) does not fit. Request ids continue from each account's last
/// accepted one in that order.
pub fn corrections(o: &Outcome) -> Corrections {
    let real = named_balances(&o.real);
    let alt = named_balances(&o.alt);
    let keys: BTreeSet<_> = real.keys().chain(alt.keys()).cloned().collect();
    let reg = Registry::from_state(&o.real);
    let alt_reg = Registry::from_state(&o.alt);
    let mut next: BTreeMap<AccountId, u64> = BTreeMap::new();
    let mut opens = Vec::new();
    let mut withdrawals = Vec::new();
    let mut deposits = Vec::new();
    let mut notes = Vec::new();
    for (id, _) in o.alt.accounts() {
        if o.real.account(id).is_none() {
            opens.push(Command {
                account: id,
                request_id: 1,
                kind: CommandKind::OpenAccount,
            });
            next.insert(id, 2);
        }
    }
    for (account, asset_name) in keys {
        let (ra, rh) = real
            .get(&(account, asset_name.clone()))
            .copied()
            .unwrap_or_default();
        let (aa, ah) = alt
            .get(&(account, asset_name.clone()))
            .copied()
            .unwrap_or_default();
        if rh != ah {
            notes.push(format!(
                "account {account} {asset_name}: held differs (real {rh}, alternative {ah} minor units): held funds belong to open orders and are not reconciled"
            ));
        }
        if ra == aa {
            continue;
        }
        let (Some(asset), Some(_)) = (
            reg.asset_by_name(&asset_name),
            alt_reg.asset_by_name(&asset_name),
        ) else {
            let only = if reg.asset_by_name(&asset_name).is_some() {
                "real"
            } else {
                "alternative"
            };
            notes.push(format!(
                "account {account} {asset_name}: the asset exists only in the {only} history; available {ra} (real), {aa} (alternative) minor units not reconciled"
            ));
            continue;
        };
        let command = |kind| Command {
            account,
            request_id: 0,
            kind,
        };
        if aa > ra {
            deposits.push(command(CommandKind::Deposit {
                asset,
                amount: aa - ra,
            }));
        } else {
            withdrawals.push(command(CommandKind::Withdraw {
                asset,
                amount: ra - aa,
            }));
        }
    }
    let mut commands = Vec::with_capacity(opens.len() + withdrawals.len() + deposits.len());
    commands.extend(opens.into_iter().map(|c| (c, o.last_ts)));
    for mut c in withdrawals.into_iter().chain(deposits) {
        let req = next.entry(c.account).or_insert_with(|| {
            o.real
                .account(c.account)
                .map_or(0, |a| a.last_request_id)
                .saturating_add(1)
        });
        c.request_id = *req;
        *req = req.saturating_add(1);
        commands.push((c, o.last_ts));
    }
    Corrections { commands, notes }
}

/// What a rejection of a correction means for the corrections (the
/// engine's own message where there is nothing more to say).
fn rejection_why(reason: &RejectReason, account: AccountId, asset: &str) -> String {
    match reason {
        RejectReason::Overflow => format!(
            "the {asset} supply would exceed {} minor units: the alternative's available balances plus the real history's held balances (which are not reconciled) do not fit; cancel open orders in the real history to release held funds, then run what-if again",
            u64::MAX
        ),
        RejectReason::RequestIdOutOfRange { .. } => format!(
            "account {account} has used request ids up to the maximum {MAX_REQUEST_ID} (2^53 - 1): the engine accepts no further command from it, so its balances cannot be corrected"
        ),
        other => other.to_string(),
    }
}

/// Processes the corrections on a copy of the real end state and checks
/// that every available balance then equals the alternative's (for assets
/// both histories have). Every correction is tried (a rejected one changes
/// nothing), so all the ones that cannot apply are named.
pub fn check_corrections(o: &Outcome, cmds: &[(Command, u64)]) -> Result<(), Vec<CorrectionError>> {
    let reg = Registry::from_state(&o.real);
    let alt_reg = Registry::from_state(&o.alt);
    let mut s = o.real.clone();
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let total = cmds.len();
    for (i, (c, ts)) in cmds.iter().enumerate() {
        let command = || command_json(&reg, c).to_string();
        if let Err(e) = process(&mut s, c, *ts, &mut out) {
            errors.push(CorrectionError::Invariant {
                line: i + 1,
                total,
                command: command(),
                message: e.to_string(),
            });
            return Err(errors);
        }
        if let Some(Event::Rejected { reason, .. }) = out.last() {
            let asset = match c.kind {
                CommandKind::Deposit { asset, .. } | CommandKind::Withdraw { asset, .. } => {
                    reg.asset_name(asset)
                }
                _ => String::new(),
            };
            errors.push(CorrectionError::Rejected {
                line: i + 1,
                total,
                command: command(),
                code: reason.code(),
                why: rejection_why(reason, c.account, &asset),
            });
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let got = named_balances(&s);
    for ((account, asset), (want, _)) in named_balances(&o.alt) {
        let have = got.get(&(account, asset.clone())).map_or(0, |b| b.0);
        if have != want
            && reg.asset_by_name(&asset).is_some()
            && alt_reg.asset_by_name(&asset).is_some()
        {
            errors.push(CorrectionError::Mismatch {
                account,
                asset,
                got: have,
                want,
            });
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// What `--corrections` did, for the report.
enum CorrectionsOutcome {
    Written {
        path: std::path::PathBuf,
        count: usize,
        notes: Vec<String>,
    },
    CannotApply {
        path: std::path::PathBuf,
        count: usize,
        notes: Vec<String>,
        errors: Vec<CorrectionError>,
    },
}

pub fn run(a: &WhatIfArgs, limits: Limits, out: &mut dyn Write) -> Result<(), Failure> {
    let change = match (a.drop, a.insert_before, a.replace, &a.command) {
        (Some(s), None, None, None) => Change::Drop(s),
        (Some(_), None, None, Some(_)) => {
            return Err(Failure::input("--drop takes no --command"))
        }
        (None, Some(s), None, Some(c)) => Change::InsertBefore(s, c.clone()),
        (None, None, Some(s), Some(c)) => Change::Replace(s, c.clone()),
        _ => {
            return Err(Failure::input(
                "give one of --drop SEQ, --insert-before SEQ --command JSON, --replace SEQ --command JSON",
            ))
        }
    };
    let o = what_if(&a.dir, limits, &change)?;
    let corrections_outcome = match &a.corrections {
        Some(path) => {
            let Corrections { commands, notes } = corrections(&o);
            match check_corrections(&o, &commands) {
                Ok(()) => {
                    let reg = Registry::from_state(&o.real);
                    let mut text = String::new();
                    for (c, ts) in &commands {
                        let mut v = command_json(&reg, c);
                        v["ts"] = (*ts).into();
                        text.push_str(&v.to_string());
                        text.push('\n');
                    }
                    std::fs::write(path, text).map_err(|e| {
                        Failure::input(format!(
                            "cannot write corrections to {}: {e} (choose a writable --corrections path)",
                            path.display()
                        ))
                    })?;
                    Some(CorrectionsOutcome::Written {
                        path: path.clone(),
                        count: commands.len(),
                        notes,
                    })
                }
                Err(errors) => Some(CorrectionsOutcome::CannotApply {
                    path: path.clone(),
                    count: commands.len(),
                    notes,
                    errors,
                }),
            }
        }
        None => None,
    };
    report(&o, corrections_outcome.as_ref(), out).map_err(Failure::output)?;
    if let Some(CorrectionsOutcome::CannotApply { path, errors, .. }) = &corrections_outcome {
        let first = errors.first().map(ToString::to_string).unwrap_or_default();
        let more = match errors.len() {
            0 | 1 => String::new(),
            n => format!(" (and {} more, listed in the report)", n - 1),
        };
        return Err(Failure {
            code: CORRECTIONS_CANNOT_APPLY,
            message: format!(
                "the corrections cannot give the alternative's available balances, so {} was not written: {first}{more}",
                path.display()
            ),
        });
    }
    Ok(())
}

fn report(
    o: &Outcome,
    corrections: Option<&CorrectionsOutcome>,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    // Render with whichever history knows more assets and symbols.
    let reg = if o.alt.assets().len() + o.alt.symbols().len()
        > o.real.assets().len() + o.real.symbols().len()
    {
        Registry::from_state(&o.alt)
    } else {
        Registry::from_state(&o.real)
    };
    let events = |out: &mut dyn Write, title: &str, list: &[Event]| -> std::io::Result<()> {
        writeln!(out, "  {title}:")?;
        if list.is_empty() {
            writeln!(out, "    (no record)")?;
        }
        for e in list {
            writeln!(
                out,
                "    {:<16} {}",
                e.name(),
                kv_text(&event_json(&reg, e), &[])
            )?;
        }
        Ok(())
    };
    writeln!(out, "what-if: {}", o.change)?;
    writeln!(
        out,
        "re-executed {} journaled records (journal untouched)",
        o.records
    )?;
    if let Some((_, ts, evs)) = &o.new_command {
        writeln!(out, "\nthe new command at ts {ts}:")?;
        events(out, "alternative events", evs)?;
    }
    if let (Some((_, evs)), true) = (&o.original, o.new_command.is_none()) {
        writeln!(out, "\nthe dropped command's journaled events:")?;
        events(out, "real", evs)?;
    }
    match &o.first_divergence {
        None => writeln!(
            out,
            "\nno divergence: every other journaled record has the same events in both histories"
        )?,
        Some(d) => {
            writeln!(
                out,
                "\nfirst divergence at sequence {} (ts {}): {} account={} request_id={} {}",
                d.seq,
                d.ts,
                d.command.kind.name(),
                d.command.account,
                d.command.request_id,
                kv_text(&command_json(&reg, &d.command), &["account", "request_id"])
            )?;
            events(out, "real (journaled)", &d.real)?;
            events(out, "alternative", &d.alt)?;
            writeln!(
                out,
                "records with a different outcome: {} of {}",
                o.differing, o.records
            )?;
        }
    }
    writeln!(out, "\nend-state difference (per account and asset):")?;
    let real = named_balances(&o.real);
    let alt = named_balances(&o.alt);
    let keys: BTreeSet<_> = real.keys().chain(alt.keys()).cloned().collect();
    let mut rows = Vec::new();
    for k in keys {
        let (ra, rh) = real.get(&k).copied().unwrap_or_default();
        let (aa, ah) = alt.get(&k).copied().unwrap_or_default();
        if (ra, rh) == (aa, ah) {
            continue;
        }
        let asset = reg.asset_by_name(&k.1).unwrap_or(u32::MAX);
        rows.push(vec![
            k.0.to_string(),
            k.1.clone(),
            reg.format_amount(asset, ra),
            reg.format_amount(asset, aa),
            signed_amount(&reg, asset, aa as i128 - ra as i128),
            reg.format_amount(asset, rh),
            reg.format_amount(asset, ah),
        ]);
    }
    if rows.is_empty() {
        writeln!(out, "  none: every balance is the same")?;
    } else {
        table(
            out,
            "  ",
            &[
                "account",
                "asset",
                "available_real",
                "available_alt",
                "change",
                "held_real",
                "held_alt",
            ],
            &rows,
        )?;
    }
    writeln!(out, "digest real        {}", o.real.digest())?;
    writeln!(out, "digest alternative {}", o.alt.digest())?;
    match corrections {
        None => {}
        Some(CorrectionsOutcome::Written { path, count, notes }) => {
            writeln!(
                out,
                "\ncorrections: wrote {count} commands to {} (checked: processed after the real history they give the alternative available balances)",
                path.display()
            )?;
            for note in notes {
                writeln!(out, "  note: {note}")?;
            }
        }
        Some(CorrectionsOutcome::CannotApply {
            path,
            count,
            notes,
            errors,
        }) => {
            writeln!(
                out,
                "\ncorrections: CANNOT APPLY: of {count} commands, processed after the real history, these fail (nothing written to {}):",
                path.display()
            )?;
            for e in errors {
                writeln!(out, "  {e}")?;
            }
            for note in notes {
                writeln!(out, "  note: {note}")?;
            }
        }
    }
    Ok(())
}
