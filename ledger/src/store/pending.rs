//! The transfer and history index rows of the blocks committed since the last index flush, held
//! in memory.
//!
//! A block of 10,000 transfers brings some 30,000 index rows, each keyed by a hash or a public
//! key: written with the block, they landed at random places in RocksDB's memtable skip lists,
//! the largest single cost of a block commit. Held here instead (each block's rows sorted on
//! their own), they are written every quarter of a million rows ([`IndexFlushPolicy`]) as sorted
//! table files. They are derived
//! from the committed blocks, so a crash loses nothing: opening the store derives them again
//! from the blocks above the flushed height.

use super::keys::{history_key, location_value};
use super::TransferLocation;
use crate::address::PublicKey;
use crate::hash::{sort_by_bytes32, Hash};
use crate::transfer::Transfer;

/// When the pending index rows are due to be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexFlushPolicy {
    /// Rows held in memory before they are due.
    pub rows: usize,
    /// Blocks held in memory before their rows are due whatever their number, so that opening
    /// the store of a quiet chain derives the rows of at most this many blocks again.
    pub blocks: u64,
}

impl Default for IndexFlushPolicy {
    /// 262,144 rows (about 9 MiB; nine blocks of 10,000 transfers) or 1,000 blocks.
    fn default() -> Self {
        IndexFlushPolicy { rows: 1 << 18, blocks: 1_000 }
    }
}

/// A row of the transfers column: `transfer hash → height | index`.
pub(crate) type TransferRow = ([u8; 32], [u8; 12]);

/// The index rows of one block, each list sorted by its key, so that a read finds a key's rows
/// by binary search. Built without any lock held, before the block's commit adds it.
#[derive(Clone)]
pub(crate) struct BlockRows {
    height: u64,
    /// `(transfer hash, index in the block)`, by hash.
    transfers: Vec<(Hash, u32)>,
    /// `(public key, index)` for the sender and the recipient of each transfer (one row when
    /// they are the same), by key and then index.
    history: Vec<(PublicKey, u32)>,
}

impl BlockRows {
    /// The rows of the block at `height` with `transfers`.
    pub fn new(height: u64, transfers: &[Transfer]) -> BlockRows {
        let mut hashes: Vec<(Hash, u32)> =
            transfers.iter().enumerate().map(|(index, transfer)| (transfer.hash(), index as u32)).collect();
        sort_by_bytes32(&mut hashes, |(hash, _)| &hash.0);
        let mut history = Vec::with_capacity(2 * transfers.len());
        for (index, transfer) in transfers.iter().enumerate() {
            history.push((transfer.from, index as u32));
            if transfer.to != transfer.from {
                history.push((transfer.to, index as u32));
            }
        }
        // Stable: each key's rows stay in index order.
        sort_by_bytes32(&mut history, |(key, _)| &key.0);
        BlockRows { height, transfers: hashes, history }
    }

    fn rows(&self) -> usize {
        self.transfers.len() + self.history.len()
    }

    fn location(&self, hash: &Hash) -> Option<TransferLocation> {
        let found = self.transfers.binary_search_by(|(row, _)| row.cmp(hash)).ok()?;
        self.transfers.get(found).map(|&(_, index)| TransferLocation { height: self.height, index })
    }

    /// `key`'s locations in this block, newest (highest index) first.
    fn history(&self, key: &PublicKey) -> impl Iterator<Item = TransferLocation> + '_ {
        let start = self.history.partition_point(|(row, _)| row < key);
        let end = start + self.history[start..].partition_point(|(row, _)| row == key);
        self.history[start..end].iter().rev().map(|&(_, index)| TransferLocation { height: self.height, index })
    }
}

/// The index rows of a run of consecutive blocks.
///
/// Each block's rows are kept apart, sorted on their own: sorting a block's ~30,000 rows costs
/// less than inserting them into maps keyed by hash and public key (which cost ~4 ms a block of
/// 10,000 transfers in cache misses), and the flush sorts them all together in one pass anyway.
/// A read searches each block's rows, newest block first.
#[derive(Clone, Default)]
pub(crate) struct IndexRows {
    /// The last height whose rows are here (0 while empty).
    pub last_height: u64,
    /// The number of blocks added.
    pub blocks: u64,
    /// The rows of each block that had transfers, oldest first.
    runs: Vec<BlockRows>,
    /// The number of rows in `runs`.
    rows: usize,
}

impl IndexRows {
    /// Adds the rows of the block at `height` with `transfers`.
    pub fn add_block(&mut self, height: u64, transfers: &[Transfer]) {
        self.add(BlockRows::new(height, transfers));
    }

    /// Adds a block's rows, made by [`BlockRows::new`]; blocks come in height order.
    pub fn add(&mut self, block: BlockRows) {
        self.last_height = block.height;
        self.blocks += 1;
        if block.rows() > 0 {
            self.rows += block.rows();
            self.runs.push(block);
        }
    }

    /// Adds the rows of `later`, the run of blocks that follows these.
    pub fn append(&mut self, later: IndexRows) {
        if later.blocks == 0 {
            return;
        }
        self.runs.extend(later.runs);
        self.rows += later.rows;
        self.last_height = later.last_height;
        self.blocks += later.blocks;
    }

    /// The rows held.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Where the transfer `hash` is, if its block is here.
    pub fn location(&self, hash: &Hash) -> Option<TransferLocation> {
        self.runs.iter().rev().find_map(|block| block.location(hash))
    }

    /// Appends to `out`, newest first, `key`'s locations strictly below `before` (if given)
    /// until `out` holds `limit`.
    pub fn history(
        &self,
        key: &PublicKey,
        before: Option<TransferLocation>,
        limit: usize,
        out: &mut Vec<TransferLocation>,
    ) {
        let room = limit.saturating_sub(out.len());
        let locations = self.runs.iter().rev().flat_map(|block| block.history(key));
        out.extend(locations.filter(|l| before.is_none_or(|b| *l < b)).take(room));
    }

    /// The rows as the store writes them, each column sorted by key: `transfer hash → location`
    /// and `public key | location` keys.
    pub fn sorted_rows(&self) -> (Vec<TransferRow>, Vec<[u8; 44]>) {
        let mut transfers: Vec<TransferRow> = Vec::with_capacity(self.rows);
        let mut history: Vec<(PublicKey, u64, u32)> = Vec::with_capacity(self.rows);
        for block in &self.runs {
            transfers
                .extend(block.transfers.iter().map(|(hash, index)| (hash.0, location_value(block.height, *index))));
            history.extend(block.history.iter().map(|&(key, index)| (key, block.height, index)));
        }
        sort_by_bytes32(&mut transfers, |row| &row.0);
        // The blocks are in height order and each block's rows of a key in index order, so a
        // stable sort by key leaves each key's rows in location order.
        sort_by_bytes32(&mut history, |(key, _, _)| &key.0);
        let history = history.iter().map(|(key, height, index)| history_key(key, *height, *index)).collect();
        (transfers, history)
    }
}

/// The rows not yet in the store: those being added to, and those being written.
#[derive(Default)]
pub(crate) struct PendingIndex {
    /// When the active rows are due.
    pub policy: IndexFlushPolicy,
    /// The last height whose rows are in the store: rows above it found there (a flush cut
    /// short) are ignored, since these maps hold them.
    pub flushed: u64,
    /// The blocks committed since the last flush began.
    pub active: IndexRows,
    /// The rows a flush is writing, still read from here until it has finished.
    pub writing: Option<std::sync::Arc<IndexRows>>,
}

impl PendingIndex {
    /// An empty index above the flushed height `flushed`.
    pub fn new(policy: IndexFlushPolicy, flushed: u64) -> Self {
        PendingIndex { policy, flushed, ..Default::default() }
    }

    /// Whether the active rows are due to be written.
    pub fn due(&self) -> bool {
        self.due_at(1)
    }

    /// Whether the active rows are twice due: whoever was to write them has not.
    pub fn overdue(&self) -> bool {
        self.due_at(2)
    }

    fn due_at(&self, times: u64) -> bool {
        let policy = &self.policy;
        self.active.blocks > 0
            && (self.active.rows() as u64 >= (policy.rows as u64).saturating_mul(times)
                || self.active.blocks >= policy.blocks.saturating_mul(times))
    }

    /// Where the transfer `hash` is, if its block's rows are here.
    pub fn location(&self, hash: &Hash) -> Option<TransferLocation> {
        self.active.location(hash).or_else(|| self.writing.as_ref().and_then(|rows| rows.location(hash)))
    }

    /// Up to `limit` of `key`'s locations held here, strictly below `before`, newest first.
    pub fn history(&self, key: &PublicKey, before: Option<TransferLocation>, limit: usize) -> Vec<TransferLocation> {
        let mut out = Vec::new();
        self.active.history(key, before, limit, &mut out);
        if let Some(rows) = &self.writing {
            rows.history(key, before, limit, &mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::PublicKey;
    use crate::transfer::Transfer;

    fn transfer(from: u8, to: u8, nonce: u64) -> Transfer {
        let body = crate::transfer::TransferBody {
            chain_id: crate::transfer::ChainId::new("test").unwrap(),
            from: PublicKey([from; 32]),
            to: PublicKey([to; 32]),
            amount: 1,
            fee: 1,
            nonce,
            valid_until: 0,
            memo: vec![],
        };
        // The index reads only the addresses: any key signs.
        body.sign(&ed25519_dalek::SigningKey::from_bytes(&[7; 32])).unwrap()
    }

    fn at(height: u64, index: u32) -> TransferLocation {
        TransferLocation { height, index }
    }

    #[test]
    fn rows_are_found_newest_first_across_the_active_and_the_written_run() {
        let (a, b) = (PublicKey([1; 32]), PublicKey([2; 32]));
        let mut pending = PendingIndex::new(IndexFlushPolicy::default(), 4);
        pending.active.add_block(5, &[transfer(1, 2, 0), transfer(2, 2, 0)]);
        pending.writing = Some(std::sync::Arc::new(std::mem::take(&mut pending.active)));
        pending.active.add_block(6, &[transfer(2, 1, 1)]);
        assert_eq!(pending.history(&a, None, 10), vec![at(6, 0), at(5, 0)]);
        assert_eq!(pending.history(&b, None, 10), vec![at(6, 0), at(5, 1), at(5, 0)], "to oneself: one row");
        assert_eq!(pending.history(&b, Some(at(6, 0)), 10), vec![at(5, 1), at(5, 0)]);
        assert_eq!(pending.history(&b, None, 2), vec![at(6, 0), at(5, 1)]);
        assert_eq!(pending.location(&transfer(1, 2, 0).hash()), Some(at(5, 0)));
        assert_eq!(pending.location(&transfer(2, 1, 1).hash()), Some(at(6, 0)));
        assert_eq!(pending.location(&transfer(9, 9, 9).hash()), None);
    }

    #[test]
    fn sorted_rows_hold_every_row_once_in_key_order() {
        let mut rows = IndexRows::default();
        rows.add_block(1, &[transfer(3, 1, 0), transfer(1, 1, 0)]);
        rows.add_block(2, &[transfer(1, 3, 1)]);
        assert_eq!(rows.rows(), 3 + 5);
        let (transfers, history) = rows.sorted_rows();
        assert_eq!(transfers.len(), 3);
        assert!(transfers.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(
            history.to_vec(),
            vec![
                history_key(&PublicKey([1; 32]), 1, 0),
                history_key(&PublicKey([1; 32]), 1, 1),
                history_key(&PublicKey([1; 32]), 2, 0),
                history_key(&PublicKey([3; 32]), 1, 0),
                history_key(&PublicKey([3; 32]), 2, 0),
            ]
        );
    }

    #[test]
    fn appended_runs_read_and_sort_as_one_run_of_the_same_blocks() {
        let blocks = [
            (1, vec![transfer(1, 2, 0), transfer(3, 1, 0)]),
            (2, vec![transfer(2, 2, 0), transfer(1, 3, 1)]),
            (3, vec![transfer(2, 1, 1), transfer(4, 4, 0)]),
            (4, vec![transfer(1, 2, 2)]),
        ];
        let mut whole = IndexRows::default();
        for (height, transfers) in &blocks {
            whole.add_block(*height, transfers);
        }
        let (mut earlier, mut later) = (IndexRows::default(), IndexRows::default());
        for (height, transfers) in &blocks {
            if *height <= 2 {
                earlier.add_block(*height, transfers)
            } else {
                later.add_block(*height, transfers)
            }
        }
        earlier.append(later);
        assert_eq!((earlier.rows(), earlier.blocks, earlier.last_height), (whole.rows(), 4, 4));
        assert_eq!(earlier.sorted_rows(), whole.sorted_rows());
        for key in 1..=5 {
            let key = PublicKey([key; 32]);
            for before in [None, Some(at(3, 0)), Some(at(2, 1)), Some(at(1, 0))] {
                for limit in [1, 2, 10] {
                    let (mut joined, mut one) = (Vec::new(), Vec::new());
                    earlier.history(&key, before, limit, &mut joined);
                    whole.history(&key, before, limit, &mut one);
                    assert_eq!(joined, one, "{key:?} before {before:?} limit {limit}");
                }
            }
        }
        let mut all = Vec::new();
        earlier.history(&PublicKey([1; 32]), None, 10, &mut all);
        assert_eq!(all, vec![at(4, 0), at(3, 0), at(2, 1), at(1, 1), at(1, 0)]);
    }

    #[test]
    fn a_large_block_keeps_each_keys_rows_in_index_order() {
        // Enough rows for the bucket sort, each key in many of them.
        let transfers: Vec<Transfer> = (0..150).map(|i| transfer((i % 5) as u8, (i % 7) as u8 + 10, i)).collect();
        let mut rows = IndexRows::default();
        rows.add_block(3, &transfers);
        let mut found = Vec::new();
        rows.history(&PublicKey([2; 32]), None, 1000, &mut found);
        let expected: Vec<_> = (0..150u32).rev().filter(|i| i % 5 == 2).map(|i| at(3, i)).collect();
        assert_eq!(found, expected);
        for (index, transfer) in transfers.iter().enumerate() {
            assert_eq!(rows.location(&transfer.hash()), Some(at(3, index as u32)));
        }
        let (_, history) = rows.sorted_rows();
        assert_eq!(history.len(), 300);
        assert!(history.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn a_flush_is_due_by_rows_or_by_blocks_and_overdue_at_twice_that() {
        let mut pending = PendingIndex::new(IndexFlushPolicy { rows: 4, blocks: 3 }, 0);
        assert!(!pending.due());
        pending.active.add_block(1, &[]);
        pending.active.add_block(2, &[]);
        assert!(!pending.due());
        pending.active.add_block(3, &[]);
        assert!(pending.due() && !pending.overdue(), "three blocks");
        pending.active = IndexRows::default();
        pending.active.add_block(4, &[transfer(1, 2, 0)]);
        assert!(!pending.due(), "three rows");
        pending.active.add_block(5, &[transfer(1, 1, 1)]);
        assert!(pending.due() && !pending.overdue(), "five rows");
        pending.active.add_block(6, &[transfer(1, 2, 2), transfer(1, 2, 3)]);
        assert!(pending.overdue(), "eleven rows");
    }
}
