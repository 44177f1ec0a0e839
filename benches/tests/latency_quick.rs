//! Runs `latency --quick` into a temp directory and checks that the report,
//! the JSON report, the HdrHistogram logs and the SVG plots exist and are
//! well formed, that rejections and dropped rows are reported per workload,
//! and (on a small LOBSTER file made to be rejected in part) that a run's
//! rejections are counted and shown. Never asserts timings.

use std::path::Path;
use std::process::Command;

use keel_benches::workload::lobster::DROP_REASONS;
use keel_engine::model::RejectReason;
use serde_json::Value;

const HEADER: &str = "| rate (cmd/s) | achieved (cmd/s) | p50 µs | p90 µs | p99 µs | p99.9 µs | p99.99 µs | max µs | journal B/cmd | rejected | note |";

/// Runs `latency --quick` with `config`, into `out`; returns the markdown
/// and the JSON report.
fn run_quick(config: &Path, out: &Path) -> (String, Value) {
    let run = Command::new(env!("CARGO_BIN_EXE_latency"))
        .arg("--config")
        .arg(config)
        .args(["--quick", "--out"])
        .arg(out)
        .output()
        .expect("the latency binary runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "latency --quick failed:\n{stderr}");
    let md = std::fs::read_to_string(out.join("latency.md")).expect("latency.md");
    let json = std::fs::read_to_string(out.join("latency.json")).expect("latency.json");
    let json: Value = serde_json::from_str(&json).expect("latency.json parses");
    (md, json)
}

/// The table rows (cells trimmed, outer pipes dropped) after `header` in
/// the section titled `title`.
fn table<'a>(md: &'a str, title: &str, header: &str) -> Vec<Vec<&'a str>> {
    let at = md
        .find(title)
        .unwrap_or_else(|| panic!("no section {title:?} in\n{md}"));
    let section = &md[at..];
    let table = &section[section
        .find(header)
        .unwrap_or_else(|| panic!("no header in {title:?}"))..];
    table
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            cells[1..cells.len() - 1].to_vec()
        })
        .collect()
}

fn count(cell: &str) -> u64 {
    cell.replace(',', "")
        .parse()
        .unwrap_or_else(|_| panic!("not a count: {cell:?}"))
}

const WORKLOADS_HEADER: &str = "| workload | source | rows read | converted | dropped | dropped by reason | setup commands | measured commands | rejected when built |";

/// Checks the JSON report against itself and the markdown: every step lists
/// every reason code, the counts add up to `rejected`, which is the table's
/// figure; the floor has none; every converted workload lists every drop
/// reason and rows = converted + dropped. Returns the series by slug.
fn check_json(md: &str, json: &Value) -> Vec<(String, Vec<Value>)> {
    for w in json["workloads"].as_array().expect("workloads") {
        if w["rows"].is_null() {
            assert!(w["dropped_by_reason"].is_null());
            continue;
        }
        let reasons = w["dropped_by_reason"].as_object().expect("reasons");
        assert_eq!(
            reasons.keys().map(String::as_str).collect::<Vec<_>>(),
            DROP_REASONS.to_vec()
        );
        let dropped: u64 = reasons.values().map(|n| n.as_u64().unwrap()).sum();
        assert_eq!(w["dropped"].as_u64(), Some(dropped));
        assert_eq!(
            w["rows"].as_u64().unwrap(),
            w["converted"].as_u64().unwrap() + dropped,
            "rows = converted + dropped: {w}"
        );
        assert_eq!(w["converted"], w["measured_commands"]);
    }
    let mut out = Vec::new();
    for s in json["series"].as_array().expect("series") {
        let slug = s["slug"].as_str().unwrap().to_string();
        let rows = s["rows"].as_array().unwrap().clone();
        let title = format!("### {}", s["title"].as_str().unwrap());
        let md_rows = table(md, &title, HEADER);
        assert_eq!(
            md_rows.len(),
            rows.len(),
            "{slug}: same rows in both reports"
        );
        for (row, cells) in rows.iter().zip(&md_rows) {
            assert_eq!(cells.len(), 11, "{slug}: malformed row {cells:?}");
            if slug == "floor" {
                assert!(row["rejected"].is_null() && row["rejections"].is_null());
                assert_eq!(cells[9], "—");
                continue;
            }
            let by_code = row["rejections"].as_object().expect("rejections");
            assert_eq!(
                by_code.keys().map(String::as_str).collect::<Vec<_>>(),
                RejectReason::CODES.to_vec(),
                "{slug}: every reason code, in order"
            );
            let total: u64 = by_code.values().map(|n| n.as_u64().unwrap()).sum();
            assert_eq!(row["rejected"].as_u64(), Some(total), "{slug}");
            assert_eq!(count(cells[9]), total, "{slug}: the rejected column");
            assert_eq!(
                cells[10].contains("REJECTED"),
                total > 0,
                "{slug}: a step with rejections says so: {cells:?}"
            );
            assert!(row["error"].is_null(), "{slug}: {}", row["error"]);
            assert_eq!(row["sent"], row["received"], "{slug}");
        }
        out.push((slug, rows));
    }
    out
}

use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use hdrhistogram::serialization::Deserializer;

#[test]
fn quick_run_writes_a_well_formed_report() {
    let out = tempfile::tempdir().unwrap();
    let config = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../configs/bench.toml"
    ));
    let (md, json) = run_quick(config, out.path());
    let header = HEADER;
    let series = check_json(&md, &json);
    let amzn = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/data/lobster/AMZN_2012-06-21_34200000_57600000_message_1.csv"
    ));
    let mut slugs = vec!["floor", "synthetic-none", "synthetic-batch"];
    if amzn.exists() {
        slugs.extend(["lobster-none", "lobster-batch"]);
    } else {
        let why = format!(
            "LOBSTER data {} not found (it belongs in ../shared/data/lobster/ beside the repository root): \
             the lobster-none and lobster-batch sections are not checked",
            amzn.display()
        );
        let ci = std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
        assert!(
            !ci,
            "{why}. CI=true: missing data is a failure here, not a skip"
        );
        eprintln!("SKIP part: {why}");
    }
    let workloads = table(&md, "### Workloads", WORKLOADS_HEADER);
    let names: Vec<&str> = workloads.iter().map(|w| w[0]).collect();
    assert_eq!(
        names,
        slugs[1..]
            .iter()
            .step_by(2)
            .map(|s| s.split('-').next().unwrap())
            .collect::<Vec<_>>()
    );
    for w in &workloads {
        assert_eq!(w.len(), 9, "malformed workload row {w:?}");
        if w[0] == "lobster" {
            // Quick: the first rows of the day, converted or dropped.
            let rows = count(w[2].split(" of ").next().unwrap());
            assert_eq!(rows, count(w[3]) + count(w[4]), "{w:?}");
            assert_eq!(count(w[3]), count(w[7]));
            assert!(w[5].contains("hidden_execution"), "{w:?}");
        } else {
            assert_eq!((w[2], w[3], w[4], w[5]), ("—", "—", "—", "—"));
        }
    }
    assert_eq!(
        series.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>(),
        slugs,
        "the JSON holds every series"
    );
    for slug in &slugs {
        // A table per configuration, with a row per rate that ran.
        let title = match *slug {
            "floor" => "### floor".to_string(),
            s => {
                let (w, d) = s.split_once('-').unwrap();
                format!("### {w} workload, durability = {d}")
            }
        };
        let at = md
            .find(&title)
            .unwrap_or_else(|| panic!("no section {title:?} in\n{md}"));
        let section = &md[at..];
        let table = &section[section
            .find(header)
            .unwrap_or_else(|| panic!("no header for {slug}"))..];
        let rows: Vec<&str> = table
            .lines()
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .collect();
        assert!(!rows.is_empty(), "{slug}: no rows");
        for row in &rows {
            assert_eq!(
                row.matches('|').count(),
                12,
                "{slug}: malformed row {row:?}"
            );
            let rate = row.split('|').nth(1).unwrap().trim();
            assert!(
                rate.ends_with('K') || rate.ends_with('M'),
                "{slug}: rate {rate:?}"
            );
        }
        if *slug != "floor" {
            assert!(section.contains("Keel ÷ floor"), "{slug}: no ratio table");
        }

        // The interval log: non-empty, every histogram parses and has counts.
        let hlog = std::fs::read(out.path().join("hlog").join(format!("{slug}.hlog"))).unwrap();
        assert!(!hlog.is_empty(), "{slug}.hlog is empty");
        let mut histograms = 0;
        for entry in IntervalLogIterator::new(&hlog) {
            if let LogEntry::Interval(h) = entry.expect("log parses") {
                let bytes = base64_decode(h.encoded_histogram());
                let hist: hdrhistogram::Histogram<u64> = Deserializer::new()
                    .deserialize(&mut bytes.as_slice())
                    .expect("histogram deserializes");
                assert!(!hist.is_empty(), "{slug}: empty histogram");
                assert!(h.tag().unwrap().as_str().starts_with("rate-"));
                histograms += 1;
            }
        }
        assert_eq!(histograms, rows.len(), "{slug}: one histogram per rate");

        // The SVG: well formed enough to open.
        let svg = std::fs::read_to_string(out.path().join(format!("{slug}.svg"))).unwrap();
        let head = svg.trim_start();
        assert!(
            head.starts_with("<svg") || head.starts_with("<?xml"),
            "{slug}.svg head"
        );
        assert!(svg.trim_end().ends_with("</svg>"), "{slug}.svg tail");
        assert!(svg.contains("99.99%"), "{slug}.svg: no percentile labels");
        assert!(
            svg.contains("<polyline") || svg.contains("<path"),
            "{slug}.svg: no lines"
        );
    }
}

/// A small LOBSTER file built to be partly rejected (type-1 rows of zero
/// size) and partly dropped (every drop reason the converter can meet in
/// it): the run must count the rejections at every rate, say so, and report
/// the dropped rows.
#[test]
fn quick_run_counts_and_shows_rejections() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::new();
    let mut t = 34_200.0f64;
    let mut row = |kind: i64, id: u64, size: u64, price: u64, dir: i64| {
        t += 0.001;
        csv.push_str(&format!("{t:.9},{kind},{id},{size},{price},{dir}\n"));
    };
    for i in 0..100 {
        row(1, 1 + i, 10, 50_000 - i, 1); // bids
        row(1, 101 + i, 10, 60_000 + i, -1); // asks
    }
    for i in 0..20 {
        row(1, 300 + i, 0, 55_000, 1); // zero size: rejected zero_value
    }
    for i in 0..20 {
        row(3, 300 + i, 0, 55_000, 1); // dropped: rejected_order
    }
    for _ in 0..10 {
        row(5, 0, 5, 55_000, 1); // dropped: hidden_execution
    }
    row(7, 0, 0, 0, 0); // dropped: trading_halt
    row(6, 0, 50, 55_000, 1); // dropped: cross_trade
    for i in 0..5 {
        row(3, 9_000 + i, 1, 55_000, 1); // dropped: unknown_order
    }
    for i in 0..50 {
        row(3, 1 + i, 10, 50_000 - i, 1); // cancels
    }
    for i in 0..10 {
        row(3, 1 + i, 10, 50_000 - i, 1); // dropped: order_gone
    }
    for i in 0..50 {
        row(4, 101 + i, 10, 60_000 + i, -1); // executions of the asks
    }
    let file = dir.path().join("TEST_message.csv");
    std::fs::write(&file, &csv).unwrap();

    let base = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../configs/bench.toml"
    ))
    .unwrap();
    let mut config = base.clone();
    for (from, to) in [
        (
            "workloads = [\"synthetic\", \"lobster\"]",
            "workloads = [\"lobster\"]".to_string(),
        ),
        (
            "durability = [\"none\", \"batch\"]",
            "durability = [\"none\"]".into(),
        ),
        ("floor = true", "floor = false".into()),
        ("base = \"AMZN\"", "base = \"TEST\"".into()),
    ] {
        assert!(config.contains(from), "configs/bench.toml has {from:?}");
        config = config.replacen(from, &to, 1);
    }
    let file_line = config
        .lines()
        .find(|l| l.starts_with("file = "))
        .expect("a lobster file line")
        .to_string();
    config = config.replacen(
        &file_line,
        &format!("file = {:?}", file.display().to_string()),
        1,
    );
    let config_path = dir.path().join("bench.toml");
    std::fs::write(&config_path, config).unwrap();

    let out = dir.path().join("report");
    let (md, json) = run_quick(&config_path, &out);
    let series = check_json(&md, &json);
    assert_eq!(series.len(), 1, "lobster-none only");
    let (slug, rows) = &series[0];
    assert_eq!(slug, "lobster-none");
    assert!(!rows.is_empty());
    for row in rows {
        // Every rate replays the whole file: the same 20 rejections.
        assert_eq!(row["rejected"], 20, "{row}");
        assert_eq!(row["rejections"]["zero_value"], 20, "{row}");
        assert!(
            row["note"]
                .as_str()
                .unwrap()
                .contains("REJECTED: zero_value=20"),
            "{row}"
        );
    }
    let w = &json["workloads"][0];
    assert_eq!(w["rows"], 367);
    assert_eq!(w["converted"], 320);
    assert_eq!(w["dropped"], 47);
    let expected = [
        ("hidden_execution", 10),
        ("cross_trade", 1),
        ("trading_halt", 1),
        ("unknown_type", 0),
        ("unknown_order", 5),
        ("rejected_order", 20),
        ("order_gone", 10),
    ];
    for (reason, n) in expected {
        assert_eq!(w["dropped_by_reason"][reason], n, "{reason}: {w}");
    }
    assert_eq!(w["rejected_when_built"], 20);
    let workloads = table(&md, "### Workloads", WORKLOADS_HEADER);
    assert_eq!(
        workloads[0][2..6],
        [
            "367",
            "320",
            "47",
            "hidden_execution 10, cross_trade 1, trading_halt 1, unknown_order 5, rejected_order 20, order_gone 10"
        ]
    );
    assert_eq!(workloads[0][8], "20 (zero_value=20)");
}

/// Standard base64 (the interval log's encoding), no dependency needed.
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    } as u32;
    let bytes: Vec<u8> = text.bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= value(c) << (18 - 6 * i);
        }
        let n = chunk.len() * 6 / 8;
        for i in 0..n {
            out.push((acc >> (16 - 8 * i)) as u8);
        }
    }
    out
}
