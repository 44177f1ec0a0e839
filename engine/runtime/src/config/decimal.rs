use rust_decimal::Decimal;

use crate::model::decimal::SCALE_MAX;
use crate::model::Fixed;

/// Parses a positive decimal string ("0.01") into an exact [`Fixed`].
pub fn parse_fixed(text: &str) -> Option<Fixed> {
    let d = Decimal::from_str_exact(text.trim()).ok()?;
    if d.is_sign_negative() || d.is_zero() || d.scale() > SCALE_MAX as u32 {
        return None;
    }
    let mantissa = u64::try_from(d.mantissa()).ok()?;
    Some(Fixed::new(mantissa, d.scale() as u8).normalized())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_positive_exact_decimals() {
        assert_eq!(parse_fixed("0.01"), Some(Fixed::new(1, 2)));
        assert_eq!(parse_fixed("1.500"), Some(Fixed::new(15, 1)));
        assert_eq!(parse_fixed("0"), None);
        assert_eq!(parse_fixed("-1"), None);
        assert_eq!(parse_fixed("abc"), None);
        assert_eq!(parse_fixed("0.0000000000000000001"), None);
    }
}
