//! Building, validating and committing blocks.

use super::{now_ms, Candidate, Driver, Fatal, PendingDecision};
use crate::views::block_view;
use std::sync::Arc;
use tally_consensus::{BlockHash, CommitCertificate, Input};
use tally_ledger::block::last_commit_hash;
use tally_ledger::store::BlockCommit;
use tally_ledger::{Block, BlockContext, Execution, Hash, Header, VerifiedTransfer};
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// How far ahead of this node's clock a proposed block's time may be (SPEC §4).
const MAX_CLOCK_DRIFT_MS: u64 = 5_000;

impl Driver {
    /// The core wants a block from this node: build it now if transfers wait or the empty-block
    /// interval has passed; otherwise owe it until one of those happens.
    pub(super) async fn request_block(&mut self, height: u64, round: u32) -> Result<Option<Input>, Fatal> {
        let idle_due = now_ms() >= self.ledger.last_time_ms().saturating_add(self.timing.empty_block_interval_ms);
        if *self.mempool.size.borrow() > 0 || idle_due || round > 0 {
            return self.build_block(height, round).await.map(Some);
        }
        self.owed_proposal = Some((height, round));
        Ok(None)
    }

    /// Builds the owed block if the core still wants it.
    pub(super) async fn pay_owed_proposal(&mut self) -> Result<(), Fatal> {
        let Some((height, round)) = self.owed_proposal.take() else { return Ok(()) };
        if self.core.height() != height || self.core.round() != round {
            return Ok(());
        }
        let input = self.build_block(height, round).await?;
        self.feed(input).await?;
        Ok(())
    }

    async fn build_block(&mut self, height: u64, round: u32) -> Result<Input, Fatal> {
        self.owed_proposal = None;
        let Some(proposer) = self.validator_key else {
            // Only validators are asked to propose; a full node has no key.
            return Ok(Input::ProposeBlock { height, round, block_hash: [0; 32] });
        };
        let max = self.genesis.params.max_block_txs as usize;
        let candidates = self.mempool.reap(max).await.unwrap_or_default();
        let ctx = BlockContext { height, proposer };
        let ledger = &self.ledger;
        let (included, refused, execution) = tokio::task::block_in_place(|| ledger.select(&ctx, candidates));
        if !refused.is_empty() {
            let hashes = refused.iter().map(|(t, _)| t.hash()).collect();
            let _ = self.mempool.drop_transfers(hashes).await;
        }
        let transfers: Vec<_> = included.into_iter().map(VerifiedTransfer::into_inner).collect();
        let mut block = Block {
            header: Header {
                chain_id: self.genesis.params.chain_id.clone(),
                height,
                time_ms: now_ms().max(self.ledger.last_time_ms() + 1),
                previous_hash: self.ledger.last_block_hash(),
                proposer,
                transfers_root: Hash::ZERO,
                last_commit_hash: last_commit_hash(&self.last_commit),
                state_root: execution.state_root(),
            },
            last_commit: self.last_commit.clone(),
            transfers,
        };
        block.header.transfers_root = block.computed_transfers_root();
        let hash = block.hash().0;
        debug!(height, round, transfers = block.transfers.len(), "built a block");
        let bytes = block.encode();
        let saved = &mut self.saved_blocks;
        tokio::task::block_in_place(|| saved.save(height, &hash, &bytes)).map_err(Fatal::SaveBlock)?;
        self.candidates.insert(hash, Arc::new(Candidate { block, bytes }));
        self.executions.insert(hash, execution);
        Ok(Input::ProposeBlock { height, round, block_hash: hash })
    }

    /// Checks the certificate a block carries for its parent.
    fn check_last_commit(&self, block: &Block) -> Result<(), String> {
        let height = block.header.height;
        if height == 1 {
            return if block.last_commit.is_empty() { Ok(()) } else { Err("block 1 carries a certificate".into()) };
        }
        let certificate = CommitCertificate::decode(&block.last_commit).map_err(|e| e.to_string())?;
        if certificate.height != height - 1 || certificate.block_hash != block.header.previous_hash.0 {
            return Err("last commit does not certify the parent".into());
        }
        certificate.verify(self.genesis.params.chain_id.as_str(), &self.validators).map_err(|e| e.to_string())
    }

    /// Executes a candidate block against the committed state; `Ok` keeps the execution.
    pub(super) async fn execute_candidate(&mut self, candidate: &Candidate) -> Result<Execution, String> {
        self.check_last_commit(&candidate.block)?;
        let started = std::time::Instant::now();
        let verified = match self.mempool.verify_block(candidate.block.transfers.clone()).await {
            Ok(Ok(verified)) => verified,
            Ok(Err(index)) => return Err(format!("transfer {index} has an invalid signature")),
            Err(e) => return Err(e.to_string()),
        };
        let checked = std::time::Instant::now();
        let ledger = &self.ledger;
        let header = &candidate.block.header;
        let execution = tokio::task::block_in_place(|| ledger.validate(header, &verified)).map_err(|e| e.to_string());
        debug!(
            height = header.height,
            transfers = verified.len(),
            signatures_ms = checked.duration_since(started).as_millis() as u64,
            execute_ms = checked.elapsed().as_millis() as u64,
            "executed a candidate block"
        );
        execution
    }

    /// The core asks whether a proposed block is valid. A valid block is saved to disk before
    /// the answer (the core votes for it next).
    pub(super) async fn validate_candidate(&mut self, height: u64, hash: &BlockHash) -> Result<bool, Fatal> {
        if self.executions.contains_key(hash) {
            return Ok(true);
        }
        let Some(candidate) = self.candidates.get(hash).cloned() else {
            debug!(height, "asked to validate a block this node does not have");
            return Ok(false);
        };
        if candidate.block.header.height != height || height != self.ledger.height() + 1 {
            return Ok(false);
        }
        if candidate.block.header.time_ms > now_ms() + MAX_CLOCK_DRIFT_MS {
            warn!(height, "proposed block is more than 5 s ahead of this node's clock");
            return Ok(false);
        }
        match self.execute_candidate(&candidate).await {
            Ok(execution) => {
                let saved = &mut self.saved_blocks;
                tokio::task::block_in_place(|| saved.save(height, hash, &candidate.bytes)).map_err(Fatal::SaveBlock)?;
                self.executions.insert(*hash, execution);
                Ok(true)
            }
            Err(reason) => {
                warn!(height, %reason, "proposed block is invalid");
                Ok(false)
            }
        }
    }

    /// A block is final: commit it, or fetch it first.
    pub(super) async fn decided(
        &mut self,
        height: u64,
        round: u32,
        hash: BlockHash,
        certificate: CommitCertificate,
    ) -> Result<Option<Input>, Fatal> {
        let Some(candidate) = self.candidates.get(&hash).cloned() else {
            info!(height, "decided a block this node has not received; fetching it from peers");
            self.pending_decision = Some(PendingDecision { height, round, block_hash: hash, certificate });
            self.sync.heard_height(height);
            return Ok(None);
        };
        let execution = match self.executions.remove(&hash) {
            Some(execution) => execution,
            None => self.execute_candidate(&candidate).await.map_err(|reason| Fatal::Diverged { height, reason })?,
        };
        self.metrics.consensus_rounds.observe(f64::from(round) + 1.0);
        self.commit(&candidate.block, &certificate, execution).await?;
        // Deciding with the validators means this node is at the tip, whatever peers claimed.
        self.head_tx.send_modify(|h| h.syncing = false);
        Ok(Some(Input::StartHeight { height: height + 1 }))
    }

    /// Commits a pending decision once its block has arrived by gossip (the proposal can come
    /// after the precommits that decided it: gossip does not keep order across relays).
    pub(super) async fn complete_pending_decision(&mut self) -> Result<(), Fatal> {
        let arrived = self
            .pending_decision
            .as_ref()
            .is_some_and(|p| p.height == self.ledger.height() + 1 && self.candidates.contains_key(&p.block_hash));
        if !arrived {
            return Ok(());
        }
        let Some(p) = self.pending_decision.take() else { return Ok(()) };
        info!(height = p.height, "the decided block arrived by gossip");
        if let Some(input) = self.decided(p.height, p.round, p.block_hash, p.certificate).await? {
            self.feed(input).await?;
        }
        Ok(())
    }

    /// Commits a final block: one synced store write, then memory (and now and then a snapshot
    /// of the accounts), the mempool, subscribers.
    pub(super) async fn commit(
        &mut self,
        block: &Block,
        certificate: &CommitCertificate,
        execution: Execution,
    ) -> Result<(), Fatal> {
        let started = Instant::now();
        let certificate_bytes = certificate.encode();
        let store = &self.store;
        tokio::task::block_in_place(|| store.commit(&BlockCommit { block, certificate: &certificate_bytes }))?;
        let height = block.header.height;
        let hash = block.hash();
        let changed = Arc::new(self.ledger.apply(execution, hash, block.header.time_ms).accounts);
        self.last_commit = certificate_bytes;
        self.pending_decision = None;
        self.candidates.retain(|_, c| c.block.header.height > height);
        self.saved_blocks.prune_through(height);
        self.executions.clear();
        self.timers.prune_below(height + 1);
        let transfers = Arc::new(block.transfers.clone());
        let _ = self.mempool.committed(height, transfers, changed).await;
        self.metrics.height.set(height as i64);
        self.metrics.transfers_committed.inc_by(block.transfers.len() as u64);
        let best = self.sync.best_height().max(height);
        self.head_tx.send_modify(|h| {
            h.height = height;
            h.block_hash = hash;
            h.time_ms = block.header.time_ms;
            h.best_peer_height = best;
        });
        let _ = self.blocks_tx.send(Arc::new(block_view(block, certificate)));
        // Last: copying the accounts for a snapshot must not delay what readers see.
        let (snapshots, ledger) = (&mut self.snapshots, &self.ledger);
        tokio::task::block_in_place(|| snapshots.committed(ledger, block.transfers.len()));
        self.last_progress = Instant::now();
        debug!(height, transfers = block.transfers.len(), ms = started.elapsed().as_millis() as u64, "committed");
        Ok(())
    }
}
