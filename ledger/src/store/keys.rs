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
    /// `public key` → `balance | nonce`.
    Accounts,
    /// `height` → state root after that height.
    StateRoots,
    /// `public key | height | index` → nothing: every transfer an address sent or received (the
    /// key's location names the transfer in its block).
    History,
    /// Format version, chain id, genesis hash, committed height.
    Meta,
}

impl Column {
    /// Every column.
    pub const ALL: [Column; 8] = [
        Column::Blocks,
        Column::Certificates,
        Column::BlockIndex,
        Column::Transfers,
        Column::Accounts,
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
            Column::Accounts => "accounts",
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
    fn cursor_round_trip_and_strictness() {
        let c = HistoryCursor { height: 12, index: 3 };
        assert_eq!(HistoryCursor::decode(&c.encode()), Some(c));
        for bad in ["", "1", "1-", "-1", "a-1", "1-+2", "99999999999999999999999-1"] {
            assert_eq!(HistoryCursor::decode(bad), None, "{bad}");
        }
    }
}
