//! The one decimal grammar of Keel's text interfaces (JSON command lines and
//! TOML configs): [`DECIMAL_GRAMMAR`]. `rust_decimal`'s own parser is
//! lenient (it takes `"1_000"`, `"+5"`, `"1."`, surrounding spaces), so the
//! text is checked against the grammar first and only then converted.

use rust_decimal::Decimal;

use crate::model::decimal::SCALE_MAX;
use crate::model::Fixed;

/// What a decimal string must look like, for messages and docs: ASCII
/// digits, optionally one `.` followed by at least one digit. No sign
/// (no value of a command or config is negative), no spaces, underscores,
/// `+`, exponent, or empty integer part.
pub const DECIMAL_GRAMMAR: &str = "ASCII digits, optionally followed by '.' and at least one more digit (like \"12\" or \"0.05\"); no sign, spaces, underscores, exponent or empty integer part";

/// Why a decimal string was refused.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecimalError {
    /// A leading `-`: no decimal value Keel reads may be negative.
    #[error("must not be negative (a decimal is {DECIMAL_GRAMMAR})")]
    Negative,
    /// Not in the grammar.
    #[error("not a decimal: expected {DECIMAL_GRAMMAR}")]
    Syntax,
    /// In the grammar, but more digits than an exact 96-bit decimal holds.
    #[error("too large or too precise to convert exactly (at most 28 significant digits)")]
    TooLarge,
}

/// Whether `text` is in the [`DECIMAL_GRAMMAR`].
pub fn is_decimal_syntax(text: &str) -> bool {
    let (int, frac) = match text.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (text, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(int) && frac.is_none_or(digits)
}

/// Parses `text` exactly, after checking it against the [`DECIMAL_GRAMMAR`].
pub(crate) fn parse_decimal(text: &str) -> Result<Decimal, DecimalError> {
    if !is_decimal_syntax(text) {
        return Err(if text.strip_prefix('-').is_some_and(is_decimal_syntax) {
            DecimalError::Negative
        } else {
            DecimalError::Syntax
        });
    }
    Decimal::from_str_exact(text).map_err(|_| DecimalError::TooLarge)
}

/// Parses a positive decimal string ("0.01", in the [`DECIMAL_GRAMMAR`])
/// into an exact [`Fixed`] of at most 18 decimal places.
pub fn parse_fixed(text: &str) -> Option<Fixed> {
    let d = parse_decimal(text).ok()?;
    if d.is_zero() || d.scale() > SCALE_MAX as u32 {
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

    #[test]
    fn only_the_documented_grammar_is_a_decimal() {
        for good in ["0", "5", "007", "12.5", "0.05", "30000.00", "1.0"] {
            assert!(is_decimal_syntax(good), "{good:?}");
            assert!(parse_decimal(good).is_ok(), "{good:?}");
        }
        for bad in [
            "",
            "1_000",
            "+5",
            " 5",
            "5 ",
            "1.",
            ".5",
            "30_000.00",
            "1e3",
            "1E3",
            "1.2.3",
            ".",
            "0x10",
            "١",
            "5\n",
            "NaN",
            "inf",
            "1,5",
            "--1",
        ] {
            assert!(!is_decimal_syntax(bad), "{bad:?}");
            assert_eq!(parse_decimal(bad), Err(DecimalError::Syntax), "{bad:?}");
            assert_eq!(parse_fixed(bad), None, "{bad:?}");
        }
        assert_eq!(parse_decimal("-1"), Err(DecimalError::Negative));
        assert_eq!(parse_decimal("-0"), Err(DecimalError::Negative));
        assert_eq!(
            parse_decimal("99999999999999999999999999999999"),
            Err(DecimalError::TooLarge)
        );
        let message = DecimalError::Syntax.to_string();
        assert!(
            message.contains("no sign, spaces, underscores"),
            "{message}"
        );
    }
}
