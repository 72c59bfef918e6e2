//! The 32-byte SHA-256 digest used for transfer hashes, block hashes and tree nodes.

use sha2::{Digest, Sha256};
use std::fmt;

/// A SHA-256 digest; shown and parsed as 64 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Hash(pub [u8; 32]);

/// Orders two 32-byte strings as their bytes do (lexicographically), comparing the first eight
/// as one integer first: hashes and public keys are nearly always told apart there, and blocks
/// sort tens of thousands of them, where a byte-wise comparison was a visible cost.
pub fn cmp_bytes32(a: &[u8; 32], b: &[u8; 32]) -> std::cmp::Ordering {
    let prefix = |k: &[u8; 32]| u64::from_be_bytes([k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7]]);
    prefix(a).cmp(&prefix(b)).then_with(|| a[8..].cmp(&b[8..]))
}

impl Ord for Hash {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        cmp_bytes32(&self.0, &other.0)
    }
}

impl PartialOrd for Hash {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Hash {
    /// The all-zero hash: the empty transfers root, the empty state tree, the genesis parent.
    pub const ZERO: Hash = Hash([0; 32]);

    /// SHA-256 of `data`.
    pub fn digest(data: &[u8]) -> Hash {
        Hash(Sha256::digest(data).into())
    }

    /// SHA-256 of the concatenation of `parts`, without building the concatenation.
    pub fn digest_parts(parts: &[&[u8]]) -> Hash {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update(part);
        }
        Hash(hasher.finalize().into())
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex, 64 characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses exactly 64 hex characters (either case); anything else is `None`.
    pub fn from_hex(text: &str) -> Option<Hash> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(Hash(bytes))
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The fast comparison orders as the bytes do, whichever byte first differs.
        #[test]
        fn keys_order_as_their_bytes(a in proptest::array::uniform32(0u8..4), b in proptest::array::uniform32(0u8..4), same in 0usize..33) {
            // Often equal up to byte `same`, so every position gets to decide.
            let mut b = b;
            b[..same].copy_from_slice(&a[..same]);
            proptest::prop_assert_eq!(cmp_bytes32(&a, &b), a.cmp(&b));
            proptest::prop_assert_eq!(Hash(a).cmp(&Hash(b)), a.cmp(&b));
            proptest::prop_assert_eq!(crate::PublicKey(a).cmp(&crate::PublicKey(b)), a.cmp(&b));
        }
    }

    #[test]
    fn digest_of_parts_equals_digest_of_concatenation() {
        assert_eq!(Hash::digest(b"abcdef"), Hash::digest_parts(&[b"ab", b"", b"cdef"]));
    }

    #[test]
    fn hex_round_trip_and_strictness() {
        let h = Hash::digest(b"x");
        assert_eq!(Hash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(Hash::from_hex("00"), None);
        assert_eq!(Hash::from_hex(&"g".repeat(64)), None);
    }
}
