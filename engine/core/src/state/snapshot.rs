//! The snapshot body: the state's logical content, never its memory layout.
//! (The snapshot file around it, header and CRC, is keel-engine's.)
//! Orders are stored by id (restoring account lists in id order) plus the
//! book order (restoring price-time priority).

use bincode::{Decode, Encode};

use crate::core::symbol_spec::scales_for;
use crate::model::{AccountId, Name, OrderId, Side, StpMode, SymbolId, SymbolSpec};
use crate::state::{Asset, Balance, Limits, Order, State, Symbol};

const CONFIG: bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Fixint,
> = bincode::config::standard().with_fixed_int_encoding();

#[derive(Encode, Decode)]
struct Body {
    next_order_id: u64,
    assets: Vec<(Name, u8, u64)>,
    symbols: Vec<(SymbolSpec, bool)>,
    accounts: Vec<AccountSnap>,
    orders: Vec<OrderSnap>,
    /// Ids of resting orders, per symbol and side, best level first, FIFO.
    book_order: Vec<OrderId>,
}

#[derive(Encode, Decode)]
struct AccountSnap {
    id: AccountId,
    last_request_id: u64,
    balances: Vec<(u64, u64)>,
}

#[derive(Clone, Encode, Decode)]
struct OrderSnap {
    id: OrderId,
    account: AccountId,
    symbol: SymbolId,
    side: Side,
    post_only: bool,
    stp: StpMode,
    expiry_ns: u64,
    price: u64,
    remaining: u64,
    reserved: u64,
}

/// Encodes the state's logical content as a snapshot body. Equal content
/// encodes to equal bytes, whatever the memory layout.
pub fn encode(state: &State) -> Vec<u8> {
    let mut orders: Vec<OrderSnap> = state
        .orders
        .iter()
        .map(|(_, o)| OrderSnap {
            id: o.id,
            account: o.account,
            symbol: o.symbol,
            side: o.side,
            post_only: o.post_only,
            stp: o.stp,
            expiry_ns: o.expiry_ns,
            price: o.price,
            remaining: o.remaining,
            reserved: o.reserved,
        })
        .collect();
    orders.sort_by_key(|o| o.id);
    let mut book_order = Vec::with_capacity(orders.len());
    for (symbol, book) in state.books.iter().enumerate() {
        for side in [&book.bids, &book.asks] {
            for r in side.iter_best_first(&state.levels) {
                book_order.extend(state.level_orders(r.level).map(|o| o.id));
            }
        }
        let _ = symbol;
    }
    let body = Body {
        next_order_id: state.next_order_id,
        assets: state
            .assets
            .iter()
            .map(|a| (a.name, a.scale, a.supply))
            .collect(),
        symbols: state.symbols.iter().map(|s| (s.spec, s.halted)).collect(),
        accounts: state
            .accounts()
            .map(|(id, a)| AccountSnap {
                id,
                last_request_id: a.last_request_id,
                balances: a.balances.iter().map(|b| (b.available, b.held)).collect(),
            })
            .collect(),
        orders,
        book_order,
    };
    bincode::encode_to_vec(&body, CONFIG).expect("encoding to a Vec cannot fail")
}

/// Rebuilds a state with `limits` from a snapshot body. Fails if the bytes do
/// not decode exactly, the content does not fit `limits`, or the result
/// breaks an invariant.
pub fn decode(bytes: &[u8], limits: Limits) -> Result<State, InvalidBody> {
    decode_inner(bytes, limits).map_err(|reason| InvalidBody { reason })
}

/// A snapshot body that does not decode into a valid state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid snapshot body: {reason}")]
pub struct InvalidBody {
    /// What is wrong, with the values.
    pub reason: String,
}

/// Encoded size of one value of a fixed-size type (every element type of
/// [`Body`] but [`AccountSnap`] is: fixed-int encoding, no vectors inside).
fn encoded_len<T: Encode>(value: &T) -> u64 {
    bincode::encode_to_vec(value, CONFIG).map_or(u64::MAX, |v| v.len() as u64)
}

/// Walks the body's vector length prefixes before anything is decoded, so
/// that no length claims more elements than the bytes that follow could
/// hold: the decoder allocates by claimed length, and a forged body (its
/// checksums recomputed) must be an error, never an allocation abort.
fn check_lengths(bytes: &[u8]) -> Result<(), String> {
    struct Cursor<'a> {
        bytes: &'a [u8],
        at: u64,
    }
    impl Cursor<'_> {
        fn left(&self) -> u64 {
            self.bytes.len() as u64 - self.at
        }
        fn skip(&mut self, n: u64, what: &str) -> Result<(), String> {
            if n > self.left() {
                return Err(format!(
                    "{what} needs {n} bytes at body offset {} but {} are left",
                    self.at,
                    self.left()
                ));
            }
            self.at += n;
            Ok(())
        }
        fn len(&mut self, what: &str) -> Result<u64, String> {
            let at = self.at as usize;
            self.skip(8, what)?;
            let word: [u8; 8] = self.bytes[at..at + 8].try_into().expect("8 bytes");
            Ok(u64::from_le_bytes(word))
        }
        /// A vector of `n` elements of `size` bytes each.
        fn elements(&mut self, what: &str, size: u64) -> Result<u64, String> {
            let at = self.at;
            let n = self.len(what)?;
            let bytes = n
                .checked_mul(size)
                .filter(|&b| b <= self.left())
                .ok_or_else(|| {
                    format!(
                        "{what}: length {n} at body offset {at} claims more than the {} bytes left",
                        self.left()
                    )
                })?;
            self.skip(bytes, what)?;
            Ok(n)
        }
    }
    let name = Name::new("X").expect("a valid name");
    let fixed = crate::model::Fixed::new(1, 0);
    let spec = SymbolSpec {
        name,
        base: 0,
        quote: 0,
        tick_size: fixed,
        lot_size: fixed,
        maker_fee_bps: 0,
        taker_fee_bps: 0,
    };
    let order = OrderSnap {
        id: 0,
        account: 0,
        symbol: 0,
        side: Side::Buy,
        post_only: false,
        stp: StpMode::CancelNewest,
        expiry_ns: 0,
        price: 0,
        remaining: 0,
        reserved: 0,
    };
    let mut c = Cursor { bytes, at: 0 };
    c.skip(8, "next_order_id")?;
    c.elements("assets", encoded_len(&(name, 0u8, 0u64)))?;
    c.elements("symbols", encoded_len(&(spec, false)))?;
    // An account is at least its id, last request id and balance count.
    let account_min = encoded_len(&(0 as AccountId, 0u64, 0u64));
    let accounts = c.len("accounts")?;
    if accounts
        .checked_mul(account_min)
        .is_none_or(|b| b > c.left())
    {
        return Err(format!(
            "accounts: length {accounts} claims more than the {} bytes left",
            c.left()
        ));
    }
    for _ in 0..accounts {
        c.skip(encoded_len(&(0 as AccountId, 0u64)), "account")?;
        c.elements("account balances", encoded_len(&(0u64, 0u64)))?;
    }
    c.elements("orders", encoded_len(&order))?;
    c.elements("book order", encoded_len(&(0 as OrderId)))?;
    Ok(())
}

fn decode_inner(bytes: &[u8], limits: Limits) -> Result<State, String> {
    check_lengths(bytes)?;
    let (body, used): (Body, usize) = bincode::decode_from_slice(bytes, CONFIG)
        .map_err(|e| format!("body does not decode: {e}"))?;
    if used != bytes.len() {
        return Err(format!("{} bytes after the body", bytes.len() - used));
    }
    let mut state = State::new(limits);
    for (name, scale, supply) in body.assets {
        state
            .push_asset(Asset {
                name,
                scale,
                supply,
            })
            .map_err(|e| e.to_string())?;
    }
    for (spec, halted) in body.symbols {
        let base = *state
            .asset(spec.base)
            .ok_or("symbol names an unknown asset")?;
        let quote = *state
            .asset(spec.quote)
            .ok_or("symbol names an unknown asset")?;
        let scales = scales_for(&spec, &base, &quote).map_err(|r| r.to_string())?;
        state
            .push_symbol(Symbol {
                spec,
                scales,
                halted,
            })
            .map_err(|e| e.to_string())?;
    }
    for a in body.accounts {
        if a.id != crate::model::OPERATOR {
            state.open_account(a.id).map_err(|e| e.to_string())?;
        }
        let account = state.account_mut(a.id).map_err(|e| e.to_string())?;
        if a.balances.len() != account.balances.len() {
            return Err(format!(
                "account {} has {} balances for {} assets",
                a.id,
                a.balances.len(),
                account.balances.len()
            ));
        }
        account.last_request_id = a.last_request_id;
        for (b, (available, held)) in account.balances.iter_mut().zip(a.balances) {
            *b = Balance { available, held };
        }
    }
    let mut slots = std::collections::BTreeMap::new();
    let mut last_id = 0;
    for o in body.orders {
        // Ids are stored ascending, nonzero and below the next id: anything
        // else (a duplicate, a zero) would break the order index.
        if o.id <= last_id || o.id >= body.next_order_id {
            return Err(format!(
                "order id {} after {last_id} (ids must be unique, ascending, nonzero and below the next id {})",
                o.id, body.next_order_id
            ));
        }
        if (slots.len() as u64) >= u64::from(limits.max_orders) {
            return Err(format!(
                "more than limits.max_orders = {} orders",
                limits.max_orders
            ));
        }
        last_id = o.id;
        state.next_order_id = o.id;
        let slot = state
            .insert_order(Order {
                id: o.id,
                account: o.account,
                symbol: o.symbol,
                side: o.side,
                is_market: false,
                post_only: o.post_only,
                stp: o.stp,
                expiry_ns: o.expiry_ns,
                price: o.price,
                remaining: o.remaining,
                reserved: o.reserved,
                arrival: 0,
                level: 0,
                level_prev: 0,
                level_next: 0,
                account_prev: 0,
                account_next: 0,
            })
            .map_err(|e| e.to_string())?;
        slots.insert(o.id, slot);
    }
    state.next_order_id = body.next_order_id;
    for id in body.book_order {
        let slot = slots
            .remove(&id)
            .ok_or_else(|| format!("order {id} rests twice or is unknown"))?;
        state.rest_order(slot).map_err(|e| e.to_string())?;
    }
    if !slots.is_empty() {
        return Err(format!("{} orders do not rest in any book", slots.len()));
    }
    state.check_invariants().map_err(|e| e.to_string())?;
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::process_to_vec;
    use crate::model::{Command, CommandKind, PlaceOrder};

    /// A state with one asset pair, one symbol and three resting orders.
    fn state() -> State {
        let mut s = State::new(Limits::default());
        let op = |rid, kind| Command::new(crate::model::OPERATOR, rid, kind);
        let name = |n| Name::new(n).unwrap();
        let cmds = [
            op(
                1,
                CommandKind::AddAsset {
                    name: name("B"),
                    scale: 0,
                },
            ),
            op(
                2,
                CommandKind::AddAsset {
                    name: name("Q"),
                    scale: 0,
                },
            ),
            op(
                3,
                CommandKind::AddSymbol(SymbolSpec {
                    name: name("B-Q"),
                    base: 0,
                    quote: 1,
                    tick_size: crate::model::Fixed::new(1, 0),
                    lot_size: crate::model::Fixed::new(1, 0),
                    maker_fee_bps: 0,
                    taker_fee_bps: 0,
                }),
            ),
            Command::open_account(1, 1),
            Command::deposit(1, 2, 0, 100),
        ];
        for (i, c) in cmds.iter().enumerate() {
            process_to_vec(&mut s, c, i as u64).unwrap();
        }
        for (rid, price) in [(3, 10), (4, 11), (5, 12)] {
            let place = Command::place(1, rid, PlaceOrder::limit(0, Side::Sell, price, 1));
            process_to_vec(&mut s, &place, 9).unwrap();
        }
        s
    }

    fn reencoded(edit: impl FnOnce(&mut Body)) -> Vec<u8> {
        let (mut body, _): (Body, usize) =
            bincode::decode_from_slice(&encode(&state()), CONFIG).unwrap();
        edit(&mut body);
        bincode::encode_to_vec(&body, CONFIG).unwrap()
    }

    #[test]
    fn a_forged_vector_length_is_an_error_not_an_allocation() {
        let good = encode(&state());
        assert!(check_lengths(&good).is_ok());
        // The assets count sits right after next_order_id.
        for claimed in [u64::MAX, u64::MAX / 16, 1 << 40, good.len() as u64] {
            let mut bad = good.clone();
            bad[8..16].copy_from_slice(&claimed.to_le_bytes());
            let Err(err) = decode(&bad, Limits::default()) else {
                panic!("a forged length {claimed} was accepted")
            };
            assert!(err.reason.contains("assets"), "{err}");
        }
        // Every truncation fails cleanly too.
        for cut in 0..good.len() {
            assert!(
                decode(&good[..cut], Limits::default()).is_err(),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn round_trips() {
        let s = state();
        assert_eq!(
            decode(&encode(&s), Limits::default()).unwrap().digest(),
            s.digest()
        );
    }

    #[test]
    fn duplicate_zero_or_future_order_ids_are_invalid_not_a_panic() {
        let duplicate = reencoded(|b| {
            let first = b.orders[0].clone();
            b.orders.insert(0, first);
        });
        let zero = reencoded(|b| b.orders[0].id = 0);
        let future = reencoded(|b| b.next_order_id = b.orders[1].id);
        for (what, bytes) in [("duplicate", duplicate), ("zero", zero), ("future", future)] {
            let e = decode(&bytes, Limits::default()).expect_err(what);
            assert!(e.reason.contains("order id"), "{what}: {e}");
        }
    }
}
