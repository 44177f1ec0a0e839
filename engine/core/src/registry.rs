//! Names and scales of assets and symbols, for converting between the JSON
//! edge (names, decimal strings) and the core (ids, integers).

use crate::model::decimal::format_scaled;
use crate::model::{AssetId, Event, Fixed, Name, Scales, SymbolId, SymbolSpec};
use crate::state::State;

/// A name that the registry does not know, with the names it does know.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("unknown {what} {name:?} (known: {known})")]
pub struct UnknownName {
    /// `"asset"` or `"symbol"`.
    pub what: &'static str,
    /// The name asked for.
    pub name: String,
    /// The known names, comma-separated, in id order.
    pub known: String,
}

/// Names and scales of the assets and symbols a state knows, in id order.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    assets: Vec<(Name, u8)>,
    symbols: Vec<SymbolSpec>,
}

impl Registry {
    /// The assets and symbols a state knows.
    pub fn from_state(state: &State) -> Registry {
        Registry {
            assets: state.assets().iter().map(|a| (a.name, a.scale)).collect(),
            symbols: state.symbols().iter().map(|s| s.spec).collect(),
        }
    }

    /// Learns assets and symbols from their events (rendering a journal from
    /// genesis keeps the registry exactly in step).
    pub fn learn(&mut self, event: &Event) {
        match *event {
            Event::AssetAdded { asset, name, scale } if asset as usize == self.assets.len() => {
                self.assets.push((name, scale))
            }
            Event::SymbolAdded { symbol, spec } if symbol as usize == self.symbols.len() => {
                self.symbols.push(spec)
            }
            _ => {}
        }
    }

    /// The id of the asset named `name`, or `None`.
    pub fn asset_by_name(&self, name: &str) -> Option<AssetId> {
        self.assets
            .iter()
            .position(|(n, _)| n.as_str() == name)
            .map(|i| i as AssetId)
    }

    /// The id of the symbol named `name`, or `None`.
    pub fn symbol_by_name(&self, name: &str) -> Option<SymbolId> {
        self.symbols
            .iter()
            .position(|s| s.name.as_str() == name)
            .map(|i| i as SymbolId)
    }

    /// The id of the asset named `name`, or an error listing the known names.
    pub fn asset(&self, name: &str) -> Result<AssetId, UnknownName> {
        self.asset_by_name(name).ok_or_else(|| UnknownName {
            what: "asset",
            name: name.to_owned(),
            known: self
                .assets
                .iter()
                .map(|(n, _)| n.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    /// The id of the symbol named `name`, or an error listing the known names.
    pub fn symbol(&self, name: &str) -> Result<SymbolId, UnknownName> {
        self.symbol_by_name(name).ok_or_else(|| UnknownName {
            what: "symbol",
            name: name.to_owned(),
            known: self
                .symbols
                .iter()
                .map(|s| s.name.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    /// The asset's name, or `#id` if it is unknown.
    pub fn asset_name(&self, asset: AssetId) -> String {
        self.assets
            .get(asset as usize)
            .map_or_else(|| format!("#{asset}"), |(n, _)| n.to_string())
    }

    /// The symbol's name, or `#id` if it is unknown.
    pub fn symbol_name(&self, symbol: SymbolId) -> String {
        self.symbols
            .get(symbol as usize)
            .map_or_else(|| format!("#{symbol}"), |s| s.name.to_string())
    }

    /// The asset's name, or `None` if it is unknown (no allocation).
    pub fn asset_name_if_known(&self, asset: AssetId) -> Option<&str> {
        self.assets.get(asset as usize).map(|(n, _)| n.as_str())
    }

    /// The symbol's name, or `None` if it is unknown (no allocation).
    pub fn symbol_name_if_known(&self, symbol: SymbolId) -> Option<&str> {
        self.symbols.get(symbol as usize).map(|s| s.name.as_str())
    }

    /// The asset's scale (decimal places of a minor unit), or `None` if it is
    /// unknown.
    pub fn asset_scale(&self, asset: AssetId) -> Option<u8> {
        self.assets.get(asset as usize).map(|(_, s)| *s)
    }

    /// The symbol's definition, or `None` if it is unknown.
    pub fn symbol_spec(&self, symbol: SymbolId) -> Option<&SymbolSpec> {
        self.symbols.get(symbol as usize)
    }

    /// The conversion factors of a symbol, or `None` if it or its assets are
    /// unknown.
    pub fn scales(&self, symbol: SymbolId) -> Option<Scales> {
        let spec = self.symbol_spec(symbol)?;
        let base = self.asset_scale(spec.base)?;
        let quote = self.asset_scale(spec.quote)?;
        let asset = |scale| crate::state::Asset {
            name: spec.name,
            scale,
            supply: 0,
        };
        crate::core::symbol_spec::scales_for(spec, &asset(base), &asset(quote)).ok()
    }

    /// `minor` units of `asset` as a decimal string (scale 0 if the asset is
    /// unknown).
    pub fn format_amount(&self, asset: AssetId, minor: u64) -> String {
        let mut s = String::new();
        let _ = format_scaled(&mut s, minor as u128, self.asset_scale(asset).unwrap_or(0));
        s
    }

    /// `count` units of `unit` (ticks of a tick size, lots of a lot size).
    pub fn format_units(unit: Fixed, count: u64) -> String {
        let mut s = String::new();
        let _ = format_scaled(&mut s, unit.mantissa as u128 * count as u128, unit.scale);
        s
    }

    /// A price of `ticks` as a decimal string in quote units, or `"N ticks"`
    /// if the symbol is unknown.
    pub fn format_price(&self, symbol: SymbolId, ticks: u64) -> String {
        match self.symbol_spec(symbol) {
            Some(spec) => Registry::format_units(spec.tick_size, ticks),
            None => format!("{ticks} ticks"),
        }
    }

    /// A quantity of `lots` as a decimal string in base units, or `"N lots"`
    /// if the symbol is unknown.
    pub fn format_qty(&self, symbol: SymbolId, lots: u64) -> String {
        match self.symbol_spec(symbol) {
            Some(spec) => Registry::format_units(spec.lot_size, lots),
            None => format!("{lots} lots"),
        }
    }
}
