//! Output lines written straight from typed events into a reused buffer:
//! integers by `itoa`, decimals by integer arithmetic, strings escaped by
//! serde_json, fields in the order the schema fixes. The bytes are exactly
//! those of [`output_json`](super::output_json) printed compactly
//! (`writer_matches_the_value_builder` in the tests holds it to that); in
//! steady state nothing is allocated.

use std::fmt::Write as _;

use keel_engine::model::{
    AccountId, Command, Event, RejectReason, Side, SymbolId, SymbolSpec, TimeInForce,
};

use super::{side, stp, tif};
use crate::Registry;

/// Writes output lines into a buffer it keeps between lines.
///
/// ```
/// use keel_edge::{output_json, OutputWriter};
/// use keel_engine::model::{Command, CommandKind, Event};
/// use keel_engine::Registry;
///
/// let names = Registry::default();
/// let cmd = Command::new(7, 1, CommandKind::OpenAccount);
/// let events = [Event::Accepted { account: 7, request_id: 1 }, Event::AccountOpened { account: 7 }];
/// let mut writer = OutputWriter::default();
/// let line = writer.output_line(&names, 1, 5, &cmd, &events);
/// assert_eq!(line, format!("{}\n", output_json(&names, 1, 5, &cmd, &events)).as_bytes());
/// ```
#[derive(Debug)]
pub struct OutputWriter {
    /// The line being written.
    line: Vec<u8>,
    /// Text made by `Display` (a rejection's message, a tick size) before
    /// it is escaped into the line.
    scratch: String,
    /// The account the line is written for, if not for everyone: a trade
    /// then names only the viewer's own side's account (see
    /// [`hide_counterparty`](super::hide_counterparty)).
    viewer: Option<AccountId>,
}

/// Bytes reserved for `scratch`: several times the longest text `Display`
/// makes for it (a rejection's message, at most a few hundred bytes with
/// every number at its maximum), so it never grows while lines are written.
const SCRATCH_BYTES: usize = 1024;

impl Default for OutputWriter {
    fn default() -> OutputWriter {
        OutputWriter {
            line: Vec::new(),
            scratch: String::with_capacity(SCRATCH_BYTES),
            viewer: None,
        }
    }
}

/// `,"name":` as bytes, made at compile time: a field after the first.
macro_rules! key {
    ($name:literal) => {
        concat!(",\"", $name, "\":").as_bytes()
    };
}

/// `{"type":"name"`: an event object opened with its type.
macro_rules! open {
    ($name:literal) => {
        concat!("{\"type\":\"", $name, "\"").as_bytes()
    };
}

impl OutputWriter {
    /// Writes lines for `viewer` (trades hide the other side's account), or
    /// for everyone (`None`, the default).
    pub fn set_viewer(&mut self, viewer: Option<AccountId>) {
        self.viewer = viewer;
    }

    /// One output line (a command's sequence, timestamp, correlation and
    /// events) ending in `\n`; valid until the next call.
    pub fn output_line(
        &mut self,
        r: &Registry,
        seq: u64,
        ts_ns: u64,
        cmd: &Command,
        events: &[Event],
    ) -> &[u8] {
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        self.append_line(&mut line, r, seq, ts_ns, cmd, events);
        self.line = line;
        &self.line
    }

    /// [`output_line`](Self::output_line) appended to `out` (a buffer the
    /// caller writes out in large pieces).
    pub fn append_line(
        &mut self,
        out: &mut Vec<u8>,
        r: &Registry,
        seq: u64,
        ts_ns: u64,
        cmd: &Command,
        events: &[Event],
    ) {
        let mut o = Out(out);
        o.raw(b"{\"seq\":");
        o.int(seq);
        o.uint(key!("ts"), ts_ns);
        o.uint(key!("account"), cmd.account);
        o.uint(key!("request_id"), cmd.request_id);
        o.text(key!("command"), cmd.kind.name());
        o.raw(key!("events"));
        o.raw(b"[");
        for (i, event) in events.iter().enumerate() {
            if i > 0 {
                o.raw(b",");
            }
            write_event(&mut o, &mut self.scratch, r, event, self.viewer);
        }
        o.raw(b"]}\n");
    }

    /// A gateway `update` message (no line ending): `{"type":"update",
    /// "seq","ts","command","events"}` with the events `keep` selects, then
    /// `"account"` and `"request_id"` if `with_account`. `None` if `keep`
    /// selects no event. Trades follow the viewer rule.
    // The record's four parts plus the two choices of the update: grouping
    // them in a struct would only move the same names one level down.
    #[allow(clippy::too_many_arguments)]
    pub fn update_line(
        &mut self,
        r: &Registry,
        seq: u64,
        ts_ns: u64,
        cmd: &Command,
        events: &[Event],
        keep: impl Fn(&Event) -> bool,
        with_account: bool,
    ) -> Option<&[u8]> {
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        let mut o = Out(&mut line);
        o.raw(b"{\"type\":\"update\"");
        o.uint(key!("seq"), seq);
        o.uint(key!("ts"), ts_ns);
        o.text(key!("command"), cmd.kind.name());
        o.raw(key!("events"));
        o.raw(b"[");
        let mut written = 0;
        for event in events.iter().filter(|e| keep(e)) {
            if written > 0 {
                o.raw(b",");
            }
            write_event(&mut o, &mut self.scratch, r, event, self.viewer);
            written += 1;
        }
        o.raw(b"]");
        if with_account {
            o.uint(key!("account"), cmd.account);
            o.uint(key!("request_id"), cmd.request_id);
        }
        o.raw(b"}");
        self.line = line;
        (written > 0).then_some(&self.line[..])
    }
}

/// The buffer a line is appended to.
struct Out<'b>(&'b mut Vec<u8>);

impl Out<'_> {
    #[inline]
    fn raw(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }

    #[inline]
    fn int(&mut self, value: impl itoa::Integer) {
        self.raw(itoa::Buffer::new().format(value).as_bytes());
    }

    /// `key` (from [`key!`]) and an integer.
    #[inline]
    fn uint(&mut self, key: &[u8], value: impl itoa::Integer) {
        self.raw(key);
        self.int(value);
    }

    #[inline]
    fn bool(&mut self, key: &[u8], value: bool) {
        self.raw(key);
        self.raw(if value { b"true" } else { b"false" });
    }

    /// A JSON string, escaped as serde_json escapes.
    #[inline]
    fn text(&mut self, key: &[u8], value: &str) {
        self.raw(key);
        string(self.0, value);
    }

    /// A decimal string: `value × 10^-scale`.
    #[inline]
    fn decimal(&mut self, key: &[u8], value: u128, scale: u8) {
        self.raw(key);
        self.raw(b"\"");
        scaled(self.0, value, scale);
        self.raw(b"\"");
    }

    /// An asset's name, or `#id` if it is unknown.
    fn asset(&mut self, key: &[u8], r: &Registry, asset: u32) {
        match r.asset_name_if_known(asset) {
            Some(name) => self.text(key, name),
            None => self.tagged(key, b"\"#", asset, b"\""),
        }
    }

    /// A symbol's name, or `#id` if it is unknown.
    fn symbol(&mut self, key: &[u8], r: &Registry, symbol: SymbolId) {
        match r.symbol_name_if_known(symbol) {
            Some(name) => self.text(key, name),
            None => self.tagged(key, b"\"#", symbol, b"\""),
        }
    }

    /// `minor` units of `asset` (scale 0 if the asset is unknown).
    fn amount(&mut self, key: &[u8], r: &Registry, asset: u32, minor: u64) {
        self.decimal(key, minor as u128, r.asset_scale(asset).unwrap_or(0));
    }

    /// `count` ticks (`price`) or lots (`!price`) of `symbol`, or `"N ticks"`
    /// / `"N lots"` if the symbol is unknown.
    fn units(&mut self, key: &[u8], spec: Option<&SymbolSpec>, price: bool, count: u64) {
        match spec {
            Some(spec) => {
                let unit = if price { spec.tick_size } else { spec.lot_size };
                self.decimal(key, unit.mantissa as u128 * count as u128, unit.scale);
            }
            None if price => self.tagged(key, b"\"", count, b" ticks\""),
            None => self.tagged(key, b"\"", count, b" lots\""),
        }
    }

    fn tagged(&mut self, key: &[u8], before: &[u8], n: impl itoa::Integer, after: &[u8]) {
        self.raw(key);
        self.raw(before);
        self.int(n);
        self.raw(after);
    }
}

/// `value` as a JSON string, with serde_json's escapes.
#[inline]
fn string(buf: &mut Vec<u8>, value: &str) {
    // Nothing to escape (names and codes, nearly always): copy it.
    if value.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        buf.push(b'"');
        buf.extend_from_slice(value.as_bytes());
        buf.push(b'"');
        return;
    }
    // Writing into a Vec cannot fail; serde_json's is the one escaper.
    let _ = serde_json::to_writer(&mut *buf, value);
}

/// `value × 10^-scale` as `format_scaled` writes it: the whole part, then
/// (if `scale > 0`) a point and exactly `scale` digits.
fn scaled(buf: &mut Vec<u8>, value: u128, scale: u8) {
    let mut digits = itoa::Buffer::new();
    if scale == 0 {
        buf.extend_from_slice(digits.format(value).as_bytes());
        return;
    }
    let Some(div) = 10u128.checked_pow(u32::from(scale)) else {
        // No scale the config accepts (at most 18) gets here.
        let mut text = String::new();
        let _ = keel_engine::model::decimal::format_scaled(&mut text, value, scale);
        buf.extend_from_slice(text.as_bytes());
        return;
    };
    let frac = match (u64::try_from(value), u64::try_from(div)) {
        // Most values fit 64 bits: no 128-bit division.
        (Ok(v), Ok(d)) => {
            buf.extend_from_slice(digits.format(v / d).as_bytes());
            digits.format(v % d)
        }
        _ => {
            buf.extend_from_slice(digits.format(value / div).as_bytes());
            digits.format(value % div)
        }
    };
    buf.push(b'.');
    buf.extend(std::iter::repeat_n(b'0', usize::from(scale) - frac.len()));
    buf.extend_from_slice(frac.as_bytes());
}

/// `text` made by `Display` into `scratch`, then escaped into `o`.
fn display(o: &mut Out<'_>, scratch: &mut String, key: &[u8], text: impl std::fmt::Display) {
    scratch.clear();
    let _ = write!(scratch, "{text}");
    o.text(key, scratch);
}

fn write_event(
    o: &mut Out<'_>,
    scratch: &mut String,
    r: &Registry,
    event: &Event,
    viewer: Option<AccountId>,
) {
    match *event {
        Event::Accepted {
            account,
            request_id,
        } => {
            o.raw(open!("accepted"));
            o.uint(key!("account"), account);
            o.uint(key!("request_id"), request_id);
        }
        Event::Rejected {
            account,
            request_id,
            reason,
        } => rejected(o, scratch, account, request_id, reason),
        Event::AssetAdded { asset, name, scale } => {
            o.raw(open!("asset_added"));
            o.uint(key!("asset_id"), asset);
            o.text(key!("asset"), name.as_str());
            o.uint(key!("scale"), scale);
        }
        Event::SymbolAdded { symbol, spec } => {
            o.raw(open!("symbol_added"));
            o.uint(key!("symbol_id"), symbol);
            o.text(key!("symbol"), spec.name.as_str());
            o.asset(key!("base"), r, spec.base);
            o.asset(key!("quote"), r, spec.quote);
            display(o, scratch, key!("tick_size"), spec.tick_size);
            display(o, scratch, key!("lot_size"), spec.lot_size);
            o.uint(key!("maker_fee_bps"), spec.maker_fee_bps);
            o.uint(key!("taker_fee_bps"), spec.taker_fee_bps);
        }
        Event::SymbolHalted { symbol } => {
            o.raw(open!("symbol_halted"));
            o.symbol(key!("symbol"), r, symbol);
        }
        Event::SymbolResumed { symbol } => {
            o.raw(open!("symbol_resumed"));
            o.symbol(key!("symbol"), r, symbol);
        }
        Event::AccountOpened { account } => {
            o.raw(open!("account_opened"));
            o.uint(key!("account"), account);
        }
        Event::Deposited {
            account,
            asset,
            amount,
        } => {
            o.raw(open!("deposited"));
            o.uint(key!("account"), account);
            o.asset(key!("asset"), r, asset);
            o.amount(key!("amount"), r, asset, amount);
        }
        Event::Withdrawn {
            account,
            asset,
            amount,
        } => {
            o.raw(open!("withdrawn"));
            o.uint(key!("account"), account);
            o.asset(key!("asset"), r, asset);
            o.amount(key!("amount"), r, asset, amount);
        }
        Event::Transferred {
            from,
            to,
            asset,
            amount,
        } => {
            o.raw(open!("transferred"));
            o.uint(key!("from"), from);
            o.uint(key!("to"), to);
            o.asset(key!("asset"), r, asset);
            o.amount(key!("amount"), r, asset, amount);
        }
        Event::OrderAccepted { .. } => order_accepted(o, r, event),
        Event::TradeExecuted(tr) => {
            let spec = r.symbol_spec(tr.symbol);
            let quote = spec.map_or(u32::MAX, |s| s.quote);
            o.raw(open!("trade_executed"));
            o.symbol(key!("symbol"), r, tr.symbol);
            o.uint(key!("maker_order"), tr.maker_order);
            o.uint(key!("taker_order"), tr.taker_order);
            let (show_maker, show_taker) = super::trade_accounts_shown(&tr, viewer);
            if show_maker {
                o.uint(key!("maker_account"), tr.maker_account);
            }
            if show_taker {
                o.uint(key!("taker_account"), tr.taker_account);
            }
            o.text(key!("taker_side"), side(tr.taker_side));
            o.units(key!("price"), spec, true, tr.price);
            o.units(key!("qty"), spec, false, tr.qty);
            o.amount(key!("maker_fee"), r, quote, tr.maker_fee);
            o.amount(key!("taker_fee"), r, quote, tr.taker_fee);
            o.asset(key!("fee_asset"), r, quote);
        }
        Event::OrderRested { order } => {
            o.raw(open!("order_rested"));
            o.uint(key!("order"), order);
        }
        Event::OrderAmended {
            order,
            price,
            qty,
            reserved,
            priority_kept,
        } => {
            o.raw(open!("order_amended"));
            o.uint(key!("order"), order);
            o.uint(key!("price_ticks"), price);
            o.uint(key!("qty_lots"), qty);
            o.uint(key!("reserved_minor"), reserved);
            o.bool(key!("priority_kept"), priority_kept);
        }
        Event::OrderCancelled {
            order,
            account,
            remaining,
            reason,
        } => {
            o.raw(open!("order_cancelled"));
            o.uint(key!("order"), order);
            o.uint(key!("account"), account);
            o.uint(key!("remaining_lots"), remaining);
            o.text(key!("reason"), reason.code());
        }
    }
    o.raw(b"}");
}

fn rejected(
    o: &mut Out<'_>,
    scratch: &mut String,
    account: u32,
    request_id: u64,
    reason: RejectReason,
) {
    o.raw(open!("rejected"));
    o.uint(key!("account"), account);
    o.uint(key!("request_id"), request_id);
    o.text(key!("reason"), reason.code());
    display(o, scratch, key!("message"), reason);
}

fn order_accepted(o: &mut Out<'_>, r: &Registry, event: &Event) {
    let Event::OrderAccepted {
        order,
        account,
        symbol,
        side: s,
        price,
        qty,
        is_market,
        tif: t,
        post_only,
        stp: m,
        hold,
    } = *event
    else {
        return;
    };
    let spec = r.symbol_spec(symbol);
    let hold_asset = spec.map(|spec| match s {
        Side::Buy => spec.quote,
        Side::Sell => spec.base,
    });
    o.raw(open!("order_accepted"));
    o.uint(key!("order"), order);
    o.uint(key!("account"), account);
    o.symbol(key!("symbol"), r, symbol);
    o.text(key!("side"), side(s));
    o.text(
        key!("order_type"),
        if is_market { "market" } else { "limit" },
    );
    match price {
        0 => o.raw(concat!(",\"price\":", "null").as_bytes()),
        _ => o.units(key!("price"), spec, true, price),
    }
    o.units(key!("qty"), spec, false, qty);
    o.text(key!("tif"), tif(t));
    o.bool(key!("post_only"), post_only);
    o.text(key!("stp"), stp(m));
    match hold_asset {
        Some(asset) => {
            o.amount(key!("hold"), r, asset, hold);
            o.asset(key!("hold_asset"), r, asset);
        }
        None => {
            o.tagged(key!("hold"), b"\"", hold, b"\"");
            o.text(key!("hold_asset"), "");
        }
    }
    if let TimeInForce::Gtd { expiry_ns } = t {
        o.uint(key!("expiry_ns"), expiry_ns);
    }
}

#[cfg(test)]
mod tests {
    use super::{OutputWriter, SCRATCH_BYTES};
    use crate::{output_json, Registry};
    use keel_engine::model::{
        CancelReason, Command, CommandKind, Event, Fixed, Name, RejectReason, Side, StpMode,
        SymbolSpec, TimeInForce, Trade,
    };
    use proptest::prelude::*;

    /// Names with characters JSON escapes, scales 0 to 18, a symbol whose
    /// quote asset is unknown, and huge units.
    fn registry() -> Registry {
        let mut r = Registry::default();
        for (asset, (name, scale)) in [("BTC", 8), ("U\"S\\D", 6), ("Z", 0), ("Q", 18)]
            .into_iter()
            .enumerate()
        {
            let name = Name::new(name).expect("test name");
            r.learn(&Event::AssetAdded {
                asset: asset as u32,
                name,
                scale,
            });
        }
        let spec = |name, base, quote, tick: Fixed, lot: Fixed| SymbolSpec {
            name: Name::new(name).expect("test name"),
            base,
            quote,
            tick_size: tick,
            lot_size: lot,
            maker_fee_bps: 1,
            taker_fee_bps: 5,
        };
        let symbols = [
            spec("BTC-USD", 0, 1, Fixed::new(1, 2), Fixed::new(1, 3)),
            spec(
                "A\"B",
                2,
                3,
                Fixed::new(u64::MAX, 18),
                Fixed::new(u64::MAX, 0),
            ),
            spec("LOST", 9, 8, Fixed::new(5, 1), Fixed::new(25, 2)),
        ];
        for (symbol, spec) in symbols.into_iter().enumerate() {
            r.learn(&Event::SymbolAdded {
                symbol: symbol as u32,
                spec,
            });
        }
        r
    }

    fn reason(index: u32, payload: [u8; 24]) -> Option<RejectReason> {
        let mut bytes = index.to_le_bytes().to_vec();
        bytes.extend_from_slice(&payload);
        let config = bincode::config::standard().with_fixed_int_encoding();
        bincode::decode_from_slice(&bytes, config)
            .ok()
            .map(|(r, _)| r)
    }

    fn side(buy: bool) -> Side {
        if buy {
            Side::Buy
        } else {
            Side::Sell
        }
    }

    fn any_u64() -> impl Strategy<Value = u64> {
        prop_oneof![0..20u64, any::<u64>(), Just(u64::MAX)]
    }

    prop_compose! {
        fn any_event()(
            kind in 0..15u8, id in 0..5u32, a in any_u64(), b in any_u64(), c in any_u64(),
            buy in any::<bool>(), flag in any::<bool>(), pick in 0..6u8, index in 0..30u32,
            payload in any::<[u8; 24]>(),
        ) -> Event {
            let tif = [TimeInForce::Gtc, TimeInForce::Ioc, TimeInForce::Fok, TimeInForce::Gtd { expiry_ns: c }, TimeInForce::Gtc, TimeInForce::Ioc][pick as usize];
            let stp = [StpMode::CancelNewest, StpMode::CancelOldest, StpMode::CancelBoth][pick as usize % 3];
            let cancel = [CancelReason::User, CancelReason::IocRemainder, CancelReason::SelfTradePrevention, CancelReason::MassCancel, CancelReason::Expired, CancelReason::FillLimit][pick as usize];
            match kind {
                0 => Event::Accepted { account: id, request_id: a },
                1 => match reason(index, payload) {
                    Some(reason) => Event::Rejected { account: id, request_id: a, reason },
                    None => Event::Rejected { account: id, request_id: a, reason: RejectReason::Duplicate { last_request_id: b } },
                },
                2 => Event::AssetAdded { asset: id, name: Name::new("N\\\"").expect("name"), scale: pick * 3 },
                3 => Event::SymbolAdded { symbol: id, spec: SymbolSpec { name: Name::new("S/T").expect("name"), base: id, quote: id + 1, tick_size: Fixed::new(a.max(1), pick * 3), lot_size: Fixed::new(b.max(1), pick), maker_fee_bps: a as u16, taker_fee_bps: b as u16 } },
                4 => Event::SymbolHalted { symbol: id },
                5 => Event::SymbolResumed { symbol: id },
                6 => Event::AccountOpened { account: id },
                7 => Event::Deposited { account: id, asset: id, amount: a },
                8 => Event::Withdrawn { account: id, asset: id, amount: a },
                9 => Event::Transferred { from: id, to: id + 1, asset: id, amount: a },
                10 => Event::OrderAccepted { order: a, account: id, symbol: id, side: side(buy), price: b, qty: c, is_market: flag, tif, post_only: !flag, stp, hold: a ^ b },
                11 => Event::TradeExecuted(Trade { symbol: id, maker_order: a, taker_order: b, maker_account: id, taker_account: id + 1, taker_side: side(buy), price: b, qty: c, maker_fee: a, taker_fee: c }),
                12 => Event::OrderRested { order: a },
                13 => Event::OrderAmended { order: a, price: b, qty: c, reserved: a, priority_kept: flag },
                _ => Event::OrderCancelled { order: a, account: id, remaining: b, reason: cancel },
            }
        }
    }

    proptest! {
        /// The writer's bytes are the value builder's, printed compactly.
        #[test]
        fn writer_matches_the_value_builder(
            events in prop::collection::vec(any_event(), 0..6), seq in any_u64(), ts in any_u64(),
            account in any::<u32>(), request_id in any_u64(),
        ) {
            let names = registry();
            let cmd = Command::new(account, request_id, CommandKind::CancelAll { symbol: None });
            let mut writer = OutputWriter::default();
            let want = format!("{}\n", output_json(&names, seq, ts, &cmd, &events));
            let got = writer.output_line(&names, seq, ts, &cmd, &events);
            prop_assert_eq!(std::str::from_utf8(got).expect("utf-8"), want.as_str());
        }
    }

    proptest! {
        /// Written for a viewer, the bytes are the value builder's with the
        /// counterparty hidden.
        #[test]
        fn a_viewer_line_is_the_value_builder_with_the_counterparty_hidden(
            events in prop::collection::vec(any_event(), 0..6), seq in any_u64(), ts in any_u64(),
            account in 0u32..4, viewer in 0u32..4,
        ) {
            let names = registry();
            let cmd = Command::new(account, 1, CommandKind::CancelAll { symbol: None });
            let mut writer = OutputWriter::default();
            writer.set_viewer(Some(viewer));
            let mut want = output_json(&names, seq, ts, &cmd, &events);
            crate::json_out::hide_counterparty(&mut want, viewer);
            let want = format!("{want}\n");
            let got = writer.output_line(&names, seq, ts, &cmd, &events);
            prop_assert_eq!(std::str::from_utf8(got).expect("utf-8"), want.as_str());
        }
    }

    proptest! {
        /// An update line is the value the gateway used to build: the kept
        /// events, then the command's account and request id if asked.
        #[test]
        fn an_update_line_is_the_value_builder_s(
            events in prop::collection::vec(any_event(), 0..6), seq in any_u64(), ts in any_u64(),
            account in 0u32..4, viewer in 0u32..4, with_account in any::<bool>(), odd in any::<bool>(),
        ) {
            let names = registry();
            let cmd = Command::new(account, 9, CommandKind::CancelAll { symbol: None });
            let keep = |e: &Event| !odd || matches!(e, Event::TradeExecuted(_) | Event::Accepted { .. });
            let kept: Vec<serde_json::Value> = events.iter().filter(|e| keep(e)).map(|e| crate::event_json(&names, e)).collect();
            let mut writer = OutputWriter::default();
            writer.set_viewer(Some(viewer));
            let got = writer.update_line(&names, seq, ts, &cmd, &events, keep, with_account);
            if kept.is_empty() {
                prop_assert!(got.is_none());
            } else {
                let mut want = serde_json::json!({"type": "update", "seq": seq, "ts": ts, "command": cmd.kind.name(), "events": kept});
                if with_account {
                    want["account"] = cmd.account.into();
                    want["request_id"] = cmd.request_id.into();
                }
                crate::json_out::hide_counterparty(&mut want, viewer);
                prop_assert_eq!(std::str::from_utf8(got.unwrap()).unwrap(), want.to_string());
            }
        }
    }

    #[test]
    fn every_reject_reason_is_written_as_the_value_builder_writes_it() {
        let names = registry();
        let cmd = Command::new(1, 2, CommandKind::OpenAccount);
        let mut writer = OutputWriter::default();
        let mut seen = 0;
        let mut longest = 0;
        for index in 0..64 {
            if let Some(reason) = reason(index, [7; 24]) {
                seen += 1;
                let events = [Event::Rejected {
                    account: 1,
                    request_id: 2,
                    reason,
                }];
                longest = longest.max(reason.to_string().len());
                let want = format!("{}\n", output_json(&names, 1, 2, &cmd, &events));
                assert_eq!(
                    writer.output_line(&names, 1, 2, &cmd, &events),
                    want.as_bytes()
                );
            }
        }
        assert_eq!(seen, RejectReason::CODES.len(), "every reason decoded once");
        assert!(
            longest * 4 <= SCRATCH_BYTES,
            "the longest message ({longest} bytes) fits the scratch space many times over"
        );
        assert_eq!(
            writer.scratch.capacity(),
            SCRATCH_BYTES,
            "scratch never grew"
        );
    }
}
