//! Workloads: command streams generated before timing starts and held in
//! memory.

pub mod lobster;
pub mod synthetic;

use keel_engine::{Command, Limits, State};

/// A generated workload: the genesis and warm-up commands that build the
/// books, then the commands to measure. Timestamps are the command's index
/// (in ns) across the whole stream.
#[derive(Clone, Debug)]
pub struct Workload {
    pub setup: Vec<Command>,
    pub measured: Vec<Command>,
    pub limits: Limits,
}

impl Workload {
    /// A state with `setup` processed, ready for `measured`.
    pub fn prepared_state(&self) -> State {
        let mut state = State::new(self.limits);
        state.prefault();
        let mut out = Vec::with_capacity(256);
        for (i, cmd) in self.setup.iter().enumerate() {
            keel_engine::process(&mut state, cmd, i as u64, &mut out)
                .expect("setup commands process");
        }
        state
    }

    /// The timestamp of measured command `i`.
    pub fn measured_ts(&self, i: usize) -> u64 {
        (self.setup.len() + i) as u64
    }
}
