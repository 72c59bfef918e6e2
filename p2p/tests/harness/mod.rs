//! One harness for every network scenario: nodes on 127.0.0.1 with port 0, every wait bounded.

use std::{collections::HashSet, future::Future, time::Duration};

use tally_p2p::{
    Keypair, Multiaddr, Network, NetworkConfig, NetworkEvent, NetworkHandle, NetworkStats, PeerId, Protocol, Topic,
    Verdict,
};
use tokio::sync::mpsc;

/// Upper bound for any single wait in a scenario.
pub const WAIT: Duration = Duration::from_secs(15);

/// The chain id every test node runs.
pub const CHAIN_ID: &str = "tally-test";

/// The genesis hash of the test chain.
pub const GENESIS: [u8; 32] = [0x11; 32];

/// Prints the crate's logs when `RUST_LOG` is set (e.g. `RUST_LOG=tally_p2p=debug`).
pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// A config for a fresh identity on the test chain, listening on a free loopback port.
pub fn config() -> NetworkConfig {
    config_with(Keypair::generate_ed25519(), GENESIS)
}

/// A config for `keypair` on the chain with `genesis`, listening on a free loopback port.
pub fn config_with(keypair: Keypair, genesis: [u8; 32]) -> NetworkConfig {
    let mut config = NetworkConfig::new(keypair, CHAIN_ID, genesis);
    config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
    config
}

/// A running network actor and its event stream.
pub struct Node {
    pub handle: NetworkHandle,
    pub events: mpsc::Receiver<NetworkEvent>,
    /// Peers announced connected and not since disconnected, from the events read so far.
    connected: HashSet<PeerId>,
}

impl Node {
    /// Spawns a node from `config`.
    pub async fn start(config: NetworkConfig) -> Node {
        init_logs();
        let (handle, events) = bounded("spawn", Network::spawn(config)).await.expect("network spawns");
        Node { handle, events, connected: HashSet::new() }
    }

    /// Spawns a node on the test chain that bootstraps from `peers`.
    pub async fn start_with_peers(peers: &[&Node]) -> Node {
        let mut config = config();
        config.bootstrap = peers.iter().map(|p| p.addr()).collect();
        Node::start(config).await
    }

    pub fn peer_id(&self) -> PeerId {
        self.handle.local_peer_id()
    }

    /// The node's bound address with its `/p2p/` suffix.
    pub fn addr(&self) -> Multiaddr {
        let addr = self.handle.listen_addrs().into_iter().next().expect("a bound address");
        addr.with(Protocol::P2p(self.peer_id()))
    }

    /// Skips events until `pick` returns something.
    /// Connection events are remembered, so that a wait for one never misses it.
    pub async fn wait_for<T>(&mut self, what: &str, mut pick: impl FnMut(NetworkEvent) -> Option<T>) -> T {
        let (events, connected) = (&mut self.events, &mut self.connected);
        bounded(what, async move {
            loop {
                let event = events.recv().await.expect("network task still running");
                match &event {
                    NetworkEvent::PeerConnected(peer) => {
                        connected.insert(*peer);
                    }
                    NetworkEvent::PeerDisconnected(peer) => {
                        connected.remove(peer);
                    }
                    _ => {}
                }
                if let Some(found) = pick(event) {
                    return found;
                }
            }
        })
        .await
    }

    /// Waits until `peer` is connected (by the events read so far and to come).
    pub async fn wait_connected(&mut self, peer: PeerId) {
        if !self.connected.contains(&peer) {
            self.wait_for("peer connected", |e| (e == NetworkEvent::PeerConnected(peer)).then_some(())).await
        }
    }

    /// Waits until `peer` is disconnected.
    pub async fn wait_disconnected(&mut self, peer: PeerId) {
        if self.connected.contains(&peer) {
            self.wait_for("peer disconnected", |e| (e == NetworkEvent::PeerDisconnected(peer)).then_some(())).await
        }
    }

    /// Waits for the next gossip message: `(topic, source, message id, data)`.
    pub async fn next_gossip(&mut self) -> Gossip {
        self.wait_for("gossip", |e| match e {
            NetworkEvent::Gossip { topic, source, message_id, data } => {
                Some(Gossip { topic, source, message_id, data })
            }
            _ => None,
        })
        .await
    }

    /// Reports a verdict on a received message.
    pub async fn report(&self, gossip: &Gossip, verdict: Verdict) {
        self.handle.report(gossip.message_id, gossip.source, verdict).await.unwrap();
    }

    /// Waits until `peer` is in this node's mesh for `topic`.
    pub async fn wait_mesh(&self, topic: Topic, peer: PeerId) {
        self.poll("mesh formed", |h| async move { h.mesh_peers(topic).await.unwrap().contains(&peer) }).await
    }

    /// Waits until the node's stats satisfy `check`.
    pub async fn wait_stats(&self, what: &str, check: impl Fn(NetworkStats) -> bool) {
        let check = &check;
        self.poll(what, |h| async move { check(h.stats().await.unwrap()) }).await
    }

    /// Polls `check` every 50 ms until it holds.
    pub async fn poll<F, Fut>(&self, what: &str, check: F)
    where
        F: Fn(NetworkHandle) -> Fut,
        Fut: Future<Output = bool>,
    {
        let handle = self.handle.clone();
        bounded(what, async move {
            while !check(handle.clone()).await {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
    }

    /// Asserts that no gossip is waiting right now.
    pub fn assert_no_gossip_queued(&mut self) {
        while let Ok(event) = self.events.try_recv() {
            assert!(!matches!(event, NetworkEvent::Gossip { .. }), "unexpected gossip: {event:?}");
        }
    }

    /// Shuts the node down and checks that its event stream ends.
    pub async fn stop(mut self) {
        bounded("shutdown", self.handle.shutdown()).await;
        bounded("event stream ends", async { while self.events.recv().await.is_some() {} }).await;
    }
}

/// A received gossip message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gossip {
    pub topic: Topic,
    pub source: PeerId,
    pub message_id: tally_p2p::MessageId,
    pub data: Vec<u8>,
}

/// Runs `future` with the [`WAIT`] bound, panicking with `what` when it runs out.
pub async fn bounded<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out waiting for: {what}"),
    }
}

/// Connects `nodes` in a line (each dials the previous one) and waits until every neighbour
/// pair is connected and meshed on both topics.
pub async fn line(n: usize) -> Vec<Node> {
    let mut nodes: Vec<Node> = Vec::new();
    for i in 0..n {
        let node = if i == 0 { Node::start(config()).await } else { Node::start_with_peers(&[&nodes[i - 1]]).await };
        nodes.push(node);
    }
    for i in 0..n.saturating_sub(1) {
        let (left, right) = (nodes[i].peer_id(), nodes[i + 1].peer_id());
        nodes[i].wait_connected(right).await;
        nodes[i + 1].wait_connected(left).await;
    }
    for i in 0..n.saturating_sub(1) {
        for topic in Topic::ALL {
            nodes[i].wait_mesh(topic, nodes[i + 1].peer_id()).await;
            nodes[i + 1].wait_mesh(topic, nodes[i].peer_id()).await;
        }
    }
    nodes
}

/// Distinct test payloads.
pub fn payload(tag: &str, n: usize) -> Vec<u8> {
    format!("{tag}-{n}").into_bytes()
}
