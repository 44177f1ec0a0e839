//! `[replication]`: where the replicated journal lives and the bounds on
//! waiting for it. Every key has a documented default.

use serde::Deserialize;

/// What a leader does when the log does not acknowledge a batch in time.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OnTimeout {
    /// Stop the engine (fail-stop) with a message naming the batch.
    Fail,
    /// Keep resending the batch (same message id: JetStream keeps one
    /// copy) and publish nothing until it is acknowledged.
    Wait,
}

/// `[replication]` in a config file.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ReplicationConfig {
    /// NATS server URLs (any of the cluster). Default `["nats://127.0.0.1:4222"]`.
    pub servers: Vec<String>,
    /// This node's name, unique among the leader and its followers; it is
    /// what the lease names. Default `"node-1"`.
    pub node: String,
    /// JetStream stream holding the journal. Default `"KEEL"`.
    pub stream: String,
    /// Subject the batches are published on. Default `"keel.journal"`.
    pub subject: String,
    /// Stream replicas: 1, or 3 for a three-server cluster (Raft). Used
    /// when this node creates the stream. Default 1.
    pub replicas: usize,
    /// Longest wait for one batch's acknowledgement, ms. Default 5,000.
    pub ack_timeout_ms: u64,
    /// `fail` (default) or `wait`: see [`OnTimeout`].
    pub on_timeout: OnTimeout,
    /// Batches published and not yet acknowledged at once. Default 8.
    pub max_in_flight: usize,
    /// Lease length, ms: a leader renews it every third of this; a follower
    /// that sees no renewal for this long may take over. Default 3,000.
    pub lease_ms: u64,
    /// Key-value bucket holding the lease. Default `"KEEL_LEASE"`.
    pub lease_bucket: String,
    /// How often a follower reports its lag on stderr, ms (0: never).
    /// Default 5,000.
    pub report_interval_ms: u64,
}

impl Default for ReplicationConfig {
    fn default() -> ReplicationConfig {
        ReplicationConfig {
            servers: vec!["nats://127.0.0.1:4222".into()],
            node: "node-1".into(),
            stream: "KEEL".into(),
            subject: "keel.journal".into(),
            replicas: 1,
            ack_timeout_ms: 5_000,
            on_timeout: OnTimeout::Fail,
            max_in_flight: 8,
            lease_ms: 3_000,
            lease_bucket: "KEEL_LEASE".into(),
            report_interval_ms: 5_000,
        }
    }
}

impl ReplicationConfig {
    /// Parses and checks a `[replication]` table.
    pub fn from_table(table: toml::Value) -> Result<ReplicationConfig, String> {
        let config: ReplicationConfig = table
            .try_into()
            .map_err(|e: toml::de::Error| format!("[replication]: {}", e.to_string().trim_end()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the values; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.servers.is_empty() {
            return Err("replication.servers is empty: name at least one NATS server URL".into());
        }
        if ![1, 3].contains(&self.replicas) {
            return Err(format!(
                "replication.replicas = {}: use 1 (one server) or 3 (a three-server cluster)",
                self.replicas
            ));
        }
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if !name_ok(&self.node) || !name_ok(&self.stream) || !name_ok(&self.lease_bucket) {
            return Err(format!(
                "replication.node = {:?}, stream = {:?}, lease_bucket = {:?}: use letters, digits, '-' and '_' only",
                self.node, self.stream, self.lease_bucket
            ));
        }
        if self.subject.is_empty() || self.subject.contains(['*', '>', ' ']) {
            return Err(format!(
                "replication.subject = {:?}: a plain subject without wildcards or spaces",
                self.subject
            ));
        }
        if self.ack_timeout_ms == 0 || self.lease_ms < 300 || self.max_in_flight == 0 {
            return Err(format!(
                "replication.ack_timeout_ms = {}, lease_ms = {}, max_in_flight = {}: need ack_timeout_ms > 0, lease_ms >= 300, max_in_flight > 0",
                self.ack_timeout_ms, self.lease_ms, self.max_in_flight
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// configs/replicated.toml shows every key with its default (but the
    /// node's name): what it says is what the code does.
    #[test]
    fn the_shipped_config_shows_the_defaults() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../configs/replicated.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let mut table: toml::Table = toml::from_str(&text).unwrap();
        let section = table.remove("replication").expect("[replication]");
        let parsed = ReplicationConfig::from_table(section).unwrap();
        assert_eq!(
            parsed,
            ReplicationConfig {
                node: "node-a".into(),
                ..ReplicationConfig::default()
            }
        );
    }

    #[test]
    fn bad_values_are_refused_naming_the_key() {
        let bad = |text: &str| {
            let value: toml::Value = toml::from_str(text).unwrap();
            ReplicationConfig::from_table(value).unwrap_err()
        };
        assert!(bad("replicas = 2").contains("replication.replicas = 2"));
        assert!(bad("servers = []").contains("replication.servers"));
        assert!(bad("node = \"a b\"").contains("replication.node"));
        assert!(bad("subject = \"keel.>\"").contains("replication.subject"));
        assert!(bad("lease_ms = 10").contains("lease_ms = 10"));
        assert!(bad("on_timeout = \"retry\"").contains("on_timeout"));
        assert!(bad("colour = 1").contains("colour"));
    }
}
