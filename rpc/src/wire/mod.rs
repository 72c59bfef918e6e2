//! The JSON shapes of SPEC §7, as serde structs shared by the server (which builds them from
//! the node's views) and the client (which reads them back). One definition, so the two cannot
//! drift apart.
//!
//! Encodings: every u64 except heights, `index` and `power` is a decimal string; keys are
//! `tally1…` addresses; hashes, signatures and memos are lowercase hex; times are RFC 3339 UTC
//! with milliseconds.

pub mod codec;

use crate::api::{
    AccountState, BlockView, CommitView, EvidenceView, HistoryView, NodeStatus, SignedMessageView, SubmitOutcome,
    TransactionView, TxStatus, ValidatorView, VoteKind,
};
use codec::{opt_text, text};
use serde::{Deserialize, Serialize};
use tally_ledger::genesis::format_time_ms;
use tally_ledger::{Address, Hash, PublicKey, Transfer};

/// `status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusInfo {
    /// The chain id.
    pub chain_id: String,
    /// SHA-256 of the genesis file.
    #[serde(with = "text")]
    pub genesis_hash: Hash,
    /// The node's libp2p peer id.
    pub node_id: String,
    /// The node's human name.
    pub moniker: String,
    /// The last committed height.
    pub latest_height: u64,
    /// The last committed block's hash.
    #[serde(with = "text")]
    pub latest_block_hash: Hash,
    /// The last committed block's time (RFC 3339, UTC, milliseconds).
    pub latest_block_time: String,
    /// True while catching up.
    pub syncing: bool,
    /// The node's validator address, or null for a full node.
    #[serde(with = "opt_text")]
    pub validator_address: Option<Address>,
    /// Connected peers.
    pub peers: u64,
}

impl From<&NodeStatus> for StatusInfo {
    fn from(s: &NodeStatus) -> Self {
        StatusInfo {
            chain_id: s.chain_id.clone(),
            genesis_hash: s.genesis_hash,
            node_id: s.node_id.clone(),
            moniker: s.moniker.clone(),
            latest_height: s.latest_height,
            latest_block_hash: s.latest_block_hash,
            latest_block_time: format_time_ms(s.latest_block_time_ms),
            syncing: s.syncing,
            validator_address: s.validator.map(|k| k.address()),
            peers: s.peers as u64,
        }
    }
}

/// `getAccount`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountInfo {
    /// The account's address.
    #[serde(with = "text")]
    pub address: Address,
    /// Committed balance, base units.
    #[serde(with = "text")]
    pub balance: u64,
    /// Committed nonce.
    #[serde(with = "text")]
    pub nonce: u64,
    /// The next nonce after this node's pending transfers from the account.
    #[serde(with = "text")]
    pub pending_nonce: u64,
    /// The height the committed values are as of.
    pub height: u64,
}

impl AccountInfo {
    /// The JSON of `state` for `key`.
    pub fn new(key: PublicKey, state: &AccountState) -> AccountInfo {
        AccountInfo {
            address: key.address(),
            balance: state.balance,
            nonce: state.nonce,
            pending_nonce: state.pending_nonce,
            height: state.height,
        }
    }
}

/// `sendTransaction`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendResult {
    /// The transfer hash.
    #[serde(with = "text")]
    pub hash: Hash,
    /// Its status.
    #[serde(with = "text")]
    pub status: TxStatus,
    /// The including block, when committed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
}

impl From<&SubmitOutcome> for SendResult {
    fn from(o: &SubmitOutcome) -> Self {
        SendResult { hash: o.hash, status: o.status, height: o.height }
    }
}

/// The fields of a transfer, as `getTransaction` shows them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferFields {
    /// The sender.
    #[serde(with = "text")]
    pub from: Address,
    /// The recipient.
    #[serde(with = "text")]
    pub to: Address,
    /// Base units moved.
    #[serde(with = "text")]
    pub amount: u64,
    /// Base units paid to the proposer.
    #[serde(with = "text")]
    pub fee: u64,
    /// The sender nonce it consumes.
    #[serde(with = "text")]
    pub nonce: u64,
    /// The last height that may include it (0 = no limit).
    #[serde(with = "text")]
    pub valid_until: u64,
    /// The memo bytes (hex on the wire).
    #[serde(with = "text")]
    pub memo: Vec<u8>,
}

impl From<&Transfer> for TransferFields {
    fn from(t: &Transfer) -> Self {
        TransferFields {
            from: t.from.address(),
            to: t.to.address(),
            amount: t.amount,
            fee: t.fee,
            nonce: t.nonce,
            valid_until: t.valid_until,
            memo: t.memo.clone(),
        }
    }
}

/// `getTransaction`; also the items of `getTransactionsByAddress` and of address subscriptions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionInfo {
    /// The transfer hash.
    #[serde(with = "text")]
    pub hash: Hash,
    /// Its status.
    #[serde(with = "text")]
    pub status: TxStatus,
    /// The including block, when committed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
    /// The position in that block, when committed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// The transfer that replaced it, when replaced.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_text")]
    pub replaced_by: Option<Hash>,
    /// The transfer's fields; absent when the status is `unknown`.
    #[serde(flatten)]
    pub transfer: Option<TransferFields>,
}

impl From<&TransactionView> for TransactionInfo {
    fn from(v: &TransactionView) -> Self {
        TransactionInfo {
            hash: v.hash,
            status: v.status,
            height: v.height,
            index: v.index,
            replaced_by: v.replaced_by,
            transfer: v.transfer.as_ref().map(TransferFields::from),
        }
    }
}

/// One precommit of a certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitSignatureInfo {
    /// The validator's address.
    #[serde(with = "text")]
    pub validator: Address,
    /// Its signature.
    #[serde(with = "text")]
    pub signature: [u8; 64],
}

/// A commit certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitInfo {
    /// The committed height.
    pub height: u64,
    /// The deciding round.
    pub round: u32,
    /// The committed block.
    #[serde(with = "text")]
    pub block_hash: Hash,
    /// The precommits.
    pub signatures: Vec<CommitSignatureInfo>,
}

impl From<&CommitView> for CommitInfo {
    fn from(c: &CommitView) -> Self {
        CommitInfo {
            height: c.height,
            round: c.round,
            block_hash: c.block_hash,
            signatures: c
                .signatures
                .iter()
                .map(|s| CommitSignatureInfo { validator: s.validator.address(), signature: s.signature })
                .collect(),
        }
    }
}

/// `getBlock`; also the `newBlocks` notifications.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockInfo {
    /// The block hash.
    #[serde(with = "text")]
    pub hash: Hash,
    /// Its height.
    pub height: u64,
    /// Its time (RFC 3339, UTC, milliseconds).
    pub time: String,
    /// The parent's hash.
    #[serde(with = "text")]
    pub previous_hash: Hash,
    /// The proposer's address.
    #[serde(with = "text")]
    pub proposer: Address,
    /// Merkle root of the transfer hashes.
    #[serde(with = "text")]
    pub transfers_root: Hash,
    /// Hash of the previous block's certificate.
    #[serde(with = "text")]
    pub last_commit_hash: Hash,
    /// State root after the block.
    #[serde(with = "text")]
    pub state_root: Hash,
    /// The transfer hashes, in block order.
    pub transfers: Vec<HashText>,
    /// The parent's certificate, which `last_commit_hash` commits to; null for block 1.
    pub last_commit: Option<CommitInfo>,
    /// The certificate that made this block final (its height is the block's).
    pub commit: CommitInfo,
}

/// A hash as a JSON string (for lists of hashes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HashText(#[serde(with = "text")] pub Hash);

impl From<&BlockView> for BlockInfo {
    fn from(v: &BlockView) -> Self {
        let header = &v.block.header;
        BlockInfo {
            hash: header.hash(),
            height: header.height,
            time: format_time_ms(header.time_ms),
            previous_hash: header.previous_hash,
            proposer: header.proposer.address(),
            transfers_root: header.transfers_root,
            last_commit_hash: header.last_commit_hash,
            state_root: header.state_root,
            transfers: v.block.transfers.iter().map(|t| HashText(t.hash())).collect(),
            last_commit: v.last_commit.as_ref().map(CommitInfo::from),
            commit: CommitInfo::from(&v.commit),
        }
    }
}

/// `getTransactionsByAddress`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionPage {
    /// Transfers, newest first.
    pub transactions: Vec<TransactionInfo>,
    /// The cursor for the next page (pass as `before`), or null at the end.
    pub next: Option<String>,
}

impl From<&HistoryView> for TransactionPage {
    fn from(v: &HistoryView) -> Self {
        TransactionPage {
            transactions: v.transactions.iter().map(TransactionInfo::from).collect(),
            next: v.next.map(|c| c.encode()),
        }
    }
}

/// An item of `getValidators`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorInfo {
    /// Its genesis name.
    pub name: String,
    /// Its consensus key's address.
    #[serde(with = "text")]
    pub address: Address,
    /// Its voting power.
    pub power: u64,
}

impl From<&ValidatorView> for ValidatorInfo {
    fn from(v: &ValidatorView) -> Self {
        ValidatorInfo { name: v.name.clone(), address: v.public_key.address(), power: v.power }
    }
}

/// A signed consensus message inside evidence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedMessageInfo {
    /// `proposal`, `prevote` or `precommit`.
    #[serde(rename = "type", with = "text")]
    pub kind: VoteKind,
    /// Its height.
    pub height: u64,
    /// Its round.
    pub round: u32,
    /// The block hash, or null for nil.
    #[serde(with = "opt_text")]
    pub block_hash: Option<Hash>,
    /// A proposal's proof-of-lock round, or null.
    pub pol_round: Option<u32>,
    /// The signer's address.
    #[serde(with = "text")]
    pub validator: Address,
    /// The signature.
    #[serde(with = "text")]
    pub signature: [u8; 64],
}

impl From<&SignedMessageView> for SignedMessageInfo {
    fn from(m: &SignedMessageView) -> Self {
        SignedMessageInfo {
            kind: m.kind,
            height: m.height,
            round: m.round,
            block_hash: m.block_hash,
            pol_round: m.pol_round,
            validator: m.validator.address(),
            signature: m.signature,
        }
    }
}

/// An item of `getEvidence`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceInfo {
    /// The height.
    pub height: u64,
    /// The round.
    pub round: u32,
    /// The kind of both messages.
    #[serde(rename = "type", with = "text")]
    pub kind: VoteKind,
    /// The equivocating validator.
    #[serde(with = "text")]
    pub validator: Address,
    /// One message.
    pub first: SignedMessageInfo,
    /// The conflicting one.
    pub second: SignedMessageInfo,
}

impl From<&EvidenceView> for EvidenceInfo {
    fn from(e: &EvidenceView) -> Self {
        EvidenceInfo {
            height: e.height,
            round: e.round,
            kind: e.kind,
            validator: e.validator.address(),
            first: SignedMessageInfo::from(&e.first),
            second: SignedMessageInfo::from(&e.second),
        }
    }
}
