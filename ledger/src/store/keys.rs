//! Column names and key layouts. Heights are big-endian so keys sort by height.

use super::{StoreError, TransferLocation};
use crate::address::PublicKey;

/// The store's columns (RocksDB column families).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Column {
    /// `height` → block bytes.
    Blocks,
    /// `height` → commit certificate bytes.
    Certificates,
    /// `block hash` → `height`.
    BlockIndex,
    /// `transfer hash` → `height | index`.
    Transfers,
    /// `slot | chunk` → up to [`SNAPSHOT_CHUNK_ACCOUNTS`] accounts of a snapshot, each
    /// `public key | balance | nonce`; the meta column names the slot that holds the current one.
    Snapshots,
    /// `height` → state root after that height.
    StateRoots,
    /// `public key | height | index` → nothing: every transfer an address sent or received (the
    /// key's location names the transfer in its block).
    History,
    /// Format version, chain id, genesis hash, committed height, indexed height, snapshot.
    Meta,
}

impl Column {
    /// Every column.
    pub const ALL: [Column; 8] = [
        Column::Blocks,
        Column::Certificates,
        Column::BlockIndex,
        Column::Transfers,
        Column::Snapshots,
        Column::StateRoots,
        Column::History,
        Column::Meta,
    ];

    /// The column's position in [`Column::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The column family name.
    pub fn name(&self) -> &'static str {
        match self {
            Column::Blocks => "blocks",
            Column::Certificates => "certificates",
            Column::BlockIndex => "block_index",
            Column::Transfers => "transfers",
            Column::Snapshots => "account_snapshots",
            Column::StateRoots => "state_roots",
            Column::History => "history",
            Column::Meta => "meta",
        }
    }
}

/// Keys of the meta column.
pub(crate) mod meta {
    pub const FORMAT: &[u8] = b"format_version";
    pub const CHAIN_ID: &[u8] = b"chain_id";
    pub const GENESIS_HASH: &[u8] = b"genesis_hash";
    pub const HEIGHT: &[u8] = b"height";
    /// The last height whose transfer and history rows are written (`u64` big-endian); the
    /// rows of the blocks above it are derived again when the store opens.
    pub const INDEXED: &[u8] = b"indexed_height";
    /// `slot u8 | height u64 | chunks u32 | accounts u64` (big-endian) of the current snapshot.
    pub const SNAPSHOT: &[u8] = b"snapshot";
}

/// Accounts in one row of a snapshot (`public key | balance | nonce`, 48 bytes each: a row is
/// at most 192 KiB).
pub const SNAPSHOT_CHUNK_ACCOUNTS: usize = 4096;

/// Bytes of one account in a snapshot row.
pub(crate) const SNAPSHOT_ENTRY_BYTES: usize = 32 + 16;

pub(crate) fn snapshot_key(slot: u8, chunk: u32) -> [u8; 5] {
    let mut out = [0u8; 5];
    out[0] = slot;
    out[1..].copy_from_slice(&chunk.to_be_bytes());
    out
}

/// Where the current account snapshot is: which of the two slots, at what height, in how many
/// rows, holding how many accounts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotMeta {
    /// The slot (0 or 1); the next snapshot is written to the other one.
    pub slot: u8,
    /// The committed height whose accounts it holds.
    pub height: u64,
    /// The rows it spans.
    pub chunks: u32,
    /// The accounts it holds.
    pub accounts: u64,
}

impl SnapshotMeta {
    pub(crate) fn encode(&self) -> [u8; 21] {
        let mut out = [0u8; 21];
        out[0] = self.slot;
        out[1..9].copy_from_slice(&self.height.to_be_bytes());
        out[9..13].copy_from_slice(&self.chunks.to_be_bytes());
        out[13..].copy_from_slice(&self.accounts.to_be_bytes());
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<SnapshotMeta, StoreError> {
        let corrupt = || StoreError::Corrupt("meta snapshot".into());
        let bytes: &[u8; 21] = bytes.try_into().map_err(|_| corrupt())?;
        let slot = bytes[0];
        if slot > 1 {
            return Err(corrupt());
        }
        let be8 = |b: &[u8]| b.try_into().map(u64::from_be_bytes).map_err(|_| corrupt());
        Ok(SnapshotMeta {
            slot,
            height: be8(&bytes[1..9])?,
            chunks: bytes[9..13].try_into().map(u32::from_be_bytes).map_err(|_| corrupt())?,
            accounts: be8(&bytes[13..])?,
        })
    }
}

/// A position in an address's history; pages continue strictly below it. Shown to RPC clients
/// as an opaque string ([`HistoryCursor::encode`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistoryCursor {
    /// Block height of the last entry returned.
    pub height: u64,
    /// Its index in the block.
    pub index: u32,
}

impl HistoryCursor {
    /// The opaque cursor string: `<height>-<index>`.
    pub fn encode(&self) -> String {
        format!("{}-{}", self.height, self.index)
    }

    /// Parses [`HistoryCursor::encode`]'s output.
    pub fn decode(text: &str) -> Option<HistoryCursor> {
        let (height, index) = text.split_once('-')?;
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(height) || !digits(index) {
            return None;
        }
        Some(HistoryCursor { height: height.parse().ok()?, index: index.parse().ok()? })
    }
}

pub(crate) fn height_key(height: u64) -> [u8; 8] {
    height.to_be_bytes()
}

pub(crate) fn location_value(height: u64, index: u32) -> [u8; 12] {
    let mut out = [0u8; 12];
    out[..8].copy_from_slice(&height.to_be_bytes());
    out[8..].copy_from_slice(&index.to_be_bytes());
    out
}

pub(crate) fn parse_location(bytes: &[u8]) -> Result<TransferLocation, StoreError> {
    let bytes: &[u8; 12] = bytes.try_into().map_err(|_| StoreError::Corrupt("transfer location".into()))?;
    let mut height = [0u8; 8];
    let mut index = [0u8; 4];
    height.copy_from_slice(&bytes[..8]);
    index.copy_from_slice(&bytes[8..]);
    Ok(TransferLocation { height: u64::from_be_bytes(height), index: u32::from_be_bytes(index) })
}

pub(crate) fn history_key(key: &PublicKey, height: u64, index: u32) -> [u8; 44] {
    let mut out = [0u8; 44];
    out[..32].copy_from_slice(&key.0);
    out[32..].copy_from_slice(&location_value(height, index));
    out
}

pub(crate) fn parse_history_key(bytes: &[u8]) -> Result<TransferLocation, StoreError> {
    if bytes.len() != 44 {
        return Err(StoreError::Corrupt("history key".into()));
    }
    parse_location(&bytes[32..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_column_index_is_its_position_in_all() {
        for (position, column) in Column::ALL.iter().enumerate() {
            assert_eq!(column.index(), position);
        }
    }

    #[test]
    fn snapshot_meta_round_trip_and_refusals() {
        let meta = SnapshotMeta { slot: 1, height: 7, chunks: 3, accounts: 9_000 };
        assert_eq!(SnapshotMeta::decode(&meta.encode()).unwrap(), meta);
        assert!(SnapshotMeta::decode(&meta.encode()[..20]).is_err());
        let mut bad_slot = meta.encode();
        bad_slot[0] = 2;
        assert!(SnapshotMeta::decode(&bad_slot).is_err());
    }

    #[test]
    fn cursor_round_trip_and_strictness() {
        let c = HistoryCursor { height: 12, index: 3 };
        assert_eq!(HistoryCursor::decode(&c.encode()), Some(c));
        for bad in ["", "1", "1-", "-1", "a-1", "1-+2", "99999999999999999999999-1"] {
            assert_eq!(HistoryCursor::decode(bad), None, "{bad}");
        }
    }
}
