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

/// Sorts `items` by a 32-byte string each holds (`key`), as [`cmp_bytes32`] orders them, keeping
/// the input order among equal keys. For hashes and public keys, whose leading bits are spread
/// evenly: one counting pass and one scatter put the items in buckets by their leading bits, a
/// bucket per one or two items, and only within a bucket are keys compared. Blocks and index
/// flushes sort ~20,000 to ~150,000 of them, where a comparison sort's ~17 rounds of cache
/// misses were most of the cost. Keys made to share their leading bits only land in one bucket,
/// which is then sorted by comparison: never slower than that by more than the two passes.
pub fn sort_by_bytes32<T: Copy>(items: &mut [T], key: impl Fn(&T) -> &[u8; 32]) {
    let compare = |a: &T, b: &T| cmp_bytes32(key(a), key(b));
    if items.len() < 64 {
        items.sort_by(compare);
        return;
    }
    let bits = items.len().ilog2().min(20);
    let bucket = |item: &T| {
        let k = key(item);
        (u64::from_be_bytes([k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7]]) >> (64 - bits)) as usize
    };
    // `next[b]`: where bucket b's next item goes; after the scatter, where bucket b ends.
    let mut next = vec![0usize; 1 << bits];
    for item in items.iter() {
        next[bucket(item)] += 1;
    }
    let mut start = 0;
    for slot in next.iter_mut() {
        let count = *slot;
        *slot = start;
        start += count;
    }
    let unsorted = items.to_vec();
    for item in &unsorted {
        let slot = &mut next[bucket(item)];
        items[*slot] = *item;
        *slot += 1;
    }
    let mut begin = 0;
    for &end in &next {
        if end - begin > 1 {
            items[begin..end].sort_by(compare);
        }
        begin = end;
    }
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

    proptest::proptest! {
        /// The bucket sort gives what a stable comparison sort gives: for keys spread evenly,
        /// and for keys that share their leading bytes (one bucket), with repeats among both.
        #[test]
        fn the_bucket_sort_equals_a_stable_sort(
            spread in proptest::collection::vec(proptest::array::uniform32(proptest::num::u8::ANY), 0..600),
            shared_prefix in 0usize..33,
            repeats in 0usize..50,
        ) {
            let mut keys = spread;
            let prefix = keys.first().copied().unwrap_or_default();
            let half = keys.len() / 2;
            for key in &mut keys[half..] {
                key[..shared_prefix].copy_from_slice(&prefix[..shared_prefix]);
            }
            for i in 0..repeats.min(keys.len()) {
                keys.push(keys[i * 7 % keys.len()]);
            }
            // Each item remembers its input position, which tells whether the sort was stable.
            let items: Vec<([u8; 32], usize)> = keys.into_iter().enumerate().map(|(i, k)| (k, i)).collect();
            let mut expected = items.clone();
            expected.sort_by_key(|a| a.0);
            let mut sorted = items;
            sort_by_bytes32(&mut sorted, |item| &item.0);
            proptest::prop_assert_eq!(sorted, expected);
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
