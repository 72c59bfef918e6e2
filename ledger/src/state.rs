//! Account state and the state transition (SPEC §3–§4): pure logic, no I/O.
//!
//! [`Ledger`] is the committed state held in memory (every account, and the state tree). It
//! executes a block's verified transfers against an overlay, so a proposed block can be checked
//! and its state root computed without touching the committed state; [`Ledger::apply`] makes an
//! execution the new state once the store has durably committed it.

use crate::address::PublicKey;
use crate::block::{BlockError, Header};
use crate::hash::Hash;
use crate::merkle::transfers_root;
use crate::transfer::{ChainId, Transfer, VerifiedTransfer};
use crate::tree::{StateTree, TreeUpdate};
use std::collections::HashMap;
use std::fmt;

/// Bytes set aside in a block for everything but its transfers: the header, the parent's
/// commit certificate (up to 256 validators' signatures) and the length fields.
pub const BLOCK_OVERHEAD_BYTES: u64 = 256 + 8 + 8 + 256 * 96 + 64;

/// An account's committed state. An address never seen has balance 0 and nonce 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Account {
    /// Base units held.
    pub balance: u64,
    /// The nonce the account's next transfer must carry.
    pub nonce: u64,
}

impl Account {
    /// `balance u64 | nonce u64`, little-endian: the state tree's leaf value and the store's row.
    pub fn encode(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.balance.to_le_bytes());
        out[8..].copy_from_slice(&self.nonce.to_le_bytes());
        out
    }

    /// The inverse of [`Account::encode`]; `None` unless exactly 16 bytes.
    pub fn decode(bytes: &[u8]) -> Option<Account> {
        let bytes: &[u8; 16] = bytes.try_into().ok()?;
        let (balance, nonce) = bytes.split_at(8);
        Some(Account {
            balance: u64::from_le_bytes(balance.try_into().ok()?),
            nonce: u64::from_le_bytes(nonce.try_into().ok()?),
        })
    }
}

/// Why a transfer is refused (SPEC §7's `data.reason`); when several apply, the first in this
/// order is reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// Undecodable, trailing bytes, unknown version, oversize field, zero amount.
    Malformed,
    /// Signed for another chain.
    WrongChain,
    /// The signature does not pass `verify_strict`.
    InvalidSignature,
    /// The fee is below the genesis `min_fee`.
    FeeTooLow,
    /// The chain has passed its `valid_until`.
    Expired,
    /// The nonce is not the sender's next nonce.
    BadNonce,
    /// The balance does not cover `amount + fee` (or that sum overflows).
    InsufficientFunds,
    /// The node's mempool is full and the fee does not beat the cheapest entry.
    MempoolFull,
}

impl RejectReason {
    /// The wire name used in RPC errors.
    pub fn as_str(&self) -> &'static str {
        match self {
            RejectReason::Malformed => "malformed",
            RejectReason::WrongChain => "wrong_chain",
            RejectReason::InvalidSignature => "invalid_signature",
            RejectReason::FeeTooLow => "fee_too_low",
            RejectReason::Expired => "expired",
            RejectReason::BadNonce => "bad_nonce",
            RejectReason::InsufficientFunds => "insufficient_funds",
            RejectReason::MempoolFull => "mempool_full",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The genesis parameters every rule depends on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainParams {
    /// The chain id transfers must carry.
    pub chain_id: ChainId,
    /// The smallest fee accepted.
    pub min_fee: u64,
    /// The most transfers in one block.
    pub max_block_txs: u64,
    /// The largest encoded block; every size limit derives from it.
    pub max_block_bytes: u64,
    /// The validators' public keys; a header's proposer must be one of them.
    pub validators: Vec<PublicKey>,
}

/// The checks that need no state and no signature: chain id, then (after the signature, which
/// the caller checks in between) the fee. See [`check_transfer`] for the whole order.
pub fn check_chain(transfer: &Transfer, params: &ChainParams) -> Result<(), RejectReason> {
    if transfer.chain_id != params.chain_id {
        return Err(RejectReason::WrongChain);
    }
    Ok(())
}

/// The fee rule.
pub fn check_fee(transfer: &Transfer, params: &ChainParams) -> Result<(), RejectReason> {
    if transfer.fee < params.min_fee {
        return Err(RejectReason::FeeTooLow);
    }
    Ok(())
}

/// The rules that depend on the sender's account and the height of the block that would include
/// the transfer: expiry, nonce, funds, in that order.
pub fn check_against(transfer: &Transfer, sender: &Account, height: u64) -> Result<(), RejectReason> {
    if transfer.valid_until != 0 && height > transfer.valid_until {
        return Err(RejectReason::Expired);
    }
    if transfer.nonce != sender.nonce {
        return Err(RejectReason::BadNonce);
    }
    match transfer.amount.checked_add(transfer.fee) {
        Some(cost) if cost <= sender.balance => Ok(()),
        _ => Err(RejectReason::InsufficientFunds),
    }
}

/// Every rule of SPEC §3 in order, for one transfer against one account state, including the
/// signature. Changes nothing.
pub fn check_transfer(
    transfer: &Transfer,
    params: &ChainParams,
    sender: &Account,
    height: u64,
) -> Result<(), RejectReason> {
    check_chain(transfer, params)?;
    crate::crypto::verify_strict(&transfer.from, &transfer.signing_bytes(), transfer.signature())
        .map_err(|_| RejectReason::InvalidSignature)?;
    check_fee(transfer, params)?;
    check_against(transfer, sender, height)
}

/// Where and when a block executes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockContext {
    /// The block's height.
    pub height: u64,
    /// The validator receiving the fees.
    pub proposer: PublicKey,
}

/// The accounts a block changed, with their new state.
#[derive(Clone, Debug, Default)]
pub struct Changes {
    /// `(account, new state)`, one entry per account, in no particular order (the state tree
    /// sorts them its own way, by tree key; a sort by public key as well cost ~2.6 ms a block).
    pub accounts: Vec<(PublicKey, Account)>,
}

/// The result of executing a block against the committed state; nothing is changed until
/// [`Ledger::apply`].
#[derive(Clone)]
pub struct Execution {
    /// The height executed.
    pub height: u64,
    /// Changed accounts.
    pub changes: Changes,
    /// The state tree's update to the state after the block.
    pub tree: TreeUpdate,
    /// Total fees paid to the proposer.
    pub fees: u64,
}

impl Execution {
    /// The state root after the block.
    pub fn state_root(&self) -> Hash {
        self.tree.root()
    }
}

/// Accounts by public key. Keys come from users, so the hasher is seeded per map (no one can
/// choose keys that collide), and fast: a block looks up and writes some 60,000 of them.
type AccountMap = HashMap<PublicKey, Account, foldhash::fast::RandomState>;

/// Account changes made so far inside one block, on top of the committed accounts.
///
/// The proposer's account is kept aside: every transfer credits it a fee, which would otherwise
/// be a map write per transfer, always to the same key.
struct Overlay<'a> {
    committed: &'a AccountMap,
    changed: AccountMap,
    proposer: PublicKey,
    /// The proposer's account, once a transfer has credited it.
    proposer_account: Option<Account>,
}

impl<'a> Overlay<'a> {
    /// No changes yet, room for `capacity` changed accounts besides the proposer's.
    fn new(committed: &'a AccountMap, proposer: PublicKey, capacity: usize) -> Self {
        let changed = AccountMap::with_capacity_and_hasher(capacity, Default::default());
        Overlay { committed, changed, proposer, proposer_account: None }
    }

    /// `key`'s account as the block has left it so far.
    fn get(&self, key: &PublicKey) -> Account {
        if *key == self.proposer {
            if let Some(account) = self.proposer_account {
                return account;
            }
        }
        self.changed.get(key).or_else(|| self.committed.get(key)).copied().unwrap_or_default()
    }

    fn set(&mut self, key: PublicKey, account: Account) {
        if key == self.proposer {
            self.proposer_account = Some(account);
        } else {
            self.changed.insert(key, account);
        }
    }

    /// Checks and applies one transfer; on error nothing changes.
    fn apply(&mut self, transfer: &Transfer, params: &ChainParams, ctx: &BlockContext) -> Result<(), RejectReason> {
        check_chain(transfer, params)?;
        check_fee(transfer, params)?;
        let mut sender = self.get(&transfer.from);
        check_against(transfer, &sender, ctx.height)?;
        // check_against proved amount + fee <= balance, so none of these can overflow or
        // underflow; checked arithmetic keeps that a proof rather than a hope.
        let cost = transfer.amount.checked_add(transfer.fee).ok_or(RejectReason::InsufficientFunds)?;
        sender.balance = sender.balance.checked_sub(cost).ok_or(RejectReason::InsufficientFunds)?;
        sender.nonce = sender.nonce.checked_add(1).ok_or(RejectReason::BadNonce)?;
        self.set(transfer.from, sender);
        let mut recipient = self.get(&transfer.to);
        recipient.balance = recipient.balance.checked_add(transfer.amount).ok_or(RejectReason::InsufficientFunds)?;
        self.set(transfer.to, recipient);
        let mut proposer = self.get(&ctx.proposer);
        proposer.balance = proposer.balance.checked_add(transfer.fee).ok_or(RejectReason::InsufficientFunds)?;
        self.set(ctx.proposer, proposer);
        Ok(())
    }

    /// Every changed account with its new state, in no particular order.
    fn into_changes(self) -> Vec<(PublicKey, Account)> {
        let mut accounts: Vec<(PublicKey, Account)> = self.changed.into_iter().collect();
        accounts.extend(self.proposer_account.map(|account| (self.proposer, account)));
        accounts
    }
}

/// The committed ledger state in memory: every account and the state tree, at one height.
#[derive(Clone)]
pub struct Ledger {
    params: ChainParams,
    accounts: AccountMap,
    tree: StateTree,
    height: u64,
    last_block_hash: Hash,
    last_time_ms: u64,
}

impl Ledger {
    /// State at `height` with `accounts`; `last_block_hash` and `last_time_ms` describe the block
    /// at `height` (for height 0: the genesis hash and genesis time).
    pub fn new(
        params: ChainParams,
        accounts: impl IntoIterator<Item = (PublicKey, Account)>,
        height: u64,
        last_block_hash: Hash,
        last_time_ms: u64,
    ) -> Ledger {
        let accounts: AccountMap = accounts.into_iter().collect();
        let tree = StateTree::from_accounts(accounts.iter().map(|(k, a)| (*k, *a)));
        Ledger { params, accounts, tree, height, last_block_hash, last_time_ms }
    }

    /// The chain parameters.
    pub fn params(&self) -> &ChainParams {
        &self.params
    }

    /// The committed height.
    pub fn height(&self) -> u64 {
        self.height
    }

    /// The hash of the block at the committed height (the genesis hash at height 0).
    pub fn last_block_hash(&self) -> Hash {
        self.last_block_hash
    }

    /// The time of the block at the committed height.
    pub fn last_time_ms(&self) -> u64 {
        self.last_time_ms
    }

    /// The committed state root.
    pub fn state_root(&self) -> Hash {
        self.tree.root()
    }

    /// The committed state tree (for proofs).
    pub fn tree(&self) -> &StateTree {
        &self.tree
    }

    /// An account's committed state.
    pub fn account(&self, key: &PublicKey) -> Account {
        self.accounts.get(key).copied().unwrap_or_default()
    }

    /// Every account, in no particular order.
    pub fn accounts(&self) -> impl Iterator<Item = (&PublicKey, &Account)> {
        self.accounts.iter()
    }

    /// The number of accounts that exist.
    pub fn account_count(&self) -> usize {
        self.accounts.len()
    }

    /// The sum of all balances (u128: it cannot overflow).
    pub fn total_supply(&self) -> u128 {
        self.accounts.values().map(|a| a.balance as u128).sum()
    }

    fn finish(&self, height: u64, overlay: Overlay<'_>, fees: u64) -> Execution {
        let accounts = overlay.into_changes();
        let tree = self.tree.plan(accounts.iter().copied());
        Execution { height, changes: Changes { accounts }, tree, fees }
    }

    /// Executes a block's transfers in order. Any failing transfer rejects the block whole.
    pub fn execute(&self, ctx: &BlockContext, transfers: &[VerifiedTransfer]) -> Result<Execution, BlockError> {
        // Each transfer changes at most its sender, its recipient and the proposer.
        let mut overlay = Overlay::new(&self.accounts, ctx.proposer, 2 * transfers.len());
        let mut fees: u64 = 0;
        for (index, transfer) in transfers.iter().enumerate() {
            overlay.apply(transfer, &self.params, ctx).map_err(|reason| BlockError::InvalidTransfer {
                index,
                hash: transfer.hash(),
                reason,
            })?;
            fees = fees.saturating_add(transfer.fee);
        }
        Ok(self.finish(ctx.height, overlay, fees))
    }

    /// Builds a block's content for a proposer: takes candidates in order, keeps those that
    /// apply cleanly (up to `max_block_txs` and `max_block_bytes`), and reports the others.
    pub fn select(
        &self,
        ctx: &BlockContext,
        candidates: Vec<VerifiedTransfer>,
    ) -> (Vec<VerifiedTransfer>, Vec<(Transfer, RejectReason)>, Execution) {
        let mut overlay = Overlay::new(&self.accounts, ctx.proposer, 0);
        let mut included = Vec::new();
        let mut refused = Vec::new();
        let mut fees: u64 = 0;
        // Room for the header, the parent's certificate (a few KiB) and the transfer count;
        // each transfer adds its length prefix.
        let mut bytes: u64 = BLOCK_OVERHEAD_BYTES;
        for transfer in candidates {
            let size = transfer.encoded_len() as u64 + 2;
            if included.len() as u64 >= self.params.max_block_txs || bytes + size > self.params.max_block_bytes {
                break;
            }
            match overlay.apply(&transfer, &self.params, ctx) {
                Ok(()) => {
                    fees = fees.saturating_add(transfer.fee);
                    bytes += size;
                    included.push(transfer);
                }
                Err(reason) => refused.push((transfer.into_inner(), reason)),
            }
        }
        let execution = self.finish(ctx.height, overlay, fees);
        (included, refused, execution)
    }

    /// Checks that `header` extends this state (chain id, height, parent, time, size limits,
    /// proposer, transfers root), executes `transfers`, and checks the resulting state root.
    /// The block's `last_commit` (checked against the header by [`crate::Block::decode`]) is
    /// the node's to verify: the ledger does not read certificates.
    pub fn validate(&self, header: &Header, transfers: &[VerifiedTransfer]) -> Result<Execution, BlockError> {
        if header.chain_id != self.params.chain_id {
            return Err(BlockError::WrongParent("chain id"));
        }
        if header.height != self.height + 1 {
            return Err(BlockError::WrongParent("height"));
        }
        if header.previous_hash != self.last_block_hash {
            return Err(BlockError::WrongParent("previous hash"));
        }
        if header.time_ms <= self.last_time_ms {
            return Err(BlockError::WrongParent("time must increase"));
        }
        if !self.params.validators.contains(&header.proposer) {
            return Err(BlockError::UnknownProposer);
        }
        if transfers.len() as u64 > self.params.max_block_txs {
            return Err(BlockError::TooManyTransfers { count: transfers.len(), limit: self.params.max_block_txs });
        }
        let size: usize = BLOCK_OVERHEAD_BYTES as usize + transfers.iter().map(|t| t.encoded_len() + 2).sum::<usize>();
        if size as u64 > self.params.max_block_bytes {
            return Err(BlockError::TooLarge { size, limit: self.params.max_block_bytes });
        }
        let hashes: Vec<Hash> = transfers.iter().map(|t| t.hash()).collect();
        if transfers_root(&hashes) != header.transfers_root {
            return Err(BlockError::TransfersRoot);
        }
        let ctx = BlockContext { height: header.height, proposer: header.proposer };
        let execution = self.execute(&ctx, transfers)?;
        if execution.state_root() != header.state_root {
            return Err(BlockError::StateRoot { header: header.state_root, computed: execution.state_root() });
        }
        Ok(execution)
    }

    /// Makes an execution the committed state. Call it after the store has committed the block.
    /// Gives back the accounts it changed, with their new state, for whoever else keeps them.
    pub fn apply(&mut self, execution: Execution, block_hash: Hash, time_ms: u64) -> Changes {
        for (key, account) in &execution.changes.accounts {
            self.accounts.insert(*key, *account);
        }
        self.tree.apply(execution.tree);
        self.height = execution.height;
        self.last_block_hash = block_hash;
        self.last_time_ms = time_ms;
        execution.changes
    }
}
