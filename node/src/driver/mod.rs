//! The consensus driver: one actor that owns the pure consensus core and the committed ledger
//! state, feeds the core network messages and timer events, and carries out its outputs —
//! persist before broadcast, build and validate blocks, commit decided blocks in one synced
//! write, catch up from peers.

mod blocks;
mod saved_blocks;
mod sync;
mod timers;

use crate::config::ConsensusTiming;
use crate::mempool_actor::MempoolHandle;
use crate::metrics::NodeMetrics;
use crate::signing::SigningStore;
use crate::snapshots::Snapshots;
use crate::views::evidence_view;
use crate::wire::ConsensusMessage;
use crate::LedgerStore;
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use tally_consensus::{
    BlockHash, CommitCertificate, Consensus, Evidence, Input, Output, Rejection, SignedMessage, ValidatorSet,
};
use tally_ledger::{Block, Execution, Genesis, Hash, Ledger, PublicKey};
use tally_p2p::{MessageId, NetworkHandle, PeerId, Topic, Verdict};
use tally_rpc::{BlockView, EvidenceView};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::{Duration, Instant};
use tracing::{debug, error, info, warn};

pub use saved_blocks::SavedBlocks;
pub use sync::SyncServer;
pub use timers::Timers;

/// Capacity of the channel of consensus gossip into the driver.
pub const CONSENSUS_CHANNEL_CAPACITY: usize = 1024;
/// Capacity of the committed-blocks broadcast to RPC subscribers.
pub const BLOCKS_CHANNEL_CAPACITY: usize = 256;
/// Blocks kept for heights not yet committed (proposals received), at most.
const CANDIDATE_BLOCKS_KEPT: usize = 64;
/// Evidence entries kept in memory for `getEvidence` (the newest; `evidence.jsonl` keeps all).
pub const EVIDENCE_KEPT: usize = 1_000;
/// Without progress for this long, the driver re-gossips its current messages.
const STALL_REBROADCAST: Duration = Duration::from_secs(2);

/// The chain tip as the rest of the node sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// Committed height.
    pub height: u64,
    /// Hash of the block at that height (genesis hash at 0).
    pub block_hash: Hash,
    /// Its time, Unix ms.
    pub time_ms: u64,
    /// True while catching up from peers.
    pub syncing: bool,
    /// Connected peers of this chain.
    pub peers: usize,
    /// The best committed height a peer has shown.
    pub best_peer_height: u64,
    /// Set when the store failed a write: the node stops committing.
    pub store_error: Option<String>,
}

/// What reaches the driver from the network router.
#[derive(Debug)]
pub enum DriverEvent {
    /// A consensus-topic gossip message awaiting a verdict.
    Gossip {
        /// The bytes.
        data: Vec<u8>,
        /// The relaying peer.
        source: PeerId,
        /// The gossip id.
        message_id: MessageId,
    },
    /// A peer of this chain connected.
    PeerConnected(PeerId),
    /// A peer disconnected.
    PeerDisconnected(PeerId),
}

/// A failure that stops the node (storage, or a decided block this node cannot apply).
#[derive(Debug, thiserror::Error)]
pub enum Fatal {
    /// Persisting signing state failed: signing further could break safety.
    #[error("cannot persist signing state: {0}")]
    Signing(#[from] crate::home::HomeError),
    /// Saving a candidate block failed: voting for a block this node might lose could leave a
    /// decided block that nobody holds.
    #[error("cannot save a candidate block: {0}")]
    SaveBlock(crate::home::HomeError),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] tally_ledger::store::StoreError),
    /// The network decided a block this node finds invalid: its state has diverged.
    #[error("decided block at height {height} is invalid here: {reason}")]
    Diverged {
        /// The height.
        height: u64,
        /// Why.
        reason: String,
    },
}

/// A block received or built for a height not yet committed.
pub(crate) struct Candidate {
    pub(crate) block: Block,
    pub(crate) bytes: Vec<u8>,
}

/// A block decided before this node received it.
pub(crate) struct PendingDecision {
    pub(crate) height: u64,
    pub(crate) round: u32,
    pub(crate) block_hash: BlockHash,
    pub(crate) certificate: CommitCertificate,
}

/// What the driver needs to start.
pub struct DriverParts {
    /// The pure core, new or restored.
    pub core: Consensus,
    /// Outputs to carry out first (from a restore).
    pub initial_outputs: Vec<Output>,
    /// The committed ledger state.
    pub ledger: Ledger,
    /// The certificate of the committed height (empty at genesis).
    pub last_commit: Vec<u8>,
    /// The store.
    pub store: Arc<LedgerStore>,
    /// Takes the account snapshots.
    pub snapshots: Snapshots,
    /// The genesis.
    pub genesis: Arc<Genesis>,
    /// The validator set.
    pub validators: ValidatorSet,
    /// This node's validator key, if it is one.
    pub validator_key: Option<PublicKey>,
    /// Crash-safe signing state.
    pub signing: SigningStore,
    /// Candidate blocks saved before voting for them.
    pub saved_blocks: SavedBlocks,
    /// The mempool.
    pub mempool: MempoolHandle,
    /// The network.
    pub network: NetworkHandle,
    /// Timing.
    pub timing: ConsensusTiming,
    /// Where evidence is appended.
    pub evidence_log: PathBuf,
    /// Evidence loaded at start.
    pub evidence: Vec<EvidenceView>,
    /// Metrics.
    pub metrics: NodeMetrics,
}

/// The channels the rest of the node reads.
pub struct DriverOutputs {
    /// The tip.
    pub head: watch::Receiver<Head>,
    /// Committed blocks, in order.
    pub blocks: broadcast::Sender<Arc<BlockView>>,
    /// Evidence seen.
    pub evidence: watch::Receiver<Arc<Vec<EvidenceView>>>,
}

/// The driver actor.
pub struct Driver {
    core: Consensus,
    ledger: Ledger,
    last_commit: Vec<u8>,
    store: Arc<LedgerStore>,
    snapshots: Snapshots,
    genesis: Arc<Genesis>,
    validators: ValidatorSet,
    validator_key: Option<PublicKey>,
    signing: SigningStore,
    saved_blocks: SavedBlocks,
    mempool: MempoolHandle,
    network: NetworkHandle,
    timing: ConsensusTiming,
    candidates: HashMap<BlockHash, Arc<Candidate>>,
    executions: HashMap<BlockHash, Execution>,
    timers: Timers,
    /// A proposal this node owes for `(height, round)`, built when transfers arrive or the
    /// empty-block interval passes.
    owed_proposal: Option<(u64, u32)>,
    /// A decision whose block has not arrived: it comes by sync, or late by gossip.
    pending_decision: Option<PendingDecision>,
    head_tx: watch::Sender<Head>,
    blocks_tx: broadcast::Sender<Arc<BlockView>>,
    evidence: Vec<EvidenceView>,
    evidence_tx: watch::Sender<Arc<Vec<EvidenceView>>>,
    evidence_log: PathBuf,
    metrics: NodeMetrics,
    sync: sync::SyncState,
    /// Envelope sequence number: makes every (re-)broadcast a distinct gossip message.
    seq: u64,
    last_progress: Instant,
    peers: usize,
}

impl Driver {
    /// Spawns the driver; it runs until `shutdown` turns true or a fatal error, which it
    /// returns from the join handle.
    pub fn spawn(
        parts: DriverParts,
        events: mpsc::Receiver<DriverEvent>,
        shutdown: watch::Receiver<bool>,
    ) -> (DriverOutputs, tokio::task::JoinHandle<Result<(), Fatal>>) {
        let head = Head {
            height: parts.ledger.height(),
            block_hash: parts.ledger.last_block_hash(),
            time_ms: parts.ledger.last_time_ms(),
            syncing: false,
            peers: 0,
            best_peer_height: 0,
            store_error: None,
        };
        let (head_tx, head_rx) = watch::channel(head);
        let (blocks_tx, _) = broadcast::channel(BLOCKS_CHANNEL_CAPACITY);
        let (evidence_tx, evidence_rx) = watch::channel(Arc::new(parts.evidence.clone()));
        let mut driver = Driver {
            core: parts.core,
            ledger: parts.ledger,
            last_commit: parts.last_commit,
            store: parts.store,
            snapshots: parts.snapshots,
            genesis: parts.genesis,
            validators: parts.validators,
            validator_key: parts.validator_key,
            signing: parts.signing,
            saved_blocks: parts.saved_blocks,
            mempool: parts.mempool,
            network: parts.network,
            timing: parts.timing,
            candidates: HashMap::new(),
            executions: HashMap::new(),
            timers: Timers::default(),
            owed_proposal: None,
            pending_decision: None,
            head_tx,
            blocks_tx: blocks_tx.clone(),
            evidence: parts.evidence,
            evidence_tx,
            evidence_log: parts.evidence_log,
            metrics: parts.metrics,
            sync: sync::SyncState::default(),
            // Unique across restarts: a restarted node re-sends its restored messages, and with a
            // seq starting over they would be byte-identical to what it sent in its previous life
            // and dropped by peers' gossip duplicate caches.
            seq: now_ms().saturating_mul(1_000),
            last_progress: Instant::now(),
            peers: 0,
        };
        driver.load_saved_blocks();
        let outputs = DriverOutputs { head: head_rx, blocks: blocks_tx, evidence: evidence_rx };
        let task = tokio::spawn(driver.run(parts.initial_outputs, events, shutdown));
        (outputs, task)
    }

    async fn run(
        mut self,
        initial: Vec<Output>,
        mut events: mpsc::Receiver<DriverEvent>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), Fatal> {
        let result = self.run_loop(initial, &mut events, &mut shutdown).await;
        if let Err(e) = &result {
            error!(error = %e, "consensus driver stopped");
            self.head_tx.send_modify(|h| h.store_error = Some(e.to_string()));
        }
        result
    }

    async fn run_loop(
        &mut self,
        initial: Vec<Output>,
        events: &mut mpsc::Receiver<DriverEvent>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), Fatal> {
        self.carry_out(initial, &mut VecDeque::new()).await?;
        self.feed(Input::StartHeight { height: self.ledger.height() + 1 }).await?;
        let mut mempool_size = self.mempool.size.clone();
        let (sync_tx, mut sync_rx) = mpsc::channel(4);
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let deadline = self.timers.next_deadline().unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            let idle_deadline = self.empty_block_deadline();
            tokio::select! {
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        info!("consensus driver stopping");
                        return Ok(());
                    }
                }
                event = events.recv() => match event {
                    Some(event) => self.on_event(event).await?,
                    None => return Ok(()),
                },
                _ = tokio::time::sleep_until(deadline) => {
                    for input in self.timers.due(Instant::now()) {
                        debug!(?input, "timeout");
                        self.feed(input).await?;
                    }
                }
                _ = mempool_size.changed(), if self.owed_proposal.is_some() => {
                    if *mempool_size.borrow() > 0 {
                        self.pay_owed_proposal().await?;
                    }
                }
                _ = tokio::time::sleep_until(idle_deadline), if self.owed_proposal.is_some() => {
                    self.pay_owed_proposal().await?;
                }
                result = sync_rx.recv() => {
                    if let Some(result) = result {
                        // Blocks came and more may wait: fetch the next range now rather than at
                        // the next tick (a round that brought nothing waits for the tick).
                        if self.on_sync_result(result).await? {
                            self.maybe_sync(&sync_tx);
                        }
                    }
                }
                _ = tick.tick() => {
                    self.maybe_sync(&sync_tx);
                    self.maybe_rebroadcast().await;
                }
            }
        }
    }

    /// When an owed empty block is due: the empty-block interval after the last block.
    fn empty_block_deadline(&self) -> Instant {
        let now_ms = now_ms();
        let due_ms = self.ledger.last_time_ms().saturating_add(self.timing.empty_block_interval_ms);
        Instant::now() + Duration::from_millis(due_ms.saturating_sub(now_ms))
    }

    async fn on_event(&mut self, event: DriverEvent) -> Result<(), Fatal> {
        match event {
            DriverEvent::Gossip { data, source, message_id } => {
                let verdict = self.on_gossip(&data).await?;
                if verdict == Verdict::Reject {
                    warn!(%source, "rejected an invalid consensus message; the peer's score drops");
                }
                let _ = self.network.report(message_id, source, verdict).await;
            }
            DriverEvent::PeerConnected(peer) => {
                self.peers += 1;
                self.sync.peer_connected(peer);
                self.publish_peers();
            }
            DriverEvent::PeerDisconnected(peer) => {
                self.peers = self.peers.saturating_sub(1);
                self.sync.peer_disconnected(&peer);
                self.publish_peers();
            }
        }
        Ok(())
    }

    fn publish_peers(&mut self) {
        let peers = self.peers;
        self.metrics.peers.set(peers as i64);
        self.head_tx.send_modify(|h| h.peers = peers);
    }

    /// Decodes a consensus message, hands it to the core and decides the gossip verdict.
    async fn on_gossip(&mut self, data: &[u8]) -> Result<Verdict, Fatal> {
        let max = self.genesis.params.max_block_bytes as usize + 64 * 1024;
        let message = match ConsensusMessage::decode(data, max) {
            Ok(m) => m,
            Err(e) => {
                debug!(error = %e, "undecodable consensus message");
                return Ok(Verdict::Reject);
            }
        };
        let input = match message {
            ConsensusMessage::Proposal { proposal, block } => {
                let decoded = match Block::decode(&block, self.genesis.params.max_block_bytes as usize) {
                    Ok(b) => b,
                    Err(e) => {
                        debug!(error = %e, "proposal with an undecodable block");
                        return Ok(Verdict::Reject);
                    }
                };
                if decoded.hash().0 != proposal.block_hash || decoded.header.height != proposal.height {
                    return Ok(Verdict::Reject);
                }
                if proposal.height > self.ledger.height() && !self.candidates.contains_key(&proposal.block_hash) {
                    debug!(
                        height = proposal.height,
                        round = proposal.round,
                        bytes = block.len(),
                        "received a proposal"
                    );
                    self.keep_candidate(decoded, block);
                }
                Input::Proposal(proposal)
            }
            ConsensusMessage::Signed(SignedMessage::Proposal(p)) => Input::Proposal(p),
            ConsensusMessage::Signed(SignedMessage::Vote(v)) => Input::Vote(v),
        };
        let height = match &input {
            Input::Proposal(p) => p.height,
            Input::Vote(v) => v.height,
            _ => 0,
        };
        let rejections = self.feed(input).await?;
        // A correctly signed message of a later height hints that this node is behind; a
        // refused one (forged, or absurdly far ahead) hints nothing.
        if rejections.is_empty() && height > self.ledger.height() + 1 {
            self.sync.heard_height(height.saturating_sub(1));
        }
        self.complete_pending_decision().await?;
        Ok(match rejections.first() {
            None => Verdict::Accept,
            Some(r) if r.is_misbehaviour() => {
                warn!(rejection = ?r, "consensus message refused");
                Verdict::Reject
            }
            Some(_) => Verdict::Ignore,
        })
    }

    /// Loads the candidate blocks saved before a restart (see [`SavedBlocks`]).
    fn load_saved_blocks(&mut self) {
        let max = self.genesis.params.max_block_bytes as usize;
        for saved in self.saved_blocks.load_above(self.ledger.height()) {
            match Block::decode(&saved.bytes, max) {
                Ok(block) if block.header.height == saved.height => {
                    debug!(height = saved.height, "loaded a saved candidate block");
                    self.keep_candidate(block, saved.bytes);
                }
                _ => warn!(height = saved.height, "saved candidate block does not decode; skipped"),
            }
        }
    }

    fn keep_candidate(&mut self, block: Block, bytes: Vec<u8>) {
        if self.candidates.len() >= CANDIDATE_BLOCKS_KEPT {
            // Keep the lowest heights: they are the ones about to be needed.
            if let Some((&worst, _)) = self.candidates.iter().max_by_key(|(_, c)| c.block.header.height) {
                self.candidates.remove(&worst);
            }
        }
        self.candidates.insert(block.hash().0, Arc::new(Candidate { block, bytes }));
    }

    /// Feeds one input and carries out everything that follows from it. Returns the core's
    /// rejections of that input (for the gossip verdict).
    async fn feed(&mut self, input: Input) -> Result<Vec<Rejection>, Fatal> {
        let mut queue = VecDeque::new();
        let outputs = self.core.handle(input);
        let rejections = self.carry_out(outputs, &mut queue).await?;
        while let Some(next) = queue.pop_front() {
            let outputs = self.core.handle(next);
            self.carry_out(outputs, &mut queue).await?;
        }
        Ok(rejections)
    }

    /// Carries out outputs in order; inputs they produce are queued.
    async fn carry_out(&mut self, outputs: Vec<Output>, queue: &mut VecDeque<Input>) -> Result<Vec<Rejection>, Fatal> {
        let mut rejections = Vec::new();
        for output in outputs {
            match output {
                Output::Persist(state) => self.signing.persist(&state)?,
                Output::Broadcast(message) => self.broadcast(message).await,
                Output::ScheduleTimeout { height, round, step, duration_ms } => {
                    self.timers.schedule(height, round, step, duration_ms)
                }
                Output::RequestBlock { height, round } => {
                    if let Some(input) = self.request_block(height, round).await? {
                        queue.push_back(input);
                    }
                }
                Output::ValidateBlock { height, block_hash, .. } => {
                    let valid = self.validate_candidate(height, &block_hash).await?;
                    queue.push_back(Input::BlockVerdict { height, block_hash, valid });
                }
                Output::Decided { height, round, block_hash, certificate } => {
                    if let Some(input) = self.decided(height, round, block_hash, certificate).await? {
                        queue.push_back(input);
                    }
                }
                Output::Evidence(evidence) => self.record_evidence(evidence),
                Output::Rejected(rejection) => rejections.push(rejection),
            }
        }
        Ok(rejections)
    }

    async fn broadcast(&mut self, message: SignedMessage) {
        match &message {
            SignedMessage::Proposal(p) => debug!(height = p.height, round = p.round, "broadcast proposal"),
            SignedMessage::Vote(v) => {
                debug!(height = v.height, round = v.round, kind = ?v.kind, nil = v.block_hash.is_none(), "broadcast vote")
            }
        }
        let envelope = match message {
            SignedMessage::Proposal(proposal) => match self.candidates.get(&proposal.block_hash) {
                Some(candidate) => ConsensusMessage::Proposal { proposal, block: candidate.bytes.clone() },
                None => ConsensusMessage::Signed(SignedMessage::Proposal(proposal)),
            },
            vote => ConsensusMessage::Signed(vote),
        };
        self.seq += 1;
        if let Err(e) = self.network.publish(Topic::Consensus, envelope.encode(self.seq)).await {
            debug!(error = %e, "consensus message not published");
        }
    }

    /// Re-gossips this height's messages when nothing has moved for a while (peers that
    /// connected late or lost messages get them again).
    async fn maybe_rebroadcast(&mut self) {
        if self.last_progress.elapsed() < STALL_REBROADCAST {
            return;
        }
        self.last_progress = Instant::now();
        for message in self.core.gossip_messages() {
            self.broadcast(message).await;
        }
    }

    fn record_evidence(&mut self, evidence: Evidence) {
        let view = evidence_view(&evidence);
        warn!(height = view.height, round = view.round, validator = %view.validator, kind = view.kind.as_str(), "equivocation evidence");
        let line = serde_json::json!({
            "height": view.height,
            "round": view.round,
            "type": view.kind.as_str(),
            "validator": view.validator.to_hex(),
            "first": hex::encode(evidence.messages().0.encode()),
            "second": hex::encode(evidence.messages().1.encode()),
        });
        if let Err(e) = crate::jsonl::append(&self.evidence_log, &[line.to_string()], EVIDENCE_MAX_LINE) {
            warn!(error = %e, "evidence not written to disk");
        }
        if self.evidence.len() >= EVIDENCE_KEPT {
            self.evidence.remove(0);
        }
        self.evidence.push(view);
        self.evidence_tx.send_replace(Arc::new(self.evidence.clone()));
    }
}

/// Longer than any line of `evidence.jsonl` (two hex-encoded messages: about 750 bytes).
const EVIDENCE_MAX_LINE: u64 = 1024;

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
