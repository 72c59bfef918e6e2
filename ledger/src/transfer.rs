//! The transfer, Tally's one transaction type, in the exact bytes of SPEC §3.
//!
//! ```text
//! body      = 0x01 | u8 len | chain_id | from 32 | to 32 | amount u64 | fee u64 | nonce u64
//!           | valid_until u64 | u8 len | memo
//! signature = ed25519 over "TALLY/TRANSFER/V1" | body
//! tx        = body | signature 64          hash = SHA-256(tx)
//! ```

use crate::address::PublicKey;
use crate::hash::Hash;
use crate::wire::{DecodeError, Reader};
use ed25519_dalek::{Signer, SigningKey};
use std::fmt;
use std::ops::Deref;

/// The domain separator signed before every transfer body.
pub const TRANSFER_DOMAIN: &[u8; 17] = b"TALLY/TRANSFER/V1";
/// The only transfer version.
pub const TRANSFER_VERSION: u8 = 0x01;
/// The longest memo, in bytes.
pub const MAX_MEMO_LEN: usize = 64;
/// The longest chain id, in bytes.
pub const MAX_CHAIN_ID_LEN: usize = 64;
/// The largest encoded transfer: a 64-byte chain id and a 64-byte memo.
pub const MAX_TRANSFER_LEN: usize = 1 + 1 + MAX_CHAIN_ID_LEN + 32 + 32 + 8 * 4 + 1 + MAX_MEMO_LEN + 64;

/// A chain id: 1 to 64 characters of `[a-z0-9-]`.
///
/// Held inline rather than as a `String`: every transfer carries one, and a heap string meant
/// an allocation (and a free) for every transfer decoded or cloned.
#[derive(Clone)]
pub struct ChainId {
    len: u8,
    bytes: [u8; MAX_CHAIN_ID_LEN],
}

impl ChainId {
    /// Validates `text` as a chain id.
    pub fn new(text: &str) -> Result<ChainId, DecodeError> {
        let valid_char = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-';
        if text.is_empty() || text.len() > MAX_CHAIN_ID_LEN {
            return Err(DecodeError::InvalidField { field: "chain_id", reason: "length must be 1..=64" });
        }
        if !text.bytes().all(valid_char) {
            return Err(DecodeError::InvalidField { field: "chain_id", reason: "characters must be [a-z0-9-]" });
        }
        let mut bytes = [0u8; MAX_CHAIN_ID_LEN];
        bytes[..text.len()].copy_from_slice(text.as_bytes());
        Ok(ChainId { len: text.len() as u8, bytes })
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // `new` admits only ASCII, so this never falls back.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Appends `u8 len | chain_id`, the form used in every signed layout.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(self.len);
        out.extend_from_slice(self.as_bytes());
    }

    pub(crate) fn decode_from(reader: &mut Reader<'_>) -> Result<ChainId, DecodeError> {
        let raw = reader.short_bytes("chain_id")?;
        let text = std::str::from_utf8(raw)
            .map_err(|_| DecodeError::InvalidField { field: "chain_id", reason: "characters must be [a-z0-9-]" })?;
        ChainId::new(text)
    }
}

impl PartialEq for ChainId {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for ChainId {}

impl std::hash::Hash for ChainId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl PartialOrd for ChainId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ChainId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl fmt::Display for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainId({})", self.as_str())
    }
}

/// The signed part of a transfer.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct TransferBody {
    /// The chain this transfer is for.
    pub chain_id: ChainId,
    /// The sender, who signs.
    pub from: PublicKey,
    /// The recipient.
    pub to: PublicKey,
    /// Base units moved; never zero.
    pub amount: u64,
    /// Base units paid to the block's proposer.
    pub fee: u64,
    /// The sender's account nonce this transfer consumes.
    pub nonce: u64,
    /// The last block height that may include it; 0 means no limit.
    pub valid_until: u64,
    /// Up to 64 opaque bytes (merchant invoice ids).
    pub memo: Vec<u8>,
}

impl TransferBody {
    /// Appends the body's bytes to `out`. Panics never: fields were validated on construction
    /// by [`TransferBody::check_fields`] callers; an over-long memo is clamped by `sign`'s check.
    fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(TRANSFER_VERSION);
        self.chain_id.encode_into(out);
        out.extend_from_slice(self.from.as_bytes());
        out.extend_from_slice(self.to.as_bytes());
        for value in [self.amount, self.fee, self.nonce, self.valid_until] {
            out.extend_from_slice(&value.to_le_bytes());
        }
        out.push(self.memo.len() as u8);
        out.extend_from_slice(&self.memo);
    }

    /// The body's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MAX_TRANSFER_LEN);
        self.encode_into(&mut out);
        out
    }

    /// The bytes the sender signs: the domain separator, then the body.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(TRANSFER_DOMAIN.len() + MAX_TRANSFER_LEN);
        out.extend_from_slice(TRANSFER_DOMAIN);
        self.encode_into(&mut out);
        out
    }

    /// Checks the rules that make a body well formed (SPEC §3): non-zero amount, memo length.
    pub fn check_fields(&self) -> Result<(), DecodeError> {
        if self.amount == 0 {
            return Err(DecodeError::InvalidField { field: "amount", reason: "must be greater than zero" });
        }
        if self.memo.len() > MAX_MEMO_LEN {
            return Err(DecodeError::InvalidField { field: "memo", reason: "at most 64 bytes" });
        }
        Ok(())
    }

    /// Signs the body with the sender's key. The key must be the one whose public key is `from`
    /// for the transfer to verify; that is the caller's business (a wallet signs its own).
    pub fn sign(self, key: &SigningKey) -> Result<Transfer, DecodeError> {
        self.check_fields()?;
        let signature = key.sign(&self.signing_bytes()).to_bytes();
        Ok(Transfer::from_parts(self, signature))
    }
}

/// A transfer with its signature, as gossiped, stored and included in blocks.
///
/// Its signature has not necessarily been checked; see [`VerifiedTransfer`].
#[derive(Clone, PartialEq, Eq)]
pub struct Transfer {
    body: TransferBody,
    signature: [u8; 64],
    hash: Hash,
}

impl Transfer {
    fn from_parts(body: TransferBody, signature: [u8; 64]) -> Transfer {
        let mut bytes = body.encode();
        bytes.extend_from_slice(&signature);
        let hash = Hash::digest(&bytes);
        Transfer { body, signature, hash }
    }

    /// Decodes the exact bytes of SPEC §3. Trailing bytes, unknown versions, oversize or invalid
    /// fields and a zero amount are errors; nothing is truncated or repaired.
    pub fn decode(bytes: &[u8]) -> Result<Transfer, DecodeError> {
        if bytes.len() > MAX_TRANSFER_LEN {
            return Err(DecodeError::Oversize { size: bytes.len(), limit: MAX_TRANSFER_LEN });
        }
        let mut reader = Reader::new(bytes);
        let version = reader.u8("version")?;
        if version != TRANSFER_VERSION {
            return Err(DecodeError::UnknownVersion { found: version });
        }
        let chain_id = ChainId::decode_from(&mut reader)?;
        let from = PublicKey(reader.array("from")?);
        let to = PublicKey(reader.array("to")?);
        let amount = reader.u64("amount")?;
        let fee = reader.u64("fee")?;
        let nonce = reader.u64("nonce")?;
        let valid_until = reader.u64("valid_until")?;
        let memo = reader.short_bytes("memo")?.to_vec();
        let signature = reader.array("signature")?;
        reader.finish()?;
        let body = TransferBody { chain_id, from, to, amount, fee, nonce, valid_until, memo };
        body.check_fields()?;
        Ok(Transfer { body, signature, hash: Hash::digest(bytes) })
    }

    /// The transfer's bytes: body then signature.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MAX_TRANSFER_LEN);
        self.encode_into(&mut out);
        out
    }

    /// Appends the transfer's bytes to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        self.body.encode_into(out);
        out.extend_from_slice(&self.signature);
    }

    /// The encoded length in bytes.
    pub fn encoded_len(&self) -> usize {
        1 + 1 + self.body.chain_id.as_str().len() + 64 + 32 + 1 + self.body.memo.len() + 64
    }

    /// SHA-256 of the encoded transfer.
    pub fn hash(&self) -> Hash {
        self.hash
    }

    /// The signed body.
    pub fn body(&self) -> &TransferBody {
        &self.body
    }

    /// The sender's signature.
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }
}

impl Deref for Transfer {
    type Target = TransferBody;
    fn deref(&self) -> &TransferBody {
        &self.body
    }
}

impl fmt::Debug for Transfer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transfer").field("hash", &self.hash).field("body", &self.body).finish()
    }
}

/// A transfer whose signature has passed `verify_strict` (alone or in a checked batch).
///
/// Only [`crate::crypto`] makes these, so holding one is proof the check was done; block
/// execution takes them and never verifies a signature again.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct VerifiedTransfer(Transfer);

impl VerifiedTransfer {
    /// Wraps a transfer whose signature the caller has just verified.
    pub(crate) fn new_unchecked(transfer: Transfer) -> VerifiedTransfer {
        VerifiedTransfer(transfer)
    }

    /// The transfer.
    pub fn transfer(&self) -> &Transfer {
        &self.0
    }

    /// Gives back the transfer.
    pub fn into_inner(self) -> Transfer {
        self.0
    }
}

impl Deref for VerifiedTransfer {
    type Target = Transfer;
    fn deref(&self) -> &Transfer {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> TransferBody {
        TransferBody {
            chain_id: ChainId::new("tally-devnet").unwrap(),
            from: PublicKey([1; 32]),
            to: PublicKey([2; 32]),
            amount: 5,
            fee: 1,
            nonce: 0,
            valid_until: 0,
            memo: b"inv-1".to_vec(),
        }
    }

    #[test]
    fn encode_decode_round_trip() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let transfer = body().sign(&key).unwrap();
        let bytes = transfer.encode();
        assert_eq!(bytes.len(), transfer.encoded_len());
        let decoded = Transfer::decode(&bytes).unwrap();
        assert_eq!(decoded, transfer);
        assert_eq!(decoded.hash(), Hash::digest(&bytes));
    }

    #[test]
    fn chain_id_rules() {
        assert!(ChainId::new("a").is_ok());
        assert!(ChainId::new(&"a".repeat(64)).is_ok());
        assert!(ChainId::new("").is_err());
        assert!(ChainId::new(&"a".repeat(65)).is_err());
        assert!(ChainId::new("Tally").is_err());
        assert!(ChainId::new("tally_net").is_err());
        // Held inline: text, equality and order are those of the string, whatever its length.
        let long = "z".repeat(64);
        for text in ["a", "tally-devnet", long.as_str()] {
            let id = ChainId::new(text).unwrap();
            assert_eq!((id.as_str(), id.to_string()), (text, text.to_string()));
            let mut encoded = Vec::new();
            id.encode_into(&mut encoded);
            assert_eq!(encoded, [&[text.len() as u8][..], text.as_bytes()].concat());
        }
        let (short, longer) = (ChainId::new("ab").unwrap(), ChainId::new("ab-1").unwrap());
        assert!(short < longer && short != longer && short == ChainId::new("ab").unwrap());
    }

    #[test]
    fn zero_amount_and_long_memo_cannot_be_signed() {
        let key = SigningKey::from_bytes(&[7; 32]);
        assert!(TransferBody { amount: 0, ..body() }.sign(&key).is_err());
        assert!(TransferBody { memo: vec![0; 65], ..body() }.sign(&key).is_err());
        assert!(TransferBody { memo: vec![0; 64], ..body() }.sign(&key).is_ok());
    }
}
