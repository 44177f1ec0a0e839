//! Validation of a symbol's definition: the exactness rule for money.

use crate::model::money::BPS_ONE;
use crate::model::{Fixed, RejectReason, Scales, SymbolSpec};
use crate::state::Asset;

/// The conversion factors of a symbol, if its tick and lot sizes convert
/// exactly into minor units of its assets: one lot must be a whole number of
/// base minor units, and one tick times one lot a whole number of quote minor
/// units (so every notional is exact).
pub fn scales_for(spec: &SymbolSpec, base: &Asset, quote: &Asset) -> Result<Scales, RejectReason> {
    if spec.tick_size.mantissa == 0 || spec.lot_size.mantissa == 0 {
        return Err(RejectReason::InvalidSymbolSpec);
    }
    if spec.maker_fee_bps as u64 > BPS_ONE || spec.taker_fee_bps as u64 > BPS_ONE {
        return Err(RejectReason::InvalidSymbolSpec);
    }
    // Normalise first so that "1.0000000000" is as exact as "1".
    let (tick, lot) = (spec.tick_size.normalized(), spec.lot_size.normalized());
    let base_per_lot = lot
        .in_units_of_scale(base.scale)
        .ok_or(RejectReason::InvalidSymbolSpec)?;
    let tick_lot = Fixed::new(
        tick.mantissa
            .checked_mul(lot.mantissa)
            .ok_or(RejectReason::InvalidSymbolSpec)?,
        tick.scale
            .checked_add(lot.scale)
            .ok_or(RejectReason::InvalidSymbolSpec)?,
    );
    let quote_per_tick_lot = tick_lot
        .in_units_of_scale(quote.scale)
        .ok_or(RejectReason::InvalidSymbolSpec)?;
    if base_per_lot == 0 || quote_per_tick_lot == 0 {
        return Err(RejectReason::InvalidSymbolSpec);
    }
    Ok(Scales {
        base_per_lot,
        quote_per_tick_lot,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Name;

    fn asset(scale: u8) -> Asset {
        Asset {
            name: Name::new("X").unwrap(),
            scale,
            supply: 0,
        }
    }

    fn spec(tick: Fixed, lot: Fixed) -> SymbolSpec {
        SymbolSpec {
            name: Name::new("X-Y").unwrap(),
            base: 0,
            quote: 1,
            tick_size: tick,
            lot_size: lot,
            maker_fee_bps: 0,
            taker_fee_bps: 0,
        }
    }

    #[test]
    fn exact_combinations_convert() {
        // BTC (8 dp) / USD (2 dp), tick 0.01, lot 0.001 → 1e5 sat per lot,
        // 0.00001 USD per tick-lot: not a whole cent, so rejected.
        let s = spec(Fixed::new(1, 2), Fixed::new(1, 3));
        assert_eq!(
            scales_for(&s, &asset(8), &asset(2)),
            Err(RejectReason::InvalidSymbolSpec)
        );
        // With USD at 6 dp it is exact: 10 micro-dollars per tick-lot.
        assert_eq!(
            scales_for(&s, &asset(8), &asset(6)),
            Ok(Scales {
                base_per_lot: 100_000,
                quote_per_tick_lot: 10
            })
        );
        // A lot finer than the base scale is rejected.
        let s = spec(Fixed::new(1, 2), Fixed::new(1, 9));
        assert_eq!(
            scales_for(&s, &asset(8), &asset(18)),
            Err(RejectReason::InvalidSymbolSpec)
        );
        let mut s = spec(Fixed::new(1, 0), Fixed::new(1, 0));
        s.taker_fee_bps = 10_001;
        assert_eq!(
            scales_for(&s, &asset(0), &asset(0)),
            Err(RejectReason::InvalidSymbolSpec)
        );
    }
}
