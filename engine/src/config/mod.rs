//! Configuration, read from TOML. Every error names the key, the bad value
//! and the allowed values. Decimals (tick and lot sizes) are strings, parsed
//! with `rust_decimal` here at the edge and turned into exact integers.

mod decimal;

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::core::symbol_spec::scales_for;
use crate::model::{Command, CommandKind, Fixed, Name, SymbolSpec, OPERATOR};
use crate::state::{Asset, Limits};

pub use decimal::parse_fixed;

/// The configured assets (name, scale) and symbols, in config order.
pub type GenesisSpecs = (Vec<(Name, u8)>, Vec<SymbolSpec>);

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config {path}: `{key}` = {value}: {allowed}")]
    Invalid {
        path: PathBuf,
        key: String,
        value: String,
        allowed: String,
    },
}

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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockKind {
    /// Wall-clock nanoseconds since the Unix epoch, never going backwards.
    System,
    /// Time comes from the input (each submission's `ts`), never going
    /// backwards: a seed always reproduces the same digest.
    Simulated,
}

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

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSection {
    /// CPU core to pin the business-logic thread to.
    #[serde(default)]
    pub core: Option<usize>,
    /// Run unpinned if `core` is unset or does not exist.
    #[serde(default)]
    pub allow_unpinned: bool,
    #[serde(default = "defaults::ring_capacity")]
    pub ring_capacity: u32,
    #[serde(default = "defaults::batch_max")]
    pub batch_max: u32,
    #[serde(default = "defaults::wait_strategy")]
    pub wait_strategy: WaitStrategy,
    #[serde(default = "defaults::clock")]
    pub clock: ClockKind,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalSection {
    /// Directory of the journal (created if missing), relative to the
    /// current directory.
    pub dir: PathBuf,
    #[serde(default = "defaults::segment_size_mib")]
    pub segment_size_mib: u64,
    #[serde(default = "defaults::durability")]
    pub durability: DurabilityConfig,
    #[serde(default = "defaults::max_record_kib")]
    pub max_record_kib: u32,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    #[serde(default = "defaults::max_accounts")]
    pub max_accounts: u32,
    #[serde(default = "defaults::max_orders")]
    pub max_orders: u32,
    #[serde(default = "defaults::max_open_orders_per_account")]
    pub max_open_orders_per_account: u32,
    #[serde(default = "defaults::max_assets")]
    pub max_assets: u32,
    #[serde(default = "defaults::max_symbols")]
    pub max_symbols: u32,
    /// Price levels across all books; unset means half of `max_orders`.
    #[serde(default)]
    pub max_levels: Option<u32>,
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
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputsSection {
    /// Output batches buffered per subscriber.
    #[serde(default = "defaults::output_capacity")]
    pub capacity: u32,
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

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySection {
    /// Log a stats line to stderr every N seconds (0: never).
    #[serde(default)]
    pub log_interval_s: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetConfig {
    pub name: String,
    pub scale: u8,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SymbolConfig {
    pub name: String,
    pub base: String,
    pub quote: String,
    pub tick_size: String,
    pub lot_size: String,
    #[serde(default)]
    pub maker_fee_bps: u16,
    #[serde(default)]
    pub taker_fee_bps: u16,
}

/// `keel demo` settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
#[serde(deny_unknown_fields)]
pub struct DemoSection {
    pub seed: u64,
    pub accounts: u32,
    pub commands: u64,
}

impl Default for DemoSection {
    fn default() -> DemoSection {
        DemoSection {
            seed: 42,
            accounts: 200,
            commands: 200_000,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub engine: EngineSection,
    pub journal: JournalSection,
    #[serde(default)]
    pub limits: LimitsSection,
    #[serde(default)]
    pub outputs: OutputsSection,
    #[serde(default)]
    pub telemetry: TelemetrySection,
    #[serde(default)]
    pub assets: Vec<AssetConfig>,
    #[serde(default)]
    pub symbols: Vec<SymbolConfig>,
    #[serde(default)]
    pub demo: Option<DemoSection>,
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
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Parses and validates config text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        config.path = path.to_owned();
        config.validate()?;
        Ok(config)
    }

    fn invalid(
        &self,
        key: impl Into<String>,
        value: impl std::fmt::Display,
        allowed: impl Into<String>,
    ) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.clone(),
            key: key.into(),
            value: value.to_string(),
            allowed: allowed.into(),
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
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
        if !(1..=65_536).contains(&j.max_record_kib)
            || (j.max_record_kib as u64) * 4 > j.segment_size_mib * 1024
        {
            return Err(self.invalid(
                "journal.max_record_kib",
                j.max_record_kib,
                "1 to 65536, and at most a quarter of journal.segment_size_mib",
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
        self.genesis_specs().map(|_| ())
    }

    /// The engine's limits.
    pub fn limits(&self) -> Limits {
        let l = &self.limits;
        Limits {
            max_accounts: l.max_accounts,
            max_orders: l.max_orders,
            max_open_orders_per_account: l.max_open_orders_per_account,
            max_assets: l.max_assets,
            max_symbols: l.max_symbols,
            max_levels: l.max_levels.unwrap_or((l.max_orders / 2).max(1)),
        }
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
                        "a positive decimal string with at most 18 decimal places, like \"0.01\"",
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

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[engine]
allow_unpinned = true
[journal]
dir = "x"
[[assets]]
name = "BTC"
scale = 8
[[assets]]
name = "USD"
scale = 6
[[symbols]]
name = "BTC-USD"
base = "BTC"
quote = "USD"
tick_size = "0.01"
lot_size = "0.001"
taker_fee_bps = 5
"#;

    fn err(text: &str) -> String {
        Config::parse(text, Path::new("t.toml"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn good_config_yields_genesis_commands() {
        let c = Config::parse(GOOD, Path::new("t.toml")).unwrap();
        let cmds = c.genesis_commands().unwrap();
        assert_eq!(cmds.len(), 3);
        assert!(
            matches!(cmds[2].kind, CommandKind::AddSymbol(s) if s.base == 0 && s.quote == 1 && s.taker_fee_bps == 5)
        );
        assert_eq!(cmds[2].request_id, 3);
    }

    #[test]
    fn errors_name_the_key_and_the_allowed_values() {
        let e = err(&GOOD.replace("allow_unpinned = true", "wait_strategy = \"fast\""));
        assert!(
            e.contains("wait_strategy") && e.contains("spin_then_park"),
            "{e}"
        );
        let e = err(&GOOD.replace("allow_unpinned = true", "ring_capacity = 1000"));
        assert!(
            e.contains("engine.ring_capacity") && e.contains("power of two"),
            "{e}"
        );
        let e = err(&GOOD.replace("allow_unpinned = true", "bogus = 1"));
        assert!(e.contains("bogus"), "{e}");
        let e = err(&GOOD.replace("tick_size = \"0.01\"", "tick_size = \"0.0000001\""));
        assert!(
            e.contains("symbols[0].tick_size/lot_size") && e.contains("whole number"),
            "{e}"
        );
        let e = err(&GOOD.replace("quote = \"USD\"", "quote = \"EUR\""));
        assert!(
            e.contains("symbols[0].quote") && e.contains("[\"BTC\", \"USD\"]"),
            "{e}"
        );
        let e = err(&GOOD.replace("lot_size = \"0.001\"", "lot_size = \"-1\""));
        assert!(
            e.contains("symbols[0].lot_size") && e.contains("positive decimal"),
            "{e}"
        );
        let e = err("[engine]\n");
        assert!(e.contains("journal"), "{e}");
    }
}
