//! `replay book DIR --symbol S [--at SEQ] [--depth N] [--format text|json]`:
//! the order book a market-data subscriber would have held at a sequence,
//! as the feed's `book` message (levels, update number, checksum). The read
//! models are rebuilt from genesis, so the update number is the feed's.

use std::io::Write;

use keel_engine::model::Side;
use keel_engine::{Limits, State};
use keel_readmodel::{Keep, ReadModels};

use crate::cli::{BookArgs, Format};
use crate::progress::Progress;
use crate::source::Records;
use crate::Failure;

pub fn run(a: &BookArgs, limits: Limits, out: &mut dyn Write) -> Result<(), Failure> {
    let mut records = Records::open(&a.dir, 1)?;
    let mut models = ReadModels::new(State::new(limits), 0, Keep::default());
    let mut progress = Progress::new("book", None);
    let mut updates = Vec::new();
    while a.at.is_none_or(|at| models.seq() < at) {
        let Some(rec) = records.next_record()? else {
            break;
        };
        progress.tick(rec.seq);
        updates.clear();
        models
            .apply(
                rec.seq,
                rec.ts,
                &rec.command,
                records.events(),
                &mut updates,
            )
            .map_err(|e| Failure::check(e.to_string()))?;
    }
    progress.finish();
    if let Some(at) = a.at {
        if models.seq() < at {
            return Err(Failure::input(format!(
                "the journal ends at sequence {}, before --at {at}",
                models.seq()
            )));
        }
    }
    let names = models.names();
    let symbol = names
        .symbol(&a.symbol)
        .map_err(|e| Failure::input(e.to_string()))?;
    let depth = a.depth.unwrap_or(usize::MAX);
    let Some(book) = models.depth(symbol, depth) else {
        return Err(Failure::input(format!("no book for {}", a.symbol)));
    };
    let w = Failure::output;
    match a.format {
        Format::Json => writeln!(out, "{}", keel_readmodel::json::book(names, &book)).map_err(w),
        Format::Text => {
            writeln!(
                out,
                "book {} at seq {} (update {}, checksum {})",
                a.symbol, book.seq, book.update, book.checksum
            )
            .map_err(w)?;
            for (label, side, levels) in [
                ("asks", Side::Sell, &book.asks),
                ("bids", Side::Buy, &book.bids),
            ] {
                writeln!(out, "{label}:").map_err(w)?;
                let rows: Vec<_> = if side == Side::Sell {
                    levels.iter().rev().collect()
                } else {
                    levels.iter().collect()
                };
                for l in rows {
                    writeln!(
                        out,
                        "  {:>16} {:>16} {:>6}",
                        names.format_price(symbol, l.price),
                        names.format_qty(symbol, l.qty),
                        l.orders
                    )
                    .map_err(w)?;
                }
            }
            Ok(())
        }
    }
}
