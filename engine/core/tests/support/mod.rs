//! Shared helpers for `scenarios.rs` and `properties.rs`: command builders and
//! a harness that processes commands, checks invariants after each one and
//! keeps a replica rebuilt purely by `apply` to compare digests.

#![allow(dead_code)]

use keel_core::state::digest::Digest;
use keel_core::{
    apply, process, AccountId, AssetId, Command, CommandKind, Event, Fixed, Limits, MarketBound,
    Name, OrderId, OrderType, PlaceOrder, RejectReason, Side, State, StpMode, SymbolId, SymbolSpec,
    TimeInForce, OPERATOR,
};

pub const OP: AccountId = OPERATOR;

pub fn name(text: &str) -> Name {
    Name::new(text).expect("valid test name")
}

/// Small limits so that states are cheap to build and clone.
pub fn small_limits() -> Limits {
    Limits {
        max_accounts: 16,
        max_orders: 64,
        max_open_orders_per_account: 8,
        max_assets: 8,
        max_symbols: 8,
        max_levels: 32,
        ..Limits::default()
    }
}

pub fn spec(
    text: &str,
    base: AssetId,
    quote: AssetId,
    tick: Fixed,
    lot: Fixed,
    maker_fee_bps: u16,
    taker_fee_bps: u16,
) -> SymbolSpec {
    SymbolSpec {
        name: name(text),
        base,
        quote,
        tick_size: tick,
        lot_size: lot,
        maker_fee_bps,
        taker_fee_bps,
    }
}

/// A GTC limit order, no post-only, STP cancel-newest.
pub fn limit(symbol: SymbolId, side: Side, price: u64, qty: u64) -> PlaceOrder {
    PlaceOrder {
        symbol,
        side,
        order_type: OrderType::Limit { price },
        qty,
        tif: TimeInForce::Gtc,
        post_only: false,
        stp: StpMode::CancelNewest,
    }
}

/// An IOC market order with `bound`.
pub fn market(symbol: SymbolId, side: Side, bound: MarketBound, qty: u64) -> PlaceOrder {
    PlaceOrder {
        symbol,
        side,
        order_type: OrderType::Market { bound },
        qty,
        tif: TimeInForce::Ioc,
        post_only: false,
        stp: StpMode::CancelNewest,
    }
}

pub fn place(p: PlaceOrder) -> CommandKind {
    CommandKind::PlaceOrder(p)
}

pub fn rejected(account: AccountId, request_id: u64, reason: RejectReason) -> Vec<Event> {
    vec![Event::Rejected {
        account,
        request_id,
        reason,
    }]
}

pub fn accepted(account: AccountId, request_id: u64) -> Event {
    Event::Accepted {
        account,
        request_id,
    }
}

/// Processes commands one by one, asserting after each that `process`
/// succeeded, that the invariants hold, and that a replica fed only the
/// emitted events through `apply` digests the same.
pub struct Harness {
    pub state: State,
    pub replica: State,
    pub now: u64,
    /// Every event emitted so far, in order.
    pub log: Vec<Event>,
}

impl Harness {
    pub fn new(limits: Limits) -> Harness {
        Harness {
            state: State::new(limits),
            replica: State::new(limits),
            now: 1_000,
            log: Vec::new(),
        }
    }

    /// The request id that follows the account's last accepted one.
    pub fn next_req(&self, account: AccountId) -> u64 {
        self.state
            .account(account)
            .map_or(1, |a| a.last_request_id + 1)
    }

    pub fn last_req(&self, account: AccountId) -> u64 {
        self.state.account(account).map_or(0, |a| a.last_request_id)
    }

    /// Runs a command with the next request id, 10 ns after the previous one.
    pub fn run(&mut self, account: AccountId, kind: CommandKind) -> Vec<Event> {
        let req = self.next_req(account);
        let now = self.now + 10;
        self.run_full(now, account, req, kind)
    }

    pub fn run_req(
        &mut self,
        account: AccountId,
        request_id: u64,
        kind: CommandKind,
    ) -> Vec<Event> {
        let now = self.now + 10;
        self.run_full(now, account, request_id, kind)
    }

    pub fn run_at(&mut self, now: u64, account: AccountId, kind: CommandKind) -> Vec<Event> {
        let req = self.next_req(account);
        self.run_full(now, account, req, kind)
    }

    pub fn run_full(
        &mut self,
        now: u64,
        account: AccountId,
        request_id: u64,
        kind: CommandKind,
    ) -> Vec<Event> {
        self.now = now;
        let cmd = Command {
            account,
            request_id,
            kind,
        };
        let mut out = Vec::new();
        process(&mut self.state, &cmd, now, &mut out)
            .unwrap_or_else(|e| panic!("process({cmd:?}) at {now} failed: {e}"));
        self.state
            .check_invariants()
            .unwrap_or_else(|e| panic!("after {cmd:?} -> {out:?}: {e}"));
        for e in &out {
            apply(&mut self.replica, e)
                .unwrap_or_else(|err| panic!("replica apply({e:?}) failed: {err}"));
        }
        assert_eq!(
            self.replica.digest(),
            self.state.digest(),
            "replica diverged after {cmd:?}"
        );
        self.log.extend_from_slice(&out);
        out
    }

    /// Runs a command expected to be accepted; returns its events.
    pub fn ok(&mut self, account: AccountId, kind: CommandKind) -> Vec<Event> {
        let events = self.run(account, kind);
        assert!(
            !matches!(events.last(), Some(Event::Rejected { .. })),
            "expected acceptance of {kind:?}, got {events:?}"
        );
        events
    }

    /// Runs a command that must be rejected with `reason`, and asserts that it
    /// changed nothing: same digest, same next order id, same request id.
    pub fn reject(&mut self, account: AccountId, kind: CommandKind, reason: RejectReason) {
        let req = self.next_req(account);
        self.reject_req(account, req, kind, reason);
    }

    pub fn reject_req(
        &mut self,
        account: AccountId,
        request_id: u64,
        kind: CommandKind,
        reason: RejectReason,
    ) {
        let digest = self.state.digest();
        let next_order = self.state.next_order_id();
        let last_req = self.last_req(account);
        let events = self.run_req(account, request_id, kind);
        assert_eq!(
            events,
            rejected(account, request_id, reason),
            "for {kind:?}"
        );
        assert_eq!(
            self.state.digest(),
            digest,
            "rejected {kind:?} changed state"
        );
        assert_eq!(self.state.next_order_id(), next_order);
        assert_eq!(self.last_req(account), last_req);
    }

    pub fn digest(&self) -> Digest {
        self.state.digest()
    }

    /// Operator adds an asset; returns its id.
    pub fn add_asset(&mut self, text: &str, scale: u8) -> AssetId {
        let events = self.ok(
            OP,
            CommandKind::AddAsset {
                name: name(text),
                scale,
            },
        );
        match events[1] {
            Event::AssetAdded { asset, .. } => asset,
            ref other => panic!("unexpected {other:?}"),
        }
    }

    pub fn add_symbol(&mut self, s: SymbolSpec) -> SymbolId {
        let events = self.ok(OP, CommandKind::AddSymbol(s));
        match events[1] {
            Event::SymbolAdded { symbol, .. } => symbol,
            ref other => panic!("unexpected {other:?}"),
        }
    }

    pub fn open(&mut self, account: AccountId) {
        let events = self.run_req(account, 1, CommandKind::OpenAccount);
        assert_eq!(
            events,
            vec![Event::AccountOpened { account }, accepted(account, 1)]
        );
    }

    pub fn deposit(&mut self, account: AccountId, asset: AssetId, amount: u64) {
        self.ok(account, CommandKind::Deposit { asset, amount });
    }

    /// Places an order expected to be accepted; returns its id and events.
    pub fn place(&mut self, account: AccountId, p: PlaceOrder) -> (OrderId, Vec<Event>) {
        let id = self.state.next_order_id();
        let events = self.ok(account, place(p));
        (id, events)
    }

    pub fn avail(&self, account: AccountId, asset: AssetId) -> u64 {
        self.state.balance(account, asset).unwrap().available
    }

    pub fn held(&self, account: AccountId, asset: AssetId) -> u64 {
        self.state.balance(account, asset).unwrap().held
    }

    /// `(available, held)`.
    pub fn bal(&self, account: AccountId, asset: AssetId) -> (u64, u64) {
        let b = self.state.balance(account, asset).unwrap();
        (b.available, b.held)
    }
}
