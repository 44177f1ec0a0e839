//! Read models against the engine: random command streams are decided by
//! the core into records, the records feed [`ReadModels`], and at every
//! checkpoint the incremental models equal the ones built from scratch
//! (a fresh `ReadModels` of the engine's state), a client following the
//! snapshot and deltas holds exactly the engine's book, and the replica is
//! the engine's state (same digest).

use keel_engine::model::{
    Command, CommandKind, Event, Fixed, Name, PlaceOrder, Side, SymbolSpec, TimeInForce, OPERATOR,
};
use keel_engine::{process_step, Limits, State};
use keel_readmodel::{
    ClientBook, Diverged, FeedUpdate, Keep, ReadModels, TradePrint, CANDLE_INTERVALS_NS,
};
use proptest::prelude::*;

const SYMBOLS: u32 = 3;
const ACCOUNTS: u32 = 6;

/// The engine side: a state and the records it wrote.
struct Engine {
    state: State,
    seq: u64,
    ts: u64,
    rid: Vec<u64>,
    records: Vec<(u64, u64, Command, Vec<Event>)>,
}

impl Engine {
    fn new() -> Engine {
        let mut e = Engine {
            state: State::new(Limits {
                max_orders: 4096,
                max_levels: 2048,
                max_cancels_per_record: 7,
                max_fills_per_command: 9,
                ..Limits::default()
            }),
            seq: 0,
            ts: 1_000_000_000,
            rid: vec![0; ACCOUNTS as usize + 1],
            records: Vec::new(),
        };
        for (name, scale) in [("BASE", 4), ("QUOTE", 4)] {
            e.run(
                OPERATOR,
                CommandKind::AddAsset {
                    name: Name::new(name).unwrap(),
                    scale,
                },
            );
        }
        for s in 0..SYMBOLS {
            e.run(
                OPERATOR,
                CommandKind::AddSymbol(SymbolSpec {
                    name: Name::new(&format!("S{s}")).unwrap(),
                    base: 0,
                    quote: 1,
                    tick_size: Fixed::new(1, 2),
                    lot_size: Fixed::new(1, 2),
                    maker_fee_bps: 1,
                    taker_fee_bps: 2,
                }),
            );
        }
        for a in 1..=ACCOUNTS {
            e.run(a, CommandKind::OpenAccount);
            for asset in 0..2 {
                e.run(
                    a,
                    CommandKind::Deposit {
                        asset,
                        amount: 1 << 40,
                    },
                );
            }
        }
        e
    }

    fn run(&mut self, account: u32, kind: CommandKind) {
        self.rid[account as usize] += 1;
        let mut cmd = Command::new(account, self.rid[account as usize], kind);
        let mut events = Vec::new();
        loop {
            events.clear();
            let step = process_step(&mut self.state, &cmd, self.ts, &mut events).unwrap();
            self.seq += 1;
            self.records
                .push((self.seq, self.ts, step.command, events.clone()));
            match step.next {
                Some(next) => cmd = next,
                None => break,
            }
        }
    }
}

/// One random command, from a few integers.
fn command(e: &mut Engine, pick: [u64; 6]) {
    let account = 1 + (pick[0] % ACCOUNTS as u64) as u32;
    let symbol = (pick[1] % SYMBOLS as u64) as u32;
    let side = if pick[2].is_multiple_of(2) {
        Side::Buy
    } else {
        Side::Sell
    };
    let offset = pick[3] % 40;
    let price = match side {
        Side::Buy => 10_000 - 20 + offset,
        Side::Sell => 10_000 + 20 - offset,
    };
    let qty = 1 + pick[4] % 9;
    let newest = e.state.next_order_id();
    let some_order = 1 + pick[5] % newest.max(1);
    e.ts += pick[5] % 700_000_000;
    let kind = match pick[0] % 20 {
        0..=9 => CommandKind::PlaceOrder(PlaceOrder::limit(symbol, side, price, qty)),
        10 => CommandKind::PlaceOrder(
            PlaceOrder::limit(symbol, side, price, qty).with_tif(TimeInForce::Ioc),
        ),
        11 => CommandKind::PlaceOrder(PlaceOrder::limit(symbol, side, price, qty).with_tif(
            TimeInForce::Gtd {
                expiry_ns: e.ts + 1 + pick[4] % 2_000_000_000,
            },
        )),
        12..=14 => CommandKind::CancelOrder { order: some_order },
        15..=17 => CommandKind::AmendOrder {
            order: some_order,
            price,
            qty,
        },
        18 => CommandKind::CancelAll {
            symbol: pick[4].is_multiple_of(2).then_some(symbol),
        },
        _ => CommandKind::PlaceOrder(PlaceOrder::limit(symbol, side, price, qty * 20)),
    };
    e.run(account, kind);
}

fn candles_from(
    trades: &[TradePrint],
    symbol: u32,
    interval_ns: u64,
) -> Vec<(u64, u64, u64, u64, u64, u64, u64)> {
    let mut out: Vec<(u64, u64, u64, u64, u64, u64, u64)> = Vec::new();
    for t in trades.iter().filter(|t| t.symbol == symbol) {
        let start = t.ts_ns / interval_ns * interval_ns;
        match out.last_mut() {
            Some(c) if c.0 == start => {
                c.2 = c.2.max(t.price);
                c.3 = c.3.min(t.price);
                c.4 = t.price;
                c.5 += t.qty;
                c.6 += 1;
            }
            _ => out.push((start, t.price, t.price, t.price, t.price, t.qty, 1)),
        }
    }
    out
}

fn check_against_scratch(
    e: &Engine,
    rm: &ReadModels,
    clients: &[ClientBook],
    trades: &[TradePrint],
) {
    assert_eq!(
        rm.state().digest(),
        e.state.digest(),
        "the replica is the engine's state"
    );
    let scratch = ReadModels::new(e.state.clone(), e.seq, Keep::default());
    for s in 0..SYMBOLS {
        let inc = rm.depth(s, usize::MAX).unwrap();
        let fresh = scratch.depth(s, usize::MAX).unwrap();
        assert_eq!(
            (inc.bids.clone(), inc.asks.clone(), inc.checksum),
            (fresh.bids, fresh.asks, fresh.checksum)
        );
        let engine_bids: Vec<(u64, u64, u32)> = e.state.depth(s, Side::Buy);
        let got: Vec<(u64, u64, u32)> = inc
            .bids
            .iter()
            .map(|l| (l.price, l.qty, l.orders))
            .collect();
        assert_eq!(got, engine_bids, "bids of S{s}");
        let c = &clients[s as usize];
        assert_eq!(c.bids_best_first(), inc.bids, "client bids of S{s}");
        assert_eq!(c.asks_best_first(), inc.asks, "client asks of S{s}");
        assert_eq!(c.update, inc.update);
        let (bbo_inc, bbo_fresh) = (rm.bbo(s).unwrap(), scratch.bbo(s).unwrap());
        assert_eq!((bbo_inc.bid, bbo_inc.ask), (bbo_fresh.bid, bbo_fresh.ask));
        for (i, interval_ns) in CANDLE_INTERVALS_NS.into_iter().enumerate() {
            let want = candles_from(trades, s, interval_ns);
            let got: Vec<_> = rm
                .candles(s, i)
                .unwrap()
                .iter()
                .map(|c| {
                    (
                        c.start_ns, c.open, c.high, c.low, c.close, c.volume, c.trades,
                    )
                })
                .collect();
            assert_eq!(
                got,
                want[want.len().saturating_sub(got.len())..],
                "candles of S{s}"
            );
        }
    }
    for a in 1..=ACCOUNTS {
        assert_eq!(rm.account(a), scratch.account(a), "account {a}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn incremental_models_equal_models_from_scratch_at_every_checkpoint(
        picks in prop::collection::vec(any::<[u64; 6]>(), 50..400),
    ) {
        let mut e = Engine::new();
        let mut rm = ReadModels::new(State::new(*e.state.limits()), 0, Keep::default());
        let mut applied = 0;
        let mut updates = Vec::new();
        let mut trades = Vec::new();
        let mut clients: Vec<ClientBook> = Vec::new();
        for (i, pick) in picks.iter().enumerate() {
            command(&mut e, *pick);
            while applied < e.records.len() {
                let (seq, ts, cmd, events) = &e.records[applied];
                updates.clear();
                rm.apply(*seq, *ts, cmd, events, &mut updates).unwrap();
                applied += 1;
                while clients.len() < rm.state().symbols().len() {
                    let s = clients.len() as u32;
                    clients.push(ClientBook::from_snapshot(&rm.depth(s, usize::MAX).unwrap()));
                }
                for u in &updates {
                    match u {
                        FeedUpdate::Depth(d) => clients[d.symbol as usize]
                            .apply(rm.names(), d)
                            .unwrap_or_else(|err| panic!("the client diverged at {seq}: {err}")),
                        FeedUpdate::Trade(t) => trades.push(*t),
                        _ => {}
                    }
                }
            }
            if i % 25 == 0 || i + 1 == picks.len() {
                check_against_scratch(&e, &rm, &clients, &trades);
            }
        }
    }
}

#[test]
fn a_missed_delta_and_a_corrupted_level_are_detected() {
    let mut e = Engine::new();
    let mut rm = ReadModels::new(State::new(*e.state.limits()), 0, Keep::default());
    let mut deltas = Vec::new();
    let mut updates = Vec::new();
    let mut picks = 1u64;
    for _ in 0..300 {
        picks = picks
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let p = [
            picks >> 3,
            0,
            picks >> 7,
            picks >> 11,
            picks >> 17,
            picks >> 23,
        ];
        command(&mut e, p);
    }
    let mut snapshot = None;
    for (seq, ts, cmd, events) in &e.records {
        updates.clear();
        rm.apply(*seq, *ts, cmd, events, &mut updates).unwrap();
        if snapshot.is_none() && rm.state().symbols().len() == SYMBOLS as usize {
            snapshot = rm.depth(0, usize::MAX);
            continue;
        }
        for u in &updates {
            if let FeedUpdate::Depth(d) = u {
                if d.symbol == 0 {
                    deltas.push(d.clone());
                }
            }
        }
    }
    assert!(deltas.len() > 20, "the stream changed S0's book often");
    let names = rm.names().clone();
    // All of them: the client holds the book.
    let mut good = ClientBook::from_snapshot(snapshot.as_ref().unwrap());
    for d in &deltas {
        good.apply(&names, d).unwrap();
    }
    // One skipped: the next one is a gap.
    let mut gap = ClientBook::from_snapshot(snapshot.as_ref().unwrap());
    gap.apply(&names, &deltas[0]).unwrap();
    let err = gap.apply(&names, &deltas[2]).unwrap_err();
    assert!(matches!(err, Diverged::Gap { .. }), "{err}");
    // A level changed in transit: the checksum says so.
    let mut bad = ClientBook::from_snapshot(snapshot.as_ref().unwrap());
    let mut corrupt = deltas[0].clone();
    let c = corrupt
        .changes
        .iter_mut()
        .find(|c| c.level.qty > 0)
        .expect("a level with orders");
    c.level.qty += 1;
    let err = bad.apply(&names, &corrupt).unwrap_err();
    assert!(matches!(err, Diverged::Checksum { .. }), "{err}");
    // Re-snapshotting recovers.
    let fresh = ClientBook::from_snapshot(&rm.depth(0, usize::MAX).unwrap());
    assert_eq!(fresh, good);
}

#[test]
fn records_out_of_sequence_are_refused() {
    let e = Engine::new();
    let mut rm = ReadModels::new(State::new(*e.state.limits()), 0, Keep::default());
    let (_, ts, cmd, events) = &e.records[1];
    let err = rm.apply(2, *ts, cmd, events, &mut Vec::new()).unwrap_err();
    assert!(err.to_string().contains("record 2 after 0"), "{err}");
}
