//! Connected peers and whether they passed the chain check.
//!
//! A connection is up before identify has told us the peer's chain. Until it has, the peer is
//! *unverified*: the node hears nothing about it, and whatever it sends (gossip, requests) is held
//! here, within a byte budget. Verification releases the held events in order; refusal or a
//! disconnect hands them back for disposal.

use std::collections::HashMap;

use libp2p::PeerId;
use tokio::time::{Duration, Instant};

use crate::types::NetworkEvent;

#[derive(Debug)]
enum PeerState {
    Unverified { since: Instant, held: Vec<NetworkEvent> },
    Verified,
}

/// What a peer left behind when it went away.
#[derive(Debug)]
pub(crate) struct Departed {
    /// Whether the node was told it connected (so it must be told it left).
    pub(crate) was_verified: bool,
    /// Events held while it was unverified, to dispose of.
    pub(crate) held: Vec<NetworkEvent>,
}

/// The peers with at least one connection.
#[derive(Debug)]
pub(crate) struct PeerBook {
    peers: HashMap<PeerId, PeerState>,
    held_bytes: usize,
    held_budget: usize,
}

impl PeerBook {
    /// At most `held_budget` payload bytes are held for unverified peers at once.
    pub(crate) fn new(held_budget: usize) -> Self {
        PeerBook { peers: HashMap::new(), held_bytes: 0, held_budget }
    }

    /// A connection to `peer` is up; returns whether the peer is new.
    pub(crate) fn connected(&mut self, peer: PeerId, now: Instant) -> bool {
        if self.peers.contains_key(&peer) {
            return false;
        }
        self.peers.insert(peer, PeerState::Unverified { since: now, held: Vec::new() });
        true
    }

    /// Number of peers with a connection, verified or not.
    pub(crate) fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether `peer` passed the chain check.
    pub(crate) fn is_verified(&self, peer: &PeerId) -> bool {
        matches!(self.peers.get(peer), Some(PeerState::Verified))
    }

    /// The peers that passed the chain check.
    pub(crate) fn verified(&self) -> Vec<PeerId> {
        self.peers.iter().filter(|(_, s)| matches!(s, PeerState::Verified)).map(|(p, _)| *p).collect()
    }

    /// `peer` passed the chain check. Returns its held events if it was unverified until now.
    pub(crate) fn verify(&mut self, peer: PeerId) -> Option<Vec<NetworkEvent>> {
        let state = self.peers.get_mut(&peer)?;
        match std::mem::replace(state, PeerState::Verified) {
            PeerState::Unverified { held, .. } => {
                self.held_bytes = self.held_bytes.saturating_sub(held.iter().map(NetworkEvent::payload_len).sum());
                Some(held)
            }
            PeerState::Verified => None,
        }
    }

    /// Holds an event from an unverified peer. Gives it back when the peer is not unverified or
    /// the budget is spent.
    pub(crate) fn hold(&mut self, peer: &PeerId, event: NetworkEvent) -> Option<NetworkEvent> {
        let len = event.payload_len();
        match self.peers.get_mut(peer) {
            Some(PeerState::Unverified { held, .. }) if self.held_bytes.saturating_add(len) <= self.held_budget => {
                self.held_bytes += len;
                held.push(event);
                None
            }
            _ => Some(event),
        }
    }

    /// The last connection to `peer` closed (or it was refused).
    pub(crate) fn remove(&mut self, peer: &PeerId) -> Departed {
        match self.peers.remove(peer) {
            Some(PeerState::Unverified { held, .. }) => {
                self.held_bytes = self.held_bytes.saturating_sub(held.iter().map(NetworkEvent::payload_len).sum());
                Departed { was_verified: false, held }
            }
            Some(PeerState::Verified) => Departed { was_verified: true, held: Vec::new() },
            None => Departed { was_verified: false, held: Vec::new() },
        }
    }

    /// Unverified peers connected for longer than `timeout`.
    pub(crate) fn unverified_since(&self, now: Instant, timeout: Duration) -> Vec<PeerId> {
        self.peers
            .iter()
            .filter(|(_, s)| {
                matches!(s, PeerState::Unverified { since, .. } if now.saturating_duration_since(*since) > timeout)
            })
            .map(|(p, _)| *p)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{InboundRequestId, MessageId, Topic};

    fn gossip(peer: PeerId, len: usize) -> NetworkEvent {
        let data = vec![0; len];
        NetworkEvent::Gossip { topic: Topic::Transfers, source: peer, message_id: MessageId::of(&data), data }
    }

    #[test]
    fn held_events_are_released_on_verification_in_order() {
        let mut book = PeerBook::new(100);
        let peer = PeerId::random();
        let now = Instant::now();
        assert!(book.connected(peer, now));
        assert!(!book.connected(peer, now));
        assert!(!book.is_verified(&peer));
        assert!(book.hold(&peer, gossip(peer, 10)).is_none());
        let request = NetworkEvent::InboundRequest { request_id: InboundRequestId(1), peer, request: vec![1; 5] };
        assert!(book.hold(&peer, request.clone()).is_none());
        let released = book.verify(peer).unwrap();
        assert_eq!(released, vec![gossip(peer, 10), request]);
        assert!(book.is_verified(&peer));
        assert_eq!(book.verified(), vec![peer]);
        assert!(book.verify(peer).is_none(), "released once");
        assert!(book.hold(&peer, gossip(peer, 1)).is_some(), "verified peers' events are not held");
        assert!(book.remove(&peer).was_verified);
    }

    #[test]
    fn budget_is_shared_and_returned() {
        let mut book = PeerBook::new(100);
        let (a, b) = (PeerId::random(), PeerId::random());
        let now = Instant::now();
        book.connected(a, now);
        book.connected(b, now);
        assert!(book.hold(&a, gossip(a, 60)).is_none());
        assert!(book.hold(&b, gossip(b, 60)).is_some(), "over budget");
        let departed = book.remove(&a);
        assert!(!departed.was_verified);
        assert_eq!(departed.held.len(), 1);
        assert!(book.hold(&b, gossip(b, 60)).is_none());
        assert_eq!(book.len(), 1);
    }

    #[test]
    fn slow_identification_is_reported() {
        let mut book = PeerBook::new(100);
        let (a, b) = (PeerId::random(), PeerId::random());
        let now = Instant::now();
        book.connected(a, now);
        book.connected(b, now);
        book.verify(b);
        let timeout = Duration::from_secs(10);
        assert!(book.unverified_since(now + timeout, timeout).is_empty());
        assert_eq!(book.unverified_since(now + timeout + Duration::from_millis(1), timeout), vec![a]);
    }
}
