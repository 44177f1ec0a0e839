//! Runs `latency --quick` into a temp directory and checks that the report,
//! the HdrHistogram logs and the SVG plots exist and are well formed. Never
//! asserts timings.

use std::path::Path;
use std::process::Command;

use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use hdrhistogram::serialization::Deserializer;

#[test]
fn quick_run_writes_a_well_formed_report() {
    let out = tempfile::tempdir().unwrap();
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../configs/bench.toml");
    let run = Command::new(env!("CARGO_BIN_EXE_latency"))
        .args(["--config", config, "--quick", "--out"])
        .arg(out.path())
        .output()
        .expect("the latency binary runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "latency --quick failed:\n{stderr}");

    let md = std::fs::read_to_string(out.path().join("latency.md")).expect("latency.md");
    let header = "| rate (cmd/s) | achieved (cmd/s) | p50 µs | p90 µs | p99 µs | p99.9 µs | p99.99 µs | max µs | journal B/cmd | note |";
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
                11,
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
