use crate::model::{Scales, SymbolSpec};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Symbol {
    pub spec: SymbolSpec,
    pub scales: Scales,
    pub halted: bool,
}

impl Symbol {
    /// The fee rate a buy's hold must cover: the worst of maker and taker,
    /// since a resting order may later fill either way.
    pub fn hold_fee_bps(&self) -> u16 {
        self.spec.maker_fee_bps.max(self.spec.taker_fee_bps)
    }
}
