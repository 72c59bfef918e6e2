//! Catching up: learn peers' committed heights, fetch blocks with their certificates over
//! `/tally/sync/1`, verify each certificate against the validator set, and commit. No peer is
//! trusted: a claimed height only counts while the peer serves blocks that verify.

use super::{Driver, Fatal};
use crate::wire::{SyncRequest, SyncResponse, SyncedBlock, MAX_SYNC_BLOCKS};
use crate::LedgerStore;
use std::collections::HashMap;
use std::sync::Arc;
use tally_consensus::{CommitCertificate, Input};
use tally_ledger::Block;
use tally_p2p::{InboundRequestId, NetworkHandle, PeerId};
use tokio::sync::mpsc;
use tokio::time::{Duration, Instant};
use tracing::{debug, info, warn};

/// How far behind the best peer a node may be before it reports itself syncing (and refuses
/// new transfers with "node not ready").
const SYNCING_GAP: u64 = 5;
/// How long a peer that served bad or no blocks is not asked again.
const PEER_PENALTY: Duration = Duration::from_secs(30);
/// How long a peer has to tell its height: a stalled peer must not hold up catching up.
const STATUS_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a peer has to serve a range of blocks.
const BLOCKS_TIMEOUT: Duration = Duration::from_secs(10);
/// Peers asked for blocks in one sync round, best first, until one serves them.
const FETCH_ATTEMPTS: usize = 2;
/// How often peers are asked for their height when nothing suggests we are behind.
const STATUS_POLL: Duration = Duration::from_secs(3);

#[derive(Default)]
struct PeerInfo {
    claimed_height: u64,
    penalised_until: Option<Instant>,
}

/// What the driver knows about peers' heights.
#[derive(Default)]
pub(super) struct SyncState {
    peers: HashMap<PeerId, PeerInfo>,
    in_flight: bool,
    /// A height some message implied the network has committed.
    heard: u64,
    last_poll: Option<Instant>,
}

/// The result of one background sync round.
pub(super) struct SyncResult {
    statuses: Vec<(PeerId, u64)>,
    /// Block requests in the order made: failures, then at most one peer that served blocks.
    fetched: Vec<(PeerId, Result<Vec<SyncedBlock>, String>)>,
}

impl SyncState {
    pub(super) fn peer_connected(&mut self, peer: PeerId) {
        self.peers.entry(peer).or_default();
        self.last_poll = None;
    }

    pub(super) fn peer_disconnected(&mut self, peer: &PeerId) {
        self.peers.remove(peer);
    }

    pub(super) fn heard_height(&mut self, height: u64) {
        self.heard = self.heard.max(height);
    }

    fn usable(info: &PeerInfo) -> bool {
        info.penalised_until.is_none_or(|until| Instant::now() >= until)
    }

    /// The best height claimed by a peer in good standing.
    pub(super) fn best_height(&self) -> u64 {
        self.peers.values().filter(|p| Self::usable(p)).map(|p| p.claimed_height).max().unwrap_or(0)
    }

    /// True when a usable peer is well ahead of `height`.
    pub(super) fn is_behind(&self, height: u64) -> bool {
        self.best_height() > height + SYNCING_GAP
    }

    fn penalise(&mut self, peer: &PeerId) {
        if let Some(info) = self.peers.get_mut(peer) {
            info.penalised_until = Some(Instant::now() + PEER_PENALTY);
            info.claimed_height = 0;
        }
    }
}

async fn ask(
    network: &NetworkHandle,
    peer: PeerId,
    request: SyncRequest,
    max_bytes: usize,
) -> Result<SyncResponse, String> {
    let bytes = network.request(peer, request.encode()).await.map_err(|e| e.to_string())?;
    SyncResponse::decode(&bytes, max_bytes).map_err(|e| e.to_string())
}

/// Asks every peer for its committed height at once; a peer that does not answer in time is
/// left out.
async fn poll_statuses(network: &NetworkHandle, peers: Vec<PeerId>, max_bytes: usize) -> Vec<(PeerId, u64)> {
    let mut asks = tokio::task::JoinSet::new();
    for peer in peers {
        let network = network.clone();
        asks.spawn(async move {
            let answer =
                tokio::time::timeout(STATUS_TIMEOUT, ask(&network, peer, SyncRequest::Status, max_bytes)).await;
            match answer {
                Ok(Ok(SyncResponse::Status { height, .. })) => Some((peer, height)),
                _ => None,
            }
        });
    }
    let mut statuses = Vec::new();
    while let Some(answer) = asks.join_next().await {
        if let Ok(Some(status)) = answer {
            statuses.push(status);
        }
    }
    statuses
}

impl Driver {
    /// Starts a background sync round when one is due: poll statuses, fetch from the best peer.
    pub(super) fn maybe_sync(&mut self, results: &mpsc::Sender<SyncResult>) {
        if self.sync.in_flight || self.sync.peers.is_empty() {
            return;
        }
        let height = self.ledger.height();
        let behind = self.sync.heard > height || self.sync.best_height() > height || self.pending_decision.is_some();
        let poll_due = self.sync.last_poll.is_none_or(|t| t.elapsed() >= STATUS_POLL);
        if !behind && !poll_due {
            return;
        }
        self.sync.in_flight = true;
        self.sync.last_poll = Some(Instant::now());
        let peers: Vec<PeerId> =
            self.sync.peers.iter().filter(|(_, info)| SyncState::usable(info)).map(|(peer, _)| *peer).collect();
        let network = self.network.clone();
        let max_bytes = self.genesis.params.max_block_bytes as usize + 64 * 1024;
        let results = results.clone();
        tokio::spawn(async move {
            let statuses = poll_statuses(&network, peers, max_bytes).await;
            let mut ahead: Vec<(PeerId, u64)> = statuses.iter().filter(|(_, h)| *h > height).copied().collect();
            ahead.sort_by_key(|(_, h)| std::cmp::Reverse(*h));
            // The best peer first; if it fails, the next one, so one stalled peer costs one timeout.
            let mut fetched = Vec::new();
            for (peer, _) in ahead.into_iter().take(FETCH_ATTEMPTS) {
                let request = SyncRequest::Blocks { from: height + 1, max_blocks: MAX_SYNC_BLOCKS };
                let result = match tokio::time::timeout(BLOCKS_TIMEOUT, ask(&network, peer, request, max_bytes)).await {
                    Ok(Ok(SyncResponse::Blocks(blocks))) => Ok(blocks),
                    Ok(Ok(_)) => Err("answered a block request with a status".to_string()),
                    Ok(Err(e)) => Err(e),
                    Err(_) => Err("no blocks within the timeout".to_string()),
                };
                let served = matches!(&result, Ok(blocks) if !blocks.is_empty());
                fetched.push((peer, result));
                if served {
                    break;
                }
            }
            let _ = results.send(SyncResult { statuses, fetched }).await;
        });
    }

    /// Verifies and commits fetched blocks in order; a peer that sends anything invalid is
    /// penalised and its claims forgotten. True when blocks were committed.
    pub(super) async fn on_sync_result(&mut self, result: SyncResult) -> Result<bool, Fatal> {
        self.sync.in_flight = false;
        for (peer, height) in result.statuses {
            if let Some(info) = self.sync.peers.get_mut(&peer) {
                if SyncState::usable(info) {
                    info.claimed_height = height;
                }
            }
        }
        let start_height = self.ledger.height();
        for (peer, fetched) in result.fetched {
            let blocks = match fetched {
                Ok(blocks) if !blocks.is_empty() => blocks,
                Ok(_) => {
                    debug!(%peer, "peer claimed blocks it did not serve");
                    self.sync.penalise(&peer);
                    Vec::new()
                }
                Err(reason) => {
                    debug!(%peer, %reason, "sync request failed");
                    self.sync.penalise(&peer);
                    Vec::new()
                }
            };
            for synced in blocks {
                if let Err(reason) = self.apply_synced(synced).await? {
                    warn!(%peer, %reason, "peer served an invalid block; ignoring it for a while");
                    self.sync.penalise(&peer);
                    break;
                }
            }
        }
        let height = self.ledger.height();
        if height > start_height {
            info!(from = start_height, to = height, "caught up from peers");
            self.feed(Input::StartHeight { height: height + 1 }).await?;
        }
        // The hint is spent once reached, or when no peer confirms a higher height.
        if self.sync.heard <= height || self.sync.best_height() <= height {
            self.sync.heard = 0;
        }
        let syncing = self.sync.is_behind(height);
        let best = self.sync.best_height().max(height);
        self.head_tx.send_modify(|h| {
            h.syncing = syncing;
            h.best_peer_height = best;
        });
        Ok(height > start_height)
    }

    /// Verifies one fetched block and commits it. `Ok(Err(reason))`: the block is invalid.
    async fn apply_synced(&mut self, synced: SyncedBlock) -> Result<Result<(), String>, Fatal> {
        let max = self.genesis.params.max_block_bytes as usize;
        let block = match Block::decode(&synced.block, max) {
            Ok(block) => block,
            Err(e) => return Ok(Err(e.to_string())),
        };
        let certificate = match CommitCertificate::decode(&synced.certificate) {
            Ok(c) => c,
            Err(e) => return Ok(Err(e.to_string())),
        };
        let height = block.header.height;
        if height <= self.ledger.height() {
            // Consensus committed it while the response was in flight.
            return Ok(Ok(()));
        }
        if height != self.ledger.height() + 1 {
            return Ok(Err(format!("block {height} does not follow {}", self.ledger.height())));
        }
        if certificate.height != height || certificate.block_hash != block.hash().0 {
            return Ok(Err("certificate is for another block".into()));
        }
        if let Err(e) = certificate.verify(self.genesis.params.chain_id.as_str(), &self.validators) {
            return Ok(Err(format!("certificate does not verify: {e}")));
        }
        let candidate = super::Candidate { block, bytes: synced.block };
        let execution = match self.execute_candidate(&candidate).await {
            Ok(execution) => execution,
            // A block with a valid certificate is final: if it does not apply here, this node
            // has diverged from the network and must stop rather than guess.
            Err(reason) => return Err(Fatal::Diverged { height, reason }),
        };
        self.commit(&candidate.block, &certificate, execution).await?;
        Ok(Ok(()))
    }
}

/// Answers peers' `/tally/sync/1` requests from the store, off the driver's loop.
#[derive(Clone)]
pub struct SyncServer {
    /// The store.
    pub store: Arc<LedgerStore>,
    /// The network, to respond.
    pub network: NetworkHandle,
    /// The largest response.
    pub max_response_bytes: usize,
}

impl SyncServer {
    /// Answers one request (spawned per request by the router).
    pub async fn answer(self, request_id: InboundRequestId, peer: PeerId, request: Vec<u8>) {
        let response = match SyncRequest::decode(&request) {
            Ok(request) => {
                let server = self.clone();
                tokio::task::spawn_blocking(move || server.build(request)).await.ok().flatten()
            }
            Err(e) => {
                debug!(%peer, error = %e, "undecodable sync request");
                None
            }
        };
        let bytes = response.map(|r| r.encode()).unwrap_or_else(|| SyncResponse::Blocks(Vec::new()).encode());
        let _ = self.network.respond(request_id, bytes).await;
    }

    fn build(&self, request: SyncRequest) -> Option<SyncResponse> {
        let height = self.store.height().ok()?;
        match request {
            SyncRequest::Status => {
                let block_hash = match height {
                    0 => self.store.genesis_hash().0,
                    h => self.store.block(h).ok()??.block.hash().0,
                };
                Some(SyncResponse::Status { height, block_hash })
            }
            SyncRequest::Blocks { from, max_blocks } => {
                let mut blocks = Vec::new();
                let mut bytes = 64;
                let last =
                    height.min(from.saturating_add(u64::from(max_blocks.min(MAX_SYNC_BLOCKS))).saturating_sub(1));
                for h in from.max(1)..=last {
                    let Ok(Some(stored)) = self.store.block(h) else { break };
                    let encoded = stored.block.encode();
                    let size = encoded.len() + stored.certificate.len() + 8;
                    if !blocks.is_empty() && bytes + size > self.max_response_bytes {
                        break;
                    }
                    bytes += size;
                    blocks.push(SyncedBlock { block: encoded, certificate: stored.certificate });
                }
                Some(SyncResponse::Blocks(blocks))
            }
        }
    }
}
