//! Checked integer money arithmetic. Prices are ticks, quantities are lots,
//! amounts are minor units of an asset. Nothing here wraps or panics: every
//! function returns `None` on overflow, and the caller rejects the command.
//!
//! ```
//! use keel_core::model::money::{fee, Scales};
//!
//! // One lot is 1000 base minor units; one tick × one lot is 10 quote minor units.
//! let scales = Scales { base_per_lot: 1_000, quote_per_tick_lot: 10 };
//! assert_eq!(scales.notional(100, 3), Some(3_000)); // 3 lots at 100 ticks
//! assert_eq!(scales.base_amount(3), Some(3_000));
//! assert_eq!(fee(3_000, 25), 7); // 25 bps of 3000, rounded down
//! assert_eq!(scales.notional(u64::MAX, 2), None); // overflow: None, never a wrap
//! ```

/// Basis points in one whole.
pub const BPS_ONE: u64 = 10_000;

/// Conversion factors of one symbol, fixed when it is added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scales {
    /// Base minor units in one lot.
    pub base_per_lot: u64,
    /// Quote minor units in one tick × one lot.
    pub quote_per_tick_lot: u64,
}

impl Scales {
    /// Quote minor units for `qty` lots at `price` ticks.
    #[inline]
    pub fn notional(&self, price: u64, qty: u64) -> Option<u64> {
        let wide = (price as u128)
            .checked_mul(qty as u128)?
            .checked_mul(self.quote_per_tick_lot as u128)?;
        u64::try_from(wide).ok()
    }

    /// Base minor units in `qty` lots.
    #[inline]
    pub fn base_amount(&self, qty: u64) -> Option<u64> {
        qty.checked_mul(self.base_per_lot)
    }
}

/// The fee on `notional` at `bps`, rounded down. Rounding down makes the fee
/// of a sum at least the sum of the fees of its parts, so a hold sized for a
/// whole order always covers the fees of its partial fills.
#[inline]
pub fn fee(notional: u64, bps: u16) -> u64 {
    // notional < 2^64 and bps ≤ 10_000 < 2^14, so the product fits in u128
    // and the quotient is at most notional. Almost always the product fits
    // 64 bits, and a 64-bit division by a constant is a multiply and a
    // shift, where a 128-bit one is a library call; the result is the same.
    let wide = notional as u128 * bps as u128;
    match u64::try_from(wide) {
        Ok(narrow) => narrow / BPS_ONE,
        Err(_) => (wide / BPS_ONE as u128) as u64,
    }
}

/// Notional plus the fee at `bps`: what a buy at `price` for `qty` may cost.
#[inline]
pub fn buy_cost(scales: &Scales, price: u64, qty: u64, bps: u16) -> Option<u64> {
    let notional = scales.notional(price, qty)?;
    notional.checked_add(fee(notional, bps))
}

/// The most lots at `price` whose cost (notional plus fee at `bps`) stays
/// within `budget`, capped at `qty_max`.
pub fn affordable_qty(scales: &Scales, price: u64, bps: u16, budget: u64, qty_max: u64) -> u64 {
    let per_lot = match scales.notional(price, 1) {
        Some(n) if n > 0 => n as u128,
        _ => return 0,
    };
    // Estimate from below with the exact rational bound, then correct.
    let estimate = (budget as u128 * BPS_ONE as u128) / (per_lot * (BPS_ONE as u128 + bps as u128));
    let mut qty = estimate.min(qty_max as u128) as u64;
    while qty < qty_max {
        match buy_cost(scales, price, qty + 1, bps) {
            Some(cost) if cost <= budget => qty += 1,
            _ => break,
        }
    }
    while qty > 0 {
        match buy_cost(scales, price, qty, bps) {
            Some(cost) if cost <= budget => break,
            _ => qty -= 1,
        }
    }
    qty
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const S: Scales = Scales {
        base_per_lot: 1_000,
        quote_per_tick_lot: 10,
    };

    #[test]
    fn notional_and_overflow() {
        assert_eq!(S.notional(100, 3), Some(3_000));
        assert_eq!(S.notional(u64::MAX, 2), None);
        assert_eq!(S.base_amount(u64::MAX), None);
        assert_eq!(buy_cost(&S, u64::MAX / 10, 1, 10_000), None);
    }

    #[test]
    fn fees_round_down() {
        assert_eq!(fee(9_999, 1), 0);
        assert_eq!(fee(10_000, 1), 1);
        assert_eq!(fee(u64::MAX, 10_000), u64::MAX);
    }

    proptest! {
        #[test]
        fn fee_is_the_exact_128_bit_quotient(notional in any::<u64>(), bps in 0u16..=10_000) {
            let exact = (u128::from(notional) * u128::from(bps) / u128::from(BPS_ONE)) as u64;
            prop_assert_eq!(fee(notional, bps), exact);
            // Both sides of the 64-bit fast path.
            let edge = u64::MAX / u64::from(bps.max(1));
            for n in [edge.saturating_sub(1), edge, edge.saturating_add(1), u64::MAX] {
                let exact = (u128::from(n) * u128::from(bps) / u128::from(BPS_ONE)) as u64;
                prop_assert_eq!(fee(n, bps), exact);
            }
        }

        #[test]
        fn fee_of_parts_never_exceeds_fee_of_whole(a in 0u64..1 << 40, b in 0u64..1 << 40, bps in 0u16..=10_000) {
            prop_assert!(fee(a, bps) + fee(b, bps) <= fee(a + b, bps));
        }

        #[test]
        fn affordable_is_the_maximum(price in 1u64..10_000, bps in 0u16..500, budget in 0u64..10_000_000, qty_max in 0u64..100_000) {
            let q = affordable_qty(&S, price, bps, budget, qty_max);
            prop_assert!(q <= qty_max);
            if q > 0 {
                prop_assert!(buy_cost(&S, price, q, bps).unwrap() <= budget);
            }
            if q < qty_max {
                prop_assert!(buy_cost(&S, price, q + 1, bps).is_none_or(|c| c > budget));
            }
        }
    }
}
