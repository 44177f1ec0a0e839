//! An async client for Keel's WebSocket gateway (`keel serve`, protocol in
//! `docs/PROTOCOL.md`): connect with an API key, submit commands and await
//! their committed answers (correlated by tag, many in flight at once from
//! clones of one [`Client`]), `query` a request's outcome, arm the
//! `cancel_after` dead-man switch, receive the session's [`Event`]s, and
//! [`Client::reconnect`] to resend what had no answer (the engine's request
//! ids make a resend safe: one that had executed gets `duplicate`).
//!
//! ```
//! # use keel_client::{Client, Command, Options, Order, Side};
//! # let dir = tempfile::tempdir()?;
//! # let config = keel_edge::config_from_toml(&format!(r#"
//! # [engine]
//! # allow_unpinned = true
//! # prefault = false
//! # ring_capacity = 1024
//! # [journal]
//! # dir = "{}"
//! # durability = "none"
//! # segment_size_mib = 1
//! # [limits]
//! # max_accounts = 64
//! # max_orders = 1024
//! # [[assets]]
//! # name = "BTC"
//! # scale = 8
//! # [[assets]]
//! # name = "USD"
//! # scale = 6
//! # [[symbols]]
//! # name = "BTC-USD"
//! # base = "BTC"
//! # quote = "USD"
//! # tick_size = "0.01"
//! # lot_size = "0.0001"
//! # maker_fee_bps = 1
//! # taker_fee_bps = 5
//! # "#, dir.path().join("journal").display()), "doc.toml")?;
//! # let keys_file = dir.path().join("keys.toml");
//! // Keys for account 7 and the operator, as `keel keys add --config FILE
//! // --account 7` (and `--account 0 --operator`) make them.
//! let (_, key) = keel_gateway::add_key(&keys_file, 7, false)?;
//! let (_, operator_key) = keel_gateway::add_key(&keys_file, 0, true)?;
//! # let gateway = keel_gateway::GatewayConfig {
//! #     listen: "127.0.0.1:0".into(), keys_file: keys_file.clone(), ..Default::default()
//! # };
//! # let server = keel_gateway::Server::start(&config, gateway)?;
//! # let url = format!("ws://{}/v1/ws", server.local_addr());
//! let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! runtime.block_on(async {
//!     let client = Client::connect(&url, &key, Options::default()).await?;
//!     assert_eq!(client.account(), 7);
//!     let opened = client.submit(&Command::OpenAccount { request_id: 1 }).await?;
//!     assert!(opened.is_accepted());
//!
//!     // Deposits come from an operator key; the account sees them as an update.
//!     let mut updates = client.updates();
//!     let operator = Client::connect(&url, &operator_key, Options::default()).await?;
//!     let deposit = serde_json::json!({
//!         "type": "deposit", "account": 7, "request_id": 2, "asset": "USD", "amount": "50000"
//!     });
//!     assert!(operator.submit(&deposit).await?.is_accepted());
//!     let update = updates.next_update(std::time::Duration::from_secs(5)).await.unwrap();
//!     assert_eq!(update.command, "deposit");
//!
//!     let bid = client.place(Order::limit(3, "BTC-USD", Side::Buy, "30000.00", "0.5000")).await?;
//!     let order = bid.order_id().expect("placed");
//!     let cancel = client.submit(&Command::CancelOrder { request_id: 4, order }).await?;
//!     assert!(cancel.events_of("order_cancelled").next().is_some());
//!
//!     // A retry never executes twice: the engine answers `duplicate`.
//!     let again = client.submit(&Command::CancelOrder { request_id: 4, order }).await?;
//!     assert_eq!(again.rejection().unwrap().reason, "duplicate");
//!     Ok::<_, keel_client::ClientError>(())
//! })?;
//! # server.shutdown()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Every call needs a tokio runtime (the connection's reader is a task).

#![warn(missing_docs)]

mod client;
pub mod command;
mod error;
pub mod messages;

pub use client::{Client, Options, Resent, Updates};
pub use command::{Command, Order, Side, Tif};
pub use error::ClientError;
pub use messages::{
    Answer, Event, Limits, QueryResult, QueryStatus, Rejection, ServerError, Update, Welcome,
};
