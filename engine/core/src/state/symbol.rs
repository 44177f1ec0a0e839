//! Symbols as the state holds them.

use crate::model::{Scales, SymbolSpec};

/// A symbol: its definition, its conversion factors and whether it is halted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Symbol {
    /// Its definition, as added.
    pub spec: SymbolSpec,
    /// Conversion factors from its tick and lot sizes and its assets' scales.
    pub scales: Scales,
    /// Whether it is halted: new orders and amends are rejected, cancels are
    /// accepted.
    pub halted: bool,
}

impl Symbol {
    /// The fee rate a buy's hold must cover: the worst of maker and taker,
    /// since a resting order may later fill either way.
    pub fn hold_fee_bps(&self) -> u16 {
        self.spec.maker_fee_bps.max(self.spec.taker_fee_bps)
    }
}
