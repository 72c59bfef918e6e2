//! The node's side of the RPC: reads from the store (RocksDB serves concurrent reads, so the
//! writer is never blocked), asks the mempool actor (which holds the committed accounts), and
//! watches the driver's head.

use crate::driver::Head;
use crate::mempool::{Admission, Outcome};
use crate::mempool_actor::{AccountView, MempoolHandle, PoolStatus};
use crate::views::stored_block_view;
use crate::LedgerStore;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;
use tally_ledger::store::{HistoryCursor, StoreError, TransferLocation};
use tally_ledger::{Genesis, Hash, PublicKey, RejectReason, Transfer};
use tally_rpc::{
    AccountState, ApiError, BlockRef, BlockView, EvidenceView, Health, HistoryView, NodeApi, NodeStatus, SubmitOutcome,
    TransactionView, TxStatus, ValidatorView,
};
use tokio::sync::{broadcast, watch};

/// How many blocks behind the best peer a node may be and still call itself healthy.
const HEALTHY_LAG: u64 = 5;
/// The longest an account read waits for the mempool to learn of the store's last block.
const ACCOUNT_CATCH_UP: Duration = Duration::from_millis(500);

/// Everything the RPC reads.
pub struct NodeRpc {
    /// The store (read-only use).
    pub store: Arc<LedgerStore>,
    /// The genesis.
    pub genesis: Arc<Genesis>,
    /// The mempool.
    pub mempool: MempoolHandle,
    /// The driver's view of the tip.
    pub head: watch::Receiver<Head>,
    /// Committed blocks.
    pub blocks: broadcast::Sender<Arc<BlockView>>,
    /// Evidence.
    pub evidence: watch::Receiver<Arc<Vec<EvidenceView>>>,
    /// This node's libp2p peer id.
    pub node_id: String,
    /// The moniker.
    pub moniker: String,
    /// This node's validator key, if any.
    pub validator: Option<PublicKey>,
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(e.to_string())
}

fn store_error(e: StoreError) -> ApiError {
    ApiError::Internal(format!("store: {e}"))
}

impl NodeRpc {
    fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&LedgerStore) -> Result<T, StoreError> + Send + 'static,
    ) -> impl std::future::Future<Output = Result<T, ApiError>> {
        let store = self.store.clone();
        async move { tokio::task::spawn_blocking(move || f(&store)).await.map_err(internal)?.map_err(store_error) }
    }

    /// A committed transfer's view, if `hash` is committed.
    fn committed_view(store: &LedgerStore, hash: &Hash) -> Result<Option<TransactionView>, StoreError> {
        Ok(store.committed_transfer(hash)?.map(|(location, transfer)| committed(*hash, location, transfer)))
    }
}

/// The view of transfer `hash`, committed at `location`.
fn committed(hash: Hash, location: TransferLocation, transfer: Transfer) -> TransactionView {
    TransactionView {
        hash,
        status: TxStatus::Committed,
        height: Some(location.height),
        index: Some(location.index),
        replaced_by: None,
        transfer: Some(transfer),
    }
}

fn pool_view(hash: Hash, status: PoolStatus) -> TransactionView {
    match status {
        PoolStatus::Pending(transfer) => TransactionView {
            hash,
            status: TxStatus::Pending,
            height: None,
            index: None,
            replaced_by: None,
            transfer: Some(transfer),
        },
        PoolStatus::Ended(transfer, outcome) => {
            let (status, replaced_by) = match outcome {
                Outcome::Expired => (TxStatus::Expired, None),
                Outcome::Replaced { by } => (TxStatus::Replaced, Some(by)),
                Outcome::Dropped => (TxStatus::Unknown, None),
            };
            TransactionView { hash, status, height: None, index: None, replaced_by, transfer: Some(transfer) }
        }
        PoolStatus::Unknown => TransactionView::unknown(hash),
    }
}

#[async_trait]
impl NodeApi for NodeRpc {
    async fn status(&self) -> Result<NodeStatus, ApiError> {
        let head = self.head.borrow().clone();
        Ok(NodeStatus {
            chain_id: self.genesis.params.chain_id.to_string(),
            genesis_hash: self.genesis.hash,
            node_id: self.node_id.clone(),
            moniker: self.moniker.clone(),
            latest_height: head.height,
            latest_block_hash: head.block_hash,
            latest_block_time_ms: head.time_ms,
            syncing: head.syncing,
            validator: self.validator,
            peers: head.peers,
        })
    }

    async fn account(&self, key: PublicKey) -> Result<AccountState, ApiError> {
        // The mempool holds the committed accounts. It learns of a block a moment after the
        // store commits it, so a client that has seen a transfer committed (in the store) may
        // ask before it has: the read waits that moment out, and rather than answer with an
        // older state than the client has seen, says the node is not ready.
        let stored = self.blocking(|s| s.height()).await?;
        let mut height = self.mempool.height.clone();
        match tokio::time::timeout(ACCOUNT_CATCH_UP, height.wait_for(|h| *h >= stored)).await {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => return Err(internal("the mempool stopped")),
            Err(_) => return Err(ApiError::NotReady),
        }
        let AccountView { account, pending_nonce, height } = self.mempool.account(key).await.map_err(internal)?;
        Ok(AccountState { balance: account.balance, nonce: account.nonce, pending_nonce, height })
    }

    async fn submit(&self, transfer: Transfer) -> Result<SubmitOutcome, ApiError> {
        let hash = transfer.hash();
        // A new transfer (nearly every call) takes one trip to the mempool. Only a refused one,
        // or a node still syncing, asks whether it already ended: committed (its nonce is used,
        // so the pool refuses it), expired or replaced; such a resubmission then gets its status
        // rather than an error.
        let syncing = self.head.borrow().syncing;
        let refused = if syncing {
            ApiError::NotReady
        } else {
            match self.mempool.submit(transfer.clone()).await.map_err(internal)? {
                Ok(Admission::Added | Admission::AlreadyPending) => {
                    return Ok(SubmitOutcome { hash, status: TxStatus::Pending, height: None });
                }
                // Its nonce is used: if the store has lost sight of it too, that is the reason.
                Ok(Admission::AlreadyCommitted) => ApiError::Rejected(RejectReason::BadNonce),
                Err(reason) => ApiError::Rejected(reason),
            }
        };
        if let Some(view) = self.blocking(move |s| NodeRpc::committed_view(s, &hash)).await? {
            return Ok(SubmitOutcome { hash, status: TxStatus::Committed, height: view.height });
        }
        // Refused as mempool_full, the node is shedding load: its pool is not asked again.
        if matches!(refused, ApiError::Rejected(RejectReason::MempoolFull)) {
            return Err(refused);
        }
        if let PoolStatus::Ended(_, outcome) = self.mempool.status(hash).await.map_err(internal)? {
            let status = pool_view(hash, PoolStatus::Ended(transfer, outcome)).status;
            if status != TxStatus::Unknown {
                return Ok(SubmitOutcome { hash, status, height: None });
            }
        }
        Err(refused)
    }

    async fn transaction(&self, hash: Hash) -> Result<TransactionView, ApiError> {
        if let Some(view) = self.blocking(move |s| NodeRpc::committed_view(s, &hash)).await? {
            return Ok(view);
        }
        let status = self.mempool.status(hash).await.map_err(internal)?;
        Ok(pool_view(hash, status))
    }

    async fn block(&self, at: BlockRef) -> Result<Option<BlockView>, ApiError> {
        let height = match at {
            BlockRef::Height(h) => h,
            BlockRef::Latest => self.head.borrow().height,
        };
        let stored = self.blocking(move |s| s.block(height)).await?;
        Ok(stored.map(|s| stored_block_view(&s.block, &s.certificate)))
    }

    async fn history(
        &self,
        key: PublicKey,
        limit: usize,
        before: Option<HistoryCursor>,
    ) -> Result<HistoryView, ApiError> {
        self.blocking(move |s| {
            let page = s.history(&key, limit, before)?;
            let transactions = page
                .entries
                .into_iter()
                .map(|(location, transfer)| committed(transfer.hash(), location, transfer))
                .collect();
            Ok(HistoryView { transactions, next: page.next })
        })
        .await
    }

    async fn validators(&self) -> Result<Vec<ValidatorView>, ApiError> {
        Ok(self
            .genesis
            .validators
            .iter()
            .map(|v| ValidatorView { name: v.name.clone(), public_key: v.public_key, power: v.power })
            .collect())
    }

    async fn evidence(&self, from_height: Option<u64>) -> Result<Vec<EvidenceView>, ApiError> {
        let all = self.evidence.borrow().clone();
        Ok(all.iter().filter(|e| from_height.is_none_or(|h| e.height >= h)).cloned().collect())
    }

    fn subscribe_blocks(&self) -> broadcast::Receiver<Arc<BlockView>> {
        self.blocks.subscribe()
    }

    async fn health(&self) -> Health {
        let head = self.head.borrow().clone();
        if let Some(error) = head.store_error {
            return Health::unhealthy(format!("cannot commit: {error}"));
        }
        if head.best_peer_height > head.height + HEALTHY_LAG {
            return Health::unhealthy(format!(
                "{} blocks behind the best peer (height {} of {})",
                head.best_peer_height - head.height,
                head.height,
                head.best_peer_height
            ));
        }
        if head.syncing {
            return Health::unhealthy("still syncing");
        }
        Health::ok()
    }
}
