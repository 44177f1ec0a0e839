//! The gateway load bench, briefly and at a low rate: it produces answers,
//! with no error, no rejection and nothing unsent, against the gateway and
//! its echo floor. Timings are never asserted.

use std::process::Command;

use serde_json::Value;

#[test]
fn gateway_load_runs_briefly_with_answers_and_no_errors() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("gateway_load.json");
    let out = Command::new(env!("CARGO_BIN_EXE_gateway_load"))
        .args([
            "--connections",
            "2",
            "--rates",
            "400",
            "--duration",
            "1",
            "--warmup",
            "0.3",
            "--engine-core",
            "none",
            "--json",
        ])
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let steps = doc["steps"].as_array().unwrap();
    let targets: Vec<&str> = steps
        .iter()
        .map(|s| s["target"].as_str().unwrap())
        .collect();
    assert_eq!(targets, ["gateway", "echo"], "{stdout}");
    for s in steps {
        let n = |k: &str| s[k].as_u64().unwrap_or_else(|| panic!("{k} in {s}"));
        assert_eq!(n("planned"), 400, "{s}");
        assert_eq!(n("sent"), 400, "{s}");
        assert_eq!(n("unsent"), 0, "{s}");
        assert_eq!(n("answers"), 400, "every command answered: {s}");
        assert_eq!(n("error_total"), 0, "{s}");
        assert_eq!(
            n("rejected_total"),
            0,
            "the mix is built to be accepted: {s}"
        );
        assert_eq!(s["failures"].as_array().unwrap().len(), 0, "{s}");
        assert_eq!(s["latency_us"]["count"], 400, "{s}");
        // The far orders' ids came back in answers: cancels and amends were sent.
        assert!(s["mix"]["cancel"].as_u64().unwrap() > 0, "{s}");
        assert!(s["mix"]["amend"].as_u64().unwrap() > 0, "{s}");
    }
    let errors = doc["gateway_telemetry"]["errors"].as_object().unwrap();
    assert!(errors.values().all(|v| v == 0), "{errors:?}");
}

/// The stepped fan-out, at one low rate and one run: a step without and
/// one with subscribers, who receive every update the feed queued to them.
#[test]
fn gateway_load_fanout_steps_run_without_and_with_subscribers() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("gateway_load.json");
    let out = Command::new(env!("CARGO_BIN_EXE_gateway_load"))
        .args([
            "--connections",
            "2",
            "--rates",
            "300",
            "--duration",
            "0.5",
            "--warmup",
            "0",
            "--engine-core",
            "none",
            "--no-echo",
            "--subscribers",
            "3",
            "--fanout-rates",
            "300",
            "--fanout-runs",
            "1",
            "--fanout-duration",
            "0.5",
            "--json",
        ])
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("| planned/s | answers/s without |"),
        "{stdout}"
    );
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let rows = doc["fanout"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{stdout}");
    let row = &rows[0];
    assert_eq!(row["rate"], 300);
    let (without, with) = (
        row["without"].as_array().unwrap(),
        row["with"].as_array().unwrap(),
    );
    assert_eq!((without.len(), with.len()), (1, 1), "{row}");
    assert!(without[0]["feed_latency_ms"].is_null(), "{row}");
    let w = &with[0];
    assert!(w["feed_latency_ms"]["p99"].as_f64().is_some(), "{row}");
    let queued = w["feed_queued"].as_u64().unwrap();
    assert!(queued > 0, "the subscribers were sent updates: {row}");
    assert_eq!(w["feed_received"].as_u64().unwrap(), queued, "{row}");
    assert_eq!(w["slow_reader_closes"], 0, "{row}");
}
