//! [`ConfigBuilder`]: a config in code, validated by [`ConfigBuilder::build`].

use std::path::PathBuf;

use super::{
    AssetConfig, ClockKind, Config, ConfigError, DurabilityConfig, SlowSubscriber, SymbolConfig,
    WaitStrategy,
};

/// The segment size [`ConfigBuilder::temporary_journal`] sets, MiB.
pub const TEMPORARY_SEGMENT_MIB: u64 = 4;

/// Builds a [`Config`] in code. Every setting not named keeps the default
/// documented on its section ([`EngineSection`](super::EngineSection),
/// [`JournalSection`](super::JournalSection), ...). Nothing is checked until
/// [`build`](ConfigBuilder::build), which checks everything at once.
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct ConfigBuilder {
    config: Config,
}

impl ConfigBuilder {
    /// Journal into `dir` (created if missing).
    pub fn journal_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.journal.dir = dir.into();
        self.config.journal.temporary = false;
        self
    }

    /// Journal into a fresh temporary directory, removed when the engine is
    /// dropped: every run starts from genesis. For tests and examples, so it
    /// also sets 4 MiB segments ([`TEMPORARY_SEGMENT_MIB`]; the journal
    /// prefaults a segment and the next, which at the default 64 MiB would
    /// cost 128 MiB of memory): call
    /// [`segment_size_mib`](Self::segment_size_mib) after it to change that.
    pub fn temporary_journal(mut self) -> Self {
        self.config.journal.temporary = true;
        self.config.journal.segment_size_mib = TEMPORARY_SEGMENT_MIB;
        self
    }

    /// Segment file size in MiB (1 to 4096; default 64).
    pub fn segment_size_mib(mut self, mib: u64) -> Self {
        self.config.journal.segment_size_mib = mib;
        self
    }

    /// Durability of a committed batch (default: `Batch`, synced to disk).
    pub fn durability(mut self, durability: DurabilityConfig) -> Self {
        self.config.journal.durability = durability;
        self
    }

    /// Largest journal record in KiB (default: 4096 or a quarter segment).
    pub fn max_record_kib(mut self, kib: u32) -> Self {
        self.config.journal.max_record_kib = Some(kib);
        self
    }

    /// Pin the loop thread to `core`; refuse to start if it cannot be used.
    pub fn pin_to_core(mut self, core: usize) -> Self {
        self.config.engine.core = Some(core);
        self
    }

    /// With [`pin_to_core`](Self::pin_to_core): run unpinned (with a
    /// warning) if that core cannot be used.
    pub fn allow_unpinned(mut self, allow: bool) -> Self {
        self.config.engine.allow_unpinned = allow;
        self
    }

    /// Where timestamps come from (default: the system clock).
    pub fn clock(mut self, clock: ClockKind) -> Self {
        self.config.engine.clock = clock;
        self
    }

    /// How producers and the loop wait (default: spin, then park).
    pub fn wait_strategy(mut self, wait: WaitStrategy) -> Self {
        self.config.engine.wait_strategy = wait;
        self
    }

    /// Input ring slots (a power of two; default 65536).
    pub fn ring_capacity(mut self, slots: u32) -> Self {
        self.config.engine.ring_capacity = slots;
        self
    }

    /// Most commands per batch (default 256).
    pub fn batch_max(mut self, commands: u32) -> Self {
        self.config.engine.batch_max = commands;
        self
    }

    /// Touch order and level memory at start-up (default: false).
    pub fn prefault(mut self, prefault: bool) -> Self {
        self.config.engine.prefault = prefault;
        self
    }

    /// Open-order capacity across all symbols (default 2^20).
    pub fn max_orders(mut self, orders: u32) -> Self {
        self.config.limits.max_orders = orders;
        self
    }

    /// Account ids must be below this (default 2^20).
    pub fn max_accounts(mut self, accounts: u32) -> Self {
        self.config.limits.max_accounts = accounts;
        self
    }

    /// Output batches buffered per subscriber (default 4096).
    pub fn output_capacity(mut self, batches: u32) -> Self {
        self.config.outputs.capacity = batches;
        self
    }

    /// What the loop does with a subscriber that lags (default: disconnect).
    pub fn slow_subscriber(mut self, policy: SlowSubscriber) -> Self {
        self.config.outputs.slow_subscriber = policy;
        self
    }

    /// An asset the genesis adds, with `scale` decimal places per minor unit.
    /// Assets are numbered in the order they are added, from 0.
    pub fn asset(mut self, name: &str, scale: u8) -> Self {
        self.config.assets.push(AssetConfig {
            name: name.to_owned(),
            scale,
        });
        self
    }

    /// A symbol the genesis adds, trading `base` priced in `quote`, with
    /// tick and lot sizes as decimal strings ("0.01"); no fees.
    pub fn symbol(mut self, name: &str, base: &str, quote: &str, tick: &str, lot: &str) -> Self {
        self.config.symbols.push(SymbolConfig {
            name: name.to_owned(),
            base: base.to_owned(),
            quote: quote.to_owned(),
            tick_size: tick.to_owned(),
            lot_size: lot.to_owned(),
            maker_fee_bps: 0,
            taker_fee_bps: 0,
        });
        self
    }

    /// Maker and taker fees, in basis points, of the symbol added last.
    /// Without a symbol it does nothing (and `build` still checks the rest).
    pub fn fees_bps(mut self, maker: u16, taker: u16) -> Self {
        if let Some(symbol) = self.config.symbols.last_mut() {
            symbol.maker_fee_bps = maker;
            symbol.taker_fee_bps = taker;
        }
        self
    }

    /// Gives up the builder for the raw config, unchecked, to set what the
    /// builder has no method for; check it with [`Config::validate`].
    pub fn into_unchecked(self) -> Config {
        self.config
    }

    /// The checked config, or the first error, naming the key as it would
    /// be written in TOML.
    pub fn build(self) -> Result<Config, ConfigError> {
        self.config.validate()?;
        Ok(self.config)
    }
}
