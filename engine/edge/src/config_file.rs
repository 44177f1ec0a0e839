//! Config files in TOML: read, parsed into [`keel_engine::Config`] and
//! checked. Every error names the file, the key and the allowed values.
//!
//! A file may hold sections for other programs (`keel demo` reads
//! `[demo]`); [`load_config_with_extras`] hands those back untouched, and
//! every other unknown key is an error.

use std::path::{Path, PathBuf};

use keel_engine::config::{Config, ConfigError};

/// Reads, parses and checks the config file at `path`.
pub fn load_config(path: &Path) -> Result<Config, ConfigError> {
    load_config_with_extras(path, &[]).map(|(config, _)| config)
}

/// [`load_config`], where the top-level tables named in `extras` belong to
/// the caller: they are returned, parsed as TOML, and not checked here.
pub fn load_config_with_extras(
    path: &Path,
    extras: &[&str],
) -> Result<(Config, toml::Table), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(&text, path, extras)
}

/// Parses and checks config text; `name` is only used in messages.
pub fn config_from_toml(text: &str, name: impl Into<PathBuf>) -> Result<Config, ConfigError> {
    parse(text, &name.into(), &[]).map(|(config, _)| config)
}

fn parse(text: &str, path: &Path, extras: &[&str]) -> Result<(Config, toml::Table), ConfigError> {
    let parse_error = |message: String| ConfigError::Parse {
        path: path.to_owned(),
        message: message.trim_end().to_owned(),
    };
    let mut table: toml::Table = toml::from_str(text).map_err(|e| parse_error(e.to_string()))?;
    let mut taken = toml::Table::new();
    for name in extras {
        if let Some(value) = table.remove(*name) {
            taken.insert((*name).to_owned(), value);
        }
    }
    // Without caller sections, parse the text itself: messages then point
    // at the line and column. With them, the rest is read from the table,
    // and messages name the key path.
    let mut config: Config = if taken.is_empty() {
        toml::from_str(text).map_err(|e| parse_error(e.to_string()))?
    } else {
        serde_path_to_error::deserialize(toml::Value::Table(table))
            .map_err(|e| parse_error(format!("`{}`: {}", e.path(), e.inner())))?
    };
    config.path = path.to_owned();
    config.validate()?;
    Ok((config, taken))
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_engine::model::CommandKind;

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
        config_from_toml(text, "t.toml").unwrap_err().to_string()
    }

    #[test]
    fn good_config_yields_genesis_commands() {
        let c = config_from_toml(GOOD, "t.toml").unwrap();
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

    #[test]
    fn config_decimals_follow_the_one_grammar() {
        for bad in [
            "1_000",
            "+5",
            " 5",
            "1.",
            "30_000.00",
            ".5",
            "1e-2",
            "0.01 ",
        ] {
            for key in ["tick_size", "lot_size"] {
                let text = if key == "tick_size" {
                    GOOD.replace("tick_size = \"0.01\"", &format!("tick_size = {bad:?}"))
                } else {
                    GOOD.replace("lot_size = \"0.001\"", &format!("lot_size = {bad:?}"))
                };
                let e = err(&text);
                assert!(
                    e.contains(&format!("`symbols[0].{key}` = {bad:?}"))
                        && e.contains("no sign, spaces, underscores"),
                    "{bad:?}: {e}"
                );
            }
        }
        let ok = GOOD.replace("tick_size = \"0.01\"", "tick_size = \"0.010\"");
        assert!(config_from_toml(&ok, "t.toml").is_ok());
    }

    #[test]
    fn an_empty_journal_dir_is_refused() {
        let e = err(&GOOD.replace("dir = \"x\"", "dir = \"\""));
        assert!(
            e.contains("`journal.dir` = \"\"") && e.contains("journal.temporary"),
            "{e}"
        );
        let e = err(&GOOD.replace("dir = \"x\"", ""));
        assert!(e.contains("`journal.dir`"), "{e}");
        let temporary = GOOD.replace("dir = \"x\"", "dir = \"\"\ntemporary = true");
        assert!(config_from_toml(&temporary, "t.toml").is_ok());
    }

    #[test]
    fn limits_beyond_the_documented_maximums_name_the_key() {
        for (key, value, allowed) in [
            ("max_orders", "268435457", "1 to 268435456"),
            ("max_accounts", "1073741825", "1 to 1073741824"),
            ("max_orders", "0", "1 to 268435456"),
        ] {
            let e = err(&format!("{GOOD}\n[limits]\n{key} = {value}\n"));
            assert!(
                e.contains(&format!("`limits.{key}` = {value}: {allowed}")),
                "{e}"
            );
        }
        let e = err(&format!(
            "{GOOD}\n[limits]\nmax_orders = 1024\nmax_levels = 1025\n"
        ));
        assert!(e.contains("`limits.max_levels` = 1025: 1 to 1024"), "{e}");
    }
}
