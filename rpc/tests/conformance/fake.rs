//! An in-memory node behind `NodeApi`: accounts, a mempool, committed blocks, history, and
//! switches to make it slow, not ready, unhealthy or failing.

use async_trait::async_trait;
use ed25519_dalek::SigningKey;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tally_ledger::genesis::{dev_account_seed, dev_validator_seed, public_key_of_seed};
use tally_ledger::state::{check_transfer, Account, ChainParams};
use tally_ledger::store::HistoryCursor;
use tally_ledger::{Block, ChainId, Hash, Header, PublicKey, RejectReason, Transfer, TransferBody};
use tally_rpc::{
    AccountState, ApiError, BlockRef, BlockView, CommitSignature, CommitView, EvidenceView, Health, HistoryView,
    NodeApi, NodeStatus, SignedMessageView, SubmitOutcome, TransactionView, TxStatus, ValidatorView, VoteKind,
};
use tokio::sync::broadcast;

pub const CHAIN: &str = "tally-devnet";
pub const GENESIS_TIME_MS: u64 = 1_767_225_600_000;
pub const INITIAL_BALANCE: u64 = 1_000_000_000_000;

pub fn account_key(k: u32) -> SigningKey {
    SigningKey::from_bytes(&dev_account_seed(k))
}

pub fn account(k: u32) -> PublicKey {
    public_key_of_seed(&dev_account_seed(k))
}

pub fn validator(i: u32) -> PublicKey {
    public_key_of_seed(&dev_validator_seed(i))
}

/// A signed transfer from development account `from` to `to`.
pub fn transfer(from: u32, to: u32, amount: u64, nonce: u64) -> Transfer {
    transfer_with(from, to, amount, nonce, 0, b"inv-1")
}

pub fn transfer_with(from: u32, to: u32, amount: u64, nonce: u64, valid_until: u64, memo: &[u8]) -> Transfer {
    TransferBody {
        chain_id: ChainId::new(CHAIN).unwrap(),
        from: account(from),
        to: account(to),
        amount,
        fee: 1,
        nonce,
        valid_until,
        memo: memo.to_vec(),
    }
    .sign(&account_key(from))
    .unwrap()
}

#[derive(Default)]
struct State {
    accounts: HashMap<PublicKey, Account>,
    mempool: Vec<Transfer>,
    blocks: Vec<Arc<BlockView>>,
    committed: HashMap<Hash, (u64, u32)>,
    replaced: HashMap<Hash, Hash>,
}

/// What can be compared before and after an abuse run.
#[derive(Debug, PartialEq, Eq)]
pub struct Fingerprint {
    mempool: Vec<Hash>,
    height: usize,
    accounts: Vec<(PublicKey, u64, u64)>,
}

pub struct FakeNode {
    state: Mutex<State>,
    tx_blocks: broadcast::Sender<Arc<BlockView>>,
    pub ready: Mutex<bool>,
    pub health: Mutex<Health>,
    pub slow: Mutex<Option<Duration>>,
    pub fail: Mutex<bool>,
    pub params: ChainParams,
}

impl FakeNode {
    pub fn new(broadcast_capacity: usize) -> Arc<FakeNode> {
        let mut state = State::default();
        for k in 0..10 {
            state.accounts.insert(account(k), Account { balance: INITIAL_BALANCE, nonce: 0 });
        }
        Arc::new(FakeNode {
            state: Mutex::new(state),
            tx_blocks: broadcast::channel(broadcast_capacity).0,
            ready: Mutex::new(true),
            health: Mutex::new(Health::ok()),
            slow: Mutex::new(None),
            fail: Mutex::new(false),
            params: ChainParams {
                chain_id: ChainId::new(CHAIN).unwrap(),
                min_fee: 1,
                max_block_txs: 10_000,
                max_block_bytes: 4 << 20,
                validators: (0..4).map(validator).collect(),
            },
        })
    }

    pub fn mempool_hashes(&self) -> Vec<Hash> {
        self.state.lock().unwrap().mempool.iter().map(Transfer::hash).collect()
    }

    pub fn height(&self) -> u64 {
        self.state.lock().unwrap().blocks.len() as u64
    }

    pub fn fingerprint(&self) -> Fingerprint {
        let state = self.state.lock().unwrap();
        let mut accounts: Vec<_> = state.accounts.iter().map(|(k, a)| (*k, a.balance, a.nonce)).collect();
        accounts.sort();
        Fingerprint {
            mempool: state.mempool.iter().map(Transfer::hash).collect(),
            height: state.blocks.len(),
            accounts,
        }
    }

    /// Commits the mempool (up to `max`) as the next block and broadcasts it.
    pub fn commit_block(&self) -> Arc<BlockView> {
        let block = {
            let mut state = self.state.lock().unwrap();
            let transfers: Vec<Transfer> = std::mem::take(&mut state.mempool);
            self.commit_transfers(&mut state, transfers)
        };
        let _ = self.tx_blocks.send(Arc::clone(&block));
        block
    }

    /// Commits exactly `transfers` (not taken from the mempool) without any checks.
    pub fn commit_raw(&self, transfers: Vec<Transfer>) -> Arc<BlockView> {
        let block = {
            let mut state = self.state.lock().unwrap();
            self.commit_transfers(&mut state, transfers)
        };
        let _ = self.tx_blocks.send(Arc::clone(&block));
        block
    }

    fn commit_transfers(&self, state: &mut State, transfers: Vec<Transfer>) -> Arc<BlockView> {
        let height = state.blocks.len() as u64 + 1;
        let parent = state.blocks.last().cloned();
        let previous_hash = parent.as_ref().map_or(Hash::ZERO, |b| b.block.hash());
        for (index, t) in transfers.iter().enumerate() {
            state.committed.insert(t.hash(), (height, index as u32));
            if let Some(sender) = state.accounts.get_mut(&t.from) {
                sender.balance = sender.balance.saturating_sub(t.amount + t.fee);
                sender.nonce = sender.nonce.max(t.nonce + 1);
            }
            state.accounts.entry(t.to).or_default().balance += t.amount;
        }
        let mut block = Block {
            header: Header {
                chain_id: ChainId::new(CHAIN).unwrap(),
                height,
                time_ms: GENESIS_TIME_MS + height * 1000 + 7,
                previous_hash,
                proposer: validator((height % 4) as u32),
                transfers_root: Hash::ZERO,
                last_commit_hash: Hash::digest(&height.to_le_bytes()),
                state_root: Hash::digest(b"state"),
            },
            last_commit: Vec::new(),
            transfers,
        };
        block.header.transfers_root = block.computed_transfers_root();
        let commit = CommitView {
            height,
            round: 0,
            block_hash: block.hash(),
            signatures: (0..3)
                .map(|i| CommitSignature { validator: validator(i), signature: [i as u8 + 1; 64] })
                .collect(),
        };
        let view = Arc::new(BlockView { block, last_commit: parent.map(|p| p.commit.clone()), commit });
        state.blocks.push(Arc::clone(&view));
        view
    }

    fn view(&self, state: &State, hash: Hash) -> TransactionView {
        if let Some((height, index)) = state.committed.get(&hash) {
            let block = &state.blocks[*height as usize - 1];
            return TransactionView::committed(block.block.transfers[*index as usize].clone(), *height, *index);
        }
        if let Some(t) = state.mempool.iter().find(|t| t.hash() == hash) {
            return TransactionView {
                hash,
                status: TxStatus::Pending,
                height: None,
                index: None,
                replaced_by: None,
                transfer: Some(t.clone()),
            };
        }
        TransactionView::unknown(hash)
    }

    async fn gate(&self) -> Result<(), ApiError> {
        let slow = *self.slow.lock().unwrap();
        if let Some(delay) = slow {
            tokio::time::sleep(delay).await;
        }
        if !*self.ready.lock().unwrap() {
            return Err(ApiError::NotReady);
        }
        if *self.fail.lock().unwrap() {
            return Err(ApiError::Internal("disk on fire".into()));
        }
        Ok(())
    }
}

pub fn evidence() -> EvidenceView {
    let message = |block: Option<Hash>, sig: u8| SignedMessageView {
        kind: VoteKind::Prevote,
        height: 7,
        round: 1,
        block_hash: block,
        pol_round: None,
        validator: validator(2),
        signature: [sig; 64],
    };
    EvidenceView {
        height: 7,
        round: 1,
        kind: VoteKind::Prevote,
        validator: validator(2),
        first: message(Some(Hash::digest(b"a")), 1),
        second: message(None, 2),
    }
}

#[async_trait]
impl NodeApi for FakeNode {
    async fn status(&self) -> Result<NodeStatus, ApiError> {
        self.gate().await?;
        let state = self.state.lock().unwrap();
        let tip = state.blocks.last();
        Ok(NodeStatus {
            chain_id: CHAIN.into(),
            genesis_hash: Hash::digest(b"genesis"),
            node_id: "12D3KooWFakePeerId".into(),
            moniker: "fake".into(),
            latest_height: state.blocks.len() as u64,
            latest_block_hash: tip.map_or(Hash::ZERO, |b| b.block.hash()),
            latest_block_time_ms: tip.map_or(GENESIS_TIME_MS, |b| b.block.header.time_ms),
            syncing: false,
            validator: Some(validator(0)),
            peers: 3,
        })
    }

    async fn account(&self, key: PublicKey) -> Result<AccountState, ApiError> {
        self.gate().await?;
        let state = self.state.lock().unwrap();
        let account = state.accounts.get(&key).copied().unwrap_or_default();
        let pending = state.mempool.iter().filter(|t| t.from == key).count() as u64;
        Ok(AccountState {
            balance: account.balance,
            nonce: account.nonce,
            pending_nonce: account.nonce + pending,
            height: state.blocks.len() as u64,
        })
    }

    async fn submit(&self, transfer: Transfer) -> Result<SubmitOutcome, ApiError> {
        self.gate().await?;
        let mut state = self.state.lock().unwrap();
        let hash = transfer.hash();
        let known = self.view(&state, hash);
        if known.status != TxStatus::Unknown {
            return Ok(SubmitOutcome { hash, status: known.status, height: known.height });
        }
        let mut sender = state.accounts.get(&transfer.from).copied().unwrap_or_default();
        sender.nonce += state.mempool.iter().filter(|t| t.from == transfer.from).count() as u64;
        let height = state.blocks.len() as u64 + 1;
        check_transfer(&transfer, &self.params, &sender, height).map_err(ApiError::Rejected)?;
        if state.mempool.len() >= 10_000 {
            return Err(ApiError::Rejected(RejectReason::MempoolFull));
        }
        state.mempool.push(transfer);
        Ok(SubmitOutcome { hash, status: TxStatus::Pending, height: None })
    }

    async fn transaction(&self, hash: Hash) -> Result<TransactionView, ApiError> {
        self.gate().await?;
        let state = self.state.lock().unwrap();
        let mut view = self.view(&state, hash);
        if let Some(by) = state.replaced.get(&hash) {
            view.status = TxStatus::Replaced;
            view.replaced_by = Some(*by);
        }
        Ok(view)
    }

    async fn block(&self, at: BlockRef) -> Result<Option<BlockView>, ApiError> {
        self.gate().await?;
        let state = self.state.lock().unwrap();
        let found = match at {
            BlockRef::Latest => state.blocks.last(),
            BlockRef::Height(0) => None,
            BlockRef::Height(h) => state.blocks.get(h as usize - 1),
        };
        Ok(found.map(|b| (**b).clone()))
    }

    async fn history(
        &self,
        key: PublicKey,
        limit: usize,
        before: Option<HistoryCursor>,
    ) -> Result<HistoryView, ApiError> {
        self.gate().await?;
        let state = self.state.lock().unwrap();
        let mut entries: Vec<(u64, u32, Transfer)> = Vec::new();
        for block in state.blocks.iter().rev() {
            for (index, t) in block.block.transfers.iter().enumerate().rev() {
                let location = (block.block.header.height, index as u32);
                let older = before.is_none_or(|c| location < (c.height, c.index));
                if (t.from == key || t.to == key) && older {
                    entries.push((location.0, location.1, t.clone()));
                }
            }
        }
        entries.truncate(limit);
        let next = match entries.last() {
            Some((height, index, _)) if entries.len() == limit => {
                Some(HistoryCursor { height: *height, index: *index })
            }
            _ => None,
        };
        Ok(HistoryView {
            transactions: entries.into_iter().map(|(h, i, t)| TransactionView::committed(t, h, i)).collect(),
            next,
        })
    }

    async fn validators(&self) -> Result<Vec<ValidatorView>, ApiError> {
        self.gate().await?;
        Ok((0..4).map(|i| ValidatorView { name: format!("v{i}"), public_key: validator(i), power: 1 }).collect())
    }

    async fn evidence(&self, from_height: Option<u64>) -> Result<Vec<EvidenceView>, ApiError> {
        self.gate().await?;
        Ok(vec![evidence()].into_iter().filter(|e| from_height.is_none_or(|h| e.height >= h)).collect())
    }

    fn subscribe_blocks(&self) -> broadcast::Receiver<Arc<BlockView>> {
        self.tx_blocks.subscribe()
    }

    async fn health(&self) -> Health {
        self.health.lock().unwrap().clone()
    }
}
