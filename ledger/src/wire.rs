//! A strict little-endian byte reader for the exact layouts of SPEC §3–§4.
//!
//! Every read is bounds-checked; decoders finish with [`Reader::finish`], which refuses trailing
//! bytes, so no layout is ever truncated or repaired.

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended inside a field.
    #[error("truncated: {field} needs {needed} more bytes")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// How many bytes were missing.
        needed: usize,
    },
    /// Bytes remain after the last field.
    #[error("{count} trailing bytes")]
    TrailingBytes {
        /// How many bytes remain.
        count: usize,
    },
    /// A version byte this implementation does not know.
    #[error("unknown version {found}")]
    UnknownVersion {
        /// The version byte found.
        found: u8,
    },
    /// A field that breaks its rule (length, charset, range).
    #[error("invalid {field}: {reason}")]
    InvalidField {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The input is larger than the limit for this kind of message.
    #[error("{size} bytes exceed the limit of {limit}")]
    Oversize {
        /// The input size.
        size: usize,
        /// The limit.
        limit: usize,
    },
}

/// Reads fields from a byte slice, front to back.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes }
    }

    pub(crate) fn take(&mut self, count: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.bytes.len() < count {
            return Err(DecodeError::Truncated { field, needed: count - self.bytes.len() });
        }
        let (head, rest) = self.bytes.split_at(count);
        self.bytes = rest;
        Ok(head)
    }

    pub(crate) fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(field)?[0])
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array(field)?))
    }

    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    pub(crate) fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }

    /// A `u8` length followed by that many bytes.
    pub(crate) fn short_bytes(&mut self, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let len = self.u8(field)? as usize;
        self.take(len, field)
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len()
    }

    pub(crate) fn finish(self) -> Result<(), DecodeError> {
        match self.bytes.len() {
            0 => Ok(()),
            count => Err(DecodeError::TrailingBytes { count }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_and_refuses_leftovers() {
        let mut r = Reader::new(&[1, 2, 0, 3, 0xaa, 0xbb, 0xcc, 9]);
        assert_eq!(r.u8("a").unwrap(), 1);
        assert_eq!(r.u16("b").unwrap(), 2);
        assert_eq!(r.short_bytes("c").unwrap(), &[0xaa, 0xbb, 0xcc]);
        assert_eq!(r.remaining(), 1);
        assert_eq!(r.finish(), Err(DecodeError::TrailingBytes { count: 1 }));
    }

    #[test]
    fn truncation_is_reported() {
        let mut r = Reader::new(&[1, 2]);
        assert_eq!(r.u64("x"), Err(DecodeError::Truncated { field: "x", needed: 6 }));
    }
}
