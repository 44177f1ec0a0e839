//! Prompt answers: a client that sends one command through a pipe that it
//! keeps open gets the answer without sending more traffic and without
//! closing the pipe (`keel run` flushes its output whenever no further
//! committed batch is waiting).

mod cli_support;
#[path = "../../runtime/tests/runtime_support/mod.rs"]
mod runtime_support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use cli_support::*;
use runtime_support::*;

/// A failure bound, not a speed claim: an unflushed answer never comes
/// while the pipe stays open, so any bound separates the two.
const PATIENCE: Duration = Duration::from_secs(5);

/// The next stdout line naming `account` and `request_id`, within PATIENCE.
fn answer(
    rx: &crossbeam_channel::Receiver<String>,
    account: u64,
    request_id: u64,
) -> serde_json::Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let line = rx.recv_deadline(deadline).unwrap_or_else(|e| {
            panic!(
                "no answer for account {account} request {request_id} within {PATIENCE:?} \
                 while the input pipe stays open ({e})"
            )
        });
        let v: serde_json::Value = serde_json::from_str(&line).expect("an output is JSON");
        if v["account"].as_u64() == Some(account) && v["request_id"].as_u64() == Some(request_id) {
            let accepted = v["events"]
                .as_array()
                .is_some_and(|e| e.iter().any(|e| e["type"] == "accepted"));
            assert!(accepted, "{v}");
            return v;
        }
    }
}

#[test]
fn one_command_through_a_fifo_is_answered_while_the_pipe_stays_open() {
    let tmp = tempfile::tempdir().unwrap();
    let journal = tmp.path().join("journal");
    let config = Cfg {
        clock: "system",
        ..Cfg::default()
    }
    .write(&tmp.path().join("keel.toml"), &journal);
    let fifo = tmp.path().join("commands");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: `c` is a NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    // Read and write: opening does not wait for `keel run` to open its end,
    // and the pipe stays open until this handle is dropped.
    let mut pipe = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fifo)
        .unwrap();

    let mut child = Process::new(keel_bin())
        .args(["run", "--config", config.to_str().unwrap()])
        .args(["--input", fifo.to_str().unwrap(), "--output", "-"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn keel run");
    let (tx, rx) = crossbeam_channel::unbounded();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });

    writeln!(
        pipe,
        r#"{{"type":"open_account","account":1,"request_id":1}}"#
    )
    .unwrap();
    pipe.flush().unwrap();
    let v = answer(&rx, 1, 1);
    assert_eq!(v["command"], "open_account", "{v}");

    // And again, one more command on the same open pipe.
    writeln!(
        pipe,
        r#"{{"type":"deposit","account":1,"request_id":2,"asset":"USD","amount":"10"}}"#
    )
    .unwrap();
    pipe.flush().unwrap();
    let v = answer(&rx, 1, 2);
    assert_eq!(v["command"], "deposit", "{v}");

    // Closing the pipe ends the run normally.
    drop(pipe);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains(" 2 submitted,"), "{stderr}");
}
