//! Publication: what of a mock is live, on the mock server and in DNS.
//!
//! Two independent state machines share one record:
//!
//! ```text
//! server:  offline ──request_publish──▶ publishing ──mark_published──▶ published
//!             ▲                          │    ▲                          │
//!             │                 mark_invalid  └──────request_publish─────┘
//!             │                          ▼
//!             └────── unpublish ──── invalid ──request_publish──▶ publishing
//!
//! dns:     offline ──dns_requested──▶ provisioning ──dns_published──▶ published
//!                                         │    ▲
//!                              dns_failed ▼    │ dns_requested (retry)
//!                                        failed
//!          any ──dns_removed──▶ offline
//! ```
//!
//! `live_revision` is the revision the mock server serves. An invalid edit leaves it alone,
//! so the last good version stays live; unpublishing clears it.
//!
//! The rules of what others must hear live here too: [`Publication::publish`] and
//! [`Publication::take_offline`] return the events a change implies (`publication.changed`,
//! and `domain.requested` or `domain.removed` for ops), nothing when nothing changed.

use serde::{Deserialize, Serialize};

use crate::{Diagnostic, EventKind, Host, MockId, Revision, Timestamp};

/// The mock server's side of a publication, as a status name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerStatus {
    /// Not served.
    Offline,
    /// The last publish attempt failed validation.
    Invalid,
    /// A publish is under way.
    Publishing,
    /// Served.
    Published,
}

impl ServerStatus {
    /// The status's name as shown (`offline`, `invalid`, `publishing`, `published`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Offline => "offline",
            Self::Invalid => "invalid",
            Self::Publishing => "publishing",
            Self::Published => "published",
        }
    }
}

/// The mock server's side of a publication, with the diagnostics of an invalid spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum ServerState {
    /// Not served.
    Offline,
    /// The last publish attempt failed validation; `live_revision` (if any) is still served.
    Invalid {
        /// Why, with positions.
        diagnostics: Vec<Diagnostic>,
    },
    /// A publish is under way.
    Publishing,
    /// Served.
    Published,
}

impl ServerState {
    /// The status without details.
    pub fn status(&self) -> ServerStatus {
        match self {
            Self::Offline => ServerStatus::Offline,
            Self::Invalid { .. } => ServerStatus::Invalid,
            Self::Publishing => ServerStatus::Publishing,
            Self::Published => ServerStatus::Published,
        }
    }
}

/// The DNS side of a publication, as a status name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DnsStatus {
    /// No record.
    Offline,
    /// Records being made or verified.
    Provisioning,
    /// The host resolves and answers.
    Published,
    /// Provisioning gave up.
    Failed,
}

impl DnsStatus {
    /// The status's name as shown (`offline`, `provisioning`, `published`, `failed`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Offline => "offline",
            Self::Provisioning => "provisioning",
            Self::Published => "published",
            Self::Failed => "failed",
        }
    }
}

/// The DNS side of a publication, with the reason of a failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum DnsState {
    /// No record.
    Offline,
    /// Records being made or verified.
    Provisioning,
    /// The host resolves and answers.
    Published,
    /// Provisioning gave up.
    Failed {
        /// Why, for a person.
        reason: String,
    },
}

impl DnsState {
    /// The status without details.
    pub fn status(&self) -> DnsStatus {
        match self {
            Self::Offline => DnsStatus::Offline,
            Self::Provisioning => DnsStatus::Provisioning,
            Self::Published => DnsStatus::Published,
            Self::Failed { .. } => DnsStatus::Failed,
        }
    }
}

/// Why a publication transition was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublicationError {
    /// The server side is not in a state this move starts from.
    #[error("cannot {action} while the server status is {from:?}")]
    Server {
        /// The attempted move.
        action: &'static str,
        /// Where the publication was.
        from: ServerStatus,
    },
    /// The DNS side is not in a state this move starts from.
    #[error("cannot {action} while the dns status is {from:?}")]
    Dns {
        /// The attempted move.
        action: &'static str,
        /// Where the publication was.
        from: DnsStatus,
    },
    /// The outcome is for another revision than the one being published.
    #[error("the outcome is for revision {got}, but revision {expected} is being published")]
    StaleRevision {
        /// The revision being published.
        expected: Revision,
        /// The revision the outcome is about.
        got: Revision,
    },
    /// An invalid outcome must say why.
    #[error("an invalid spec needs at least one diagnostic")]
    NoDiagnostics,
    /// A failure must say why.
    #[error("a dns failure needs a reason")]
    NoReason,
}

/// What of a mock is live, and what is under way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Publication {
    /// Whose.
    pub mock_id: MockId,
    /// The mock server's side.
    pub server: ServerState,
    /// The DNS side.
    pub dns: DnsState,
    /// The revision being published, while `server` is publishing.
    pub requested_revision: Option<Revision>,
    /// The revision served, if any.
    pub live_revision: Option<Revision>,
    /// Bumped by every stored change; repositories use it to refuse lost updates.
    pub version: u64,
    /// When it last changed.
    pub updated_at: Timestamp,
}

impl Publication {
    /// A mock that was never published.
    pub fn new(mock_id: MockId, now: Timestamp) -> Self {
        Self {
            mock_id,
            server: ServerState::Offline,
            dns: DnsState::Offline,
            requested_revision: None,
            live_revision: None,
            version: 0,
            updated_at: now,
        }
    }

    /// Whether the mock server should serve `live_revision` now.
    pub fn is_live(&self) -> bool {
        self.live_revision.is_some() && self.server.status() != ServerStatus::Offline
    }

    /// Starts publishing `revision`, from any state: a first publish, a retry after an
    /// invalid spec, a new edit of a published mock, or a newer edit during a publish.
    ///
    /// # Errors
    /// [`PublicationError::StaleRevision`] when a newer revision is already being published
    /// or is live.
    pub fn request_publish(
        &mut self,
        revision: Revision,
        now: Timestamp,
    ) -> Result<(), PublicationError> {
        let newest = self.requested_revision.max(self.live_revision);
        if let Some(newest) = newest
            && revision < newest
        {
            return Err(PublicationError::StaleRevision {
                expected: newest,
                got: revision,
            });
        }
        self.server = ServerState::Publishing;
        self.requested_revision = Some(revision);
        self.touch(now);
        Ok(())
    }

    /// A user's request to serve `revision` of the mock at `host`, with what the other
    /// services must hear of it:
    ///
    /// - nothing, and no change, when `revision` is live already and settled;
    /// - `publication.changed` (for the generator), plus `domain.requested` (for ops) when
    ///   the host has no DNS yet or its provisioning failed.
    ///
    /// # Errors
    /// As [`Self::request_publish`].
    pub fn publish(
        &mut self,
        revision: Revision,
        host: &Host,
        now: Timestamp,
    ) -> Result<Vec<EventKind>, PublicationError> {
        if self.live_revision == Some(revision) && self.server == ServerState::Published {
            return Ok(Vec::new());
        }
        self.request_publish(revision, now)?;
        let mut events = vec![EventKind::PublicationChanged {
            mock_id: self.mock_id,
        }];
        if matches!(self.dns.status(), DnsStatus::Offline | DnsStatus::Failed) {
            events.push(EventKind::DomainRequested {
                mock_id: self.mock_id,
                host: host.clone(),
            });
        }
        Ok(events)
    }

    /// A user's request to take the mock at `host` out of service ([`Self::unpublish`]),
    /// with what the other services must hear: `publication.changed` and
    /// `domain.removed`, or nothing when it was offline already.
    pub fn take_offline(&mut self, host: &Host, now: Timestamp) -> Vec<EventKind> {
        if !self.unpublish(now) {
            return Vec::new();
        }
        vec![
            EventKind::PublicationChanged {
                mock_id: self.mock_id,
            },
            EventKind::DomainRemoved { host: host.clone() },
        ]
    }

    /// Records that `revision` validated and is now served.
    ///
    /// # Errors
    /// [`PublicationError::Server`] unless publishing; [`PublicationError::StaleRevision`]
    /// when `revision` is not the one being published.
    pub fn mark_published(
        &mut self,
        revision: Revision,
        now: Timestamp,
    ) -> Result<(), PublicationError> {
        self.check_outcome("mark published", revision)?;
        self.server = ServerState::Published;
        self.live_revision = Some(revision);
        self.requested_revision = None;
        self.touch(now);
        Ok(())
    }

    /// Records that `revision` failed validation. The live revision, if any, stays live.
    ///
    /// # Errors
    /// As [`Self::mark_published`], and [`PublicationError::NoDiagnostics`] when
    /// `diagnostics` is empty.
    pub fn mark_invalid(
        &mut self,
        revision: Revision,
        diagnostics: Vec<Diagnostic>,
        now: Timestamp,
    ) -> Result<(), PublicationError> {
        self.check_outcome("mark invalid", revision)?;
        if diagnostics.is_empty() {
            return Err(PublicationError::NoDiagnostics);
        }
        self.server = ServerState::Invalid { diagnostics };
        self.requested_revision = None;
        self.touch(now);
        Ok(())
    }

    /// Takes the mock out of service. Unpublishing an offline mock changes nothing.
    /// Returns whether anything changed.
    pub fn unpublish(&mut self, now: Timestamp) -> bool {
        if self.server == ServerState::Offline && self.live_revision.is_none() {
            return false;
        }
        self.server = ServerState::Offline;
        self.live_revision = None;
        self.requested_revision = None;
        self.touch(now);
        true
    }

    /// The host's records are being made (or made again after a failure).
    ///
    /// # Errors
    /// [`PublicationError::Dns`] when the host is published already.
    pub fn dns_requested(&mut self, now: Timestamp) -> Result<(), PublicationError> {
        match self.dns {
            DnsState::Offline | DnsState::Failed { .. } | DnsState::Provisioning => {
                self.dns = DnsState::Provisioning;
                self.touch(now);
                Ok(())
            }
            DnsState::Published => Err(self.dns_error("request dns")),
        }
    }

    /// The host resolves and answers.
    ///
    /// # Errors
    /// [`PublicationError::Dns`] unless provisioning.
    pub fn dns_published(&mut self, now: Timestamp) -> Result<(), PublicationError> {
        if self.dns != DnsState::Provisioning {
            return Err(self.dns_error("mark dns published"));
        }
        self.dns = DnsState::Published;
        self.touch(now);
        Ok(())
    }

    /// Provisioning gave up, with `reason`.
    ///
    /// # Errors
    /// [`PublicationError::Dns`] unless provisioning; [`PublicationError::NoReason`] for a
    /// blank reason.
    pub fn dns_failed(&mut self, reason: &str, now: Timestamp) -> Result<(), PublicationError> {
        if self.dns != DnsState::Provisioning {
            return Err(self.dns_error("mark dns failed"));
        }
        if reason.trim().is_empty() {
            return Err(PublicationError::NoReason);
        }
        self.dns = DnsState::Failed {
            reason: reason.trim().to_owned(),
        };
        self.touch(now);
        Ok(())
    }

    /// The host's records are gone. Returns whether anything changed.
    pub fn dns_removed(&mut self, now: Timestamp) -> bool {
        if self.dns == DnsState::Offline {
            return false;
        }
        self.dns = DnsState::Offline;
        self.touch(now);
        true
    }

    fn check_outcome(
        &self,
        action: &'static str,
        revision: Revision,
    ) -> Result<(), PublicationError> {
        if self.server != ServerState::Publishing {
            return Err(PublicationError::Server {
                action,
                from: self.server.status(),
            });
        }
        match self.requested_revision {
            Some(expected) if expected != revision => Err(PublicationError::StaleRevision {
                expected,
                got: revision,
            }),
            _ => Ok(()),
        }
    }

    fn dns_error(&self, action: &'static str) -> PublicationError {
        PublicationError::Dns {
            action,
            from: self.dns.status(),
        }
    }

    fn touch(&mut self, now: Timestamp) {
        self.updated_at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(n: u64) -> Revision {
        Revision::new(n).unwrap()
    }

    fn t(ms: i64) -> Timestamp {
        Timestamp::from_unix_millis(ms)
    }

    fn fresh() -> Publication {
        Publication::new(MockId::from_uuid(uuid::Uuid::from_u128(1)), t(0))
    }

    fn diag() -> Vec<Diagnostic> {
        vec![Diagnostic::error(2, 3, "bad")]
    }

    fn host() -> Host {
        Host::new(
            &crate::MockName::parse("shop").unwrap(),
            &crate::Handle::parse("alice").unwrap(),
            &crate::Zone::parse("moclojer.test").unwrap(),
        )
    }

    #[test]
    fn a_publish_says_who_must_hear_it() {
        let mut p = fresh();
        let first = p.publish(r(1), &host(), t(1)).unwrap();
        assert_eq!(
            first,
            [
                EventKind::PublicationChanged { mock_id: p.mock_id },
                EventKind::DomainRequested {
                    mock_id: p.mock_id,
                    host: host()
                }
            ]
        );
        p.mark_published(r(1), t(2)).unwrap();
        assert_eq!(p.publish(r(1), &host(), t(3)), Ok(vec![]), "live already");
        assert_eq!(p.updated_at, t(2), "nothing changed");

        p.dns_requested(t(4)).unwrap();
        p.dns_published(t(5)).unwrap();
        let edit = p.publish(r(2), &host(), t(6)).unwrap();
        assert_eq!(
            edit,
            [EventKind::PublicationChanged { mock_id: p.mock_id }],
            "the host has DNS already"
        );
        p.mark_published(r(2), t(7)).unwrap();
        p.dns_removed(t(8));
        p.dns_requested(t(8)).unwrap();
        p.dns_failed("no", t(9)).unwrap();
        let retry = p.publish(r(3), &host(), t(10)).unwrap();
        assert_eq!(
            retry.len(),
            2,
            "a failed host is asked for again: {retry:?}"
        );
        assert!(
            p.publish(r(2), &host(), t(11)).is_err(),
            "an older revision"
        );
    }

    #[test]
    fn taking_offline_says_who_must_hear_it() {
        let mut p = fresh();
        assert_eq!(p.take_offline(&host(), t(1)), [], "offline already");
        p.publish(r(1), &host(), t(2)).unwrap();
        p.mark_published(r(1), t(3)).unwrap();
        assert_eq!(
            p.take_offline(&host(), t(4)),
            [
                EventKind::PublicationChanged { mock_id: p.mock_id },
                EventKind::DomainRemoved { host: host() }
            ]
        );
        assert!(!p.is_live());
        assert_eq!(p.take_offline(&host(), t(5)), []);
    }

    #[test]
    fn the_happy_path() {
        let mut p = fresh();
        assert!(!p.is_live());
        p.request_publish(r(1), t(1)).unwrap();
        assert_eq!(p.server.status(), ServerStatus::Publishing);
        p.mark_published(r(1), t(2)).unwrap();
        assert_eq!(p.server, ServerState::Published);
        assert_eq!(p.live_revision, Some(r(1)));
        assert!(p.is_live());
        assert_eq!(p.updated_at, t(2));
    }

    #[test]
    fn an_invalid_edit_keeps_the_last_good_revision_live() {
        let mut p = fresh();
        p.request_publish(r(1), t(1)).unwrap();
        p.mark_published(r(1), t(2)).unwrap();
        p.request_publish(r(2), t(3)).unwrap();
        p.mark_invalid(r(2), diag(), t(4)).unwrap();
        assert_eq!(p.server.status(), ServerStatus::Invalid);
        assert_eq!(p.live_revision, Some(r(1)));
        assert!(p.is_live());
        // and a fix publishes again
        p.request_publish(r(3), t(5)).unwrap();
        p.mark_published(r(3), t(6)).unwrap();
        assert_eq!(p.live_revision, Some(r(3)));
    }

    #[test]
    fn illegal_server_moves_are_refused() {
        // (setup steps, attempted move, expected error)
        let offline = fresh();
        let mut published = fresh();
        published.request_publish(r(1), t(1)).unwrap();
        published.mark_published(r(1), t(1)).unwrap();
        let mut invalid = fresh();
        invalid.request_publish(r(1), t(1)).unwrap();
        invalid.mark_invalid(r(1), diag(), t(1)).unwrap();

        for (name, start, from) in [
            ("offline", &offline, ServerStatus::Offline),
            ("published", &published, ServerStatus::Published),
            ("invalid", &invalid, ServerStatus::Invalid),
        ] {
            let mut p = start.clone();
            assert_eq!(
                p.mark_published(r(1), t(9)),
                Err(PublicationError::Server {
                    action: "mark published",
                    from
                }),
                "{name}"
            );
            assert_eq!(
                p.mark_invalid(r(1), diag(), t(9)),
                Err(PublicationError::Server {
                    action: "mark invalid",
                    from
                }),
                "{name}"
            );
            assert_eq!(&p, start, "{name}: a refused move changes nothing");
        }
    }

    #[test]
    fn outcomes_for_other_revisions_are_refused() {
        let mut p = fresh();
        p.request_publish(r(2), t(1)).unwrap();
        assert_eq!(
            p.mark_published(r(1), t(2)),
            Err(PublicationError::StaleRevision {
                expected: r(2),
                got: r(1)
            })
        );
        assert_eq!(
            p.mark_invalid(r(3), diag(), t(2)),
            Err(PublicationError::StaleRevision {
                expected: r(2),
                got: r(3)
            })
        );
        assert_eq!(
            p.mark_invalid(r(2), vec![], t(2)),
            Err(PublicationError::NoDiagnostics)
        );
        // an older revision cannot be requested over a newer one
        assert_eq!(
            p.request_publish(r(1), t(3)),
            Err(PublicationError::StaleRevision {
                expected: r(2),
                got: r(1)
            })
        );
        p.mark_published(r(2), t(4)).unwrap();
        assert_eq!(
            p.request_publish(r(1), t(5)),
            Err(PublicationError::StaleRevision {
                expected: r(2),
                got: r(1)
            })
        );
        p.request_publish(r(2), t(6)).unwrap();
    }

    #[test]
    fn unpublish_takes_it_out_of_service() {
        let mut p = fresh();
        assert!(!p.unpublish(t(1)), "offline stays offline");
        p.request_publish(r(1), t(1)).unwrap();
        p.mark_published(r(1), t(2)).unwrap();
        assert!(p.unpublish(t(3)));
        assert_eq!(p.server, ServerState::Offline);
        assert_eq!(p.live_revision, None);
        assert!(!p.is_live());
        // an invalid mock with a live revision is also taken out
        let mut q = fresh();
        q.request_publish(r(1), t(1)).unwrap();
        q.mark_published(r(1), t(1)).unwrap();
        q.request_publish(r(2), t(1)).unwrap();
        q.mark_invalid(r(2), diag(), t(1)).unwrap();
        assert!(q.unpublish(t(2)));
        assert!(!q.is_live());
    }

    #[test]
    fn dns_moves() {
        let mut p = fresh();
        assert_eq!(
            p.dns_published(t(1)),
            Err(PublicationError::Dns {
                action: "mark dns published",
                from: DnsStatus::Offline
            })
        );
        assert_eq!(
            p.dns_failed("x", t(1)),
            Err(PublicationError::Dns {
                action: "mark dns failed",
                from: DnsStatus::Offline
            })
        );
        p.dns_requested(t(1)).unwrap();
        assert_eq!(p.dns_failed("  ", t(2)), Err(PublicationError::NoReason));
        p.dns_failed("record refused: 429", t(2)).unwrap();
        assert_eq!(
            p.dns,
            DnsState::Failed {
                reason: "record refused: 429".to_owned()
            }
        );
        p.dns_requested(t(3)).unwrap();
        p.dns_published(t(4)).unwrap();
        assert_eq!(
            p.dns_requested(t(5)),
            Err(PublicationError::Dns {
                action: "request dns",
                from: DnsStatus::Published
            })
        );
        assert!(p.dns_removed(t(6)));
        assert!(!p.dns_removed(t(7)));
        assert_eq!(p.dns.status(), DnsStatus::Offline);
    }

    #[test]
    fn json_shape_matches_the_api_contract() {
        let mut p = fresh();
        p.request_publish(r(1), t(1)).unwrap();
        p.mark_invalid(r(1), diag(), t(2)).unwrap();
        p.dns_requested(t(3)).unwrap();
        p.dns_failed("nope", t(4)).unwrap();
        let server = serde_json::to_value(&p.server).unwrap();
        assert_eq!(server["status"], "invalid");
        assert_eq!(server["diagnostics"][0]["line"], 2);
        assert_eq!(
            serde_json::to_value(&p.dns).unwrap(),
            serde_json::json!({"status": "failed", "reason": "nope"})
        );
        let back: Publication = serde_json::from_value(serde_json::to_value(&p).unwrap()).unwrap();
        assert_eq!(back, p);
    }
}
