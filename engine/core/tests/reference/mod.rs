//! A deliberately simple reference model of Keel, written from
//! `docs/ARCHITECTURE.md`, used to check the engine event for event.
//!
//! Nothing here is fast or clever: open orders are one `Vec` scanned
//! linearly, the best maker is found by a full scan (best price, then the
//! lowest arrival counter), balances are `u128` in a `BTreeMap`, `held` is
//! not stored at all but recomputed as the sum of the open orders'
//! reservations, and a command is executed on a *clone* of the whole model
//! that is simply dropped if any check fails (that is how "nothing happens
//! on a rejection", including for FOK, is obviously true here).
#![allow(dead_code)]

use keel_core::Trade;
use std::collections::BTreeMap;

use keel_core::{
    AccountId, AssetId, CancelReason, Command, CommandKind, Event, Fixed, Limits, MarketBound,
    Name, OrderId, OrderType, PlaceOrder, RejectReason, Side, StpMode, SymbolId, SymbolSpec,
    TimeInForce, OPERATOR,
};

const U64_MAX: u128 = u64::MAX as u128;
const SCALE_MAX: u8 = 18;
const BPS_ONE: u128 = 10_000;

type R<T> = Result<T, RejectReason>;

/// An open order. Between commands every open order rests in its book.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefOrder {
    pub id: OrderId,
    pub account: AccountId,
    pub symbol: SymbolId,
    pub side: Side,
    pub price: u64,
    pub remaining: u64,
    /// What the order still holds (quote for a buy, base for a sell).
    pub reserved: u128,
    pub tif: TimeInForce,
    pub post_only: bool,
    pub stp: StpMode,
    /// Time priority: set each time the order (re)joins its level.
    pub arrival: u64,
}

impl RefOrder {
    fn expiry(&self) -> Option<u64> {
        match self.tif {
            TimeInForce::Gtd { expiry_ns } => Some(expiry_ns),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
struct RefAsset {
    name: Name,
    scale: u8,
    supply: u128,
}

#[derive(Clone, Debug)]
struct RefSymbol {
    spec: SymbolSpec,
    base_per_lot: u128,
    quote_per_tick_lot: u128,
    halted: bool,
}

impl RefSymbol {
    fn notional(&self, price: u64, qty: u64) -> u128 {
        // ≤ 2^64 · 2^64 · 2^64 does not fit u128 in general: saturate, any
        // value above u64::MAX is "does not fit" anyway.
        (price as u128)
            .checked_mul(qty as u128)
            .and_then(|x| x.checked_mul(self.quote_per_tick_lot))
            .unwrap_or(u128::MAX)
    }

    fn base(&self, qty: u64) -> u128 {
        qty as u128 * self.base_per_lot
    }

    fn hold_asset(&self, side: Side) -> AssetId {
        match side {
            Side::Buy => self.spec.quote,
            Side::Sell => self.spec.base,
        }
    }

    /// The hold of a limit order (or a market order with a protection
    /// price) at `price` for `qty` lots, if it fits u64.
    fn hold(&self, side: Side, price: u64, qty: u64) -> R<u128> {
        let hold = match side {
            Side::Buy => {
                let n = self.notional(price, qty);
                if n > U64_MAX {
                    return Err(RejectReason::Overflow);
                }
                let bps = self.spec.maker_fee_bps.max(self.spec.taker_fee_bps);
                n + fee(n, bps)
            }
            Side::Sell => self.base(qty),
        };
        if hold > U64_MAX {
            return Err(RejectReason::Overflow);
        }
        Ok(hold)
    }
}

fn fee(notional: u128, bps: u16) -> u128 {
    notional * bps as u128 / BPS_ONE
}

/// `mantissa × 10^-scale` in units of `10^-target`, if a whole number.
fn whole_units(mantissa: u128, scale: u32, target: u32) -> Option<u128> {
    if scale <= target {
        mantissa.checked_mul(10u128.checked_pow(target - scale)?)
    } else {
        let div = 10u128.checked_pow(scale - target)?;
        mantissa.is_multiple_of(div).then(|| mantissa / div)
    }
}

/// How a matching walk ended for the incoming order.
enum WalkEnd {
    /// Completely filled; it has ended.
    Filled,
    /// Self-trade prevention cancelled it; it has ended.
    Cancelled,
    /// Lots remain (liquidity, price bound or budget ran out).
    Open(RefOrder),
    /// Lots remain, and the walk stopped at `max_fills_per_command` with
    /// another acceptable maker still resting: the remainder is cancelled.
    Limited(RefOrder),
}

#[derive(Clone, Debug)]
pub struct Reference {
    limits: Limits,
    assets: Vec<RefAsset>,
    symbols: Vec<RefSymbol>,
    /// Open accounts and their last accepted request id.
    accounts: BTreeMap<AccountId, u64>,
    available: BTreeMap<(AccountId, AssetId), u128>,
    /// Every open order, in no particular order.
    orders: Vec<RefOrder>,
    next_order_id: OrderId,
    next_arrival: u64,
}

impl Reference {
    pub fn new(limits: Limits) -> Reference {
        Reference {
            limits,
            assets: Vec::new(),
            symbols: Vec::new(),
            accounts: [(OPERATOR, 0)].into_iter().collect(),
            available: BTreeMap::new(),
            orders: Vec::new(),
            next_order_id: 1,
            next_arrival: 1,
        }
    }

    // ----- read access, for comparisons -------------------------------

    pub fn accounts(&self) -> Vec<(AccountId, u64)> {
        self.accounts.iter().map(|(&a, &r)| (a, r)).collect()
    }

    pub fn asset_count(&self) -> u32 {
        self.assets.len() as u32
    }

    pub fn symbol_count(&self) -> u32 {
        self.symbols.len() as u32
    }

    pub fn supply(&self, asset: AssetId) -> u64 {
        self.assets[asset as usize].supply as u64
    }

    pub fn halted(&self, symbol: SymbolId) -> bool {
        self.symbols[symbol as usize].halted
    }

    pub fn next_order_id(&self) -> OrderId {
        self.next_order_id
    }

    /// `(available, held)`; held is the sum of the open orders' reservations.
    pub fn balance(&self, account: AccountId, asset: AssetId) -> (u64, u64) {
        let available = self.avail(account, asset);
        let held: u128 = self
            .orders
            .iter()
            .filter(|o| {
                o.account == account && self.symbols[o.symbol as usize].hold_asset(o.side) == asset
            })
            .map(|o| o.reserved)
            .sum();
        (to_u64(available), to_u64(held))
    }

    /// The account's open orders in id order.
    pub fn account_orders(&self, account: AccountId) -> Vec<RefOrder> {
        let mut v: Vec<RefOrder> = self
            .orders
            .iter()
            .filter(|o| o.account == account)
            .cloned()
            .collect();
        v.sort_by_key(|o| o.id);
        v
    }

    pub fn open_order_count(&self) -> usize {
        self.orders.len()
    }

    /// One side of a book, best level first, each level's orders oldest
    /// first: `(price, [order ids])`.
    pub fn book_side(&self, symbol: SymbolId, side: Side) -> Vec<(u64, Vec<OrderId>)> {
        let mut v: Vec<&RefOrder> = self
            .orders
            .iter()
            .filter(|o| o.symbol == symbol && o.side == side)
            .collect();
        v.sort_by_key(|o| (priority_key(o), o.arrival));
        let mut levels: Vec<(u64, Vec<OrderId>)> = Vec::new();
        for o in v {
            match levels.last_mut() {
                Some((p, ids)) if *p == o.price => ids.push(o.id),
                _ => levels.push((o.price, vec![o.id])),
            }
        }
        levels
    }

    // ----- processing -------------------------------------------------

    /// The events of `cmd` at time `now_ns`, mutating the model.
    pub fn process(&mut self, cmd: &Command, now_ns: u64) -> Vec<Event> {
        let mut out = Vec::new();
        self.expire(now_ns, &mut out);
        let mut trial = self.clone();
        let mut events = Vec::new();
        match trial.execute(cmd, now_ns, &mut events) {
            Ok(()) => {
                *self = trial;
                out.extend(events);
            }
            Err(reason) => out.push(Event::Rejected {
                account: cmd.account,
                request_id: cmd.request_id,
                reason,
            }),
        }
        out
    }

    /// Cancels every GTD order with expiry ≤ `now_ns`, by (expiry, id).
    fn expire(&mut self, now_ns: u64, out: &mut Vec<Event>) {
        loop {
            let due = self
                .orders
                .iter()
                .filter_map(|o| o.expiry().map(|e| (e, o.id)))
                .filter(|&(e, _)| e <= now_ns)
                .min();
            let Some((_, id)) = due else { return };
            self.cancel_resting(id, CancelReason::Expired, out);
        }
    }

    fn avail(&self, account: AccountId, asset: AssetId) -> u128 {
        self.available.get(&(account, asset)).copied().unwrap_or(0)
    }

    fn credit(&mut self, account: AccountId, asset: AssetId, amount: u128) {
        let a = self.available.entry((account, asset)).or_insert(0);
        *a += amount;
        assert!(*a <= U64_MAX, "reference: a balance above u64::MAX");
    }

    fn debit(&mut self, account: AccountId, asset: AssetId, amount: u128) {
        let a = self.available.entry((account, asset)).or_insert(0);
        assert!(*a >= amount, "reference: debit below zero");
        *a -= amount;
    }

    fn need_available(&self, account: AccountId, asset: AssetId, needed: u128) -> R<()> {
        let available = self.avail(account, asset);
        if available < needed {
            return Err(RejectReason::InsufficientFunds {
                asset,
                needed: to_u64(needed),
                available: to_u64(available),
            });
        }
        Ok(())
    }

    fn asset_known(&self, asset: AssetId) -> R<()> {
        if (asset as usize) < self.assets.len() {
            Ok(())
        } else {
            Err(RejectReason::UnknownAsset { asset })
        }
    }

    fn execute(&mut self, cmd: &Command, now_ns: u64, out: &mut Vec<Event>) -> R<()> {
        let account = cmd.account;
        let accepted = Event::Accepted {
            account,
            request_id: cmd.request_id,
        };
        if cmd.request_id > keel_core::model::MAX_REQUEST_ID {
            return Err(RejectReason::RequestIdOutOfRange {
                request_id: cmd.request_id,
            });
        }
        if let CommandKind::OpenAccount = cmd.kind {
            // A repeat of a request the account accepted is a duplicate,
            // checked before anything else (the general rule).
            if let Some(&last_request_id) = self.accounts.get(&account) {
                if cmd.request_id <= last_request_id {
                    return Err(RejectReason::Duplicate { last_request_id });
                }
            }
            if account >= self.limits.max_accounts {
                return Err(RejectReason::AccountLimit {
                    account,
                    max_accounts: self.limits.max_accounts,
                });
            }
            if self.accounts.contains_key(&account) {
                return Err(RejectReason::AccountExists { account });
            }
            if cmd.request_id < 1 {
                return Err(RejectReason::Duplicate { last_request_id: 0 });
            }
            self.accounts.insert(account, cmd.request_id);
            out.push(Event::AccountOpened { account });
            out.push(accepted);
            return Ok(());
        }
        let last = *self
            .accounts
            .get(&account)
            .ok_or(RejectReason::UnknownAccount { account })?;
        if cmd.request_id <= last {
            return Err(RejectReason::Duplicate {
                last_request_id: last,
            });
        }
        let admin = matches!(
            cmd.kind,
            CommandKind::AddAsset { .. }
                | CommandKind::AddSymbol(_)
                | CommandKind::HaltSymbol { .. }
                | CommandKind::ResumeSymbol { .. }
        );
        if admin && account != OPERATOR {
            return Err(RejectReason::NotAuthorized);
        }
        self.accounts.insert(account, cmd.request_id);
        out.push(accepted);
        match cmd.kind {
            CommandKind::OpenAccount => unreachable!(),
            CommandKind::Deposit { asset, amount } => {
                self.asset_known(asset)?;
                if amount == 0 {
                    return Err(RejectReason::ZeroValue);
                }
                let supply = self.assets[asset as usize].supply + amount as u128;
                if supply > U64_MAX {
                    return Err(RejectReason::Overflow);
                }
                self.assets[asset as usize].supply = supply;
                self.credit(account, asset, amount as u128);
                out.push(Event::Deposited {
                    account,
                    asset,
                    amount,
                });
            }
            CommandKind::Withdraw { asset, amount } => {
                self.asset_known(asset)?;
                if amount == 0 {
                    return Err(RejectReason::ZeroValue);
                }
                self.need_available(account, asset, amount as u128)?;
                self.debit(account, asset, amount as u128);
                self.assets[asset as usize].supply -= amount as u128;
                out.push(Event::Withdrawn {
                    account,
                    asset,
                    amount,
                });
            }
            CommandKind::Transfer { to, asset, amount } => {
                if to == account {
                    return Err(RejectReason::SelfTransfer);
                }
                if !self.accounts.contains_key(&to) {
                    return Err(RejectReason::UnknownAccount { account: to });
                }
                self.asset_known(asset)?;
                if amount == 0 {
                    return Err(RejectReason::ZeroValue);
                }
                self.need_available(account, asset, amount as u128)?;
                self.debit(account, asset, amount as u128);
                self.credit(to, asset, amount as u128);
                out.push(Event::Transferred {
                    from: account,
                    to,
                    asset,
                    amount,
                });
            }
            CommandKind::PlaceOrder(ref p) => self.place(account, p, now_ns, out)?,
            CommandKind::CancelOrder { order } => {
                self.owned(account, order)?;
                self.cancel_resting(order, CancelReason::User, out);
            }
            CommandKind::AmendOrder { order, price, qty } => {
                self.amend(account, order, price, qty, out)?
            }
            CommandKind::CancelAll { symbol } => {
                if let Some(s) = symbol {
                    if s as usize >= self.symbols.len() {
                        return Err(RejectReason::UnknownSymbol { symbol: s });
                    }
                }
                let mut ids: Vec<OrderId> = self
                    .orders
                    .iter()
                    .filter(|o| o.account == account && symbol.is_none_or(|s| s == o.symbol))
                    .map(|o| o.id)
                    .collect();
                ids.sort();
                for id in ids {
                    self.cancel_resting(id, CancelReason::MassCancel, out);
                }
            }
            CommandKind::AddAsset { name, scale } => {
                if scale > SCALE_MAX {
                    return Err(RejectReason::InvalidScale);
                }
                if self.assets.iter().any(|a| a.name == name) {
                    return Err(RejectReason::DuplicateName);
                }
                if self.assets.len() >= self.limits.max_assets as usize {
                    return Err(RejectReason::InstrumentCapacity);
                }
                out.push(Event::AssetAdded {
                    asset: self.assets.len() as AssetId,
                    name,
                    scale,
                });
                self.assets.push(RefAsset {
                    name,
                    scale,
                    supply: 0,
                });
            }
            CommandKind::AddSymbol(spec) => {
                self.asset_known(spec.base)?;
                self.asset_known(spec.quote)?;
                if spec.base == spec.quote {
                    return Err(RejectReason::InvalidSymbolSpec);
                }
                let (base_per_lot, quote_per_tick_lot) = self.exact_scales(&spec)?;
                if spec.maker_fee_bps as u128 > BPS_ONE || spec.taker_fee_bps as u128 > BPS_ONE {
                    return Err(RejectReason::InvalidSymbolSpec);
                }
                if self.symbols.iter().any(|s| s.spec.name == spec.name) {
                    return Err(RejectReason::DuplicateName);
                }
                if self.symbols.len() >= self.limits.max_symbols as usize {
                    return Err(RejectReason::InstrumentCapacity);
                }
                out.push(Event::SymbolAdded {
                    symbol: self.symbols.len() as SymbolId,
                    spec,
                });
                self.symbols.push(RefSymbol {
                    spec,
                    base_per_lot,
                    quote_per_tick_lot,
                    halted: false,
                });
            }
            CommandKind::HaltSymbol { symbol } | CommandKind::ResumeSymbol { symbol } => {
                let halt = matches!(cmd.kind, CommandKind::HaltSymbol { .. });
                let s = self
                    .symbols
                    .get_mut(symbol as usize)
                    .ok_or(RejectReason::UnknownSymbol { symbol })?;
                if halt && s.halted {
                    return Err(RejectReason::SymbolAlreadyHalted { symbol });
                }
                if !halt && !s.halted {
                    return Err(RejectReason::SymbolNotHalted { symbol });
                }
                s.halted = halt;
                out.push(if halt {
                    Event::SymbolHalted { symbol }
                } else {
                    Event::SymbolResumed { symbol }
                });
            }
            CommandKind::ExpireDue | CommandKind::CancelAllContinued { .. } => {
                unreachable!("reference: continuations are the engine's own, never generated")
            }
        }
        Ok(())
    }

    /// `base_per_lot = lot × 10^base_scale` and `quote_per_tick_lot = tick ×
    /// lot × 10^quote_scale`, both whole numbers ≥ 1 (and, as the engine
    /// keeps them in u64, ≤ u64::MAX).
    fn exact_scales(&self, spec: &SymbolSpec) -> R<(u128, u128)> {
        let bad = RejectReason::InvalidSymbolSpec;
        let base_scale = self.assets[spec.base as usize].scale as u32;
        let quote_scale = self.assets[spec.quote as usize].scale as u32;
        let Fixed {
            mantissa: tm,
            scale: ts,
        } = spec.tick_size;
        let Fixed {
            mantissa: lm,
            scale: ls,
        } = spec.lot_size;
        let bpl = whole_units(lm as u128, ls as u32, base_scale).ok_or(bad)?;
        let qptl =
            whole_units(tm as u128 * lm as u128, ts as u32 + ls as u32, quote_scale).ok_or(bad)?;
        if bpl == 0 || qptl == 0 || bpl > U64_MAX || qptl > U64_MAX {
            return Err(bad);
        }
        Ok((bpl, qptl))
    }

    fn owned(&self, account: AccountId, order: OrderId) -> R<RefOrder> {
        let o = self
            .orders
            .iter()
            .find(|o| o.id == order)
            .ok_or(RejectReason::UnknownOrder { order })?;
        if o.account != account {
            return Err(RejectReason::NotOrderOwner { order });
        }
        Ok(o.clone())
    }

    fn tradable(&self, symbol: SymbolId) -> R<RefSymbol> {
        let s = self
            .symbols
            .get(symbol as usize)
            .ok_or(RejectReason::UnknownSymbol { symbol })?;
        if s.halted {
            return Err(RejectReason::SymbolHalted { symbol });
        }
        Ok(s.clone())
    }

    /// Whether a post-only order of `side` at `price` would cross the
    /// opposite best price.
    fn would_cross(&self, symbol: SymbolId, side: Side, price: u64) -> bool {
        let opposite = self
            .orders
            .iter()
            .filter(|o| o.symbol == symbol && o.side != side)
            .map(|o| o.price);
        match side {
            Side::Buy => opposite.min().is_some_and(|best_ask| price >= best_ask),
            Side::Sell => opposite.max().is_some_and(|best_bid| price <= best_bid),
        }
    }

    fn remove_order(&mut self, id: OrderId) -> RefOrder {
        let i = self
            .orders
            .iter()
            .position(|o| o.id == id)
            .expect("reference: order is open");
        self.orders.remove(i)
    }

    /// Ends an order that is not in `orders` (a taker): releases its
    /// reservation.
    fn release(&mut self, o: &RefOrder) {
        let asset = self.symbols[o.symbol as usize].hold_asset(o.side);
        self.credit(o.account, asset, o.reserved);
    }

    fn cancel_resting(&mut self, id: OrderId, reason: CancelReason, out: &mut Vec<Event>) {
        let o = self.remove_order(id);
        out.push(Event::OrderCancelled {
            order: o.id,
            account: o.account,
            remaining: o.remaining,
            reason,
        });
        self.release(&o);
    }

    /// Rests `o`, unless it needs a new price level and every level is in
    /// use in the state it leaves (its own walk done, an amended order
    /// already off its old level).
    fn rest(&mut self, mut o: RefOrder, out: &mut Vec<Event>) -> R<()> {
        self.check_level_capacity(o.symbol, o.side, o.price)?;
        o.arrival = self.next_arrival;
        self.next_arrival += 1;
        out.push(Event::OrderRested { order: o.id });
        self.orders.push(o);
        Ok(())
    }

    fn place(
        &mut self,
        account: AccountId,
        p: &PlaceOrder,
        now_ns: u64,
        out: &mut Vec<Event>,
    ) -> R<()> {
        let sym = self.tradable(p.symbol)?;
        if p.qty == 0 {
            return Err(RejectReason::ZeroValue);
        }
        // (is market, price in the event, walk bound, budget)
        let (is_market, price, limit, budget) = match p.order_type {
            OrderType::Limit { price } => {
                if price == 0 {
                    return Err(RejectReason::ZeroValue);
                }
                (false, price, Some(price), None)
            }
            OrderType::Market {
                bound: MarketBound::ProtectionPrice { price },
            } => {
                if price == 0 {
                    return Err(RejectReason::ZeroValue);
                }
                (true, price, Some(price), None)
            }
            OrderType::Market {
                bound: MarketBound::QuoteBudget { amount },
            } => {
                // Ambiguity: a zero budget on a sell is InvalidOrder (budget
                // only on buys wins), as the engine does.
                if p.side == Side::Sell {
                    return Err(RejectReason::InvalidOrder);
                }
                if amount == 0 {
                    return Err(RejectReason::ZeroValue);
                }
                (true, 0, None, Some(amount as u128))
            }
            OrderType::Market {
                bound: MarketBound::None,
            } => {
                if p.side == Side::Buy {
                    return Err(RejectReason::InvalidOrder);
                }
                (true, 0, None, None)
            }
        };
        let rests = match p.tif {
            TimeInForce::Gtc | TimeInForce::Gtd { .. } => true,
            TimeInForce::Ioc | TimeInForce::Fok => false,
        };
        if is_market && rests {
            return Err(RejectReason::InvalidOrder);
        }
        if p.post_only && (is_market || !rests) {
            return Err(RejectReason::InvalidOrder);
        }
        if let TimeInForce::Gtd { expiry_ns } = p.tif {
            if expiry_ns <= now_ns {
                return Err(RejectReason::InvalidOrder);
            }
        }
        if self.orders.len() >= self.limits.max_orders as usize {
            return Err(RejectReason::OrderCapacity {
                max_orders: self.limits.max_orders,
            });
        }
        let mine = self.orders.iter().filter(|o| o.account == account).count();
        if mine >= self.limits.max_open_orders_per_account as usize {
            return Err(RejectReason::AccountOrderLimit {
                max_open_orders: self.limits.max_open_orders_per_account,
            });
        }
        let hold = match budget {
            Some(b) => b,
            None => sym.hold(p.side, price, p.qty)?,
        };
        let asset = sym.hold_asset(p.side);
        self.need_available(account, asset, hold)?;
        if p.post_only && self.would_cross(p.symbol, p.side, price) {
            return Err(RejectReason::PostOnlyWouldCross);
        }
        let id = self.next_order_id;
        self.next_order_id += 1;
        self.debit(account, asset, hold);
        out.push(Event::OrderAccepted {
            order: id,
            account,
            symbol: p.symbol,
            side: p.side,
            price,
            qty: p.qty,
            is_market,
            tif: p.tif,
            post_only: p.post_only,
            stp: p.stp,
            hold: hold as u64,
        });
        let taker = RefOrder {
            id,
            account,
            symbol: p.symbol,
            side: p.side,
            price,
            remaining: p.qty,
            reserved: hold,
            tif: p.tif,
            post_only: p.post_only,
            stp: p.stp,
            arrival: 0,
        };
        let end = self.walk(taker, limit, budget, out)?;
        if p.tif == TimeInForce::Fok && !matches!(end, WalkEnd::Filled) {
            // The trial copy is dropped: no hold, no id, no STP cancels.
            return Err(RejectReason::FokNotFillable);
        }
        if let WalkEnd::Limited(o) = end {
            self.cancel_limited(o, out);
        } else if let WalkEnd::Open(o) = end {
            if rests {
                self.rest(o, out)?;
            } else {
                out.push(Event::OrderCancelled {
                    order: o.id,
                    account,
                    remaining: o.remaining,
                    reason: CancelReason::IocRemainder,
                });
                self.release(&o);
            }
        }
        Ok(())
    }

    /// A new price level may only open while fewer than `max_levels`
    /// distinct (symbol, side, price) levels hold resting orders.
    fn check_level_capacity(&self, symbol: SymbolId, side: Side, price: u64) -> R<()> {
        let levels: std::collections::BTreeSet<(SymbolId, Side, u64)> = self
            .orders
            .iter()
            .map(|o| (o.symbol, o.side, o.price))
            .collect();
        if !levels.contains(&(symbol, side, price))
            && levels.len() >= self.limits.max_levels as usize
        {
            return Err(RejectReason::LevelCapacity {
                max_levels: self.limits.max_levels,
            });
        }
        Ok(())
    }

    fn amend(
        &mut self,
        account: AccountId,
        order: OrderId,
        price: u64,
        qty: u64,
        out: &mut Vec<Event>,
    ) -> R<()> {
        let o = self.owned(account, order)?;
        let sym = self.tradable(o.symbol)?;
        if price == 0 || qty == 0 {
            return Err(RejectReason::ZeroValue);
        }
        if price == o.price && qty == o.remaining {
            return Err(RejectReason::AmendNoChange);
        }
        let priority_kept = price == o.price && qty < o.remaining;
        let reserved = sym.hold(o.side, price, qty)?;
        let asset = sym.hold_asset(o.side);
        if reserved > o.reserved {
            self.need_available(account, asset, reserved - o.reserved)?;
        }
        if !priority_kept && o.post_only && self.would_cross(o.symbol, o.side, price) {
            return Err(RejectReason::PostOnlyWouldCross);
        }
        out.push(Event::OrderAmended {
            order,
            price,
            qty,
            reserved: reserved as u64,
            priority_kept,
        });
        if reserved > o.reserved {
            self.debit(account, asset, reserved - o.reserved);
        } else {
            self.credit(account, asset, o.reserved - reserved);
        }
        if priority_kept {
            let m = self
                .orders
                .iter_mut()
                .find(|m| m.id == order)
                .expect("open");
            m.remaining = qty;
            m.reserved = reserved;
            return Ok(());
        }
        let mut taker = self.remove_order(order);
        taker.price = price;
        taker.remaining = qty;
        taker.reserved = reserved;
        match self.walk(taker, Some(price), None, out)? {
            WalkEnd::Open(t) => self.rest(t, out)?,
            WalkEnd::Limited(t) => self.cancel_limited(t, out),
            WalkEnd::Filled | WalkEnd::Cancelled => {}
        }
        Ok(())
    }

    /// The remainder of an incoming order stopped by the fill limit.
    fn cancel_limited(&mut self, o: RefOrder, out: &mut Vec<Event>) {
        out.push(Event::OrderCancelled {
            order: o.id,
            account: o.account,
            remaining: o.remaining,
            reason: CancelReason::FillLimit,
        });
        self.release(&o);
    }

    /// The incoming order `taker` (not in `orders`) walks the opposite side.
    fn walk(
        &mut self,
        mut taker: RefOrder,
        limit: Option<u64>,
        mut budget: Option<u128>,
        out: &mut Vec<Event>,
    ) -> R<WalkEnd> {
        let sym = self.symbols[taker.symbol as usize].clone();
        let mut touches = 0u32;
        loop {
            // The best maker: best price, then oldest arrival.
            let best = self
                .orders
                .iter()
                .filter(|o| o.symbol == taker.symbol && o.side != taker.side)
                .min_by_key(|o| (priority_key(o), o.arrival))
                .cloned();
            let Some(maker) = best else {
                return Ok(WalkEnd::Open(taker));
            };
            if let Some(limit) = limit {
                let acceptable = match taker.side {
                    Side::Buy => maker.price <= limit,
                    Side::Sell => maker.price >= limit,
                };
                if !acceptable {
                    return Ok(WalkEnd::Open(taker));
                }
            }
            if let Some(left) = budget {
                // Out of budget: not even one lot at this maker's price is
                // affordable (checked before self-trade prevention).
                let n = sym.notional(maker.price, 1);
                if n > U64_MAX || n + fee(n, sym.spec.taker_fee_bps) > left {
                    return Ok(WalkEnd::Open(taker));
                }
            }
            // Each resting order touched (a trade or a self-trade cancel)
            // counts toward the per-command bound.
            if touches == self.limits.max_fills_per_command {
                return Ok(WalkEnd::Limited(taker));
            }
            touches += 1;
            if maker.account == taker.account {
                let taker_cancel = Event::OrderCancelled {
                    order: taker.id,
                    account: taker.account,
                    remaining: taker.remaining,
                    reason: CancelReason::SelfTradePrevention,
                };
                match taker.stp {
                    StpMode::CancelOldest => {
                        self.cancel_resting(maker.id, CancelReason::SelfTradePrevention, out);
                        continue;
                    }
                    StpMode::CancelNewest => {
                        out.push(taker_cancel);
                        self.release(&taker);
                    }
                    StpMode::CancelBoth => {
                        self.cancel_resting(maker.id, CancelReason::SelfTradePrevention, out);
                        out.push(taker_cancel);
                        self.release(&taker);
                    }
                }
                return Ok(WalkEnd::Cancelled);
            }
            let price = maker.price;
            let mut qty = taker.remaining.min(maker.remaining);
            let cost = |q: u64| {
                let n = sym.notional(price, q);
                if n > U64_MAX {
                    u128::MAX
                } else {
                    n + fee(n, sym.spec.taker_fee_bps)
                }
            };
            if let Some(left) = budget {
                // The most lots whose notional plus taker fee fits the budget
                // (the cost is monotone in the lots: binary search).
                let (mut lo, mut hi) = (0u64, qty);
                while lo < hi {
                    let mid = lo + (hi - lo).div_ceil(2);
                    if cost(mid) <= left {
                        lo = mid;
                    } else {
                        hi = mid - 1;
                    }
                }
                qty = lo;
                assert!(qty > 0, "reference: affordability was checked above");
            }
            let notional = sym.notional(price, qty);
            let base = sym.base(qty);
            if notional > U64_MAX || base > U64_MAX {
                return Err(RejectReason::Overflow);
            }
            let maker_fee = fee(notional, sym.spec.maker_fee_bps);
            let taker_fee = fee(notional, sym.spec.taker_fee_bps);
            if let Some(left) = budget.as_mut() {
                *left -= notional + taker_fee;
            }
            out.push(Event::TradeExecuted(Trade {
                symbol: taker.symbol,
                maker_order: maker.id,
                taker_order: taker.id,
                maker_account: maker.account,
                taker_account: taker.account,
                taker_side: taker.side,
                price,
                qty,
                maker_fee: maker_fee as u64,
                taker_fee: taker_fee as u64,
            }));
            // Settle. The buyer's order pays notional + its fee from its
            // reservation and gets the base; the seller's order gives the
            // base and gets notional − its fee; the operator gets both fees.
            let (buyer_fee, seller_fee) = match taker.side {
                Side::Buy => (taker_fee, maker_fee),
                Side::Sell => (maker_fee, taker_fee),
            };
            let mut m = self.remove_order(maker.id);
            let (buyer, seller) = match taker.side {
                Side::Buy => (&mut taker, &mut m),
                Side::Sell => (&mut m, &mut taker),
            };
            assert!(
                buyer.reserved >= notional + buyer_fee,
                "reference: buyer's reservation does not cover the trade"
            );
            assert!(seller.reserved >= base, "reference: seller's reservation");
            buyer.reserved -= notional + buyer_fee;
            seller.reserved -= base;
            let (buyer_account, seller_account) = (buyer.account, seller.account);
            self.credit(buyer_account, sym.spec.base, base);
            self.credit(seller_account, sym.spec.quote, notional - seller_fee);
            self.credit(OPERATOR, sym.spec.quote, maker_fee + taker_fee);
            m.remaining -= qty;
            taker.remaining -= qty;
            if m.remaining == 0 {
                self.release(&m);
            } else {
                self.orders.push(m); // arrival unchanged: keeps its place
            }
            if taker.remaining == 0 {
                self.release(&taker);
                return Ok(WalkEnd::Filled);
            }
            // Only a budget leaves both with lots: the maker kept its place,
            // so the next pass takes it again for what the rest of the budget
            // affords (or stops there), never a younger maker first.
        }
    }
}

/// Sort key of a resting order's price, best first within its side.
fn priority_key(o: &RefOrder) -> u64 {
    match o.side {
        Side::Sell => o.price,
        Side::Buy => u64::MAX - o.price,
    }
}

fn to_u64(x: u128) -> u64 {
    u64::try_from(x).expect("reference: amount above u64::MAX")
}
