//! The crate's one error type, [`P2pError`], and the configuration errors it wraps.

use libp2p::{gossipsub, request_response, Multiaddr, PeerId, TransportError};

use crate::types::{InboundRequestId, Topic};

/// Everything that can go wrong in the peer-to-peer layer, by kind.
///
/// The node decides by variant: [`P2pError::InsufficientPeers`] and [`P2pError::Duplicate`] are
/// normal while a network forms and can be ignored; [`P2pError::Stopped`] means the network task
/// is gone and the node should shut down.
#[derive(Debug, thiserror::Error)]
pub enum P2pError {
    /// The [`NetworkConfig`](crate::NetworkConfig) is invalid.
    #[error("invalid network config: {0}")]
    Config(#[from] ConfigError),

    /// The noise handshake configuration could not be built from the keypair.
    #[error("cannot set up the transport: {0}")]
    Transport(#[from] libp2p::noise::Error),

    /// A libp2p component refused its configuration (a bug in this crate, not a network event).
    #[error("cannot set up {component}: {reason}")]
    Setup {
        /// The component that refused, e.g. `"gossipsub"`.
        component: &'static str,
        /// What it said.
        reason: String,
    },

    /// Listening on an address failed.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address from the config.
        addr: Multiaddr,
        /// The transport's error.
        #[source]
        source: TransportError<std::io::Error>,
    },

    /// A listener did not report a bound address in time, or closed before it did.
    #[error("listener on {addr} did not come up")]
    ListenFailed {
        /// The address from the config.
        addr: Multiaddr,
    },

    /// No connected peer is subscribed to the topic yet. Normal while the network forms: the
    /// node may ignore it (consensus messages are re-sent on timeouts anyway).
    #[error("no peers subscribed to {topic} yet")]
    InsufficientPeers {
        /// The topic that was published to.
        topic: Topic,
    },

    /// These exact bytes were already published or seen recently (message ids are content hashes).
    #[error("message already published on {topic}")]
    Duplicate {
        /// The topic that was published to.
        topic: Topic,
    },

    /// A message, request or response exceeds its limit; nothing was sent.
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    MessageTooLarge {
        /// The size of the rejected payload.
        size: usize,
        /// The limit that applies to it.
        limit: usize,
    },

    /// Every peer's outbound queue was full: the message was not sent to anyone.
    #[error("publishing on {topic} failed: the queues of all {peers} peers are full")]
    QueuesFull {
        /// The topic that was published to.
        topic: Topic,
        /// How many peers were tried.
        peers: usize,
    },

    /// Gossipsub refused to publish for another reason.
    #[error("publishing on {topic} failed: {source}")]
    Publish {
        /// The topic that was published to.
        topic: Topic,
        /// Gossipsub's error.
        #[source]
        source: gossipsub::PublishError,
    },

    /// The peer is not connected (or has not passed the identify check yet).
    #[error("peer {peer} is not connected")]
    NotConnected {
        /// The peer.
        peer: PeerId,
    },

    /// A sync request failed: the peer did not answer, answered with something oversize or
    /// malformed, or the connection closed.
    #[error("request to {peer} failed: {source}")]
    RequestFailed {
        /// The peer the request went to.
        peer: PeerId,
        /// What request-response reported.
        #[source]
        source: request_response::OutboundFailure,
    },

    /// A sync request got no answer within the request timeout.
    #[error("request to {peer} timed out")]
    RequestTimeout {
        /// The peer the request went to.
        peer: PeerId,
    },

    /// [`respond`](crate::NetworkHandle::respond) named a request that is no longer waiting
    /// (already answered, timed out, or its connection closed).
    #[error("inbound request {request_id} is no longer waiting for a response")]
    UnknownRequest {
        /// The request's id.
        request_id: InboundRequestId,
    },

    /// The network task has stopped (shut down, or its event receiver was dropped).
    #[error("the network task has stopped")]
    Stopped,
}

/// Why a [`NetworkConfig`](crate::NetworkConfig) is invalid; each variant names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `chain_id` is not 1..=64 characters of `[a-z0-9-]`.
    #[error("chain_id {chain_id:?} must be 1..=64 characters of [a-z0-9-]")]
    ChainId {
        /// The offending value.
        chain_id: String,
    },
    /// `max_message_bytes` is outside the accepted range.
    #[error("max_message_bytes {value} must be within {min}..={max}")]
    MaxMessageBytes {
        /// The offending value.
        value: usize,
        /// Smallest accepted value.
        min: usize,
        /// Largest accepted value.
        max: usize,
    },
    /// `max_peers` is zero.
    #[error("max_peers must be at least 1")]
    MaxPeers,
    /// A duration in `timing` is outside its accepted range.
    #[error("timing.{field} must be within {min_ms}..={max_ms} ms")]
    Timing {
        /// The field's name.
        field: &'static str,
        /// Smallest accepted value in milliseconds.
        min_ms: u64,
        /// Largest accepted value in milliseconds.
        max_ms: u64,
    },
    /// `timing.redial_initial` is greater than `timing.redial_max`.
    #[error("timing.redial_initial must not exceed timing.redial_max")]
    RedialBackoff,
}
