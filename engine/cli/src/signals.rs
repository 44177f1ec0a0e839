//! SIGTERM and SIGINT for `keel run`.
//!
//! [`install`] blocks both signals in the calling thread, before `keel run`
//! starts any other thread, so every thread inherits the mask and none is
//! ever interrupted; one dedicated thread takes them with `sigwait`. No
//! handler runs in signal context, so nothing here needs to be
//! async-signal-safe. The first signal is sent on a channel (the run stops
//! gracefully); a second one ends the process at once with status
//! 128 + signal number (130 for SIGINT, 143 for SIGTERM).

use std::fmt;

use crossbeam_channel::Receiver;

/// A stop signal that arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signal(libc::c_int);

impl Signal {
    /// The exit status of a forced exit on this signal: 128 + its number.
    pub fn forced_exit_status(self) -> i32 {
        128 + self.0
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            libc::SIGTERM => f.write_str("SIGTERM"),
            libc::SIGINT => f.write_str("SIGINT"),
            n => write!(f, "signal {n}"),
        }
    }
}

/// Why the signals could not be taken over.
#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    /// `sigemptyset`, `sigaddset` or `pthread_sigmask` failed.
    #[error("cannot block SIGTERM and SIGINT ({call} returned {code})")]
    Mask {
        /// The libc call.
        call: &'static str,
        /// What it returned.
        code: libc::c_int,
    },
    /// The thread that waits for them could not be spawned.
    #[error("cannot spawn the signal thread: {0}")]
    Spawn(std::io::Error),
}

/// The set {SIGTERM, SIGINT}.
fn stop_set() -> Result<libc::sigset_t, SignalError> {
    // SAFETY: sigset_t is a plain C bit set for which all-zero bytes are a
    // valid value; sigemptyset then initialises it as POSIX requires.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, exclusively borrowed sigset_t.
    let code = unsafe { libc::sigemptyset(&mut set) };
    if code != 0 {
        return Err(SignalError::Mask {
            call: "sigemptyset",
            code,
        });
    }
    for signal in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: `set` was initialised by sigemptyset; the signal numbers
        // are valid.
        let code = unsafe { libc::sigaddset(&mut set, signal) };
        if code != 0 {
            return Err(SignalError::Mask {
                call: "sigaddset",
                code,
            });
        }
    }
    Ok(set)
}

/// Blocks SIGTERM and SIGINT in the calling thread (and so in every thread
/// it starts from now on) and starts the thread that waits for them. Call it
/// before starting any other thread.
pub fn install() -> Result<Receiver<Signal>, SignalError> {
    let set = stop_set()?;
    // SAFETY: `set` is an initialised sigset_t; a null old-set pointer is
    // allowed. pthread_sigmask only changes this thread's mask.
    let code = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if code != 0 {
        return Err(SignalError::Mask {
            call: "pthread_sigmask",
            code,
        });
    }
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::Builder::new()
        .name("keel-signals".into())
        .spawn(move || {
            let mut first = true;
            loop {
                let mut number: libc::c_int = 0;
                // SAFETY: `set` is an initialised sigset_t holding signals
                // blocked in this thread (inherited mask); `number` is a
                // valid out-pointer.
                let code = unsafe { libc::sigwait(&set, &mut number) };
                if code != 0 {
                    // Only EINVAL is documented, for an invalid set: the
                    // signals stay blocked and pending, nothing more to do.
                    return;
                }
                let signal = Signal(number);
                if first {
                    first = false;
                    let _ = tx.try_send(signal);
                    continue;
                }
                eprintln!(
                    "keel: second stop signal ({signal}): exiting now with status {} \
                     (every committed record is in the journal; outputs not yet written are lost)",
                    signal.forced_exit_status()
                );
                // SAFETY: _exit ends the process at once without running
                // atexit handlers or destructors, which is the point: other
                // threads may hold locks those would take. It is always safe
                // to call.
                unsafe { libc::_exit(signal.forced_exit_status()) };
            }
        })
        .map_err(SignalError::Spawn)?;
    Ok(rx)
}
