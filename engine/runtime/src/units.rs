//! Decimal strings ↔ integer units, and commands built from names and
//! decimal strings. Exact or an error: a value that is not a whole number of
//! units (off tick, off lot, off scale), negative, or too large is refused
//! here with a message naming the value and the unit. `rust_decimal` is used
//! here and in `config`, never in the core.
//!
//! ```
//! use keel_engine::prelude::*;
//! use keel_engine::model::{Fixed, Name, SymbolSpec};
//!
//! let mut names = Registry::default();
//! names.learn(&Event::AssetAdded { asset: 0, name: Name::new("BTC").unwrap(), scale: 8 });
//! let deposit = names.deposit(1, 1, "BTC", "0.5").unwrap();
//! assert_eq!(deposit.kind, CommandKind::Deposit { asset: 0, amount: 50_000_000 });
//! let e = names.deposit(1, 2, "BTC", "0.000000001").unwrap_err().to_string();
//! assert!(e.contains("BTC minor units (scale 8)"), "{e}");
//! assert!(names.deposit(1, 2, "ETH", "1").is_err());
//! ```

use crate::model::decimal::pow10;
use crate::model::{AccountId, AssetId, Command, CommandKind, Fixed, PlaceOrder, Side, SymbolId};
use crate::registry::{Registry, UnknownName};

/// A value that does not convert, or a name that is not known.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnitError {
    /// The text is not an exact, non-negative, representable multiple of
    /// the unit.
    #[error("`{field}` = {value:?}: {why}")]
    BadValue {
        /// The field the value was given for.
        field: &'static str,
        /// The text given.
        value: String,
        /// Why it does not convert, naming the unit.
        why: String,
    },
    /// An asset or symbol name the engine does not know (yet).
    #[error(transparent)]
    UnknownName(#[from] UnknownName),
}

/// How many whole `unit`s make `text`. `what` names the field and `unit_desc`
/// the unit, for messages.
pub fn to_units(
    field: &'static str,
    text: &str,
    unit: Fixed,
    unit_desc: &str,
) -> Result<u64, UnitError> {
    to_units_lazy(field, text, unit, || unit_desc.to_owned())
}

/// [`to_units`] with the unit's description built only for an error: the
/// good path allocates nothing.
pub fn to_units_lazy(
    field: &'static str,
    text: &str,
    unit: Fixed,
    unit_desc: impl FnOnce() -> String,
) -> Result<u64, UnitError> {
    let bad = |why: String| UnitError::BadValue {
        field,
        value: text.to_owned(),
        why,
    };
    // The one documented grammar (config::DECIMAL_GRAMMAR): no sign, spaces,
    // underscores or exponent.
    let d = crate::config::parse_decimal(text).map_err(|e| bad(e.to_string()))?;
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
        return Err(bad(format!("not a whole number of {}", unit_desc())));
    }
    u64::try_from(numer / denom).map_err(|_| too_large())
}

/// Minor units of an asset with `scale` decimal places.
pub fn to_minor(field: &'static str, text: &str, scale: u8, asset: &str) -> Result<u64, UnitError> {
    to_units_lazy(field, text, Fixed::new(1, scale), || {
        format!("{asset} minor units (scale {scale})")
    })
}

/// Parses a positive decimal string into a [`Fixed`] (tick and lot sizes).
pub fn to_fixed(field: &'static str, text: &str) -> Result<Fixed, UnitError> {
    crate::config::parse_fixed(text).ok_or_else(|| UnitError::BadValue {
        field,
        value: text.to_owned(),
        why: format!(
            "expected a positive decimal string with at most 18 decimal places: {}",
            crate::config::DECIMAL_GRAMMAR
        ),
    })
}

/// Builds commands from asset and symbol names and decimal strings, with
/// the names and scales a [`Registry`] holds. Get one from the running
/// engine with [`Engine::registry`](crate::runtime::Engine::registry): it is
/// built from committed state, so a name is known once its `add_asset` or
/// `add_symbol` has been committed, never before.
pub trait NamedCommands {
    /// `text` as minor units of the asset named `asset`.
    fn amount(
        &self,
        field: &'static str,
        asset: &str,
        text: &str,
    ) -> Result<(AssetId, u64), UnitError>;
    /// `text` as a whole number of ticks of `symbol`.
    fn price(&self, field: &'static str, symbol: SymbolId, text: &str) -> Result<u64, UnitError>;
    /// `text` as a whole number of lots of `symbol`.
    fn qty(&self, field: &'static str, symbol: SymbolId, text: &str) -> Result<u64, UnitError>;
    /// `text` as minor units of `symbol`'s quote asset (a budget).
    fn quote_amount(
        &self,
        field: &'static str,
        symbol: SymbolId,
        text: &str,
    ) -> Result<u64, UnitError>;

    /// A deposit of `amount` (a decimal string) of the asset named `asset`.
    fn deposit(
        &self,
        account: AccountId,
        request_id: u64,
        asset: &str,
        amount: &str,
    ) -> Result<Command, UnitError> {
        let (asset, amount) = self.amount("amount", asset, amount)?;
        Ok(Command::new(
            account,
            request_id,
            CommandKind::Deposit { asset, amount },
        ))
    }

    /// A withdrawal of `amount` of the asset named `asset`.
    fn withdraw(
        &self,
        account: AccountId,
        request_id: u64,
        asset: &str,
        amount: &str,
    ) -> Result<Command, UnitError> {
        let (asset, amount) = self.amount("amount", asset, amount)?;
        Ok(Command::new(
            account,
            request_id,
            CommandKind::Withdraw { asset, amount },
        ))
    }

    /// A transfer of `amount` of `asset` from `account` to `to`.
    fn transfer(
        &self,
        account: AccountId,
        request_id: u64,
        to: AccountId,
        asset: &str,
        amount: &str,
    ) -> Result<Command, UnitError> {
        let (asset, amount) = self.amount("amount", asset, amount)?;
        Ok(Command::new(
            account,
            request_id,
            CommandKind::Transfer { to, asset, amount },
        ))
    }

    /// A good-till-cancelled limit order on the symbol named `symbol`, with
    /// price and quantity as decimal strings. For other times in force,
    /// post-only or self-trade modes, build the [`PlaceOrder`] with
    /// [`price`](Self::price) and [`qty`](Self::qty) and its methods.
    fn limit(
        &self,
        account: AccountId,
        request_id: u64,
        symbol: &str,
        side: Side,
        price: &str,
        qty: &str,
    ) -> Result<Command, UnitError>;
}

impl NamedCommands for Registry {
    fn amount(
        &self,
        field: &'static str,
        asset: &str,
        text: &str,
    ) -> Result<(AssetId, u64), UnitError> {
        let id = self.asset(asset)?;
        let scale = self.asset_scale(id).unwrap_or(0);
        Ok((id, to_minor(field, text, scale, asset)?))
    }

    fn quote_amount(
        &self,
        field: &'static str,
        symbol: SymbolId,
        text: &str,
    ) -> Result<u64, UnitError> {
        let spec = self
            .symbol_spec(symbol)
            .ok_or_else(|| unknown_symbol(self, symbol))?;
        let scale = self.asset_scale(spec.quote).unwrap_or(0);
        let quote = spec.quote;
        to_units_lazy(field, text, Fixed::new(1, scale), || {
            let asset = self.asset_name(quote);
            format!("{asset} minor units (scale {scale})")
        })
    }

    fn price(&self, field: &'static str, symbol: SymbolId, text: &str) -> Result<u64, UnitError> {
        let spec = self
            .symbol_spec(symbol)
            .ok_or_else(|| unknown_symbol(self, symbol))?;
        to_units_lazy(field, text, spec.tick_size, || {
            format!("ticks of {} ({})", spec.tick_size, spec.name)
        })
    }

    fn qty(&self, field: &'static str, symbol: SymbolId, text: &str) -> Result<u64, UnitError> {
        let spec = self
            .symbol_spec(symbol)
            .ok_or_else(|| unknown_symbol(self, symbol))?;
        to_units_lazy(field, text, spec.lot_size, || {
            format!("lots of {} ({})", spec.lot_size, spec.name)
        })
    }

    fn limit(
        &self,
        account: AccountId,
        request_id: u64,
        symbol: &str,
        side: Side,
        price: &str,
        qty: &str,
    ) -> Result<Command, UnitError> {
        let id = self.symbol(symbol)?;
        let order = PlaceOrder::limit(
            id,
            side,
            self.price("price", id, price)?,
            self.qty("qty", id, qty)?,
        );
        Ok(Command::new(
            account,
            request_id,
            CommandKind::PlaceOrder(order),
        ))
    }
}

fn unknown_symbol(registry: &Registry, symbol: SymbolId) -> UnitError {
    let known = (0..).map_while(|i| registry.symbol_spec(i).map(|s| s.name.to_string()));
    UnitError::UnknownName(UnknownName {
        what: "symbol",
        name: format!("#{symbol}"),
        known: known.collect::<Vec<_>>().join(", "),
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
