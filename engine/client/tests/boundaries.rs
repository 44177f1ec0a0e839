//! The client knows the protocol, not the engine: its normal dependency
//! tree holds no keel crate (they are dev-dependencies, for the tests).

use std::path::Path;
use std::process::Command;

#[test]
fn keel_client_depends_on_no_keel_crate() {
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
            "keel-client",
        ])
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let keel: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with("keel-") && *n != "keel-client")
        .collect();
    assert!(keel.is_empty(), "keel-client depends on {keel:?}:\n{text}");
    assert!(text.contains("tokio-tungstenite"), "{text}");
}
