//! An exact decimal held as integers (`mantissa × 10^-scale`), used inside the
//! core for tick and lot sizes. `rust_decimal` stays at the edges (config,
//! JSON); the core only ever sees this integer pair.

use bincode::{Decode, Encode};

/// The largest scale (decimal places) of an asset, tick or lot.
pub const SCALE_MAX: u8 = 18;

/// `mantissa × 10^-scale`, with `mantissa > 0` when valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, Decode)]
pub struct Fixed {
    /// The digits, as an integer.
    pub mantissa: u64,
    /// Decimal places: the value is `mantissa / 10^scale`.
    pub scale: u8,
}

impl Fixed {
    /// `mantissa × 10^-scale`, unchecked (a zero mantissa is caught where
    /// the value is validated).
    pub const fn new(mantissa: u64, scale: u8) -> Fixed {
        Fixed { mantissa, scale }
    }

    /// The same value with trailing zeros of the mantissa removed.
    pub fn normalized(self) -> Fixed {
        let mut f = self;
        while f.scale > 0 && f.mantissa != 0 && f.mantissa.is_multiple_of(10) {
            f.mantissa /= 10;
            f.scale -= 1;
        }
        f
    }

    /// The value expressed in units of `10^-target_scale`, if that is an
    /// exact integer that fits in u64.
    pub fn in_units_of_scale(self, target_scale: u8) -> Option<u64> {
        if self.scale <= target_scale {
            let factor = pow10(target_scale - self.scale)?;
            self.mantissa.checked_mul(factor)
        } else {
            let divisor = pow10(self.scale - target_scale)?;
            if self.mantissa.is_multiple_of(divisor) {
                Some(self.mantissa / divisor)
            } else {
                None
            }
        }
    }
}

impl std::fmt::Display for Fixed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        format_scaled(f, self.mantissa as u128, self.scale)
    }
}

/// `10^exp` if it fits in u64.
pub fn pow10(exp: u8) -> Option<u64> {
    10u64.checked_pow(exp as u32)
}

/// Writes `value × 10^-scale` as a plain decimal string.
pub fn format_scaled(f: &mut impl std::fmt::Write, value: u128, scale: u8) -> std::fmt::Result {
    if scale == 0 {
        return write!(f, "{value}");
    }
    let div = 10u128.pow(scale as u32);
    write!(
        f,
        "{}.{:0width$}",
        value / div,
        value % div,
        width = scale as usize
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_exactly_or_not_at_all() {
        assert_eq!(Fixed::new(1, 2).in_units_of_scale(2), Some(1));
        assert_eq!(Fixed::new(1, 2).in_units_of_scale(4), Some(100));
        assert_eq!(Fixed::new(100, 4).in_units_of_scale(2), Some(1));
        assert_eq!(Fixed::new(101, 4).in_units_of_scale(2), None);
        assert_eq!(Fixed::new(u64::MAX, 0).in_units_of_scale(1), None);
        assert_eq!(Fixed::new(1, 0).in_units_of_scale(20), None);
    }

    #[test]
    fn normalizes_trailing_zeros() {
        assert_eq!(
            Fixed::new(10_000_000_000, 10).normalized(),
            Fixed::new(1, 0)
        );
        assert_eq!(Fixed::new(1200, 3).normalized(), Fixed::new(12, 1));
        assert_eq!(Fixed::new(1200, 0).normalized(), Fixed::new(1200, 0));
    }

    #[test]
    fn formats_with_scale() {
        assert_eq!(Fixed::new(12345, 2).to_string(), "123.45");
        assert_eq!(Fixed::new(5, 3).to_string(), "0.005");
        assert_eq!(Fixed::new(7, 0).to_string(), "7");
    }
}
