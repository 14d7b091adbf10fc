//! What the generator writes: the live set, read from the database, rendered into the
//! store's layout (`moclojer-ports`'s `CONFIG_KEY`, `mock_key`, `Manifest`).
//!
//! A write happens only when the content differs from what the store holds, so an
//! unchanged state costs reads only and leaves every version tag as it was.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::Context;
use bytes::Bytes;
use moclojer_domain::{Event, EventKind, Mock, MockId, Revision, WorkspaceId, spec};
use moclojer_ports::{
    CONFIG_KEY, MANIFEST_KEY, MOCKS_PREFIX, Manifest, ObjectKey, ObjectStore, PortErrorKind, Scope,
    mock_key, sha256_hex,
};
use serde_json::Value;

use crate::Deps;

fn key(raw: &str) -> ObjectKey {
    ObjectKey::parse(raw).unwrap_or_else(|e| unreachable!("a constant key: {e}"))
}

/// One live mock, ready to write.
#[derive(Debug, Clone)]
pub(crate) struct LiveMock {
    pub(crate) mock_id: MockId,
    pub(crate) workspace_id: WorkspaceId,
    pub(crate) host: String,
    pub(crate) revision: Revision,
    pub(crate) items: Vec<Value>,
}

/// Why a spec's text could not be turned into items with a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ItemsError {
    /// The text does not read (a diagnostic of the YAML reader).
    Read(moclojer_domain::Diagnostic),
    /// The text reads, but not as a list of items.
    NotAList,
}

/// The spec `source` as JSON items, with `host` set in every `endpoint` and `websocket`
/// map (first among its keys; the author's `host` is dropped). An empty document is no
/// items.
pub(crate) fn items_with_host(source: &str, host: &str) -> Result<Vec<Value>, ItemsError> {
    let items = match spec::yaml_to_json(source).map_err(ItemsError::Read)? {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        _ => return Err(ItemsError::NotAList),
    };
    Ok(items
        .into_iter()
        .map(|item| match item {
            Value::Object(mut fields) => {
                for kind in ["endpoint", "websocket"] {
                    if let Some(Value::Object(inner)) = fields.get_mut(kind) {
                        let mut hosted = serde_json::Map::with_capacity(inner.len() + 1);
                        hosted.insert("host".to_owned(), Value::String(host.to_owned()));
                        hosted.extend(
                            std::mem::take(inner)
                                .into_iter()
                                .filter(|(name, _)| name != "host"),
                        );
                        *inner = hosted;
                    }
                }
                Value::Object(fields)
            }
            other => other,
        })
        .collect())
}

/// Items as the store writes them: a JSON array, one item per line, ending with a newline.
pub(crate) fn render<'a>(items: impl IntoIterator<Item = &'a Value>) -> String {
    let mut out = String::from("[");
    let mut first = true;
    for item in items {
        out.push_str(if first { "\n" } else { ",\n" });
        first = false;
        out.push_str(&item.to_string());
    }
    out.push_str(if first { "]\n" } else { "\n]\n" });
    out
}

fn is_not_found<T>(result: &Result<T, moclojer_ports::PortError>) -> bool {
    matches!(result, Err(e) if e.kind() == PortErrorKind::NotFound)
}

/// The live set, by host: enabled mocks whose publication is live, with their live
/// revision's items. A mock deleted while this runs is left out; a live revision that no
/// longer reads is left out with an error in the log (it was checked when published, so
/// only a change of the reader can do that).
pub(crate) async fn live_mocks(deps: &Deps) -> anyhow::Result<Vec<LiveMock>> {
    let publications: HashMap<MockId, _> = deps
        .publications
        .list(&Scope::System)
        .await
        .context("list publications")?
        .into_iter()
        .map(|p| (p.mock_id, p))
        .collect();
    let mocks: Vec<Mock> = deps
        .mocks
        .list(&Scope::System)
        .await
        .context("list mocks")?;
    let mut live = Vec::new();
    for mock in mocks.into_iter().filter(|m| m.enabled) {
        let Some(publication) = publications.get(&mock.id) else {
            continue;
        };
        let Some(revision) = publication.live_revision.filter(|_| publication.is_live()) else {
            continue;
        };
        let found = deps.mocks.revision(&Scope::System, mock.id, revision).await;
        if is_not_found(&found) {
            tracing::debug!(mock_id = %mock.id, %revision, "live revision gone; the mock was deleted");
            continue;
        }
        let content = found
            .with_context(|| format!("read revision {revision} of mock {}", mock.id))?
            .content;
        match items_with_host(content.as_str(), mock.host.as_str()) {
            Ok(items) => live.push(LiveMock {
                mock_id: mock.id,
                workspace_id: mock.workspace_id,
                host: mock.host.as_str().to_owned(),
                revision,
                items,
            }),
            Err(error) => tracing::error!(
                mock_id = %mock.id,
                host = %mock.host,
                %revision,
                error = ?error,
                "the live revision no longer reads; the mock is left out"
            ),
        }
    }
    live.sort_by(|a, b| a.host.cmp(&b.host));
    Ok(live)
}

/// What [`write`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Written {
    pub(crate) generation: u64,
    pub(crate) changed: bool,
}

/// Whether the store holds exactly `bytes` at `key`. A version tag equal to the content's
/// SHA-256 (the memory and file-system stores) settles it without reading the object.
async fn holds(store: &dyn ObjectStore, key: &ObjectKey, bytes: &[u8]) -> anyhow::Result<bool> {
    let meta = store.head(key).await;
    if is_not_found(&meta) {
        return Ok(false);
    }
    let meta = meta.with_context(|| format!("look at {key}"))?;
    if meta.size != bytes.len() as u64 {
        return Ok(false);
    }
    if meta.etag.0 == sha256_hex(bytes) {
        return Ok(true);
    }
    let object = store.get(key).await;
    if is_not_found(&object) {
        return Ok(false);
    }
    Ok(object.with_context(|| format!("read {key}"))?.bytes == bytes)
}

async fn previous_manifest(store: &dyn ObjectStore) -> anyhow::Result<Option<Manifest>> {
    let found = store.get(&key(MANIFEST_KEY)).await;
    if is_not_found(&found) {
        return Ok(None);
    }
    let object = found.context("read the manifest")?;
    let manifest = Manifest::parse(&object.bytes).with_context(|| {
        format!("{MANIFEST_KEY} is not a manifest; the generation cannot be continued")
    })?;
    Ok(Some(manifest))
}

/// Brings the store in line with `live`: per-mock files, then the config and its manifest
/// (a new generation only when the config or its hosts changed), then the removal of files
/// of mocks no longer live.
pub(crate) async fn write(deps: &Deps, live: &[LiveMock]) -> anyhow::Result<Written> {
    let wanted = write_mock_files(deps.store.as_ref(), live).await?;
    let written = write_config(deps, live).await?;
    remove_other_mock_files(deps.store.as_ref(), &wanted).await?;
    Ok(written)
}

/// Writes each live mock's file where it differs; returns their keys.
async fn write_mock_files(
    store: &dyn ObjectStore,
    live: &[LiveMock],
) -> anyhow::Result<BTreeSet<ObjectKey>> {
    let mut wanted = BTreeSet::new();
    for mock in live {
        let key = mock_key(mock.workspace_id, mock.mock_id);
        let bytes = render(&mock.items).into_bytes();
        if !holds(store, &key, &bytes).await? {
            store
                .put(&key, Bytes::from(bytes))
                .await
                .with_context(|| format!("write {key}"))?;
        }
        wanted.insert(key);
    }
    Ok(wanted)
}

/// Writes the unified config and its manifest when they differ from the stored ones, and
/// records `config.published`.
async fn write_config(deps: &Deps, live: &[LiveMock]) -> anyhow::Result<Written> {
    let store = deps.store.as_ref();
    let config = render(live.iter().flat_map(|m| &m.items)).into_bytes();
    let hosts: BTreeMap<String, u64> = live
        .iter()
        .map(|m| (m.host.clone(), m.revision.get()))
        .collect();
    let config_key = key(CONFIG_KEY);
    let previous = previous_manifest(store).await?;
    let config_stored = holds(store, &config_key, &config).await?;
    let wanted_manifest = Manifest::describing(
        previous.as_ref().map_or(1, |p| p.generation + 1),
        config_key.clone(),
        &config,
        hosts,
    );
    let same_as_previous = previous
        .as_ref()
        .is_some_and(|p| p.same_content(&wanted_manifest));
    let written = if same_as_previous && config_stored {
        let generation = previous.map_or(0, |p| p.generation);
        tracing::debug!(generation, "the config is unchanged");
        Written {
            generation,
            changed: false,
        }
    } else {
        let manifest = wanted_manifest;
        let generation = manifest.generation;
        let checksum = manifest.checksum.clone();
        let size = config.len();
        if !config_stored {
            store
                .put(&config_key, Bytes::from(config))
                .await
                .context("write the config")?;
        }
        store
            .put(&key(MANIFEST_KEY), Bytes::from(manifest.to_json()))
            .await
            .context("write the manifest")?;
        let event = Event::new(
            deps.ids.event_id(),
            deps.clock.now(),
            EventKind::ConfigPublished {
                generation,
                key: CONFIG_KEY.to_owned(),
                checksum: checksum.clone(),
            },
        );
        deps.outbox
            .append(&[event])
            .await
            .context("record config.published")?;
        tracing::info!(
            generation,
            hosts = live.len(),
            bytes = size,
            %checksum,
            "config published"
        );
        Written {
            generation,
            changed: true,
        }
    };
    Ok(written)
}

/// Removes the files of mocks that are no longer live.
async fn remove_other_mock_files(
    store: &dyn ObjectStore,
    wanted: &BTreeSet<ObjectKey>,
) -> anyhow::Result<()> {
    for stale in store
        .list(MOCKS_PREFIX)
        .await
        .context("list the per-mock files")?
        .into_iter()
        .filter(|meta| !wanted.contains(&meta.key))
    {
        store
            .delete(&stale.key)
            .await
            .with_context(|| format!("remove {}", stale.key))?;
        tracing::info!(key = %stale.key, "removed the file of a mock no longer live");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_injected_first_and_replace_the_authors() {
        let source = "- endpoint:\n    path: /a\n    host: evil.example.com\n- websocket:\n    path: /ws\n- other: 1\n";
        let items = items_with_host(source, "a-b.test").unwrap();
        assert_eq!(
            render(&items),
            "[\n{\"endpoint\":{\"host\":\"a-b.test\",\"path\":\"/a\"}},\n{\"websocket\":{\"host\":\"a-b.test\",\"path\":\"/ws\"}},\n{\"other\":1}\n]\n"
        );
    }

    #[test]
    fn empty_and_odd_documents() {
        assert_eq!(items_with_host("", "h.test"), Ok(vec![]));
        assert_eq!(render(&[]), "[]\n");
        assert_eq!(
            items_with_host("endpoint: {}", "h.test"),
            Err(ItemsError::NotAList)
        );
        assert!(matches!(
            items_with_host("- [", "h.test"),
            Err(ItemsError::Read(_))
        ));
    }

    #[test]
    fn yaml_1_1_scalars_are_kept() {
        let items = items_with_host(
            "- endpoint:\n    path: /a\n    response:\n      body: {on: yes, n: 0x10, f: 1e3}\n",
            "h.test",
        )
        .unwrap();
        assert_eq!(
            items[0]["endpoint"]["response"]["body"],
            serde_json::json!({"true": true, "n": 16, "f": 1000.0})
        );
    }
}
