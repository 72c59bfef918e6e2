//! The one composed libp2p behaviour and the swarm that drives it.

use libp2p::{
    allow_block_list::{self, BlockedPeers},
    connection_limits::{self, ConnectionLimits},
    gossipsub, identify, noise, ping,
    request_response::{self, ProtocolSupport},
    swarm::NetworkBehaviour,
    tcp, yamux, Swarm, SwarmBuilder,
};

use crate::{
    codec::{SyncCodec, SYNC_PROTOCOL},
    config::NetworkConfig,
    error::P2pError,
    gossip,
};

/// Connections allowed per peer: two, so that a simultaneous dial from both sides survives.
const MAX_CONNECTIONS_PER_PEER: u32 = 2;

/// Everything Tally speaks to its peers, driven by one swarm in one task.
#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    /// Refuses connections from banned peers (other chain, graylisted) and closes existing ones.
    pub(crate) blocked: allow_block_list::Behaviour<BlockedPeers>,
    /// Hard caps on connections; the actor enforces `max_peers` on distinct peers on top.
    pub(crate) limits: connection_limits::Behaviour,
    /// Announces `tally/1/<genesis hash>`; a peer announcing anything else is refused.
    pub(crate) identify: identify::Behaviour,
    /// Liveness: a peer that stops answering is disconnected.
    pub(crate) ping: ping::Behaviour,
    /// The transfer and consensus topics.
    pub(crate) gossipsub: gossipsub::Behaviour,
    /// `/tally/sync/1`.
    pub(crate) sync: request_response::Behaviour<SyncCodec>,
}

/// Builds the swarm: TCP, noise, yamux and the composed behaviour.
pub(crate) fn build_swarm(config: &NetworkConfig) -> Result<Swarm<Behaviour>, P2pError> {
    let gossipsub = gossip::behaviour(config)?;
    let max_established = config.max_peers.saturating_mul(MAX_CONNECTIONS_PER_PEER);
    let limits = ConnectionLimits::default()
        .with_max_established(Some(max_established))
        .with_max_established_per_peer(Some(MAX_CONNECTIONS_PER_PEER))
        .with_max_pending_incoming(Some(config.max_peers));
    let sync_config = request_response::Config::default()
        .with_request_timeout(config.timing.request_timeout)
        .with_max_concurrent_streams(64);
    let identify_config = identify::Config::new(config.protocol_version(), config.keypair.public())
        .with_agent_version(format!("tally-node/{}", env!("CARGO_PKG_VERSION")));
    let sync = request_response::Behaviour::with_codec(
        SyncCodec::new(config.max_message_bytes),
        [(SYNC_PROTOCOL, ProtocolSupport::Full)],
        sync_config,
    );

    let behaviour = Behaviour {
        blocked: allow_block_list::Behaviour::default(),
        limits: connection_limits::Behaviour::new(limits),
        identify: identify::Behaviour::new(identify_config),
        ping: ping::Behaviour::default(),
        gossipsub,
        sync,
    };

    let idle_timeout = config.timing.idle_connection_timeout;
    let swarm = SwarmBuilder::with_existing_identity(config.keypair.clone())
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)?
        .with_behaviour(|_| behaviour)
        .map_err(|e| P2pError::Setup { component: "swarm", reason: e.to_string() })?
        .with_swarm_config(|c| c.with_idle_connection_timeout(idle_timeout))
        .build();
    Ok(swarm)
}
