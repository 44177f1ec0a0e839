//! `keel serve`: WebSocket order entry over the engine, with authenticated
//! sessions bound to one account, per-session limits, cancel-on-disconnect
//! and a dead-man switch. The protocol is in `docs/PROTOCOL.md`.
//!
//! The gateway reaches the engine only through its public API: commands go
//! in through a [`keel_engine::CommandSender`], committed outputs come back
//! on a [`keel_engine::Subscription`] that one router thread reads and
//! fans out to the sessions. A session never blocks the engine or another
//! session: a slow one is closed.
//!
//! ```no_run
//! use keel_gateway::{GatewayConfig, Server};
//! let config = keel_edge::load_config("configs/serve.toml".as_ref())?;
//! let server = Server::start(&config, GatewayConfig::default())?;
//! println!("listening on {}", server.local_addr());
//! let exit = server.run_until_signal()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

pub mod config;
mod hub;
pub mod keys;
mod market;
mod metrics;
pub mod protocol;
mod server;
mod session;

pub use config::{GatewayConfig, GatewayConfigError};
pub use keys::{add_key, Identity, KeyEntry, Keys, KeysError};
pub use protocol::{CloseReason, ErrorCode, VERSION};
pub use server::{ServeError, ServeExit, Server};
pub use session::safety_cancel;

/// Reads a config file with its `[gateway]` section (a `[replication]`
/// section, for `keel serve` and `keel follow`, is allowed and left to
/// [`load_sections`]).
pub fn load(
    path: &std::path::Path,
) -> Result<(keel_engine::Config, GatewayConfig), Box<dyn std::error::Error + Send + Sync>> {
    load_sections(path).map(|(config, gateway, _)| (config, gateway))
}

/// [`load`], also handing back the `[replication]` table if there is one.
#[allow(clippy::type_complexity)]
pub fn load_sections(
    path: &std::path::Path,
) -> Result<
    (keel_engine::Config, GatewayConfig, Option<toml::Value>),
    Box<dyn std::error::Error + Send + Sync>,
> {
    let (config, mut extras) =
        keel_edge::load_config_with_extras(path, &["gateway", "replication"])?;
    let gateway = GatewayConfig::from_table(extras.get("gateway"))?;
    Ok((config, gateway, extras.remove("replication")))
}
