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
        Config::parse(&self.text(journal_dir), Path::new("test.toml")).expect("test config parses")
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

// ---- JSON command lines (for the binary) ------------------------------------

/// A JSON command-line stream for `keel run` with the [`Cfg`] genesis:
/// accounts opened and funded, then crossing limit orders, cancels, amends.
pub struct JsonFlow {
    rng: Rng,
    accounts: Vec<AccountId>,
    next_rid: std::collections::HashMap<AccountId, u64>,
    /// Simulated timestamps when set.
    pub ts: Option<u64>,
    /// Order ids to aim cancels and amends at (guessed; misses are rejected).
    pub order_hint: u64,
}

impl JsonFlow {
    pub fn new(seed: u64, accounts: Vec<AccountId>, ts: Option<u64>) -> JsonFlow {
        JsonFlow {
            rng: Rng::new(seed),
            accounts,
            next_rid: Default::default(),
            ts,
            order_hint: 1,
        }
    }

    fn rid(&mut self, account: AccountId) -> u64 {
        let r = self.next_rid.entry(account).or_insert(1);
        let v = *r;
        *r += 1;
        v
    }

    fn ts_field(&mut self) -> String {
        match &mut self.ts {
            Some(t) => {
                *t += 1_000;
                format!(r#","ts":{t}"#)
            }
            None => String::new(),
        }
    }

    /// Opening and funding lines for every account.
    pub fn setup(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        for a in self.accounts.clone() {
            let (r1, r2, r3) = (self.rid(a), self.rid(a), self.rid(a));
            let t = self.ts_field();
            lines.push(format!(
                r#"{{"type":"open_account","account":{a},"request_id":{r1}{t}}}"#
            ));
            let t = self.ts_field();
            lines.push(format!(
                r#"{{"type":"deposit","account":{a},"request_id":{r2},"asset":"BTC","amount":"50"{t}}}"#
            ));
            let t = self.ts_field();
            lines.push(format!(
                r#"{{"type":"deposit","account":{a},"request_id":{r3},"asset":"USD","amount":"5000000"{t}}}"#
            ));
        }
        lines
    }

    /// One trading line: mostly crossing limit orders, some cancels, amends,
    /// IOCs and GTDs (when simulated).
    pub fn next_line(&mut self) -> String {
        let a = self.accounts[self.rng.next() as usize % self.accounts.len()];
        let rid = self.rid(a);
        let t = self.ts_field();
        let roll = self.rng.range(0, 99);
        let side = if self.rng.chance(50) { "buy" } else { "sell" };
        let price = format!("{}.{:02}", self.rng.range(98, 101), self.rng.range(0, 99));
        let qty = format!("0.{:04}", self.rng.range(1, 9999));
        if roll < 60 {
            self.order_hint += 1;
            format!(
                r#"{{"type":"place_order","account":{a},"request_id":{rid},"symbol":"BTC-USD","side":"{side}","order_type":"limit","price":"{price}","qty":"{qty}"{t}}}"#
            )
        } else if roll < 68 {
            format!(
                r#"{{"type":"place_order","account":{a},"request_id":{rid},"symbol":"BTC-USD","side":"{side}","order_type":"limit","price":"{price}","qty":"{qty}","tif":"ioc"{t}}}"#
            )
        } else if roll < 74 && self.ts.is_some() {
            let expiry = self.ts.unwrap_or(0) + self.rng.range(1, 50) * 1_000;
            self.order_hint += 1;
            format!(
                r#"{{"type":"place_order","account":{a},"request_id":{rid},"symbol":"BTC-USD","side":"{side}","order_type":"limit","price":"{price}","qty":"{qty}","tif":"gtd","expiry_ns":{expiry}{t}}}"#
            )
        } else if roll < 88 {
            let order = self
                .rng
                .range(self.order_hint.saturating_sub(40).max(1), self.order_hint);
            format!(
                r#"{{"type":"cancel_order","account":{a},"request_id":{rid},"order":{order}{t}}}"#
            )
        } else if roll < 96 {
            let order = self
                .rng
                .range(self.order_hint.saturating_sub(40).max(1), self.order_hint);
            let ticks = self.rng.range(9_800, 10_199);
            let lots = self.rng.range(1, 9_999);
            format!(
                r#"{{"type":"amend_order","account":{a},"request_id":{rid},"order":{order},"price_ticks":{ticks},"qty_lots":{lots}{t}}}"#
            )
        } else if roll < 98 {
            format!(
                r#"{{"type":"cancel_all","account":{a},"request_id":{rid},"symbol":"BTC-USD"{t}}}"#
            )
        } else {
            format!(
                r#"{{"type":"place_order","account":{a},"request_id":{rid},"symbol":"BTC-USD","side":"sell","order_type":"market","qty":"{qty}","tif":"ioc"{t}}}"#
            )
        }
    }
}

/// The `keel` binary under test.
pub fn keel_bin() -> &'static str {
    env!("CARGO_BIN_EXE_keel")
}

/// What a `keel` process did.
#[derive(Debug)]
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// stdout parsed as JSON lines.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad output line {l}: {e}")))
            .collect()
    }

    /// The final digest from the `keel run:` summary line on stderr.
    pub fn run_digest(&self) -> String {
        let line = self
            .stderr
            .lines()
            .rfind(|l| l.starts_with("keel run:"))
            .unwrap_or_else(|| panic!("no summary line in stderr:\n{}", self.stderr));
        line.rsplit("digest ")
            .next()
            .expect("digest in the summary")
            .trim()
            .to_owned()
    }
}

/// Runs `keel <args>` to completion.
pub fn keel(args: &[&str]) -> Ran {
    let out = std::process::Command::new(keel_bin())
        .args(args)
        .output()
        .expect("spawn keel");
    Ran {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `keel run --config <config> --input <file with lines> --output -`.
pub fn keel_run_lines(config: &Path, work: &Path, lines: &[String]) -> Ran {
    let input = work.join("input.jsonl");
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(&input, text).expect("write input");
    keel(&[
        "run",
        "--config",
        config.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--output",
        "-",
    ])
}
