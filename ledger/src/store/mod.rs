//! The ledger's durable store: blocks, certificates, transfer and history indexes, accounts.
//!
//! [`Store`] holds the logic (key layouts, what a block commit writes, paged history) once, over
//! a [`Backend`]: [`RocksBackend`] in a node, [`MemoryBackend`] in tests. A block commit is one
//! atomic, synced write: after a crash the store is at height h or h+1, never between.
//!
//! The state tree itself is not stored: it is derived from the `accounts` column at open (see
//! `docs/BENCHMARKS.md` for why), and the `state_roots` column records each height's root so a
//! rebuilt tree is checked against what was committed.

mod keys;
mod memory;
mod rocks;

pub use keys::{Column, HistoryCursor};
pub use memory::MemoryBackend;
pub use rocks::RocksBackend;

use crate::address::PublicKey;
use crate::block::Block;
use crate::genesis::Genesis;
use crate::hash::Hash;
use crate::state::{Account, Changes, Ledger};
use crate::transfer::Transfer;
use keys::{height_key, history_key, meta};
use std::collections::HashMap;

/// The on-disk format this code writes; a store with another is refused. Version 2: the
/// 16-way state tree (its roots are in every stored header). Version 3: history rows carry no
/// value (their key's location names the transfer).
pub const FORMAT_VERSION: u32 = 3;

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

/// A callback over `(key, value)` rows that may stop the walk with an error.
pub type Visitor<'a> = &'a mut dyn FnMut(&[u8], &[u8]) -> Result<(), StoreError>;

/// A key-value database with columns, atomic synced batches and ordered scans.
pub trait Backend: Send + Sync {
    /// The value under `key`.
    fn get(&self, column: Column, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Writes every put atomically and durably (fsync) before returning; where a key is put
    /// twice, the later put wins.
    fn write(&self, puts: &[Put<'_>]) -> Result<(), StoreError>;
    /// Up to `limit` entries whose key starts with `prefix` and is below `before`, newest
    /// (largest key) first.
    fn scan_back(&self, column: Column, prefix: &[u8], before: &[u8], limit: usize) -> Result<Rows, StoreError>;
    /// Calls `visit` on every entry of `column` in key order.
    fn for_each(&self, column: Column, visit: Visitor<'_>) -> Result<(), StoreError>;
}

/// Where a committed transfer sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// What a block commit writes.
pub struct BlockCommit<'a> {
    /// The block.
    pub block: &'a Block,
    /// Its commit certificate, canonically encoded.
    pub certificate: &'a [u8],
    /// The accounts it changed.
    pub changes: &'a Changes,
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
        let store =
            Store { backend, genesis_hash: genesis.hash, max_block_bytes: genesis.params.max_block_bytes as usize };
        match store.backend.get(Column::Meta, meta::GENESIS_HASH)? {
            Some(found) => {
                let found = Hash(found.as_slice().try_into().map_err(|_| corrupt("meta genesis hash"))?);
                if found != genesis.hash {
                    return Err(StoreError::ForeignDatabase { found, expected: genesis.hash });
                }
                let version =
                    store.backend.get(Column::Meta, meta::FORMAT)?.ok_or_else(|| corrupt("meta format missing"))?;
                let version = u32::from_be_bytes(version.as_slice().try_into().map_err(|_| corrupt("meta format"))?);
                if version != FORMAT_VERSION {
                    return Err(StoreError::UnsupportedFormat { found: version });
                }
                store.height()?;
            }
            None => store.init(genesis)?,
        }
        Ok(store)
    }

    fn init(&self, genesis: &Genesis) -> Result<(), StoreError> {
        let state_root = genesis.initial_ledger().state_root();
        let format = FORMAT_VERSION.to_be_bytes();
        let height = height_key(0);
        let accounts: Vec<[u8; 16]> =
            genesis.accounts.iter().map(|(_, balance)| Account { balance: *balance, nonce: 0 }.encode()).collect();
        let mut puts = vec![
            Put { column: Column::Meta, key: meta::FORMAT, value: &format },
            Put { column: Column::Meta, key: meta::CHAIN_ID, value: genesis.params.chain_id.as_str().as_bytes() },
            Put { column: Column::Meta, key: meta::HEIGHT, value: &height },
            Put { column: Column::StateRoots, key: &height, value: &state_root.0 },
        ];
        for ((key, _), account) in genesis.accounts.iter().zip(&accounts) {
            puts.push(Put { column: Column::Accounts, key: &key.0, value: account });
        }
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

    /// Commits a block, its certificate and its account changes in one atomic, synced write.
    pub fn commit(&self, commit: &BlockCommit<'_>) -> Result<(), StoreError> {
        let header = &commit.block.header;
        let stored = self.height()?;
        if header.height != stored + 1 {
            return Err(StoreError::OutOfOrder { stored, got: header.height });
        }
        let height = height_key(header.height);
        let block_bytes = commit.block.encode();
        let block_hash = commit.block.hash();
        let transfers = &commit.block.transfers;
        // Each index is built as fixed-size rows sorted by key, so the backend gets every column
        // in key order without a copy or an allocation per row.
        // A history row is only a key: its location names the transfer, in the block.
        let mut locations: Vec<([u8; 32], [u8; 12])> = Vec::with_capacity(transfers.len());
        let mut history: Vec<[u8; 44]> = Vec::with_capacity(2 * transfers.len());
        for (index, transfer) in transfers.iter().enumerate() {
            locations.push((transfer.hash().0, keys::location_value(header.height, index as u32)));
            history.push(history_key(&transfer.from, header.height, index as u32));
            if transfer.to != transfer.from {
                history.push(history_key(&transfer.to, header.height, index as u32));
            }
        }
        locations.sort_unstable_by_key(|row| row.0);
        history.sort_unstable();
        let accounts: Vec<[u8; 16]> = commit.changes.accounts.iter().map(|(_, account)| account.encode()).collect();

        let mut puts = Vec::with_capacity(5 + locations.len() + history.len() + accounts.len());
        puts.push(Put { column: Column::Blocks, key: &height, value: &block_bytes });
        puts.push(Put { column: Column::Certificates, key: &height, value: commit.certificate });
        puts.push(Put { column: Column::BlockIndex, key: &block_hash.0, value: &height });
        puts.push(Put { column: Column::StateRoots, key: &height, value: &header.state_root.0 });
        puts.extend(locations.iter().map(|(key, value)| Put { column: Column::Transfers, key, value }));
        puts.extend(history.iter().map(|key| Put { column: Column::History, key, value: &[] }));
        puts.extend(commit.changes.accounts.iter().zip(&accounts).map(|((key, _), value)| Put {
            column: Column::Accounts,
            key: &key.0,
            value,
        }));
        puts.push(Put { column: Column::Meta, key: meta::HEIGHT, value: &height });
        self.backend.write(&puts)
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

    /// An account's committed state (zero if never seen).
    pub fn account(&self, key: &PublicKey) -> Result<Account, StoreError> {
        match self.backend.get(Column::Accounts, &key.0)? {
            None => Ok(Account::default()),
            Some(v) => Account::decode(&v).ok_or_else(|| corrupt("account value")),
        }
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
        let upper = match before {
            Some(cursor) => history_key(key, cursor.height, cursor.index).to_vec(),
            None => {
                let mut k = key.0.to_vec();
                k.extend_from_slice(&[0xff; 13]);
                k
            }
        };
        let rows = self.backend.scan_back(Column::History, &key.0, &upper, limit)?;
        let locations = rows.iter().map(|(k, _)| keys::parse_history_key(k)).collect::<Result<Vec<_>, _>>()?;
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

    /// Rebuilds the in-memory ledger from the committed accounts, and checks that its state
    /// root equals the root committed at the stored height.
    pub fn load_ledger(&self, genesis: &Genesis) -> Result<Ledger, StoreError> {
        let height = self.height()?;
        let mut accounts = HashMap::new();
        self.backend.for_each(Column::Accounts, &mut |k, v| {
            let key = PublicKey(k.try_into().map_err(|_| corrupt("account key"))?);
            accounts.insert(key, Account::decode(v).ok_or_else(|| corrupt("account value"))?);
            Ok(())
        })?;
        let (last_hash, last_time) = match height {
            0 => (genesis.hash, genesis.genesis_time_ms),
            h => {
                let stored = self.block(h)?.ok_or_else(|| corrupt(format!("block {h} missing")))?;
                (stored.block.hash(), stored.block.header.time_ms)
            }
        };
        let ledger = Ledger::new(genesis.params.clone(), accounts, height, last_hash, last_time);
        let committed = self.state_root(height)?.ok_or_else(|| corrupt(format!("state root {height} missing")))?;
        if ledger.state_root() != committed {
            return Err(corrupt(format!(
                "accounts give state root {} but height {height} committed {committed}",
                ledger.state_root()
            )));
        }
        Ok(ledger)
    }
}
