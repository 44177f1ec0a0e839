//! The `[gateway]` section of a config file: where to listen, the keys file,
//! and the limits on every session. Every key has a documented default.

use std::path::PathBuf;

use serde::Deserialize;

/// `[gateway]`: the server's address, keys and session limits.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// Address to listen on. Default `127.0.0.1:7070`.
    pub listen: String,
    /// The API keys file (`keel keys add` writes it). Default
    /// `keel-data/keys.toml`; relative to the current directory.
    pub keys_file: PathBuf,
    /// Largest message a client may send, bytes. Default 4,096.
    pub max_message_bytes: usize,
    /// TCP connections not yet upgraded to a session (still sending their
    /// request, or refused) open at once; more are closed at accept.
    /// Default 4,096.
    pub max_connections: usize,
    /// Longest time a connection may take to send its HTTP request head
    /// (a half-open or trickling client is closed after it), ms. Default
    /// 5,000.
    pub handshake_timeout_ms: u64,
    /// Sessions open at once, all keys together. Default 1,024.
    pub max_sessions: usize,
    /// Sessions open at once with one key. Default 4.
    pub max_sessions_per_key: usize,
    /// Messages per second a session may send (token bucket refill).
    /// Default 5,000.
    pub rate_per_s: u32,
    /// Messages a session may send at once above its rate (bucket size).
    /// Default 500.
    pub rate_burst: u32,
    /// Rate-limited messages in a row after which the session is closed
    /// (`rate_limit_abuse`). Default 1,000.
    pub rate_abuse_limit: u32,
    /// Messages queued to one session; a session whose queue is full is
    /// closed (`slow_reader`), so it never slows the engine or other
    /// sessions. Default 4,096.
    pub outbound_queue: usize,
    /// Longest time one write to a client may take before the session is
    /// closed (`slow_reader`), ms. Default 5,000.
    pub write_timeout_ms: u64,
    /// Commands a session may have sent but not yet answered. Default 4,096.
    pub max_in_flight: usize,
    /// Silence (no frame, no pong) after which a session is closed
    /// (`idle`), ms. Default 30,000.
    pub idle_timeout_ms: u64,
    /// How often the server pings each session, ms. Default 10,000.
    pub ping_interval_ms: u64,
    /// Longest `cancel_after` timeout a client may set, ms. Default
    /// 3,600,000 (one hour).
    pub max_cancel_after_ms: u64,
    /// Recent outcomes kept per account for `query`. Default 256.
    pub query_window: usize,
    /// Whether market data (`/v1/market`, `GET /v1/book` and the like)
    /// needs no key. Default true; false requires a key as for `/v1/ws`.
    pub public_market_data: bool,
    /// Subscriptions one session may hold. Default 32.
    pub max_subscriptions_per_session: usize,
    /// Largest book snapshot depth (levels per side). Default 1,000.
    pub max_book_depth: usize,
    /// Recent trades kept per symbol for the tape's snapshot. Default 1,000.
    pub trades_kept: usize,
    /// Recent candles kept per symbol and interval. Default 1,000.
    pub candles_kept: usize,
}

impl Default for GatewayConfig {
    fn default() -> GatewayConfig {
        GatewayConfig {
            listen: "127.0.0.1:7070".into(),
            keys_file: "keel-data/keys.toml".into(),
            max_message_bytes: 4096,
            max_connections: 4096,
            handshake_timeout_ms: 5_000,
            max_sessions: 1024,
            max_sessions_per_key: 4,
            rate_per_s: 5_000,
            rate_burst: 500,
            rate_abuse_limit: 1_000,
            outbound_queue: 4_096,
            write_timeout_ms: 5_000,
            max_in_flight: 4_096,
            idle_timeout_ms: 30_000,
            ping_interval_ms: 10_000,
            max_cancel_after_ms: 3_600_000,
            query_window: 256,
            public_market_data: true,
            max_subscriptions_per_session: 32,
            max_book_depth: 1_000,
            trades_kept: 1_000,
            candles_kept: 1_000,
        }
    }
}

/// A `[gateway]` value out of its range.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GatewayConfigError {
    /// The section does not parse (unknown key, wrong type).
    #[error("[gateway]: {0}")]
    Parse(String),
    /// A value outside its allowed range.
    #[error("[gateway] {key} = {value}: must be {allowed}")]
    OutOfRange {
        /// The key.
        key: &'static str,
        /// The value given.
        value: u64,
        /// The allowed range, in words.
        allowed: &'static str,
    },
}

impl GatewayConfig {
    /// The `[gateway]` table of a config file (absent: every default).
    pub fn from_table(table: Option<&toml::Value>) -> Result<GatewayConfig, GatewayConfigError> {
        let config: GatewayConfig = match table {
            None => GatewayConfig::default(),
            Some(value) => value
                .clone()
                .try_into()
                .map_err(|e: toml::de::Error| GatewayConfigError::Parse(e.to_string()))?,
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks every limit against its range.
    pub fn validate(&self) -> Result<(), GatewayConfigError> {
        let check = |key, value: u64, min: u64, max: u64, allowed| {
            if value < min || value > max {
                Err(GatewayConfigError::OutOfRange {
                    key,
                    value,
                    allowed,
                })
            } else {
                Ok(())
            }
        };
        check(
            "max_message_bytes",
            self.max_message_bytes as u64,
            256,
            1 << 20,
            "256 to 1048576",
        )?;
        check(
            "max_connections",
            self.max_connections as u64,
            1,
            1 << 20,
            "1 to 1048576",
        )?;
        check(
            "handshake_timeout_ms",
            self.handshake_timeout_ms,
            10,
            600_000,
            "10 to 600000",
        )?;
        check(
            "max_sessions",
            self.max_sessions as u64,
            1,
            1 << 20,
            "1 to 1048576",
        )?;
        check(
            "max_sessions_per_key",
            self.max_sessions_per_key as u64,
            1,
            1 << 20,
            "1 to 1048576",
        )?;
        check(
            "rate_per_s",
            self.rate_per_s.into(),
            1,
            10_000_000,
            "1 to 10000000",
        )?;
        check(
            "rate_burst",
            self.rate_burst.into(),
            1,
            10_000_000,
            "1 to 10000000",
        )?;
        check(
            "rate_abuse_limit",
            self.rate_abuse_limit.into(),
            1,
            u32::MAX.into(),
            "at least 1",
        )?;
        check(
            "outbound_queue",
            self.outbound_queue as u64,
            16,
            1 << 20,
            "16 to 1048576",
        )?;
        check(
            "write_timeout_ms",
            self.write_timeout_ms,
            10,
            600_000,
            "10 to 600000",
        )?;
        check(
            "max_in_flight",
            self.max_in_flight as u64,
            1,
            1 << 20,
            "1 to 1048576",
        )?;
        check(
            "idle_timeout_ms",
            self.idle_timeout_ms,
            100,
            86_400_000,
            "100 to 86400000",
        )?;
        check(
            "ping_interval_ms",
            self.ping_interval_ms,
            50,
            self.idle_timeout_ms,
            "50 to idle_timeout_ms",
        )?;
        check(
            "max_cancel_after_ms",
            self.max_cancel_after_ms,
            1,
            86_400_000,
            "1 to 86400000",
        )?;
        check(
            "max_subscriptions_per_session",
            self.max_subscriptions_per_session as u64,
            1,
            4096,
            "1 to 4096",
        )?;
        check(
            "max_book_depth",
            self.max_book_depth as u64,
            1,
            100_000,
            "1 to 100000",
        )?;
        check(
            "trades_kept",
            self.trades_kept as u64,
            1,
            1 << 20,
            "1 to 1048576",
        )?;
        check(
            "candles_kept",
            self.candles_kept as u64,
            1,
            1 << 20,
            "1 to 1048576",
        )?;
        check(
            "query_window",
            self.query_window as u64,
            1,
            1 << 16,
            "1 to 65536",
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_section_is_every_default_and_bad_values_name_the_key() {
        assert_eq!(
            GatewayConfig::from_table(None).unwrap(),
            GatewayConfig::default()
        );
        let table: toml::Value = toml::from_str("max_message_bytes = 10").unwrap();
        let err = GatewayConfig::from_table(Some(&table)).unwrap_err();
        assert!(err.to_string().contains("max_message_bytes = 10"), "{err}");
        let table: toml::Value = toml::from_str("nonsense = 1").unwrap();
        let err = GatewayConfig::from_table(Some(&table)).unwrap_err();
        assert!(err.to_string().contains("nonsense"), "{err}");
    }
}
