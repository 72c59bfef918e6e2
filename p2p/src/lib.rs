//! Tally's peer-to-peer edge: the node's whole libp2p stack as one actor that moves opaque bytes.
//!
//! [`Network::spawn`] starts one tokio task that owns the libp2p swarm (TCP, noise, yamux,
//! identify, ping, gossipsub, the `/tally/sync/1` request-response protocol) and returns a
//! [`NetworkHandle`] for commands and a channel of [`NetworkEvent`]s. The crate never decodes
//! what it carries: the node decodes and validates, then reports a [`Verdict`] on every gossip
//! message, and only accepted messages are forwarded.
//!
//! Peers must announce the identify protocol version `tally/1/<genesis hash hex>`; any other
//! chain is refused at connection time. Invalid messages lower the sender's gossipsub score; a
//! peer that falls below the graylist threshold is disconnected and banned for a while.
//!
//! Modules: `config` (what the node decides), `behaviour` and `gossip` (libp2p setup), `codec`
//! (the sync wire format), `network` (spawning), `actor` (the event loop), `dialer` and `peers` (its bookkeeping),
//! `handle` (the node's side) and `error`.
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod actor;
mod behaviour;
mod codec;
mod config;
mod dialer;
mod error;
mod gossip;
mod handle;
mod network;
mod peers;
mod types;

pub use codec::SYNC_PROTOCOL;
pub use config::{
    max_message_bytes_for, protocol_version, NetworkConfig, NetworkTiming, DEFAULT_LISTEN, DEFAULT_MAX_PEERS,
    MAX_MESSAGE_BYTES, MAX_REQUEST_BYTES, MESSAGE_ENVELOPE_BYTES, MIN_MESSAGE_BYTES,
};
pub use error::{ConfigError, P2pError};
pub use gossip::VALIDATION_WINDOW;
pub use handle::NetworkHandle;
pub use network::{Network, COMMAND_CHANNEL_CAPACITY, EVENT_CHANNEL_CAPACITY};
pub use types::{InboundRequestId, MessageId, NetworkEvent, NetworkStats, Topic, Verdict};

/// The libp2p types the node needs, so that it does not depend on libp2p itself.
pub use libp2p::{identity::Keypair, multiaddr::Protocol, Multiaddr, PeerId};
