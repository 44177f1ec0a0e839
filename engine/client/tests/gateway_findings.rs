//! Gateway behaviours the client's tests found wrong, each asserting what
//! the protocol promises. They fail against the current server and are
//! ignored until it is fixed (run them with `--ignored`).

mod support;

use std::time::Duration;

use keel_client::{Client, ClientError, Command, Options, QueryStatus};
use support::{runtime, TestServer};

/// A command with `request_id` 0 is parsed, submitted and executed (the
/// engine rejects it as `duplicate`), but the router answers only commands
/// with a non-zero request id (`Hub::route`: `if cmd.request_id != 0`), so
/// the sender never gets an answer and the session's waiter and in-flight
/// slot are never released.
#[test]
fn a_command_with_request_id_zero_gets_an_answer() {
    let server = TestServer::start();
    let key = server.key(9);
    runtime().block_on(async {
        let options = Options {
            request_timeout: Some(Duration::from_secs(2)),
            ..Options::default()
        };
        let client = Client::connect(&server.url, &key, options).await.unwrap();
        client
            .submit(&Command::OpenAccount { request_id: 1 })
            .await
            .unwrap();
        let zero = client
            .submit(&Command::CancelAll {
                request_id: 0,
                symbol: None,
            })
            .await;
        match zero {
            Ok(answer) => assert!(answer.rejection().is_some(), "{answer:?}"),
            Err(ClientError::Refused { .. }) => {}
            Err(e) => panic!("no answer to request_id 0: {e}"),
        }
    });
}

/// `query` after the resend: the request's outcome is still `accepted`.
/// The gateway's outcome window keeps the resend's `duplicate` rejection as
/// the newest outcome of the request id and `query` answers with it
/// (engine/gateway/src/hub.rs, `Hub::query` / `record_outcome`).
#[test]
fn query_after_a_duplicate_resend_says_accepted() {
    let server = TestServer::start();
    let key = server.key(8);
    runtime().block_on(async {
        let client = Client::connect(&server.url, &key, Options::default())
            .await
            .unwrap();
        let opened = client
            .submit(&Command::OpenAccount { request_id: 1 })
            .await
            .unwrap();
        let cancel = Command::CancelAll {
            request_id: 2,
            symbol: None,
        };
        let first = client.submit(&cancel).await.unwrap();
        assert!(first.is_accepted(), "{first:?}");
        match client.query(2).await.unwrap().status {
            QueryStatus::Accepted { seq } => assert_eq!(seq, first.seq),
            other => panic!("{other:?}"),
        }
        let again = client.submit(&cancel).await.unwrap();
        assert_eq!(again.rejection().unwrap().reason, "duplicate");
        let q = client.query(2).await.unwrap();
        assert_eq!(q.last_accepted, Some(2));
        assert_eq!(
            q.status,
            QueryStatus::Accepted { seq: first.seq },
            "request 2 was accepted at seq {} (open_account at {}); its resend's duplicate is not its outcome",
            first.seq,
            opened.seq
        );
    });
}
