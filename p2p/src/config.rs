//! [`NetworkConfig`]: what the node decides (identity, chain, addresses, limits) and the
//! timings that have sensible defaults.

use std::time::Duration;

use libp2p::{identity::Keypair, Multiaddr};

use crate::error::ConfigError;

/// Default number of distinct peers (§6 leaves it to the node; 50 is plenty for a validator set).
pub const DEFAULT_MAX_PEERS: u32 = 50;

/// Room added to `max_block_bytes` for a proposal's envelope (header, signature, round data).
pub const MESSAGE_ENVELOPE_BYTES: usize = 64 * 1024;

/// Largest accepted sync request. Requests name ranges of heights, so they are small.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// Smallest accepted `max_message_bytes`: a request must fit, and so must a small block.
pub const MIN_MESSAGE_BYTES: usize = MAX_REQUEST_BYTES;

/// Largest accepted `max_message_bytes`, a guard against a misconfigured genesis.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;

/// The default listen address of §6.
pub const DEFAULT_LISTEN: &str = "/ip4/0.0.0.0/tcp/26656";

/// The limit for one gossip message or sync response, derived from the genesis `max_block_bytes`
/// as §5 requires: a full block plus [`MESSAGE_ENVELOPE_BYTES`].
pub fn max_message_bytes_for(max_block_bytes: usize) -> usize {
    max_block_bytes.saturating_add(MESSAGE_ENVELOPE_BYTES)
}

/// Everything the network actor needs. Build it with [`NetworkConfig::new`], adjust the public
/// fields, and [`validate`](NetworkConfig::validate) (which [`Network::spawn`](crate::Network::spawn)
/// also does).
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// Addresses to listen on; `/tcp/0` picks a free port (see
    /// [`NetworkHandle::listen_addrs`](crate::NetworkHandle::listen_addrs)). Empty: dial only.
    pub listen: Vec<Multiaddr>,
    /// Peers to dial at start and redial whenever they disconnect, with capped exponential
    /// backoff. A `/p2p/<peer id>` suffix is optional.
    pub bootstrap: Vec<Multiaddr>,
    /// The node's libp2p identity (not its consensus key).
    pub keypair: Keypair,
    /// The chain id from the genesis; it names the gossip topics.
    pub chain_id: String,
    /// SHA-256 of the genesis file; peers with another one are refused.
    pub genesis_hash: [u8; 32],
    /// Limit for one gossip message and one sync response; derive it with
    /// [`max_message_bytes_for`] from the genesis `max_block_bytes`.
    pub max_message_bytes: usize,
    /// Most distinct peers at once; bootstrap peers are always let in. Default 50.
    pub max_peers: u32,
    /// Timings, all with defaults.
    pub timing: NetworkTiming,
}

impl NetworkConfig {
    /// A config for `chain_id` / `genesis_hash` with the defaults: listen on [`DEFAULT_LISTEN`],
    /// no bootstrap peers, `max_message_bytes` for a 4 MiB block, [`DEFAULT_MAX_PEERS`].
    pub fn new(keypair: Keypair, chain_id: impl Into<String>, genesis_hash: [u8; 32]) -> Self {
        NetworkConfig {
            listen: DEFAULT_LISTEN.parse().map(|addr| vec![addr]).unwrap_or_default(),
            bootstrap: Vec::new(),
            keypair,
            chain_id: chain_id.into(),
            genesis_hash,
            max_message_bytes: max_message_bytes_for(4 * 1024 * 1024),
            max_peers: DEFAULT_MAX_PEERS,
            timing: NetworkTiming::default(),
        }
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let id = &self.chain_id;
        let id_ok = (1..=64).contains(&id.len())
            && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !id_ok {
            return Err(ConfigError::ChainId { chain_id: id.clone() });
        }
        if !(MIN_MESSAGE_BYTES..=MAX_MESSAGE_BYTES).contains(&self.max_message_bytes) {
            return Err(ConfigError::MaxMessageBytes {
                value: self.max_message_bytes,
                min: MIN_MESSAGE_BYTES,
                max: MAX_MESSAGE_BYTES,
            });
        }
        if self.max_peers == 0 {
            return Err(ConfigError::MaxPeers);
        }
        self.timing.validate()
    }

    /// The identify protocol version every peer of this chain announces: `tally/1/<genesis hex>`.
    pub fn protocol_version(&self) -> String {
        protocol_version(&self.genesis_hash)
    }
}

/// The identify protocol version for a genesis hash: `tally/1/<64 lowercase hex>`.
pub fn protocol_version(genesis_hash: &[u8; 32]) -> String {
    format!("tally/1/{}", hex::encode(genesis_hash))
}

/// Timings of the network actor. The defaults suit both a loopback test network and a WAN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkTiming {
    /// Gossipsub heartbeat (mesh maintenance, gossip emission). Default 300 ms: short, so that a
    /// fresh network forms its mesh quickly. Allowed 100 ms ..= 5 s.
    pub heartbeat_interval: Duration,
    /// How long an outbound sync request may take. Default 10 s.
    pub request_timeout: Duration,
    /// How long a new connection may stay unidentified before it is closed. Default 10 s.
    pub identify_timeout: Duration,
    /// First redial delay for a lost bootstrap peer. Default 500 ms.
    pub redial_initial: Duration,
    /// Cap of the doubling redial delay. Default 30 s.
    pub redial_max: Duration,
    /// How long a refused (other chain) or graylisted peer stays blocked. Default 10 min.
    pub ban_duration: Duration,
    /// How long a connection with no active stream and no mesh membership stays open. Default 10 min.
    pub idle_connection_timeout: Duration,
}

impl Default for NetworkTiming {
    fn default() -> Self {
        NetworkTiming {
            heartbeat_interval: Duration::from_millis(300),
            request_timeout: Duration::from_secs(10),
            identify_timeout: Duration::from_secs(10),
            redial_initial: Duration::from_millis(500),
            redial_max: Duration::from_secs(30),
            ban_duration: Duration::from_secs(600),
            idle_connection_timeout: Duration::from_secs(600),
        }
    }
}

impl NetworkTiming {
    /// Checks each duration against its range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        const HOUR: u64 = 3_600_000;
        let checks: [(&'static str, Duration, u64, u64); 7] = [
            ("heartbeat_interval", self.heartbeat_interval, 100, 5_000),
            ("request_timeout", self.request_timeout, 100, 10 * 60_000),
            ("identify_timeout", self.identify_timeout, 100, 10 * 60_000),
            ("redial_initial", self.redial_initial, 10, HOUR),
            ("redial_max", self.redial_max, 10, 24 * HOUR),
            ("ban_duration", self.ban_duration, 1_000, 7 * 24 * HOUR),
            ("idle_connection_timeout", self.idle_connection_timeout, 1_000, 24 * HOUR),
        ];
        for (field, value, min_ms, max_ms) in checks {
            let ms = value.as_millis();
            if ms < u128::from(min_ms) || ms > u128::from(max_ms) {
                return Err(ConfigError::Timing { field, min_ms, max_ms });
            }
        }
        if self.redial_initial > self.redial_max {
            return Err(ConfigError::RedialBackoff);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> NetworkConfig {
        NetworkConfig::new(Keypair::generate_ed25519(), "tally-devnet", [7; 32])
    }

    #[test]
    fn defaults_are_valid() {
        let config = config();
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.listen.len(), 1);
        assert_eq!(config.max_message_bytes, 4 * 1024 * 1024 + 64 * 1024);
        assert_eq!(config.protocol_version(), format!("tally/1/{}", "07".repeat(32)));
    }

    #[test]
    fn each_bad_field_is_named() {
        let mut c = config();
        c.chain_id = "Tally".into();
        assert!(matches!(c.validate(), Err(ConfigError::ChainId { .. })));
        c.chain_id = "a".repeat(65);
        assert!(matches!(c.validate(), Err(ConfigError::ChainId { .. })));

        let mut c = config();
        c.max_message_bytes = 10;
        assert!(matches!(c.validate(), Err(ConfigError::MaxMessageBytes { value: 10, .. })));

        let mut c = config();
        c.max_peers = 0;
        assert_eq!(c.validate(), Err(ConfigError::MaxPeers));

        let mut c = config();
        c.timing.heartbeat_interval = Duration::from_millis(5);
        assert!(matches!(c.validate(), Err(ConfigError::Timing { field: "heartbeat_interval", .. })));

        let mut c = config();
        c.timing.redial_initial = Duration::from_secs(60);
        c.timing.redial_max = Duration::from_secs(1);
        assert_eq!(c.validate(), Err(ConfigError::RedialBackoff));
    }
}
