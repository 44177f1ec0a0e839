//! Decimal strings ↔ integer units. Exact or an error: a value that is not
//! a whole number of units (off tick, off lot, off scale), negative, or too
//! large is refused here with a message naming the value and the unit.

use rust_decimal::Decimal;

use crate::model::decimal::pow10;
use crate::model::Fixed;

use super::EdgeError;

/// How many whole `unit`s make `text`. `what` names the field and `unit_desc`
/// the unit, for messages.
pub fn to_units(
    field: &'static str,
    text: &str,
    unit: Fixed,
    unit_desc: &str,
) -> Result<u64, EdgeError> {
    let bad = |why: String| EdgeError::BadValue {
        field,
        value: text.to_owned(),
        why,
    };
    let d = Decimal::from_str_exact(text.trim())
        .map_err(|_| bad("expected a decimal string like \"1.25\"".into()))?;
    if d.is_sign_negative() && !d.is_zero() {
        return Err(bad("must not be negative".into()));
    }
    let (vm, vs) = (d.mantissa().unsigned_abs(), d.scale());
    let (um, us) = (unit.mantissa as u128, unit.scale as u32);
    let s = vs.max(us);
    let scale = |m: u128, by: u32| -> Option<u128> {
        m.checked_mul(pow10(u8::try_from(by).ok()?)? as u128)
    };
    let too_large = || bad("too large".into());
    let numer = scale(vm, s - vs).ok_or_else(too_large)?;
    let denom = scale(um, s - us).ok_or_else(too_large)?;
    if denom == 0 {
        return Err(bad("the unit is zero".into()));
    }
    if numer % denom != 0 {
        return Err(bad(format!("not a whole number of {unit_desc}")));
    }
    u64::try_from(numer / denom).map_err(|_| too_large())
}

/// Minor units of an asset with `scale` decimal places.
pub fn to_minor(field: &'static str, text: &str, scale: u8, asset: &str) -> Result<u64, EdgeError> {
    to_units(
        field,
        text,
        Fixed::new(1, scale),
        &format!("{asset} minor units (scale {scale})"),
    )
}

/// Parses a positive decimal string into a [`Fixed`] (tick and lot sizes).
pub fn to_fixed(field: &'static str, text: &str) -> Result<Fixed, EdgeError> {
    crate::config::parse_fixed(text).ok_or_else(|| EdgeError::BadValue {
        field,
        value: text.to_owned(),
        why: "expected a positive decimal string with at most 18 decimal places".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_exactly_or_explains() {
        let tick = Fixed::new(5, 2); // 0.05
        assert_eq!(to_units("price", "100.05", tick, "ticks").unwrap(), 2001);
        assert_eq!(to_units("price", "0", tick, "ticks").unwrap(), 0);
        let e = to_units("price", "100.01", tick, "ticks of 0.05")
            .unwrap_err()
            .to_string();
        assert!(e.contains("100.01") && e.contains("ticks of 0.05"), "{e}");
        assert!(to_units("price", "-1", tick, "t")
            .unwrap_err()
            .to_string()
            .contains("negative"));
        assert!(to_units("price", "1e3", tick, "t").is_err());
        assert!(
            to_units("qty", "99999999999999999999999", Fixed::new(1, 0), "lots")
                .unwrap_err()
                .to_string()
                .contains("too large")
        );
        assert_eq!(to_minor("amount", "1.5", 2, "USD").unwrap(), 150);
        assert!(to_minor("amount", "1.555", 2, "USD")
            .unwrap_err()
            .to_string()
            .contains("USD minor units"));
        assert_eq!(
            to_minor("amount", "18446744073709551615", 0, "X").unwrap(),
            u64::MAX
        );
    }
}
