//! L2 depth: snapshots, deltas and the checksum that lets a client detect
//! that its book diverged.
//!
//! ## Checksum (as Kraken's, over Keel's decimal strings)
//!
//! CRC32 (IEEE 802.3, as zlib's `crc32`) of one ASCII string: for each of
//! the best 10 ask levels, best (lowest) first, then each of the best 10
//! bid levels, best (highest) first, the level's price and then its
//! quantity as the feed prints them (decimal strings), each with the `.`
//! removed and leading zeros removed, concatenated with no separator. A side
//! with fewer than 10 levels contributes what it has; an empty book is the
//! CRC32 of the empty string, 0.
//!
//! Example (tick 0.01, lot 0.0001): asks `30000.50 × 0.2000`, bids
//! `30000.00 × 1.5000` and `29999.99 × 0.0100` give the pieces `3000050`,
//! `2000`, `3000000`, `15000`, `2999999`, `100`, so the string
//! `"300005020003000000150002999999100"`, whose CRC32 is the checksum.

use keel_engine::model::{Side, SymbolId};
use keel_engine::{Registry, State};

/// Levels per side the checksum covers.
pub const CHECKSUM_LEVELS: usize = 10;

/// One price level: price in ticks, total quantity in lots, order count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Level {
    /// Price, ticks.
    pub price: u64,
    /// Total resting quantity, lots (0 in a delta: the level is gone).
    pub qty: u64,
    /// Orders resting at the level.
    pub orders: u32,
}

/// A level as a delta reports it: the side, and its new totals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LevelChange {
    /// The side.
    pub side: Side,
    /// The level's new totals (`qty` 0: deleted).
    pub level: Level,
}

/// A book at one sequence, best levels first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DepthSnapshot {
    /// The symbol.
    pub symbol: SymbolId,
    /// The engine sequence the snapshot reflects.
    pub seq: u64,
    /// The sequence of the last record that changed this book (the next
    /// delta's `prev_update`).
    pub update: u64,
    /// Bids, best (highest) first, at most the depth asked for.
    pub bids: Vec<Level>,
    /// Asks, best (lowest) first.
    pub asks: Vec<Level>,
    /// [`checksum`] of the whole book's top levels.
    pub checksum: u32,
}

/// The changes one record made to a book.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DepthDelta {
    /// The symbol.
    pub symbol: SymbolId,
    /// The record's sequence: this delta's update number.
    pub update: u64,
    /// The update number of the delta before it on this symbol (or of the
    /// snapshot it follows); a client that holds another has missed one.
    pub prev_update: u64,
    /// The record's timestamp, ns.
    pub ts_ns: u64,
    /// Levels whose totals changed, bids then asks, in price order.
    pub changes: Vec<LevelChange>,
    /// [`checksum`] of the book after the changes.
    pub checksum: u32,
}

/// The best `n` levels of one side of `symbol` in `state`.
pub fn top(state: &State, symbol: SymbolId, side: Side, n: usize) -> Vec<Level> {
    state
        .levels_best_first(symbol, side)
        .take(n)
        .filter_map(|r| state.level(r.level))
        .map(|l| Level {
            price: l.price,
            qty: l.total_qty,
            orders: l.order_count,
        })
        .collect()
}

/// The checksum string's piece for a decimal: `.` and leading zeros out.
fn push_digits(out: &mut String, decimal: &str) {
    let digits = decimal.chars().filter(|c| *c != '.');
    let mut leading = true;
    for c in digits {
        if leading && c == '0' {
            continue;
        }
        leading = false;
        out.push(c);
    }
}

/// The string the checksum is the CRC32 of (see the module docs).
pub fn checksum_text(names: &Registry, symbol: SymbolId, bids: &[Level], asks: &[Level]) -> String {
    let mut text = String::new();
    for level in asks
        .iter()
        .take(CHECKSUM_LEVELS)
        .chain(bids.iter().take(CHECKSUM_LEVELS))
    {
        push_digits(&mut text, &names.format_price(symbol, level.price));
        push_digits(&mut text, &names.format_qty(symbol, level.qty));
    }
    text
}

/// The book checksum (see the module docs).
pub fn checksum(names: &Registry, symbol: SymbolId, bids: &[Level], asks: &[Level]) -> u32 {
    crc32fast::hash(checksum_text(names, symbol, bids, asks).as_bytes())
}

/// The checksum of `symbol`'s book in `state`.
pub fn book_checksum(state: &State, names: &Registry, symbol: SymbolId) -> u32 {
    book_checksum_with(state, names, symbol, &mut String::new())
}

/// [`book_checksum`] with a buffer the caller keeps: no allocation once it
/// has grown. A price or quantity printed at its unit's scale, with the `.`
/// and leading zeros removed, is the decimal integer `mantissa × count` (or
/// nothing for zero), so the digits are written straight from integers.
pub fn book_checksum_with(
    state: &State,
    names: &Registry,
    symbol: SymbolId,
    buf: &mut String,
) -> u32 {
    buf.clear();
    let Some(spec) = names.symbol_spec(symbol) else {
        return checksum(names, symbol, &[], &[]);
    };
    for side in [Side::Sell, Side::Buy] {
        for r in state.levels_best_first(symbol, side).take(CHECKSUM_LEVELS) {
            if let Some(l) = state.level(r.level) {
                push_units(buf, spec.tick_size, l.price);
                push_units(buf, spec.lot_size, l.total_qty);
            }
        }
    }
    crc32fast::hash(buf.as_bytes())
}

/// The checksum digits of `count` units of `unit`.
fn push_units(buf: &mut String, unit: keel_engine::model::Fixed, count: u64) {
    use std::fmt::Write as _;
    let value = u128::from(unit.mantissa) * u128::from(count);
    if value != 0 {
        let _ = write!(buf, "{value}");
    }
}

/// A client's copy of a book, kept from a snapshot and deltas: what a
/// feed subscriber does, for tests and for the documentation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientBook {
    /// Bids by price.
    pub bids: std::collections::BTreeMap<u64, Level>,
    /// Asks by price.
    pub asks: std::collections::BTreeMap<u64, Level>,
    /// The last update applied.
    pub update: u64,
}

/// Why a client book cannot take a delta: it must re-snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Diverged {
    /// The delta does not follow the last update held.
    #[error("gap: holding update {held}, the delta follows {prev_update}")]
    Gap {
        /// The client's last update.
        held: u64,
        /// The delta's `prev_update`.
        prev_update: u64,
    },
    /// After the delta, the book's checksum differs from the feed's.
    #[error("checksum {got:#010x} differs from the feed's {want:#010x}")]
    Checksum {
        /// The client's.
        got: u32,
        /// The feed's.
        want: u32,
    },
}

impl ClientBook {
    /// A book from a full snapshot.
    pub fn from_snapshot(s: &DepthSnapshot) -> ClientBook {
        ClientBook {
            bids: s.bids.iter().map(|l| (l.price, *l)).collect(),
            asks: s.asks.iter().map(|l| (l.price, *l)).collect(),
            update: s.update,
        }
    }

    /// Applies a delta, checking its sequence and checksum.
    pub fn apply(&mut self, names: &Registry, d: &DepthDelta) -> Result<(), Diverged> {
        if d.prev_update != self.update {
            return Err(Diverged::Gap {
                held: self.update,
                prev_update: d.prev_update,
            });
        }
        for c in &d.changes {
            let side = match c.side {
                Side::Buy => &mut self.bids,
                Side::Sell => &mut self.asks,
            };
            if c.level.qty == 0 {
                side.remove(&c.level.price);
            } else {
                side.insert(c.level.price, c.level);
            }
        }
        self.update = d.update;
        let got = self.checksum(names, d.symbol);
        if got != d.checksum {
            return Err(Diverged::Checksum {
                got,
                want: d.checksum,
            });
        }
        Ok(())
    }

    /// Bids best first.
    pub fn bids_best_first(&self) -> Vec<Level> {
        self.bids.values().rev().copied().collect()
    }

    /// Asks best first.
    pub fn asks_best_first(&self) -> Vec<Level> {
        self.asks.values().copied().collect()
    }

    /// This copy's checksum.
    pub fn checksum(&self, names: &Registry, symbol: SymbolId) -> u32 {
        checksum(
            names,
            symbol,
            &self.bids_best_first(),
            &self.asks_best_first(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_engine::model::{Fixed, Name, SymbolSpec};

    #[test]
    fn the_documented_checksum_example() {
        let mut names = Registry::default();
        names.learn(&keel_engine::model::Event::SymbolAdded {
            symbol: 0,
            spec: SymbolSpec {
                name: Name::new("BTC-USD").unwrap(),
                base: 0,
                quote: 1,
                tick_size: Fixed::new(1, 2),
                lot_size: Fixed::new(1, 4),
                maker_fee_bps: 0,
                taker_fee_bps: 0,
            },
        });
        let asks = [Level {
            price: 3_000_050,
            qty: 2_000,
            orders: 1,
        }];
        let bids = [
            Level {
                price: 3_000_000,
                qty: 15_000,
                orders: 2,
            },
            Level {
                price: 2_999_999,
                qty: 100,
                orders: 1,
            },
        ];
        let text = checksum_text(&names, 0, &bids, &asks);
        assert_eq!(text, "300005020003000000150002999999100");
        assert_eq!(
            checksum(&names, 0, &bids, &asks),
            crc32fast::hash(text.as_bytes())
        );
        assert_eq!(checksum(&names, 0, &[], &[]), 0);
        // The integer path gives the same digits as the printed strings.
        let mut buf = String::new();
        for (tick, lot) in [
            (Fixed::new(1, 2), Fixed::new(1, 4)),
            (Fixed::new(5, 1), Fixed::new(25, 3)),
            (Fixed::new(1, 0), Fixed::new(1, 8)),
        ] {
            let spec = SymbolSpec {
                tick_size: tick,
                lot_size: lot,
                ..*names.symbol_spec(0).unwrap()
            };
            let mut n = Registry::default();
            n.learn(&keel_engine::model::Event::SymbolAdded { symbol: 0, spec });
            for count in [0u64, 1, 7, 10, 100, 3_000_050, u64::MAX / 7, u64::MAX] {
                buf.clear();
                push_units(&mut buf, tick, count);
                let mut want = String::new();
                push_digits(&mut want, &n.format_price(0, count));
                assert_eq!(buf, want, "tick {tick} count {count}");
            }
        }
        // zlib's crc32 of "123456789", the standard check value.
        assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
    }
}
