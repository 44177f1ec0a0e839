//! Helpers for the binary's integration tests (`cli_*.rs`): JSON command
//! streams and running `keel`. The runtime helpers they build on are
//! `keel-engine`'s (`engine/runtime/tests/runtime_support`).

#![allow(dead_code)]

use std::path::Path;

use keel_engine::AccountId;

use crate::runtime_support::Rng;

// ---- JSON command lines (for the binary) ------------------------------------

/// A JSON command-line stream for `keel run` with the [`Cfg`] genesis:
/// accounts opened and funded, then crossing limit orders, cancels, amends.
pub struct JsonFlow {
    rng: Rng,
    accounts: Vec<AccountId>,
    next_rid: std::collections::HashMap<AccountId, u64>,
    /// Simulated timestamps when set.
    pub ts: Option<u64>,
    /// Order ids to aim cancels and amends at (guessed; misses are rejected).
    pub order_hint: u64,
}

impl JsonFlow {
    pub fn new(seed: u64, accounts: Vec<AccountId>, ts: Option<u64>) -> JsonFlow {
        JsonFlow {
            rng: Rng::new(seed),
            accounts,
            next_rid: Default::default(),
            ts,
            order_hint: 1,
        }
    }

    fn rid(&mut self, account: AccountId) -> u64 {
        let r = self.next_rid.entry(account).or_insert(1);
        let v = *r;
        *r += 1;
        v
    }

    fn ts_field(&mut self) -> String {
        match &mut self.ts {
            Some(t) => {
                *t += 1_000;
                format!(r#","ts":{t}"#)
            }
            None => String::new(),
        }
    }

    /// Opening and funding lines for every account.
    pub fn setup(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        for a in self.accounts.clone() {
            let (r1, r2, r3) = (self.rid(a), self.rid(a), self.rid(a));
            let t = self.ts_field();
            lines.push(format!(
                r#"{{"type":"open_account","account":{a},"request_id":{r1}{t}}}"#
            ));
            let t = self.ts_field();
            lines.push(format!(
                r#"{{"type":"deposit","account":{a},"request_id":{r2},"asset":"BTC","amount":"50"{t}}}"#
            ));
            let t = self.ts_field();
            lines.push(format!(
                r#"{{"type":"deposit","account":{a},"request_id":{r3},"asset":"USD","amount":"5000000"{t}}}"#
            ));
        }
        lines
    }

    /// One trading line: mostly crossing limit orders, some cancels, amends,
    /// IOCs and GTDs (when simulated).
    pub fn next_line(&mut self) -> String {
        let a = self.accounts[self.rng.next() as usize % self.accounts.len()];
        let rid = self.rid(a);
        let t = self.ts_field();
        let roll = self.rng.range(0, 99);
        let side = if self.rng.chance(50) { "buy" } else { "sell" };
        let price = format!("{}.{:02}", self.rng.range(98, 101), self.rng.range(0, 99));
        let qty = format!("0.{:04}", self.rng.range(1, 9999));
        if roll < 60 {
            self.order_hint += 1;
            format!(
                r#"{{"type":"place_order","account":{a},"request_id":{rid},"symbol":"BTC-USD","side":"{side}","order_type":"limit","price":"{price}","qty":"{qty}"{t}}}"#
            )
        } else if roll < 68 {
            format!(
                r#"{{"type":"place_order","account":{a},"request_id":{rid},"symbol":"BTC-USD","side":"{side}","order_type":"limit","price":"{price}","qty":"{qty}","tif":"ioc"{t}}}"#
            )
        } else if roll < 74 && self.ts.is_some() {
            let expiry = self.ts.unwrap_or(0) + self.rng.range(1, 50) * 1_000;
            self.order_hint += 1;
            format!(
                r#"{{"type":"place_order","account":{a},"request_id":{rid},"symbol":"BTC-USD","side":"{side}","order_type":"limit","price":"{price}","qty":"{qty}","tif":"gtd","expiry_ns":{expiry}{t}}}"#
            )
        } else if roll < 88 {
            let order = self
                .rng
                .range(self.order_hint.saturating_sub(40).max(1), self.order_hint);
            format!(
                r#"{{"type":"cancel_order","account":{a},"request_id":{rid},"order":{order}{t}}}"#
            )
        } else if roll < 96 {
            let order = self
                .rng
                .range(self.order_hint.saturating_sub(40).max(1), self.order_hint);
            let ticks = self.rng.range(9_800, 10_199);
            let lots = self.rng.range(1, 9_999);
            format!(
                r#"{{"type":"amend_order","account":{a},"request_id":{rid},"order":{order},"price_ticks":{ticks},"qty_lots":{lots}{t}}}"#
            )
        } else if roll < 98 {
            format!(
                r#"{{"type":"cancel_all","account":{a},"request_id":{rid},"symbol":"BTC-USD"{t}}}"#
            )
        } else {
            format!(
                r#"{{"type":"place_order","account":{a},"request_id":{rid},"symbol":"BTC-USD","side":"sell","order_type":"market","qty":"{qty}","tif":"ioc"{t}}}"#
            )
        }
    }
}

/// The `keel` binary under test.
pub fn keel_bin() -> &'static str {
    env!("CARGO_BIN_EXE_keel")
}

/// What a `keel` process did.
#[derive(Debug)]
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// stdout parsed as JSON lines.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad output line {l}: {e}")))
            .collect()
    }

    /// The final digest from the `keel run:` summary line on stderr.
    pub fn run_digest(&self) -> String {
        let line = self
            .stderr
            .lines()
            .rfind(|l| l.starts_with("keel run:"))
            .unwrap_or_else(|| panic!("no summary line in stderr:\n{}", self.stderr));
        line.rsplit("digest ")
            .next()
            .expect("digest in the summary")
            .trim()
            .to_owned()
    }
}

/// Runs `keel <args>` to completion.
pub fn keel(args: &[&str]) -> Ran {
    let out = std::process::Command::new(keel_bin())
        .args(args)
        .output()
        .expect("spawn keel");
    Ran {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `keel run --config <config> --input <file with lines> --output -`.
pub fn keel_run_lines(config: &Path, work: &Path, lines: &[String]) -> Ran {
    let input = work.join("input.jsonl");
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(&input, text).expect("write input");
    keel(&[
        "run",
        "--config",
        config.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--output",
        "-",
    ])
}

/// `configs/default.toml` with its journal in `work`, no prefault, no sync,
/// and `edit` applied to the text.
pub fn default_config(work: &Path, edit: impl Fn(String) -> String) -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let text = std::fs::read_to_string(root.join("configs/default.toml")).expect("default.toml");
    let journal = work.join("journal").display().to_string();
    let text = text
        .replace("dir = \"keel-data/journal\"", &format!("dir = {journal:?}"))
        .replace("prefault = true", "prefault = false")
        .replace("durability = \"batch\"", "durability = \"none\"");
    assert!(text.contains(&journal), "default.toml's journal.dir moved");
    let path = work.join("keel.toml");
    std::fs::write(&path, edit(text)).unwrap();
    path
}

/// Writes `lines` to `stdin` from a thread, in random chunks of 1 to
/// `max_chunk` lines with random pauses of `pause_us` microseconds between
/// them, then returns `stdin` still open (so the child never sees the end
/// of its input: only a signal or a kill stops it).
pub fn trickle(
    mut stdin: std::process::ChildStdin,
    lines: &[String],
    rng: &mut Rng,
    max_chunk: u64,
    pause_us: (u64, u64),
) -> std::thread::JoinHandle<std::process::ChildStdin> {
    use std::io::Write;
    let mut chunks = Vec::new();
    let mut at = 0;
    while at < lines.len() {
        let n = (rng.range(1, max_chunk) as usize).min(lines.len() - at);
        let pause = std::time::Duration::from_micros(rng.range(pause_us.0, pause_us.1));
        chunks.push((lines[at..at + n].join("\n") + "\n", pause));
        at += n;
    }
    std::thread::spawn(move || {
        for (chunk, pause) in chunks {
            if stdin.write_all(chunk.as_bytes()).is_err() || stdin.flush().is_err() {
                break;
            }
            std::thread::sleep(pause);
        }
        stdin
    })
}
