//! Names and scales of assets and symbols, for converting between the JSON
//! edge (names, decimal strings) and the core (ids, integers).

use crate::model::decimal::format_scaled;
use crate::model::{AssetId, Event, Fixed, Name, Scales, SymbolId, SymbolSpec};
use crate::state::State;

use super::EdgeError;

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

    /// Registers an asset ahead of its event (the JSON reader predicts the id
    /// the engine will give it).
    pub fn predict_asset(&mut self, name: Name, scale: u8) {
        if self.asset_by_name(name.as_str()).is_none() {
            self.assets.push((name, scale));
        }
    }

    pub fn predict_symbol(&mut self, spec: SymbolSpec) {
        if self.symbol_by_name(spec.name.as_str()).is_none() {
            self.symbols.push(spec);
        }
    }

    pub fn asset_by_name(&self, name: &str) -> Option<AssetId> {
        self.assets
            .iter()
            .position(|(n, _)| n.as_str() == name)
            .map(|i| i as AssetId)
    }

    pub fn symbol_by_name(&self, name: &str) -> Option<SymbolId> {
        self.symbols
            .iter()
            .position(|s| s.name.as_str() == name)
            .map(|i| i as SymbolId)
    }

    pub fn asset(&self, name: &str) -> Result<AssetId, EdgeError> {
        self.asset_by_name(name)
            .ok_or_else(|| EdgeError::UnknownName {
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

    pub fn symbol(&self, name: &str) -> Result<SymbolId, EdgeError> {
        self.symbol_by_name(name)
            .ok_or_else(|| EdgeError::UnknownName {
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

    pub fn asset_name(&self, asset: AssetId) -> String {
        self.assets
            .get(asset as usize)
            .map_or_else(|| format!("#{asset}"), |(n, _)| n.to_string())
    }

    pub fn symbol_name(&self, symbol: SymbolId) -> String {
        self.symbols
            .get(symbol as usize)
            .map_or_else(|| format!("#{symbol}"), |s| s.name.to_string())
    }

    pub fn asset_scale(&self, asset: AssetId) -> Option<u8> {
        self.assets.get(asset as usize).map(|(_, s)| *s)
    }

    pub fn symbol_spec(&self, symbol: SymbolId) -> Option<&SymbolSpec> {
        self.symbols.get(symbol as usize)
    }

    /// The conversion factors of a symbol.
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

    /// `minor` units of `asset` as a decimal string.
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

    pub fn format_price(&self, symbol: SymbolId, ticks: u64) -> String {
        match self.symbol_spec(symbol) {
            Some(spec) => Registry::format_units(spec.tick_size, ticks),
            None => format!("{ticks} ticks"),
        }
    }

    pub fn format_qty(&self, symbol: SymbolId, lots: u64) -> String {
        match self.symbol_spec(symbol) {
            Some(spec) => Registry::format_units(spec.lot_size, lots),
            None => format!("{lots} lots"),
        }
    }
}
