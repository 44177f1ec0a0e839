//! A progress bar for long replays: shown on stderr only when it is a
//! terminal and the replay has already taken about a second.

use std::io::IsTerminal;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

const CHECK_EVERY: u64 = 1 << 16;

pub struct Progress {
    bar: Option<ProgressBar>,
    enabled: bool,
    label: &'static str,
    total: Option<u64>,
    /// The total, once someone else knows it (see [`Progress::with_total_later`]).
    total_later: Option<Arc<OnceLock<u64>>>,
    start: Instant,
    next_check: u64,
}

impl Progress {
    pub fn new(label: &'static str, total: Option<u64>) -> Progress {
        Progress {
            bar: None,
            enabled: std::io::stderr().is_terminal(),
            label,
            total,
            total_later: None,
            start: Instant::now(),
            next_check: CHECK_EVERY,
        }
    }

    /// A bar whose total is set in `total` by another thread (a bar without
    /// a total until it is).
    pub fn with_total_later(label: &'static str, total: Arc<OnceLock<u64>>) -> Progress {
        let mut p = Progress::new(label, None);
        p.total_later = Some(total);
        p
    }

    /// `done` records so far. Cheap: looks at the clock every 65,536 records.
    #[inline]
    pub fn tick(&mut self, done: u64) {
        if done >= self.next_check {
            self.slow_tick(done);
        }
    }

    #[cold]
    fn slow_tick(&mut self, done: u64) {
        self.next_check = done + CHECK_EVERY;
        if !self.enabled {
            return;
        }
        if self.bar.is_none() && self.start.elapsed() > Duration::from_secs(1) {
            if let Some(t) = self.total_later.as_ref().and_then(|t| t.get()) {
                self.total = Some(*t);
            }
            let (bar, template) = match self.total {
                Some(t) => (
                    ProgressBar::with_draw_target(Some(t), ProgressDrawTarget::stderr()),
                    "{msg} [{bar:40}] {human_pos}/{human_len} records, {per_sec}, eta {eta}",
                ),
                None => (
                    ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
                    "{msg} {spinner} {human_pos} records, {per_sec}",
                ),
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(self.label);
            self.bar = Some(bar);
        }
        if let Some(bar) = &self.bar {
            bar.set_position(done);
        }
    }

    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
