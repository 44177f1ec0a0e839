//! `cargo run --release -p benches --bin gateway_load -- [--connections K] [--rates R,R] [--duration S]
//! [--subscribers N [--fanout-rates R,R] [--fanout-runs 3] [--fanout-duration S]]`
//!
//! Load on `keel serve`'s WebSocket gateway, against its floor.
//!
//! The gateway (`keel_gateway::Server`, engine and all, durability `none`)
//! and a plain WebSocket echo server on the same stack (axum 0.8 ws on a
//! 2-worker tokio runtime, as the gateway) run in this process. K
//! tokio-tungstenite clients on loopback, one account and one connection
//! each, send at a planned open-loop rate: command k of a step is planned at
//! `start + k / rate` (round robin over the connections), a pacer thread
//! wakes each connection's sender when its next command is due, and a sender
//! that is late sends at once and never skips. The latency of command k is
//! `answer received − planned(k)`, so queueing anywhere (client, kernel,
//! gateway, engine) counts and coordinated omission is not hidden. Each rate
//! runs against the echo server, then against the gateway, with the same
//! clients, the same command mix and the same reply size (the echo pads its
//! reply to the gateway's mean answer size in the step before: warm-up or
//! the previous rate).
//!
//! The mix, on BTC-USD and ETH-USD, every account funded: limit GTC orders
//! near the mid (liquidity), limit IOC orders that cross them (trades),
//! limit GTC orders far from the mid, and cancels and amends of those (the
//! client learns their order ids from the answers). Rejections are counted
//! by reason from the answers, errors by code; both are printed.
//!
//! With `--subscribers N`, a stepped market-data fan-out run follows: for
//! each `--fanout-rates` rate, `--fanout-runs` pairs of gateway steps
//! without and with N `/v1/market` subscribers (book and trades of both
//! symbols each; connected before their step, gone before the next), in
//! turn without-first and with-first. It prints per rate the medians of
//! answers/s without and with, the cost in answers/s, the subscribers'
//! commit → receipt latency (p50/p99, from each message's `ts`, including
//! the backlog they read after the step, up to `--drain` seconds) and the
//! orders' p99 without and with, plus how many of the messages the feed
//! queued were received.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::{Message as AxMessage, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use clap::Parser;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{FutureExt, SinkExt, StreamExt};
use hdrhistogram::Histogram;
use keel_gateway::{add_key, GatewayConfig, Server};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, Notify};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Sink = SplitSink<Ws, Message>;
type Stream = SplitStream<Ws>;

#[derive(Parser, Debug, Clone)]
#[command(about = "Open-loop load on the WebSocket gateway, with an echo server as its floor")]
struct Args {
    /// Client connections (one account each).
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// Planned rates, commands/s over all connections; each runs against
    /// the gateway, then the echo floor.
    #[arg(long, value_delimiter = ',', default_value = "20000,50000,250000")]
    rates: Vec<u64>,
    /// Seconds each rate is offered.
    #[arg(long, default_value_t = 4.0)]
    duration: f64,
    /// Seconds of warm-up (gateway, then echo) at the first rate, not recorded.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Longest wait for outstanding answers after a step, seconds.
    #[arg(long, default_value_t = 5.0)]
    drain: f64,
    /// Worker threads of the clients' tokio runtime (the pacer is one more
    /// thread).
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Core the engine's loop thread is pinned to, or `none`.
    #[arg(long, default_value = "1")]
    engine_core: String,
    /// Skip the echo floor.
    #[arg(long)]
    no_echo: bool,
    /// Market-data fan-out: after the steps, run the gateway at each
    /// `--fanout-rates` rate without and with this many `/v1/market`
    /// subscribers (book and trades of both symbols each), `--fanout-runs`
    /// times each, and report medians: answers/s of both, the cost, the
    /// subscribers' commit → receipt latency and the orders' p99 (0: skip).
    #[arg(long, default_value_t = 0)]
    subscribers: usize,
    /// Planned rates of the fan-out steps, commands/s.
    #[arg(
        long,
        alias = "fanout-rate",
        value_delimiter = ',',
        default_value = "5000,20000,50000,100000"
    )]
    fanout_rates: Vec<u64>,
    /// Runs per rate, each with and without the subscribers (in turn
    /// without first, then with first); the table shows medians.
    #[arg(long, default_value_t = 3)]
    fanout_runs: usize,
    /// Seconds each fan-out step is offered.
    #[arg(long, default_value_t = 3.0)]
    fanout_duration: f64,
    /// Leave Nagle's algorithm on for the echo server's sockets. By default
    /// the echo sets TCP_NODELAY, as the gateway's accept loop does, so both
    /// run under the same conditions.
    #[arg(long)]
    echo_delay: bool,
    /// Seed of the command mix.
    #[arg(long, default_value_t = 13)]
    seed: u64,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

// ---------------------------------------------------------------- the mix

const SYMBOLS: [&str; 2] = ["BTC-USD", "ETH-USD"];
/// Mid price in ticks (0.01 USD): 30,000.00 and 2,000.00.
const MID: [u64; 2] = [3_000_000, 200_000];
/// Decimal places of a quantity (lot 0.0001 BTC, 0.001 ETH).
const QTY_DP: [u32; 2] = [4, 3];
/// Near orders rest 1..=NEAR ticks from the mid; IOCs cross up to NEAR.
const NEAR: u64 = 5;
/// Far orders rest FAR..FAR+FAR_SPREAD ticks from the mid, out of every
/// IOC's reach, so they are alive when cancelled or amended.
const FAR: u64 = 2_000;
const FAR_SPREAD: u64 = 1_000;
/// A connection cancels rather than adds far orders beyond this many.
const FAR_CAP: usize = 2_000;
/// The request id of a connection's first bench command (1: open_account,
/// 2..=4: deposits).
const FIRST_REQUEST_ID: u64 = 10;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u64)]
enum Kind {
    Near = 0,
    Ioc = 1,
    FarPlace = 2,
    Cancel = 3,
    Amend = 4,
}

const KIND_NAMES: [&str; 5] = ["near_gtc", "ioc", "far_gtc", "cancel", "amend"];

/// A tag: kind (3 bits), side (1), symbol (1), far offset (10), command
/// index k within the step (33), step (4): 52 bits, an exact JSON integer
/// everywhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Tag {
    kind: u64,
    sell: bool,
    sym: usize,
    off: u64,
    k: u64,
    step: u64,
}

impl Tag {
    fn encode(self) -> u64 {
        self.kind
            | (u64::from(self.sell) << 3)
            | ((self.sym as u64) << 4)
            | ((self.off & 0x3ff) << 5)
            | ((self.k & ((1 << 33) - 1)) << 15)
            | ((self.step & 0xf) << 48)
    }

    fn decode(t: u64) -> Tag {
        Tag {
            kind: t & 7,
            sell: (t >> 3) & 1 == 1,
            sym: ((t >> 4) & 1) as usize,
            off: (t >> 5) & 0x3ff,
            k: (t >> 15) & ((1 << 33) - 1),
            step: (t >> 48) & 0xf,
        }
    }
}

/// A far order known to rest.
#[derive(Clone, Copy, Debug)]
struct FarOrder {
    id: u64,
    sym: usize,
    sell: bool,
    price: u64,
}

/// A connection's far orders known to rest, and its far places not yet
/// answered in this step.
#[derive(Default)]
struct FarBook {
    orders: Vec<FarOrder>,
    pending: usize,
}

type Far = Arc<Mutex<FarBook>>;

fn lock(far: &Mutex<FarBook>) -> std::sync::MutexGuard<'_, FarBook> {
    far.lock().unwrap_or_else(|p| p.into_inner())
}

fn far_price(sym: usize, sell: bool, off: u64) -> u64 {
    if sell {
        MID[sym] + FAR + off
    } else {
        MID[sym] - FAR - off
    }
}

/// xorshift64*: the mix needs no quality beyond "not a pattern".
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        ((self.next() >> 32) * n) >> 32
    }
}

fn decimal(v: u64, dp: u32) -> String {
    let unit = 10u64.pow(dp);
    format!("{}.{:0width$}", v / unit, v % unit, width = dp as usize)
}

/// One connection's command source: its request ids and its random mix.
struct Gen {
    rng: Rng,
    request_id: u64,
    /// Commands sent by kind in the current step.
    mix: [u64; 5],
}

impl Gen {
    /// The command for index `k` of step `step`, as sent (tag first).
    fn command(&mut self, k: u64, step: u64, far: &Mutex<FarBook>) -> String {
        let roll = self.rng.below(100);
        let sym = self.rng.below(2) as usize;
        let sell = self.rng.below(2) == 1;
        let mut kind = match roll {
            0..40 => Kind::Near,
            40..60 => Kind::Ioc,
            60..77 => Kind::FarPlace,
            77..92 => Kind::Cancel,
            _ => Kind::Amend,
        };
        let mut target = None;
        {
            let mut book = lock(far);
            let full = book.orders.len() + book.pending >= FAR_CAP;
            if kind == Kind::FarPlace && full {
                kind = Kind::Cancel;
            }
            if matches!(kind, Kind::Cancel | Kind::Amend) && book.orders.is_empty() {
                // Nothing known to rest yet (answers in flight): place
                // instead, unless too many far places wait for answers.
                kind = if full { Kind::Near } else { Kind::FarPlace };
            }
            if kind == Kind::FarPlace {
                book.pending += 1;
            }
            let far = &mut book.orders;
            if matches!(kind, Kind::Cancel | Kind::Amend) {
                let i = self.rng.below(far.len() as u64) as usize;
                if kind == Kind::Cancel {
                    target = Some(far.swap_remove(i));
                } else {
                    // A new price, never the current one.
                    let o = &mut far[i];
                    let mut off = self.rng.below(FAR_SPREAD);
                    if far_price(o.sym, o.sell, off) == o.price {
                        off = (off + 1) % FAR_SPREAD;
                    }
                    o.price = far_price(o.sym, o.sell, off);
                    target = Some(*o);
                }
            }
        }
        let off = if kind == Kind::FarPlace {
            self.rng.below(FAR_SPREAD)
        } else {
            0
        };
        let tag = Tag {
            kind: kind as u64,
            sell,
            sym,
            off,
            k,
            step,
        }
        .encode();
        self.mix[kind as usize] += 1;
        let rid = self.request_id;
        self.request_id += 1;
        let side = if sell { "sell" } else { "buy" };
        let symbol = SYMBOLS[sym];
        let dp = QTY_DP[sym];
        match kind {
            Kind::Near | Kind::Ioc | Kind::FarPlace => {
                let (price, lots, tif) = match kind {
                    Kind::Near => {
                        let d = 1 + self.rng.below(NEAR);
                        let p = if sell { MID[sym] + d } else { MID[sym] - d };
                        (p, 10 + self.rng.below(90), "gtc")
                    }
                    Kind::Ioc => {
                        let p = if sell {
                            MID[sym] - NEAR
                        } else {
                            MID[sym] + NEAR
                        };
                        (p, 50 + self.rng.below(200), "ioc")
                    }
                    _ => (far_price(sym, sell, off), 10 + self.rng.below(90), "gtc"),
                };
                format!(
                    r#"{{"tag":{tag},"type":"place_order","request_id":{rid},"symbol":"{symbol}","side":"{side}","order_type":"limit","price":"{}","qty":"{}","tif":"{tif}"}}"#,
                    decimal(price, 2),
                    decimal(lots, dp)
                )
            }
            Kind::Cancel => {
                let o = target.expect("a far order");
                format!(
                    r#"{{"tag":{tag},"type":"cancel_order","request_id":{rid},"order":{}}}"#,
                    o.id
                )
            }
            Kind::Amend => {
                let o = target.expect("a far order");
                format!(
                    r#"{{"tag":{tag},"type":"amend_order","request_id":{rid},"order":{},"price_ticks":{},"qty_lots":{}}}"#,
                    o.id,
                    o.price,
                    10 + self.rng.below(90)
                )
            }
        }
    }
}

// ---------------------------------------------------------------- parsing

/// The integer after `key` in `text`.
fn int_after(text: &str, key: &str) -> Option<u64> {
    let at = text.find(key)? + key.len();
    let digits = text[at..]
        .bytes()
        .take_while(u8::is_ascii_digit)
        .fold((0u64, 0usize), |(v, n), b| {
            (v.wrapping_mul(10) + u64::from(b - b'0'), n + 1)
        });
    (digits.1 > 0).then_some(digits.0)
}

/// The string after `key` (`"key":"`) in `text`.
fn str_after<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let at = text.find(key)? + key.len();
    let end = text[at..].find('"')?;
    Some(&text[at..at + end])
}

// ---------------------------------------------------------------- a step

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Target {
    Gateway,
    Echo,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Gateway => "gateway",
            Target::Echo => "echo",
        }
    }
}

/// The planned send times of one step: command k at start + k/rate.
#[derive(Clone, Copy)]
struct Plan {
    start: Instant,
    rate: u64,
    total: u64,
    step: u64,
}

impl Plan {
    fn planned(&self, k: u64) -> Instant {
        self.start
            + Duration::from_nanos((u128::from(k) * 1_000_000_000 / u128::from(self.rate)) as u64)
    }

    /// Commands due at `now`.
    fn due(&self, now: Instant) -> u64 {
        if now < self.start {
            return 0;
        }
        let ns = now.duration_since(self.start).as_nanos();
        ((ns * u128::from(self.rate) / 1_000_000_000) as u64 + 1).min(self.total)
    }

    fn end(&self) -> Instant {
        self.planned(self.total)
    }
}

/// What one connection carries from step to step.
struct Conn {
    sink: Sink,
    stream: Stream,
    gen: Gen,
    far: Far,
}

/// What one connection's receiver saw in a step.
struct Seen {
    latency: Histogram<u64>,
    answers: u64,
    errors: BTreeMap<String, u64>,
    rejections: BTreeMap<String, u64>,
    updates: u64,
    other: BTreeMap<String, u64>,
    late: u64,
    bytes: u64,
    last: Option<Instant>,
    closed: Option<String>,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid bounds")
}

/// Sends connection `c`'s share of the plan: commands k ≡ c (mod K), each
/// as soon as it is due. Commands not sent by a second past the plan's end
/// are left unsent (counted).
#[allow(clippy::too_many_arguments)]
async fn send_part(
    mut sink: Sink,
    mut gen: Gen,
    far: Far,
    plan: Plan,
    c: u64,
    k_conns: u64,
    wake: Arc<Notify>,
    sent: Arc<AtomicU64>,
) -> (Sink, Gen, Histogram<u64>, u64, Option<String>) {
    let mut lag = histogram();
    gen.mix = [0; 5];
    let mut next = c;
    let give_up = plan.end() + Duration::from_secs(1);
    let mut failed = None;
    'outer: while next < plan.total {
        wake.notified().await;
        loop {
            let now = Instant::now();
            if now > give_up {
                break 'outer;
            }
            let due = plan.due(now);
            if next >= due {
                break;
            }
            let mut batch = 0;
            while next < due && batch < 64 {
                let text = gen.command(next, plan.step, &far);
                let now = Instant::now();
                lag.record(now.saturating_duration_since(plan.planned(next)).as_nanos() as u64)
                    .ok();
                if let Err(e) = sink.feed(Message::Text(text.into())).await {
                    failed = Some(e.to_string());
                    break 'outer;
                }
                sent.fetch_add(1, Ordering::Relaxed);
                next += k_conns;
                batch += 1;
            }
            if let Err(e) = sink.flush().await {
                failed = Some(e.to_string());
                break 'outer;
            }
        }
    }
    if failed.is_none() {
        if let Err(e) = sink.flush().await {
            failed = Some(e.to_string());
        }
    }
    let unsent = if next < plan.total {
        (plan.total - next).div_ceil(k_conns)
    } else {
        0
    };
    (sink, gen, lag, unsent, failed)
}

/// Reads replies until told to stop.
async fn receive_part(
    mut stream: Stream,
    target: Target,
    plan: Plan,
    far: Far,
    done: Arc<AtomicU64>,
    mut stop: oneshot::Receiver<()>,
) -> (Stream, Seen) {
    let mut seen = Seen {
        latency: histogram(),
        answers: 0,
        errors: BTreeMap::new(),
        rejections: BTreeMap::new(),
        updates: 0,
        other: BTreeMap::new(),
        late: 0,
        bytes: 0,
        last: None,
        closed: None,
    };
    let step = plan.step & 0xf;
    loop {
        let frame = tokio::select! {
            biased;
            f = stream.next() => f,
            _ = &mut stop => break,
        };
        let text = match frame {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Close(f))) => {
                seen.closed = Some(format!("close frame {f:?}"));
                break;
            }
            Some(Ok(other)) => {
                *seen.other.entry(format!("{other:?}")).or_default() += 1;
                continue;
            }
            Some(Err(e)) => {
                seen.closed = Some(e.to_string());
                break;
            }
            None => {
                seen.closed = Some("stream ended".into());
                break;
            }
        };
        let now = Instant::now();
        let text = text.as_str();
        let (is_answer, is_error) = match target {
            Target::Echo => (text.starts_with("{\"tag\":"), false),
            Target::Gateway => {
                if text.starts_with("{\"type\":\"answer\"") {
                    (true, false)
                } else if text.starts_with("{\"type\":\"error\"") {
                    (false, true)
                } else if text.starts_with("{\"type\":\"update\"") {
                    seen.updates += 1;
                    continue;
                } else {
                    let kind = str_after(text, "\"type\":\"").unwrap_or("?").to_owned();
                    *seen.other.entry(kind).or_default() += 1;
                    continue;
                }
            }
        };
        let Some(tag) = int_after(text, "\"tag\":").map(Tag::decode) else {
            *seen.other.entry("untagged".into()).or_default() += 1;
            continue;
        };
        if tag.step != step {
            seen.late += 1;
            continue;
        }
        done.fetch_add(1, Ordering::Relaxed);
        let far_place = tag.kind == Kind::FarPlace as u64;
        if is_error {
            let code = str_after(text, "\"code\":\"").unwrap_or("?").to_owned();
            *seen.errors.entry(code).or_default() += 1;
            if far_place {
                let mut book = lock(&far);
                book.pending = book.pending.saturating_sub(1);
            }
            continue;
        }
        debug_assert!(is_answer);
        seen.answers += 1;
        seen.last = Some(now);
        seen.bytes += text.len() as u64;
        seen.latency
            .record(
                now.saturating_duration_since(plan.planned(tag.k))
                    .as_nanos() as u64,
            )
            .ok();
        let rejected = target == Target::Gateway && text.contains("\"type\":\"rejected\"");
        if rejected {
            let reason = str_after(text, "\"reason\":\"").unwrap_or("?").to_owned();
            *seen.rejections.entry(reason).or_default() += 1;
        }
        if far_place {
            let id = match target {
                _ if rejected => None,
                Target::Gateway => int_after(text, "\"type\":\"order_rested\",\"order\":"),
                // The echo has no order ids: make one up, so that the echo's
                // clients send the same mix of cancels and amends.
                Target::Echo => Some(tag.k + 1),
            };
            let mut book = lock(&far);
            book.pending = book.pending.saturating_sub(1);
            if let Some(id) = id {
                book.orders.push(FarOrder {
                    id,
                    sym: tag.sym,
                    sell: tag.sell,
                    price: far_price(tag.sym, tag.sell, tag.off),
                });
            }
        }
    }
    (stream, seen)
}

/// Wakes each connection's sender when one of its commands is due.
fn pace(plan: Plan, wakes: Vec<Arc<Notify>>, stop: Arc<AtomicBool>) -> u64 {
    // Sleeps end on time (the default slack is 50 µs): no spinning, which
    // would take a core from the server on a 2-core machine.
    // SAFETY: PR_SET_TIMERSLACK takes an integer and touches only this thread.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
    let k = wakes.len() as u64;
    let mut woken = 0u64;
    loop {
        let now = Instant::now();
        let due = plan.due(now);
        if due > woken {
            if due - woken >= k {
                wakes.iter().for_each(|w| w.notify_one());
            } else {
                (woken..due).for_each(|i| wakes[(i % k) as usize].notify_one());
            }
            woken = due;
        }
        if due >= plan.total || stop.load(Ordering::Relaxed) {
            // Once more, so that late senders see the end.
            wakes.iter().for_each(|w| w.notify_one());
            return own_cpu_ns();
        }
        // At high rates, wake every 25 µs at most and send what is due:
        // a wake per command would cost the pacer a core.
        let next = plan.planned(due).max(now + Duration::from_micros(25));
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
    }
}

/// One step's result.
struct StepResult {
    target: Target,
    rate: u64,
    duration_s: f64,
    planned: u64,
    sent: u64,
    unsent: u64,
    answers: u64,
    errors: BTreeMap<String, u64>,
    rejections: BTreeMap<String, u64>,
    updates: u64,
    other: BTreeMap<String, u64>,
    late: u64,
    latency: Histogram<u64>,
    send_lag: Histogram<u64>,
    answers_per_s: f64,
    mean_reply_bytes: f64,
    mix: [u64; 5],
    failures: Vec<String>,
    drained: bool,
    /// CPU ms by thread name over the step, and the step's wall time.
    cpu_ms: BTreeMap<String, u64>,
    cpu_window_s: f64,
}

impl StepResult {
    fn error_total(&self) -> u64 {
        self.errors.values().sum()
    }

    fn rejected_total(&self) -> u64 {
        self.rejections.values().sum()
    }

    fn saturated(&self) -> bool {
        self.unsent > 0 || !self.drained || self.answers_per_s < 0.9 * self.rate as f64
    }

    fn us(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }

    fn json(&self) -> Value {
        json!({
            "target": self.target.name(),
            "rate": self.rate,
            "duration_s": self.duration_s,
            "planned": self.planned,
            "sent": self.sent,
            "unsent": self.unsent,
            "answers": self.answers,
            "answers_per_s": self.answers_per_s,
            "errors": self.errors,
            "error_total": self.error_total(),
            "rejections": self.rejections,
            "rejected_total": self.rejected_total(),
            "updates": self.updates,
            "other_messages": self.other,
            "late": self.late,
            "drained": self.drained,
            "saturated": self.saturated(),
            "mean_reply_bytes": self.mean_reply_bytes,
            "mix": KIND_NAMES.iter().zip(self.mix).map(|(n, c)| (n.to_string(), json!(c))).collect::<serde_json::Map<_, _>>(),
            "latency_us": {
                "p50": self.us(0.50), "p90": self.us(0.90), "p99": self.us(0.99),
                "p99.9": self.us(0.999), "max": self.latency.max() as f64 / 1000.0,
                "count": self.latency.len(),
            },
            "send_lag_us": {
                "p50": self.send_lag.value_at_quantile(0.5) as f64 / 1000.0,
                "p99": self.send_lag.value_at_quantile(0.99) as f64 / 1000.0,
                "max": self.send_lag.max() as f64 / 1000.0,
            },
            "failures": self.failures,
            "cpu_ms_by_thread": self.cpu_ms,
            "cpu_window_s": self.cpu_window_s,
        })
    }
}

/// Runs one step on `conns` and gives them back.
async fn run_step(
    conns: Vec<Conn>,
    target: Target,
    rate: u64,
    duration: f64,
    step: u64,
    drain: f64,
) -> (Vec<Conn>, StepResult) {
    let k_conns = conns.len() as u64;
    let total = ((rate as f64 * duration).round() as u64).max(1);
    let plan = Plan {
        start: Instant::now() + Duration::from_millis(20),
        rate,
        total,
        step,
    };
    let cpu_before = thread_cpu_ms();
    let sent = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let wakes: Vec<Arc<Notify>> = (0..conns.len()).map(|_| Arc::new(Notify::new())).collect();
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    let mut stops = Vec::new();
    let mut fars = Vec::new();
    for (c, conn) in conns.into_iter().enumerate() {
        // Far places of an earlier step answered late are never learned.
        lock(&conn.far).pending = 0;
        fars.push(conn.far.clone());
        let (stop_tx, stop_rx) = oneshot::channel();
        stops.push(stop_tx);
        receivers.push(tokio::spawn(receive_part(
            conn.stream,
            target,
            plan,
            conn.far.clone(),
            done.clone(),
            stop_rx,
        )));
        senders.push(tokio::spawn(send_part(
            conn.sink,
            conn.gen,
            conn.far.clone(),
            plan,
            c as u64,
            k_conns,
            wakes[c].clone(),
            sent.clone(),
        )));
    }
    let pacer_stop = Arc::new(AtomicBool::new(false));
    let pacer = {
        let stop = pacer_stop.clone();
        std::thread::Builder::new()
            .name("gateway-load-pacer".into())
            .spawn(move || pace(plan, wakes, stop))
            .expect("pacer thread")
    };
    let mut sinks = Vec::new();
    let mut send_lag = histogram();
    let mut unsent = 0;
    let mut failures = Vec::new();
    for s in senders {
        let (sink, gen, lag, u, failed) = s.await.expect("sender task");
        sinks.push((sink, gen));
        send_lag.add(&lag).ok();
        unsent += u;
        failures.extend(failed.map(|f| format!("send: {f}")));
    }
    pacer_stop.store(true, Ordering::Relaxed);
    let pacer_cpu_ms = tokio::task::spawn_blocking(move || pacer.join())
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or(0)
        / 1_000_000;
    let sent_total = sent.load(Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs_f64(drain);
    let mut drained = true;
    while done.load(Ordering::Relaxed) < sent_total {
        if Instant::now() > deadline {
            drained = false;
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut cpu_ms = thread_cpu_ms();
    for (name, ms) in &mut cpu_ms {
        *ms = ms.saturating_sub(cpu_before.get(name).copied().unwrap_or(0));
    }
    cpu_ms.retain(|_, ms| *ms > 0);
    if pacer_cpu_ms > 0 {
        cpu_ms.insert("gateway-load-pacer".into(), pacer_cpu_ms);
    }
    let cpu_window_s = Instant::now()
        .saturating_duration_since(plan.start)
        .as_secs_f64();
    for s in stops {
        let _ = s.send(());
    }
    let mut result = StepResult {
        target,
        rate,
        duration_s: duration,
        planned: total,
        sent: sent_total,
        unsent,
        answers: 0,
        errors: BTreeMap::new(),
        rejections: BTreeMap::new(),
        updates: 0,
        other: BTreeMap::new(),
        late: 0,
        latency: histogram(),
        send_lag,
        answers_per_s: 0.0,
        mean_reply_bytes: 0.0,
        mix: [0; 5],
        failures,
        drained,
        cpu_ms,
        cpu_window_s,
    };
    let mut last = plan.start;
    let mut bytes = 0;
    let mut conns = Vec::new();
    for (((r, (sink, gen)), far), c) in receivers.into_iter().zip(sinks).zip(fars).zip(0..) {
        let (stream, seen) = r.await.expect("receiver task");
        for (m, g) in result.mix.iter_mut().zip(gen.mix) {
            *m += g;
        }
        result.latency.add(&seen.latency).ok();
        result.answers += seen.answers;
        for (k, v) in seen.errors {
            *result.errors.entry(k).or_default() += v;
        }
        for (k, v) in seen.rejections {
            *result.rejections.entry(k).or_default() += v;
        }
        for (k, v) in seen.other {
            *result.other.entry(k).or_default() += v;
        }
        result.updates += seen.updates;
        result.late += seen.late;
        bytes += seen.bytes;
        if let Some(t) = seen.last {
            last = last.max(t);
        }
        if let Some(why) = seen.closed {
            result.failures.push(format!("connection {c}: {why}"));
        }
        conns.push(Conn {
            sink,
            stream,
            gen,
            far,
        });
    }
    let elapsed = last
        .saturating_duration_since(plan.start)
        .as_secs_f64()
        .max(duration);
    result.answers_per_s = result.answers as f64 / elapsed;
    result.mean_reply_bytes = if result.answers > 0 {
        bytes as f64 / result.answers as f64
    } else {
        0.0
    };
    (conns, result)
}

// ---------------------------------------------------------------- servers

fn engine_toml(journal: &std::path::Path, core: Option<usize>, accounts: usize) -> String {
    let core = core.map_or(String::new(), |c| format!("core = {c}\n"));
    format!(
        r#"
[engine]
{core}allow_unpinned = true
prefault = true
ring_capacity = 65536
batch_max = 256
wait_strategy = "spin_then_park"
clock = "system"
[journal]
dir = "{}"
segment_size_mib = 64
durability = "none"
max_record_kib = 4096
[limits]
max_accounts = {}
max_orders = 1048576
max_open_orders_per_account = 131072
max_assets = 16
max_symbols = 16
[outputs]
capacity = 4096
slow_subscriber = "block"
[[assets]]
name = "BTC"
scale = 8
[[assets]]
name = "ETH"
scale = 8
[[assets]]
name = "USD"
scale = 6
[[symbols]]
name = "BTC-USD"
base = "BTC"
quote = "USD"
tick_size = "0.01"
lot_size = "0.0001"
maker_fee_bps = 1
taker_fee_bps = 5
[[symbols]]
name = "ETH-USD"
base = "ETH"
quote = "USD"
tick_size = "0.01"
lot_size = "0.001"
maker_fee_bps = 0
taker_fee_bps = 3
"#,
        journal.display(),
        (accounts + 1).max(16)
    )
}

/// The echo floor: reads each text frame and writes it back padded with
/// spaces to `pad_to` bytes (valid JSON still), writing whatever is
/// already read before one flush, as the gateway batches its writes.
async fn echo(socket: WebSocket, pad_to: Arc<AtomicU64>) {
    let (mut sink, mut stream) = socket.split();
    let reply = |t: &str| {
        let want = pad_to.load(Ordering::Relaxed) as usize;
        let mut s = String::with_capacity(want.max(t.len()));
        s.push_str(t);
        while s.len() < want {
            s.push(' ');
        }
        AxMessage::Text(s.into())
    };
    while let Some(Ok(first)) = stream.next().await {
        let AxMessage::Text(t) = first else { continue };
        if sink.feed(reply(t.as_str())).await.is_err() {
            return;
        }
        for _ in 0..256 {
            match stream.next().now_or_never() {
                Some(Some(Ok(AxMessage::Text(t)))) => {
                    if sink.feed(reply(t.as_str())).await.is_err() {
                        return;
                    }
                }
                Some(Some(Ok(_))) => {}
                Some(None | Some(Err(_))) => return,
                None => break,
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
}

/// Starts the echo server on its own 2-worker runtime, as the gateway's.
fn start_echo(pad_to: Arc<AtomicU64>, nodelay: bool) -> (tokio::runtime::Runtime, SocketAddr) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("echo-server")
        .enable_all()
        .build()
        .expect("echo runtime");
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("echo listener");
    let addr = listener.local_addr().expect("echo address");
    let app = Router::new().route(
        "/echo",
        get(move |ws: WebSocketUpgrade| {
            let pad_to = pad_to.clone();
            async move {
                let r: Response = ws.on_upgrade(move |s| echo(s, pad_to));
                r
            }
        }),
    );
    rt.spawn(async move {
        use axum::serve::ListenerExt;
        let listener = listener.tap_io(move |tcp| {
            if nodelay {
                let _ = tcp.set_nodelay(true);
            }
        });
        let _ = axum::serve(listener, app).await;
    });
    (rt, addr)
}

async fn connect(url: &str, key: Option<&str>) -> Result<Ws, String> {
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    if let Some(key) = key {
        request.headers_mut().insert(
            "Authorization",
            format!("Bearer {key}").parse().map_err(|_| "bad key")?,
        );
    }
    let (ws, _) = tokio_tungstenite::connect_async_with_config(request, None, true)
        .await
        .map_err(|e| format!("connect {url}: {e}"))?;
    Ok(ws)
}

/// What one market-data subscriber received.
struct SubSeen {
    /// Commit → receipt, ns.
    latency: Histogram<u64>,
    messages: u64,
}

/// `n` market-data sessions following book and trades of both symbols
/// (each subscription's snapshot received before this returns); each
/// measures the time from a record's commit (its `ts`, the engine's system
/// clock, ns since the Unix epoch) to receipt, until `stop` and then until
/// its backlog is read (quiet for 300 ms) or `drain` has passed.
async fn subscribe_market(
    gateway_url: &str,
    n: usize,
    stop: Arc<AtomicBool>,
    drain: Duration,
) -> Result<Vec<tokio::task::JoinHandle<SubSeen>>, String> {
    let url = gateway_url.replace("/v1/ws", "/v1/market");
    let mut tasks = Vec::new();
    for _ in 0..n {
        let mut ws = connect(&url, None).await?;
        next_json(&mut ws).await?;
        for symbol in ["BTC-USD", "ETH-USD"] {
            for channel in ["book", "trades"] {
                let m = json!({"type":"subscribe","channel":channel,"symbol":symbol});
                ws.send(Message::Text(m.to_string().into()))
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        let mut snapshots = 0;
        while snapshots < 4 {
            let m = next_json(&mut ws).await?;
            match m["type"].as_str() {
                Some("book" | "trades") => snapshots += 1,
                Some("book_delta" | "trade") => {}
                _ => return Err(format!("subscribe: {m}")),
            }
        }
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut seen = SubSeen {
                latency: histogram(),
                messages: 0,
            };
            let mut stopped: Option<Instant> = None;
            let mut last = Instant::now();
            loop {
                if stopped.is_none() && stop.load(Ordering::Relaxed) {
                    stopped = Some(Instant::now());
                }
                if let Some(at) = stopped {
                    if last.elapsed() > Duration::from_millis(300) || at.elapsed() > drain {
                        break;
                    }
                }
                let text = match tokio::time::timeout(Duration::from_millis(100), ws.next()).await {
                    Err(_) => continue,
                    Ok(Some(Ok(Message::Text(t)))) => t,
                    Ok(Some(Ok(_))) => continue,
                    Ok(None | Some(Err(_))) => break,
                };
                last = Instant::now();
                let text = text.as_str();
                if !(text.starts_with("{\"type\":\"book_delta\"")
                    || text.starts_with("{\"type\":\"trade\""))
                {
                    continue;
                }
                if let Some(ts) = int_after(text, "\"ts\":") {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_nanos() as u64);
                    let _ = seen.latency.record(now.saturating_sub(ts).max(1));
                    seen.messages += 1;
                }
            }
            let _ = ws.close(None).await;
            seen
        }));
    }
    Ok(tasks)
}

/// Messages the feed has queued to subscribers, all channels together.
fn market_sent(server: &Server) -> u64 {
    let t = server.telemetry();
    t["market"]["sent"]
        .as_object()
        .map_or(0, |m| m.values().filter_map(Value::as_u64).sum())
}

/// Market-data subscriptions held now.
fn market_subscribers(server: &Server) -> u64 {
    let t = server.telemetry();
    t["market"]["subscribers"]
        .as_object()
        .map_or(0, |m| m.values().filter_map(Value::as_u64).sum())
}

/// How many sequences the feed thread's read models are behind the router.
fn market_lag(server: &Server) -> u64 {
    server.telemetry()["market"]["lag"].as_u64().unwrap_or(0)
}

/// Sessions closed as slow readers so far.
fn slow_reader_closes(server: &Server) -> u64 {
    server.telemetry()["closed"]["slow_reader"]
        .as_u64()
        .unwrap_or(0)
}

/// One fan-out step: the gateway's step, and with subscribers what they
/// received.
struct FanRun {
    step: StepResult,
    /// Commit → receipt over all subscribers (with subscribers only).
    feed: Option<Histogram<u64>>,
    received: u64,
    queued: u64,
    slow_closed: u64,
    /// The largest lag of the read models behind the router seen during
    /// the step, sequences.
    feed_lag_max: u64,
}

/// The runs of one planned rate.
struct FanRow {
    rate: u64,
    without: Vec<FanRun>,
    with: Vec<FanRun>,
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

impl FanRow {
    fn answers(runs: &[FanRun]) -> f64 {
        median(runs.iter().map(|r| r.step.answers_per_s).collect())
    }

    fn order_p99_us(runs: &[FanRun]) -> f64 {
        median(runs.iter().map(|r| r.step.us(0.99)).collect())
    }

    fn feed_ms(&self, q: f64) -> f64 {
        median(
            self.with
                .iter()
                .filter_map(|r| r.feed.as_ref())
                .map(|h| h.value_at_quantile(q) as f64 / 1e6)
                .collect(),
        )
    }

    fn cost_pct(&self) -> f64 {
        100.0 * (1.0 - Self::answers(&self.with) / Self::answers(&self.without).max(1.0))
    }

    fn json(&self) -> Value {
        let runs = |v: &[FanRun]| {
            v.iter()
                .map(|r| {
                    json!({
                        "answers_per_s": r.step.answers_per_s,
                        "order_latency_us": {"p50": r.step.us(0.5), "p99": r.step.us(0.99)},
                        "saturated": r.step.saturated(),
                        "feed_latency_ms": r.feed.as_ref().map(|h| json!({
                            "p50": h.value_at_quantile(0.5) as f64 / 1e6,
                            "p99": h.value_at_quantile(0.99) as f64 / 1e6,
                            "max": h.max() as f64 / 1e6,
                        })),
                        "feed_received": r.received,
                        "feed_queued": r.queued,
                        "slow_reader_closes": r.slow_closed,
                        "feed_lag_max_seqs": r.feed_lag_max,
                    })
                })
                .collect::<Vec<_>>()
        };
        json!({
            "rate": self.rate,
            "answers_per_s_without": Self::answers(&self.without),
            "answers_per_s_with": Self::answers(&self.with),
            "cost_pct": self.cost_pct(),
            "feed_p50_ms": self.feed_ms(0.5),
            "feed_p99_ms": self.feed_ms(0.99),
            "order_p99_us_without": Self::order_p99_us(&self.without),
            "order_p99_us_with": Self::order_p99_us(&self.with),
            "without": runs(&self.without),
            "with": runs(&self.with),
        })
    }
}

fn print_fanout(rows: &[FanRow], args: &Args) {
    println!();
    println!(
        "fan-out: {} /v1/market subscribers (book + trades of both symbols: 4 channels each), {} connections sending; \
         per rate {} runs of {} s without and with them (alternating which goes first); medians:",
        args.subscribers, args.connections, args.fanout_runs, args.fanout_duration
    );
    println!();
    println!("| planned/s | answers/s without | answers/s with | cost | feed p50 ms | feed p99 ms | order p99 µs without | order p99 µs with | feed msgs received/s | received of queued | note |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for row in rows {
        let mut note = Vec::new();
        if row.without.iter().any(|r| r.step.saturated()) {
            note.push("saturated without".to_string());
        }
        if row.with.iter().any(|r| r.step.saturated()) {
            note.push("saturated with".to_string());
        }
        let closed: u64 = row.with.iter().map(|r| r.slow_closed).sum();
        if closed > 0 {
            note.push(format!("{closed} subscribers closed as slow readers"));
        }
        let received: u64 = row.with.iter().map(|r| r.received).sum();
        let queued: u64 = row.with.iter().map(|r| r.queued).sum();
        let with_s: f64 = row
            .with
            .iter()
            .map(|r| r.step.duration_s)
            .sum::<f64>()
            .max(1e-9);
        println!(
            "| {} | {:.0} | {:.0} | {:.1}% | {:.1} | {:.1} | {:.0} | {:.0} | {:.0} | {:.1}% | {} |",
            row.rate,
            FanRow::answers(&row.without),
            FanRow::answers(&row.with),
            row.cost_pct(),
            row.feed_ms(0.5),
            row.feed_ms(0.99),
            FanRow::order_p99_us(&row.without),
            FanRow::order_p99_us(&row.with),
            received as f64 / with_s,
            100.0 * received as f64 / (queued as f64).max(1.0),
            note.join("; ")
        );
    }
    println!();
    for row in rows {
        for (i, (a, b)) in row.without.iter().zip(&row.with).enumerate() {
            let feed = b.feed.as_ref();
            println!(
                "fan-out @ {}/s run {}: without {:.0} answers/s (p99 {:.0} µs), with {:.0} answers/s (p99 {:.0} µs); \
                 feed p50 {:.1} ms p99 {:.1} ms max {:.1} ms; {} of {} queued messages received; read models at most {} sequences behind the router",
                row.rate,
                i + 1,
                a.step.answers_per_s,
                a.step.us(0.99),
                b.step.answers_per_s,
                b.step.us(0.99),
                feed.map_or(f64::NAN, |h| h.value_at_quantile(0.5) as f64 / 1e6),
                feed.map_or(f64::NAN, |h| h.value_at_quantile(0.99) as f64 / 1e6),
                feed.map_or(f64::NAN, |h| h.max() as f64 / 1e6),
                b.received,
                b.queued,
                b.feed_lag_max,
            );
        }
        println!(
            "fan-out @ {}/s: cost {:.1}% of the answers/s: the 5% goal is {}",
            row.rate,
            row.cost_pct(),
            if row.cost_pct() < 5.0 {
                "met"
            } else {
                "NOT met"
            }
        );
    }
}

async fn next_json(ws: &mut Ws) -> Result<Value, String> {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .map_err(|_| "no message within 10 s")?
            .ok_or("stream ended")?
            .map_err(|e| e.to_string())?;
        if let Message::Text(t) = frame {
            return serde_json::from_str(t.as_str()).map_err(|e| e.to_string());
        }
    }
}

/// Sends `msg` and waits for the answer with its tag (closed loop: setup).
async fn call(ws: &mut Ws, mut msg: Value, tag: u64) -> Result<Value, String> {
    msg["tag"] = json!(tag);
    ws.send(Message::Text(msg.to_string().into()))
        .await
        .map_err(|e| e.to_string())?;
    loop {
        let m = next_json(ws).await?;
        if m["tag"] == json!(tag) {
            if m["type"] != "answer" || m.to_string().contains("\"rejected\"") {
                return Err(format!("setup {msg} -> {m}"));
            }
            return Ok(m);
        }
    }
}

/// Opens the K accounts on their own sessions and funds them from the
/// operator's; returns the sessions.
async fn open_gateway(url: &str, operator: &str, keys: &[String]) -> Result<Vec<Ws>, String> {
    let mut op = connect(url, Some(operator)).await?;
    next_json(&mut op).await?;
    let mut out = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let account = i as u64 + 1;
        let mut ws = connect(url, Some(key)).await?;
        let welcome = next_json(&mut ws).await?;
        if welcome["type"] != "welcome" || welcome["account"] != account {
            return Err(format!("unexpected welcome {welcome}"));
        }
        call(&mut ws, json!({"type":"open_account","request_id":1}), 1).await?;
        for (rid, asset, amount) in [
            (2, "USD", "1000000000"),
            (3, "BTC", "100000"),
            (4, "ETH", "1000000"),
        ] {
            call(
                &mut op,
                json!({"type":"deposit","account":account,"request_id":rid,"asset":asset,"amount":amount}),
                account * 10 + rid,
            )
            .await?;
        }
        out.push(ws);
    }
    let _ = op.close(None).await;
    Ok(out)
}

fn conns_from(sockets: Vec<Ws>, seed: u64, salt: u64) -> Vec<Conn> {
    sockets
        .into_iter()
        .enumerate()
        .map(|(i, ws)| {
            let (sink, stream) = ws.split();
            Conn {
                sink,
                stream,
                gen: Gen {
                    rng: Rng(
                        (seed ^ salt).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (i as u64 + 1) | 1,
                    ),
                    request_id: FIRST_REQUEST_ID,
                    mix: [0; 5],
                },
                far: Arc::default(),
            }
        })
        .collect()
}

// ---------------------------------------------------------------- report

fn counts(m: &BTreeMap<String, u64>) -> String {
    if m.is_empty() {
        return "0".into();
    }
    m.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn print_table(results: &[StepResult]) {
    println!();
    println!("| target | planned/s | sent | answers | answers/s | p50 µs | p99 µs | p99.9 µs | max µs | reply B | errors | rejected | note |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|");
    for r in results {
        let mut note = Vec::new();
        if r.saturated() {
            note.push("SATURATED (latency is queueing)".to_string());
        }
        if r.unsent > 0 {
            note.push(format!("{} unsent", r.unsent));
        }
        if !r.drained {
            note.push("not drained".into());
        }
        if r.late > 0 {
            note.push(format!("{} late replies of an earlier step", r.late));
        }
        if !r.failures.is_empty() {
            note.push(format!("FAILURES: {}", r.failures.join("; ")));
        }
        println!(
            "| {} | {} | {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {} | {} | {} |",
            r.target.name(),
            r.rate,
            r.sent,
            r.answers,
            r.answers_per_s,
            r.us(0.5),
            r.us(0.99),
            r.us(0.999),
            r.latency.max() as f64 / 1000.0,
            r.mean_reply_bytes,
            counts(&r.errors),
            counts(&r.rejections),
            note.join("; ")
        );
    }
    println!();
    for r in results {
        println!(
            "{} @ {}/s: mix {}; updates {}; send lag p50 {:.0} µs p99 {:.0} µs max {:.0} µs{}",
            r.target.name(),
            r.rate,
            KIND_NAMES
                .iter()
                .zip(r.mix)
                .map(|(n, c)| format!("{n}={c}"))
                .collect::<Vec<_>>()
                .join(" "),
            r.updates,
            r.send_lag.value_at_quantile(0.5) as f64 / 1000.0,
            r.send_lag.value_at_quantile(0.99) as f64 / 1000.0,
            r.send_lag.max() as f64 / 1000.0,
            if r.other.is_empty() {
                String::new()
            } else {
                format!("; other messages {}", counts(&r.other))
            }
        );
        println!(
            "    CPU over {:.1} s (% of one core): {}",
            r.cpu_window_s,
            r.cpu_ms
                .iter()
                .map(|(n, ms)| format!("{n} {:.0}%", *ms as f64 / 10.0 / r.cpu_window_s.max(0.001)))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let gateway: Vec<&StepResult> = results
        .iter()
        .filter(|r| r.target == Target::Gateway)
        .collect();
    for g in gateway {
        if let Some(e) = results
            .iter()
            .find(|r| r.target == Target::Echo && r.rate == g.rate)
        {
            println!(
                "p99 gateway / echo @ {}/s: {:.0} / {:.0} µs = {:.2}×",
                g.rate,
                g.us(0.99),
                e.us(0.99),
                g.us(0.99) / e.us(0.99).max(0.001)
            );
        }
    }
}

/// CPU time (user + system, ms) of this process's threads, summed by name.
fn thread_cpu_ms() -> BTreeMap<String, u64> {
    // SAFETY: sysconf reads a constant.
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let mut out = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for task in tasks.flatten() {
        let path = task.path();
        let (Ok(comm), Ok(stat)) = (
            std::fs::read_to_string(path.join("comm")),
            std::fs::read_to_string(path.join("stat")),
        ) else {
            continue;
        };
        // Fields after `(comm)`, from the 3rd (state): utime is the 14th,
        // stime the 15th.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let f: Vec<u64> = rest
            .split_whitespace()
            .skip(1)
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        if f.len() > 11 {
            *out.entry(comm.trim().to_owned()).or_default() += (f[10] + f[11]) * 1000 / tick;
        }
    }
    out
}

/// This thread's CPU time, ns.
fn own_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

// ---------------------------------------------------------------- main

fn main() -> ExitCode {
    let args = Args::parse();
    if args.connections == 0 || args.rates.is_empty() || args.rates.contains(&0) {
        eprintln!("error: --connections and every --rates value must be > 0");
        return ExitCode::from(2);
    }
    if args.duration.is_nan() || args.duration <= 0.0 || args.client_threads == 0 {
        eprintln!("error: --duration and --client-threads must be > 0");
        return ExitCode::from(2);
    }
    let core = match args.engine_core.as_str() {
        "none" => None,
        c => match c.parse() {
            Ok(c) => Some(c),
            Err(_) => {
                eprintln!("error: --engine-core: a core number or `none`");
                return ExitCode::from(2);
            }
        },
    };
    match run(&args, core) {
        Ok(results) => {
            let bad = results.iter().any(|r| !r.failures.is_empty());
            if bad {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(args: &Args, core: Option<usize>) -> Result<Vec<StepResult>, String> {
    let started = Instant::now();
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let keys_file = dir.path().join("keys.toml");
    let (_, operator) = add_key(&keys_file, 0, true).map_err(|e| e.to_string())?;
    let keys: Vec<String> = (1..=args.connections as u32)
        .map(|a| add_key(&keys_file, a, false).map(|(_, s)| s))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let config = keel_edge::config_from_toml(
        &engine_toml(&dir.path().join("journal"), core, args.connections),
        "gateway_load.toml",
    )
    .map_err(|e| e.to_string())?;
    let gateway_config = GatewayConfig {
        listen: "127.0.0.1:0".into(),
        keys_file,
        max_sessions: args.connections + 8 + args.subscribers,
        rate_per_s: 10_000_000,
        rate_burst: 10_000_000,
        max_in_flight: 1 << 20,
        outbound_queue: 1 << 20,
        write_timeout_ms: 60_000,
        idle_timeout_ms: 600_000,
        ping_interval_ms: 60_000,
        ..GatewayConfig::default()
    };
    let server = Server::start(&config, gateway_config).map_err(|e| e.to_string())?;
    let gateway_url = format!("ws://{}/v1/ws", server.local_addr());
    let pad_to = Arc::new(AtomicU64::new(0));
    let (echo_rt, echo_addr) = start_echo(pad_to.clone(), !args.echo_delay);
    let echo_url = format!("ws://{echo_addr}/echo");
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    println!("load average at start: {}", loadavg());
    println!(
        "gateway_load: {} connections, rates {:?}/s, {} s per step, warm-up {} s; {} cores (ids {:?}); engine loop {} (spin_then_park), gateway: 2 tokio workers + router thread, unpinned; echo server: 2 tokio workers, unpinned; clients: {} tokio worker(s) + 1 pacer thread, unpinned; durability none",
        args.connections,
        args.rates,
        args.duration,
        args.warmup,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cores.iter().map(|c| c.id).collect::<Vec<_>>(),
        core.map_or("unpinned".to_string(), |c| format!("pinned to core {c}")),
        args.client_threads,
    );
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads)
        .thread_name("load-client")
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let results = client_rt.block_on(async {
        let sockets = open_gateway(&gateway_url, &operator, &keys).await?;
        let mut gateway = conns_from(sockets, args.seed, 1);
        let mut echo_conns = Vec::new();
        if !args.no_echo {
            let mut sockets = Vec::new();
            for _ in 0..args.connections {
                sockets.push(connect(&echo_url, None).await?);
            }
            echo_conns = conns_from(sockets, args.seed, 1);
        }
        let mut results: Vec<StepResult> = Vec::new();
        let mut step = 0u64;
        let run = |conns: Vec<Conn>, target, rate, duration, step: &mut u64| {
            *step += 1;
            let s = *step;
            async move { run_step(conns, target, rate, duration, s, args.drain).await }
        };
        if args.warmup > 0.0 {
            let (c, r) = run(
                gateway,
                Target::Gateway,
                args.rates[0],
                args.warmup,
                &mut step,
            )
            .await;
            gateway = c;
            eprintln!(
                "warm-up gateway @ {}/s: {} answers, errors {}, rejected {}",
                r.rate,
                r.answers,
                counts(&r.errors),
                counts(&r.rejections)
            );
            pad_to.store(r.mean_reply_bytes as u64, Ordering::Relaxed);
            if !args.no_echo {
                let (c, r) = run(
                    echo_conns,
                    Target::Echo,
                    args.rates[0],
                    args.warmup,
                    &mut step,
                )
                .await;
                echo_conns = c;
                eprintln!("warm-up echo @ {}/s: {} replies", r.rate, r.answers);
            }
        }
        // Per rate, the echo first: a saturated gateway step may leave a
        // backlog that the server still works off after the step (`not
        // drained`), which would take CPU from an echo step run after it.
        let mut reply = pad_to.load(Ordering::Relaxed);
        for &rate in &args.rates {
            let mut echo_result = None;
            if !args.no_echo {
                if reply > 0 {
                    pad_to.store(reply, Ordering::Relaxed);
                }
                let (c, r) = run(echo_conns, Target::Echo, rate, args.duration, &mut step).await;
                echo_conns = c;
                eprintln!(
                    "echo    @ {rate}/s: {:.0} replies/s, p99 {:.0} µs",
                    r.answers_per_s,
                    r.us(0.99)
                );
                echo_result = Some(r);
            }
            let (c, r) = run(gateway, Target::Gateway, rate, args.duration, &mut step).await;
            gateway = c;
            if r.mean_reply_bytes > 0.0 {
                reply = r.mean_reply_bytes as u64;
            }
            eprintln!(
                "gateway @ {rate}/s: {:.0} answers/s, p99 {:.0} µs, errors {}, rejected {}",
                r.answers_per_s,
                r.us(0.99),
                counts(&r.errors),
                counts(&r.rejections)
            );
            results.push(r);
            results.extend(echo_result);
        }
        let mut fanout = Vec::new();
        if args.subscribers > 0 {
            let drain = Duration::from_secs_f64(args.drain);
            for &rate in &args.fanout_rates {
                let mut row = FanRow {
                    rate,
                    without: Vec::new(),
                    with: Vec::new(),
                };
                for run_index in 0..args.fanout_runs {
                    let order = if run_index % 2 == 0 {
                        [false, true]
                    } else {
                        [true, false]
                    };
                    for with_subscribers in order {
                        if !with_subscribers {
                            let (c, r) =
                                run(gateway, Target::Gateway, rate, args.fanout_duration, &mut step)
                                    .await;
                            gateway = c;
                            row.without.push(FanRun {
                                step: r,
                                feed: None,
                                received: 0,
                                queued: 0,
                                slow_closed: 0,
                                feed_lag_max: 0,
                            });
                            continue;
                        }
                        let stop = Arc::new(AtomicBool::new(false));
                        // Updates queued to subscribers from their first
                        // subscription to the end of their drain (snapshots
                        // are not counted; no other session subscribes).
                        let (queued_before, closed_before) =
                            (market_sent(&server), slow_reader_closes(&server));
                        let subs =
                            subscribe_market(&gateway_url, args.subscribers, stop.clone(), drain)
                                .await?;
                        // The feed thread's lag behind the router, in
                        // sequences, sampled every 20 ms during the step.
                        let mut feed_lag_max = 0u64;
                        let (c, r) = {
                            let step_run =
                                run(gateway, Target::Gateway, rate, args.fanout_duration, &mut step);
                            tokio::pin!(step_run);
                            loop {
                                tokio::select! {
                                    done = &mut step_run => break done,
                                    _ = tokio::time::sleep(Duration::from_millis(20)) => {
                                        feed_lag_max = feed_lag_max.max(market_lag(&server));
                                    }
                                }
                            }
                        };
                        gateway = c;
                        stop.store(true, Ordering::SeqCst);
                        let mut feed = histogram();
                        let mut received = 0u64;
                        for h in subs {
                            if let Ok(seen) = h.await {
                                let _ = feed.add(&seen.latency);
                                received += seen.messages;
                            }
                        }
                        let queued = market_sent(&server) - queued_before;
                        // The next step runs with no subscription left.
                        let deadline = Instant::now() + Duration::from_secs(10);
                        while market_subscribers(&server) > 0 && Instant::now() < deadline {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        eprintln!(
                            "fan-out @ {rate}/s with {} subscribers: {:.0} answers/s, feed p99 {:.1} ms, {received} of {queued} messages received",
                            args.subscribers,
                            r.answers_per_s,
                            feed.value_at_quantile(0.99) as f64 / 1e6,
                        );
                        row.with.push(FanRun {
                            step: r,
                            feed: Some(feed),
                            received,
                            queued,
                            slow_closed: slow_reader_closes(&server) - closed_before,
                            feed_lag_max,
                        });
                    }
                }
                fanout.push(row);
            }
        }
        for c in gateway.into_iter().chain(echo_conns) {
            if let Ok(mut ws) = c.sink.reunite(c.stream) {
                let _ = ws.close(None).await;
            }
        }
        Ok::<_, String>((results, fanout))
    })?;
    let (results, fanout) = results;
    let telemetry = server.telemetry();
    let exit = server.shutdown().map_err(|e| e.to_string())?;
    echo_rt.shutdown_timeout(Duration::from_millis(500));
    print_table(&results);
    if !fanout.is_empty() {
        print_fanout(&fanout, args);
    }
    println!(
        "gateway telemetry: errors {}; closed {}; commands_submitted {}; answers {}",
        telemetry["errors"],
        telemetry["closed"],
        telemetry["commands_submitted"],
        telemetry["answers"]
    );
    println!(
        "load average at end: {} (other processes on the machine share its cores)",
        loadavg()
    );
    let stats = &exit.engine.stats;
    let client_rejected: u64 = results
        .iter()
        .filter(|r| r.target == Target::Gateway)
        .map(StepResult::rejected_total)
        .sum();
    println!(
        "engine: {} commands, {} trades, {} rejected (the recorded steps' answers counted {client_rejected}; the rest are warm-up or late), {} batches (mean {:.1} commands), ring depth max {}; whole run {:.1} s",
        stats.commands,
        stats.trades,
        stats.rejected,
        stats.batches,
        stats.commands as f64 / stats.batches.max(1) as f64,
        stats.ring_depth_max,
        started.elapsed().as_secs_f64()
    );
    if let Some(path) = &args.json {
        let doc = json!({
            "connections": args.connections,
            "client_threads": args.client_threads,
            "engine_core": args.engine_core,
            "steps": results.iter().map(StepResult::json).collect::<Vec<_>>(),
            "fanout_subscribers": args.subscribers,
            "fanout": fanout.iter().map(FanRow::json).collect::<Vec<_>>(),
            "gateway_telemetry": telemetry,
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc).expect("json"))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let fanout_failures: Vec<String> = fanout
        .iter()
        .flat_map(|row| row.without.iter().chain(&row.with))
        .flat_map(|r| {
            r.step
                .failures
                .iter()
                .map(move |f| format!("fan-out @ {}/s: {f}", r.step.rate))
        })
        .collect();
    if !fanout_failures.is_empty() {
        return Err(fanout_failures.join("; "));
    }
    Ok(results)
}
