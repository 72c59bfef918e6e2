//! Public keys and their `tally1…` addresses (SPEC §2): bech32m (BIP-350) with the HRP `tally`.

use bech32::primitives::decode::CheckedHrpstring;
use bech32::{Bech32m, Hrp};
use std::fmt;
use std::str::FromStr;

/// The human-readable part of every address.
pub const ADDRESS_HRP: &str = "tally";

/// A 32-byte ed25519 public key as it appears in transfers and headers.
///
/// Any 32 bytes are a `PublicKey`; whether they are a valid curve point matters only when a
/// signature is checked against them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PublicKey(pub [u8; 32]);

/// Public keys order as their bytes do.
impl Ord for PublicKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        crate::hash::cmp_bytes32(&self.0, &other.0)
    }
}

impl PartialOrd for PublicKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// An address: the bech32m form of a [`PublicKey`], e.g. `tally1q7h0rr…`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address(pub PublicKey);

/// Why a string is not a valid address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Not bech32m: bad characters, mixed case, bad checksum (including a bech32 checksum).
    #[error("not a bech32m address: {0}")]
    Encoding(String),
    /// A valid bech32m string with another prefix.
    #[error("wrong address prefix {found:?}: expected \"tally\"")]
    WrongPrefix {
        /// The prefix found.
        found: String,
    },
    /// The payload is not 32 bytes.
    #[error("an address carries 32 bytes, this one {found}")]
    WrongLength {
        /// The payload length found.
        found: usize,
    },
}

impl PublicKey {
    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The key's address.
    pub fn address(&self) -> Address {
        Address(*self)
    }

    /// Lowercase hex of the key.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex characters.
    pub fn from_hex(text: &str) -> Option<PublicKey> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(PublicKey(bytes))
    }
}

impl From<&ed25519_dalek::VerifyingKey> for PublicKey {
    fn from(key: &ed25519_dalek::VerifyingKey) -> Self {
        PublicKey(key.to_bytes())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.address(), f)
    }
}

impl Address {
    /// The public key this address encodes.
    pub fn public_key(&self) -> PublicKey {
        self.0
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hrp = Hrp::parse_unchecked(ADDRESS_HRP);
        bech32::encode_lower_to_fmt::<Bech32m, _>(f, hrp, self.0.as_bytes()).map_err(|_| fmt::Error)
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({self})")
    }
}

impl FromStr for Address {
    type Err = AddressError;

    /// Strict parsing: bech32m only, lowercase or uppercase but never mixed, prefix `tally`,
    /// exactly 32 bytes of payload.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let checked = CheckedHrpstring::new::<Bech32m>(text).map_err(|e| AddressError::Encoding(e.to_string()))?;
        let hrp = checked.hrp();
        if hrp.to_lowercase() != ADDRESS_HRP {
            return Err(AddressError::WrongPrefix { found: hrp.to_string() });
        }
        let payload: Vec<u8> = checked.byte_iter().collect();
        let bytes: [u8; 32] =
            payload.as_slice().try_into().map_err(|_| AddressError::WrongLength { found: payload.len() })?;
        Ok(Address(PublicKey(bytes)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEV0: &str = "tally1q7h0rr3gzre7ht2czndl796ptue42vr7u7dx4c8dzvfcygc9t90qdcwww3";

    #[test]
    fn round_trip() {
        let address: Address = DEV0.parse().unwrap();
        assert_eq!(address.to_string(), DEV0);
        assert_eq!(address.public_key().to_hex(), "07aef18e2810f3ebad5814dbff17415f3355307ee79a6ae0ed1313822305595e");
    }

    #[test]
    fn uppercase_is_accepted_mixed_case_is_not() {
        assert!(DEV0.to_uppercase().parse::<Address>().is_ok());
        let mut mixed = DEV0.to_string();
        mixed.replace_range(10..11, &DEV0[10..11].to_uppercase());
        assert!(matches!(mixed.parse::<Address>(), Err(AddressError::Encoding(_))));
    }

    #[test]
    fn bad_checksum_is_rejected() {
        let mut broken = DEV0.to_string();
        broken.pop();
        broken.push('4');
        assert!(matches!(broken.parse::<Address>(), Err(AddressError::Encoding(_))));
    }

    #[test]
    fn bech32_checksum_is_not_bech32m() {
        let hrp = Hrp::parse("tally").unwrap();
        let legacy = bech32::encode::<bech32::Bech32>(hrp, &[7u8; 32]).unwrap();
        assert!(matches!(legacy.parse::<Address>(), Err(AddressError::Encoding(_))));
    }

    #[test]
    fn wrong_prefix_and_length_are_rejected() {
        let other = bech32::encode::<Bech32m>(Hrp::parse("other").unwrap(), &[1u8; 32]).unwrap();
        assert!(matches!(other.parse::<Address>(), Err(AddressError::WrongPrefix { .. })));
        let short = bech32::encode::<Bech32m>(Hrp::parse("tally").unwrap(), &[1u8; 31]).unwrap();
        assert_eq!(short.parse::<Address>(), Err(AddressError::WrongLength { found: 31 }));
        assert!("".parse::<Address>().is_err());
        assert!("tally1".parse::<Address>().is_err());
    }
}
