//! Report writers: the markdown table, HdrHistogram interval logs (V2
//! serialization, one tagged histogram per rate) and an SVG percentile plot.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, SystemTime};

use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::V2Serializer;
use hdrhistogram::Histogram;
use plotters::prelude::*;

use super::run::StepResult;

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

/// The markdown table of one series; with `floor`, a second table of
/// Keel ÷ floor per percentile at the same rate.
pub fn markdown_table(series: &Series, floor: Option<&Series>) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "### {}\n", series.title);
    let _ = writeln!(
        s,
        "| rate (cmd/s) | achieved (cmd/s) | p50 µs | p90 µs | p99 µs | p99.9 µs | p99.99 µs | max µs | journal B/cmd | note |"
    );
    let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for row in &series.rows {
        let r = &row.result;
        let l = latencies(&r.hist);
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
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
