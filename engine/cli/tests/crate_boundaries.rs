//! The crate cut is a boundary the build enforces: `cargo tree` of each
//! library crate's normal dependencies holds none of the crates it must
//! never depend on.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// Every package in `package`'s normal (non-dev, non-build) dependency tree.
fn tree(package: &str) -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(root)
        .args([
            "tree",
            "--offline",
            "--locked",
            "-e",
            "normal",
            "--prefix",
            "none",
            "-p",
            package,
        ])
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree -p {package} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let names: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    assert!(
        names.contains(package),
        "cargo tree printed no {package}: {text}"
    );
    names
}

fn assert_none_of(package: &str, forbidden: &[&str]) {
    let deps = tree(package);
    let found: Vec<&&str> = forbidden.iter().filter(|f| deps.contains(**f)).collect();
    assert!(
        found.is_empty(),
        "{package} depends on {found:?}; its tree: {deps:?}"
    );
}

const CLI: &[&str] = &["clap", "indicatif", "console"];
const TEXT: &[&str] = &["toml", "serde_json", "serde_path_to_error"];
const IO: &[&str] = &[
    "memmap2",
    "libc",
    "tempfile",
    "crossbeam-channel",
    "core_affinity",
    "keel-journal",
    "rust_decimal",
    "tokio",
];

#[test]
fn keel_core_has_no_io_cli_toml_or_json_dependency() {
    assert_none_of("keel-core", &[CLI, TEXT, IO].concat());
    let deps = tree("keel-core");
    for direct in ["bincode", "blake3", "thiserror"] {
        assert!(
            deps.contains(direct),
            "keel-core should use {direct}: {deps:?}"
        );
    }
}

#[test]
fn keel_engine_has_no_cli_toml_json_or_demo_code() {
    assert_none_of(
        "keel-engine",
        &[CLI, TEXT, &["keel-edge", "keel-cli"]].concat(),
    );
}

#[test]
fn keel_edge_has_no_cli_dependency() {
    assert_none_of("keel-edge", &[CLI, &["keel-cli"]].concat());
}

#[test]
fn keel_journal_knows_nothing_of_trading() {
    assert_none_of(
        "keel-journal",
        &["keel-core", "keel-engine", "bincode", "rust_decimal"],
    );
}

#[test]
fn the_network_stays_out_of_the_engine_and_the_cli_out_of_the_gateway() {
    const NET: &[&str] = &["tokio", "axum", "hyper", "tungstenite"];
    assert_none_of("keel-engine", NET);
    assert_none_of("keel-edge", NET);
    assert_none_of("keel-journal", NET);
    assert_none_of("keel-gateway", &[CLI, &["keel-cli"]].concat());
}
