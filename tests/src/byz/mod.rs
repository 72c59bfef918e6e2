//! The pieces of `tally-byz`, a misbehaving peer built from the project's own libraries: the
//! chain it joins ([`Chain`]), its libp2p identity and connections ([`connect`]), the
//! per-kind message counters ([`Counts`]), the two misbehaviours, [`equivocate`] and [`abuse`],
//! and a well-behaved control, [`observe`].
//!
//! Nothing here trusts network data: every decode is checked, nothing unwraps.

pub mod abuse;
pub mod args;
pub mod equivocate;

use rand::RngCore;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use tally_consensus::{Validator, ValidatorSet};
use tally_ledger::Genesis;
use tally_node::wire::{ConsensusMessage, SyncRequest, SyncResponse};
use tally_p2p::{
    max_message_bytes_for, Keypair, Multiaddr, Network, NetworkConfig, NetworkEvent, NetworkHandle, PeerId, Topic,
    Verdict,
};
use tokio::sync::mpsc;

/// The network a byzantine peer joins, as the node derives it from `genesis.json`.
pub struct Chain {
    /// The validated genesis.
    pub genesis: Genesis,
    /// Its chain id (names the gossip topics).
    pub chain_id: String,
    /// SHA-256 of the genesis file (the identify protocol version).
    pub genesis_hash: [u8; 32],
    /// The consensus validator set.
    pub validators: ValidatorSet,
    /// The honest nodes' limit for one gossip message.
    pub node_max_message_bytes: usize,
}

impl Chain {
    /// Reads and validates `genesis.json` the way `tally-node start` does.
    pub fn load(path: &Path) -> Result<Chain, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        let genesis = Genesis::from_bytes(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        let validators = genesis.validators.iter().map(|v| Validator { public_key: v.public_key.0, power: v.power });
        let validators = ValidatorSet::new(validators.collect()).map_err(|e| format!("genesis validators: {e}"))?;
        Ok(Chain {
            chain_id: genesis.params.chain_id.to_string(),
            genesis_hash: genesis.hash.0,
            node_max_message_bytes: max_message_bytes_for(genesis.params.max_block_bytes as usize),
            validators,
            genesis,
        })
    }
}

/// A joined network: the handle, its events, and the peer id it runs under.
pub struct Joined {
    /// Commands.
    pub network: NetworkHandle,
    /// Events (gossip to report on, sync requests, peers coming and going).
    pub events: mpsc::Receiver<NetworkEvent>,
    /// This identity.
    pub peer_id: PeerId,
}

/// Spawns a libp2p stack with a fresh identity that passes the chain check (same chain id and
/// genesis hash as the honest nodes) and dials `peers`. Its own message limit leaves room above
/// the honest nodes' one, so that oversize messages can be published at all.
pub async fn connect(chain: &Chain, listen: &Multiaddr, peers: &[Multiaddr]) -> Result<Joined, String> {
    let keypair = Keypair::generate_ed25519();
    let mut config = NetworkConfig::new(keypair, chain.chain_id.clone(), chain.genesis_hash);
    config.listen = vec![listen.clone()];
    config.bootstrap = peers.to_vec();
    config.max_message_bytes = chain.node_max_message_bytes + 64 * 1024;
    let (network, events) = Network::spawn(config).await.map_err(|e| format!("starting the network: {e}"))?;
    let peer_id = network.local_peer_id();
    Ok(Joined { network, events, peer_id })
}

/// Waits (at most `limit`) until at least one peer passed the chain check, then a little more
/// so that gossipsub learns their subscriptions. True when connected.
pub async fn wait_connected(
    joined: &mut Joined,
    limit: Duration,
    counts: &mut Counts,
    answer_sync: Option<&Chain>,
) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if joined.network.peers().await.map(|p| !p.is_empty()).unwrap_or(false) {
            // Subscriptions arrive just after the connection; one heartbeat or so.
            drain_for(joined, Duration::from_millis(700), counts, answer_sync).await;
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        drain_for(joined, Duration::from_millis(100), counts, answer_sync).await;
    }
}

/// Handles events for `span`, returning the decoded consensus messages seen.
pub async fn drain_for(
    joined: &mut Joined,
    span: Duration,
    counts: &mut Counts,
    answer_sync: Option<&Chain>,
) -> Vec<ConsensusMessage> {
    let deadline = tokio::time::Instant::now() + span;
    let mut seen = Vec::new();
    loop {
        let event = tokio::select! {
            _ = tokio::time::sleep_until(deadline) => return seen,
            event = joined.events.recv() => event,
        };
        let Some(event) = event else { return seen };
        if let Some(message) = handle_event(&joined.network, event, counts, answer_sync).await {
            seen.push(message);
        }
    }
}

/// Reports `Ignore` on every gossip message (nothing is relayed, nobody is penalised), answers
/// or drops sync requests, and returns a consensus message when it decodes.
pub async fn handle_event(
    network: &NetworkHandle,
    event: NetworkEvent,
    counts: &mut Counts,
    answer_sync: Option<&Chain>,
) -> Option<ConsensusMessage> {
    match event {
        NetworkEvent::Gossip { topic, source, message_id, data } => {
            let _ = network.report(message_id, source, Verdict::Ignore).await;
            counts.add("gossip_received");
            if topic != Topic::Consensus {
                return None;
            }
            // Honest messages are small except proposals with blocks; any size the network let
            // through is fine to look at.
            ConsensusMessage::decode(&data, usize::MAX).ok()
        }
        NetworkEvent::InboundRequest { request_id, request, .. } => {
            counts.add("sync_requests_received");
            // An unanswered request just times out at the asker (the abuse mode's choice).
            if let Some(chain) = answer_sync {
                // Claim nothing: height 0 at the genesis, and no blocks.
                let response = match SyncRequest::decode(&request) {
                    Ok(SyncRequest::Status) => SyncResponse::Status { height: 0, block_hash: chain.genesis_hash },
                    Ok(SyncRequest::Blocks { .. }) | Err(_) => SyncResponse::Blocks(Vec::new()),
                };
                let _ = network.respond(request_id, response.encode()).await;
            }
            None
        }
        NetworkEvent::PeerConnected(_) => {
            counts.add("peers_connected");
            None
        }
        NetworkEvent::PeerDisconnected(_) => {
            counts.add("peers_disconnected");
            None
        }
    }
}

/// `--mode observe`, the control: a well-behaved silent peer that follows gossip and answers
/// sync requests (claiming nothing) until `duration` has passed. Its counts show what honest
/// nodes send a peer that does nothing wrong.
pub async fn observe(
    chain: &Chain,
    listen: &Multiaddr,
    peers: &[Multiaddr],
    duration: Duration,
) -> Result<Counts, String> {
    let deadline = tokio::time::Instant::now() + duration;
    let mut counts = Counts::default();
    let mut joined = connect(chain, listen, peers).await?;
    println!("tally-byz: peer id {} observing", joined.peer_id);
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    drain_for(&mut joined, left, &mut counts, Some(chain)).await;
    joined.network.shutdown().await;
    Ok(counts)
}

/// The height and round of a consensus message.
pub fn height_round(message: &ConsensusMessage) -> (u64, u32) {
    match message {
        ConsensusMessage::Proposal { proposal, .. } => (proposal.height, proposal.round),
        ConsensusMessage::Signed(signed) => (signed.height(), signed.round()),
    }
}

/// Asks a connected peer for its committed height over `/tally/sync/1`.
pub async fn peer_height(network: &NetworkHandle) -> Option<u64> {
    let peers = network.peers().await.ok()?;
    for peer in peers {
        let request = tokio::time::timeout(Duration::from_secs(3), network.request(peer, SyncRequest::Status.encode()));
        if let Ok(Ok(bytes)) = request.await {
            if let Ok(SyncResponse::Status { height, .. }) = SyncResponse::decode(&bytes, 1024) {
                return Some(height);
            }
        }
    }
    None
}

/// Publishes `data`, counting it under `kind` when it left and under `publish_failed` when not.
pub async fn publish(network: &NetworkHandle, topic: Topic, data: Vec<u8>, kind: &'static str, counts: &mut Counts) {
    match network.publish(topic, data).await {
        Ok(()) => counts.add(kind),
        Err(_) => counts.add("publish_failed"),
    }
}

/// 32 random bytes.
pub fn random_hash() -> [u8; 32] {
    let mut out = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut out);
    out
}

/// Messages per kind, for the final summary line.
#[derive(Default)]
pub struct Counts(BTreeMap<&'static str, u64>);

impl Counts {
    /// One more of `kind`.
    pub fn add(&mut self, kind: &'static str) {
        *self.0.entry(kind).or_default() += 1;
    }

    /// `kind=count` pairs, space separated, in name order.
    pub fn summary(&self) -> String {
        self.0.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
    }
}
