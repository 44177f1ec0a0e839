//! `replay dump DIR`: records as aligned text or JSON lines.

use keel_engine::model::Trade;
use std::collections::HashMap;
use std::io::Write;

use keel_edge::json_out::{command_json, event_json, output_json};
use keel_engine::model::{AccountId, Command, CommandKind, Event, OrderId, SymbolId};
use keel_engine::Registry;

use crate::cli::{DumpArgs, Format};
use crate::progress::Progress;
use crate::render::kv_text;
use crate::source::{beyond_end, Records};
use crate::Failure;

/// Which account and symbol each order belongs to (learned from
/// `OrderAccepted`), to attribute events that name only the order.
#[derive(Default)]
pub struct Orders(HashMap<OrderId, (AccountId, SymbolId)>);

impl Orders {
    pub fn learn(&mut self, events: &[Event]) {
        for e in events {
            if let Event::OrderAccepted {
                order,
                account,
                symbol,
                ..
            } = *e
            {
                self.0.insert(order, (account, symbol));
            }
        }
    }

    fn account(&self, order: OrderId) -> Option<AccountId> {
        self.0.get(&order).map(|o| o.0)
    }

    fn symbol(&self, order: OrderId) -> Option<SymbolId> {
        self.0.get(&order).map(|o| o.1)
    }
}

/// Whether the record is about account `a`: its command is by `a` (this
/// includes the engine's continuation records: `expire_due` is account 0's,
/// `cancel_all_continued` the mass-cancelling account's), or is a transfer
/// to `a` (even a rejected one), or an event names `a` (`accepted`,
/// `rejected`, `account_opened`, `deposited`, `withdrawn`, `order_accepted`,
/// `order_cancelled` by its `account`, `transferred` by `from` or `to`,
/// `trade_executed` by maker or taker), or an event is about an order of
/// `a` (`order_rested`, `order_amended`), or, for account 0 (the operator,
/// which collects fees), a `trade_executed` has a non-zero fee.
pub fn mentions_account(a: AccountId, cmd: &Command, events: &[Event], orders: &Orders) -> bool {
    if cmd.account == a {
        return true;
    }
    if let CommandKind::Transfer { to, .. } = cmd.kind {
        if to == a {
            return true;
        }
    }
    events.iter().any(|e| match *e {
        Event::Accepted { account, .. }
        | Event::Rejected { account, .. }
        | Event::AccountOpened { account }
        | Event::Deposited { account, .. }
        | Event::Withdrawn { account, .. }
        | Event::OrderAccepted { account, .. }
        | Event::OrderCancelled { account, .. } => account == a,
        Event::Transferred { from, to, .. } => from == a || to == a,
        Event::TradeExecuted(Trade {
            maker_account,
            taker_account,
            maker_fee,
            taker_fee,
            ..
        }) => {
            maker_account == a
                || taker_account == a
                || (a == keel_engine::model::OPERATOR && (maker_fee > 0 || taker_fee > 0))
        }
        Event::OrderRested { order } | Event::OrderAmended { order, .. } => {
            orders.account(order) == Some(a)
        }
        Event::AssetAdded { .. }
        | Event::SymbolAdded { .. }
        | Event::SymbolHalted { .. }
        | Event::SymbolResumed { .. } => false,
    })
}

/// Whether the command or any event is about the symbol named `name`
/// (`id`: its id once known).
pub fn mentions_symbol(
    name: &str,
    id: Option<SymbolId>,
    cmd: &Command,
    events: &[Event],
    orders: &Orders,
) -> bool {
    let is = |s: Option<SymbolId>| s.is_some() && s == id;
    let by_command = match cmd.kind {
        CommandKind::PlaceOrder(p) => is(Some(p.symbol)),
        CommandKind::CancelAll { symbol } => is(symbol),
        CommandKind::HaltSymbol { symbol } | CommandKind::ResumeSymbol { symbol } => {
            is(Some(symbol))
        }
        CommandKind::AddSymbol(spec) => spec.name.as_str() == name,
        CommandKind::CancelOrder { order } | CommandKind::AmendOrder { order, .. } => {
            is(orders.symbol(order))
        }
        _ => false,
    };
    by_command
        || events.iter().any(|e| match *e {
            Event::SymbolAdded { spec, .. } => spec.name.as_str() == name,
            Event::SymbolHalted { symbol }
            | Event::SymbolResumed { symbol }
            | Event::OrderAccepted { symbol, .. }
            | Event::TradeExecuted(Trade { symbol, .. }) => is(Some(symbol)),
            Event::OrderRested { order }
            | Event::OrderAmended { order, .. }
            | Event::OrderCancelled { order, .. } => is(orders.symbol(order)),
            _ => false,
        })
}

pub fn run(a: &DumpArgs, out: &mut dyn Write) -> Result<(), Failure> {
    if let (Some(f), Some(t)) = (a.from, a.to) {
        if f > t {
            return Err(Failure::input(format!("--from {f} is after --to {t}")));
        }
    }
    let mut records = Records::open(&a.dir, 1)?;
    let mut registry = Registry::default();
    let mut orders = Orders::default();
    let filtering = a.account.is_some() || a.symbol.is_some();
    let mut symbol_id: Option<SymbolId> = None;
    let from = a.from.unwrap_or(1);
    let mut last = 0u64;
    let mut progress = Progress::new("dump", None);
    if a.format == Format::Text {
        writeln!(
            out,
            "{:>10}  {:>20}  {:<14}  {:>7}  {:>7}  fields / events",
            "seq", "ts_ns", "command", "account", "request"
        )
        .map_err(Failure::output)?;
    }
    while a.to.is_none_or(|t| last < t) {
        let Some(rec) = records.next_record()? else {
            break;
        };
        last = rec.seq;
        progress.tick(rec.seq);
        let events = records.events();
        for e in events {
            registry.learn(e);
        }
        if filtering {
            orders.learn(events);
        }
        if rec.seq < from {
            continue;
        }
        if let Some(acc) = a.account {
            if !mentions_account(acc, &rec.command, events, &orders) {
                continue;
            }
        }
        if let Some(name) = &a.symbol {
            if symbol_id.is_none() {
                symbol_id = registry.symbol_by_name(name);
            }
            if !mentions_symbol(name, symbol_id, &rec.command, events, &orders) {
                continue;
            }
        }
        match a.format {
            Format::Json => {
                let mut v = output_json(&registry, rec.seq, rec.ts, &rec.command, events);
                v["intent"] = command_json(&registry, &rec.command);
                writeln!(out, "{v}")
            }
            Format::Text => write_text(out, &registry, rec.seq, rec.ts, &rec.command, events),
        }
        .map_err(Failure::output)?;
    }
    progress.finish();
    if let Some(t) = a.from.max(a.to) {
        if last < t {
            return Err(beyond_end(t, last));
        }
    }
    if let Some(name) = &a.symbol {
        if registry.symbol_by_name(name).is_none() {
            return Err(Failure::input(format!(
                "unknown symbol {name:?} (the journal has: {})",
                (0..)
                    .map_while(|i| registry.symbol_spec(i).map(|s| s.name.to_string()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    Ok(())
}

pub fn write_text(
    out: &mut dyn Write,
    r: &Registry,
    seq: u64,
    ts: u64,
    cmd: &Command,
    events: &[Event],
) -> std::io::Result<()> {
    let intent = command_json(r, cmd);
    writeln!(
        out,
        "{seq:>10}  {ts:>20}  {:<14}  {:>7}  {:>7}  {}",
        cmd.kind.name(),
        cmd.account,
        cmd.request_id,
        kv_text(&intent, &["account", "request_id"])
    )?;
    for e in events {
        writeln!(
            out,
            "{:>60}  {:<16} {}",
            "->",
            e.name(),
            kv_text(&event_json(r, e), &[])
        )?;
    }
    Ok(())
}
