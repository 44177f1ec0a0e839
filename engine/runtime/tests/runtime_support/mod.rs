//! Shared helpers for the runtime (`runtime_*.rs`) and binary (`cli_*.rs`)
//! integration tests: config text, command builders, output collection,
//! journal reading and a tiny deterministic RNG.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use keel_engine::config::Config;
use keel_engine::record::Record;
use keel_engine::runtime::{Subscription, SubscriptionError};
use keel_engine::state::digest::Digest;
use keel_engine::{
    AccountId, AssetId, Command, CommandKind, Event, OrderId, OrderType, PlaceOrder, Side, State,
    StpMode, SymbolId, TimeInForce,
};
use keel_journal::Journal;

/// Asset ids as the genesis of [`Cfg`] numbers them.
pub const BTC: AssetId = 0;
pub const USD: AssetId = 1;
/// BTC-USD: tick 0.01 USD, lot 0.0001 BTC: one lot = 10_000 BTC minor units,
/// one tick × one lot = 1 USD minor unit (scale 6). Maker 1 bps, taker 5 bps.
pub const BTC_USD: SymbolId = 0;
pub const BASE_PER_LOT: u64 = 10_000;
pub const MAKER_BPS: u64 = 1;
pub const TAKER_BPS: u64 = 5;
/// Commands the engine runs at genesis (2 assets, 1 symbol).
pub const GENESIS_COMMANDS: u64 = 3;

/// A test config, rendered to TOML.
#[derive(Clone, Debug)]
pub struct Cfg {
    pub clock: &'static str,
    pub ring_capacity: u32,
    pub batch_max: u32,
    pub wait: &'static str,
    pub durability: &'static str,
    pub segment_size_mib: u64,
    pub out_capacity: u32,
    pub slow: &'static str,
    pub btc_scale: u8,
    pub taker_fee_bps: u16,
}

impl Default for Cfg {
    fn default() -> Cfg {
        Cfg {
            clock: "simulated",
            ring_capacity: 1024,
            batch_max: 256,
            wait: "spin_then_park",
            durability: "none",
            segment_size_mib: 1,
            out_capacity: 4096,
            slow: "block",
            btc_scale: 8,
            taker_fee_bps: TAKER_BPS as u16,
        }
    }
}

impl Cfg {
    pub fn text(&self, journal_dir: &Path) -> String {
        format!(
            r#"
[engine]
allow_unpinned = true
ring_capacity = {ring}
batch_max = {batch}
wait_strategy = "{wait}"
clock = "{clock}"

[journal]
dir = "{dir}"
segment_size_mib = {seg}
durability = "{dur}"
max_record_kib = 64

[limits]
max_accounts = 4096
max_orders = 8192
max_open_orders_per_account = 1024
max_assets = 8
max_symbols = 8

[outputs]
capacity = {cap}
slow_subscriber = "{slow}"

[[assets]]
name = "BTC"
scale = {btc_scale}

[[assets]]
name = "USD"
scale = 6

[[symbols]]
name = "BTC-USD"
base = "BTC"
quote = "USD"
tick_size = "0.01"
lot_size = "0.0001"
maker_fee_bps = {maker}
taker_fee_bps = {taker}
"#,
            ring = self.ring_capacity,
            batch = self.batch_max,
            wait = self.wait,
            clock = self.clock,
            dir = journal_dir.display(),
            seg = self.segment_size_mib,
            dur = self.durability,
            cap = self.out_capacity,
            slow = self.slow,
            btc_scale = self.btc_scale,
            maker = MAKER_BPS,
            taker = self.taker_fee_bps,
        )
    }

    pub fn config(&self, journal_dir: &Path) -> Config {
        keel_edge::config_from_toml(&self.text(journal_dir), Path::new("test.toml"))
            .expect("test config parses")
    }

    /// Writes the config next to the journal and returns its path.
    pub fn write(&self, file: &Path, journal_dir: &Path) -> PathBuf {
        std::fs::write(file, self.text(journal_dir)).expect("write config");
        file.to_owned()
    }
}

// ---- command builders -------------------------------------------------------

pub fn cmd(account: AccountId, request_id: u64, kind: CommandKind) -> Command {
    Command {
        account,
        request_id,
        kind,
    }
}

pub fn open(account: AccountId, request_id: u64) -> Command {
    cmd(account, request_id, CommandKind::OpenAccount)
}

pub fn deposit(account: AccountId, request_id: u64, asset: AssetId, amount: u64) -> Command {
    cmd(account, request_id, CommandKind::Deposit { asset, amount })
}

pub fn limit(
    account: AccountId,
    request_id: u64,
    side: Side,
    price: u64,
    qty: u64,
    tif: TimeInForce,
) -> Command {
    cmd(
        account,
        request_id,
        CommandKind::PlaceOrder(PlaceOrder {
            symbol: BTC_USD,
            side,
            order_type: OrderType::Limit { price },
            qty,
            tif,
            post_only: false,
            stp: StpMode::CancelNewest,
        }),
    )
}

pub fn gtc(account: AccountId, request_id: u64, side: Side, price: u64, qty: u64) -> Command {
    limit(account, request_id, side, price, qty, TimeInForce::Gtc)
}

pub fn cancel(account: AccountId, request_id: u64, order: OrderId) -> Command {
    cmd(account, request_id, CommandKind::CancelOrder { order })
}

pub fn amend(account: AccountId, request_id: u64, order: OrderId, price: u64, qty: u64) -> Command {
    cmd(
        account,
        request_id,
        CommandKind::AmendOrder { order, price, qty },
    )
}

// ---- outputs ----------------------------------------------------------------

/// An owned copy of one output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Out {
    pub seq: u64,
    pub ts_ns: u64,
    pub command: Command,
    pub events: Vec<Event>,
}

/// Generous: only a hung engine gets near it. Never a timing assertion.
pub const HANG: Duration = Duration::from_secs(60);

/// Receives outputs until `n` have arrived (panics if the engine hangs or
/// the subscription ends first).
pub fn collect(sub: &Subscription, n: usize) -> Vec<Out> {
    let mut outs = Vec::with_capacity(n);
    while outs.len() < n {
        let batch = match sub.recv_timeout(HANG) {
            Ok(b) => b,
            Err(e) => panic!("after {} of {n} outputs: {e}", outs.len()),
        };
        for o in batch.iter() {
            outs.push(Out {
                seq: o.seq,
                ts_ns: o.ts_ns,
                command: *o.command,
                events: o.events.to_vec(),
            });
        }
    }
    outs
}

/// Receives every output until the subscription closes.
pub fn collect_until_closed(sub: &Subscription) -> (Vec<Out>, SubscriptionError) {
    let mut outs = Vec::new();
    loop {
        match sub.recv_timeout(HANG) {
            Ok(batch) => outs.extend(batch.iter().map(|o| Out {
                seq: o.seq,
                ts_ns: o.ts_ns,
                command: *o.command,
                events: o.events.to_vec(),
            })),
            Err(SubscriptionError::Timeout) => panic!("engine hung after {} outputs", outs.len()),
            Err(e) => return (outs, e),
        }
    }
}

/// The correlation an output's events carry: every command yields exactly
/// one `Accepted` or `Rejected` naming its account and request id.
pub fn verdict(events: &[Event]) -> (AccountId, u64, bool) {
    let mut found = None;
    for e in events {
        match *e {
            Event::Accepted {
                account,
                request_id,
            } => {
                assert!(found.is_none(), "two verdicts in {events:?}");
                found = Some((account, request_id, true));
            }
            Event::Rejected {
                account,
                request_id,
                ..
            } => {
                assert!(found.is_none(), "two verdicts in {events:?}");
                found = Some((account, request_id, false));
            }
            _ => {}
        }
    }
    found.unwrap_or_else(|| panic!("no Accepted/Rejected in {events:?}"))
}

// ---- journal ----------------------------------------------------------------

/// Every committed record of the journal in `dir`, decoded.
pub fn read_journal(dir: &Path) -> Vec<Record> {
    let mut reader = Journal::reader(dir, 1).expect("journal reader");
    let mut records = Vec::new();
    while let Some(rec) = reader.try_next().expect("journal reads") {
        assert_eq!(rec.seq, records.len() as u64 + 1, "journal sequence gap");
        records.push(Record::decode(rec.seq, &rec.payload).expect("record decodes"));
    }
    records
}

/// Re-decides every journaled command from genesis at its journaled time on a
/// fresh state; checks each reproduces its journaled events; returns the
/// digest.
pub fn replay_digest(config: &Config, records: &[Record]) -> Digest {
    let mut state = State::new(config.limits());
    let mut events = Vec::new();
    for r in records {
        keel_engine::process(&mut state, &r.command, r.ts_ns, &mut events)
            .unwrap_or_else(|e| panic!("record {} does not process: {e}", r.seq));
        assert_eq!(
            events, r.events,
            "record {}: re-deciding {:?} gave other events",
            r.seq, r.command
        );
    }
    state.check_invariants().expect("replayed state invariants");
    state.digest()
}

// ---- rng --------------------------------------------------------------------

/// xorshift64*: deterministic, dependency-free.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform-ish in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// A seed from `var`, or from the clock (printed so a failure can be rerun).
pub fn seed_from_env(var: &str) -> u64 {
    let seed = std::env::var(var)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    eprintln!("seed: {var}={seed}");
    seed
}
