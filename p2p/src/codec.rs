//! The `/tally/sync/1` codec: one length-prefixed frame of opaque bytes per request and per
//! response.
//!
//! Frame: `u32 big-endian length | bytes`. A frame longer than the limit (requests
//! [`MAX_REQUEST_BYTES`], responses `max_message_bytes`) is an error before anything is
//! allocated, and the body is read incrementally, so a peer that announces a large frame and
//! sends less costs no more memory than it actually sent.

use std::io;

use async_trait::async_trait;
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;

use crate::config::MAX_REQUEST_BYTES;

/// The sync protocol's name.
pub const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/tally/sync/1");

/// Largest first allocation while reading a frame; the buffer grows as bytes arrive.
const INITIAL_BUFFER: usize = 64 * 1024;

/// Length-prefixed opaque bytes with separate request and response limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SyncCodec {
    max_request: usize,
    max_response: usize,
}

impl SyncCodec {
    /// A codec whose responses may be up to `max_response` bytes.
    pub(crate) fn new(max_response: usize) -> Self {
        SyncCodec { max_request: MAX_REQUEST_BYTES, max_response }
    }
}

/// Reads one frame of at most `limit` bytes.
pub(crate) async fn read_frame<T>(io: &mut T, limit: usize) -> io::Result<Vec<u8>>
where
    T: AsyncRead + Unpin + Send,
{
    let mut prefix = [0u8; 4];
    io.read_exact(&mut prefix).await?;
    let len = u32::from_be_bytes(prefix);
    let len = usize::try_from(len).map_err(|_| oversize(usize::MAX, limit))?;
    if len > limit {
        return Err(oversize(len, limit));
    }
    let mut buf = Vec::with_capacity(len.min(INITIAL_BUFFER));
    // `len` fits in u64 on every platform libp2p supports; saturate rather than cast.
    let take = u64::try_from(len).unwrap_or(u64::MAX);
    io.take(take).read_to_end(&mut buf).await?;
    if buf.len() != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("frame announced {len} bytes, stream ended after {}", buf.len()),
        ));
    }
    Ok(buf)
}

/// Writes one frame of at most `limit` bytes.
pub(crate) async fn write_frame<T>(io: &mut T, data: &[u8], limit: usize) -> io::Result<()>
where
    T: AsyncWrite + Unpin + Send,
{
    if data.len() > limit {
        return Err(oversize(data.len(), limit));
    }
    let len = u32::try_from(data.len()).map_err(|_| oversize(data.len(), limit))?;
    io.write_all(&len.to_be_bytes()).await?;
    io.write_all(data).await?;
    io.flush().await
}

fn oversize(len: usize, limit: usize) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("frame of {len} bytes exceeds the limit of {limit} bytes"))
}

#[async_trait]
impl libp2p::request_response::Codec for SyncCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, self.max_request).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, self.max_response).await
    }

    async fn write_request<T>(&mut self, _: &StreamProtocol, io: &mut T, request: Vec<u8>) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &request, self.max_request).await
    }

    async fn write_response<T>(&mut self, _: &StreamProtocol, io: &mut T, response: Vec<u8>) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &response, self.max_response).await
    }
}

#[cfg(test)]
mod tests {
    use futures::io::Cursor;

    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        futures::executor::block_on(f)
    }

    #[test]
    fn round_trip() {
        let mut wire = Cursor::new(Vec::new());
        block_on(write_frame(&mut wire, b"hello", 16)).unwrap();
        assert_eq!(wire.get_ref().as_slice(), b"\0\0\0\x05hello");
        wire.set_position(0);
        assert_eq!(block_on(read_frame(&mut wire, 16)).unwrap(), b"hello");
    }

    #[test]
    fn empty_frame() {
        let mut wire = Cursor::new(vec![0, 0, 0, 0]);
        assert_eq!(block_on(read_frame(&mut wire, 16)).unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn oversize_is_refused_both_ways() {
        let mut wire = Cursor::new(Vec::new());
        let err = block_on(write_frame(&mut wire, &[0; 17], 16)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(wire.get_ref().is_empty(), "nothing is written");

        // A peer announcing 4 GiB gets an error, not a 4 GiB allocation.
        let mut wire = Cursor::new(vec![0xff, 0xff, 0xff, 0xff, 1, 2, 3]);
        let err = block_on(read_frame(&mut wire, 16)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn truncated_frame_is_an_error() {
        let mut wire = Cursor::new(vec![0, 0, 0, 9, 1, 2, 3]);
        let err = block_on(read_frame(&mut wire, 16)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        let mut wire = Cursor::new(vec![0, 0]);
        assert!(block_on(read_frame(&mut wire, 16)).is_err());
    }

    #[test]
    fn random_bytes_never_panic() {
        // A small deterministic generator: the codec must answer every input without panicking.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 12) as usize;
            let bytes: Vec<u8> = (0..len).map(|i| (state >> (i % 8 * 8)) as u8).collect();
            let mut wire = Cursor::new(bytes);
            let _ = block_on(read_frame(&mut wire, 8));
        }
    }
}
