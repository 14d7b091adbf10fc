//! Where the upstreams are: fixed addresses, and names resolved again and again.
//!
//! On a platform the foss replicas are reached by a service name (`foss:8080`) whose
//! addresses change as replicas come and go, and one name may stand for several replicas.
//! Each name is looked up on every discovery round (the load balancer runs one every
//! [`Config::resolve_interval`](crate::Config::resolve_interval)); each address it has is
//! one upstream, health-checked like the fixed ones.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;

use async_trait::async_trait;
use pingora::lb::Backend;
use pingora::lb::discovery::ServiceDiscovery;
use pingora::{Error, ErrorType, Result};

/// Fixed upstream addresses and `host:port` names.
#[derive(Debug, Clone)]
pub(crate) struct Upstreams {
    pub(crate) fixed: Vec<SocketAddr>,
    pub(crate) names: Vec<String>,
}

impl Upstreams {
    /// Every address: the fixed ones and what each name resolves to now. A name that does
    /// not resolve is left out (and logged); when nothing at all is left, the round fails
    /// and the load balancer keeps the upstreams it had.
    async fn addresses(&self) -> Result<BTreeSet<SocketAddr>> {
        let mut all: BTreeSet<SocketAddr> = self.fixed.iter().copied().collect();
        for name in &self.names {
            match tokio::net::lookup_host(name.as_str()).await {
                Ok(found) => all.extend(found),
                Err(e) => {
                    tracing::warn!(upstream = %name, error = %e, "upstream name did not resolve")
                }
            }
        }
        if all.is_empty() {
            return Error::e_explain(
                ErrorType::ConnectNoRoute,
                "no upstream address: every name failed to resolve",
            );
        }
        Ok(all)
    }
}

#[async_trait]
impl ServiceDiscovery for Upstreams {
    async fn discover(&self) -> Result<(BTreeSet<Backend>, HashMap<u64, bool>)> {
        let backends = self
            .addresses()
            .await?
            .into_iter()
            .map(|address| Backend {
                addr: pingora::protocols::l4::socket::SocketAddr::Inet(address),
                weight: 1,
                ext: http::Extensions::new(),
            })
            .collect();
        Ok((backends, HashMap::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fixed_addresses_and_resolved_names_make_one_set() {
        let upstreams = Upstreams {
            fixed: vec!["127.0.0.1:9001".parse().unwrap()],
            names: vec!["localhost:9002".to_owned(), "127.0.0.1:9001".to_owned()],
        };
        let all = upstreams.addresses().await.unwrap();
        assert!(all.contains(&"127.0.0.1:9001".parse().unwrap()));
        assert!(all.contains(&"127.0.0.1:9002".parse().unwrap()), "{all:?}");
        // The name given twice is still one upstream.
        assert_eq!(all.iter().filter(|a| a.port() == 9001).count(), 1);
    }

    #[tokio::test]
    async fn a_name_without_a_port_gives_no_upstream() {
        let upstreams = Upstreams {
            fixed: Vec::new(),
            names: vec!["localhost".to_owned()],
        };
        assert!(upstreams.addresses().await.is_err());
    }
}
