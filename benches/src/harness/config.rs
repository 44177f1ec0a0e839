//! `configs/bench.toml`: the latency harness's knobs. Every key is documented
//! in that file. Relative paths are relative to the config file's directory.

use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenchConfig {
    pub run: RunSection,
    pub threads: ThreadsSection,
    pub engine: EngineKnobs,
    pub synthetic: SyntheticSection,
    pub lobster: LobsterSection,
    pub quick: QuickSection,
    /// Directory of the config file (relative paths are resolved against it).
    #[serde(skip)]
    pub base_dir: PathBuf,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSection {
    pub output_dir: PathBuf,
    pub rates: Vec<u64>,
    pub growth: f64,
    pub max_rate: u64,
    pub max_steps: usize,
    pub warmup_s: f64,
    pub duration_s: f64,
    pub saturation_ratio: f64,
    pub p99_bound_us: u64,
    pub max_lag_s: f64,
    pub durability: Vec<String>,
    pub workloads: Vec<String>,
    pub floor: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThreadsSection {
    pub loop_core: Option<usize>,
    pub producer_core: Option<usize>,
    pub consumer_core: Option<usize>,
    pub consumer_wait: ConsumerWait,
    pub producer_yield_above_ns: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsumerWait {
    Spin,
    Yield,
    Block,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineKnobs {
    pub ring_capacity: u32,
    pub batch_max: u32,
    pub wait_strategy: String,
    pub segment_size_mib: u64,
    pub outputs_capacity: u32,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyntheticSection {
    pub seed: u64,
    pub symbols: u32,
    pub accounts: u32,
    pub target_depth: u32,
    pub warmup_commands: usize,
    pub max_commands: usize,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LobsterSection {
    pub file: PathBuf,
    pub base: String,
    pub maker_accounts: u32,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuickSection {
    pub rates: Vec<u64>,
    pub warmup_s: f64,
    pub duration_s: f64,
    pub synthetic_max_commands: usize,
    pub lobster_max_rows: usize,
}

impl BenchConfig {
    pub fn load(path: &Path) -> Result<BenchConfig, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mut cfg: BenchConfig =
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        cfg.base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        cfg.validate()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), String> {
        let r = &self.run;
        if r.rates.is_empty() || r.rates.contains(&0) {
            return Err("run.rates: at least one rate, all > 0".into());
        }
        if r.growth <= 1.0 {
            return Err(format!("run.growth = {}: must be > 1", r.growth));
        }
        if !(0.0..=1.0).contains(&r.saturation_ratio) {
            return Err("run.saturation_ratio: 0 to 1".into());
        }
        for d in &r.durability {
            if !["none", "batch", "r1", "r3"].contains(&d.as_str()) {
                return Err(format!(
                    "run.durability: {d:?} is not \"none\", \"batch\", \"r1\" or \"r3\" (replicated on JetStream, local durability none)"
                ));
            }
        }
        for w in &r.workloads {
            if w != "synthetic" && w != "lobster" {
                return Err(format!(
                    "run.workloads: {w:?} is not \"synthetic\" or \"lobster\""
                ));
            }
        }
        if !["spin", "yield", "spin_then_park"].contains(&self.engine.wait_strategy.as_str()) {
            return Err(format!(
                "engine.wait_strategy = {:?}: spin | yield | spin_then_park",
                self.engine.wait_strategy
            ));
        }
        Ok(())
    }

    /// Applies the `[quick]` overrides.
    pub fn make_quick(&mut self) {
        let q = self.quick.clone();
        self.run.rates = q.rates;
        self.run.max_steps = self.run.rates.len();
        self.run.warmup_s = q.warmup_s;
        self.run.duration_s = q.duration_s;
        self.synthetic.max_commands = self.synthetic.max_commands.min(q.synthetic_max_commands);
        self.synthetic.warmup_commands = self
            .synthetic
            .warmup_commands
            .min(q.synthetic_max_commands / 4);
    }

    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }

    /// The Keel engine config for one run, journaling into `journal_dir`.
    pub fn engine_config(
        &self,
        journal_dir: &Path,
        durability: &str,
        limits: keel_engine::Limits,
    ) -> keel_engine::config::Config {
        let e = &self.engine;
        let core = match self.threads.loop_core {
            Some(c) => format!("core = {c}\n"),
            None => String::new(),
        };
        let text = format!(
            "[engine]\n{core}allow_unpinned = true\nprefault = true\nring_capacity = {}\nbatch_max = {}\n\
             wait_strategy = \"{}\"\nclock = \"system\"\n\
             [journal]\ndir = {:?}\nsegment_size_mib = {}\ndurability = \"{durability}\"\n\
             max_record_kib = 1024\n\
             [limits]\nmax_accounts = {}\nmax_orders = {}\nmax_open_orders_per_account = {}\n\
             max_assets = {}\nmax_symbols = {}\nmax_levels = {}\n\
             [outputs]\ncapacity = {}\nslow_subscriber = \"block\"\n",
            e.ring_capacity,
            e.batch_max,
            e.wait_strategy,
            journal_dir.display().to_string(),
            e.segment_size_mib.max(4),
            limits.max_accounts,
            limits.max_orders,
            limits.max_open_orders_per_account,
            limits.max_assets,
            limits.max_symbols,
            limits.max_levels,
            e.outputs_capacity,
        );
        keel_edge::config_from_toml(&text, Path::new("<bench engine config>"))
            .unwrap_or_else(|err| panic!("bench engine config: {err}\n{text}"))
    }
}
