//! A whole-header deadline for client connections (slowloris guard).
//!
//! pingora times out each *read* of a request header, not the header as a whole, so a client
//! that drips one byte every few seconds keeps a connection forever. [`HeaderDeadline`] wraps
//! the client's stream and fails reads once the current request's header has taken longer
//! than the deadline, counting from the accepted connection for the first request and from
//! the first byte for the later ones on a kept-alive connection. It recognises the end of a
//! header by its empty line; after that, reads pass straight through (a body may be slow:
//! the upstream's read timeout governs it) until the connection loop re-arms it with
//! [`Rearm`] for the next request. A client cut off is told so first: 408 with a JSON body.
//!
//! It also buffers small writes, as pingora's own listener does (its streams made from a
//! bare `TcpStream` write straight through): a response's header and a small body leave
//! in one send at the flush that ends the response, not one send each.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use pingora::protocols::raw_connect::ProxyDigest;
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, SocketDigest, Ssl, Stream,
    TimingDigest, UniqueID, UniqueIDType,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Tells a [`HeaderDeadline`] that a new request begins on its connection.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rearm(Arc<AtomicBool>);

impl Rearm {
    /// The next read starts a new request header.
    pub(crate) fn next_request(&self) {
        self.0.store(true, Ordering::Release);
    }
}

enum Phase {
    /// Reading a header: `line` bytes on the current line, `lines` non-empty lines so far.
    Header {
        deadline: Option<Pin<Box<Sleep>>>,
        line: usize,
        lines: usize,
    },
    /// The header is complete; reads pass through.
    Body,
}

/// Writes smaller than this are gathered until a flush (pingora's own default).
const WRITE_BUFFER: usize = 1460;

/// A client stream whose request headers must arrive within a deadline.
pub(crate) struct HeaderDeadline {
    inner: Stream,
    timeout: Duration,
    phase: Phase,
    rearm: Rearm,
    /// Gathered writes, of which `sent` bytes have left.
    out: Vec<u8>,
    sent: usize,
}

impl fmt::Debug for HeaderDeadline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeaderDeadline")
            .field("inner", &self.inner)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl HeaderDeadline {
    /// Wraps a just-accepted stream; its first header is due `timeout` from now.
    pub(crate) fn new(inner: Stream, timeout: Duration, rearm: Rearm) -> Self {
        Self {
            inner,
            timeout,
            phase: Phase::Header {
                deadline: Some(Box::pin(tokio::time::sleep(timeout))),
                line: 0,
                lines: 0,
            },
            rearm,
            out: Vec::with_capacity(WRITE_BUFFER),
            sent: 0,
        }
    }

    /// Writes out what was gathered.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.out.len() {
            match Pin::new(&mut self.inner).poll_write(cx, &self.out[self.sent..]) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                Poll::Ready(Ok(n)) => self.sent += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        self.out.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

/// What a client whose header took too long is told before its connection closes.
const TIMEOUT_ANSWER: &[u8] = b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\ncontent-length: 72\r\nconnection: close\r\n\r\n{\"error\":{\"code\":\"request_timeout\",\"message\":\"request header too slow\"}}";

/// Tells the client its header took too long (408, best effort: one write that does not
/// wait), and gives the error that makes pingora close the connection.
fn answer_timeout(inner: &mut Stream, cx: &mut Context<'_>) -> io::Error {
    if let Poll::Ready(Ok(_)) = Pin::new(&mut *inner).poll_write(cx, TIMEOUT_ANSWER) {
        let _flushed = Pin::new(&mut *inner).poll_flush(cx);
    }
    io::Error::new(io::ErrorKind::TimedOut, "request header timeout")
}

/// Scans `bytes` of a header; true when they hold its end (an empty line after a request
/// line). Bare `\n` line ends are accepted, as httparse does.
fn scan(bytes: &[u8], line: &mut usize, lines: &mut usize) -> bool {
    for &b in bytes {
        match b {
            b'\n' => {
                if *line == 0 && *lines > 0 {
                    return true;
                }
                if *line > 0 {
                    *lines += 1;
                }
                *line = 0;
            }
            b'\r' => {}
            _ => *line += 1,
        }
    }
    false
}

impl AsyncRead for HeaderDeadline {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.rearm.0.swap(false, Ordering::AcqRel) {
            this.phase = Phase::Header {
                deadline: None,
                line: 0,
                lines: 0,
            };
        }
        let Phase::Header {
            deadline,
            line,
            lines,
        } = &mut this.phase
        else {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        };
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Pending => {
                if let Some(sleep) = deadline
                    && sleep.as_mut().poll(cx).is_ready()
                {
                    return Poll::Ready(Err(answer_timeout(&mut this.inner, cx)));
                }
                Poll::Pending
            }
            Poll::Ready(Ok(())) => {
                let fresh = &buf.filled()[before..];
                if fresh.is_empty() {
                    return Poll::Ready(Ok(()));
                }
                match deadline {
                    Some(sleep) if Instant::now() >= sleep.deadline() => {
                        return Poll::Ready(Err(answer_timeout(&mut this.inner, cx)));
                    }
                    Some(_) => {}
                    None => *deadline = Some(Box::pin(tokio::time::sleep(this.timeout))),
                }
                if scan(fresh, line, lines) {
                    this.phase = Phase::Body;
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        }
    }
}

impl AsyncWrite for HeaderDeadline {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.out.len() + buf.len() > WRITE_BUFFER {
            std::task::ready!(this.poll_drain(cx))?;
        }
        if buf.len() >= WRITE_BUFFER {
            return Pin::new(&mut this.inner).poll_write(cx, buf);
        }
        this.out.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[async_trait]
impl Shutdown for HeaderDeadline {
    async fn shutdown(&mut self) {
        let drained = std::future::poll_fn(|cx| self.poll_drain(cx)).await;
        if drained.is_ok() {
            self.inner.shutdown().await;
        }
    }
}

impl UniqueID for HeaderDeadline {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for HeaderDeadline {}

impl GetTimingDigest for HeaderDeadline {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.inner.get_timing_digest()
    }

    fn get_read_pending_time(&self) -> Duration {
        self.inner.get_read_pending_time()
    }

    fn get_write_pending_time(&self) -> Duration {
        self.inner.get_write_pending_time()
    }
}

impl GetProxyDigest for HeaderDeadline {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.inner.get_proxy_digest()
    }
}

impl GetSocketDigest for HeaderDeadline {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.inner.get_socket_digest()
    }
}

#[async_trait]
impl Peek for HeaderDeadline {}

#[cfg(test)]
mod tests {
    use super::{TIMEOUT_ANSWER, scan};

    #[test]
    fn the_timeout_answer_declares_its_body_length() {
        let text = std::str::from_utf8(TIMEOUT_ANSWER).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.contains(&format!("content-length: {}\r\n", body.len())),
            "{head}"
        );
        assert!(text.contains("\r\nconnection: close\r\n"), "{head}");
        assert!(is_error_envelope(body, "request_timeout"), "{body}");
    }

    /// The body is the error envelope: an object with `error.code`.
    fn is_error_envelope(body: &str, code: &str) -> bool {
        body.starts_with(&format!("{{\"error\":{{\"code\":\"{code}\"")) && body.ends_with("}}")
    }

    fn ends(chunks: &[&str]) -> bool {
        let (mut line, mut lines) = (0, 0);
        chunks
            .iter()
            .any(|c| scan(c.as_bytes(), &mut line, &mut lines))
    }

    #[test]
    fn the_empty_line_ends_a_header_across_chunks() {
        assert!(ends(&["GET / HTTP/1.1\r\nHost: a\r\n\r\n"]));
        assert!(ends(&["GET / HTTP/1.1\r\nHost: a\r", "\n\r", "\n"]));
        assert!(ends(&["GET / HTTP/1.1\nHost: a\n\n"]));
        assert!(!ends(&["GET / HTTP/1.1\r\nHost: a\r\n"]));
        assert!(!ends(&["\r\n\r\n", "GET / HTTP/1.1\r\n"]));
    }
}
