//! Serde adapters for the text encodings of SPEC §7: decimal-string u64, lowercase hex for
//! hashes, signatures and memos, `tally1…` addresses, and the status and vote-kind names.

use crate::api::{TxStatus, VoteKind};
use serde::{Deserialize, Deserializer, Serializer};
use tally_ledger::{Address, Hash};

/// A value that travels as a JSON string.
pub trait WireText: Sized {
    /// What the string must be, for error messages.
    const EXPECTED: &'static str;
    /// The string form.
    fn to_text(&self) -> String;
    /// Parses the string form strictly.
    fn from_text(text: &str) -> Option<Self>;
}

/// Parses a canonical decimal u64: digits only, no sign, no leading zero, no overflow.
pub fn parse_decimal_u64(text: &str) -> Option<u64> {
    let canonical =
        !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) && (text == "0" || !text.starts_with('0'));
    if canonical {
        text.parse().ok()
    } else {
        None
    }
}

impl WireText for u64 {
    const EXPECTED: &'static str = "a decimal string";
    fn to_text(&self) -> String {
        self.to_string()
    }
    fn from_text(text: &str) -> Option<Self> {
        parse_decimal_u64(text)
    }
}

impl WireText for Hash {
    const EXPECTED: &'static str = "64 lowercase hex characters";
    fn to_text(&self) -> String {
        self.to_hex()
    }
    fn from_text(text: &str) -> Option<Self> {
        Hash::from_hex(text)
    }
}

impl WireText for Address {
    const EXPECTED: &'static str = "a tally1… address";
    fn to_text(&self) -> String {
        self.to_string()
    }
    fn from_text(text: &str) -> Option<Self> {
        text.parse().ok()
    }
}

impl WireText for Vec<u8> {
    const EXPECTED: &'static str = "lowercase hex";
    fn to_text(&self) -> String {
        hex::encode(self)
    }
    fn from_text(text: &str) -> Option<Self> {
        hex::decode(text).ok()
    }
}

impl WireText for [u8; 64] {
    const EXPECTED: &'static str = "128 lowercase hex characters";
    fn to_text(&self) -> String {
        hex::encode(self)
    }
    fn from_text(text: &str) -> Option<Self> {
        let mut out = [0u8; 64];
        hex::decode_to_slice(text, &mut out).ok()?;
        Some(out)
    }
}

impl WireText for TxStatus {
    const EXPECTED: &'static str = "pending, committed, expired, replaced or unknown";
    fn to_text(&self) -> String {
        self.as_str().to_string()
    }
    fn from_text(text: &str) -> Option<Self> {
        TxStatus::parse(text)
    }
}

impl WireText for VoteKind {
    const EXPECTED: &'static str = "proposal, prevote or precommit";
    fn to_text(&self) -> String {
        self.as_str().to_string()
    }
    fn from_text(text: &str) -> Option<Self> {
        VoteKind::parse(text)
    }
}

/// `#[serde(with = "text")]`: the value as a JSON string.
pub mod text {
    use super::*;

    /// Writes the string form.
    pub fn serialize<T: WireText, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&value.to_text())
    }

    /// Reads the string form strictly.
    pub fn deserialize<'de, T: WireText, D: Deserializer<'de>>(deserializer: D) -> Result<T, D::Error> {
        let text = String::deserialize(deserializer)?;
        T::from_text(&text).ok_or_else(|| serde::de::Error::custom(format!("expected {}, got {text:?}", T::EXPECTED)))
    }
}

/// `#[serde(with = "opt_text")]`: an optional value as a JSON string or null.
pub mod opt_text {
    use super::*;

    /// Writes the string form or null.
    pub fn serialize<T: WireText, S: Serializer>(value: &Option<T>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => serializer.serialize_str(&v.to_text()),
            None => serializer.serialize_none(),
        }
    }

    /// Reads the string form or null.
    pub fn deserialize<'de, T: WireText, D: Deserializer<'de>>(deserializer: D) -> Result<Option<T>, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            None => Ok(None),
            Some(text) => T::from_text(&text)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom(format!("expected {}, got {text:?}", T::EXPECTED))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_u64_is_strict() {
        assert_eq!(parse_decimal_u64("0"), Some(0));
        assert_eq!(parse_decimal_u64("18446744073709551615"), Some(u64::MAX));
        for bad in ["", "01", "-1", "+1", "1.0", "1e3", " 1", "18446744073709551616", "0x10"] {
            assert_eq!(parse_decimal_u64(bad), None, "{bad}");
        }
    }
}
