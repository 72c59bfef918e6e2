//! The typed values that cross the actor's boundary: topics, verdicts, ids and events.

use std::fmt;

use libp2p::{gossipsub, PeerId};
use sha2::{Digest, Sha256};

/// The two gossip topics of a Tally chain (§9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// `tally/<chain_id>/tx/1`: batches of transfers.
    Transfers,
    /// `tally/<chain_id>/consensus/1`: proposals (with full blocks) and votes.
    Consensus,
}

impl Topic {
    /// Both topics, in a fixed order.
    pub const ALL: [Topic; 2] = [Topic::Transfers, Topic::Consensus];

    /// The topic's wire name on the chain `chain_id`.
    pub fn name(self, chain_id: &str) -> String {
        match self {
            Topic::Transfers => format!("tally/{chain_id}/tx/1"),
            Topic::Consensus => format!("tally/{chain_id}/consensus/1"),
        }
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Topic::Transfers => "transfers",
            Topic::Consensus => "consensus",
        })
    }
}

/// The node's verdict on a gossiped message, reported with
/// [`NetworkHandle::report`](crate::NetworkHandle::report).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Valid: forward it to the mesh.
    Accept,
    /// Invalid in a way that needs no state (undecodable, bad signature, wrong chain, unknown
    /// validator): drop it and lower the sender's score; a persistent offender is disconnected.
    Reject,
    /// Merely stale or unwanted here (used nonce, old height, pool full): drop it, no penalty.
    Ignore,
}

impl From<Verdict> for gossipsub::MessageAcceptance {
    fn from(verdict: Verdict) -> Self {
        match verdict {
            Verdict::Accept => gossipsub::MessageAcceptance::Accept,
            Verdict::Reject => gossipsub::MessageAcceptance::Reject,
            Verdict::Ignore => gossipsub::MessageAcceptance::Ignore,
        }
    }
}

/// A gossip message's id: SHA-256 of its data, so identical bytes are one message network-wide.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(pub [u8; 32]);

impl MessageId {
    /// The id of a message carrying `data`.
    pub fn of(data: &[u8]) -> Self {
        MessageId(Sha256::digest(data).into())
    }

    /// The id in gossipsub's representation.
    pub(crate) fn to_gossipsub(self) -> gossipsub::MessageId {
        gossipsub::MessageId::new(&self.0)
    }

    /// Converts gossipsub's id back; `data` is the message, hashed only if the id is not 32 bytes
    /// (which cannot happen with this crate's id function).
    pub(crate) fn from_gossipsub(id: &gossipsub::MessageId, data: &[u8]) -> Self {
        match <[u8; 32]>::try_from(id.0.as_slice()) {
            Ok(bytes) => MessageId(bytes),
            Err(_) => MessageId::of(data),
        }
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageId({self})")
    }
}

/// An opaque id for an inbound sync request, to pass back to
/// [`NetworkHandle::respond`](crate::NetworkHandle::respond).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InboundRequestId(pub(crate) u64);

impl fmt::Display for InboundRequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Counts of peers by state, from [`NetworkHandle::stats`](crate::NetworkHandle::stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetworkStats {
    /// Peers with at least one connection, identified or not yet.
    pub connected_peers: usize,
    /// Peers that passed the chain check (those announced with `PeerConnected`).
    pub identified_peers: usize,
    /// Peers currently banned (another chain, or graylisted for invalid messages).
    pub banned_peers: usize,
}

/// What the network tells the node, in order per peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkEvent {
    /// A gossip message awaiting validation. Nothing is forwarded until the node answers with
    /// [`NetworkHandle::report`](crate::NetworkHandle::report) (the answer is due within about
    /// [`VALIDATION_WINDOW`](crate::VALIDATION_WINDOW); after that the message is dropped).
    Gossip {
        /// The topic it arrived on.
        topic: Topic,
        /// The peer that delivered it (not necessarily its author: messages are anonymous).
        source: PeerId,
        /// Its id, SHA-256 of `data`.
        message_id: MessageId,
        /// The opaque bytes; never longer than `max_message_bytes`.
        data: Vec<u8>,
    },
    /// A peer connected and proved it runs the same chain (its identify protocol version matches).
    PeerConnected(PeerId),
    /// A peer that was announced with [`NetworkEvent::PeerConnected`] lost its last connection.
    PeerDisconnected(PeerId),
    /// A peer asks something over `/tally/sync/1`; answer with
    /// [`NetworkHandle::respond`](crate::NetworkHandle::respond) before the request timeout.
    InboundRequest {
        /// The id to respond to.
        request_id: InboundRequestId,
        /// The asking peer.
        peer: PeerId,
        /// The opaque request bytes; at most [`MAX_REQUEST_BYTES`](crate::MAX_REQUEST_BYTES).
        request: Vec<u8>,
    },
}

impl NetworkEvent {
    /// The payload bytes the event carries (for memory budgets).
    pub(crate) fn payload_len(&self) -> usize {
        match self {
            NetworkEvent::Gossip { data, .. } => data.len(),
            NetworkEvent::InboundRequest { request, .. } => request.len(),
            NetworkEvent::PeerConnected(_) | NetworkEvent::PeerDisconnected(_) => 0,
        }
    }
}
