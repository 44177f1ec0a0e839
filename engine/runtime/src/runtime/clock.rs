//! The loop's only clock. Timestamps never go backwards: each is the larger
//! of the source's time and the previous timestamp (which, after a restart,
//! is the last journaled one).

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::config::ClockKind;

pub struct Clock {
    kind: ClockKind,
    /// Wall-clock ns at `epoch`, read once at start.
    wall_at_epoch_ns: u64,
    epoch: Instant,
    last_ns: u64,
}

impl Clock {
    /// `last_ns` is the last journaled timestamp (0 for a new journal).
    pub fn new(kind: ClockKind, epoch: Instant, last_ns: u64) -> Clock {
        let wall_at_epoch_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Clock {
            kind,
            wall_at_epoch_ns,
            epoch,
            last_ns,
        }
    }

    /// Stamps one command. `now` is the loop's monotonic reading for it;
    /// `input_ns` the submission's own time (simulated clock only).
    #[inline]
    pub fn stamp(&mut self, now: Instant, input_ns: Option<u64>) -> u64 {
        let source = match self.kind {
            // Wall time advanced by a monotonic clock: a wall-clock step back
            // after start cannot move it backwards.
            ClockKind::System => {
                self.wall_at_epoch_ns + now.duration_since(self.epoch).as_nanos() as u64
            }
            ClockKind::Simulated => input_ns.unwrap_or(self.last_ns),
        };
        self.last_ns = self.last_ns.max(source);
        self.last_ns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_goes_backwards() {
        let epoch = Instant::now();
        let mut sim = Clock::new(ClockKind::Simulated, epoch, 100);
        assert_eq!(sim.stamp(epoch, Some(50)), 100);
        assert_eq!(sim.stamp(epoch, Some(150)), 150);
        assert_eq!(sim.stamp(epoch, None), 150);
        assert_eq!(sim.stamp(epoch, Some(120)), 150);
        let mut sys = Clock::new(ClockKind::System, epoch, u64::MAX - 1);
        assert_eq!(sys.stamp(Instant::now(), None), u64::MAX - 1);
        let mut sys = Clock::new(ClockKind::System, epoch, 0);
        let a = sys.stamp(Instant::now(), None);
        let b = sys.stamp(Instant::now(), None);
        assert!(a > 1_600_000_000_000_000_000 && b >= a);
    }
}
