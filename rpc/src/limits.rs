//! Connection and rate limits: a listener that holds one semaphore permit per open connection
//! (refusing extra connections with HTTP 503), and a per-client-IP token bucket.

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A TCP listener that admits at most `max_connections` open connections.
pub struct LimitedListener {
    inner: TcpListener,
    permits: Arc<Semaphore>,
}

impl LimitedListener {
    /// Wraps `inner`.
    pub fn new(inner: TcpListener, max_connections: usize) -> LimitedListener {
        LimitedListener { inner, permits: Arc::new(Semaphore::new(max_connections)) }
    }
}

const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n\
connection: close\r\ncontent-length: 33\r\n\r\n{\"error\":\"too many connections\"}\n";

async fn refuse(mut stream: TcpStream) {
    let write = async {
        stream.write_all(REFUSAL).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
}

impl Listener for LimitedListener {
    type Io = LimitedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => match Arc::clone(&self.permits).try_acquire_owned() {
                    Ok(permit) => {
                        let _ = stream.set_nodelay(true);
                        return (LimitedStream { stream, _permit: permit }, addr);
                    }
                    Err(_) => {
                        tracing::debug!(%addr, "connection limit reached; refusing");
                        tokio::spawn(refuse(stream));
                    }
                },
                Err(error) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A connection holding its permit until dropped.
pub struct LimitedStream {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for LimitedStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for LimitedStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// The peer address of a connection, as handlers see it.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub SocketAddr);

impl Connected<IncomingStream<'_, LimitedListener>> for ClientAddr {
    fn connect_info(stream: IncomingStream<'_, LimitedListener>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

/// A token bucket per client IP: `rate` requests per second, up to `burst` at once.
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    exempt_loopback: bool,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

/// Beyond this many tracked clients, idle buckets are forgotten.
const MAX_TRACKED_CLIENTS: usize = 10_000;

impl RateLimiter {
    /// A limiter; `rate == 0` lets everything through.
    pub fn new(rate: u32, burst: u32, exempt_loopback: bool) -> RateLimiter {
        RateLimiter {
            rate: f64::from(rate),
            burst: f64::from(burst.max(1)),
            exempt_loopback,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `ip`, or says how long until one is available.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        if self.rate <= 0.0 || (self.exempt_loopback && ip.is_loopback()) {
            return Ok(());
        }
        let now = Instant::now();
        let mut buckets = match self.buckets.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if buckets.len() >= MAX_TRACKED_CLIENTS && !buckets.contains_key(&ip) {
            let full_after = self.burst / self.rate;
            buckets.retain(|_, b| now.duration_since(b.last).as_secs_f64() < full_after);
        }
        let bucket = buckets.entry(ip).or_insert(Bucket { tokens: self.burst, last: now });
        let refill = now.duration_since(bucket.last).as_secs_f64() * self.rate;
        bucket.tokens = (bucket.tokens + refill).min(self.burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_refuses() {
        let limiter = RateLimiter::new(1, 3, true);
        let client: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..3 {
            limiter.check(client).unwrap();
        }
        let wait = limiter.check(client).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1));
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        limiter.check(other).unwrap();
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..10 {
            limiter.check(local).unwrap();
        }
    }
}
