//! Idle upstream connections, kept for the next request to the same upstream.
//!
//! A connection goes back after a response that leaves it reusable and is taken by the next
//! request, from any client connection. Nothing watches an idle connection: one idle longer
//! than [`Pool::MAX_IDLE`] (under foss's own idle timeout) is dropped when met, and one the
//! upstream closed is found closed when taken. That keeps a request's cost to two short
//! locks, where a watcher task per idle connection costs a spawn, a timer and a hand-over.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use pingora::protocols::Stream;
use tokio::io::{AsyncRead, ReadBuf};

/// Idle upstream connections by upstream address.
#[derive(Debug, Default)]
pub(crate) struct Pool {
    idle: Mutex<HashMap<SocketAddr, Vec<(Instant, Stream)>>>,
}

impl Pool {
    /// Longest an idle connection is kept: under foss's header timeout (10 s), after which
    /// foss closes it.
    pub(crate) const MAX_IDLE: Duration = Duration::from_secs(4);
    /// Most idle connections kept per upstream.
    pub(crate) const MAX_PER_UPSTREAM: usize = 512;

    /// The most recently used idle connection to `upstream` that is still open.
    pub(crate) fn take(&self, upstream: SocketAddr) -> Option<Stream> {
        let now = Instant::now();
        loop {
            let mut stream = {
                let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
                let list = idle.get_mut(&upstream)?;
                let (since, stream) = list.pop()?;
                if now.saturating_duration_since(since) > Self::MAX_IDLE {
                    // The rest are older still.
                    list.clear();
                    return None;
                }
                stream
            };
            if still_open(&mut stream) {
                return Some(stream);
            }
        }
    }

    /// Keeps `stream` for the next request to `upstream`.
    pub(crate) fn put(&self, upstream: SocketAddr, stream: Stream) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let list = idle.entry(upstream).or_default();
        if list.len() >= Self::MAX_PER_UPSTREAM {
            list.remove(0);
        }
        list.push((Instant::now(), stream));
    }
}

/// Whether an idle connection can carry a request: it has nothing to read (an upstream
/// sends nothing unasked) and is not closed. One non-blocking read tells.
fn still_open(stream: &mut Stream) -> bool {
    let mut cx = Context::from_waker(Waker::noop());
    let mut byte = [0u8; 1];
    let mut buf = ReadBuf::new(&mut byte);
    matches!(Pin::new(stream).poll_read(&mut cx, &mut buf), Poll::Pending)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt as _;
    use tokio::net::{TcpListener, TcpStream};

    async fn pair() -> (Stream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (
            Box::new(pingora::protocols::l4::stream::Stream::from(client)),
            server,
        )
    }

    /// Takes from `pool` until it has nothing for `upstream`, putting back what it gives:
    /// the close or the bytes the test made reach the proxy's side through the runtime's
    /// event loop, which runs between tries.
    async fn until_refused(pool: &Pool, upstream: SocketAddr) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while let Some(stream) = pool.take(upstream) {
            assert!(
                Instant::now() < deadline,
                "the pool kept giving the connection"
            );
            pool.put(upstream, stream);
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn an_open_connection_is_taken_back_and_a_closed_one_is_not() {
        let pool = Pool::default();
        let upstream: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let (open, _server_open) = pair().await;
        pool.put(upstream, open);
        assert!(pool.take(upstream).is_some());
        assert!(pool.take(upstream).is_none(), "taken once");

        let (closed, server_closed) = pair().await;
        pool.put(upstream, closed);
        drop(server_closed);
        until_refused(&pool, upstream).await;
    }

    #[tokio::test]
    async fn a_connection_with_unasked_bytes_is_not_taken() {
        let pool = Pool::default();
        let upstream: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let (stream, mut server) = pair().await;
        server.write_all(b"HTTP/1.1 408 \r\n\r\n").await.unwrap();
        server.flush().await.unwrap();
        pool.put(upstream, stream);
        until_refused(&pool, upstream).await;
    }
}
