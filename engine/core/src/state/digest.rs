//! A stable digest of the state's canonical content: blake3 over a fixed
//! walk (assets, symbols, accounts by id, each book best-first in FIFO order,
//! counters). It never depends on memory layout or hash-map iteration order,
//! so a state rebuilt from events, or restored from a snapshot, digests the
//! same as the one that decided.

use crate::model::{Side, StpMode};

use super::State;

/// A 32-byte blake3 digest, shown as hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest(pub [u8; 32]);

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Digest({self})")
    }
}

struct Feed(blake3::Hasher);

impl Feed {
    fn u64(&mut self, v: u64) {
        self.0.update(&v.to_le_bytes());
    }
    fn u8(&mut self, v: u8) {
        self.0.update(&[v]);
    }
    fn bytes(&mut self, v: &[u8]) {
        self.u64(v.len() as u64);
        self.0.update(v);
    }
}

impl State {
    /// The digest of the state's canonical content: equal for equal content,
    /// whether reached by processing, by replay or from a snapshot.
    pub fn digest(&self) -> Digest {
        let mut f = Feed(blake3::Hasher::new());
        f.bytes(b"keel-state-v1");
        f.u64(self.next_order_id);
        f.u64(self.assets.len() as u64);
        for a in &self.assets {
            f.bytes(a.name.as_str().as_bytes());
            f.u8(a.scale);
            f.u64(a.supply);
        }
        f.u64(self.symbols.len() as u64);
        for s in &self.symbols {
            let spec = &s.spec;
            f.bytes(spec.name.as_str().as_bytes());
            f.u64(spec.base as u64);
            f.u64(spec.quote as u64);
            f.u64(spec.tick_size.mantissa);
            f.u8(spec.tick_size.scale);
            f.u64(spec.lot_size.mantissa);
            f.u8(spec.lot_size.scale);
            f.u64(spec.maker_fee_bps as u64);
            f.u64(spec.taker_fee_bps as u64);
            f.u8(s.halted as u8);
        }
        for (id, a) in self.accounts() {
            f.u64(id as u64);
            f.u64(a.last_request_id);
            f.u64(a.open_orders as u64);
            for b in &a.balances {
                f.u64(b.available);
                f.u64(b.held);
            }
        }
        for (symbol, book) in self.books.iter().enumerate() {
            f.u64(symbol as u64);
            for side in [&book.bids, &book.asks] {
                f.u8(side.side() as u8);
                f.u64(side.len() as u64);
                for r in side.iter_best_first(&self.levels) {
                    let level = self.levels.get(r.level).expect("sorted level exists");
                    f.u64(level.price);
                    f.u64(level.total_qty);
                    f.u64(level.order_count as u64);
                    for o in self.level_orders(r.level) {
                        f.u64(o.id);
                        f.u64(o.account as u64);
                        f.u8(match o.side {
                            Side::Buy => 0,
                            Side::Sell => 1,
                        });
                        f.u64(o.price);
                        f.u64(o.remaining);
                        f.u64(o.reserved);
                        f.u8(o.post_only as u8);
                        f.u8(match o.stp {
                            StpMode::CancelNewest => 0,
                            StpMode::CancelOldest => 1,
                            StpMode::CancelBoth => 2,
                        });
                        f.u64(o.expiry_ns);
                    }
                }
            }
        }
        // Open orders that are not resting exist only inside a command; count
        // them so a state caught mid-command never digests like a clean one.
        f.u64(self.orders.len() as u64);
        Digest(*f.0.finalize().as_bytes())
    }
}
