//! Report writers: the markdown tables (workloads, one per configuration),
//! the JSON report (`latency.json`: every figure of the tables, with the
//! rejections and dropped rows by reason, zeros included), HdrHistogram
//! interval logs (V2 serialization, one tagged histogram per rate) and an SVG
//! percentile plot.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, SystemTime};

use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::V2Serializer;
use hdrhistogram::Histogram;
use keel_engine::model::RejectReason;
use plotters::prelude::*;
use serde_json::{json, Map, Value};

use super::run::{rejections_text, Rejections, StepResult};

/// The percentiles reported, with their labels.
pub const PERCENTILES: [(f64, &str); 5] = [
    (50.0, "p50"),
    (90.0, "p90"),
    (99.0, "p99"),
    (99.9, "p99.9"),
    (99.99, "p99.99"),
];

/// One rate step of one configuration.
#[derive(Clone, Debug)]
pub struct Row {
    pub result: StepResult,
    pub journal_bytes_per_cmd: Option<f64>,
    pub saturated: bool,
    pub note: String,
}

/// All the rate steps of one configuration (workload × durability, or the
/// floor).
#[derive(Clone, Debug)]
pub struct Series {
    pub title: String,
    /// File-name stem.
    pub slug: String,
    pub rows: Vec<Row>,
}

/// What a workload is made of, for the report: for a converted file, the
/// rows read, converted and dropped (by reason); for every workload, the
/// commands and the rejections its builder saw while simulating it.
#[derive(Clone, Debug)]
pub struct WorkloadInfo {
    pub name: String,
    /// Where the commands come from (a file, a generator and its seed).
    pub source: String,
    /// Non-blank lines of the source file (`None`: generated).
    pub rows_in_file: Option<usize>,
    /// Rows read (all of them, or the first `max_rows`).
    pub rows: Option<usize>,
    /// Rows turned into commands.
    pub converted: Option<usize>,
    /// Rows dropped, by reason, every reason listed (zeros included).
    pub dropped: Option<Vec<(&'static str, usize)>>,
    pub setup_commands: usize,
    pub measured_commands: usize,
    /// Rejections the builder's own simulation of the measured commands
    /// saw, by reason code; `None` when it knows only that there were some.
    pub rejected_when_built: Option<Rejections>,
    /// Total rejections the builder saw.
    pub rejected_when_built_total: u64,
}

impl WorkloadInfo {
    pub fn dropped_total(&self) -> Option<usize> {
        self.dropped
            .as_ref()
            .map(|d| d.iter().map(|(_, n)| n).sum())
    }
}

/// Formats an integer with thousands separators (`57,515`).
pub fn fmt_count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The markdown table of the workloads: rows, converted, dropped by reason,
/// commands and the rejections seen while building them.
pub fn workloads_table(workloads: &[WorkloadInfo]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "### Workloads
"
    );
    let _ = writeln!(
        s,
        "| workload | source | rows read | converted | dropped | dropped by reason | setup commands | measured commands | rejected when built |"
    );
    let _ = writeln!(s, "|---|---|---:|---:|---:|---|---:|---:|---|");
    let opt = |n: Option<usize>| n.map_or("—".to_string(), |n| fmt_count(n as u64));
    for w in workloads {
        let rows = match (w.rows, w.rows_in_file) {
            (Some(r), Some(f)) if r != f => {
                format!("{} of {}", fmt_count(r as u64), fmt_count(f as u64))
            }
            (r, _) => opt(r),
        };
        let by_reason = w.dropped.as_ref().map_or("—".to_string(), |d| {
            let parts: Vec<String> = d
                .iter()
                .filter(|(_, n)| *n > 0)
                .map(|(r, n)| format!("{r} {}", fmt_count(*n as u64)))
                .collect();
            if parts.is_empty() {
                "none".into()
            } else {
                parts.join(", ")
            }
        });
        let built = match &w.rejected_when_built {
            Some(r) if w.rejected_when_built_total > 0 => {
                format!(
                    "{} ({})",
                    fmt_count(w.rejected_when_built_total),
                    rejections_text(r)
                )
            }
            _ => fmt_count(w.rejected_when_built_total),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            w.name,
            w.source,
            rows,
            opt(w.converted),
            opt(w.dropped_total()),
            by_reason,
            fmt_count(w.setup_commands as u64),
            fmt_count(w.measured_commands as u64),
            built
        );
    }
    s.push('\n');
    s
}

/// Every reason code with its count, zeros included, as a JSON object.
fn rejections_json(r: &Rejections) -> Value {
    let mut m = Map::new();
    for (code, n) in RejectReason::CODES.iter().zip(r) {
        m.insert((*code).to_string(), json!(n));
    }
    Value::Object(m)
}

/// The JSON report: `workloads` (as [`workloads_table`]) and `series`, each
/// with its rows (rate, achieved, commands sent and received, percentiles
/// in ns, journal bytes, rejected and rejections by reason code).
pub fn json_report(header: Value, workloads: &[WorkloadInfo], series: &[&Series]) -> Value {
    let workloads: Vec<Value> = workloads
        .iter()
        .map(|w| {
            json!({
                "name": w.name,
                "source": w.source,
                "rows_in_file": w.rows_in_file,
                "rows": w.rows,
                "converted": w.converted,
                "dropped": w.dropped_total(),
                "dropped_by_reason": w.dropped.as_ref().map(|d| {
                    Value::Object(d.iter().map(|(r, n)| ((*r).to_string(), json!(n))).collect())
                }),
                "setup_commands": w.setup_commands,
                "measured_commands": w.measured_commands,
                "rejected_when_built": w.rejected_when_built_total,
                "rejections_when_built": w.rejected_when_built.as_ref().map(rejections_json),
            })
        })
        .collect();
    let series: Vec<Value> = series
        .iter()
        .map(|s| {
            let rows: Vec<Value> = s
                .rows
                .iter()
                .map(|row| {
                    let r = &row.result;
                    let l = latencies(&r.hist);
                    let mut lat = Map::new();
                    for (i, (_, label)) in PERCENTILES.iter().enumerate() {
                        lat.insert(format!("{label}_ns"), json!(l[i]));
                    }
                    lat.insert("max_ns".into(), json!(l[5]));
                    json!({
                        "rate": r.rate,
                        "achieved": r.achieved,
                        "sent": r.sent,
                        "received": r.received,
                        "warmup": r.warmup,
                        "recorded": r.hist.len(),
                        "latency": Value::Object(lat),
                        "journal_bytes_per_cmd": row.journal_bytes_per_cmd,
                        "saturated": row.saturated,
                        "rejected": r.rejected(),
                        "rejections": r.rejections.as_ref().map(rejections_json),
                        "error": r.error,
                        "note": row.note,
                    })
                })
                .collect();
            json!({ "slug": s.slug, "title": s.title, "rows": rows })
        })
        .collect();
    json!({ "report": header, "workloads": workloads, "series": series })
}

/// p50, p90, p99, p99.9, p99.99 and max, in ns.
pub fn latencies(h: &Histogram<u64>) -> [u64; 6] {
    let mut out = [0; 6];
    for (i, (p, _)) in PERCENTILES.iter().enumerate() {
        out[i] = h.value_at_percentile(*p);
    }
    out[5] = h.max();
    out
}

pub fn fmt_us(ns: u64) -> String {
    let us = ns as f64 / 1000.0;
    if us >= 100.0 {
        format!("{us:.0}")
    } else if us >= 10.0 {
        format!("{us:.1}")
    } else {
        format!("{us:.2}")
    }
}

pub fn fmt_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2}M", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.0}K", r / 1e3)
    } else {
        format!("{r:.0}")
    }
}

/// The header of every configuration's table.
pub const TABLE_HEADER: &str = "| rate (cmd/s) | achieved (cmd/s) | p50 µs | p90 µs | p99 µs | p99.9 µs | p99.99 µs | max µs | journal B/cmd | rejected | note |";

/// The markdown table of one series; with `floor`, a second table of
/// Keel ÷ floor per percentile at the same rate.
pub fn markdown_table(series: &Series, floor: Option<&Series>) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "### {}\n", series.title);
    let _ = writeln!(s, "{TABLE_HEADER}");
    let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for row in &series.rows {
        let r = &row.result;
        let l = latencies(&r.hist);
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            fmt_rate(r.rate as f64),
            fmt_rate(r.achieved),
            fmt_us(l[0]),
            fmt_us(l[1]),
            fmt_us(l[2]),
            fmt_us(l[3]),
            fmt_us(l[4]),
            fmt_us(l[5]),
            row.journal_bytes_per_cmd
                .map_or("—".to_string(), |b| format!("{b:.0}")),
            r.rejected().map_or("—".to_string(), fmt_count),
            row.note
        );
    }
    if let Some(floor) = floor {
        let _ = writeln!(s, "\nKeel ÷ floor (same rate):\n");
        let _ = writeln!(
            s,
            "| rate (cmd/s) | p50 | p90 | p99 | p99.9 | p99.99 | max |"
        );
        let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|---:|");
        for row in &series.rows {
            let r = &row.result;
            let Some(f) = floor.rows.iter().find(|f| f.result.rate == r.rate) else {
                continue;
            };
            let (k, fl) = (latencies(&r.hist), latencies(&f.result.hist));
            let ratio = |i: usize| format!("{:.1}×", k[i] as f64 / fl[i].max(1) as f64);
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} |",
                fmt_rate(r.rate as f64),
                ratio(0),
                ratio(1),
                ratio(2),
                ratio(3),
                ratio(4),
                ratio(5)
            );
        }
    }
    s.push('\n');
    s
}

/// Writes one interval log with one histogram per rate, tagged `rate-<N>`.
pub fn write_hlog(path: &Path, series: &Series) -> std::io::Result<()> {
    let mut buf = Vec::new();
    {
        let mut serializer = V2Serializer::new();
        let start = SystemTime::now();
        let mut writer = IntervalLogWriterBuilder::new()
            .add_comment(&format!(
                "Keel latency, {}: ns from planned send to output received",
                series.title
            ))
            .with_start_time(start)
            .with_base_time(start)
            .with_max_value_divisor(1000.0)
            .begin_log_with(&mut buf, &mut serializer)
            .map_err(std::io::Error::other)?;
        let mut at = Duration::ZERO;
        for row in &series.rows {
            let tag = format!("rate-{}", row.result.rate);
            writer
                .write_histogram(&row.result.hist, at, row.result.wall, Tag::new(&tag))
                .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
            at += row.result.wall;
        }
    }
    std::fs::write(path, buf)
}

/// `log10(1 / (1 − p))`: the x position of percentile `p` (in %).
fn x_of(p: f64) -> f64 {
    (1.0 / (1.0 - p / 100.0)).log10()
}

/// Writes the percentile plot: latency (log scale) against percentile on a
/// `1/(1−p)` log axis, one line per rate.
pub fn write_svg(path: &Path, series: &Series) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let rows: Vec<&Row> = series
        .rows
        .iter()
        .filter(|r| !r.result.hist.is_empty())
        .collect();
    let x_max = 4.5f64;
    let (mut y_min, mut y_max) = (f64::MAX, 0f64);
    for r in &rows {
        y_min = y_min.min(r.result.hist.min().max(1) as f64 / 1000.0);
        y_max = y_max.max(r.result.hist.max() as f64 / 1000.0);
    }
    if rows.is_empty() {
        (y_min, y_max) = (0.1, 10.0);
    }
    let (y_min, y_max) = (y_min * 0.8, (y_max * 1.25).max(y_min * 2.0));
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(&series.title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(65)
        .build_cartesian_2d(0f64..x_max, (y_min..y_max).log_scale())
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .x_desc("percentile")
        .y_desc("latency (µs, log)")
        .draw()
        .map_err(|e| err(&e))?;
    // Percentile labels and grid lines at 50%, 90%, 99%, 99.9%, 99.99%.
    for (p, label) in [
        (50.0, "50%"),
        (90.0, "90%"),
        (99.0, "99%"),
        (99.9, "99.9%"),
        (99.99, "99.99%"),
    ] {
        let x = x_of(p);
        chart
            .draw_series(LineSeries::new(
                [(x, y_min), (x, y_max)],
                RGBColor(220, 220, 220),
            ))
            .map_err(|e| err(&e))?;
        let (px, py) = chart.backend_coord(&(x, y_min));
        root.draw(&Text::new(
            label.to_string(),
            (px - 14, py + 6),
            ("sans-serif", 13).into_font(),
        ))
        .map_err(|e| err(&e))?;
    }
    for (i, row) in rows.iter().enumerate() {
        let h = &row.result.hist;
        let color = Palette99::pick(i).to_rgba();
        let n = h.len().max(2) as f64;
        let x_end = x_max.min(n.log10());
        let mut points = Vec::new();
        let mut x = 0.0;
        while x <= x_end + 1e-9 {
            let q = 1.0 - 10f64.powf(-x);
            points.push((x, h.value_at_quantile(q).max(1) as f64 / 1000.0));
            x += 0.02;
        }
        let label = format!(
            "{} cmd/s{}",
            fmt_rate(row.result.rate as f64),
            if row.saturated { " (saturated)" } else { "" }
        );
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_have_thousands_separators() {
        let cases = [
            (0, "0"),
            (999, "999"),
            (1_000, "1,000"),
            (57_515, "57,515"),
            (1_234_567, "1,234,567"),
        ];
        for (n, text) in cases {
            assert_eq!(fmt_count(n), text);
        }
    }
}
