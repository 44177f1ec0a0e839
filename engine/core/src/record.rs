//! The journal payload Keel writes: one record per command, holding its
//! timestamp, the command (intent) and its events (facts). The journal adds
//! the sequence number, length and CRC around it.
//!
//! The byte layout is Keel's own, documented in `docs/RECORD_FORMAT.md`: it is
//! produced with bincode 2.0.1 in fixed-int little-endian mode, whose layout
//! that document spells out, so a reader never needs the crate.

use bincode::config::{Configuration, Fixint, LittleEndian};
use bincode::error::{DecodeError, EncodeError};

use crate::model::{Command, Event};
use crate::state::Limits;

/// The payload format version, the first two bytes of every payload.
pub const RECORD_VERSION: u16 = 1;

const CONFIG: Configuration<LittleEndian, Fixint> =
    bincode::config::standard().with_fixed_int_encoding();

/// Why a record payload does not decode.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The payload's format version is not [`RECORD_VERSION`].
    #[error("record payload uses format version {found}; this Keel reads version {RECORD_VERSION} (upgrade Keel to read it)")]
    UnknownVersion {
        /// The version in the payload.
        found: u16,
    },
    /// The bytes are not a valid encoding (truncated or damaged).
    #[error("record payload does not decode: {0}")]
    Decode(#[from] DecodeError),
    /// Bytes remain after the last event.
    #[error("record payload has {extra} bytes after its last event")]
    TrailingBytes {
        /// How many.
        extra: usize,
    },
    /// The payload is inconsistent with itself.
    #[error("record payload is malformed: {what}")]
    Malformed {
        /// What is wrong.
        what: &'static str,
    },
}

/// The largest payload a record can have under `limits`, in bytes: the
/// header, the longest command, and the most events one
/// [`process_step`](crate::core::process_step) can push: up to
/// `max_cancels_per_record` expiries, then `accepted` and either an order's
/// events (`order_accepted`, at most `max_fills_per_command` trades or
/// self-trade cancels, and its end) or `max_cancels_per_record` mass
/// cancels. Every event and command has a fixed size in this encoding but
/// for its variant, so the bound is exact for the largest variants.
pub fn worst_case_record_bytes(limits: &Limits) -> u64 {
    use crate::model::{
        CancelReason, CommandKind, Fixed, Name, PlaceOrder, Side, StpMode, SymbolSpec, TimeInForce,
        Trade,
    };
    let size = |e: &Event| bincode::encode_to_vec(e, CONFIG).map_or(0, |v| v.len() as u64);
    // Names are stored at their full width, whatever their text.
    let Some(name) = Name::new("X") else {
        return u64::MAX;
    };
    let spec = SymbolSpec {
        name,
        base: 0,
        quote: 1,
        tick_size: Fixed::new(1, 0),
        lot_size: Fixed::new(1, 0),
        maker_fee_bps: 0,
        taker_fee_bps: 0,
    };
    let gtd = TimeInForce::Gtd { expiry_ns: 1 };
    let order = PlaceOrder::limit(0, Side::Buy, 1, 1).with_tif(gtd);
    let commands = [
        CommandKind::PlaceOrder(order),
        CommandKind::AddSymbol(spec),
        CommandKind::CancelAll { symbol: Some(0) },
        CommandKind::Transfer {
            to: 0,
            asset: 0,
            amount: 0,
        },
    ];
    let command = commands
        .iter()
        .map(|&kind| {
            bincode::encode_to_vec(Command::new(0, 0, kind), CONFIG).map_or(0, |v| v.len() as u64)
        })
        .max()
        .unwrap_or(0);
    let cancel = size(&Event::OrderCancelled {
        order: 0,
        account: 0,
        remaining: 0,
        reason: CancelReason::Expired,
    });
    let trade = size(&Event::TradeExecuted(Trade {
        symbol: 0,
        maker_order: 0,
        taker_order: 0,
        maker_account: 0,
        taker_account: 0,
        taker_side: Side::Buy,
        price: 0,
        qty: 0,
        maker_fee: 0,
        taker_fee: 0,
    }));
    let accepted = size(&Event::Accepted {
        account: 0,
        request_id: 0,
    });
    let order_accepted = size(&Event::OrderAccepted {
        order: 0,
        account: 0,
        symbol: 0,
        side: Side::Buy,
        price: 0,
        qty: 0,
        is_market: false,
        tif: gtd,
        post_only: false,
        stp: StpMode::CancelBoth,
        hold: 0,
    });
    let symbol_added = size(&Event::SymbolAdded { symbol: 0, spec });
    // Any single event is at most this large (amends, deposits, ...).
    let largest = [cancel, trade, accepted, order_accepted, symbol_added]
        .into_iter()
        .max()
        .unwrap_or(0);
    let header = 2 + 8 + command + 8;
    let fills = u64::from(limits.max_fills_per_command);
    let chunk = u64::from(limits.max_cancels_per_record);
    // An order: accepted (or amended), its fills, and at most two cancels
    // at the end (self-trade prevention cancelling both sides).
    let order_events = order_accepted.max(largest) + fills * trade.max(cancel) + 2 * largest;
    let body = (chunk * cancel).max(order_events).max(4 * largest);
    header + chunk * cancel + accepted + body
}

/// Encodes a record into `buf`, returning the bytes used, or an error if
/// `buf` is too small (the caller then retries with a bigger buffer).
pub fn encode(
    buf: &mut [u8],
    ts_ns: u64,
    command: &Command,
    events: &[Event],
) -> Result<usize, EncodeError> {
    bincode::encode_into_slice((RECORD_VERSION, ts_ns, command, events), buf, CONFIG)
}

/// Encodes a record into a growable buffer (cleared first; its capacity is
/// reused, so steady state does not allocate).
pub fn encode_to_vec(buf: &mut Vec<u8>, ts_ns: u64, command: &Command, events: &[Event]) {
    buf.clear();
    bincode::encode_into_std_write((RECORD_VERSION, ts_ns, command, events), buf, CONFIG)
        .expect("writing to a Vec cannot fail");
}

/// Decodes a record's timestamp and command, and its events into `events`
/// (cleared first, capacity reused).
pub fn decode_into(payload: &[u8], events: &mut Vec<Event>) -> Result<(u64, Command), RecordError> {
    events.clear();
    let ((version, ts_ns, command), mut used): ((u16, u64, Command), usize) =
        bincode::decode_from_slice(payload, CONFIG)?;
    if version != RECORD_VERSION {
        return Err(RecordError::UnknownVersion { found: version });
    }
    let (count, n): (u64, usize) = bincode::decode_from_slice(&payload[used..], CONFIG)?;
    used += n;
    if count > (payload.len() - used) as u64 {
        return Err(RecordError::Malformed {
            what: "event count larger than the payload",
        });
    }
    for _ in 0..count {
        let (event, n): (Event, usize) = bincode::decode_from_slice(&payload[used..], CONFIG)?;
        used += n;
        events.push(event);
    }
    if used != payload.len() {
        return Err(RecordError::TrailingBytes {
            extra: payload.len() - used,
        });
    }
    Ok((ts_ns, command))
}

/// A decoded record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The journal sequence number (from the journal's framing, not the
    /// payload).
    pub seq: u64,
    /// The timestamp the command was processed at, in nanoseconds.
    pub ts_ns: u64,
    /// The command (intent).
    pub command: Command,
    /// Its events (facts), in the order they were applied.
    pub events: Vec<Event>,
}

impl Record {
    /// Decodes `payload` as the record numbered `seq`; fails as
    /// [`decode_into`] does.
    pub fn decode(seq: u64, payload: &[u8]) -> Result<Record, RecordError> {
        let mut events = Vec::new();
        let (ts_ns, command) = decode_into(payload, &mut events)?;
        Ok(Record {
            seq,
            ts_ns,
            command,
            events,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CancelReason, CommandKind};

    #[test]
    fn round_trips_and_has_a_fixed_layout() {
        let cmd = Command {
            account: 7,
            request_id: 9,
            kind: CommandKind::CancelOrder { order: 42 },
        };
        let events = [
            Event::Accepted {
                account: 7,
                request_id: 9,
            },
            Event::OrderCancelled {
                order: 42,
                account: 7,
                remaining: 5,
                reason: CancelReason::User,
            },
        ];
        let mut buf = [0u8; 256];
        let n = encode(&mut buf, 1234, &cmd, &events).unwrap();
        // version u16, ts u64, account u32, request u64, kind tag u32 (CancelOrder = 5), order u64,
        // event count u64, then the events.
        assert_eq!(&buf[..2], &RECORD_VERSION.to_le_bytes());
        assert_eq!(&buf[2..10], &1234u64.to_le_bytes());
        assert_eq!(&buf[10..14], &7u32.to_le_bytes());
        assert_eq!(&buf[14..22], &9u64.to_le_bytes());
        assert_eq!(
            &buf[22..26],
            &5u32.to_le_bytes(),
            "CancelOrder is variant 5"
        );
        assert_eq!(&buf[26..34], &42u64.to_le_bytes());
        assert_eq!(&buf[34..42], &2u64.to_le_bytes());
        let rec = Record::decode(3, &buf[..n]).unwrap();
        assert_eq!(
            rec,
            Record {
                seq: 3,
                ts_ns: 1234,
                command: cmd,
                events: events.to_vec()
            }
        );
        let mut v = Vec::new();
        encode_to_vec(&mut v, 1234, &cmd, &events);
        assert_eq!(&v[..], &buf[..n]);
        // Too small a buffer is an error, not a panic.
        assert!(encode(&mut buf[..20], 1234, &cmd, &events).is_err());
    }

    #[test]
    fn rejects_damaged_payloads() {
        let cmd = Command {
            account: 1,
            request_id: 1,
            kind: CommandKind::OpenAccount,
        };
        let mut v = Vec::new();
        encode_to_vec(&mut v, 5, &cmd, &[Event::AccountOpened { account: 1 }]);
        let mut events = Vec::new();
        let mut bad = v.clone();
        bad[0] = 9;
        assert!(matches!(
            decode_into(&bad, &mut events),
            Err(RecordError::UnknownVersion { found: 9 })
        ));
        let mut long = v.clone();
        long.push(0);
        assert!(matches!(
            decode_into(&long, &mut events),
            Err(RecordError::TrailingBytes { extra: 1 })
        ));
        assert!(decode_into(&v[..v.len() - 1], &mut events).is_err());
        for cut in 0..v.len() {
            assert!(decode_into(&v[..cut], &mut events).is_err());
        }
    }

    /// The variant indices documented in docs/RECORD_FORMAT.md.
    #[test]
    fn the_worst_case_bound_holds_for_the_largest_records() {
        use crate::model::*;
        let limits = Limits {
            max_fills_per_command: 37,
            max_cancels_per_record: 11,
            ..Limits::default()
        };
        let cancel = Event::OrderCancelled {
            order: u64::MAX,
            account: u32::MAX,
            remaining: u64::MAX,
            reason: CancelReason::FillLimit,
        };
        let trade = Event::TradeExecuted(Trade {
            symbol: 1,
            maker_order: 2,
            taker_order: 3,
            maker_account: 4,
            taker_account: 5,
            taker_side: Side::Sell,
            price: 6,
            qty: 7,
            maker_fee: 8,
            taker_fee: 9,
        });
        let place =
            PlaceOrder::limit(0, Side::Buy, 1, 1).with_tif(TimeInForce::Gtd { expiry_ns: 9 });
        let cmd = Command::place(1, 2, place);
        // Expiries first, then an order that trades to the limit and ends with
        // self-trade cancels of both sides.
        let mut events = vec![cancel; limits.max_cancels_per_record as usize];
        events.push(Event::Accepted {
            account: 1,
            request_id: 2,
        });
        events.push(Event::OrderAccepted {
            order: 1,
            account: 1,
            symbol: 0,
            side: Side::Buy,
            price: 1,
            qty: 1,
            is_market: false,
            tif: TimeInForce::Gtd { expiry_ns: 9 },
            post_only: false,
            stp: StpMode::CancelBoth,
            hold: 1,
        });
        events.extend(std::iter::repeat_n(
            trade,
            limits.max_fills_per_command as usize,
        ));
        events.extend([cancel, cancel]);
        let mut buf = Vec::new();
        encode_to_vec(&mut buf, u64::MAX, &cmd, &events);
        let bound = worst_case_record_bytes(&limits);
        assert!(buf.len() as u64 <= bound, "{} > {bound}", buf.len());
        // A mass cancel of a whole chunk after the expiries.
        let mass = Command::new(1, 3, CommandKind::CancelAll { symbol: Some(0) });
        let mut events = vec![cancel; 2 * limits.max_cancels_per_record as usize];
        events.push(Event::Accepted {
            account: 1,
            request_id: 3,
        });
        encode_to_vec(&mut buf, 1, &mass, &events);
        assert!(buf.len() as u64 <= bound, "{} > {bound}", buf.len());
        // The bound is tight enough to be useful: within 5% of the order case.
        assert!(bound < 2 * 1024 + 37 * 80 + 11 * 40, "{bound}");
    }

    #[test]
    fn variant_indices_match_the_documented_layout() {
        use crate::model::*;
        fn index<T: bincode::Encode>(value: &T) -> u32 {
            let bytes = bincode::encode_to_vec(value, CONFIG).unwrap();
            u32::from_le_bytes(bytes[..4].try_into().unwrap())
        }
        let name = Name::new("X").unwrap();
        let spec = SymbolSpec {
            name,
            base: 0,
            quote: 1,
            tick_size: Fixed::new(1, 2),
            lot_size: Fixed::new(1, 2),
            maker_fee_bps: 0,
            taker_fee_bps: 0,
        };
        let place = PlaceOrder {
            symbol: 0,
            side: Side::Buy,
            order_type: OrderType::Limit { price: 1 },
            qty: 1,
            tif: TimeInForce::Gtc,
            post_only: false,
            stp: StpMode::CancelNewest,
        };
        let kinds = [
            CommandKind::OpenAccount,
            CommandKind::Deposit {
                asset: 0,
                amount: 1,
            },
            CommandKind::Withdraw {
                asset: 0,
                amount: 1,
            },
            CommandKind::Transfer {
                to: 1,
                asset: 0,
                amount: 1,
            },
            CommandKind::PlaceOrder(place),
            CommandKind::CancelOrder { order: 1 },
            CommandKind::AmendOrder {
                order: 1,
                price: 1,
                qty: 1,
            },
            CommandKind::CancelAll { symbol: None },
            CommandKind::AddAsset { name, scale: 0 },
            CommandKind::AddSymbol(spec),
            CommandKind::HaltSymbol { symbol: 0 },
            CommandKind::ResumeSymbol { symbol: 0 },
            CommandKind::ExpireDue,
            CommandKind::CancelAllContinued { symbol: None },
        ];
        for (i, k) in kinds.iter().enumerate() {
            assert_eq!(index(k), i as u32, "{k:?}");
        }
        let events = [
            Event::Accepted {
                account: 0,
                request_id: 1,
            },
            Event::Rejected {
                account: 0,
                request_id: 1,
                reason: RejectReason::ZeroValue,
            },
            Event::AssetAdded {
                asset: 0,
                name,
                scale: 0,
            },
            Event::SymbolAdded { symbol: 0, spec },
            Event::SymbolHalted { symbol: 0 },
            Event::SymbolResumed { symbol: 0 },
            Event::AccountOpened { account: 1 },
            Event::Deposited {
                account: 1,
                asset: 0,
                amount: 1,
            },
            Event::Withdrawn {
                account: 1,
                asset: 0,
                amount: 1,
            },
            Event::Transferred {
                from: 1,
                to: 2,
                asset: 0,
                amount: 1,
            },
            Event::OrderAccepted {
                order: 1,
                account: 1,
                symbol: 0,
                side: Side::Buy,
                price: 1,
                qty: 1,
                is_market: false,
                tif: TimeInForce::Gtc,
                post_only: false,
                stp: StpMode::CancelNewest,
                hold: 1,
            },
            Event::TradeExecuted(Trade {
                symbol: 0,
                maker_order: 1,
                taker_order: 2,
                maker_account: 1,
                taker_account: 2,
                taker_side: Side::Buy,
                price: 1,
                qty: 1,
                maker_fee: 0,
                taker_fee: 0,
            }),
            Event::OrderRested { order: 1 },
            Event::OrderAmended {
                order: 1,
                price: 1,
                qty: 1,
                reserved: 1,
                priority_kept: true,
            },
            Event::OrderCancelled {
                order: 1,
                account: 1,
                remaining: 1,
                reason: CancelReason::Expired,
            },
        ];
        for (i, e) in events.iter().enumerate() {
            assert_eq!(index(e), i as u32, "{e:?}");
        }
        // Reject reasons are encoded in the order of their codes.
        let reasons = [
            RejectReason::Duplicate { last_request_id: 0 },
            RejectReason::NotAuthorized,
            RejectReason::InsufficientFunds {
                asset: 0,
                needed: 1,
                available: 0,
            },
            RejectReason::FokNotFillable,
            RejectReason::LevelCapacity { max_levels: 1 },
            RejectReason::RequestIdOutOfRange {
                request_id: 1 << 53,
            },
        ];
        for r in reasons {
            assert_eq!(index(&r), r.code_index() as u32, "{r:?}");
        }
        assert_eq!(RejectReason::CODES[26], "level_capacity");
        assert_eq!(RejectReason::CODES[27], "request_id_out_of_range");
        assert_eq!(index(&CancelReason::Expired), 4);
        assert_eq!(index(&CancelReason::FillLimit), 5);
        assert_eq!(index(&TimeInForce::Gtd { expiry_ns: 1 }), 3);
        assert_eq!(index(&MarketBound::ProtectionPrice { price: 1 }), 2);
    }
}
