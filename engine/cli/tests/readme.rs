//! The README tells the truth: its session block is `docs/session.jsonl`,
//! that session runs as the README says, and its embedding example is
//! `keel-engine`'s crate-level doc test.

mod cli_support;
#[path = "../../runtime/tests/runtime_support/mod.rs"]
mod runtime_support;

use std::path::{Path, PathBuf};

use cli_support::*;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The fenced block of `lang` that follows the first line containing `marker`.
fn block_after(text: &str, marker: &str, lang: &str) -> String {
    let at = text
        .find(marker)
        .unwrap_or_else(|| panic!("README has no {marker:?}"));
    let fence = format!("```{lang}\n");
    let start = text[at..]
        .find(&fence)
        .expect("a fenced block after the marker")
        + at
        + fence.len();
    let end = text[start..].find("```\n").expect("the block's end") + start;
    text[start..end].to_owned()
}

#[test]
fn session_block_is_docs_session_jsonl() {
    let readme = read("README.md");
    let block = block_after(&readme, "lines are [`docs/session.jsonl`]", "json");
    assert_eq!(
        block,
        read("docs/session.jsonl"),
        "README session block differs from docs/session.jsonl"
    );
}

#[test]
fn session_runs_as_the_readme_says() {
    let tmp = tempfile::tempdir().unwrap();
    let config = read("configs/default.toml").replace(
        "dir = \"keel-data/journal\"",
        &format!(
            "dir = {:?}",
            tmp.path().join("journal").display().to_string()
        ),
    );
    assert!(
        config.contains(&tmp.path().display().to_string()),
        "default.toml's journal.dir moved"
    );
    let config_path = tmp.path().join("keel.toml");
    std::fs::write(&config_path, config).unwrap();
    let lines: Vec<String> = read("docs/session.jsonl")
        .lines()
        .map(str::to_owned)
        .collect();
    let ran = keel_run_lines(&config_path, tmp.path(), &lines);
    assert_eq!(ran.code, Some(0), "{ran:?}");
    let outputs = ran.json_lines();
    assert_eq!(outputs.len(), lines.len(), "one output per line");
    assert_eq!(outputs[0]["seq"], 6, "genesis takes 1 to 5");
    let rejected: Vec<(u64, u64, String)> = outputs
        .iter()
        .filter(|o| o["events"][0]["type"] == "rejected")
        .map(|o| {
            (
                o["account"].as_u64().unwrap(),
                o["request_id"].as_u64().unwrap(),
                o["events"][0]["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        rejected,
        vec![
            (1, 8, "fok_not_fillable".to_owned()),
            (2, 7, "duplicate".to_owned())
        ],
        "only the documented rejections"
    );
}

#[test]
fn embedding_example_is_the_crate_doc_test() {
    let lib = read("engine/runtime/src/lib.rs");
    let start = lib.find("//! ```\n").expect("crate doc example") + "//! ```\n".len();
    let end = lib[start..].find("//! ```\n").expect("its end") + start;
    let example: Vec<String> = lib[start..end]
        .lines()
        .map(|l| {
            l.strip_prefix("//! ")
                .or_else(|| l.strip_prefix("//!"))
                .unwrap_or(l)
                .to_owned()
        })
        .filter(|l| !l.starts_with("# "))
        .collect();
    let readme = read("README.md");
    let block = block_after(&readme, "## Embedding", "rust");
    assert_eq!(
        block,
        example.join("\n") + "\n",
        "README's embedding example differs from keel-engine's doc test"
    );
    let code_lines = example.iter().filter(|l| !l.trim().is_empty()).count();
    assert!(
        code_lines <= 20,
        "the embedding example has {code_lines} lines; the promise is at most 20"
    );
}
