//! Block headers and blocks (SPEC §4), and the block's wire and storage encoding.
//!
//! ```text
//! header = 0x01 | u8 len | chain_id | height u64 | time_ms u64 | previous_hash 32 | proposer 32
//!        | transfers_root 32 | last_commit_hash 32 | state_root 32          block hash = SHA-256(header)
//! block  = header | u32 len | last_commit | u32 count | count × (u16 len | transfer)
//! ```
//!
//! `last_commit` is the canonical encoding of the parent's commit certificate (empty in block
//! 1); the header commits to it through `last_commit_hash`, so every validator checks the same
//! certificate the proposer saw. The ledger treats it as opaque bytes: the node verifies it
//! with `tally-consensus`.

use crate::address::PublicKey;
use crate::hash::Hash;
use crate::merkle::transfers_root;
use crate::transfer::{ChainId, Transfer, MAX_TRANSFER_LEN};
use crate::wire::{DecodeError, Reader};

/// The only header version.
pub const HEADER_VERSION: u8 = 0x01;

/// A block header; its SHA-256 is the block hash.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Header {
    /// The chain.
    pub chain_id: ChainId,
    /// The block's height; the first block after genesis is 1.
    pub height: u64,
    /// Unix time in milliseconds, greater than the parent's.
    pub time_ms: u64,
    /// The parent block's hash (zero for height 1).
    pub previous_hash: Hash,
    /// The validator that built the block and receives its fees.
    pub proposer: PublicKey,
    /// Merkle root over the transfer hashes ([`transfers_root`]).
    pub transfers_root: Hash,
    /// SHA-256 of the previous block's commit certificate (zero for height 1).
    pub last_commit_hash: Hash,
    /// The state tree's root after applying this block.
    pub state_root: Hash,
}

impl Header {
    /// Appends the header's exact bytes.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(HEADER_VERSION);
        self.chain_id.encode_into(out);
        out.extend_from_slice(&self.height.to_le_bytes());
        out.extend_from_slice(&self.time_ms.to_le_bytes());
        for field in [
            &self.previous_hash.0,
            &self.proposer.0,
            &self.transfers_root.0,
            &self.last_commit_hash.0,
            &self.state_root.0,
        ] {
            out.extend_from_slice(field);
        }
    }

    /// The header's exact bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + 65 + 16 + 160);
        self.encode_into(&mut out);
        out
    }

    /// The block hash.
    pub fn hash(&self) -> Hash {
        Hash::digest(&self.encode())
    }

    fn read(reader: &mut Reader<'_>) -> Result<Header, DecodeError> {
        let version = reader.u8("header version")?;
        if version != HEADER_VERSION {
            return Err(DecodeError::UnknownVersion { found: version });
        }
        let chain_id = ChainId::decode_from(reader)?;
        Ok(Header {
            chain_id,
            height: reader.u64("height")?,
            time_ms: reader.u64("time_ms")?,
            previous_hash: Hash(reader.array("previous_hash")?),
            proposer: PublicKey(reader.array("proposer")?),
            transfers_root: Hash(reader.array("transfers_root")?),
            last_commit_hash: Hash(reader.array("last_commit_hash")?),
            state_root: Hash(reader.array("state_root")?),
        })
    }

    /// Decodes exactly one header.
    pub fn decode(bytes: &[u8]) -> Result<Header, DecodeError> {
        let mut reader = Reader::new(bytes);
        let header = Header::read(&mut reader)?;
        reader.finish()?;
        Ok(header)
    }
}

/// Why a block is not acceptable as a whole, before or during execution.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// The bytes do not decode.
    #[error("undecodable block: {0}")]
    Decode(#[from] DecodeError),
    /// The header's transfers root does not match its transfers.
    #[error("transfers root mismatch")]
    TransfersRoot,
    /// More transfers than `max_block_txs`.
    #[error("{count} transfers exceed max_block_txs {limit}")]
    TooManyTransfers {
        /// Transfers in the block.
        count: usize,
        /// The genesis limit.
        limit: u64,
    },
    /// More bytes than `max_block_bytes`.
    #[error("{size} bytes exceed max_block_bytes {limit}")]
    TooLarge {
        /// The block's encoded size.
        size: usize,
        /// The genesis limit.
        limit: u64,
    },
    /// The header does not extend the chain: wrong chain id, height, parent, or time.
    #[error("header does not extend the chain: {0}")]
    WrongParent(&'static str),
    /// The proposer is not a validator.
    #[error("proposer is not a validator")]
    UnknownProposer,
    /// A transfer breaks the rules of SPEC §3.
    #[error("transfer {index} ({hash}) rejected: {reason}")]
    InvalidTransfer {
        /// Its position in the block.
        index: usize,
        /// Its hash.
        hash: Hash,
        /// The rule it breaks.
        reason: crate::state::RejectReason,
    },
    /// The header's state root differs from the state after execution.
    #[error("state root mismatch: header {header}, computed {computed}")]
    StateRoot {
        /// The header's claim.
        header: Hash,
        /// What execution produced.
        computed: Hash,
    },
    /// The header's `last_commit_hash` does not match the block's `last_commit` bytes.
    #[error("last commit hash mismatch")]
    LastCommit,
}

/// A header, the parent's commit certificate, and the transfers, in order.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Block {
    /// The header.
    pub header: Header,
    /// The parent's commit certificate, canonically encoded (empty for block 1).
    pub last_commit: Vec<u8>,
    /// The transfers, applied in this order.
    pub transfers: Vec<Transfer>,
}

/// The `last_commit_hash` of a block whose `last_commit` holds `certificate`: SHA-256 of the
/// bytes, or 32 zero bytes when there is none (block 1).
pub fn last_commit_hash(certificate: &[u8]) -> Hash {
    if certificate.is_empty() {
        Hash::ZERO
    } else {
        Hash::digest(certificate)
    }
}

impl Block {
    /// The block hash (the header's hash).
    pub fn hash(&self) -> Hash {
        self.header.hash()
    }

    /// The transfers root computed from the transfers.
    pub fn computed_transfers_root(&self) -> Hash {
        let hashes: Vec<Hash> = self.transfers.iter().map(Transfer::hash).collect();
        transfers_root(&hashes)
    }

    /// The block's wire and storage bytes.
    pub fn encode(&self) -> Vec<u8> {
        let size: usize = self.transfers.iter().map(|t| 2 + t.encoded_len()).sum();
        let mut out = Vec::with_capacity(256 + 8 + self.last_commit.len() + size);
        self.header.encode_into(&mut out);
        out.extend_from_slice(&(self.last_commit.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.last_commit);
        out.extend_from_slice(&(self.transfers.len() as u32).to_le_bytes());
        for transfer in &self.transfers {
            out.extend_from_slice(&(transfer.encoded_len() as u16).to_le_bytes());
            transfer.encode_into(&mut out);
        }
        out
    }

    /// Decodes a block of at most `max_bytes` bytes. Every transfer must decode; the transfers
    /// root and the last commit hash are checked here, everything that needs state in
    /// [`crate::state::Ledger`].
    pub fn decode(bytes: &[u8], max_bytes: usize) -> Result<Block, BlockError> {
        if bytes.len() > max_bytes {
            return Err(DecodeError::Oversize { size: bytes.len(), limit: max_bytes }.into());
        }
        let mut reader = Reader::new(bytes);
        let (header, last_commit, count) = read_prelude(&mut reader)?;
        // Each transfer takes at least two bytes, so a lying count fails before allocating much.
        if count > reader.remaining() / 2 {
            return Err(DecodeError::InvalidField { field: "transfer count", reason: "larger than the block" }.into());
        }
        let mut transfers = Vec::with_capacity(count);
        for _ in 0..count {
            transfers.push(Transfer::decode(read_transfer_bytes(&mut reader)?)?);
        }
        reader.finish()?;
        let block = Block { header, last_commit: last_commit.to_vec(), transfers };
        if block.computed_transfers_root() != block.header.transfers_root {
            return Err(BlockError::TransfersRoot);
        }
        if last_commit_hash(&block.last_commit) != block.header.last_commit_hash {
            return Err(BlockError::LastCommit);
        }
        Ok(block)
    }

    /// The transfer at `index` of a block's bytes, or `None` past the last one, decoding only
    /// that transfer: the others are skipped by their length prefixes. For bytes that were
    /// checked as a whole when they were committed (a store's block), so neither the transfers
    /// root nor the last commit is checked again; the walk is still bounds-checked, and bytes
    /// that do not parse are an error.
    pub fn transfer_at(bytes: &[u8], index: usize) -> Result<Option<Transfer>, DecodeError> {
        let mut reader = Reader::new(bytes);
        let (_, _, count) = read_prelude(&mut reader)?;
        if index >= count {
            return Ok(None);
        }
        for _ in 0..index {
            read_transfer_bytes(&mut reader)?;
        }
        Transfer::decode(read_transfer_bytes(&mut reader)?).map(Some)
    }
}

/// Reads what comes before a block's transfers: the header, the last commit's bytes and the
/// transfer count.
fn read_prelude<'a>(reader: &mut Reader<'a>) -> Result<(Header, &'a [u8], usize), DecodeError> {
    let header = Header::read(reader)?;
    let commit_len = reader.u32("last commit length")? as usize;
    let last_commit = reader.take(commit_len, "last commit")?;
    let count = reader.u32("transfer count")? as usize;
    Ok((header, last_commit, count))
}

/// Reads one transfer's bytes behind its `u16` length, refusing a length no transfer can have.
fn read_transfer_bytes<'a>(reader: &mut Reader<'a>) -> Result<&'a [u8], DecodeError> {
    let len = reader.u16("transfer length")? as usize;
    if len > MAX_TRANSFER_LEN {
        return Err(DecodeError::Oversize { size: len, limit: MAX_TRANSFER_LEN });
    }
    reader.take(len, "transfer")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transfer::TransferBody;
    use ed25519_dalek::SigningKey;

    fn block_with(n: usize) -> Block {
        let key = SigningKey::from_bytes(&[3; 32]);
        let transfers: Vec<Transfer> = (0..n as u64)
            .map(|nonce| {
                TransferBody {
                    chain_id: ChainId::new("t").unwrap(),
                    from: PublicKey::from(&key.verifying_key()),
                    to: PublicKey([9; 32]),
                    amount: 1,
                    fee: 1,
                    nonce,
                    valid_until: 0,
                    memo: vec![],
                }
                .sign(&key)
                .unwrap()
            })
            .collect();
        let mut block = Block {
            header: Header {
                chain_id: ChainId::new("t").unwrap(),
                height: 1,
                time_ms: 5,
                previous_hash: Hash::ZERO,
                proposer: PublicKey([1; 32]),
                transfers_root: Hash::ZERO,
                last_commit_hash: Hash::ZERO,
                state_root: Hash::ZERO,
            },
            last_commit: b"parent certificate".to_vec(),
            transfers,
        };
        block.header.transfers_root = block.computed_transfers_root();
        block.header.last_commit_hash = last_commit_hash(&block.last_commit);
        block
    }

    #[test]
    fn block_round_trip() {
        for n in [0, 1, 5] {
            let block = block_with(n);
            let bytes = block.encode();
            assert_eq!(Block::decode(&bytes, 1 << 20).unwrap(), block);
            assert!(Block::decode(&bytes, bytes.len() - 1).is_err());
            let mut trailing = bytes.clone();
            trailing.push(0);
            assert!(Block::decode(&trailing, 1 << 20).is_err());
            assert!(Block::decode(&bytes[..bytes.len() - 1], 1 << 20).is_err());
        }
    }

    #[test]
    fn one_transfer_is_read_out_of_a_blocks_bytes() {
        for n in [0, 1, 5] {
            let block = block_with(n);
            let bytes = block.encode();
            for (i, transfer) in block.transfers.iter().enumerate() {
                assert_eq!(Block::transfer_at(&bytes, i).unwrap().as_ref(), Some(transfer));
            }
            assert_eq!(Block::transfer_at(&bytes, n).unwrap(), None);
            assert_eq!(Block::transfer_at(&bytes, usize::MAX).unwrap(), None);
        }
        // Truncated bytes are an error, not a wrong transfer or a panic.
        let bytes = block_with(3).encode();
        for cut in [10, bytes.len() / 2, bytes.len() - 1] {
            assert!(Block::transfer_at(&bytes[..cut], 2).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn last_commit_must_match_its_hash() {
        let mut block = block_with(1);
        block.last_commit = b"another certificate".to_vec();
        assert_eq!(Block::decode(&block.encode(), 1 << 20), Err(BlockError::LastCommit));
        block.last_commit.clear();
        assert_eq!(Block::decode(&block.encode(), 1 << 20), Err(BlockError::LastCommit));
        block.header.last_commit_hash = Hash::ZERO;
        block.header.transfers_root = block.computed_transfers_root();
        assert!(Block::decode(&block.encode(), 1 << 20).is_ok());
    }

    #[test]
    fn wrong_transfers_root_is_refused() {
        let mut block = block_with(2);
        block.header.transfers_root = Hash::ZERO;
        assert_eq!(Block::decode(&block.encode(), 1 << 20), Err(BlockError::TransfersRoot));
    }
}
