//! Messages from the handles to the loop, handled between batches.

use crossbeam_channel::Sender;

use crate::state::State;

use super::outputs::SubscriberHandle;
use super::telemetry::Stats;

pub(crate) enum Control {
    Subscribe(SubscriberHandle, Sender<()>),
    Stats(Sender<Stats>),
    /// Runs on the loop thread with read access to the state.
    Query(Box<dyn FnOnce(&State) + Send>),
    Shutdown,
}
