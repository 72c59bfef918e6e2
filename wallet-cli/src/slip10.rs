//! From a BIP39 mnemonic to an ed25519 seed: BIP39 (English, empty BIP39 passphrase) gives a
//! 64-byte seed, and SLIP-0010 ed25519 derivation on [`TALLY_PATH`] gives the 32-byte key.
//!
//! SLIP-0010 for ed25519 defines hardened derivation only:
//!
//! ```text
//! master:  I = HMAC-SHA512(key = "ed25519 seed", data = seed)          k = I[..32], c = I[32..]
//! child i: I = HMAC-SHA512(key = c, data = 0x00 | k | ser32(i + 2^31)) k = I[..32], c = I[32..]
//! ```

use hmac::{Hmac, Mac};
use sha2::Sha512;
use zeroize::{Zeroize, Zeroizing};

/// The derivation path of every Tally key made from a mnemonic: purpose 44, coin type 7337,
/// account 0, change 0, index 0, all hardened as SLIP-0010 ed25519 requires.
pub const TALLY_PATH: [u32; 5] = [44, 7337, 0, 0, 0];

/// [`TALLY_PATH`] as text.
pub const TALLY_PATH_TEXT: &str = "m/44'/7337'/0'/0'/0'";

const HARDENED: u32 = 1 << 31;

/// A SLIP-0010 node: the private key and the chain code.
struct Node {
    key: [u8; 32],
    chain_code: [u8; 32],
}

impl Drop for Node {
    fn drop(&mut self) {
        self.key.zeroize();
        self.chain_code.zeroize();
    }
}

fn hmac_split(key: &[u8], parts: &[&[u8]]) -> Node {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
    let mut mac = match Hmac::<Sha512>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    for part in parts {
        mac.update(part);
    }
    let mut out = mac.finalize().into_bytes();
    let mut node = Node { key: [0; 32], chain_code: [0; 32] };
    node.key.copy_from_slice(&out[..32]);
    node.chain_code.copy_from_slice(&out[32..]);
    out.as_mut_slice().zeroize();
    node
}

/// Derives the ed25519 private key (seed) at `path` (indices below 2^31; each is hardened).
pub fn derive_ed25519(seed: &[u8], path: &[u32]) -> Zeroizing<[u8; 32]> {
    let mut node = hmac_split(b"ed25519 seed", &[seed]);
    for index in path {
        let hardened = (index | HARDENED).to_be_bytes();
        node = hmac_split(&node.chain_code, &[&[0u8], &node.key, &hardened]);
    }
    Zeroizing::new(node.key)
}

/// A new 24-word English mnemonic from 256 bits of operating-system randomness.
pub fn new_mnemonic() -> Result<bip39::Mnemonic, bip39::Error> {
    use rand::RngCore;
    let mut entropy = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(entropy.as_mut());
    bip39::Mnemonic::from_entropy(entropy.as_ref())
}

/// Parses an English mnemonic (12 to 24 words; spacing and case are normalised).
pub fn parse_mnemonic(text: &str) -> Result<bip39::Mnemonic, bip39::Error> {
    let normalised = Zeroizing::new(text.split_whitespace().map(str::to_lowercase).collect::<Vec<_>>().join(" "));
    bip39::Mnemonic::parse_in_normalized(bip39::Language::English, &normalised)
}

/// The ed25519 seed of a Tally key made from `mnemonic`: BIP39 seed with an empty BIP39
/// passphrase, then SLIP-0010 on [`TALLY_PATH`].
pub fn key_from_mnemonic(mnemonic: &bip39::Mnemonic) -> Zeroizing<[u8; 32]> {
    let seed = Zeroizing::new(mnemonic.to_seed(""));
    derive_ed25519(seed.as_ref(), &TALLY_PATH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    fn public(key: &[u8; 32]) -> String {
        format!("00{}", hex::encode(SigningKey::from_bytes(key).verifying_key().to_bytes()))
    }

    /// SLIP-0010, "Test vector 1 for ed25519": (path, chain code, private key, public key).
    #[test]
    fn slip10_ed25519_test_vector_1() {
        let seed = hex::decode("000102030405060708090a0b0c0d0e0f").unwrap();
        let vectors: [(&[u32], &str, &str, &str); 6] = [
            (
                &[],
                "90046a93de5380a72b5e45010748567d5ea02bbf6522f979e05c0d8d8ca9fffb",
                "2b4be7f19ee27bbf30c667b642d5f4aa69fd169872f8fc3059c08ebae2eb19e7",
                "00a4b2856bfec510abab89753fac1ac0e1112364e7d250545963f135f2a33188ed",
            ),
            (
                &[0],
                "8b59aa11380b624e81507a27fedda59fea6d0b779a778918a2fd3590e16e9c69",
                "68e0fe46dfb67e368c75379acec591dad19df3cde26e63b93a8e704f1dade7a3",
                "008c8a13df77a28f3445213a0f432fde644acaa215fc72dcdf300d5efaa85d350c",
            ),
            (
                &[0, 1],
                "a320425f77d1b5c2505a6b1b27382b37368ee640e3557c315416801243552f14",
                "b1d0bad404bf35da785a64ca1ac54b2617211d2777696fbffaf208f746ae84f2",
                "001932a5270f335bed617d5b935c80aedb1a35bd9fc1e31acafd5372c30f5c1187",
            ),
            (
                &[0, 1, 2],
                "2e69929e00b5ab250f49c3fb1c12f252de4fed2c1db88387094a0f8c4c9ccd6c",
                "92a5b23c0b8a99e37d07df3fb9966917f5d06e02ddbd909c7e184371463e9fc9",
                "00ae98736566d30ed0e9d2f4486a64bc95740d89c7db33f52121f8ea8f76ff0fc1",
            ),
            (
                &[0, 1, 2, 2],
                "8f6d87f93d750e0efccda017d662a1b31a266e4a6f5993b15f5c1f07f74dd5cc",
                "30d1dc7e5fc04c31219ab25a27ae00b50f6fd66622f6e9c913253d6511d1e662",
                "008abae2d66361c879b900d204ad2cc4984fa2aa344dd7ddc46007329ac76c429c",
            ),
            (
                &[0, 1, 2, 2, 1_000_000_000],
                "68789923a0cac2cd5a29172a475fe9e0fb14cd6adb5ad98a3fa70333e7afa230",
                "8f94d394a8e8fd6b1bc2f3f49f5c47e385281d5c17e65324b0f62483e37e8793",
                "003c24da049451555d51a7014a37337aa4e12d41e485abccfa46b47dfb2af54b7a",
            ),
        ];
        for (path, chain_code, private, public_key) in vectors {
            let mut node = hmac_split(b"ed25519 seed", &[&seed]);
            for index in path {
                node = hmac_split(&node.chain_code, &[&[0u8], &node.key, &(index | HARDENED).to_be_bytes()]);
            }
            assert_eq!(hex::encode(node.chain_code), chain_code, "chain code at {path:?}");
            assert_eq!(hex::encode(node.key), private, "private key at {path:?}");
            let derived = derive_ed25519(&seed, path);
            assert_eq!(hex::encode(derived.as_ref()), private, "derive_ed25519 at {path:?}");
            assert_eq!(public(&derived), public_key, "public key at {path:?}");
        }
    }

    /// BIP39's reference vectors (Trezor's, BIP39 passphrase "TREZOR").
    #[test]
    fn bip39_test_vectors() {
        let vectors = [
            (
                "00000000000000000000000000000000",
                "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
                "c55257c360c07c72029aebc1b53c05ed0362ada38ead3e3e9efa3708e53495531f09a6987599d18264c1e1c92f2cf141630c7a3c4ab7c81b2f001698e7463b04",
            ),
            (
                "0000000000000000000000000000000000000000000000000000000000000000",
                "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon \
                 abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon art",
                "bda85446c68413707090a52022edd26a1c9462295029f2e60cd7c4f2bbd3097170af7a4d73245cafa9c3cca8d561a7c3de6f5d4a10be8ed2a5e608d68f92fcc8",
            ),
        ];
        for (entropy, words, seed) in vectors {
            let mnemonic = bip39::Mnemonic::from_entropy(&hex::decode(entropy).unwrap()).unwrap();
            assert_eq!(mnemonic.to_string(), words);
            let parsed = parse_mnemonic(&words.to_uppercase().replace(' ', "  ")).unwrap();
            assert_eq!(hex::encode(parsed.to_seed("TREZOR")), seed);
        }
    }

    #[test]
    fn new_mnemonics_have_24_words_and_differ() {
        let a = new_mnemonic().unwrap();
        let b = new_mnemonic().unwrap();
        assert_eq!(a.word_count(), 24);
        assert_ne!(a.to_string(), b.to_string());
    }

    #[test]
    fn bad_checksum_is_refused() {
        let words = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon";
        assert!(parse_mnemonic(words).is_err());
        assert!(parse_mnemonic("not a mnemonic").is_err());
    }

    /// The Tally path from the all-`abandon … art` mnemonic: a fixed vector for other wallets.
    #[test]
    fn tally_path_vector() {
        let mnemonic = bip39::Mnemonic::from_entropy(&[0u8; 32]).unwrap();
        let key = key_from_mnemonic(&mnemonic);
        assert_eq!(hex::encode(key.as_ref()), "6f5d73f9d6cb302a321339296e90e90482db11aab0840760fb130f0cc1254b0d");
        assert_eq!(public(&key), "00f13c3b83e3d51b8cef5ccb18c502c8904f92ea716cf3bdeb9125033626f2f9b9");
        let seed = mnemonic.to_seed("");
        assert_eq!(key.as_ref(), derive_ed25519(&seed, &[44, 7337, 0, 0, 0]).as_ref());
    }
}
