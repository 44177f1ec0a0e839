//! `keel run` on bad input lines (reported with their line number, not
//! executed, the run goes on, exit 1), on bad configs (the key and the
//! allowed values named, exit 2), and `keel demo` twice (same digest).

mod cli_support;
#[path = "../../runtime/tests/runtime_support/mod.rs"]
mod runtime_support;

use std::path::{Path, PathBuf};

use cli_support::*;
use runtime_support::*;

struct Case {
    _tmp: tempfile::TempDir,
    config: PathBuf,
    work: PathBuf,
}

fn case() -> Case {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().to_owned();
    let config = Cfg::default().write(&work.join("keel.toml"), &work.join("journal"));
    Case {
        _tmp: tmp,
        config,
        work,
    }
}

/// Runs two good lines, `bad` as line 3 (account 1, request 3 where it has
/// one), and a good line 4 (request 4); checks everything but the message.
fn run_with_bad_line(bad: &str) -> String {
    let c = case();
    let lines = vec![
        r#"{"type":"open_account","account":1,"request_id":1}"#.to_string(),
        r#"{"type":"deposit","account":1,"request_id":2,"asset":"USD","amount":"1000"}"#.into(),
        bad.to_string(),
        r#"{"type":"deposit","account":1,"request_id":4,"asset":"BTC","amount":"1"}"#.into(),
    ];
    let ran = keel_run_lines(&c.config, &c.work, &lines);
    assert_eq!(
        ran.code,
        Some(1),
        "exit status 1 for a malformed line: {ran:?}"
    );
    let out = ran.json_lines();
    let requests: Vec<(u64, u64)> = out
        .iter()
        .map(|v| {
            (
                v["account"].as_u64().unwrap(),
                v["request_id"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        requests,
        [(1, 1), (1, 2), (1, 4)],
        "the bad line is not executed, the later line is"
    );
    assert_eq!(out[2]["events"][0]["type"], "accepted", "{}", out[2]);
    let errors: Vec<&str> = ran
        .stderr
        .lines()
        .filter(|l| l.starts_with("keel: line"))
        .collect();
    assert_eq!(errors.len(), 1, "one error line: {}", ran.stderr);
    let msg = errors[0].to_string();
    assert!(msg.starts_with("keel: line 3: "), "{msg}");
    assert!(msg.ends_with("(not executed)"), "{msg}");
    assert!(
        ran.stderr.contains("1 malformed"),
        "summary counts it: {}",
        ran.stderr
    );
    msg
}

#[test]
fn malformed_json() {
    let msg = run_with_bad_line(r#"{"type":"deposit","account":1,"request_id":3,"#);
    assert!(msg.contains("invalid JSON"), "{msg}");
}

#[test]
fn unknown_field() {
    let msg = run_with_bad_line(
        r#"{"type":"deposit","account":1,"request_id":3,"asset":"USD","amount":"1","colour":"red"}"#,
    );
    assert!(msg.contains("unknown field `colour`"), "{msg}");
}

#[test]
fn unknown_command_type() {
    let msg = run_with_bad_line(r#"{"type":"teleport","account":1,"request_id":3}"#);
    assert!(
        msg.contains("teleport") && msg.contains("open_account"),
        "{msg}"
    );
}

#[test]
fn wrong_type() {
    let msg = run_with_bad_line(
        r#"{"type":"deposit","account":1,"request_id":"3","asset":"USD","amount":"1"}"#,
    );
    assert!(msg.contains("invalid type: string \"3\""), "{msg}");
}

/// The wrong-type message names the field. (It did not while `json_in`
/// used serde's internally tagged enum, which loses the field path: the
/// message was only `invalid type: string "3", expected u64`.)
#[test]
fn wrong_type_error_names_the_field() {
    let msg = run_with_bad_line(
        r#"{"type":"deposit","account":1,"request_id":"3","asset":"USD","amount":"1"}"#,
    );
    assert!(
        msg.contains("request_id"),
        "the message does not name the field: {msg}"
    );
}

#[test]
fn unknown_symbol() {
    let msg = run_with_bad_line(
        r#"{"type":"place_order","account":1,"request_id":3,"symbol":"DOGE-USD","side":"buy","order_type":"limit","price":"1","qty":"1"}"#,
    );
    assert!(
        msg.contains("unknown symbol \"DOGE-USD\"") && msg.contains("BTC-USD"),
        "{msg}"
    );
}

#[test]
fn off_tick_price() {
    let msg = run_with_bad_line(
        r#"{"type":"place_order","account":1,"request_id":3,"symbol":"BTC-USD","side":"buy","order_type":"limit","price":"100.001","qty":"0.001"}"#,
    );
    assert!(
        msg.contains("`price`") && msg.contains("100.001") && msg.contains("ticks of 0.01"),
        "{msg}"
    );
}

#[test]
fn off_lot_quantity() {
    let msg = run_with_bad_line(
        r#"{"type":"place_order","account":1,"request_id":3,"symbol":"BTC-USD","side":"buy","order_type":"limit","price":"100","qty":"0.00001"}"#,
    );
    assert!(msg.contains("`qty`") && msg.contains("lots of"), "{msg}");
}

#[test]
fn negative_amount() {
    let msg = run_with_bad_line(
        r#"{"type":"deposit","account":1,"request_id":3,"asset":"USD","amount":"-5"}"#,
    );
    assert!(
        msg.contains("`amount`") && msg.contains("-5") && msg.contains("negative"),
        "{msg}"
    );
}

#[test]
fn several_bad_lines_each_reported_and_the_rest_runs() {
    let c = case();
    let lines: Vec<String> = vec![
        r#"{"type":"open_account","account":1,"request_id":1}"#.into(),
        "not json".into(),
        "".into(),
        r#"{"type":"deposit","account":1,"request_id":2,"asset":"XYZ","amount":"1"}"#.into(),
        r#"{"type":"deposit","account":1,"request_id":3,"asset":"USD","amount":"1"}"#.into(),
    ];
    let ran = keel_run_lines(&c.config, &c.work, &lines);
    assert_eq!(ran.code, Some(1));
    assert!(ran.stderr.contains("keel: line 2: "), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("keel: line 4: ") && ran.stderr.contains("XYZ"),
        "blank lines still count: {}",
        ran.stderr
    );
    assert_eq!(ran.json_lines().len(), 2);
    assert!(ran.stderr.contains("2 malformed"), "{}", ran.stderr);
}

#[test]
fn good_input_exits_zero() {
    let c = case();
    let lines: Vec<String> = vec![r#"{"type":"open_account","account":1,"request_id":1}"#.into()];
    let ran = keel_run_lines(&c.config, &c.work, &lines);
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert_eq!(ran.json_lines().len(), 1);
}

// ---- config errors ----------------------------------------------------------

fn config_error(edit: impl Fn(String) -> String) -> String {
    let c = case();
    let text = edit(std::fs::read_to_string(&c.config).unwrap());
    std::fs::write(&c.config, text).unwrap();
    let lines = vec![r#"{"type":"open_account","account":1,"request_id":1}"#.to_string()];
    let ran = keel_run_lines(&c.config, &c.work, &lines);
    assert_eq!(ran.code, Some(2), "exit status 2 for a bad config: {ran:?}");
    assert!(ran.stdout.is_empty(), "nothing ran: {}", ran.stdout);
    assert!(
        ran.stderr.contains(c.config.to_str().unwrap()),
        "the message names the config file: {}",
        ran.stderr
    );
    ran.stderr
}

#[test]
fn config_unknown_key() {
    let e = config_error(|t| t.replace("[engine]\n", "[engine]\nbogus = 1\n"));
    assert!(
        e.contains("unknown field `bogus`")
            && e.contains("ring_capacity")
            && e.contains("wait_strategy"),
        "names the key and the allowed keys: {e}"
    );
}

#[test]
fn config_bad_enum_value() {
    let e = config_error(|t| {
        t.replace(
            "wait_strategy = \"spin_then_park\"",
            "wait_strategy = \"fast\"",
        )
    });
    assert!(
        e.contains("wait_strategy")
            && e.contains("fast")
            && e.contains("`spin`")
            && e.contains("`yield`")
            && e.contains("`spin_then_park`"),
        "{e}"
    );
}

#[test]
fn config_ring_capacity_not_a_power_of_two() {
    let e = config_error(|t| t.replace("ring_capacity = 1024", "ring_capacity = 1000"));
    assert!(
        e.contains("engine.ring_capacity") && e.contains("1000") && e.contains("power of two"),
        "{e}"
    );
}

#[test]
fn config_missing_journal_section() {
    let e = config_error(|t| {
        let start = t.find("[journal]").unwrap();
        let end = t.find("[limits]").unwrap();
        format!("{}{}", &t[..start], &t[end..])
    });
    assert!(
        e.contains("`journal.dir`") && e.contains("journal.temporary"),
        "{e}"
    );
}

#[test]
fn config_file_missing() {
    let ran = keel(&["run", "--config", "/nonexistent/keel.toml", "--input", "-"]);
    assert_eq!(ran.code, Some(2));
    assert!(
        ran.stderr.contains("/nonexistent/keel.toml"),
        "{}",
        ran.stderr
    );
}

// ---- demo -------------------------------------------------------------------

fn demo_config(work: &Path) -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text =
        std::fs::read_to_string(manifest.join("../../configs/demo.toml")).expect("demo.toml");
    assert!(text.contains("dir = \"keel-data/demo\"") && text.contains("commands = 200000"));
    let text = text
        .replace(
            "dir = \"keel-data/demo\"",
            &format!("dir = \"{}\"", work.join("demo-journal").display()),
        )
        .replace("commands = 200000", "commands = 20000");
    let path = work.join("demo.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn demo_twice_prints_the_same_digest() {
    let tmp = tempfile::tempdir().unwrap();
    let config = demo_config(tmp.path());
    let digest = |ran: &Ran| -> String {
        assert_eq!(ran.code, Some(0), "{ran:?}");
        ran.stdout
            .lines()
            .find(|l| l.starts_with("digest: "))
            .unwrap_or_else(|| panic!("no digest line: {}", ran.stdout))
            .to_owned()
    };
    let first = keel(&["demo", "--config", config.to_str().unwrap()]);
    let a = digest(&first);
    // The second run clears the journal the first one left.
    let second = keel(&["demo", "--config", config.to_str().unwrap()]);
    let b = digest(&second);
    assert_eq!(a, b);
    assert!(first.stdout.contains("commands: "), "{}", first.stdout);
}
