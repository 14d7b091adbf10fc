//! Connection caps: how many client connections the proxy holds at once, in all and per
//! client. A client is its IPv4 address, or the /64 of its IPv6 address (one host usually
//! holds a whole /64, so counting single IPv6 addresses would cap nothing).
//!
//! A connection over a cap is turned away with a small JSON answer (503 over the total,
//! 429 over the client's share) and closed; it never reaches pingora.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_client: HashMap<IpAddr, usize>,
}

/// The open client connections, counted against the caps.
#[derive(Debug, Clone)]
pub(crate) struct Slots {
    counts: Arc<Mutex<Counts>>,
    max_total: usize,
    max_per_client: usize,
    /// Connections being turned away right now (each for at most [`TURN_AWAY_TIME`]).
    turning_away: Arc<AtomicUsize>,
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Full {
    /// The proxy holds its total of connections: 503.
    Total,
    /// This client holds its share: 429.
    Client,
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub(crate) struct Slot {
    counts: Arc<Mutex<Counts>>,
    client: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_client.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                counts.per_client.remove(&self.client);
            }
        }
    }
}

/// The key a client is counted under.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        v4 => v4,
    }
}

/// Most connections turned away at once; more are closed without an answer.
const MAX_TURNING_AWAY: usize = 256;
/// How long a turned-away connection may take to get its answer and close.
const TURN_AWAY_TIME: Duration = Duration::from_secs(1);

impl Slots {
    pub(crate) fn new(max_total: usize, max_per_client: usize) -> Self {
        Self {
            counts: Arc::default(),
            max_total: max_total.max(1),
            max_per_client: max_per_client.max(1),
            turning_away: Arc::default(),
        }
    }

    /// A place for a connection from `ip`, or why there is none.
    pub(crate) fn admit(&self, ip: IpAddr) -> Result<Slot, Full> {
        let client = client_key(ip);
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if counts.total >= self.max_total {
            return Err(Full::Total);
        }
        let held = counts.per_client.entry(client).or_default();
        if *held >= self.max_per_client {
            return Err(Full::Client);
        }
        *held += 1;
        counts.total += 1;
        Ok(Slot {
            counts: Arc::clone(&self.counts),
            client,
        })
    }

    /// Answers `tcp` with the refusal for `full` and closes it, in the background and
    /// within [`TURN_AWAY_TIME`]; past [`MAX_TURNING_AWAY`] at once it is closed at once.
    pub(crate) fn turn_away(&self, tcp: TcpStream, full: Full) {
        if self.turning_away.fetch_add(1, Ordering::AcqRel) >= MAX_TURNING_AWAY {
            self.turning_away.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        let turning_away = Arc::clone(&self.turning_away);
        tokio::spawn(async move {
            let answered = tokio::time::timeout(TURN_AWAY_TIME, answer(tcp, full)).await;
            if answered.is_err() {
                tracing::debug!("a turned-away client did not take its answer in time");
            }
            turning_away.fetch_sub(1, Ordering::AcqRel);
        });
    }
}

/// The response for a connection over a cap.
pub(crate) fn refusal(full: Full) -> Vec<u8> {
    let (status, code, message) = match full {
        Full::Total => (
            "503 Service Unavailable",
            "unavailable",
            "the proxy is at its connection limit",
        ),
        Full::Client => (
            "429 Too Many Requests",
            "too_many_connections",
            "too many connections from this client",
        ),
    };
    let body = format!(r#"{{"error":{{"code":"{code}","message":"{message}"}}}}"#);
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         retry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Writes the refusal, ends the sending side, and reads (and drops) what the client sent
/// until it closes: closing with unread bytes would reset the connection, and the client
/// could lose the answer.
async fn answer(mut tcp: TcpStream, full: Full) -> std::io::Result<()> {
    tcp.write_all(&refusal(full)).await?;
    tcp.shutdown().await?;
    let mut sink = [0u8; 4096];
    let mut read = 0;
    while read < 64 * 1024 {
        match tcp.read(&mut sink).await? {
            0 => break,
            n => read += n,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn each_client_has_its_share_and_all_have_the_total() {
        let slots = Slots::new(3, 2);
        let a1 = slots.admit(ip("10.0.0.1")).unwrap();
        let _a2 = slots.admit(ip("10.0.0.1")).unwrap();
        assert_eq!(slots.admit(ip("10.0.0.1")).unwrap_err(), Full::Client);
        let _b1 = slots.admit(ip("10.0.0.2")).unwrap();
        assert_eq!(slots.admit(ip("10.0.0.3")).unwrap_err(), Full::Total);
        drop(a1);
        let _a3 = slots.admit(ip("10.0.0.1")).unwrap();
        assert_eq!(slots.admit(ip("10.0.0.1")).unwrap_err(), Full::Total);
    }

    #[test]
    fn freed_places_are_forgotten() {
        let slots = Slots::new(10, 1);
        for _ in 0..3 {
            let slot = slots.admit(ip("10.0.0.1")).unwrap();
            drop(slot);
        }
        let counts = slots.counts.lock().unwrap();
        assert_eq!(counts.total, 0);
        assert!(counts.per_client.is_empty());
    }

    #[test]
    fn an_ipv6_client_is_its_64_and_a_mapped_ipv4_is_the_ipv4() {
        let slots = Slots::new(10, 1);
        let _a = slots.admit(ip("2001:db8:1:2::1")).unwrap();
        assert_eq!(
            slots.admit(ip("2001:db8:1:2:ffff::9")).unwrap_err(),
            Full::Client
        );
        let _other64 = slots.admit(ip("2001:db8:1:3::1")).unwrap();
        let _v4 = slots.admit(ip("192.0.2.7")).unwrap();
        assert_eq!(
            slots.admit(ip("::ffff:192.0.2.7")).unwrap_err(),
            Full::Client
        );
    }

    #[test]
    fn refusals_declare_their_body_length() {
        for full in [Full::Total, Full::Client] {
            let text = String::from_utf8(refusal(full)).unwrap();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            assert!(
                head.contains(&format!("content-length: {}\r\n", body.len())),
                "{head}"
            );
            assert!(body.starts_with(r#"{"error":{"code":""#), "{body}");
        }
    }
}
