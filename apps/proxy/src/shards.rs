//! Upstream groups: one for every host, or one per shard when the mock tier is sharded.
//!
//! A foss replica started as shard `K` of `N` (`moclojer --shard K/N`) serves only the hosts
//! the domain's [`shard_of`] puts on `K`. The proxy keeps a group of upstreams per shard,
//! each with a load balancer and health check of its own, and sends a request to the group
//! of its host's shard: one hash of the host already parsed, and one short hash per shard,
//! with no allocation. Without shards there is one group, and no hashing at all.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;

use moclojer_domain::{Host, Shard, shard_of};
use pingora::lb::LoadBalancer;
use pingora::lb::selection::RoundRobin;

use crate::{Config, ProxyError};

/// The foss servers of one shard of the mock tier, the replicas started with
/// `moclojer --shard K/N`: the upstreams of the hosts [`shard_of`] puts on that shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardUpstreams {
    /// The shard they serve.
    pub shard: Shard,
    /// The shard's servers by address.
    pub upstreams: Vec<SocketAddr>,
    /// The shard's servers by `host:port` name: each address a name resolves to is one
    /// upstream, looked up again every [`Config::resolve_interval`].
    pub upstream_names: Vec<String>,
}

impl ShardUpstreams {
    /// The servers of `shard` at these addresses, and no names.
    pub fn new(shard: Shard, upstreams: Vec<SocketAddr>) -> Self {
        Self {
            shard,
            upstreams,
            upstream_names: Vec::new(),
        }
    }

    fn is_empty(&self) -> bool {
        self.upstreams.is_empty() && self.upstream_names.is_empty()
    }
}

/// Whether `config` names upstreams the proxy can run on: for every host
/// ([`Config::upstreams`], [`Config::upstream_names`]), or per shard
/// ([`Config::shard_upstreams`]: every shard of one count exactly once, each with an
/// upstream), never both.
pub(crate) fn check(config: &Config) -> Result<(), ProxyError> {
    let for_every_host = !config.upstreams.is_empty() || !config.upstream_names.is_empty();
    let Some(first) = config.shard_upstreams.first() else {
        if for_every_host {
            return Ok(());
        }
        return Err(ProxyError::NoUpstreams);
    };
    if for_every_host {
        return Err(ProxyError::UpstreamsAndShards);
    }
    let count = first.shard.count();
    if let Some(other) = config
        .shard_upstreams
        .iter()
        .find(|group| group.shard.count() != count)
    {
        return Err(ProxyError::ShardCounts {
            first: first.shard,
            other: other.shard,
        });
    }
    let mut indexes: Vec<u32> = config
        .shard_upstreams
        .iter()
        .map(|group| group.shard.index())
        .collect();
    indexes.sort_unstable();
    if let Some(twice) = indexes.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(ProxyError::ShardRepeated(shard(twice[0], count)));
    }
    if let Some(empty) = config.shard_upstreams.iter().find(|group| group.is_empty()) {
        return Err(ProxyError::ShardWithoutUpstream(empty.shard));
    }
    // Sorted and without repeats: the first index out of place is the first one missing.
    let missing = (0..count)
        .zip(indexes)
        .find(|(expected, index)| expected != index);
    match missing {
        Some((expected, _)) => Err(ProxyError::ShardWithoutUpstream(shard(expected, count))),
        None if count as usize > config.shard_upstreams.len() => Err(
            ProxyError::ShardWithoutUpstream(shard(config.shard_upstreams.len() as u32, count)),
        ),
        None => Ok(()),
    }
}

/// Shard `index` of `count`, both already checked.
fn shard(index: u32, count: u32) -> Shard {
    Shard::new(index, count).unwrap_or_default()
}

/// One group of upstreams: a load balancer with its health check.
pub(crate) struct Group {
    /// The shard the group serves; none for the group of every host.
    pub(crate) shard: Option<Shard>,
    pub(crate) upstreams: Arc<LoadBalancer<RoundRobin>>,
}

impl Group {
    /// Whether an upstream of the group passes its health check.
    fn ready(&self) -> bool {
        let backends = self.upstreams.backends();
        backends.get_backend().iter().any(|b| backends.ready(b))
    }

    /// The error when no upstream of the group answered, naming the shard when there is
    /// one: for the log only, never for a client.
    pub(crate) fn none_answered(&self) -> pingora::BError {
        let no_route = pingora::ErrorType::ConnectNoRoute;
        match self.shard {
            Some(shard) => {
                pingora::Error::explain(no_route, format!("no upstream of shard {shard} answered"))
            }
            None => pingora::Error::explain(no_route, "no upstream answered"),
        }
    }
}

/// Every group: one for every host, or one per shard, in shard order.
pub(crate) struct Groups {
    groups: Vec<Group>,
    /// How many shards the tier has: the number of groups.
    count: u32,
}

impl Groups {
    /// The groups, as [`check`] has found them: one without a shard, or one per shard of
    /// one count, each exactly once.
    pub(crate) fn new(mut groups: Vec<Group>) -> Self {
        groups.sort_by_key(|group| group.shard.map(Shard::index));
        let count = u32::try_from(groups.len()).unwrap_or(u32::MAX);
        Self { groups, count }
    }

    /// The group that serves `host`: the only one, or its shard's.
    pub(crate) fn for_host(&self, host: &Host) -> &Group {
        let index = shard_of(host.as_str(), self.count) as usize;
        // `shard_of` is below the count, the number of groups; the first is a fallback
        // that never serves.
        self.groups.get(index).unwrap_or(&self.groups[0])
    }

    /// Every group, in shard order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Group> {
        self.groups.iter()
    }

    /// `Ok` when every group has an upstream that passes its health check; else why not.
    pub(crate) fn ready(&self) -> Result<(), Cow<'static, str>> {
        match self.groups.iter().find(|group| !group.ready()) {
            None => Ok(()),
            Some(Group {
                shard: Some(shard), ..
            }) => Err(Cow::Owned(format!(
                "no upstream of shard {shard} passes its health check"
            ))),
            Some(_) => Err(Cow::Borrowed("no upstream passes its health check")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sharded(groups: &[(&str, &[&str])]) -> Config {
        let mut config = Config::new(Vec::new());
        config.shard_upstreams = groups
            .iter()
            .map(|(shard, addresses)| {
                ShardUpstreams::new(
                    shard.parse().unwrap(),
                    addresses.iter().map(|a| a.parse().unwrap()).collect(),
                )
            })
            .collect();
        config
    }

    fn refusal(config: &Config) -> String {
        check(config).unwrap_err().to_string()
    }

    const A: &[&str] = &["127.0.0.1:9001"];

    #[test]
    fn every_shard_of_one_count_exactly_once_is_a_configuration() {
        assert!(check(&sharded(&[("1/2", A), ("0/2", A)])).is_ok());
        assert!(check(&sharded(&[("0/1", A)])).is_ok());
        assert!(check(&Config::new(vec![A[0].parse().unwrap()])).is_ok());
        let mut named = sharded(&[("0/1", &[])]);
        named.shard_upstreams[0].upstream_names = vec!["foss-0:8080".to_owned()];
        assert!(check(&named).is_ok());
    }

    #[test]
    fn a_shard_left_out_is_named() {
        assert_eq!(
            refusal(&sharded(&[("0/3", A), ("2/3", A)])),
            "shard 1/3 has no upstream"
        );
        assert_eq!(
            refusal(&sharded(&[("0/3", A), ("1/3", A)])),
            "shard 2/3 has no upstream"
        );
        assert_eq!(
            refusal(&sharded(&[("1/2", A)])),
            "shard 0/2 has no upstream"
        );
        assert_eq!(
            refusal(&sharded(&[("0/2", A), ("1/2", &[])])),
            "shard 1/2 has no upstream"
        );
        // A count far beyond the groups given costs nothing to check.
        assert_eq!(
            refusal(&sharded(&[("0/4000000000", A)])),
            "shard 1/4000000000 has no upstream"
        );
    }

    #[test]
    fn groups_that_disagree_or_repeat_are_refused() {
        assert!(matches!(
            check(&sharded(&[("0/2", A), ("1/3", A)])),
            Err(ProxyError::ShardCounts { .. })
        ));
        assert_eq!(
            refusal(&sharded(&[("0/2", A), ("1/3", A)])),
            "the shard groups disagree on the number of shards: 0/2 and 1/3"
        );
        assert!(matches!(
            check(&sharded(&[("0/2", A), ("1/2", A), ("0/2", A)])),
            Err(ProxyError::ShardRepeated(shard)) if shard.to_string() == "0/2"
        ));
        let mut both = sharded(&[("0/1", A)]);
        both.upstreams = vec![A[0].parse().unwrap()];
        assert!(matches!(check(&both), Err(ProxyError::UpstreamsAndShards)));
        assert!(matches!(
            check(&Config::new(Vec::new())),
            Err(ProxyError::NoUpstreams)
        ));
    }
}
