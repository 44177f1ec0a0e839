//! Configuration: plain types with documented defaults, built in code with
//! [`Config::builder`] or read from TOML by `keel-edge`. Every error names
//! the key, the bad value and the allowed values. Decimals (tick and lot
//! sizes) are strings in the one [`DECIMAL_GRAMMAR`], parsed exactly with
//! `rust_decimal` and turned into integers here, at the edge of the core.
//! [`Config::validate`] also checks that the limits fit in the memory this
//! process may use ([`Config::memory_needed`], [`AvailableMemory`]), before
//! anything is allocated.
//!
//! ```
//! use keel_engine::config::{Config, DurabilityConfig};
//!
//! let config = Config::builder()
//!     .temporary_journal()
//!     .durability(DurabilityConfig::None)
//!     .asset("BTC", 8)
//!     .asset("USD", 6)
//!     .symbol("BTC-USD", "BTC", "USD", "0.01", "0.0001")
//!     .build()
//!     .unwrap();
//! assert_eq!(config.genesis_commands().unwrap().len(), 3);
//! assert!(Config::builder().symbol("X", "A", "B", "1", "1").build().is_err());
//! ```

mod builder;

mod decimal;

mod memory;

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::core::symbol_spec::scales_for;
use crate::model::{Command, CommandKind, Fixed, Name, SymbolSpec, OPERATOR};
use crate::record::worst_case_record_bytes;
use crate::state::limits::{DEFAULT_MAX_CANCELS_PER_RECORD, DEFAULT_MAX_FILLS_PER_COMMAND};
use crate::state::{Asset, Limits};

pub use builder::{ConfigBuilder, TEMPORARY_SEGMENT_MIB};
pub(crate) use decimal::parse_decimal;
pub use decimal::{is_decimal_syntax, parse_fixed, DecimalError, DECIMAL_GRAMMAR};
pub use memory::{
    human_bytes, AvailableMemory, MemoryPart, TooMuchMemory, FALLBACK_AVAILABLE_BYTES,
};

/// The configured assets (name, scale) and symbols, in config order.
pub type GenesisSpecs = (Vec<(Name, u8)>, Vec<SymbolSpec>);

/// Why a config could not be read or is not usable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The config text is not valid TOML or has a key of the wrong type.
    #[error("config {path}: {message}")]
    Parse {
        /// The file, or `(built in code)`.
        path: PathBuf,
        /// The parser's message, naming the key.
        message: String,
    },
    /// The limits need more memory than this machine has available: refused
    /// before anything is allocated.
    #[error(transparent)]
    Memory(Box<TooMuchMemory>),
    /// A value is out of range or inconsistent with another.
    #[error("config {path}: `{key}` = {value}: {allowed}")]
    Invalid {
        /// The file, or `(built in code)`.
        path: PathBuf,
        /// The key, as written in TOML (`journal.max_record_kib`).
        key: String,
        /// The bad value.
        value: String,
        /// What would be accepted.
        allowed: String,
    },
}

/// The smallest usable record cap: the loop reserves
/// [`RECORD_RESERVE_BYTES`](crate::runtime::RECORD_RESERVE_BYTES) per record
/// before it knows the record's size, and a cap below it could never be met.
pub const MIN_RECORD_KIB: u32 = 4;

/// What [`Config::path`] holds for a config built in code.
pub const BUILT_IN_CODE: &str = "(built in code)";

/// How producers wait when the input ring is full (`submit`), and how the
/// loop waits when it is empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitStrategy {
    /// Busy-spin: lowest latency, burns a core.
    Spin,
    /// Spin with `thread::yield_now`.
    Yield,
    /// Spin a while, then park briefly (50 µs) between polls.
    SpinThenPark,
}

/// Where the loop's timestamps come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockKind {
    /// Wall-clock nanoseconds since the Unix epoch, never going backwards.
    System,
    /// Time comes from the input (each submission's `ts`), never going
    /// backwards: a seed always reproduces the same digest.
    Simulated,
}

/// When a batch counts as committed, named by what it survives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DurabilityConfig {
    /// Page cache only: survives a process crash, not a power loss.
    None,
    /// A data sync (msync) of the batch's bytes before outputs are published.
    Batch,
}

/// What the loop does when a subscriber's output ring is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlowSubscriber {
    /// The loop waits for the subscriber: nothing is lost, but one slow
    /// reader slows the engine.
    Block,
    /// The subscriber is cut off and sees `Disconnected` with the sequence it
    /// lagged at; the loop never waits.
    Disconnect,
}

/// `[engine]`: the loop thread, its input ring and its clock.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSection {
    /// CPU core to pin the business-logic thread to. Default: none, and the
    /// loop runs unpinned with a warning in [`StartReport::warnings`](crate::runtime::StartReport).
    #[serde(default)]
    pub core: Option<usize>,
    /// When `core` is set but cannot be used (no such core, or pinning
    /// fails), run unpinned with a warning instead of refusing to start.
    /// Default: false.
    #[serde(default)]
    pub allow_unpinned: bool,
    /// Slots in the input ring, a power of two from 2 to 2^24. Default: 65536.
    #[serde(default = "defaults::ring_capacity")]
    pub ring_capacity: u32,
    /// Most commands per batch (one journal commit each), 1 to 65536.
    /// Default: 256.
    #[serde(default = "defaults::batch_max")]
    pub batch_max: u32,
    /// How producers and the loop wait. Default: `spin_then_park`.
    #[serde(default = "defaults::wait_strategy")]
    pub wait_strategy: WaitStrategy,
    /// Where timestamps come from. Default: `system`.
    #[serde(default = "defaults::clock")]
    pub clock: ClockKind,
    /// Touch the memory reserved for orders and levels at start-up, so that
    /// the first orders do not page-fault on the hot path. It costs the
    /// resident memory of the order and level slabs (about 106 bytes per
    /// order of `limits.max_orders` with `max_levels` unset). Default: false;
    /// venue configs set it.
    #[serde(default)]
    pub prefault: bool,
}

impl Default for EngineSection {
    fn default() -> EngineSection {
        EngineSection {
            core: None,
            allow_unpinned: false,
            ring_capacity: defaults::ring_capacity(),
            batch_max: defaults::batch_max(),
            wait_strategy: defaults::wait_strategy(),
            clock: defaults::clock(),
            prefault: false,
        }
    }
}

/// `[journal]`: where and how commands and events are persisted.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalSection {
    /// Directory of the journal (created if missing), relative to the
    /// current directory. Required unless `temporary` is set.
    #[serde(default)]
    pub dir: PathBuf,
    /// Journal into a fresh temporary directory that is removed when the
    /// engine is dropped: for tests and examples, never for a venue.
    /// Default: false.
    #[serde(default)]
    pub temporary: bool,
    /// Size of one preallocated segment file, 1 to 4096 MiB. Default: 64.
    #[serde(default = "defaults::segment_size_mib")]
    pub segment_size_mib: u64,
    /// When a batch counts as committed. Default: `batch` (synced to disk).
    #[serde(default = "defaults::durability")]
    pub durability: DurabilityConfig,
    /// Largest record (one command and its events), in KiB, from 4 to a
    /// quarter of a segment. Default: 4096, or a quarter of the segment if
    /// that is smaller.
    #[serde(default)]
    pub max_record_kib: Option<u32>,
}

impl Default for JournalSection {
    fn default() -> JournalSection {
        JournalSection {
            dir: PathBuf::new(),
            temporary: false,
            segment_size_mib: defaults::segment_size_mib(),
            durability: defaults::durability(),
            max_record_kib: None,
        }
    }
}

impl JournalSection {
    /// The record size cap in force: `max_record_kib`, or its default.
    pub fn max_record_kib(&self) -> u32 {
        self.max_record_kib.unwrap_or_else(|| {
            let quarter = (self.segment_size_mib.saturating_mul(1024) / 4).min(u32::MAX as u64);
            defaults::max_record_kib().min(quarter as u32)
        })
    }
}

/// `[limits]`: capacities, all preallocated at start-up.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    /// Account ids must be below this. Default: 2^20.
    #[serde(default = "defaults::max_accounts")]
    pub max_accounts: u32,
    /// Open orders across all symbols. Default: 2^20.
    #[serde(default = "defaults::max_orders")]
    pub max_orders: u32,
    /// Open orders of one account. Default: as in [`Limits::default`].
    #[serde(default = "defaults::max_open_orders_per_account")]
    pub max_open_orders_per_account: u32,
    /// Assets. Default: as in [`Limits::default`].
    #[serde(default = "defaults::max_assets")]
    pub max_assets: u32,
    /// Symbols. Default: as in [`Limits::default`].
    #[serde(default = "defaults::max_symbols")]
    pub max_symbols: u32,
    /// Price levels across all books; unset means half of `max_orders`.
    #[serde(default)]
    pub max_levels: Option<u32>,
    /// Resting orders one incoming order may trade with (or cancel by
    /// self-trade prevention) before its remainder is cancelled with reason
    /// `fill_limit`. Unset: 1000, or fewer if the worst-case record would
    /// not fit `journal.max_record_kib`.
    #[serde(default)]
    pub max_fills_per_command: Option<u32>,
    /// GTD expiries, or orders of one `cancel_all`, per journal record; more
    /// continue in the engine's continuation records. Unset: 1000, or fewer
    /// if the worst-case record would not fit `journal.max_record_kib`.
    #[serde(default)]
    pub max_cancels_per_record: Option<u32>,
}

impl Default for LimitsSection {
    fn default() -> LimitsSection {
        let d = Limits::default();
        LimitsSection {
            max_accounts: d.max_accounts,
            max_orders: d.max_orders,
            max_open_orders_per_account: d.max_open_orders_per_account,
            max_assets: d.max_assets,
            max_symbols: d.max_symbols,
            max_levels: None,
            max_fills_per_command: None,
            max_cancels_per_record: None,
        }
    }
}

/// `[outputs]`: what subscribers get and what happens when they lag.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputsSection {
    /// Output batches buffered per subscriber, 1 to 2^20. Default: 4096.
    #[serde(default = "defaults::output_capacity")]
    pub capacity: u32,
    /// What the loop does when a subscriber's buffer is full. Default:
    /// `disconnect`.
    #[serde(default = "defaults::slow_subscriber")]
    pub slow_subscriber: SlowSubscriber,
}

impl Default for OutputsSection {
    fn default() -> OutputsSection {
        OutputsSection {
            capacity: defaults::output_capacity(),
            slow_subscriber: defaults::slow_subscriber(),
        }
    }
}

/// `[telemetry]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySection {
    /// Log a stats line to stderr every N seconds (0: never).
    #[serde(default)]
    pub log_interval_s: u64,
}

/// `[[assets]]`: one asset the genesis adds.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetConfig {
    /// 1 to 16 ASCII letters, digits or punctuation.
    pub name: String,
    /// Decimal places of one minor unit, 0 to 18.
    pub scale: u8,
}

/// `[[symbols]]`: one symbol the genesis adds.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SymbolConfig {
    /// 1 to 16 ASCII letters, digits or punctuation.
    pub name: String,
    /// The traded asset's name.
    pub base: String,
    /// The pricing asset's name.
    pub quote: String,
    /// A decimal string: the price step, in quote.
    pub tick_size: String,
    /// A decimal string: the quantity step, in base.
    pub lot_size: String,
    /// Maker fee in basis points, 0 to 10000. Default: 0.
    #[serde(default)]
    pub maker_fee_bps: u16,
    /// Taker fee in basis points, 0 to 10000. Default: 0.
    #[serde(default)]
    pub taker_fee_bps: u16,
}

/// A whole engine config. [`Config::default`] is a valid config with no
/// assets or symbols and no journal directory; set a journal with
/// [`ConfigBuilder::journal_dir`] or [`ConfigBuilder::temporary_journal`].
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[engine]`.
    #[serde(default)]
    pub engine: EngineSection,
    /// `[journal]`.
    #[serde(default)]
    pub journal: JournalSection,
    /// `[limits]`.
    #[serde(default)]
    pub limits: LimitsSection,
    /// `[outputs]`.
    #[serde(default)]
    pub outputs: OutputsSection,
    /// `[telemetry]`.
    #[serde(default)]
    pub telemetry: TelemetrySection,
    /// `[[assets]]`, in id order.
    #[serde(default)]
    pub assets: Vec<AssetConfig>,
    /// `[[symbols]]`, in id order.
    #[serde(default)]
    pub symbols: Vec<SymbolConfig>,
    /// Where the config was read from (for messages).
    #[serde(skip)]
    pub path: PathBuf,
}

mod defaults {
    use super::*;
    pub fn ring_capacity() -> u32 {
        1 << 16
    }
    pub fn batch_max() -> u32 {
        256
    }
    pub fn wait_strategy() -> WaitStrategy {
        WaitStrategy::SpinThenPark
    }
    pub fn clock() -> ClockKind {
        ClockKind::System
    }
    pub fn segment_size_mib() -> u64 {
        64
    }
    pub fn durability() -> DurabilityConfig {
        DurabilityConfig::Batch
    }
    pub fn max_record_kib() -> u32 {
        4096
    }
    pub fn max_accounts() -> u32 {
        Limits::default().max_accounts
    }
    pub fn max_orders() -> u32 {
        Limits::default().max_orders
    }
    pub fn max_open_orders_per_account() -> u32 {
        Limits::default().max_open_orders_per_account
    }
    pub fn max_assets() -> u32 {
        Limits::default().max_assets
    }
    pub fn max_symbols() -> u32 {
        Limits::default().max_symbols
    }
    pub fn output_capacity() -> u32 {
        4096
    }
    pub fn slow_subscriber() -> SlowSubscriber {
        SlowSubscriber::Disconnect
    }
}

impl Config {
    /// A builder with every default documented on the sections.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// The name of the config's source, for messages.
    pub fn source(&self) -> &Path {
        if self.path.as_os_str().is_empty() {
            Path::new(BUILT_IN_CODE)
        } else {
            &self.path
        }
    }

    fn invalid(
        &self,
        key: impl Into<String>,
        value: impl std::fmt::Display,
        allowed: impl Into<String>,
    ) -> ConfigError {
        ConfigError::Invalid {
            path: self.source().to_owned(),
            key: key.into(),
            value: value.to_string(),
            allowed: allowed.into(),
        }
    }

    /// Checks every value and the genesis assets and symbols; the edge and
    /// the builder call it, and so does [`Engine::start`](crate::runtime::Engine::start).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let e = &self.engine;
        if !e.ring_capacity.is_power_of_two() || !(2..=1 << 24).contains(&e.ring_capacity) {
            return Err(self.invalid(
                "engine.ring_capacity",
                e.ring_capacity,
                "a power of two from 2 to 16777216",
            ));
        }
        if !(1..=65_536).contains(&e.batch_max) {
            return Err(self.invalid("engine.batch_max", e.batch_max, "1 to 65536"));
        }
        let j = &self.journal;
        if !(1..=4096).contains(&j.segment_size_mib) {
            return Err(self.invalid("journal.segment_size_mib", j.segment_size_mib, "1 to 4096"));
        }
        if j.dir.as_os_str().is_empty() && !j.temporary {
            return Err(self.invalid(
                "journal.dir",
                "\"\"",
                "a directory; or set journal.temporary = true for a journal removed on drop",
            ));
        }
        let max_record_kib = j.max_record_kib();
        if !(MIN_RECORD_KIB..=65_536).contains(&max_record_kib)
            || (max_record_kib as u64) * 4 > j.segment_size_mib * 1024
        {
            return Err(self.invalid(
                "journal.max_record_kib",
                max_record_kib,
                format!(
                    "{MIN_RECORD_KIB} to 65536, and at most a quarter of journal.segment_size_mib"
                ),
            ));
        }
        let l = &self.limits;
        for (key, value, max) in [
            ("limits.max_accounts", l.max_accounts, 1 << 30),
            ("limits.max_orders", l.max_orders, 1 << 28),
            (
                "limits.max_open_orders_per_account",
                l.max_open_orders_per_account,
                u32::MAX,
            ),
            ("limits.max_assets", l.max_assets, 1 << 16),
            ("limits.max_symbols", l.max_symbols, 1 << 16),
            ("limits.max_levels", l.max_levels.unwrap_or(1), l.max_orders),
        ] {
            if value == 0 || value > max {
                return Err(self.invalid(key, value, format!("1 to {max}")));
            }
        }
        if !(1..=1 << 20).contains(&self.outputs.capacity) {
            return Err(self.invalid("outputs.capacity", self.outputs.capacity, "1 to 1048576"));
        }
        if self.assets.len() > l.max_assets as usize || self.symbols.len() > l.max_symbols as usize
        {
            return Err(self.invalid(
                "assets/symbols",
                self.assets.len() + self.symbols.len(),
                "within limits.max_assets and limits.max_symbols",
            ));
        }
        for (key, value) in [
            ("limits.max_fills_per_command", l.max_fills_per_command),
            ("limits.max_cancels_per_record", l.max_cancels_per_record),
        ] {
            if value == Some(0) {
                return Err(self.invalid(key, 0, "at least 1"));
            }
        }
        let limits = self.limits();
        let worst = worst_case_record_bytes(&limits);
        let cap = u64::from(max_record_kib) << 10;
        if worst > cap {
            return Err(self.invalid(
                "limits.max_fills_per_command/limits.max_cancels_per_record",
                format!(
                    "{} / {}",
                    limits.max_fills_per_command, limits.max_cancels_per_record
                ),
                format!(
                    "values whose worst-case record ({worst} bytes) fits journal.max_record_kib = {max_record_kib} ({cap} bytes): lower them, or raise journal.max_record_kib"
                ),
            ));
        }
        self.genesis_specs()?;
        self.validate_memory(&AvailableMemory::of_this_machine())
    }

    /// The engine's limits.
    ///
    /// Unset per-command bounds take their default, lowered together (by
    /// halving) until the worst-case record fits `journal.max_record_kib`.
    pub fn limits(&self) -> Limits {
        let l = &self.limits;
        let mut limits = Limits {
            max_accounts: l.max_accounts,
            max_orders: l.max_orders,
            max_open_orders_per_account: l.max_open_orders_per_account,
            max_assets: l.max_assets,
            max_symbols: l.max_symbols,
            max_levels: l.max_levels.unwrap_or((l.max_orders / 2).max(1)),
            max_fills_per_command: l
                .max_fills_per_command
                .unwrap_or(DEFAULT_MAX_FILLS_PER_COMMAND),
            max_cancels_per_record: l
                .max_cancels_per_record
                .unwrap_or(DEFAULT_MAX_CANCELS_PER_RECORD),
        };
        let cap = u64::from(self.journal.max_record_kib()) << 10;
        while worst_case_record_bytes(&limits) > cap {
            let (fills, cancels) = (limits.max_fills_per_command, limits.max_cancels_per_record);
            if l.max_fills_per_command.is_none() && fills > 1 {
                limits.max_fills_per_command = fills / 2;
            }
            if l.max_cancels_per_record.is_none() && cancels > 1 {
                limits.max_cancels_per_record = cancels / 2;
            }
            if (fills, cancels) == (limits.max_fills_per_command, limits.max_cancels_per_record) {
                break; // explicit values: `validate` names them
            }
        }
        limits
    }

    /// The configured assets and symbols, validated and converted.
    pub fn genesis_specs(&self) -> Result<GenesisSpecs, ConfigError> {
        let mut assets: Vec<(Name, u8)> = Vec::new();
        for (i, a) in self.assets.iter().enumerate() {
            let name = Name::new(&a.name).ok_or_else(|| {
                self.invalid(
                    format!("assets[{i}].name"),
                    format!("{:?}", a.name),
                    "1 to 16 ASCII letters, digits or punctuation",
                )
            })?;
            if a.scale > crate::model::decimal::SCALE_MAX {
                return Err(self.invalid(format!("assets[{i}].scale"), a.scale, "0 to 18"));
            }
            if assets.iter().any(|(n, _)| *n == name) {
                return Err(self.invalid(
                    format!("assets[{i}].name"),
                    &a.name,
                    "a name not used by another asset",
                ));
            }
            assets.push((name, a.scale));
        }
        let asset_id = |key: String, name: &str| -> Result<u32, ConfigError> {
            assets
                .iter()
                .position(|(n, _)| n.as_str() == name)
                .map(|p| p as u32)
                .ok_or_else(|| {
                    let known: Vec<&str> = assets.iter().map(|(n, _)| n.as_str()).collect();
                    self.invalid(
                        key,
                        format!("{name:?}"),
                        format!("one of the configured assets {known:?}"),
                    )
                })
        };
        let mut symbols: Vec<SymbolSpec> = Vec::new();
        for (i, s) in self.symbols.iter().enumerate() {
            let name = Name::new(&s.name).ok_or_else(|| {
                self.invalid(
                    format!("symbols[{i}].name"),
                    format!("{:?}", s.name),
                    "1 to 16 ASCII letters, digits or punctuation",
                )
            })?;
            if symbols.iter().any(|x| x.name == name) {
                return Err(self.invalid(
                    format!("symbols[{i}].name"),
                    &s.name,
                    "a name not used by another symbol",
                ));
            }
            let base = asset_id(format!("symbols[{i}].base"), &s.base)?;
            let quote = asset_id(format!("symbols[{i}].quote"), &s.quote)?;
            if base == quote {
                return Err(self.invalid(
                    format!("symbols[{i}].quote"),
                    &s.quote,
                    "an asset other than the base",
                ));
            }
            let parse = |key: &str, text: &str| -> Result<Fixed, ConfigError> {
                parse_fixed(text).ok_or_else(|| {
                    self.invalid(
                        format!("symbols[{i}].{key}"),
                        format!("{text:?}"),
                        format!("a positive decimal string with at most 18 decimal places: {DECIMAL_GRAMMAR}"),
                    )
                })
            };
            let tick_size = parse("tick_size", &s.tick_size)?;
            let lot_size = parse("lot_size", &s.lot_size)?;
            for (key, bps) in [
                ("maker_fee_bps", s.maker_fee_bps),
                ("taker_fee_bps", s.taker_fee_bps),
            ] {
                if bps > 10_000 {
                    return Err(self.invalid(format!("symbols[{i}].{key}"), bps, "0 to 10000"));
                }
            }
            let spec = SymbolSpec {
                name,
                base,
                quote,
                tick_size,
                lot_size,
                maker_fee_bps: s.maker_fee_bps,
                taker_fee_bps: s.taker_fee_bps,
            };
            let as_asset = |id: u32| Asset {
                name: assets[id as usize].0,
                scale: assets[id as usize].1,
                supply: 0,
            };
            if scales_for(&spec, &as_asset(base), &as_asset(quote)).is_err() {
                return Err(self.invalid(
                    format!("symbols[{i}].tick_size/lot_size"),
                    format!("{} / {}", s.tick_size, s.lot_size),
                    format!(
                        "one lot must be a whole number of {} minor units (scale {}) and one tick × one lot a whole number of {} minor units (scale {})",
                        s.base, assets[base as usize].1, s.quote, assets[quote as usize].1
                    ),
                ));
            }
            symbols.push(spec);
        }
        Ok((assets, symbols))
    }

    /// The operator's admin commands that bring the configured assets and
    /// symbols into a fresh state, with request ids from 1.
    pub fn genesis_commands(&self) -> Result<Vec<Command>, ConfigError> {
        let (assets, symbols) = self.genesis_specs()?;
        let kinds = assets
            .into_iter()
            .map(|(name, scale)| CommandKind::AddAsset { name, scale })
            .chain(symbols.into_iter().map(CommandKind::AddSymbol));
        Ok(kinds
            .enumerate()
            .map(|(i, kind)| Command {
                account: OPERATOR,
                request_id: i as u64 + 1,
                kind,
            })
            .collect())
    }
}
