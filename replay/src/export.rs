//! `replay export DIR --what trades|balances|orders --format csv|jsonl`.
//!
//! - trades: every `TradeExecuted` (up to `--at`), in journal order;
//! - balances: non-zero balances per account and asset after `--at`;
//! - orders: open orders after `--at`.

use std::io::Write;

use keel_engine::model::Event;
use keel_engine::Limits;
use keel_engine::Registry;
use serde_json::Value;

use crate::cli::{ExportArgs, ExportFormat, ExportWhat};
use crate::progress::Progress;
use crate::render::csv_line;
use crate::source::{beyond_end, Records};
use crate::state::{balances, orders_json, side_name, state_at};
use crate::Failure;

const TRADE_COLUMNS: [&str; 13] = [
    "seq",
    "ts",
    "symbol",
    "maker_order",
    "taker_order",
    "maker_account",
    "taker_account",
    "taker_side",
    "price",
    "qty",
    "maker_fee",
    "taker_fee",
    "fee_asset",
];
const BALANCE_COLUMNS: [&str; 4] = ["account", "asset", "available", "held"];
const ORDER_COLUMNS: [&str; 10] = [
    "order",
    "account",
    "symbol",
    "side",
    "price",
    "remaining",
    "reserved",
    "reserved_asset",
    "tif",
    "post_only",
];

struct Sink<'a> {
    out: &'a mut dyn Write,
    format: ExportFormat,
    columns: &'a [&'a str],
}

impl Sink<'_> {
    fn header(&mut self) -> std::io::Result<()> {
        if self.format == ExportFormat::Csv {
            let cells: Vec<String> = self.columns.iter().map(|c| c.to_string()).collect();
            csv_line(self.out, &cells)?;
        }
        Ok(())
    }

    fn row(&mut self, cells: Vec<Value>) -> std::io::Result<()> {
        match self.format {
            ExportFormat::Csv => {
                let cells: Vec<String> = cells
                    .iter()
                    .map(|v| match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect();
                csv_line(self.out, &cells)
            }
            ExportFormat::Jsonl => {
                // Keys in column order, whatever serde_json's map order is.
                let fields: Vec<String> = self
                    .columns
                    .iter()
                    .zip(cells)
                    .map(|(k, v)| format!("{}:{v}", Value::from(*k)))
                    .collect();
                writeln!(self.out, "{{{}}}", fields.join(","))
            }
        }
    }
}

pub fn run(a: &ExportArgs, limits: Limits, out: &mut dyn Write) -> Result<(), Failure> {
    let w = |e| Failure::output(e);
    match a.what {
        ExportWhat::Trades => {
            let mut sink = Sink {
                out,
                format: a.format,
                columns: &TRADE_COLUMNS,
            };
            let mut records = Records::open(&a.dir, 1)?;
            let mut r = Registry::default();
            let mut progress = Progress::new("export", None);
            let mut last = 0;
            sink.header().map_err(w)?;
            while a.at.is_none_or(|t| last < t) {
                let Some(rec) = records.next_record()? else {
                    break;
                };
                last = rec.seq;
                progress.tick(last);
                for e in records.events() {
                    r.learn(e);
                    if let Event::TradeExecuted(tr) = *e {
                        let quote = r.symbol_spec(tr.symbol).map_or(u32::MAX, |s| s.quote);
                        sink.row(vec![
                            rec.seq.into(),
                            rec.ts.into(),
                            r.symbol_name(tr.symbol).into(),
                            tr.maker_order.into(),
                            tr.taker_order.into(),
                            tr.maker_account.into(),
                            tr.taker_account.into(),
                            side_name(tr.taker_side).into(),
                            r.format_price(tr.symbol, tr.price).into(),
                            r.format_qty(tr.symbol, tr.qty).into(),
                            r.format_amount(quote, tr.maker_fee).into(),
                            r.format_amount(quote, tr.taker_fee).into(),
                            r.asset_name(quote).into(),
                        ])
                        .map_err(w)?;
                    }
                }
            }
            if let Some(t) = a.at {
                if last < t {
                    return Err(beyond_end(t, last));
                }
            }
        }
        ExportWhat::Balances | ExportWhat::Orders => {
            // Rebuild first: nothing is written if the journal cannot be read.
            let rp = state_at(&a.dir, limits, a.at)?;
            let r = Registry::from_state(&rp.state);
            if a.what == ExportWhat::Balances {
                let mut sink = Sink {
                    out,
                    format: a.format,
                    columns: &BALANCE_COLUMNS,
                };
                sink.header().map_err(w)?;
                for b in balances(&rp.state, None, None) {
                    sink.row(vec![
                        b.account.into(),
                        r.asset_name(b.asset).into(),
                        r.format_amount(b.asset, b.available).into(),
                        r.format_amount(b.asset, b.held).into(),
                    ])
                    .map_err(w)?;
                }
            } else {
                let mut sink = Sink {
                    out,
                    format: a.format,
                    columns: &ORDER_COLUMNS,
                };
                sink.header().map_err(w)?;
                for o in orders_json(&rp.state, &r, None, None) {
                    sink.row(ORDER_COLUMNS.iter().map(|k| o[*k].clone()).collect())
                        .map_err(w)?;
                }
            }
        }
    }
    Ok(())
}
