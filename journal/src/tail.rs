//! Follow a live writer (another thread or process).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::ReadError;
use crate::reader::{Reader, Record};

/// Follows committed records as a writer produces them, across segment rolls
/// (a [`crate::Reader`] that is polled again). Like a reader, it is finished
/// after it returns an error.
#[derive(Debug)]
pub struct Tailer {
    reader: Reader,
}

impl Tailer {
    pub(crate) fn new(dir: &Path, from_seq: u64) -> Tailer {
        Tailer {
            reader: Reader::new(dir, from_seq),
        }
    }

    /// The next committed record if one is available now (never blocks).
    pub fn poll(&mut self) -> Result<Option<Record>, ReadError> {
        self.reader.try_next()
    }

    /// Wait up to `timeout` for the next committed record (spins briefly,
    /// then sleeps with backoff up to 1 ms).
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<Record>, ReadError> {
        let deadline = Instant::now() + timeout;
        let mut spins = 0u32;
        let mut sleep = Duration::from_micros(20);
        loop {
            if let Some(r) = self.poll()? {
                return Ok(Some(r));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            if spins < 100 {
                spins += 1;
                std::hint::spin_loop();
            } else {
                std::thread::sleep(sleep.min(deadline - now));
                sleep = (sleep * 2).min(Duration::from_millis(1));
            }
        }
    }

    /// Sequence of the next record this tailer will return.
    pub fn position(&self) -> u64 {
        self.reader.position()
    }
}
