//! Admin commands (operator only): assets, symbols, halts.

use crate::core::symbol_spec::scales_for;
use crate::model::decimal::SCALE_MAX;
use crate::model::{Event, Name, RejectReason, SymbolId, SymbolSpec};
use crate::state::State;

pub fn add_asset(
    state: &State,
    name: Name,
    scale: u8,
    out: &mut Vec<Event>,
) -> Result<(), RejectReason> {
    if scale > SCALE_MAX {
        return Err(RejectReason::InvalidScale);
    }
    if !name.is_valid() {
        return Err(RejectReason::InvalidSymbolSpec);
    }
    if state.assets.iter().any(|a| a.name == name) {
        return Err(RejectReason::DuplicateName);
    }
    if state.assets.len() >= state.limits.max_assets as usize {
        return Err(RejectReason::InstrumentCapacity);
    }
    out.push(Event::AssetAdded {
        asset: state.assets.len() as u32,
        name,
        scale,
    });
    Ok(())
}

pub fn add_symbol(
    state: &State,
    spec: &SymbolSpec,
    out: &mut Vec<Event>,
) -> Result<(), RejectReason> {
    let base = state
        .asset(spec.base)
        .ok_or(RejectReason::UnknownAsset { asset: spec.base })?;
    let quote = state
        .asset(spec.quote)
        .ok_or(RejectReason::UnknownAsset { asset: spec.quote })?;
    if spec.base == spec.quote || !spec.name.is_valid() {
        return Err(RejectReason::InvalidSymbolSpec);
    }
    scales_for(spec, base, quote)?;
    if state.symbols.iter().any(|s| s.spec.name == spec.name) {
        return Err(RejectReason::DuplicateName);
    }
    if state.symbols.len() >= state.limits.max_symbols as usize {
        return Err(RejectReason::InstrumentCapacity);
    }
    out.push(Event::SymbolAdded {
        symbol: state.symbols.len() as u32,
        spec: *spec,
    });
    Ok(())
}

pub fn halt(
    state: &State,
    symbol: SymbolId,
    halt: bool,
    out: &mut Vec<Event>,
) -> Result<(), RejectReason> {
    let s = state
        .symbol(symbol)
        .ok_or(RejectReason::UnknownSymbol { symbol })?;
    match (halt, s.halted) {
        (true, true) => Err(RejectReason::SymbolAlreadyHalted { symbol }),
        (false, false) => Err(RejectReason::SymbolNotHalted { symbol }),
        (true, false) => {
            out.push(Event::SymbolHalted { symbol });
            Ok(())
        }
        (false, true) => {
            out.push(Event::SymbolResumed { symbol });
            Ok(())
        }
    }
}
