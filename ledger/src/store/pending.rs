//! The transfer and history index rows of the blocks committed since the last index flush, held
//! in memory.
//!
//! A block of 10,000 transfers brings some 30,000 index rows, each keyed by a hash or a public
//! key: written with the block, they landed at random places in RocksDB's memtable skip lists,
//! the largest single cost of a block commit. Held here instead (hash-map inserts), they are
//! written every quarter of a million rows ([`IndexFlushPolicy`]) as sorted table files. They are derived
//! from the committed blocks, so a crash loses nothing: opening the store derives them again
//! from the blocks above the flushed height.

use super::keys::{history_key, location_value};
use super::TransferLocation;
use crate::address::PublicKey;
use crate::hash::{sort_by_bytes32, Hash};
use crate::transfer::Transfer;
use std::collections::HashMap;

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
    /// 262,144 rows (about 18 MiB of maps and rows; nine blocks of 10,000 transfers) or 1,000 blocks.
    fn default() -> Self {
        IndexFlushPolicy { rows: 1 << 18, blocks: 1_000 }
    }
}

type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A row of the transfers column: `transfer hash → height | index`.
pub(crate) type TransferRow = ([u8; 32], [u8; 12]);

/// The index rows of a run of consecutive blocks.
#[derive(Clone, Default)]
pub(crate) struct IndexRows {
    /// The last height whose rows are here (0 while empty).
    pub last_height: u64,
    /// The number of blocks added.
    pub blocks: u64,
    transfers: Map<Hash, TransferLocation>,
    /// Each key's newest row in `history`.
    newest: Map<PublicKey, usize>,
    /// Every history row, in the order added; each links to the previous row of its key.
    ///
    /// One array rather than a list per key: a block touches some 20,000 keys, most of them
    /// once, and a list each meant as many allocations to make and, at every flush, to free.
    history: Vec<HistoryRow>,
}

/// A history row held in memory: a location, and the previous row of the same key.
#[derive(Clone, Copy)]
struct HistoryRow {
    height: u64,
    index: u32,
    /// The position in [`IndexRows::history`] of the key's previous row; [`NO_ROW`] for its first.
    previous: usize,
}

/// The end of a key's chain of rows.
const NO_ROW: usize = usize::MAX;

impl HistoryRow {
    fn location(&self) -> TransferLocation {
        TransferLocation { height: self.height, index: self.index }
    }
}

impl IndexRows {
    /// Adds the rows of the block at `height` with `transfers`.
    pub fn add_block(&mut self, height: u64, transfers: &[Transfer]) {
        self.transfers.reserve(transfers.len());
        self.history.reserve(2 * transfers.len());
        for (index, transfer) in transfers.iter().enumerate() {
            let index = index as u32;
            self.transfers.insert(transfer.hash(), TransferLocation { height, index });
            self.push_history(transfer.from, height, index);
            if transfer.to != transfer.from {
                self.push_history(transfer.to, height, index);
            }
        }
        self.last_height = height;
        self.blocks += 1;
    }

    fn push_history(&mut self, key: PublicKey, height: u64, index: u32) {
        let position = self.history.len();
        let previous = self.newest.insert(key, position).unwrap_or(NO_ROW);
        self.history.push(HistoryRow { height, index, previous });
    }

    /// `key`'s rows, newest first, from the row at `position`.
    fn chain(&self, position: Option<usize>) -> impl Iterator<Item = &HistoryRow> + '_ {
        let row = |position: usize| if position == NO_ROW { None } else { self.history.get(position) };
        std::iter::successors(position.and_then(row), move |current| row(current.previous))
    }

    /// Adds the rows of `later`, the run of blocks that follows these.
    pub fn append(&mut self, later: IndexRows) {
        if later.blocks == 0 {
            return;
        }
        self.transfers.extend(later.transfers);
        let offset = self.history.len();
        let moved = |previous: usize| if previous == NO_ROW { NO_ROW } else { previous + offset };
        self.history.extend(later.history.iter().map(|row| HistoryRow { previous: moved(row.previous), ..*row }));
        for (key, newest) in later.newest {
            let Some(ours) = self.newest.insert(key, newest + offset) else { continue };
            // The key's first row in `later` now continues its chain here.
            let mut first = newest + offset;
            while let Some(previous) = self.history.get(first).map(|row| row.previous).filter(|&p| p != NO_ROW) {
                first = previous;
            }
            if let Some(row) = self.history.get_mut(first) {
                row.previous = ours;
            }
        }
        self.last_height = later.last_height;
        self.blocks += later.blocks;
    }

    /// The rows held.
    pub fn rows(&self) -> usize {
        self.transfers.len() + self.history.len()
    }

    /// Where the transfer `hash` is, if its block is here.
    pub fn location(&self, hash: &Hash) -> Option<TransferLocation> {
        self.transfers.get(hash).copied()
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
        let locations = self.chain(self.newest.get(key).copied()).map(HistoryRow::location);
        out.extend(locations.filter(|l| before.is_none_or(|b| *l < b)).take(room));
    }

    /// The rows as the store writes them, each column sorted by key: `transfer hash → location`
    /// and `public key | location` keys.
    pub fn sorted_rows(&self) -> (Vec<TransferRow>, Vec<[u8; 44]>) {
        let mut transfers: Vec<TransferRow> =
            self.transfers.iter().map(|(hash, l)| (hash.0, location_value(l.height, l.index))).collect();
        sort_by_bytes32(&mut transfers, |row| &row.0);
        // Each key's chain is in order already (newest first): only the keys are sorted.
        let mut keys: Vec<(PublicKey, usize)> = self.newest.iter().map(|(key, &newest)| (*key, newest)).collect();
        sort_by_bytes32(&mut keys, |(key, _)| &key.0);
        let mut history = Vec::with_capacity(self.history.len());
        for (key, newest) in keys {
            let start = history.len();
            history.extend(self.chain(Some(newest)).map(|row| history_key(&key, row.height, row.index)));
            history[start..].reverse();
        }
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
