//! Building engines from spec text and sending them requests in-process.
//! Publishing hosts to an object store as the generator does ([`Publisher`]).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use moclojer_domain::spec::{self, Limits, Mode};
use moclojer_domain::template::Env;
use moclojer_foss::{Engine, EngineOptions};
use moclojer_ports::{HostEntry, INDEX_PREFIX, ObjectStore, PublishedIndex};

/// A fixed clock and fixed randomness, so rendered output is predictable.
#[derive(Debug)]
pub(crate) struct FixedEnv;

impl Env for FixedEnv {
    fn now(&self) -> time::OffsetDateTime {
        time::macros::datetime!(2026-11-29 20:11:49.123 UTC)
    }
    fn uuid(&self) -> String {
        "00000000-0000-4000-8000-000000000042".to_owned()
    }
    fn random(&self) -> u64 {
        42
    }
}

pub(crate) fn options(mode: Mode) -> EngineOptions {
    EngineOptions {
        mode,
        ..EngineOptions::default()
    }
}

/// Builds an engine from YAML text.
///
/// # Panics
/// When the spec is refused.
pub(crate) fn engine(yaml: &str) -> Engine {
    engine_with(yaml, options(Mode::Standalone))
}

pub(crate) fn engine_with(yaml: &str, options: EngineOptions) -> Engine {
    let spec = spec::parse_yaml(yaml, &Limits::default())
        .unwrap_or_else(|d| panic!("spec refused: {d:#?}"));
    Engine::build(spec, options).unwrap_or_else(|d| panic!("engine refused: {d:#?}"))
}

/// A request to send.
#[derive(Debug, Clone)]
pub(crate) struct Req {
    pub(crate) method: String,
    pub(crate) target: String,
    pub(crate) host: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Bytes,
    pub(crate) remote: SocketAddr,
}

impl Req {
    pub(crate) fn get(target: &str) -> Self {
        Self {
            method: "GET".to_owned(),
            target: target.to_owned(),
            host: "localhost:8000".to_owned(),
            headers: Vec::new(),
            body: Bytes::new(),
            remote: SocketAddr::from(([127, 0, 0, 1], 50_000)),
        }
    }

    pub(crate) fn method(mut self, method: &str) -> Self {
        method.clone_into(&mut self.method);
        self
    }

    pub(crate) fn host(mut self, host: &str) -> Self {
        host.clone_into(&mut self.host);
        self
    }

    pub(crate) fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub(crate) fn json(mut self, body: &str) -> Self {
        self.headers
            .push(("content-type".to_owned(), "application/json".to_owned()));
        self.body = Bytes::from(body.to_owned());
        self
    }
}

/// What came back.
#[derive(Debug)]
pub(crate) struct Res {
    pub(crate) status: u16,
    pub(crate) headers: http::HeaderMap,
    pub(crate) body: String,
}

impl Res {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

pub(crate) async fn send(engine: &Engine, req: Req) -> Res {
    let mut builder = http::Request::builder()
        .method(req.method.as_str())
        .uri(req.target.as_str());
    if !req.host.is_empty() {
        builder = builder.header(http::header::HOST, req.host.as_str());
    }
    for (name, value) in &req.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let (parts, ()) = builder.body(()).expect("request").into_parts();
    let reply = engine
        .handle(&parts, req.body.clone(), req.remote, &FixedEnv)
        .await;
    let (parts, body) = reply.into_parts();
    Res {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// Publishes hosts to an object store the way the generator does: a host's object first,
/// at the key its digest names, then the index (`PublishedIndex::write`) naming it.
#[derive(Debug)]
pub(crate) struct Publisher {
    store: Arc<dyn ObjectStore>,
    index: tokio::sync::Mutex<PublishedIndex>,
}

impl Publisher {
    /// A publisher that starts a new index (its first write is generation 1).
    pub(crate) fn new(store: Arc<dyn ObjectStore>) -> Self {
        Self::after(store, 0)
    }

    /// A publisher whose first write is generation `generation + 1` and lists only what it
    /// is given (a writer that does not know what the store holds).
    pub(crate) fn after(store: Arc<dyn ObjectStore>, generation: u64) -> Self {
        Self {
            store,
            index: tokio::sync::Mutex::new(PublishedIndex::after(generation)),
        }
    }

    /// Puts `object` where the index names revision `revision` of `host`; returns that
    /// entry, which no index names yet.
    pub(crate) async fn put(&self, host: &str, revision: u64, object: &[u8]) -> HostEntry {
        let entry = HostEntry::of(revision, object);
        let key = entry.object_key(host).expect("a host name");
        self.store
            .put(&key, Bytes::copy_from_slice(object))
            .await
            .expect("put the host's object");
        entry
    }

    /// Writes a generation of the index with `changes` applied (`None` removes the host);
    /// returns the generation the store holds.
    pub(crate) async fn write(
        &self,
        changes: impl IntoIterator<Item = (String, Option<HostEntry>)>,
    ) -> u64 {
        self.index
            .lock()
            .await
            .write(self.store.as_ref(), changes)
            .await
            .expect("write the index")
            .generation
    }

    /// Publishes revision `revision` of `host` as `object`: the object, then the index.
    pub(crate) async fn publish(&self, host: &str, revision: u64, object: &[u8]) -> u64 {
        let entry = self.put(host, revision, object).await;
        self.write([(host.to_owned(), Some(entry))]).await
    }

    /// Takes `host` out of the index.
    pub(crate) async fn unpublish(&self, host: &str) -> u64 {
        self.write([(host.to_owned(), None)]).await
    }

    /// The keys of the index nodes (`index/…`) the index references now.
    pub(crate) async fn index_nodes(&self) -> BTreeSet<String> {
        self.index
            .lock()
            .await
            .referenced()
            .iter()
            .map(|k| k.as_str().to_owned())
            .filter(|k| k.starts_with(INDEX_PREFIX))
            .collect()
    }
}
