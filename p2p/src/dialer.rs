//! Bootstrap peers: when to dial and redial them. Pure bookkeeping, driven by the actor with
//! the current time, so that it can be tested without a network.
//!
//! Each bootstrap address is dialed at start. When the dial fails or the peer disconnects, it is
//! dialed again after a delay that doubles from `redial_initial` up to `redial_max`; the delay
//! resets once a connection has lasted [`STABLE_CONNECTION`]. An address that turns out to be
//! ourselves, or a peer of another chain, is never dialed again.

use std::time::Duration;

use libp2p::{multiaddr::Protocol, swarm::ConnectionId, Multiaddr, PeerId};
use tokio::time::Instant;

/// A connection that lasted this long resets the backoff.
pub(crate) const STABLE_CONNECTION: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting to be dialed at `due`.
    Idle { due: Instant },
    /// A dial is in flight.
    Dialing(ConnectionId),
    /// Connected since the instant.
    Connected(Instant),
    /// Never dialed again: it is ourselves, or a peer of another chain.
    Abandoned,
}

#[derive(Debug)]
struct Entry {
    addr: Multiaddr,
    peer: Option<PeerId>,
    state: State,
    backoff: Duration,
}

/// A bootstrap address to dial now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DialTarget {
    /// Index of the entry, to report the dial's connection id back with [`Bootstrap::dialing`].
    pub(crate) index: usize,
    /// The address.
    pub(crate) addr: Multiaddr,
    /// The peer id, when known from a `/p2p/` suffix or an earlier connection.
    pub(crate) peer: Option<PeerId>,
}

/// The redial schedule of all bootstrap addresses.
#[derive(Debug)]
pub(crate) struct Bootstrap {
    entries: Vec<Entry>,
    initial: Duration,
    max: Duration,
}

impl Bootstrap {
    /// Every address is due at `now`.
    pub(crate) fn new(addrs: &[Multiaddr], initial: Duration, max: Duration, now: Instant) -> Self {
        let entries = addrs
            .iter()
            .map(|addr| Entry {
                addr: addr.clone(),
                peer: peer_of(addr),
                state: State::Idle { due: now },
                backoff: initial,
            })
            .collect();
        Bootstrap { entries, initial, max }
    }

    /// The entries due for a dial at `now`.
    pub(crate) fn due(&self, now: Instant) -> Vec<DialTarget> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| matches!(e.state, State::Idle { due } if due <= now))
            .map(|(index, e)| DialTarget { index, addr: e.addr.clone(), peer: e.peer })
            .collect()
    }

    /// A dial for entry `index` started with connection id `id`.
    pub(crate) fn dialing(&mut self, index: usize, id: ConnectionId) {
        if let Some(entry) = self.entries.get_mut(index) {
            entry.state = State::Dialing(id);
        }
    }

    /// Entry `index` needs no dial: its peer is already connected.
    pub(crate) fn already_connected(&mut self, index: usize, now: Instant) {
        if let Some(entry) = self.entries.get_mut(index) {
            entry.state = State::Connected(now);
        }
    }

    /// Entry `index` could not be dialed (or its peer is banned): try again later.
    pub(crate) fn postpone(&mut self, index: usize, now: Instant) {
        if let Some(entry) = self.entries.get_mut(index) {
            schedule(entry, now, self.max);
        }
    }

    /// A connection to `peer` is up; `id` may be one of our dials.
    pub(crate) fn connected(&mut self, id: ConnectionId, peer: PeerId, now: Instant) {
        for entry in &mut self.entries {
            let ours = entry.state == State::Dialing(id);
            let known_idle = entry.peer == Some(peer) && matches!(entry.state, State::Idle { .. });
            if ours || known_idle {
                entry.peer = Some(peer);
                entry.state = State::Connected(now);
            }
        }
    }

    /// Our dial `id` failed; `is_self` when the address turned out to be our own.
    pub(crate) fn dial_failed(&mut self, id: ConnectionId, is_self: bool, now: Instant) {
        for entry in &mut self.entries {
            if entry.state == State::Dialing(id) {
                if is_self {
                    entry.state = State::Abandoned;
                } else {
                    schedule(entry, now, self.max);
                }
            }
        }
    }

    /// The last connection to `peer` closed.
    pub(crate) fn disconnected(&mut self, peer: PeerId, now: Instant) {
        let initial = self.initial;
        for entry in &mut self.entries {
            if entry.peer != Some(peer) {
                continue;
            }
            if let State::Connected(since) = entry.state {
                if now.saturating_duration_since(since) >= STABLE_CONNECTION {
                    entry.backoff = initial;
                }
                schedule(entry, now, self.max);
            }
        }
    }

    /// `peer` runs another chain: never dial its addresses again.
    pub(crate) fn abandon(&mut self, peer: PeerId) {
        for entry in &mut self.entries {
            if entry.peer == Some(peer) {
                entry.state = State::Abandoned;
            }
        }
    }

    /// Whether `peer` or connection `id` belongs to a bootstrap entry (such peers bypass
    /// `max_peers`).
    pub(crate) fn is_bootstrap(&self, peer: &PeerId, id: ConnectionId) -> bool {
        self.entries.iter().any(|e| e.peer.as_ref() == Some(peer) || e.state == State::Dialing(id))
    }
}

/// Waits the entry's current backoff, then doubles it up to `max`.
fn schedule(entry: &mut Entry, now: Instant, max: Duration) {
    entry.state = State::Idle { due: now + entry.backoff };
    entry.backoff = entry.backoff.saturating_mul(2).min(max);
}

/// The peer id in an address's `/p2p/` suffix.
fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        Protocol::P2p(peer) => Some(peer),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn setup() -> (Bootstrap, Instant) {
        let now = Instant::now();
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().unwrap();
        (Bootstrap::new(&[addr], 500 * MS, 30_000 * MS, now), now)
    }

    #[test]
    fn failed_dials_back_off_exponentially_up_to_the_cap() {
        let (mut b, mut now) = setup();
        let mut waits = Vec::new();
        for _ in 0..10 {
            let due = b.due(now);
            assert_eq!(due.len(), 1);
            let id = ConnectionId::new_unchecked(waits.len());
            b.dialing(0, id);
            assert!(b.due(now + Duration::from_secs(3600)).is_empty(), "no second dial while one is in flight");
            b.dial_failed(id, false, now);
            let mut wait = MS;
            while b.due(now + wait).is_empty() {
                wait += MS;
            }
            waits.push(wait.as_millis());
            now += wait;
        }
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000]);
    }

    #[test]
    fn disconnect_redials_and_a_stable_connection_resets_the_backoff() {
        let (mut b, now) = setup();
        let peer = PeerId::random();
        let id = ConnectionId::new_unchecked(1);
        b.dialing(0, id);
        b.dial_failed(id, false, now); // backoff now 1 s
        b.dialing(0, id);
        b.connected(id, peer, now);
        assert!(b.is_bootstrap(&peer, ConnectionId::new_unchecked(99)));
        let later = now + STABLE_CONNECTION;
        b.disconnected(peer, later);
        assert!(b.due(later + 499 * MS).is_empty());
        assert_eq!(b.due(later + 500 * MS).len(), 1, "reset to the initial delay");
        assert_eq!(b.due(later + 500 * MS)[0].peer, Some(peer), "the learned peer id is kept");
    }

    #[test]
    fn flapping_connection_keeps_backing_off() {
        let (mut b, now) = setup();
        let peer = PeerId::random();
        b.dialing(0, ConnectionId::new_unchecked(1));
        b.connected(ConnectionId::new_unchecked(1), peer, now);
        b.disconnected(peer, now + MS);
        b.dialing(0, ConnectionId::new_unchecked(2));
        b.connected(ConnectionId::new_unchecked(2), peer, now + MS);
        b.disconnected(peer, now + 2 * MS);
        assert!(b.due(now + 2 * MS + 999 * MS).is_empty());
        assert_eq!(b.due(now + 2 * MS + 1000 * MS).len(), 1);
    }

    #[test]
    fn self_and_other_chains_are_abandoned() {
        let (mut b, now) = setup();
        let id = ConnectionId::new_unchecked(1);
        b.dialing(0, id);
        b.dial_failed(id, true, now);
        assert!(b.due(now + Duration::from_secs(3600)).is_empty());

        let (mut b, now) = setup();
        let peer = PeerId::random();
        b.dialing(0, id);
        b.connected(id, peer, now);
        b.abandon(peer);
        b.disconnected(peer, now);
        assert!(b.due(now + Duration::from_secs(3600)).is_empty());
    }

    #[test]
    fn an_inbound_connection_from_a_known_peer_counts() {
        let now = Instant::now();
        let peer = PeerId::random();
        let addr: Multiaddr = format!("/ip4/127.0.0.1/tcp/1/p2p/{peer}").parse().unwrap();
        let mut b = Bootstrap::new(&[addr], 500 * MS, 30_000 * MS, now);
        assert_eq!(b.due(now)[0].peer, Some(peer));
        b.connected(ConnectionId::new_unchecked(7), peer, now);
        assert!(b.due(now).is_empty());
    }
}
