//! `--wait`: until every pushed mock's host answers its new revision (and every pruned
//! one's host stops answering), or the timeout passes (exit 6).
//!
//! A mock is live when two things hold: its publication (`GET /mocks/{id}/publication`)
//! says the server side is `published` at that revision or a newer one, and its host,
//! asked at the URL the api gives with the header `x-moclojer-probe: 1`, answers 204 —
//! the mock server's own answer for a host it serves, whatever the mock's routes are
//! (ops verifies hosts the same way). A revision the generator refuses ends the wait
//! with its findings (exit 2); a host whose DNS failed ends it too (exit 5).
//!
//! Progress goes to stderr: a spinner with the elapsed time when stderr is a terminal,
//! plain lines otherwise (one per mock that arrives, and a "still waiting" line every
//! few seconds), so CI logs stay readable.

use moclojer_ports::{PROBE_HEADER, REVISION_HEADER};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::api::{Api, http_client};
use crate::diagnostics;
use crate::exit::{CtlResult, Exit, Failure};
use crate::mocks::Publication;
use crate::out;

/// How often the publication and the host are asked.
const POLL: Duration = Duration::from_millis(200);

/// How often a plain-lines progress says it is still waiting.
const STILL_WAITING_EVERY: Duration = Duration::from_secs(5);

/// How long one probe of a host may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// What to wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Goal {
    /// The host answers this revision (or a newer one).
    Live(u64),
    /// The host no longer answers.
    Offline,
}

/// One mock to wait for.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// What findings and progress call it: the file it came from, or its name.
    pub(crate) label: String,
    /// The mock's id.
    pub(crate) id: String,
    /// Where its host answers.
    pub(crate) url: String,
    /// What to wait for.
    pub(crate) goal: Goal,
}

/// How long one target took to arrive.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Arrived {
    /// The mock's id.
    pub(crate) id: String,
    /// Seconds from the start of the wait.
    pub(crate) seconds: f64,
}

enum Check {
    Done,
    Pending(String),
}

/// Waits for every target, at most `timeout`; how long each took.
///
/// # Errors
/// Exit 6 when `timeout` passes first; exit 2 when the generator refuses a revision;
/// exit 5 when a host's DNS failed or the api fails.
pub(crate) async fn wait(
    api: &Api,
    targets: Vec<Target>,
    timeout: Duration,
) -> CtlResult<Vec<Arrived>> {
    let probe = http_client()?;
    let mut progress = Progress::start(&targets, timeout);
    let mut pending: Vec<(Target, String)> = targets
        .into_iter()
        .map(|t| (t, "not asked yet".to_owned()))
        .collect();
    let mut arrived = Vec::new();
    loop {
        let mut still = Vec::new();
        for (target, _) in pending {
            match check(api, &probe, &target).await {
                Ok(Check::Done) => {
                    let elapsed = progress.arrived(&target);
                    arrived.push(Arrived {
                        id: target.id.clone(),
                        seconds: elapsed.as_secs_f64(),
                    });
                }
                Ok(Check::Pending(state)) => still.push((target, state)),
                Err(failure) => {
                    progress.clear();
                    return Err(failure);
                }
            }
        }
        pending = still;
        if pending.is_empty() {
            progress.clear();
            return Ok(arrived);
        }
        if progress.started.elapsed() >= timeout {
            progress.clear();
            return Err(Failure::new(
                Exit::Timeout,
                format!(
                    "--wait: not there within {}s: {}",
                    timeout.as_secs(),
                    describe(&pending)
                ),
            ));
        }
        progress.tick(&pending);
        tokio::time::sleep(POLL).await;
    }
}

fn describe(pending: &[(Target, String)]) -> String {
    pending
        .iter()
        .map(|(t, state)| format!("{} ({state})", t.label))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where `target` is now.
async fn check(api: &Api, probe: &reqwest::Client, target: &Target) -> CtlResult<Check> {
    let publication: Publication = api
        .get(&format!("/mocks/{}/publication", target.id))
        .await?;
    let Goal::Live(revision) = target.goal else {
        if publication.server.status != "offline" {
            return Ok(Check::Pending(publication.describe()));
        }
        return Ok(
            match probe_host(probe, &target.url).await.map(|p| p.status) {
                Some(404) | None => Check::Done,
                Some(status) => Check::Pending(format!("its host still answers ({status})")),
            },
        );
    };
    if publication.serves(revision) {
        return Ok(match probe_host(probe, &target.url).await {
            // A server that names the revision it serves must serve this one or a newer.
            Some(Probe {
                status: 204,
                revision: Some(served),
            }) if served < revision => Check::Pending(format!(
                "revision {revision} published; its host still serves revision {served}"
            )),
            Some(Probe { status: 204, .. }) => Check::Done,
            Some(Probe { status, .. }) => Check::Pending(format!(
                "revision {revision} published; its host answers {status} so far"
            )),
            None => Check::Pending(format!(
                "revision {revision} published; its host cannot be reached yet"
            )),
        });
    }
    if publication.server.status == "invalid" && publication.requested_revision.is_none() {
        let findings = publication.server.diagnostics.unwrap_or_default();
        diagnostics::report(&target.label, &findings);
        return Err(Failure::invalid(format!(
            "{}: revision {revision} was refused when published",
            target.label
        )));
    }
    if publication.dns.status == "failed" {
        return Err(Failure::server(format!(
            "{}: its host's DNS failed: {}",
            target.label,
            publication.dns.reason.unwrap_or_default()
        )));
    }
    if publication.server.status == "offline" {
        return Err(Failure::server(format!(
            "{}: it was unpublished meanwhile",
            target.label
        )));
    }
    Ok(Check::Pending(publication.describe()))
}

/// What a host answered to a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Probe {
    status: u16,
    /// The revision it serves, when the mock server names it (`x-moclojer-revision`).
    revision: Option<u64>,
}

/// The answer to `GET <url>/` with the probe header, or `None` without one.
async fn probe_host(http: &reqwest::Client, url: &str) -> Option<Probe> {
    let url = format!("{}/", url.trim_end_matches('/'));
    let response = http
        .get(url)
        .header(PROBE_HEADER, "1")
        .timeout(PROBE_TIMEOUT)
        .send()
        .await
        .ok()?;
    let revision = response
        .headers()
        .get(REVISION_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    Some(Probe {
        status: response.status().as_u16(),
        revision,
    })
}

/// Progress on stderr.
struct Progress {
    tty: bool,
    started: Instant,
    said_at: Instant,
    frame: usize,
    total: usize,
    done: usize,
}

const SPINNER: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

impl Progress {
    fn start(targets: &[Target], timeout: Duration) -> Self {
        let tty = std::io::stderr().is_terminal();
        if !tty {
            let labels: Vec<&str> = targets.iter().map(|t| t.label.as_str()).collect();
            out::note(&format!(
                "waiting for {} mock(s), at most {}s: {}",
                targets.len(),
                timeout.as_secs(),
                labels.join(", ")
            ));
        }
        let now = Instant::now();
        Self {
            tty,
            started: now,
            said_at: now,
            frame: 0,
            total: targets.len(),
            done: 0,
        }
    }

    fn tick(&mut self, pending: &[(Target, String)]) {
        let elapsed = self.started.elapsed().as_secs_f64();
        if self.tty {
            self.frame = (self.frame + 1) % SPINNER.len();
            let labels: Vec<&str> = pending.iter().map(|(t, _)| t.label.as_str()).collect();
            out::note_inline(&format!(
                "\r\x1b[K{} waiting for {} ({}/{} done) {elapsed:.1}s",
                SPINNER[self.frame],
                labels.join(", "),
                self.done,
                self.total
            ));
        } else if self.said_at.elapsed() >= STILL_WAITING_EVERY {
            self.said_at = Instant::now();
            out::note(&format!(
                "still waiting ({elapsed:.0}s): {}",
                describe(pending)
            ));
        }
    }

    /// Says `target` arrived; how long it took.
    fn arrived(&mut self, target: &Target) -> Duration {
        let elapsed = self.started.elapsed();
        self.done += 1;
        self.clear();
        let what = match target.goal {
            Goal::Live(revision) => format!(
                "live: {} revision {revision} at {}",
                target.label, target.url
            ),
            Goal::Offline => format!("offline: {} no longer answers", target.label),
        };
        out::note(&format!("{what} ({:.1}s)", elapsed.as_secs_f64()));
        elapsed
    }

    fn clear(&self) {
        if self.tty {
            out::note_inline("\r\x1b[K");
        }
    }
}
