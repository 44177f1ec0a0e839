//! Software pipelining across a batch: while the loop processes one command,
//! it asks the CPU to start loading what the next few commands will touch,
//! so that a cancel or amend of an order that is not in cache costs about
//! what it costs when it is. At a million resting orders the order index,
//! the order record and its neighbours in its level and account lists are
//! each a cache miss, and each depends on the one before (the index names
//! the slot, the slot names the neighbours); spread over three commands,
//! their latencies overlap with useful work instead of adding up.
//!
//! A prefetch is only a hint: it reads nothing the program sees, changes no
//! state, never faults (any address may be prefetched) and has no effect on
//! any result, so determinism is untouched. It costs a few instructions,
//! and two index lookups: below [`PREFETCH_FROM_ORDERS`] open orders the
//! state's hot part fits in the L2 cache, nothing is asked for and the cost
//! is one comparison (measured on the scale bench: an oldest-first cancel
//! at 1,000 orders took about 10% longer with the hints than without).

use crate::model::{Command, CommandKind, OrderId, OrderType, PlaceOrder};

use super::slab::NIL;
use super::{Order, State};

/// Open orders from which [`State::prefetch_ahead`] issues its hints: 8,192
/// orders hold about 1 MiB of order records, index buckets and levels, more
/// than a core's L2 cache on the machines Keel runs on.
pub const PREFETCH_FROM_ORDERS: usize = 1 << 13;

/// Asks the CPU to bring the cache line holding `p` into all cache levels.
#[inline(always)]
pub(crate) fn prefetch_line<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `prefetch` is a hint that never dereferences in the program's
    // sense: it cannot fault, whatever the address, and reads nothing the
    // program observes. SSE, which it needs, is baseline on x86_64.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// The order a command names by id (cancel, amend), if any.
#[inline]
fn named_order(cmd: &Command) -> Option<OrderId> {
    match cmd.kind {
        CommandKind::CancelOrder { order } | CommandKind::AmendOrder { order, .. } => Some(order),
        _ => None,
    }
}

impl State {
    /// A hint for the commands after the one about to be processed:
    /// `ahead[0]` is the next command, `ahead[1]` the one after, `ahead[2]`
    /// the one after that (`None` past the end of the batch). Call it before
    /// each command; each call does one stage for each of three commands:
    /// the index bucket of the third, the order record of the second (its
    /// bucket was asked for one call ago), and the level and account
    /// neighbours of the next (its record was asked for one call ago); and,
    /// when the next command is a place that takes liquidity, the makers at
    /// the head of the level it takes from.
    ///
    /// It never changes the state or any outcome (see the module docs);
    /// calling it or not, with any commands, gives bit-identical results.
    #[inline]
    pub fn prefetch_ahead(&self, ahead: [Option<&Command>; 3]) {
        if self.orders.len() < PREFETCH_FROM_ORDERS {
            return;
        }
        if let Some(id) = ahead[2].and_then(named_order) {
            self.order_index.prefetch(id);
        }
        if let Some(id) = ahead[1].and_then(named_order) {
            if let Some(slot) = self.order_index.get(&id) {
                self.orders.prefetch(slot);
            }
        }
        if let Some(id) = ahead[0].and_then(named_order) {
            if let Some(order) = self.order(id) {
                self.prefetch_neighbours(order);
            }
        }
        if let Some(CommandKind::PlaceOrder(p)) = ahead[0].map(|c| &c.kind) {
            self.prefetch_makers(p);
        }
    }

    /// What closing or moving `order` touches besides its record: its
    /// level and its neighbours in the level and account lists.
    #[inline]
    fn prefetch_neighbours(&self, order: &Order) {
        for slot in [
            order.level_prev,
            order.level_next,
            order.account_prev,
            order.account_next,
        ] {
            if slot != NIL {
                self.orders.prefetch(slot);
            }
        }
        if order.level != NIL {
            self.levels.prefetch(order.level);
        }
    }

    /// When the next command takes liquidity, the makers at the head of the
    /// opposite best level are what this command and the next are likely to
    /// fill (FIFO, oldest first, and the oldest orders are the coldest): the
    /// head's index bucket and list neighbours (its record was asked for by
    /// an earlier call, as the one behind the head), and the record of the
    /// order behind it. Filling one maker after another, each fill then finds
    /// its maker in cache and its other misses overlapped.
    #[inline]
    fn prefetch_makers(&self, p: &PlaceOrder) {
        let Some(book) = self.books.get(p.symbol as usize) else {
            return;
        };
        let makers = book.side(p.side.opposite());
        let takes = match p.order_type {
            OrderType::Limit { price } => makers.crosses(price),
            OrderType::Market { .. } => true,
        };
        let Some(head) = takes
            .then(|| makers.best())
            .flatten()
            .and_then(|best| self.levels.get(best.level))
            .and_then(|level| self.orders.get(level.head))
        else {
            return;
        };
        self.order_index.prefetch(head.id);
        self.prefetch_neighbours(head);
    }
}
