//! The mempool: verified transfers waiting for a block, pure data with no I/O.
//!
//! Transfers are kept per sender in nonce order, within a window of future nonces above the
//! sender's committed nonce. The pool is bounded in count and bytes; when full, a newcomer gets
//! in only by paying a higher fee than the cheapest entry, which is evicted together with its
//! sender's later nonces. After each commit the pool drops what the block included, what it made
//! stale (a committed transfer with the same sender and nonce replaced it) and what expired.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use tally_ledger::{Account, Hash, PublicKey, RejectReason, Transfer, VerifiedTransfer};

/// Mempool limits (`[mempool]` in `config.toml`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MempoolConfig {
    /// The most transfers held.
    pub max_transfers: usize,
    /// The most encoded bytes held.
    pub max_bytes: usize,
    /// How far above a sender's committed nonce a transfer may be: nonces in
    /// `committed .. committed + future_nonces` are accepted.
    pub future_nonces: u64,
    /// Load shedding: once the pool holds this many milliseconds of the chain's recent commit
    /// rate (never less than one full block), client submissions that do not outbid the
    /// cheapest waiting fee are refused as `mempool_full` before any check. 0 turns it off.
    pub max_backlog_ms: u64,
}

impl Default for MempoolConfig {
    fn default() -> Self {
        MempoolConfig { max_transfers: 50_000, max_bytes: 32 << 20, future_nonces: 16, max_backlog_ms: 2_000 }
    }
}

/// What became of an admitted transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Newly added.
    Added,
    /// Already waiting here (same hash); nothing changed.
    AlreadyPending,
    /// Already in a recently committed block (same hash); nothing changed, nothing checked.
    AlreadyCommitted,
}

/// How a transfer left the pool other than by being committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The chain passed its `valid_until`.
    Expired,
    /// Another transfer with the same sender and nonce was committed.
    Replaced {
        /// The committed transfer.
        by: Hash,
    },
    /// Dropped without a final status (evicted for a better fee, replaced in the pool by a
    /// higher fee, or no longer applicable): the sender may send it again.
    Dropped,
}

struct Entry {
    transfer: VerifiedTransfer,
    seq: u64,
    size: usize,
}

struct SenderQueue {
    /// The sender's committed nonce as last seen.
    committed_nonce: u64,
    /// Waiting transfers by nonce.
    by_nonce: BTreeMap<u64, Hash>,
}

/// The pool. See the module docs.
pub struct Mempool {
    config: MempoolConfig,
    entries: HashMap<Hash, Entry>,
    senders: HashMap<PublicKey, SenderQueue>,
    /// Cheapest first; among equal fees the newest first (it is evicted first).
    by_fee: BTreeSet<(u64, Reverse<u64>, Hash)>,
    /// Entries with a `valid_until`, by it.
    by_expiry: BTreeSet<(u64, Hash)>,
    bytes: usize,
    next_seq: u64,
}

impl Mempool {
    /// An empty pool.
    pub fn new(config: MempoolConfig) -> Mempool {
        Mempool {
            config,
            entries: HashMap::new(),
            senders: HashMap::new(),
            by_fee: BTreeSet::new(),
            by_expiry: BTreeSet::new(),
            bytes: 0,
            next_seq: 0,
        }
    }

    /// Transfers held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Encoded bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The lowest fee waiting here.
    pub fn cheapest_fee(&self) -> Option<u64> {
        self.by_fee.first().map(|(fee, _, _)| *fee)
    }

    /// True if `sender` has a transfer waiting here with a nonce above `nonce`.
    pub fn waits_after(&self, sender: &PublicKey, nonce: u64) -> bool {
        self.senders.get(sender).is_some_and(|queue| queue.by_nonce.range(nonce.saturating_add(1)..).next().is_some())
    }

    /// True if the transfer with `hash` is waiting here.
    pub fn contains(&self, hash: &Hash) -> bool {
        self.entries.contains_key(hash)
    }

    /// The waiting transfer with `hash`.
    pub fn get(&self, hash: &Hash) -> Option<&VerifiedTransfer> {
        self.entries.get(hash).map(|e| &e.transfer)
    }

    /// The nonce a sender's next transfer should carry: the committed nonce plus the run of
    /// consecutive nonces waiting here.
    pub fn pending_nonce(&self, sender: &PublicKey, committed_nonce: u64) -> u64 {
        let Some(queue) = self.senders.get(sender) else { return committed_nonce };
        let mut next = committed_nonce.max(queue.committed_nonce);
        while queue.by_nonce.contains_key(&next) {
            next += 1;
        }
        next
    }

    /// Admits a transfer whose chain, signature and fee the caller has checked. `sender` is the
    /// sender's committed account and `next_height` the height of the next block. On error the
    /// pool is unchanged. Returns also what was evicted to make room.
    pub fn insert(
        &mut self,
        transfer: VerifiedTransfer,
        sender: &Account,
        next_height: u64,
    ) -> Result<(Admission, Vec<Hash>), RejectReason> {
        let hash = transfer.hash();
        if self.entries.contains_key(&hash) {
            return Ok((Admission::AlreadyPending, Vec::new()));
        }
        if transfer.valid_until != 0 && transfer.valid_until < next_height {
            return Err(RejectReason::Expired);
        }
        let committed = self.senders.get(&transfer.from).map_or(sender.nonce, |q| q.committed_nonce.max(sender.nonce));
        if transfer.nonce < committed || transfer.nonce - committed >= self.config.future_nonces {
            return Err(RejectReason::BadNonce);
        }
        match transfer.amount.checked_add(transfer.fee) {
            Some(cost) if cost <= sender.balance => {}
            _ => return Err(RejectReason::InsufficientFunds),
        }
        let mut removed = Vec::new();
        // The same sender and nonce already waiting: only a higher fee replaces it.
        let existing = self.senders.get(&transfer.from).and_then(|q| q.by_nonce.get(&transfer.nonce)).copied();
        if let Some(old) = existing {
            let old_fee = self.entries.get(&old).map_or(0, |e| e.transfer.fee);
            if transfer.fee <= old_fee {
                return Err(RejectReason::BadNonce);
            }
        }
        let size = transfer.encoded_len();
        let victims = self.victims_for(size, transfer.fee, existing)?;
        if let Some(old) = existing {
            self.remove(&old);
            removed.push(old);
        }
        for victim in victims {
            removed.extend(self.evict_from(&victim));
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let queue = self
            .senders
            .entry(transfer.from)
            .or_insert_with(|| SenderQueue { committed_nonce: committed, by_nonce: BTreeMap::new() });
        queue.committed_nonce = committed;
        queue.by_nonce.insert(transfer.nonce, hash);
        self.by_fee.insert((transfer.fee, Reverse(seq), hash));
        if transfer.valid_until != 0 {
            self.by_expiry.insert((transfer.valid_until, hash));
        }
        self.bytes += size;
        self.entries.insert(hash, Entry { transfer, seq, size });
        Ok((Admission::Added, removed))
    }

    /// The entries to evict so a transfer of `size` bytes paying `fee` fits, or `mempool_full`.
    /// `replacing` will be removed anyway and frees its room.
    fn victims_for(&self, size: usize, fee: u64, replacing: Option<Hash>) -> Result<Vec<Hash>, RejectReason> {
        let freed = replacing.and_then(|h| self.entries.get(&h)).map_or((0, 0), |e| (1, e.size));
        let mut count = self.entries.len() + 1 - freed.0;
        let mut bytes = self.bytes + size - freed.1;
        let mut victims = Vec::new();
        let mut cheapest = self.by_fee.iter().filter(|(_, _, h)| Some(*h) != replacing);
        while count > self.config.max_transfers || bytes > self.config.max_bytes {
            match cheapest.next() {
                Some((victim_fee, _, victim)) if *victim_fee < fee => {
                    let entry = &self.entries[victim];
                    count -= 1;
                    bytes -= entry.size;
                    victims.push(*victim);
                }
                _ => return Err(RejectReason::MempoolFull),
            }
        }
        Ok(victims)
    }

    fn remove(&mut self, hash: &Hash) -> Option<VerifiedTransfer> {
        let entry = self.entries.remove(hash)?;
        self.bytes -= entry.size;
        self.by_fee.remove(&(entry.transfer.fee, Reverse(entry.seq), *hash));
        if entry.transfer.valid_until != 0 {
            self.by_expiry.remove(&(entry.transfer.valid_until, *hash));
        }
        if let Some(queue) = self.senders.get_mut(&entry.transfer.from) {
            if queue.by_nonce.get(&entry.transfer.nonce) == Some(hash) {
                queue.by_nonce.remove(&entry.transfer.nonce);
            }
            if queue.by_nonce.is_empty() {
                self.senders.remove(&entry.transfer.from);
            }
        }
        Some(entry.transfer)
    }

    /// Evicts `hash` and its sender's later nonces (they could no longer apply).
    fn evict_from(&mut self, hash: &Hash) -> Vec<Hash> {
        self.evict_transfers_from(hash).iter().map(|t| t.hash()).collect()
    }

    /// [`Mempool::evict_from`], giving back the transfers, in nonce order.
    fn evict_transfers_from(&mut self, hash: &Hash) -> Vec<VerifiedTransfer> {
        let Some(entry) = self.entries.get(hash) else { return Vec::new() };
        let (sender, nonce) = (entry.transfer.from, entry.transfer.nonce);
        let later: Vec<Hash> =
            self.senders.get(&sender).map(|q| q.by_nonce.range(nonce..).map(|(_, h)| *h).collect()).unwrap_or_default();
        later.iter().filter_map(|h| self.remove(h)).collect()
    }

    /// Up to `max` transfers ready for the next block: each sender's consecutive run from its
    /// committed nonce, senders in the order their first waiting transfer arrived.
    pub fn reap(&self, max: usize) -> Vec<VerifiedTransfer> {
        let mut runs: Vec<(u64, &SenderQueue)> = self
            .senders
            .values()
            .filter_map(|q| {
                let first = q.by_nonce.get(&q.committed_nonce)?;
                Some((self.entries.get(first)?.seq, q))
            })
            .collect();
        runs.sort_unstable_by_key(|(seq, _)| *seq);
        let mut out = Vec::with_capacity(max.min(self.entries.len()));
        for (_, queue) in runs {
            let mut nonce = queue.committed_nonce;
            while let Some(hash) = queue.by_nonce.get(&nonce) {
                if out.len() >= max {
                    return out;
                }
                if let Some(entry) = self.entries.get(hash) {
                    out.push(entry.transfer.clone());
                }
                nonce += 1;
            }
        }
        out
    }

    /// Removes transfers a proposer found no longer applicable; they get no final status.
    pub fn drop_transfers(&mut self, hashes: impl IntoIterator<Item = Hash>) -> Vec<Hash> {
        hashes.into_iter().flat_map(|h| self.evict_from(&h)).collect()
    }

    /// Updates the pool after a block at `height` committed `transfers`. Returns what left the
    /// pool other than by being committed, with why.
    pub fn on_commit(&mut self, height: u64, transfers: &[Transfer]) -> Vec<(VerifiedTransfer, Outcome)> {
        let mut outcomes = Vec::new();
        let mut committed_by_slot: HashMap<(PublicKey, u64), Hash> = HashMap::new();
        for transfer in transfers {
            self.remove(&transfer.hash());
            committed_by_slot.insert((transfer.from, transfer.nonce), transfer.hash());
            if let Some(queue) = self.senders.get_mut(&transfer.from) {
                queue.committed_nonce = queue.committed_nonce.max(transfer.nonce + 1);
            }
        }
        let touched: Vec<PublicKey> = committed_by_slot.keys().map(|(sender, _)| *sender).collect();
        for sender in touched {
            let stale: Vec<(u64, Hash)> = match self.senders.get(&sender) {
                Some(q) => q.by_nonce.range(..q.committed_nonce).map(|(n, h)| (*n, *h)).collect(),
                None => continue,
            };
            for (nonce, hash) in stale {
                let Some(transfer) = self.remove(&hash) else { continue };
                let outcome = match committed_by_slot.get(&(sender, nonce)) {
                    Some(by) => Outcome::Replaced { by: *by },
                    None => Outcome::Dropped,
                };
                outcomes.push((transfer, outcome));
            }
        }
        // Anything whose valid_until is below the next height can never be included.
        let expired: Vec<Hash> = self.by_expiry.range(..(height + 1, Hash::ZERO)).map(|(_, h)| *h).collect();
        for hash in expired {
            for transfer in self.evict_transfers_from(&hash) {
                let outcome = if transfer.hash() == hash { Outcome::Expired } else { Outcome::Dropped };
                outcomes.push((transfer, outcome));
            }
        }
        outcomes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use tally_ledger::crypto::verify_transfer;
    use tally_ledger::{ChainId, TransferBody};

    fn key(i: u8) -> SigningKey {
        SigningKey::from_bytes(&[i + 1; 32])
    }

    fn tx(sender: u8, nonce: u64, fee: u64, valid_until: u64) -> VerifiedTransfer {
        let k = key(sender);
        let body = TransferBody {
            chain_id: ChainId::new("t-devnet").unwrap(),
            from: PublicKey::from(&k.verifying_key()),
            to: PublicKey([9; 32]),
            amount: 10,
            fee,
            nonce,
            valid_until,
            memo: vec![],
        };
        verify_transfer(body.sign(&k).unwrap()).unwrap()
    }

    fn rich(nonce: u64) -> Account {
        Account { balance: 1_000_000, nonce }
    }

    fn pool(max: usize) -> Mempool {
        Mempool::new(MempoolConfig { max_transfers: max, ..MempoolConfig::default() })
    }

    #[test]
    fn nonce_window_and_pending_nonce() {
        let mut p = pool(100);
        let sender = tx(0, 0, 1, 0).from;
        assert_eq!(p.insert(tx(0, 0, 1, 0), &rich(0), 1).unwrap().0, Admission::Added);
        assert_eq!(p.insert(tx(0, 0, 1, 0), &rich(0), 1).unwrap().0, Admission::AlreadyPending);
        p.insert(tx(0, 1, 1, 0), &rich(0), 1).unwrap();
        p.insert(tx(0, 3, 1, 0), &rich(0), 1).unwrap();
        assert_eq!(p.pending_nonce(&sender, 0), 2);
        assert_eq!(p.insert(tx(0, 16, 1, 0), &rich(0), 1), Err(RejectReason::BadNonce));
        assert_eq!(p.insert(tx(1, 0, 1, 0), &rich(1), 1), Err(RejectReason::BadNonce));
        assert_eq!(
            p.insert(tx(2, 0, 1, 0), &Account { balance: 10, nonce: 0 }, 1),
            Err(RejectReason::InsufficientFunds)
        );
        assert_eq!(p.insert(tx(3, 0, 1, 4), &rich(0), 5), Err(RejectReason::Expired));
        // Reaping stops at the gap at nonce 2.
        let reaped: Vec<u64> = p.reap(10).iter().map(|t| t.nonce).collect();
        assert_eq!(reaped, vec![0, 1]);
    }

    #[test]
    fn full_pool_admits_only_a_higher_fee_and_evicts_the_cheapest_with_its_later_nonces() {
        let mut p = pool(3);
        p.insert(tx(0, 0, 5, 0), &rich(0), 1).unwrap();
        p.insert(tx(1, 0, 2, 0), &rich(0), 1).unwrap();
        p.insert(tx(1, 1, 9, 0), &rich(0), 1).unwrap();
        assert_eq!(p.insert(tx(2, 0, 2, 0), &rich(0), 1), Err(RejectReason::MempoolFull));
        assert_eq!(p.len(), 3);
        let (_, evicted) = p.insert(tx(2, 0, 3, 0), &rich(0), 1).unwrap();
        // The cheapest (sender 1, nonce 0) goes, and its nonce 1 with it.
        assert_eq!(evicted, vec![tx(1, 0, 2, 0).hash(), tx(1, 1, 9, 0).hash()]);
        assert_eq!(p.len(), 2);
        assert!(p.contains(&tx(2, 0, 3, 0).hash()));
    }

    #[test]
    fn same_nonce_needs_a_higher_fee() {
        let mut p = pool(10);
        p.insert(tx(0, 0, 5, 0), &rich(0), 1).unwrap();
        assert_eq!(p.insert(tx(0, 0, 5, 7), &rich(0), 1), Err(RejectReason::BadNonce));
        let (_, removed) = p.insert(tx(0, 0, 6, 0), &rich(0), 1).unwrap();
        assert_eq!(removed, vec![tx(0, 0, 5, 0).hash()]);
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn commit_removes_included_replaced_and_expired() {
        let mut p = pool(10);
        let a = tx(0, 0, 1, 0);
        let a_rival = tx(0, 0, 2, 3); // same slot, different transfer
        p.insert(a_rival.clone(), &rich(0), 1).unwrap();
        p.insert(tx(0, 1, 1, 0), &rich(0), 1).unwrap();
        let expiring = tx(1, 0, 1, 2);
        p.insert(expiring.clone(), &rich(0), 1).unwrap();
        let outcomes: Vec<(Hash, Outcome)> =
            p.on_commit(2, &[a.transfer().clone()]).into_iter().map(|(t, o)| (t.hash(), o)).collect();
        assert!(outcomes.contains(&(a_rival.hash(), Outcome::Replaced { by: a.hash() })));
        assert!(outcomes.contains(&(expiring.hash(), Outcome::Expired)));
        assert_eq!(p.len(), 1);
        let sender = a.from;
        assert_eq!(p.pending_nonce(&sender, 1), 2);
        assert_eq!(p.reap(10).len(), 1);
        assert_eq!(p.bytes(), tx(0, 1, 1, 0).encoded_len());
    }
}
