//! `config.toml`: typed, with documented defaults; flags and `TALLY_NODE_*` variables override it.

use crate::mempool::MempoolConfig;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use tally_ledger::store::SnapshotPolicy;
use tally_rpc::RpcConfig;

/// Log output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object a line.
    Json,
}

/// Consensus timing (`[consensus]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsensusTiming {
    /// Wait for a proposal in round 0, milliseconds.
    pub timeout_propose_ms: u64,
    /// Wait after >2/3 prevotes without a quorum for one value, milliseconds.
    pub timeout_prevote_ms: u64,
    /// Wait after >2/3 precommits without a decision, milliseconds.
    pub timeout_precommit_ms: u64,
    /// How much each timeout grows per round, milliseconds.
    pub timeout_delta_ms: u64,
    /// An idle chain commits one empty block per this interval, milliseconds.
    pub empty_block_interval_ms: u64,
}

impl Default for ConsensusTiming {
    fn default() -> Self {
        ConsensusTiming {
            timeout_propose_ms: 3_000,
            timeout_prevote_ms: 1_000,
            timeout_precommit_ms: 1_000,
            timeout_delta_ms: 500,
            empty_block_interval_ms: 1_000,
        }
    }
}

/// Peer-to-peer limits (`[p2p]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct P2pLimits {
    /// The most peers kept connected.
    pub max_peers: u32,
}

impl Default for P2pLimits {
    fn default() -> Self {
        P2pLimits { max_peers: 50 }
    }
}

/// Store settings (`[store]`): when account snapshots are taken (see
/// [`tally_ledger::store::SnapshotPolicy`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Transfers committed since the last snapshot below which no new one is taken; past it,
    /// one is taken once as many transfers as there are accounts have committed.
    pub snapshot_min_transfers: u64,
    /// Blocks since the last snapshot after which one is taken anyway.
    pub snapshot_max_blocks: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        let policy = SnapshotPolicy::default();
        StoreConfig { snapshot_min_transfers: policy.min_transfers, snapshot_max_blocks: policy.max_blocks }
    }
}

impl StoreConfig {
    /// The policy these settings describe.
    pub fn snapshot_policy(&self) -> SnapshotPolicy {
        SnapshotPolicy { min_transfers: self.snapshot_min_transfers, max_blocks: self.snapshot_max_blocks }
    }
}

/// The whole node configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// A human name for this node, shown by `status`.
    pub moniker: String,
    /// Log format: `text` or `json`.
    pub log_format: LogFormat,
    /// Where to listen for peers (a libp2p multiaddr).
    pub p2p_listen: String,
    /// Where to serve JSON-RPC, `/health` and `/metrics`.
    pub rpc_listen: SocketAddr,
    /// Bootstrap peers (multiaddrs, ending in `/p2p/<peer id>` or not).
    pub peers: Vec<String>,
    /// Peer limits.
    pub p2p: P2pLimits,
    /// RPC limits.
    pub rpc: RpcConfig,
    /// Consensus timing.
    pub consensus: ConsensusTiming,
    /// Mempool limits.
    pub mempool: MempoolConfig,
    /// Store settings.
    pub store: StoreConfig,
    /// Threads for the async runtime and, as many again, for signature checks; 0 = one per
    /// core. Where several nodes share a machine, give each its share: four validators on two
    /// cores with a thread per core each commit about 12 % less (docs/BENCHMARKS.md).
    pub threads: usize,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            moniker: String::from("tally-node"),
            log_format: LogFormat::Text,
            p2p_listen: String::from("/ip4/0.0.0.0/tcp/26656"),
            rpc_listen: SocketAddr::from(([127, 0, 0, 1], 8545)),
            peers: Vec::new(),
            p2p: P2pLimits::default(),
            rpc: RpcConfig::default(),
            consensus: ConsensusTiming::default(),
            mempool: MempoolConfig::default(),
            store: StoreConfig::default(),
            threads: 0,
        }
    }
}

/// A configuration value that cannot work; `field` names it as in `config.toml`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file is not valid TOML for this schema.
    #[error("config.toml: {0}")]
    Parse(String),
    /// A value out of range.
    #[error("config field `{field}`: {message}")]
    Invalid {
        /// The field, dotted.
        field: String,
        /// What is wrong.
        message: String,
    },
}

fn invalid(field: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { field: field.to_string(), message: message.into() }
}

impl NodeConfig {
    /// Parses `config.toml` text.
    pub fn from_toml(text: &str) -> Result<NodeConfig, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))
    }

    /// The TOML text of this configuration.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks every value's range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.p2p_listen.parse::<tally_p2p::Multiaddr>().is_err() {
            return Err(invalid("p2p_listen", "not a multiaddr (e.g. /ip4/0.0.0.0/tcp/26656)"));
        }
        for (i, peer) in self.peers.iter().enumerate() {
            if peer.parse::<tally_p2p::Multiaddr>().is_err() {
                return Err(invalid(&format!("peers[{i}]"), "not a multiaddr"));
            }
        }
        if self.store.snapshot_min_transfers == 0 {
            return Err(invalid("store.snapshot_min_transfers", "must be at least 1"));
        }
        if self.store.snapshot_max_blocks == 0 {
            return Err(invalid("store.snapshot_max_blocks", "must be at least 1"));
        }
        if self.p2p.max_peers == 0 {
            return Err(invalid("p2p.max_peers", "must be at least 1"));
        }
        self.rpc.validate().map_err(|e| invalid(&format!("rpc.{}", e.field), e.message))?;
        let c = &self.consensus;
        for (name, value) in [
            ("consensus.timeout_propose_ms", c.timeout_propose_ms),
            ("consensus.timeout_prevote_ms", c.timeout_prevote_ms),
            ("consensus.timeout_precommit_ms", c.timeout_precommit_ms),
            ("consensus.empty_block_interval_ms", c.empty_block_interval_ms),
        ] {
            if !(10..=600_000).contains(&value) {
                return Err(invalid(name, "must be between 10 and 600000"));
            }
        }
        if c.timeout_delta_ms > 60_000 {
            return Err(invalid("consensus.timeout_delta_ms", "must be at most 60000"));
        }
        if c.timeout_propose_ms <= c.empty_block_interval_ms {
            return Err(invalid(
                "consensus.timeout_propose_ms",
                "must exceed empty_block_interval_ms, or validators give up on an idle proposer",
            ));
        }
        if self.threads > 1024 {
            return Err(invalid("threads", "must be at most 1024 (0 = one per core)"));
        }
        let m = &self.mempool;
        if m.max_transfers == 0 || m.max_bytes < 4096 || m.future_nonces == 0 {
            return Err(invalid("mempool", "max_transfers, future_nonces >= 1 and max_bytes >= 4096"));
        }
        if m.max_backlog_ms > 600_000 {
            return Err(invalid("mempool.max_backlog_ms", "must be at most 600000 (0 = no shedding)"));
        }
        Ok(())
    }
}

/// Applies `dotted.key=value` to a parsed `config.toml`; the value is read as TOML (a number,
/// boolean, array…) if it parses, else as a string.
pub fn apply_override(doc: &mut toml::Table, assignment: &str) -> Result<(), ConfigError> {
    let (key, value) = assignment
        .split_once('=')
        .ok_or_else(|| invalid(assignment, "an override is KEY=VALUE, e.g. consensus.timeout_propose_ms=2000"))?;
    let value: toml::Value = toml::from_str::<toml::Table>(&format!("v = {value}"))
        .ok()
        .and_then(|t| t.get("v").cloned())
        .unwrap_or_else(|| toml::Value::String(value.to_string()));
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().filter(|l| !l.is_empty()).ok_or_else(|| invalid(key, "empty key"))?;
    let mut table = doc;
    for part in parts {
        table = table
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| invalid(key, "not a section"))?;
    }
    table.insert(last.to_string(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_reach_any_field_and_stay_typed() {
        let mut doc: toml::Table = toml::from_str(&NodeConfig::default().to_toml()).unwrap();
        apply_override(&mut doc, "consensus.timeout_propose_ms=2500").unwrap();
        apply_override(&mut doc, "moniker=alice").unwrap();
        apply_override(&mut doc, "rpc.rate_limit_exempt_loopback=false").unwrap();
        apply_override(&mut doc, "peers=[\"/ip4/127.0.0.1/tcp/1\"]").unwrap();
        let config = NodeConfig::from_toml(&toml::to_string(&doc).unwrap()).unwrap();
        assert_eq!(config.consensus.timeout_propose_ms, 2500);
        assert_eq!(config.moniker, "alice");
        assert!(!config.rpc.rate_limit_exempt_loopback);
        assert_eq!(config.peers, vec!["/ip4/127.0.0.1/tcp/1".to_string()]);
        assert!(apply_override(&mut doc, "no-equals-sign").is_err());
        apply_override(&mut doc, "consensus.bogus=1").unwrap();
        assert!(NodeConfig::from_toml(&toml::to_string(&doc).unwrap()).is_err(), "unknown fields are refused");
    }

    #[test]
    fn defaults_round_trip_and_validate() {
        let config = NodeConfig::default();
        config.validate().unwrap();
        assert_eq!(NodeConfig::from_toml(&config.to_toml()).unwrap(), config);
        assert_eq!(NodeConfig::from_toml("").unwrap(), config);
    }

    #[test]
    fn errors_name_the_field() {
        assert!(matches!(NodeConfig::from_toml("bogus = 1"), Err(ConfigError::Parse(_))));
        let mut config = NodeConfig::default();
        config.consensus.timeout_propose_ms = 500;
        assert!(config.validate().unwrap_err().to_string().contains("consensus.timeout_propose_ms"));
        let config = NodeConfig { peers: vec!["nonsense".into()], ..NodeConfig::default() };
        assert!(config.validate().unwrap_err().to_string().contains("peers[0]"));
        let config = NodeConfig { threads: 5000, ..NodeConfig::default() };
        assert!(config.validate().unwrap_err().to_string().contains("threads"));
    }
}
