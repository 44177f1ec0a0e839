//! `keel run` on strict input (issue 11, item 6): a line of invalid UTF-8,
//! a repeated key and a decimal outside the grammar are each one malformed
//! line, reported with its number, and the run goes on (exit 1); and on
//! configs whose limits need more memory than the process may use (item 7):
//! exit 2 naming the key and the bytes, before anything is allocated, never
//! an abort.

mod cli_support;
#[path = "../../runtime/tests/runtime_support/mod.rs"]
mod runtime_support;

use std::path::Path;
use std::process::Command;

use cli_support::*;
use runtime_support::*;

fn ran(out: std::process::Output) -> Ran {
    Ran {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs two good lines, `bad` (raw bytes) as line 3 and a good line 4;
/// checks that only line 3 was refused and returns its message.
fn run_with_bad_bytes(bad: &[u8]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path();
    let config = Cfg::default().write(&work.join("keel.toml"), &work.join("journal"));
    let mut input = Vec::new();
    input.extend_from_slice(br#"{"type":"open_account","account":1,"request_id":1}"#);
    input.push(b'\n');
    input.extend_from_slice(
        br#"{"type":"deposit","account":1,"request_id":2,"asset":"USD","amount":"1000"}"#,
    );
    input.push(b'\n');
    input.extend_from_slice(bad);
    input.push(b'\n');
    input.extend_from_slice(
        br#"{"type":"deposit","account":1,"request_id":4,"asset":"BTC","amount":"1"}"#,
    );
    input.push(b'\n');
    let path = work.join("input.jsonl");
    std::fs::write(&path, input).unwrap();
    let r = keel(&[
        "run",
        "--config",
        config.to_str().unwrap(),
        "--input",
        path.to_str().unwrap(),
    ]);
    assert_eq!(r.code, Some(1), "exit 1 for a malformed line: {r:?}");
    let out = r.json_lines();
    let requests: Vec<u64> = out
        .iter()
        .map(|v| v["request_id"].as_u64().unwrap())
        .collect();
    assert_eq!(requests, [1, 2, 4], "line 3 not executed, line 4 is: {r:?}");
    assert_eq!(out[1]["events"][1]["type"], "deposited", "{}", out[1]);
    assert_eq!(out[1]["events"][1]["amount"], "1000.000000", "{}", out[1]);
    let errors: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("keel: line"))
        .collect();
    assert_eq!(errors.len(), 1, "one error line: {}", r.stderr);
    assert!(errors[0].starts_with("keel: line 3: "), "{}", errors[0]);
    assert!(errors[0].ends_with("(not executed)"), "{}", errors[0]);
    assert!(
        r.stderr.contains("4 lines, 1 malformed, 3 submitted"),
        "{}",
        r.stderr
    );
    errors[0].to_owned()
}

#[test]
fn invalid_utf8_is_one_malformed_line_and_the_run_goes_on() {
    let msg = run_with_bad_bytes(
        b"{\"type\":\"open_account\",\"account\":1,\"request_id\":3,\"x\":\"\xff\xfe\"}",
    );
    assert!(msg.contains("not valid UTF-8"), "{msg}");
    let msg = run_with_bad_bytes(b"\xc3\x28");
    assert!(
        msg.contains("not valid UTF-8 (the first 0 bytes are)"),
        "{msg}"
    );
}

#[test]
fn a_repeated_type_is_refused_not_run_as_the_last() {
    // Before: ran as a withdraw of 7.
    let msg = run_with_bad_bytes(
        br#"{"type":"deposit","account":1,"request_id":3,"asset":"USD","amount":"7","type":"withdraw"}"#,
    );
    assert!(msg.contains("duplicate key `type`"), "{msg}");
}

#[test]
fn a_repeated_account_is_refused() {
    let msg = run_with_bad_bytes(
        br#"{"type":"deposit","account":1,"request_id":3,"asset":"USD","amount":"7","account":2}"#,
    );
    assert!(msg.contains("duplicate key `account`"), "{msg}");
}

#[test]
fn lenient_decimals_are_refused() {
    for value in ["1_000", "+5", " 5", "1.", "30_000.00"] {
        let line = format!(
            r#"{{"type":"deposit","account":1,"request_id":3,"asset":"USD","amount":"{value}"}}"#
        );
        let msg = run_with_bad_bytes(line.as_bytes());
        assert!(
            msg.contains(&format!("`amount` = {value:?}")) && msg.contains("no sign, spaces"),
            "{msg}"
        );
    }
}

/// `keel run` on `limits` under an address-space limit of `kib` KiB (so the
/// result does not depend on this machine's memory).
fn run_limited(limits: &str, kib: u64, work: &Path) -> Ran {
    let text = Cfg::default().text(&work.join("journal")).replace(
        "[limits]\nmax_accounts = 4096\nmax_orders = 8192\n",
        &format!("[limits]\n{limits}\n"),
    );
    assert!(
        text.contains(limits),
        "the test config has a [limits] section"
    );
    let config = work.join("keel.toml");
    std::fs::write(&config, text).unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {kib} && exec \"$0\" \"$@\""))
        .arg(keel_bin())
        .args([
            "run",
            "--config",
            config.to_str().unwrap(),
            "--input",
            "/dev/null",
        ])
        .output()
        .expect("spawn sh");
    ran(out)
}

#[test]
fn limits_that_do_not_fit_in_memory_are_exit_2_naming_key_and_bytes() {
    const KIB: u64 = 4 << 20; // 4 GiB of address space
    let tmp = tempfile::tempdir().unwrap();
    for (limits, key, value, needed_at_least) in [
        // The documented maximum: 42.5 GB (before: SIGABRT after
        // "memory allocation of 21474836480 bytes failed").
        (
            "max_accounts = 4096\nmax_orders = 268435456",
            "limits.max_orders",
            "268435456",
            42_000_000_000u64,
        ),
        (
            "max_accounts = 4096\nmax_orders = 134217728",
            "limits.max_orders",
            "134217728",
            21_000_000_000,
        ),
        (
            "max_accounts = 4096\nmax_orders = 268435456\nmax_levels = 268435456",
            "limits.max_orders",
            "268435456",
            48_000_000_000,
        ),
        // One open_account with the highest id would allocate the table.
        (
            "max_accounts = 1073741824\nmax_orders = 8192",
            "limits.max_accounts",
            "1073741824",
            51_000_000_000,
        ),
    ] {
        let r = run_limited(limits, KIB, tmp.path());
        assert_eq!(r.code, Some(2), "{limits}: {r:?}");
        let msg = r
            .stderr
            .lines()
            .find(|l| l.starts_with("keel: config"))
            .unwrap_or_else(|| panic!("{limits}: no config error: {}", r.stderr));
        assert!(msg.contains(&format!("`{key}` = {value} needs ")), "{msg}");
        assert!(msg.contains(&format!("lower {key}")), "{msg}");
        assert!(
            msg.contains("RLIMIT_AS"),
            "names where the limit came from: {msg}"
        );
        let needed: u64 = msg
            .split(" needs ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("needs N bytes: {msg}"));
        assert!(needed >= needed_at_least, "{needed} for {limits}: {msg}");
        assert!(!r.stderr.contains("memory allocation"), "{}", r.stderr);
        assert!(
            !tmp.path().join("journal").exists(),
            "nothing created before the check"
        );
    }
    // The same address-space limit runs a config that fits.
    let r = run_limited("max_accounts = 4096\nmax_orders = 8192", KIB, tmp.path());
    assert_eq!(r.code, Some(0), "{r:?}");
}
