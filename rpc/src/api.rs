//! The node's side of the RPC: the [`NodeApi`] trait and the plain view structs it returns.
//!
//! The node implements [`NodeApi`] over its store, mempool and consensus handles; the server
//! turns these views into the JSON of SPEC §7 (see [`crate::wire`]). Views hold ledger types
//! and carry no serde: the encoding is this crate's business, the facts are the node's.

use async_trait::async_trait;
use std::sync::Arc;
use tally_ledger::store::HistoryCursor;
use tally_ledger::{Block, Hash, PublicKey, RejectReason, Transfer};
use tokio::sync::broadcast;

/// Why the node could not answer a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The transfer breaks a rule of SPEC §3 (or the mempool is full): JSON-RPC -32000 with
    /// `data.reason`.
    #[error("transfer rejected: {0}")]
    Rejected(RejectReason),
    /// The thing asked for does not exist here: JSON-RPC -32001.
    #[error("not found")]
    NotFound,
    /// The node is still starting or syncing and cannot answer yet: JSON-RPC -32002.
    #[error("node not ready")]
    NotReady,
    /// Anything else (a storage failure): JSON-RPC -32603. The text is logged and shown to the
    /// client, so it must not hold secrets.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The node's identity and the tip of its chain (`status`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeStatus {
    /// The chain id.
    pub chain_id: String,
    /// SHA-256 of the genesis file's exact bytes.
    pub genesis_hash: Hash,
    /// The node's libp2p peer id.
    pub node_id: String,
    /// The node's human name.
    pub moniker: String,
    /// The last committed height (0 before block 1).
    pub latest_height: u64,
    /// The hash of the last committed block (zero before block 1).
    pub latest_block_hash: Hash,
    /// The last committed block's time, Unix milliseconds (the genesis time before block 1).
    pub latest_block_time_ms: u64,
    /// True while the node is catching up with its peers.
    pub syncing: bool,
    /// The node's consensus key, if it is a validator.
    pub validator: Option<PublicKey>,
    /// Connected peers.
    pub peers: usize,
}

/// An account as of the last committed block (`getAccount`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountState {
    /// Committed balance in base units (0 for an unknown account).
    pub balance: u64,
    /// Committed nonce: the nonce of the account's next transfer to be included.
    pub nonce: u64,
    /// The next nonce after the account's transfers waiting in this node's mempool.
    pub pending_nonce: u64,
    /// The height these values are as of.
    pub height: u64,
}

/// Where a transfer stands (SPEC §7 "Payment status").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TxStatus {
    /// Waiting in this node's mempool.
    Pending,
    /// Included in a final block.
    Committed,
    /// The chain passed its `valid_until` without it.
    Expired,
    /// Another transfer with the same sender and nonce was committed.
    Replaced,
    /// This node does not know the hash.
    Unknown,
}

impl TxStatus {
    /// The wire name: `pending`, `committed`, `expired`, `replaced` or `unknown`.
    pub fn as_str(&self) -> &'static str {
        match self {
            TxStatus::Pending => "pending",
            TxStatus::Committed => "committed",
            TxStatus::Expired => "expired",
            TxStatus::Replaced => "replaced",
            TxStatus::Unknown => "unknown",
        }
    }

    /// Parses a wire name.
    pub fn parse(text: &str) -> Option<TxStatus> {
        [TxStatus::Pending, TxStatus::Committed, TxStatus::Expired, TxStatus::Replaced, TxStatus::Unknown]
            .into_iter()
            .find(|s| s.as_str() == text)
    }

    /// True for the statuses that never change again.
    pub fn is_final(&self) -> bool {
        matches!(self, TxStatus::Committed | TxStatus::Expired | TxStatus::Replaced)
    }
}

/// What `submit` did with a transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubmitOutcome {
    /// The transfer's hash.
    pub hash: Hash,
    /// `Pending` when admitted (or already waiting), or the stored final status when the node
    /// already knew the transfer.
    pub status: TxStatus,
    /// The block height when committed.
    pub height: Option<u64>,
}

/// A transfer and where it stands (`getTransaction`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransactionView {
    /// The transfer hash.
    pub hash: Hash,
    /// Its status.
    pub status: TxStatus,
    /// The including block, when committed.
    pub height: Option<u64>,
    /// Its position in that block, when committed.
    pub index: Option<u32>,
    /// The committed transfer that replaced it, when replaced.
    pub replaced_by: Option<Hash>,
    /// The transfer itself; `None` only when the status is `Unknown`.
    pub transfer: Option<Transfer>,
}

impl TransactionView {
    /// The view of a hash this node never saw.
    pub fn unknown(hash: Hash) -> TransactionView {
        TransactionView {
            hash,
            status: TxStatus::Unknown,
            height: None,
            index: None,
            replaced_by: None,
            transfer: None,
        }
    }

    /// The view of a transfer committed at `height`, position `index`.
    pub fn committed(transfer: Transfer, height: u64, index: u32) -> TransactionView {
        TransactionView {
            hash: transfer.hash(),
            status: TxStatus::Committed,
            height: Some(height),
            index: Some(index),
            replaced_by: None,
            transfer: Some(transfer),
        }
    }
}

/// Which block `getBlock` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockRef {
    /// The block at this height.
    Height(u64),
    /// The last committed block.
    Latest,
}

/// One precommit signature of a commit certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommitSignature {
    /// The validator's consensus key.
    pub validator: PublicKey,
    /// Its ed25519 signature over the precommit's signing bytes.
    pub signature: [u8; 64],
}

/// A commit certificate: >2/3 of voting power precommitted `block_hash` at `height`, `round`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitView {
    /// The committed height.
    pub height: u64,
    /// The round that decided it.
    pub round: u32,
    /// The committed block.
    pub block_hash: Hash,
    /// The precommits.
    pub signatures: Vec<CommitSignature>,
}

/// A committed block with its certificates (`getBlock`, `newBlocks`).
///
/// A block carries its parent's certificate (`Block::last_commit`, canonical bytes owned by
/// `tally-consensus`); the node decodes it into `last_commit`, since this crate does not know
/// that encoding. `commit` is the certificate that made this block itself final.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockView {
    /// The block.
    pub block: Block,
    /// The parent's certificate, decoded from `block.last_commit` (whose SHA-256 is the header's
    /// `last_commit_hash`); `None` for block 1, which has no parent certificate.
    pub last_commit: Option<CommitView>,
    /// The certificate of this block's own height: >2/3 precommits for this block.
    pub commit: CommitView,
}

/// A page of an address's history, newest first (`getTransactionsByAddress`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryView {
    /// Transfers sent or received, newest first.
    pub transactions: Vec<TransactionView>,
    /// The cursor of the next (older) page, if there may be one.
    pub next: Option<HistoryCursor>,
}

/// A member of the validator set (`getValidators`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorView {
    /// Its genesis name (`v0`).
    pub name: String,
    /// Its consensus key.
    pub public_key: PublicKey,
    /// Its voting power.
    pub power: u64,
}

/// The kind of a signed consensus message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VoteKind {
    /// A block proposal.
    Proposal,
    /// A prevote.
    Prevote,
    /// A precommit.
    Precommit,
}

impl VoteKind {
    /// The wire name: `proposal`, `prevote` or `precommit`.
    pub fn as_str(&self) -> &'static str {
        match self {
            VoteKind::Proposal => "proposal",
            VoteKind::Prevote => "prevote",
            VoteKind::Precommit => "precommit",
        }
    }

    /// Parses a wire name.
    pub fn parse(text: &str) -> Option<VoteKind> {
        [VoteKind::Proposal, VoteKind::Prevote, VoteKind::Precommit].into_iter().find(|k| k.as_str() == text)
    }
}

/// A signed proposal or vote, as shown in evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedMessageView {
    /// Proposal, prevote or precommit.
    pub kind: VoteKind,
    /// Its height.
    pub height: u64,
    /// Its round.
    pub round: u32,
    /// The block voted for or proposed; `None` for a nil vote.
    pub block_hash: Option<Hash>,
    /// A proposal's proof-of-lock round (`None` for votes and for -1).
    pub pol_round: Option<u32>,
    /// The signer.
    pub validator: PublicKey,
    /// The ed25519 signature.
    pub signature: [u8; 64],
}

/// Proof that a validator signed two conflicting messages for one height, round and kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvidenceView {
    /// The height.
    pub height: u64,
    /// The round.
    pub round: u32,
    /// The kind of both messages.
    pub kind: VoteKind,
    /// The equivocating validator.
    pub validator: PublicKey,
    /// One message.
    pub first: SignedMessageView,
    /// The conflicting one.
    pub second: SignedMessageView,
}

/// The node's own verdict on its health (`GET /health`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    /// True when in sync and the store is writable.
    pub ok: bool,
    /// Why not, when not ok.
    pub reason: Option<String>,
}

impl Health {
    /// A healthy node.
    pub fn ok() -> Health {
        Health { ok: true, reason: None }
    }

    /// An unhealthy node, with the reason.
    pub fn unhealthy(reason: impl Into<String>) -> Health {
        Health { ok: false, reason: Some(reason.into()) }
    }
}

/// What the RPC server needs from a node. Object safe: the server holds an `Arc<dyn NodeApi>`.
///
/// Calls may come concurrently from many connections; implementations read through handles or
/// store snapshots and never block the async runtime for long.
#[async_trait]
pub trait NodeApi: Send + Sync + 'static {
    /// The node's identity and chain tip.
    async fn status(&self) -> Result<NodeStatus, ApiError>;

    /// An account's committed state and pending nonce; an unknown account is all zeros.
    async fn account(&self, key: PublicKey) -> Result<AccountState, ApiError>;

    /// Looks the transfer's hash up first: a transfer already known returns its stored status
    /// (idempotent; a committed transfer resent is `Committed`, never `bad_nonce`). Otherwise the
    /// transfer is checked (SPEC §3, first failing rule in order) and admitted to the mempool
    /// (`Pending`) or refused with [`ApiError::Rejected`]. The server has already decoded the
    /// bytes; `malformed` is the server's verdict for bytes that do not decode.
    async fn submit(&self, transfer: Transfer) -> Result<SubmitOutcome, ApiError>;

    /// A transfer by hash; a hash never seen is [`TransactionView::unknown`] (not an error).
    async fn transaction(&self, hash: Hash) -> Result<TransactionView, ApiError>;

    /// A committed block with the certificate that made it final; `None` if there is none.
    async fn block(&self, at: BlockRef) -> Result<Option<BlockView>, ApiError>;

    /// Up to `limit` committed transfers sent or received by `key`, newest first, strictly older
    /// than `before` when given.
    async fn history(
        &self,
        key: PublicKey,
        limit: usize,
        before: Option<HistoryCursor>,
    ) -> Result<HistoryView, ApiError>;

    /// The validator set, in genesis order.
    async fn validators(&self) -> Result<Vec<ValidatorView>, ApiError>;

    /// Equivocation evidence the node holds, at or above `from_height` when given.
    async fn evidence(&self, from_height: Option<u64>) -> Result<Vec<EvidenceView>, ApiError>;

    /// A receiver of committed blocks, each once, in height order, sent after the block is
    /// durably committed (so a lookup made on receipt sees it).
    fn subscribe_blocks(&self) -> broadcast::Receiver<Arc<BlockView>>;

    /// The node's health: in sync and able to write.
    async fn health(&self) -> Health;
}
