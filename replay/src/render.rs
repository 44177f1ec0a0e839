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

/// Table cells kept in one string (no allocation per cell), written by
/// [`Cells::write_table`] exactly as [`table`] writes the same cells.
#[derive(Default)]
pub struct Cells {
    text: String,
    ends: Vec<usize>,
}

impl Cells {
    pub fn new() -> Cells {
        Cells::default()
    }

    /// The text of the cell being written (end it with [`Cells::end`]).
    #[inline]
    pub fn buf(&mut self) -> &mut String {
        &mut self.text
    }

    /// Ends the cell being written.
    #[inline]
    pub fn end(&mut self) {
        self.ends.push(self.text.len());
    }

    /// A whole cell.
    #[inline]
    pub fn str(&mut self, s: &str) {
        self.text.push_str(s);
        self.end();
    }

    /// A whole cell: an unsigned integer.
    #[inline]
    pub fn uint(&mut self, v: u64) {
        push_uint(&mut self.text, v);
        self.end();
    }

    fn cell(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }

    /// Writes the cells, `headers.len()` to a row, under `headers`: the same
    /// bytes as [`table`] with the same rows.
    pub fn write_table(&self, out: &mut Vec<u8>, indent: &str, headers: &[&str]) {
        let cols = headers.len().max(1);
        let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
        for i in 0..self.ends.len() {
            let w = &mut widths[i % cols];
            *w = (*w).max(self.cell(i).len());
        }
        let mut line = String::with_capacity(256);
        let mut put = |out: &mut Vec<u8>, cells: &mut dyn Iterator<Item = &str>| {
            line.clear();
            line.push_str(indent);
            for (i, cell) in cells.enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(cell);
                if i + 1 < widths.len() {
                    for _ in 0..widths[i].saturating_sub(cell.len()) {
                        line.push(' ');
                    }
                }
            }
            out.extend_from_slice(line.trim_end().as_bytes());
            out.push(b'\n');
        };
        put(out, &mut headers.iter().copied());
        let rows = self.ends.len() / cols;
        for r in 0..rows {
            put(out, &mut (r * cols..(r + 1) * cols).map(|i| self.cell(i)));
        }
    }
}

/// Appends `v` in decimal.
#[inline]
pub fn push_uint(s: &mut String, v: u64) {
    s.push_str(itoa::Buffer::new().format(v));
}

/// Appends `value × 10^-scale` as a plain decimal: the same text as
/// `keel_engine::model::decimal::format_scaled`, in 64-bit arithmetic where
/// the value and scale allow.
#[inline]
pub fn push_scaled(s: &mut String, value: u128, scale: u8) {
    if scale == 0 {
        if let Ok(v) = u64::try_from(value) {
            push_uint(s, v);
            return;
        }
    } else if scale <= 19 {
        if let Ok(v) = u64::try_from(value) {
            let div = 10u64.pow(scale as u32);
            push_uint(s, v / div);
            s.push('.');
            let mut frac = itoa::Buffer::new();
            let frac = frac.format(v % div);
            for _ in frac.len()..scale as usize {
                s.push('0');
            }
            s.push_str(frac);
            return;
        }
    }
    let _ = keel_engine::model::decimal::format_scaled(s, value, scale);
}

/// [`Registry::format_amount`], appended.
#[inline]
pub fn push_amount(s: &mut String, r: &Registry, asset: AssetId, minor: u64) {
    push_scaled(s, minor as u128, r.asset_scale(asset).unwrap_or(0));
}

/// [`Registry::format_price`], appended.
#[inline]
pub fn push_price(s: &mut String, r: &Registry, symbol: keel_engine::model::SymbolId, ticks: u64) {
    match r.symbol_spec(symbol) {
        Some(spec) => push_scaled(
            s,
            spec.tick_size.mantissa as u128 * ticks as u128,
            spec.tick_size.scale,
        ),
        None => {
            push_uint(s, ticks);
            s.push_str(" ticks");
        }
    }
}

/// [`Registry::format_qty`], appended.
#[inline]
pub fn push_qty(s: &mut String, r: &Registry, symbol: keel_engine::model::SymbolId, lots: u64) {
    match r.symbol_spec(symbol) {
        Some(spec) => push_scaled(
            s,
            spec.lot_size.mantissa as u128 * lots as u128,
            spec.lot_size.scale,
        ),
        None => {
            push_uint(s, lots);
            s.push_str(" lots");
        }
    }
}

/// [`Registry::asset_name`], appended.
#[inline]
pub fn push_asset_name(s: &mut String, r: &Registry, asset: AssetId) {
    match r.asset_name_if_known(asset) {
        Some(n) => s.push_str(n),
        None => {
            s.push('#');
            push_uint(s, asset as u64);
        }
    }
}

/// [`Registry::symbol_name`], appended.
#[inline]
pub fn push_symbol_name(s: &mut String, r: &Registry, symbol: keel_engine::model::SymbolId) {
    match r.symbol_name_if_known(symbol) {
        Some(n) => s.push_str(n),
        None => {
            s.push('#');
            push_uint(s, symbol as u64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reference(value: u128, scale: u8) -> String {
        let mut s = String::new();
        keel_engine::model::decimal::format_scaled(&mut s, value, scale).unwrap();
        s
    }

    #[test]
    fn push_scaled_edges() {
        for scale in 0..=38u8 {
            for value in [
                0u128,
                1,
                9,
                10,
                999_999,
                u64::MAX as u128 - 1,
                u64::MAX as u128,
                u64::MAX as u128 + 1,
                u128::MAX,
            ] {
                let mut s = String::from("x");
                push_scaled(&mut s, value, scale);
                assert_eq!(
                    s,
                    format!("x{}", reference(value, scale)),
                    "{value} {scale}"
                );
            }
        }
    }

    proptest! {
        #[test]
        fn push_scaled_writes_what_format_scaled_writes(value in any::<u128>(), small in any::<u64>(), scale in 0u8..=38) {
            for v in [value, small as u128] {
                let mut s = String::new();
                push_scaled(&mut s, v, scale);
                prop_assert_eq!(s, reference(v, scale));
            }
        }
    }

    #[test]
    fn cells_write_the_bytes_table_writes() {
        let rows = vec![
            vec!["1".to_string(), "BTC".into(), "".into()],
            vec!["22".to_string(), "".into(), "0.5".into()],
            vec!["333333".to_string(), "a b".into(), "x".into()],
        ];
        let headers = ["id", "asset", "v"];
        let mut want = Vec::new();
        table(&mut want, "  ", &headers, &rows).unwrap();
        let mut cells = Cells::new();
        for row in &rows {
            for c in row {
                cells.str(c);
            }
        }
        let mut got = Vec::new();
        cells.write_table(&mut got, "  ", &headers);
        assert_eq!(
            String::from_utf8(got).unwrap(),
            String::from_utf8(want).unwrap()
        );
        // No rows: the header line only, as `table` writes it.
        let mut want = Vec::new();
        table(&mut want, "  ", &headers, &[]).unwrap();
        let mut got = Vec::new();
        Cells::new().write_table(&mut got, "  ", &headers);
        assert_eq!(got, want);
    }
}
