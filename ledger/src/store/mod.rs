//! The ledger's durable store: blocks, certificates, transfer and history indexes, and
//! snapshots of the accounts.
//!
//! [`Store`] holds the logic (key layouts, what a block commit writes, paged history) once, over
//! a [`Backend`]: [`RocksBackend`] in a node, [`MemoryBackend`] in tests. A block commit is one
//! atomic, synced write: after a crash the store is at height h or h+1, never between.
//!
//! A block commit does not write the accounts it changed: the blocks are the log of every
//! change, and the accounts are stored as snapshots taken now and then ([`SnapshotPolicy`],
//! [`Store::write_snapshot`]). Opening replays the blocks committed after the current snapshot
//! onto it ([`Store::load_ledger`]); the committed accounts live in memory (in a node, the
//! driver's ledger and the mempool's copy, which serves reads). The state tree is not stored
//! either: it is derived at open, and the `state_roots` column records each height's root so
//! what is rebuilt is checked against what was committed. The transfer and history indexes are
//! not written with each block either: the rows of recent blocks are held in memory and written
//! as one sorted run every quarter of a million rows (`pending`), and derived again from the
//! blocks when the store opens. `docs/BENCHMARKS.md` says what each choice costs and saves.

mod keys;
mod memory;
mod pending;
mod rocks;

pub use keys::{Column, HistoryCursor, SnapshotMeta, SNAPSHOT_CHUNK_ACCOUNTS};
pub use memory::MemoryBackend;
pub use pending::IndexFlushPolicy;
pub use rocks::RocksBackend;

use crate::address::PublicKey;
use crate::block::Block;
use crate::genesis::Genesis;
use crate::hash::Hash;
use crate::state::{Account, Ledger};
use crate::transfer::{Transfer, VerifiedTransfer};
use keys::{height_key, history_key, meta, snapshot_key, SNAPSHOT_ENTRY_BYTES};
use pending::{BlockRows, IndexRows, PendingIndex};
use std::sync::{Arc, Mutex, MutexGuard};

/// The on-disk format this code writes; a store with another is refused. Version 2: the
/// 16-way state tree (its roots are in every stored header). Version 3: history rows carry no
/// value (their key's location names the transfer). Version 4: accounts are kept as snapshots
/// instead of rows rewritten by every block. Version 5: the transfer and history rows of the
/// blocks above `meta.indexed_height` are not written yet (a version 4 store, every row
/// written, is upgraded in place when opened).
pub const FORMAT_VERSION: u32 = 5;
/// The format upgraded in place by recording its committed height as indexed.
const FORMAT_FULLY_INDEXED: u32 = 4;

/// When account snapshots are taken. A snapshot costs in proportion to the accounts, and
/// replaying the blocks after it at start-up in proportion to their transfers, so one is due
/// once as many transfers as there are accounts have committed since the last (at least
/// `min_transfers`): snapshots then cost about one account written per transfer, and start-up
/// replays at most that many transfers. After `max_blocks` blocks one is due anyway, so that
/// start-up never walks more blocks than that.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotPolicy {
    /// Transfers since the last snapshot below which none is due, whatever the accounts.
    pub min_transfers: u64,
    /// Blocks since the last snapshot after which one is due even without transfers.
    pub max_blocks: u64,
}

impl Default for SnapshotPolicy {
    fn default() -> Self {
        SnapshotPolicy { min_transfers: 100_000, max_blocks: 10_000 }
    }
}

impl SnapshotPolicy {
    /// The transfers between two snapshots of `accounts` accounts under load.
    pub fn interval(&self, accounts: u64) -> u64 {
        accounts.max(self.min_transfers)
    }

    /// Whether a snapshot of `accounts` accounts is due, `transfers` transfers and `blocks`
    /// blocks after the last one.
    pub fn due(&self, transfers: u64, blocks: u64, accounts: u64) -> bool {
        transfers >= self.interval(accounts) || blocks >= self.max_blocks
    }
}

/// A storage failure. A node stops cleanly on any of these.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The underlying database failed.
    #[error("database error: {0}")]
    Database(String),
    /// The database holds another chain.
    #[error("this data directory belongs to another chain (genesis {found}, expected {expected}): use another --home or reset it")]
    ForeignDatabase {
        /// The genesis hash in the store.
        found: Hash,
        /// The genesis hash of the node's genesis file.
        expected: Hash,
    },
    /// Stored bytes do not decode or contradict each other.
    #[error("corrupt store: {0}")]
    Corrupt(String),
    /// The store was written by another format version.
    #[error("store format version {found} is not supported (this build reads {FORMAT_VERSION})")]
    UnsupportedFormat {
        /// The version found.
        found: u32,
    },
    /// A snapshot of a height that is not committed, or older than the current snapshot.
    #[error("a snapshot of height {got} is outside the committed range {snapshot}..={stored}")]
    SnapshotHeight {
        /// The height offered.
        got: u64,
        /// The current snapshot's height.
        snapshot: u64,
        /// The committed height.
        stored: u64,
    },
    /// A commit that does not extend the stored chain.
    #[error("commit of height {got} does not follow stored height {stored}")]
    OutOfOrder {
        /// The stored height.
        stored: u64,
        /// The height offered.
        got: u64,
    },
}

/// One write of a batch, borrowing its bytes from the caller (a block commit writes some 50,000
/// rows; they are not copied until the backend's own batch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Put<'a> {
    /// The column.
    pub column: Column,
    /// The key.
    pub key: &'a [u8],
    /// The value.
    pub value: &'a [u8],
}

/// Rows of a scan: `(key, value)`.
pub type Rows = Vec<(Vec<u8>, Vec<u8>)>;

/// A key-value database with columns, atomic synced batches and ordered scans.
pub trait Backend: Send + Sync {
    /// The value under `key`.
    fn get(&self, column: Column, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Writes every put atomically and durably (fsync) before returning; where a key is put
    /// twice, the later put wins.
    fn write(&self, puts: &[Put<'_>]) -> Result<(), StoreError>;
    /// Writes every put without the write-ahead log and flushes the columns written to disk
    /// before returning: cheaper than [`Backend::write`] for bulk rows, but not atomic, since a
    /// crash before it returns may keep any part of it. Callers write only rows that nothing
    /// reads until a later [`Backend::write`] names them.
    fn write_unlogged(&self, puts: &[Put<'_>]) -> Result<(), StoreError>;
    /// Adds `rows` of `column`, sorted by key and each key once, straight to the column's table
    /// files (no write-ahead log, no memtable), durable when it returns; not atomic with any
    /// other write. A later row under a key already stored wins.
    fn ingest(&self, column: Column, rows: &[(&[u8], &[u8])]) -> Result<(), StoreError>;
    /// Up to `limit` entries whose key starts with `prefix` and is below `before`, newest
    /// (largest key) first.
    fn scan_back(&self, column: Column, prefix: &[u8], before: &[u8], limit: usize) -> Result<Rows, StoreError>;
}

/// The blocks [`Store::load_ledger`] executed again on top of the snapshot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Replayed {
    /// Blocks.
    pub blocks: u64,
    /// Their transfers.
    pub transfers: u64,
}

/// Where a committed transfer sits; locations order as the chain does (height, then index).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TransferLocation {
    /// The block height.
    pub height: u64,
    /// The position in the block.
    pub index: u32,
}

/// A committed block with the certificate that made it final.
#[derive(Clone, Debug)]
pub struct StoredBlock {
    /// The block.
    pub block: Block,
    /// The canonical encoding of its commit certificate (owned by `tally-consensus`).
    pub certificate: Vec<u8>,
}

/// What a block commit writes (the accounts it changed are the block's own consequence: they
/// reach the store with the next snapshot).
pub struct BlockCommit<'a> {
    /// The block.
    pub block: &'a Block,
    /// Its commit certificate, canonically encoded.
    pub certificate: &'a [u8],
}

/// One page of an address's history, newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryPage {
    /// `(location, transfer)`, newest first.
    pub entries: Vec<(TransferLocation, Transfer)>,
    /// The cursor for the next (older) page, if there may be one.
    pub next: Option<HistoryCursor>,
}

/// The ledger store over a backend.
pub struct Store<B: Backend> {
    backend: B,
    genesis_hash: Hash,
    max_block_bytes: usize,
    /// The index rows not yet written, read before the backend's.
    pending: Mutex<PendingIndex>,
}

fn corrupt(what: impl Into<String>) -> StoreError {
    StoreError::Corrupt(what.into())
}

fn u64_value(bytes: &[u8], what: &str) -> Result<u64, StoreError> {
    let array: [u8; 8] = bytes.try_into().map_err(|_| corrupt(format!("{what}: not 8 bytes")))?;
    Ok(u64::from_be_bytes(array))
}

impl<B: Backend> Store<B> {
    /// Opens the store for `genesis`: initialises an empty backend with the genesis state, and
    /// refuses one that holds another chain or another format.
    pub fn open(backend: B, genesis: &Genesis) -> Result<Store<B>, StoreError> {
        let store = Store {
            backend,
            genesis_hash: genesis.hash,
            max_block_bytes: genesis.params.max_block_bytes as usize,
            pending: Mutex::new(PendingIndex::default()),
        };
        match store.backend.get(Column::Meta, meta::GENESIS_HASH)? {
            Some(found) => {
                let found = Hash(found.as_slice().try_into().map_err(|_| corrupt("meta genesis hash"))?);
                if found != genesis.hash {
                    return Err(StoreError::ForeignDatabase { found, expected: genesis.hash });
                }
                let version =
                    store.backend.get(Column::Meta, meta::FORMAT)?.ok_or_else(|| corrupt("meta format missing"))?;
                let version = u32::from_be_bytes(version.as_slice().try_into().map_err(|_| corrupt("meta format"))?);
                match version {
                    FORMAT_VERSION => {}
                    FORMAT_FULLY_INDEXED => store.upgrade_fully_indexed()?,
                    found => return Err(StoreError::UnsupportedFormat { found }),
                }
                store.derive_pending_index()?;
            }
            None => store.init(genesis)?,
        }
        Ok(store)
    }

    /// Sets when the pending index rows are due to be written (by default a quarter of a
    /// million rows or 1,000 blocks).
    pub fn with_index_flush(self, policy: IndexFlushPolicy) -> Result<Store<B>, StoreError> {
        self.lock_pending()?.policy = policy;
        Ok(self)
    }

    /// Upgrades a store of format 4, whose every block's index rows are written.
    fn upgrade_fully_indexed(&self) -> Result<(), StoreError> {
        let height = height_key(self.height()?);
        let format = FORMAT_VERSION.to_be_bytes();
        self.backend.write(&[
            Put { column: Column::Meta, key: meta::INDEXED, value: &height },
            Put { column: Column::Meta, key: meta::FORMAT, value: &format },
        ])
    }

    /// Derives the index rows of the blocks committed above the indexed height again.
    fn derive_pending_index(&self) -> Result<(), StoreError> {
        let height = self.height()?;
        let indexed = self.indexed_height()?;
        if indexed > height {
            return Err(corrupt(format!("indexed height {indexed} is above the committed {height}")));
        }
        let mut pending = PendingIndex::new(self.lock_pending()?.policy, indexed);
        for h in indexed + 1..=height {
            let stored = self.block(h)?.ok_or_else(|| corrupt(format!("block {h} missing")))?;
            pending.active.add_block(h, &stored.block.transfers);
        }
        *self.lock_pending()? = pending;
        Ok(())
    }

    /// The last height whose index rows are written.
    fn indexed_height(&self) -> Result<u64, StoreError> {
        let bytes = self.backend.get(Column::Meta, meta::INDEXED)?.ok_or_else(|| corrupt("meta indexed missing"))?;
        u64_value(&bytes, "meta indexed height")
    }

    fn lock_pending(&self) -> Result<MutexGuard<'_, PendingIndex>, StoreError> {
        self.pending.lock().map_err(|_| StoreError::Database("the pending index's lock is poisoned".into()))
    }

    fn init(&self, genesis: &Genesis) -> Result<(), StoreError> {
        let state_root = genesis.initial_ledger().state_root();
        let format = FORMAT_VERSION.to_be_bytes();
        let height = height_key(0);
        let accounts: Vec<(PublicKey, Account)> =
            genesis.accounts.iter().map(|(key, balance)| (*key, Account { balance: *balance, nonce: 0 })).collect();
        let (snapshot, rows) = snapshot_rows(0, 0, &accounts);
        let snapshot = snapshot.encode();
        let mut puts = vec![
            Put { column: Column::Meta, key: meta::FORMAT, value: &format },
            Put { column: Column::Meta, key: meta::CHAIN_ID, value: genesis.params.chain_id.as_str().as_bytes() },
            Put { column: Column::Meta, key: meta::HEIGHT, value: &height },
            Put { column: Column::Meta, key: meta::INDEXED, value: &height },
            Put { column: Column::Meta, key: meta::SNAPSHOT, value: &snapshot },
            Put { column: Column::StateRoots, key: &height, value: &state_root.0 },
        ];
        puts.extend(rows.iter().map(|(key, value)| Put { column: Column::Snapshots, key, value }));
        // The genesis hash goes last in the same batch: its presence marks a finished init.
        puts.push(Put { column: Column::Meta, key: meta::GENESIS_HASH, value: &genesis.hash.0 });
        self.backend.write(&puts)
    }

    /// The backend (for tests and tools).
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The genesis hash this store belongs to.
    pub fn genesis_hash(&self) -> Hash {
        self.genesis_hash
    }

    /// The last committed height (0 = genesis only).
    pub fn height(&self) -> Result<u64, StoreError> {
        let bytes = self.backend.get(Column::Meta, meta::HEIGHT)?.ok_or_else(|| corrupt("meta height missing"))?;
        u64_value(&bytes, "meta height")
    }

    /// Commits a block and its certificate in one atomic, synced write. Its transfer and
    /// history rows join the pending index, written with those of later blocks once enough
    /// have gathered ([`Store::index_flush_due`], [`Store::flush_index`]).
    pub fn commit(&self, commit: &BlockCommit<'_>) -> Result<(), StoreError> {
        let header = &commit.block.header;
        let stored = self.height()?;
        if header.height != stored + 1 {
            return Err(StoreError::OutOfOrder { stored, got: header.height });
        }
        let height = height_key(header.height);
        let block_bytes = commit.block.encode();
        let block_hash = commit.block.hash();
        self.backend.write(&[
            Put { column: Column::Blocks, key: &height, value: &block_bytes },
            Put { column: Column::Certificates, key: &height, value: commit.certificate },
            Put { column: Column::BlockIndex, key: &block_hash.0, value: &height },
            Put { column: Column::StateRoots, key: &height, value: &header.state_root.0 },
            Put { column: Column::Meta, key: meta::HEIGHT, value: &height },
        ])?;
        // Sorted before the lock is taken: readers and a flush's bookkeeping need not wait.
        let rows = BlockRows::new(header.height, &commit.block.transfers);
        let overdue = {
            let mut pending = self.lock_pending()?;
            pending.active.add(rows);
            pending.overdue() && pending.writing.is_none()
        };
        // A flush is due well before this: the caller's (a node's writer thread, a loop
        // calling `flush_index` when `index_flush_due`) is missing or behind.
        if overdue {
            self.flush_index()?;
        }
        Ok(())
    }

    /// Whether the pending index rows are due to be written ([`Store::flush_index`]) and no
    /// flush is under way. A commit writes them itself once twice as many have gathered.
    pub fn index_flush_due(&self) -> bool {
        self.pending.lock().map(|pending| pending.due() && pending.writing.is_none()).unwrap_or(false)
    }

    /// Writes the pending index rows to the backend as sorted runs, past the write-ahead log
    /// and flushed to disk, then records their last height as indexed in one synced write.
    /// Reads find the rows in memory until then; a crash before it leaves them to be derived
    /// again when the store opens. Block commits may go on meanwhile, from another thread; a
    /// second flush started during one returns at once.
    pub fn flush_index(&self) -> Result<(), StoreError> {
        let rows = {
            let mut pending = self.lock_pending()?;
            if pending.active.blocks == 0 || pending.writing.is_some() {
                return Ok(());
            }
            let rows = Arc::new(std::mem::take(&mut pending.active));
            pending.writing = Some(Arc::clone(&rows));
            rows
        };
        let written = self.write_index_rows(&rows);
        let mut pending = self.lock_pending()?;
        match written {
            Ok(()) => {
                pending.flushed = rows.last_height;
                pending.writing = None;
                Ok(())
            }
            Err(e) => {
                // The rows stay in memory, merged back under the blocks committed meanwhile.
                pending.writing = None;
                let mut merged = Arc::try_unwrap(rows).unwrap_or_else(|shared| IndexRows::clone(&shared));
                merged.append(std::mem::take(&mut pending.active));
                pending.active = merged;
                Err(e)
            }
        }
    }

    fn write_index_rows(&self, rows: &IndexRows) -> Result<(), StoreError> {
        let (transfers, history) = rows.sorted_rows();
        let transfers: Vec<(&[u8], &[u8])> = transfers.iter().map(|(key, value)| (&key[..], &value[..])).collect();
        self.backend.ingest(Column::Transfers, &transfers)?;
        let history: Vec<(&[u8], &[u8])> = history.iter().map(|key| (&key[..], &[][..])).collect();
        self.backend.ingest(Column::History, &history)?;
        let indexed = height_key(rows.last_height);
        self.backend.write(&[Put { column: Column::Meta, key: meta::INDEXED, value: &indexed }])
    }

    /// The committed block and certificate at `height`.
    pub fn block(&self, height: u64) -> Result<Option<StoredBlock>, StoreError> {
        let key = height_key(height);
        let Some(bytes) = self.backend.get(Column::Blocks, &key)? else { return Ok(None) };
        let block = Block::decode(&bytes, self.max_block_bytes).map_err(|e| corrupt(format!("block {height}: {e}")))?;
        let certificate = self
            .backend
            .get(Column::Certificates, &key)?
            .ok_or_else(|| corrupt(format!("certificate {height} missing")))?;
        Ok(Some(StoredBlock { block, certificate }))
    }

    /// The height of the committed block with `hash`.
    pub fn block_height(&self, hash: &Hash) -> Result<Option<u64>, StoreError> {
        self.backend.get(Column::BlockIndex, &hash.0)?.map(|v| u64_value(&v, "block index")).transpose()
    }

    /// The state root committed at `height`.
    pub fn state_root(&self, height: u64) -> Result<Option<Hash>, StoreError> {
        match self.backend.get(Column::StateRoots, &height_key(height))? {
            None => Ok(None),
            Some(v) => Ok(Some(Hash(v.as_slice().try_into().map_err(|_| corrupt("state root"))?))),
        }
    }

    /// Where a committed transfer is.
    pub fn transfer_location(&self, hash: &Hash) -> Result<Option<TransferLocation>, StoreError> {
        if let Some(location) = self.lock_pending()?.location(hash) {
            return Ok(Some(location));
        }
        self.backend.get(Column::Transfers, &hash.0)?.map(|v| keys::parse_location(&v)).transpose()
    }

    /// A committed transfer and where it is.
    pub fn committed_transfer(&self, hash: &Hash) -> Result<Option<(TransferLocation, Transfer)>, StoreError> {
        let Some(location) = self.transfer_location(hash)? else { return Ok(None) };
        Ok(Some((location, self.transfer_at(hash, location)?)))
    }

    /// The committed transfer `hash` at `location`, decoding only that transfer of its block:
    /// a block of 10,000 transfers takes milliseconds to decode whole, one transfer
    /// microseconds. A transfer that is not there, or is another, is corruption.
    pub fn transfer_at(&self, hash: &Hash, location: TransferLocation) -> Result<Transfer, StoreError> {
        let transfer =
            self.transfers_at(&[location])?.pop().ok_or_else(|| corrupt(format!("transfer {hash} missing")))?;
        if transfer.hash() != *hash {
            return Err(corrupt(format!("block {} transfer {} is not {hash}", location.height, location.index)));
        }
        Ok(transfer)
    }

    /// The committed transfer at each location, in order, reading each block once for a run of
    /// locations in the same block (a history page's come newest first, so grouped). A location
    /// that holds no transfer is corruption.
    pub fn transfers_at(&self, locations: &[TransferLocation]) -> Result<Vec<Transfer>, StoreError> {
        let mut block: Option<(u64, Vec<u8>)> = None;
        let mut out = Vec::with_capacity(locations.len());
        for &TransferLocation { height, index } in locations {
            let bytes = match &block {
                Some((at, bytes)) if *at == height => bytes,
                _ => {
                    let bytes = self
                        .backend
                        .get(Column::Blocks, &height_key(height))?
                        .ok_or_else(|| corrupt(format!("block {height} missing")))?;
                    &block.insert((height, bytes)).1
                }
            };
            let transfer = Block::transfer_at(bytes, index as usize)
                .map_err(|e| corrupt(format!("block {height}: {e}")))?
                .ok_or_else(|| corrupt(format!("block {height} has no transfer {index}")))?;
            out.push(transfer);
        }
        Ok(out)
    }

    /// A page of transfers sent or received by `key` with their locations, newest first,
    /// strictly older than `before` when given. A row naming a transfer that is not `key`'s is
    /// corruption; one naming another of `key`'s own transfers cannot be told from a good one.
    pub fn history(
        &self,
        key: &PublicKey,
        limit: usize,
        before: Option<HistoryCursor>,
    ) -> Result<HistoryPage, StoreError> {
        let before_location = before.map(|c| TransferLocation { height: c.height, index: c.index });
        let (mut locations, flushed) = {
            let pending = self.lock_pending()?;
            (pending.history(key, before_location, limit), pending.flushed)
        };
        if locations.len() < limit {
            // The rows written, up to the indexed height: any above it (a flush cut short by a
            // crash) are the pending index's too.
            let upper = match before {
                Some(cursor) if cursor.height <= flushed => history_key(key, cursor.height, cursor.index),
                _ => history_key(key, flushed.saturating_add(1), 0),
            };
            let rows = self.backend.scan_back(Column::History, &key.0, &upper, limit - locations.len())?;
            for (row, _) in &rows {
                locations.push(keys::parse_history_key(row)?);
            }
        }
        let transfers = self.transfers_at(&locations)?;
        let mut entries = Vec::with_capacity(locations.len());
        for (location, transfer) in locations.into_iter().zip(transfers) {
            if transfer.from != *key && transfer.to != *key {
                return Err(corrupt(format!(
                    "history of {key} names block {} transfer {}, which is not theirs",
                    location.height, location.index
                )));
            }
            entries.push((location, transfer));
        }
        let next = match entries.last() {
            Some((last, _)) if entries.len() == limit => Some(HistoryCursor { height: last.height, index: last.index }),
            _ => None,
        };
        Ok(HistoryPage { entries, next })
    }

    /// Where the current snapshot of the accounts is.
    pub fn snapshot(&self) -> Result<SnapshotMeta, StoreError> {
        let bytes = self.backend.get(Column::Meta, meta::SNAPSHOT)?.ok_or_else(|| corrupt("meta snapshot missing"))?;
        SnapshotMeta::decode(&bytes)
    }

    /// Makes `accounts`, every account at committed height `height`, the current snapshot: its
    /// rows go to the slot the current snapshot does not use, past the write-ahead log and
    /// flushed to disk, then one synced meta write makes them current. A crash before that
    /// write leaves the previous snapshot current and whole. One writer at a time; block
    /// commits may go on meanwhile.
    pub fn write_snapshot(&self, height: u64, accounts: &[(PublicKey, Account)]) -> Result<SnapshotMeta, StoreError> {
        let current = self.snapshot()?;
        let stored = self.height()?;
        if height > stored || height < current.height {
            return Err(StoreError::SnapshotHeight { got: height, snapshot: current.height, stored });
        }
        let (snapshot, rows) = snapshot_rows(1 - current.slot, height, accounts);
        let puts: Vec<Put<'_>> =
            rows.iter().map(|(key, value)| Put { column: Column::Snapshots, key, value }).collect();
        self.backend.write_unlogged(&puts)?;
        self.backend.write(&[Put { column: Column::Meta, key: meta::SNAPSHOT, value: &snapshot.encode() }])?;
        Ok(snapshot)
    }

    /// The accounts of the current snapshot.
    fn snapshot_accounts(&self, snapshot: &SnapshotMeta) -> Result<Vec<(PublicKey, Account)>, StoreError> {
        if u64::from(snapshot.chunks) != snapshot.accounts.div_ceil(SNAPSHOT_CHUNK_ACCOUNTS as u64) {
            return Err(corrupt(format!("snapshot of {} accounts in {} rows", snapshot.accounts, snapshot.chunks)));
        }
        // The count comes from disk: it sizes the vector only as far as memory surely allows.
        let mut accounts = Vec::with_capacity(usize::try_from(snapshot.accounts.min(1 << 24)).unwrap_or(0));
        for chunk in 0..snapshot.chunks {
            let row = self
                .backend
                .get(Column::Snapshots, &snapshot_key(snapshot.slot, chunk))?
                .ok_or_else(|| corrupt(format!("snapshot row {chunk} missing")))?;
            if row.is_empty()
                || row.len() % SNAPSHOT_ENTRY_BYTES != 0
                || row.len() / SNAPSHOT_ENTRY_BYTES > SNAPSHOT_CHUNK_ACCOUNTS
            {
                return Err(corrupt(format!("snapshot row {chunk} is {} bytes", row.len())));
            }
            for entry in row.chunks_exact(SNAPSHOT_ENTRY_BYTES) {
                let (key, account) = entry.split_at(32);
                let key = PublicKey(key.try_into().map_err(|_| corrupt("snapshot key"))?);
                accounts.push((key, Account::decode(account).ok_or_else(|| corrupt("snapshot account"))?));
            }
        }
        if accounts.len() as u64 != snapshot.accounts {
            return Err(corrupt(format!(
                "snapshot holds {} accounts, meta says {}",
                accounts.len(),
                snapshot.accounts
            )));
        }
        Ok(accounts)
    }

    /// Rebuilds the in-memory ledger: the current snapshot's accounts, checked against the
    /// state root committed at its height, then every block committed after it executed again
    /// (their signatures were checked before they were committed), each checked against its
    /// header as when it was first validated. Says too what it replayed.
    pub fn load_ledger(&self, genesis: &Genesis) -> Result<(Ledger, Replayed), StoreError> {
        let height = self.height()?;
        let snapshot = self.snapshot()?;
        if snapshot.height > height {
            return Err(corrupt(format!("snapshot of height {} is above the committed {height}", snapshot.height)));
        }
        let (last_hash, last_time) = match snapshot.height {
            0 => (genesis.hash, genesis.genesis_time_ms),
            h => {
                let stored = self.block(h)?.ok_or_else(|| corrupt(format!("block {h} missing")))?;
                (stored.block.hash(), stored.block.header.time_ms)
            }
        };
        let accounts = self.snapshot_accounts(&snapshot)?;
        let mut ledger = Ledger::new(genesis.params.clone(), accounts, snapshot.height, last_hash, last_time);
        let committed = self
            .state_root(snapshot.height)?
            .ok_or_else(|| corrupt(format!("state root {} missing", snapshot.height)))?;
        if ledger.state_root() != committed {
            return Err(corrupt(format!(
                "the snapshot gives state root {} but height {} committed {committed}",
                ledger.state_root(),
                snapshot.height
            )));
        }
        let mut replayed = Replayed::default();
        for h in snapshot.height + 1..=height {
            let stored = self.block(h)?.ok_or_else(|| corrupt(format!("block {h} missing")))?;
            let (hash, header) = (stored.block.hash(), stored.block.header);
            let transfers: Vec<VerifiedTransfer> =
                stored.block.transfers.into_iter().map(VerifiedTransfer::new_unchecked).collect();
            let execution = ledger
                .validate(&header, &transfers)
                .map_err(|e| corrupt(format!("block {h} does not replay onto the snapshot: {e}")))?;
            ledger.apply(execution, hash, header.time_ms);
            replayed.blocks += 1;
            replayed.transfers += transfers.len() as u64;
        }
        Ok((ledger, replayed))
    }
}

/// The rows of a snapshot: `(key, value)`.
type SnapshotRows = Vec<([u8; 5], Vec<u8>)>;

/// The meta value and the rows of a snapshot of `accounts` at `height` in `slot`.
fn snapshot_rows(slot: u8, height: u64, accounts: &[(PublicKey, Account)]) -> (SnapshotMeta, SnapshotRows) {
    let rows: SnapshotRows = accounts
        .chunks(SNAPSHOT_CHUNK_ACCOUNTS)
        .enumerate()
        .map(|(chunk, entries)| {
            let mut value = Vec::with_capacity(entries.len() * SNAPSHOT_ENTRY_BYTES);
            for (key, account) in entries {
                value.extend_from_slice(&key.0);
                value.extend_from_slice(&account.encode());
            }
            (snapshot_key(slot, chunk as u32), value)
        })
        .collect();
    let meta = SnapshotMeta { slot, height, chunks: rows.len() as u32, accounts: accounts.len() as u64 };
    (meta, rows)
}
