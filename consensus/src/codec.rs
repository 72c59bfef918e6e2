//! Little helpers for the fixed little-endian layouts of this crate's encodings.
//!
//! The [`Reader`] never panics: every read checks the remaining length and reports
//! [`DecodeError::Truncated`]; [`Reader::finish`] rejects trailing bytes.

use crate::error::DecodeError;

/// A cursor over bytes being decoded.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Starts reading at the first byte.
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// Takes the next `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated { needed: n, remaining: self.remaining() });
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Takes a fixed-size array.
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// Reads a `u8`.
    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    /// Reads a little-endian `u32`.
    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// Reads a little-endian `i32`.
    pub(crate) fn i32(&mut self) -> Result<i32, DecodeError> {
        Ok(i32::from_le_bytes(self.array()?))
    }

    /// Reads a little-endian `u64`.
    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// Ends decoding: every byte must have been read.
    pub(crate) fn finish(self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            extra => Err(DecodeError::TrailingBytes { extra }),
        }
    }
}

/// Reads an optional `(round, hash)` pair: a flag byte (0 absent, 1 present) then, when
/// present, `round u32 | hash 32`.
pub(crate) fn read_round_hash(r: &mut Reader<'_>) -> Result<Option<(u32, [u8; 32])>, DecodeError> {
    match r.u8()? {
        0 => Ok(None),
        1 => Ok(Some((r.u32()?, r.array()?))),
        flag => Err(DecodeError::InvalidFlag { flag }),
    }
}

/// Writes an optional `(round, hash)` pair in the layout [`read_round_hash`] reads.
pub(crate) fn write_round_hash(out: &mut Vec<u8>, value: &Option<(u32, [u8; 32])>) {
    match value {
        None => out.push(0),
        Some((round, hash)) => {
            out.push(1);
            out.extend_from_slice(&round.to_le_bytes());
            out.extend_from_slice(hash);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_reports_truncation_and_trailing_bytes() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u8(), Ok(1));
        assert_eq!(r.u32(), Err(DecodeError::Truncated { needed: 4, remaining: 2 }));
        assert_eq!(r.finish(), Err(DecodeError::TrailingBytes { extra: 2 }));
    }

    #[test]
    fn round_hash_round_trips() {
        for value in [None, Some((7u32, [9u8; 32]))] {
            let mut out = Vec::new();
            write_round_hash(&mut out, &value);
            let mut r = Reader::new(&out);
            assert_eq!(read_round_hash(&mut r), Ok(value));
            assert_eq!(r.finish(), Ok(()));
        }
        assert_eq!(read_round_hash(&mut Reader::new(&[2])), Err(DecodeError::InvalidFlag { flag: 2 }));
    }
}
