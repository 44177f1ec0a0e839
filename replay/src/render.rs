//! Rendering helpers: aligned tables, `key=value` text from JSON objects,
//! signed decimal amounts, CSV fields.

use std::borrow::Cow;
use std::io::{self, Write};

use keel_engine::model::AssetId;
use keel_engine::Registry;
use serde_json::Value;

/// Writes `rows` under `headers`, columns left-aligned and padded.
pub fn table(
    out: &mut dyn Write,
    indent: &str,
    headers: &[&str],
    rows: &[Vec<String>],
) -> io::Result<()> {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(cell.len());
            }
        }
    }
    let line = |out: &mut dyn Write, cells: &mut dyn Iterator<Item = &str>| -> io::Result<()> {
        let mut s = String::from(indent);
        for (i, cell) in cells.enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            s.push_str(cell);
            if i + 1 < widths.len() {
                s.extend(std::iter::repeat_n(
                    ' ',
                    widths[i].saturating_sub(cell.len()),
                ));
            }
        }
        writeln!(out, "{}", s.trim_end())
    };
    line(out, &mut headers.iter().copied())?;
    for row in rows {
        line(out, &mut row.iter().map(String::as_str))?;
    }
    Ok(())
}

/// The fields of a JSON object as `key=value` (strings unquoted), in key
/// order (whatever serde_json's map order), leaving out `type` and the keys
/// in `skip`.
pub fn kv_text(v: &Value, skip: &[&str]) -> String {
    let mut s = String::new();
    if let Value::Object(map) = v {
        let mut fields: Vec<(&String, &Value)> = map.iter().collect();
        fields.sort_by(|a, b| a.0.cmp(b.0));
        for (k, val) in fields {
            if k == "type" || skip.contains(&k.as_str()) {
                continue;
            }
            if !s.is_empty() {
                s.push(' ');
            }
            s.push_str(k);
            s.push('=');
            match val {
                Value::String(t) => s.push_str(t),
                Value::Null => s.push('-'),
                other => s.push_str(&other.to_string()),
            }
        }
    }
    s
}

/// `delta` minor units of `asset` as a signed decimal (`+1.5`, `-0.25`, `0`).
pub fn signed_amount(r: &Registry, asset: AssetId, delta: i128) -> String {
    let magnitude = delta.unsigned_abs();
    let text = match u64::try_from(magnitude) {
        Ok(m) => r.format_amount(asset, m),
        Err(_) => format!("{magnitude} minor units"),
    };
    match delta.signum() {
        1 => format!("+{text}"),
        -1 => format!("-{text}"),
        _ => text,
    }
}

/// A CSV field, quoted when needed (RFC 4180).
pub fn csv_field(s: &str) -> Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) {
        Cow::Owned(format!("\"{}\"", s.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(s)
    }
}

pub fn csv_line(out: &mut dyn Write, cells: &[String]) -> io::Result<()> {
    let line: Vec<Cow<'_, str>> = cells.iter().map(|c| csv_field(c)).collect();
    writeln!(out, "{}", line.join(","))
}
