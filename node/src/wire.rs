//! The node's own message encodings (documented in `docs/FORMAT.md`): transfer batches on the
//! transaction topic, consensus messages (a proposal travels with its block), and the
//! `/tally/sync/1` requests and responses. Signed bytes inside keep the exact layouts of SPEC
//! §3–§4; these envelopes are never hashed or signed.

use tally_consensus::{SignedMessage, SignedProposal};
use tally_ledger::Transfer;

/// The most transfers in one gossiped batch.
pub const MAX_BATCH_TRANSFERS: usize = 1024;

/// Why a message from a peer could not be decoded. Peers sending these are penalised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The bytes end inside a field.
    #[error("truncated {0}")]
    Truncated(&'static str),
    /// Bytes remain after the message.
    #[error("trailing bytes after {0}")]
    Trailing(&'static str),
    /// An unknown tag byte.
    #[error("unknown {what} tag {tag}")]
    UnknownTag {
        /// What was being decoded.
        what: &'static str,
        /// The tag found.
        tag: u8,
    },
    /// A count or size over its limit.
    #[error("{0} over its limit")]
    TooLarge(&'static str),
    /// An embedded transfer, vote, proposal or certificate does not decode.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// What was being decoded.
        what: &'static str,
        /// The inner error.
        reason: String,
    },
}

struct Cursor<'a> {
    bytes: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        if self.bytes.len() < n {
            return Err(WireError::Truncated(what));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, WireError> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, WireError> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, WireError> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4, what)?);
        Ok(u32::from_le_bytes(a))
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, WireError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8, what)?);
        Ok(u64::from_le_bytes(a))
    }

    fn bytes32(&mut self, what: &'static str) -> Result<[u8; 32], WireError> {
        let mut a = [0u8; 32];
        a.copy_from_slice(self.take(32, what)?);
        Ok(a)
    }

    fn finish(self, what: &'static str) -> Result<(), WireError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(WireError::Trailing(what))
        }
    }
}

/// Encodes a batch of transfers: `u16 count | count × (u16 len | tx)`.
pub fn encode_batch(transfers: &[Transfer]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + transfers.len() * 200);
    out.extend_from_slice(&(transfers.len() as u16).to_le_bytes());
    for t in transfers {
        out.extend_from_slice(&(t.encoded_len() as u16).to_le_bytes());
        t.encode_into(&mut out);
    }
    out
}

/// Decodes a transfer batch. One undecodable transfer makes the whole batch invalid: an honest
/// node only relays transfers it decoded.
pub fn decode_batch(bytes: &[u8]) -> Result<Vec<Transfer>, WireError> {
    let mut cursor = Cursor { bytes };
    let count = cursor.u16("batch count")? as usize;
    if count == 0 || count > MAX_BATCH_TRANSFERS {
        return Err(WireError::TooLarge("batch count"));
    }
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let len = cursor.u16("transfer length")? as usize;
        let raw = cursor.take(len, "transfer")?;
        out.push(Transfer::decode(raw).map_err(|e| WireError::Invalid { what: "transfer", reason: e.to_string() })?);
    }
    cursor.finish("batch")?;
    Ok(out)
}

/// A message on the consensus topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsensusMessage {
    /// A proposal with the bytes of the block it names (tag 1).
    Proposal {
        /// The signed proposal.
        proposal: SignedProposal,
        /// The block's wire bytes (`tally_ledger::Block::encode`).
        block: Vec<u8>,
    },
    /// A signed vote, or any signed message re-sent on its own (tag 2).
    Signed(SignedMessage),
}

const TAG_PROPOSAL_WITH_BLOCK: u8 = 1;
const TAG_SIGNED: u8 = 2;

impl ConsensusMessage {
    /// `tag | u64 seq | body`, where the body is `u32 len | signed proposal | block` (tag 1) or
    /// `signed message` (tag 2). `seq` is the sender's counter: it makes a deliberate re-send a
    /// new gossip message (gossip ids are content hashes), and is otherwise ignored.
    pub fn encode(&self, seq: u64) -> Vec<u8> {
        match self {
            ConsensusMessage::Proposal { proposal, block } => {
                let signed = SignedMessage::Proposal(proposal.clone()).encode();
                let mut out = Vec::with_capacity(13 + signed.len() + block.len());
                out.push(TAG_PROPOSAL_WITH_BLOCK);
                out.extend_from_slice(&seq.to_le_bytes());
                out.extend_from_slice(&(signed.len() as u32).to_le_bytes());
                out.extend_from_slice(&signed);
                out.extend_from_slice(block);
                out
            }
            ConsensusMessage::Signed(message) => {
                let signed = message.encode();
                let mut out = Vec::with_capacity(9 + signed.len());
                out.push(TAG_SIGNED);
                out.extend_from_slice(&seq.to_le_bytes());
                out.extend_from_slice(&signed);
                out
            }
        }
    }

    /// Decodes a consensus-topic message of at most `max_bytes`.
    pub fn decode(bytes: &[u8], max_bytes: usize) -> Result<ConsensusMessage, WireError> {
        if bytes.len() > max_bytes {
            return Err(WireError::TooLarge("consensus message"));
        }
        let mut cursor = Cursor { bytes };
        let tag = cursor.u8("consensus tag")?;
        let _seq = cursor.u64("sequence")?;
        match tag {
            TAG_PROPOSAL_WITH_BLOCK => {
                let len = cursor.u32("proposal length")? as usize;
                let signed = cursor.take(len, "proposal")?;
                let proposal = match SignedMessage::decode(signed) {
                    Ok(SignedMessage::Proposal(p)) => p,
                    Ok(SignedMessage::Vote(_)) => {
                        return Err(WireError::Invalid { what: "proposal", reason: "a vote".into() })
                    }
                    Err(e) => return Err(WireError::Invalid { what: "proposal", reason: e.to_string() }),
                };
                Ok(ConsensusMessage::Proposal { proposal, block: cursor.bytes.to_vec() })
            }
            TAG_SIGNED => SignedMessage::decode(cursor.bytes)
                .map(ConsensusMessage::Signed)
                .map_err(|e| WireError::Invalid { what: "signed message", reason: e.to_string() }),
            tag => Err(WireError::UnknownTag { what: "consensus", tag }),
        }
    }
}

/// A `/tally/sync/1` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncRequest {
    /// The peer's committed height and block hash (tag 1).
    Status,
    /// Committed blocks from `from` on, at most `max_blocks`, bounded by bytes (tag 2).
    Blocks {
        /// The first height wanted.
        from: u64,
        /// The most blocks wanted.
        max_blocks: u32,
    },
}

/// A `/tally/sync/1` response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncResponse {
    /// Committed height and its block hash (tag 1).
    Status {
        /// The committed height.
        height: u64,
        /// The hash of the block at that height (the genesis hash at 0).
        block_hash: [u8; 32],
    },
    /// Consecutive committed blocks with the certificates that made them final (tag 2); empty
    /// when the peer has none from the requested height.
    Blocks(Vec<SyncedBlock>),
}

/// One block as served by sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncedBlock {
    /// The block's wire bytes.
    pub block: Vec<u8>,
    /// Its commit certificate, canonically encoded.
    pub certificate: Vec<u8>,
}

/// The most blocks one sync request may ask for.
pub const MAX_SYNC_BLOCKS: u32 = 64;

impl SyncRequest {
    /// `0x01` or `0x02 | from u64 | max_blocks u32`.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            SyncRequest::Status => vec![1],
            SyncRequest::Blocks { from, max_blocks } => {
                let mut out = vec![2];
                out.extend_from_slice(&from.to_le_bytes());
                out.extend_from_slice(&max_blocks.to_le_bytes());
                out
            }
        }
    }

    /// Decodes a request.
    pub fn decode(bytes: &[u8]) -> Result<SyncRequest, WireError> {
        let mut cursor = Cursor { bytes };
        let request = match cursor.u8("sync request tag")? {
            1 => SyncRequest::Status,
            2 => SyncRequest::Blocks { from: cursor.u64("from")?, max_blocks: cursor.u32("max_blocks")? },
            tag => return Err(WireError::UnknownTag { what: "sync request", tag }),
        };
        cursor.finish("sync request")?;
        Ok(request)
    }
}

impl SyncResponse {
    /// `0x01 | height u64 | hash 32` or `0x02 | u32 count | count × (u32 len | block | u32 len | cert)`.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            SyncResponse::Status { height, block_hash } => {
                let mut out = vec![1];
                out.extend_from_slice(&height.to_le_bytes());
                out.extend_from_slice(block_hash);
                out
            }
            SyncResponse::Blocks(blocks) => {
                let size: usize = blocks.iter().map(|b| 8 + b.block.len() + b.certificate.len()).sum();
                let mut out = Vec::with_capacity(5 + size);
                out.push(2);
                out.extend_from_slice(&(blocks.len() as u32).to_le_bytes());
                for b in blocks {
                    out.extend_from_slice(&(b.block.len() as u32).to_le_bytes());
                    out.extend_from_slice(&b.block);
                    out.extend_from_slice(&(b.certificate.len() as u32).to_le_bytes());
                    out.extend_from_slice(&b.certificate);
                }
                out
            }
        }
    }

    /// Decodes a response of at most `max_bytes`.
    pub fn decode(bytes: &[u8], max_bytes: usize) -> Result<SyncResponse, WireError> {
        if bytes.len() > max_bytes {
            return Err(WireError::TooLarge("sync response"));
        }
        let mut cursor = Cursor { bytes };
        let response = match cursor.u8("sync response tag")? {
            1 => SyncResponse::Status { height: cursor.u64("height")?, block_hash: cursor.bytes32("block hash")? },
            2 => {
                let count = cursor.u32("block count")?;
                if count > MAX_SYNC_BLOCKS {
                    return Err(WireError::TooLarge("block count"));
                }
                let mut blocks = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    let len = cursor.u32("block length")? as usize;
                    let block = cursor.take(len, "block")?.to_vec();
                    let len = cursor.u32("certificate length")? as usize;
                    let certificate = cursor.take(len, "certificate")?.to_vec();
                    blocks.push(SyncedBlock { block, certificate });
                }
                SyncResponse::Blocks(blocks)
            }
            tag => return Err(WireError::UnknownTag { what: "sync response", tag }),
        };
        cursor.finish("sync response")?;
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tally_consensus::{SignedVote, VoteKind};

    #[test]
    fn sync_round_trips_and_rejects_junk() {
        for r in [SyncRequest::Status, SyncRequest::Blocks { from: 7, max_blocks: 3 }] {
            assert_eq!(SyncRequest::decode(&r.encode()).unwrap(), r);
        }
        let resp = SyncResponse::Blocks(vec![SyncedBlock { block: vec![1, 2], certificate: vec![3] }]);
        assert_eq!(SyncResponse::decode(&resp.encode(), 1000).unwrap(), resp);
        let status = SyncResponse::Status { height: 9, block_hash: [4; 32] };
        assert_eq!(SyncResponse::decode(&status.encode(), 1000).unwrap(), status);
        assert!(SyncRequest::decode(&[3]).is_err());
        assert!(SyncRequest::decode(&[1, 0]).is_err());
        assert!(SyncResponse::decode(&resp.encode(), 5).is_err());
        let mut lying = vec![2];
        lying.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(SyncResponse::decode(&lying, 1000).is_err());
    }

    #[test]
    fn consensus_messages_round_trip() {
        let vote = SignedVote {
            height: 3,
            round: 1,
            kind: VoteKind::Precommit,
            block_hash: Some([5; 32]),
            validator: [6; 32],
            signature: [7; 64],
        };
        let m = ConsensusMessage::Signed(SignedMessage::Vote(vote));
        assert_eq!(ConsensusMessage::decode(&m.encode(5), 10_000).unwrap(), m);
        assert_ne!(m.encode(5), m.encode(6));
        assert!(ConsensusMessage::decode(&m.encode(5), 10).is_err());
        assert!(ConsensusMessage::decode(&[9, 1, 2], 10_000).is_err());
        assert!(ConsensusMessage::decode(&[], 10_000).is_err());
    }

    #[test]
    fn batches_refuse_junk() {
        assert!(decode_batch(&[]).is_err());
        assert!(decode_batch(&[0, 0]).is_err());
        assert!(decode_batch(&[1, 0, 3, 0, 1, 2, 3]).is_err());
    }
}
