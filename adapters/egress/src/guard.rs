//! The destination check, and the reqwest resolver that pins connections to checked
//! addresses.
//!
//! reqwest asks [`PinnedResolve`] for the addresses of every host name it connects to.
//! `PinnedResolve` resolves the name once, checks every answer, and hands back exactly the
//! checked addresses, so the address that was checked is the address that is connected to
//! (no DNS rebinding between check and connect). reqwest does not call a resolver for
//! IP-literal hosts, so [`Guard::check_literal`] is called for those before sending.

use std::error::Error;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use crate::classify::classify;
use crate::config::{AllowRule, EgressConfig, Policy, normalize_host};
use crate::error::EgressError;
use crate::resolve::Resolver;

/// The policy part of the configuration, shared by [`crate::Egress`] and [`PinnedResolve`].
#[derive(Debug)]
pub(crate) struct Guard {
    policy: Policy,
    allow: Vec<AllowRule>,
}

impl Guard {
    pub(crate) fn new(config: &EgressConfig) -> Self {
        Self {
            policy: config.policy,
            allow: config.allow.clone(),
        }
    }

    /// Checks a URL whose host is the IP literal `addr` (written `host` in the URL).
    pub(crate) fn check_literal(&self, host: &str, addr: IpAddr) -> Result<(), EgressError> {
        match self.policy {
            Policy::Open => Ok(()),
            Policy::Strict => self.check_addr(host, addr),
        }
    }

    /// Resolves `host` and checks every answer; returns the addresses to connect to, with
    /// port 0 so that the URL's port is used.
    pub(crate) async fn resolve(
        &self,
        resolver: &dyn Resolver,
        host: &str,
    ) -> Result<Vec<SocketAddr>, EgressError> {
        let name = normalize_host(host);
        let unchecked =
            self.policy == Policy::Open || self.allow.iter().any(|rule| rule.matches_name(&name));
        let addrs: Vec<IpAddr> = if is_localhost(&name) {
            // RFC 6761: these names are the loopback interface, whatever DNS says.
            vec![
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ]
        } else {
            if !unchecked {
                check_name(host, &name)?;
            }
            let answers = resolver
                .resolve(host, 0)
                .await
                .map_err(|err| EgressError::Resolve(format!("{host}: {err}")))?;
            answers.iter().map(SocketAddr::ip).collect()
        };
        if addrs.is_empty() {
            return Err(EgressError::Resolve(format!("{host}: no address found")));
        }
        if !unchecked {
            // Every answer must pass, not just the first: a mixed answer (one public, one
            // private address) is refused as a whole.
            for addr in &addrs {
                self.check_addr(host, *addr)?;
            }
        }
        Ok(addrs
            .into_iter()
            .map(|addr| SocketAddr::new(addr, 0))
            .collect())
    }

    fn check_addr(&self, host: &str, addr: IpAddr) -> Result<(), EgressError> {
        if self.allow.iter().any(|rule| rule.matches_addr(addr)) {
            return Ok(());
        }
        match classify(addr) {
            None => Ok(()),
            Some(reason) => {
                tracing::debug!(host, %addr, reason, "egress refused");
                Err(EgressError::Refused {
                    host: host.to_owned(),
                    addr,
                    reason,
                })
            }
        }
    }
}

fn is_localhost(name: &str) -> bool {
    name == "localhost" || name.ends_with(".localhost")
}

/// Names refused under [`Policy::Strict`] before any lookup.
fn check_name(host: &str, name: &str) -> Result<(), EgressError> {
    let reason = if !name.contains('.') {
        "single-label host names are not allowed (they resolve through local search domains)"
    } else if name.ends_with(".internal") {
        "names under .internal are private to a network and not allowed"
    } else {
        return Ok(());
    };
    tracing::debug!(host, reason, "egress refused");
    Err(EgressError::RefusedHost {
        host: host.to_owned(),
        reason,
    })
}

/// The resolver installed in the reqwest client.
#[derive(Debug)]
pub(crate) struct PinnedResolve {
    pub(crate) guard: Arc<Guard>,
    pub(crate) resolver: Arc<dyn Resolver>,
}

impl reqwest::dns::Resolve for PinnedResolve {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = Arc::clone(&self.guard);
        let resolver = Arc::clone(&self.resolver);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            match guard.resolve(resolver.as_ref(), &host).await {
                Ok(addrs) => Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs),
                Err(err) => Err(Box::new(GuardFailure(err)) as Box<dyn Error + Send + Sync>),
            }
        })
    }
}

/// Carries an [`EgressError`] through reqwest's error chain, to be found again by
/// [`find_guard_failure`].
#[derive(Debug)]
struct GuardFailure(EgressError);

impl fmt::Display for GuardFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Error for GuardFailure {}

/// The guard's own error, if `err` (or one of its sources) came from [`PinnedResolve`].
pub(crate) fn find_guard_failure(err: &(dyn Error + 'static)) -> Option<EgressError> {
    let mut current = Some(err);
    while let Some(err) = current {
        if let Some(GuardFailure(inner)) = err.downcast_ref::<GuardFailure>() {
            return Some(inner.clone());
        }
        current = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::io;
    use std::sync::Mutex;

    use super::*;
    use crate::resolve::BoxFuture;

    /// Answers from a fixed table and remembers every name asked. Never touches the network.
    #[derive(Debug, Default)]
    struct TableResolver {
        table: HashMap<&'static str, Vec<&'static str>>,
        asked: Mutex<Vec<String>>,
    }

    impl TableResolver {
        fn with(entries: &[(&'static str, &[&'static str])]) -> Self {
            Self {
                table: entries
                    .iter()
                    .map(|(name, addrs)| (*name, addrs.to_vec()))
                    .collect(),
                asked: Mutex::default(),
            }
        }

        fn asked(&self) -> Vec<String> {
            self.asked.lock().expect("lock").clone()
        }
    }

    impl Resolver for TableResolver {
        fn resolve(&self, host: &str, port: u16) -> BoxFuture<'_, io::Result<Vec<SocketAddr>>> {
            self.asked.lock().expect("lock").push(host.to_owned());
            let answer = match self.table.get(host) {
                Some(addrs) => Ok(addrs
                    .iter()
                    .map(|addr| SocketAddr::new(addr.parse().expect("test address"), port))
                    .collect()),
                None => Err(io::Error::new(io::ErrorKind::NotFound, "no such host")),
            };
            Box::pin(async move { answer })
        }
    }

    fn guard(policy: Policy, allow: &[&str]) -> Guard {
        Guard::new(&EgressConfig {
            policy,
            allow: allow
                .iter()
                .map(|rule| rule.parse().expect("test rule"))
                .collect(),
            ..EgressConfig::default()
        })
    }

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(future)
    }

    fn refused_addr(result: Result<Vec<SocketAddr>, EgressError>) -> (IpAddr, &'static str) {
        match result {
            Err(EgressError::Refused { addr, reason, .. }) => (addr, reason),
            other => panic!("expected Refused, got {other:?}"),
        }
    }

    #[test]
    fn a_mixed_answer_is_refused_as_a_whole() {
        let resolver = TableResolver::with(&[
            ("mixed.test", &["8.8.8.8", "10.0.0.1"]),
            ("mixed6.test", &["2606:4700:4700::1111", "fe80::1"]),
        ]);
        let strict = guard(Policy::Strict, &[]);
        let (addr, reason) = refused_addr(block_on(strict.resolve(&resolver, "mixed.test")));
        assert_eq!((addr.to_string().as_str(), reason), ("10.0.0.1", "private"));
        let (addr, reason) = refused_addr(block_on(strict.resolve(&resolver, "mixed6.test")));
        assert_eq!(
            (addr.to_string().as_str(), reason),
            ("fe80::1", "link-local")
        );
    }

    #[test]
    fn public_answers_pass_with_port_zero() {
        let resolver = TableResolver::with(&[("public.test", &["8.8.8.8", "2606:4700::1"])]);
        let addrs = block_on(guard(Policy::Strict, &[]).resolve(&resolver, "public.test"))
            .expect("public addresses pass");
        let expected: Vec<SocketAddr> = vec![
            "8.8.8.8:0".parse().expect("test address"),
            "[2606:4700::1]:0".parse().expect("test address"),
        ];
        assert_eq!(addrs, expected);
    }

    #[test]
    fn localhost_names_never_reach_the_resolver() {
        let resolver = TableResolver::with(&[("localhost", &["8.8.8.8"])]);
        let strict = guard(Policy::Strict, &[]);
        for name in ["localhost", "LOCALHOST.", "app.localhost"] {
            let (addr, reason) = refused_addr(block_on(strict.resolve(&resolver, name)));
            assert_eq!(
                (addr, reason),
                (IpAddr::V4(Ipv4Addr::LOCALHOST), "loopback")
            );
        }
        let open = block_on(guard(Policy::Open, &[]).resolve(&resolver, "localhost"))
            .expect("open allows localhost");
        assert_eq!(open.len(), 2);
        assert!(open.iter().all(|addr| addr.ip().is_loopback()));
        assert!(resolver.asked().is_empty());
    }

    #[test]
    fn suspicious_names_are_refused_before_any_lookup() {
        let resolver = TableResolver::with(&[
            ("metadata", &["8.8.8.8"]),
            ("metadata.google.internal", &["8.8.8.8"]),
        ]);
        let strict = guard(Policy::Strict, &[]);
        for name in ["metadata", "metadata.google.internal", "db.internal."] {
            let result = block_on(strict.resolve(&resolver, name));
            assert!(
                matches!(result, Err(EgressError::RefusedHost { .. })),
                "{name}: {result:?}"
            );
        }
        assert!(resolver.asked().is_empty());
        // An allow rule lifts the name check, then the address check.
        let allowed = guard(Policy::Strict, &["metadata"]);
        block_on(allowed.resolve(&resolver, "metadata")).expect("allowed by name");
    }

    #[test]
    fn lookup_failures_and_empty_answers_deny() {
        let resolver = TableResolver::with(&[("empty.test", &[])]);
        for policy in [Policy::Strict, Policy::Open] {
            let strict = guard(policy, &[]);
            for name in ["empty.test", "missing.test"] {
                let result = block_on(strict.resolve(&resolver, name));
                assert!(
                    matches!(result, Err(EgressError::Resolve(_))),
                    "{name}: {result:?}"
                );
            }
        }
    }

    #[test]
    fn allow_rules_lift_the_class_check() {
        let resolver = TableResolver::with(&[
            ("hooks.corp.test", &["10.1.2.3"]),
            ("other.test", &["10.1.2.3", "10.9.9.9"]),
        ]);
        let by_suffix = guard(Policy::Strict, &["*.corp.test"]);
        block_on(by_suffix.resolve(&resolver, "hooks.corp.test")).expect("allowed by suffix");
        let by_net = guard(Policy::Strict, &["10.1.0.0/16"]);
        block_on(by_net.resolve(&resolver, "hooks.corp.test")).expect("allowed by network");
        // Every address must be allowed or public.
        let (addr, _) = refused_addr(block_on(by_net.resolve(&resolver, "other.test")));
        assert_eq!(addr.to_string(), "10.9.9.9");
        assert!(
            by_net
                .check_literal("10.1.2.3", "10.1.2.3".parse().expect("addr"))
                .is_ok()
        );
        assert!(
            by_net
                .check_literal("10.2.0.1", "10.2.0.1".parse().expect("addr"))
                .is_err()
        );
    }

    #[test]
    fn open_checks_no_class() {
        let resolver = TableResolver::with(&[("private.test", &["10.0.0.1"])]);
        let open = guard(Policy::Open, &[]);
        block_on(open.resolve(&resolver, "private.test")).expect("open resolves anything");
        assert!(
            open.check_literal("127.0.0.1", IpAddr::V4(Ipv4Addr::LOCALHOST))
                .is_ok()
        );
    }

    #[test]
    fn guard_failures_are_found_in_an_error_chain() {
        #[derive(Debug)]
        struct Wrapper(Box<dyn Error + Send + Sync>);
        impl fmt::Display for Wrapper {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("wrapper")
            }
        }
        impl Error for Wrapper {
            fn source(&self) -> Option<&(dyn Error + 'static)> {
                Some(self.0.as_ref())
            }
        }
        let wrapped = Wrapper(Box::new(GuardFailure(EgressError::Timeout)));
        assert_eq!(find_guard_failure(&wrapped), Some(EgressError::Timeout));
        let unrelated = Wrapper(Box::new(io::Error::other("x")));
        assert_eq!(find_guard_failure(&unrelated), None);
    }
}
