//! The memory a config's limits need, checked against the machine before
//! anything is allocated: an impossible limit is a config error naming the
//! key and the bytes, never an allocation failure that aborts the process.
//!
//! What is counted is the state's [`Footprint`] at its limits (what
//! `State::new` reserves, plus the account table and the books that single
//! commands can grow to their limits) and the engine's rings (input ring,
//! one subscriber's output ring). What is available is the smallest of:
//! `MemAvailable` in `/proc/meminfo`, the process's cgroup memory limit
//! (v2 `memory.max` or v1 `memory.limit_in_bytes`), and its address-space
//! limit
//! (`RLIMIT_AS`, from `/proc/self/limits`). Where none of these can be read
//! (not Linux), [`FALLBACK_AVAILABLE_BYTES`] is assumed.

use std::mem::size_of;
use std::path::PathBuf;

use crate::model::Command;
use crate::state::Footprint;

use super::{Config, ConfigError};

/// The memory assumed available where the machine's cannot be read: 16 GiB.
pub const FALLBACK_AVAILABLE_BYTES: u64 = 16 << 30;

/// How much memory this process may use, and where that number came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AvailableMemory {
    /// Bytes.
    pub bytes: u64,
    /// Where it was read (`"MemAvailable in /proc/meminfo"`), for messages.
    pub source: String,
}

impl AvailableMemory {
    /// Reads what this machine and process allow (see the module docs).
    pub fn of_this_machine() -> AvailableMemory {
        let candidates = [
            meminfo_available().map(|b| (b, "MemAvailable in /proc/meminfo".to_owned())),
            cgroup_limit(),
            address_space_limit()
                .map(|b| (b, "the address-space limit RLIMIT_AS, ulimit -v".to_owned())),
        ];
        candidates
            .into_iter()
            .flatten()
            .min_by_key(|(bytes, _)| *bytes)
            .map_or_else(
                || AvailableMemory {
                    bytes: FALLBACK_AVAILABLE_BYTES,
                    source: "a fixed 16 GiB: this machine's available memory cannot be read".into(),
                },
                |(bytes, source)| AvailableMemory { bytes, source },
            )
    }
}

fn meminfo_available() -> Option<u64> {
    parse_meminfo_available(&std::fs::read_to_string("/proc/meminfo").ok()?)
}

/// `MemAvailable` of a `/proc/meminfo` text, in bytes.
fn parse_meminfo_available(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let mut words = line.split_whitespace().skip(1);
    let kib: u64 = words.next()?.parse().ok()?;
    (words.next() == Some("kB")).then_some(kib.saturating_mul(1024))
}

/// The process's cgroup memory limit (v2 `memory.max`, or v1
/// `memory.limit_in_bytes`). The limit itself, not the room left under it:
/// the cgroup's usage counts reclaimable page cache (journal segments).
fn cgroup_limit() -> Option<(u64, String)> {
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let read = |file: String| -> Option<(u64, String)> {
        // "max" (v2) or a huge number (v1) means no limit.
        let bytes: u64 = std::fs::read_to_string(&file).ok()?.trim().parse().ok()?;
        (bytes < 1 << 60).then(|| (bytes, format!("the cgroup memory limit {file}")))
    };
    cgroup.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        let path = path.trim_end_matches('/');
        match controllers {
            "" => read(format!("/sys/fs/cgroup{path}/memory.max")),
            c if c.split(',').any(|c| c == "memory") => {
                read(format!("/sys/fs/cgroup/memory{path}/memory.limit_in_bytes"))
            }
            _ => None,
        }
    })
}

fn address_space_limit() -> Option<u64> {
    parse_address_space_limit(&std::fs::read_to_string("/proc/self/limits").ok()?)
}

/// The soft `Max address space` of a `/proc/self/limits` text, in bytes.
fn parse_address_space_limit(text: &str) -> Option<u64> {
    let rest = text
        .lines()
        .find_map(|l| l.strip_prefix("Max address space"))?;
    rest.split_whitespace().next()?.parse().ok() // "unlimited": none
}

/// Bytes as a short decimal figure: `21.5 GB`, `640.0 MB`, `12 bytes`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (1_000_000_000_000, "TB"),
        (1_000_000_000, "GB"),
        (1_000_000, "MB"),
        (1_000, "kB"),
    ];
    match UNITS.iter().find(|(unit, _)| bytes >= *unit) {
        Some((unit, name)) => format!("{:.1} {name}", bytes as f64 / *unit as f64),
        None => format!("{bytes} bytes"),
    }
}

/// A config whose limits need more memory than is available
/// ([`ConfigError::Memory`]).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("config {}: `{key}` = {value} needs {needed} bytes ({}) of memory in all ({breakdown}), but {available} bytes ({}) are available ({available_source}); lower {key}", path.display(), human_bytes(*needed), human_bytes(*available))]
pub struct TooMuchMemory {
    /// The file, or `(built in code)`.
    pub path: PathBuf,
    /// The key whose structures need the most (`limits.max_orders`).
    pub key: String,
    /// Its value.
    pub value: String,
    /// Bytes the whole config needs.
    pub needed: u64,
    /// The structures over 1 MB, with their sizes and keys.
    pub breakdown: String,
    /// Bytes available.
    pub available: u64,
    /// Where `available` was read.
    pub available_source: String,
}

/// One counted structure of a config's memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryPart {
    /// What it is ("order slab").
    pub what: &'static str,
    /// The config key that sizes it ("limits.max_orders").
    pub key: &'static str,
    /// Bytes.
    pub bytes: u64,
}

impl Config {
    /// The memory this config's limits need, by structure (see the module
    /// docs for what is counted).
    pub fn memory_needed(&self) -> Vec<MemoryPart> {
        let footprint = Footprint::of(&self.limits());
        let mut parts: Vec<MemoryPart> = footprint
            .parts
            .iter()
            .map(|p| MemoryPart {
                what: p.what,
                key: match p.limit {
                    "max_orders" => "limits.max_orders",
                    // Unset, max_levels is half of max_orders.
                    "max_levels" if self.limits.max_levels.is_none() => "limits.max_orders",
                    "max_levels" => "limits.max_levels",
                    "max_accounts" => "limits.max_accounts",
                    "max_symbols" => "limits.max_symbols",
                    _ => "limits",
                },
                bytes: p.bytes,
            })
            .collect();
        // A crossbeam array slot: a stamp and a `Submission` (the command,
        // its optional ts and the enqueue time).
        let submission = size_of::<(Command, Option<u64>, u64)>() as u64 + 8;
        parts.push(MemoryPart {
            what: "input ring",
            key: "engine.ring_capacity",
            bytes: u64::from(self.engine.ring_capacity).saturating_mul(submission),
        });
        // The subscriber's channel (stamp + pointer) and the loop's
        // in-flight list (two pointers per buffered batch).
        parts.push(MemoryPart {
            what: "output ring",
            key: "outputs.capacity",
            bytes: u64::from(self.outputs.capacity).saturating_mul(32),
        });
        parts
    }

    /// Checks [`memory_needed`](Self::memory_needed) against `available`:
    /// too much is [`ConfigError::Memory`], naming the key that needs the
    /// most. [`validate`](Self::validate) calls it with
    /// [`AvailableMemory::of_this_machine`].
    pub fn validate_memory(&self, available: &AvailableMemory) -> Result<(), ConfigError> {
        let parts = self.memory_needed();
        let needed = parts.iter().fold(0u64, |a, p| a.saturating_add(p.bytes));
        if needed <= available.bytes {
            return Ok(());
        }
        let mut by_key: Vec<(&'static str, u64)> = Vec::new();
        for p in &parts {
            match by_key.iter_mut().find(|(k, _)| *k == p.key) {
                Some((_, b)) => *b = b.saturating_add(p.bytes),
                None => by_key.push((p.key, p.bytes)),
            }
        }
        let key = by_key
            .iter()
            .max_by_key(|(_, b)| *b)
            .map_or("limits", |(k, _)| *k);
        let value = match key {
            "limits.max_orders" => self.limits.max_orders.to_string(),
            "limits.max_levels" => self.limits().max_levels.to_string(),
            "limits.max_accounts" => self.limits.max_accounts.to_string(),
            "limits.max_symbols" => self.limits.max_symbols.to_string(),
            "engine.ring_capacity" => self.engine.ring_capacity.to_string(),
            "outputs.capacity" => self.outputs.capacity.to_string(),
            _ => String::new(),
        };
        let breakdown = parts
            .iter()
            .filter(|p| p.bytes >= 1_000_000)
            .map(|p| format!("{} {} for {}", p.what, human_bytes(p.bytes), p.key))
            .collect::<Vec<_>>()
            .join(", ");
        Err(ConfigError::Memory(Box::new(TooMuchMemory {
            path: self.source().to_owned(),
            key: key.to_owned(),
            value,
            needed,
            breakdown,
            available: available.bytes,
            available_source: available.source.clone(),
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(available: u64) -> AvailableMemory {
        AvailableMemory {
            bytes: available,
            source: "a test".into(),
        }
    }

    fn config(edit: impl FnOnce(&mut Config)) -> Config {
        let mut c = Config::builder().temporary_journal().into_unchecked();
        edit(&mut c);
        c
    }

    /// Small limits everywhere, then `edit`.
    fn small(edit: impl FnOnce(&mut Config)) -> Config {
        config(|c| {
            c.limits.max_orders = 1024;
            c.limits.max_accounts = 1024;
            c.limits.max_symbols = 8;
            c.engine.ring_capacity = 1024;
            edit(c);
        })
    }

    #[test]
    fn the_documented_maximum_of_max_orders_names_key_and_bytes() {
        let c = config(|c| c.limits.max_orders = 1 << 28);
        let e = c.validate_memory(&with(22 << 30)).unwrap_err();
        let ConfigError::Memory(too_much) = &e else {
            panic!("{e}")
        };
        let TooMuchMemory {
            key, value, needed, ..
        } = &**too_much;
        assert_eq!(
            (key.as_str(), value.as_str()),
            ("limits.max_orders", "268435456")
        );
        // Order slab 84 B, index 2 × 12 B (power of two), expiry 28 B per
        // order; levels (half of max_orders) 44 B each.
        assert!(*needed > (1 << 28) * (84 + 24 + 28 + 22), "{needed}");
        let m = e.to_string();
        for part in [
            "`limits.max_orders` = 268435456",
            &format!("needs {needed} bytes"),
            "order slab 22.5 GB",
            "order index 6.4 GB",
            "available (a test)",
            "lower limits.max_orders",
        ] {
            assert!(m.contains(part), "{part:?} missing from: {m}");
        }
        // Enough memory: accepted.
        assert!(c.validate_memory(&with(1 << 40)).is_ok());
    }

    #[test]
    fn each_large_limit_is_named_when_it_needs_the_most() {
        for (edit, key) in [
            (
                (|c: &mut Config| c.limits.max_orders = 1 << 27) as fn(&mut Config),
                "limits.max_orders",
            ),
            (
                |c: &mut Config| {
                    c.limits.max_orders = 1 << 28;
                    c.limits.max_levels = Some(1 << 28);
                },
                "limits.max_orders",
            ),
            (
                |c: &mut Config| c.limits.max_accounts = 1 << 30,
                "limits.max_accounts",
            ),
            (
                |c: &mut Config| c.limits.max_symbols = 1 << 14,
                "limits.max_symbols",
            ),
            (
                |c: &mut Config| c.engine.ring_capacity = 1 << 24,
                "engine.ring_capacity",
            ),
        ] {
            let c = small(edit);
            assert!(small(|_| {}).validate_memory(&with(100 << 20)).is_ok());
            let e = c.validate_memory(&with(100 << 20)).unwrap_err().to_string();
            assert!(e.contains(&format!("`{key}` = ")), "{key}: {e}");
            assert!(e.contains(&format!("lower {key}")), "{key}: {e}");
        }
    }

    #[test]
    fn the_default_config_fits_a_small_machine() {
        let c = config(|_| {});
        let needed: u64 = c.memory_needed().iter().map(|p| p.bytes).sum();
        assert!(needed < 1 << 30, "{needed}");
        assert!(c.validate_memory(&with(1 << 30)).is_ok());
        assert!(c.validate_memory(&with(needed - 1)).is_err());
    }

    #[test]
    fn this_machine_reports_some_memory() {
        let a = AvailableMemory::of_this_machine();
        assert!(a.bytes > 0 && !a.source.is_empty(), "{a:?}");
    }

    #[test]
    fn reads_proc_texts() {
        let meminfo = "MemTotal:       32000000 kB\nMemFree:  1 kB\nMemAvailable:   24327744 kB\n";
        assert_eq!(parse_meminfo_available(meminfo), Some(24_327_744 * 1024));
        assert_eq!(parse_meminfo_available("MemTotal: 5 kB\n"), None);
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max address space         4294967296           unlimited            bytes\n";
        assert_eq!(parse_address_space_limit(limits), Some(4 << 30));
        let unlimited =
            "Max address space         unlimited            unlimited            bytes\n";
        assert_eq!(parse_address_space_limit(unlimited), None);
    }

    #[test]
    fn human_figures() {
        assert_eq!(human_bytes(12), "12 bytes");
        assert_eq!(human_bytes(21_474_836_480), "21.5 GB");
        assert_eq!(human_bytes(640_000_000), "640.0 MB");
    }
}
