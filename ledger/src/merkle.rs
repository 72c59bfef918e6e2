//! The transfers root of a block header (SPEC §4).
//!
//! Leaves are `SHA-256(0x00 | transfer hash)`, inner nodes `SHA-256(0x01 | left | right)`; a
//! level with an odd count carries its last node up unchanged; no transfers give 32 zero bytes.

use crate::hash::Hash;

/// The Merkle root over `hashes`, in order.
pub fn transfers_root(hashes: &[Hash]) -> Hash {
    if hashes.is_empty() {
        return Hash::ZERO;
    }
    let mut level: Vec<Hash> = hashes.iter().map(|h| Hash::digest_parts(&[&[0x00], h.as_bytes()])).collect();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [left, right] => Hash::digest_parts(&[&[0x01], left.as_bytes(), right.as_bytes()]),
                [odd] => *odd,
                _ => unreachable!("chunks(2) yields one or two items"),
            })
            .collect();
    }
    level[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let a = Hash::digest(b"a");
        let b = Hash::digest(b"b");
        let c = Hash::digest(b"c");
        let leaf = |h: &Hash| Hash::digest_parts(&[&[0], h.as_bytes()]);
        let node = |l: &Hash, r: &Hash| Hash::digest_parts(&[&[1], l.as_bytes(), r.as_bytes()]);
        assert_eq!(transfers_root(&[]), Hash::ZERO);
        assert_eq!(transfers_root(&[a]), leaf(&a));
        assert_eq!(transfers_root(&[a, b]), node(&leaf(&a), &leaf(&b)));
        assert_eq!(transfers_root(&[a, b, c]), node(&node(&leaf(&a), &leaf(&b)), &leaf(&c)));
    }
}
