//! The unified config: every live mock's items in one file, each with its host. The
//! hosted path no longer writes it (its cost grows with every live mock); it is what
//! `moclojer-generator --export FILE` writes, for running the whole live set on one
//! standalone `moclojer` (or the original), and for looking at it.

use anyhow::Context;
use moclojer_ports::Scope;
use serde_json::Value;

use crate::Deps;
use crate::items::{items_with_host, render};

/// The unified config of every live mock, by host: a JSON array (which is YAML), one item
/// per line. A live revision that no longer reads is left out with an error in the log.
///
/// # Errors
/// When the database fails.
pub async fn export(deps: &Deps) -> anyhow::Result<String> {
    let live = deps
        .publications
        .live(&Scope::System)
        .await
        .context("list the live mocks")?;
    let mut items: Vec<Value> = Vec::new();
    for mock in &live {
        let content = match deps
            .mocks
            .revision(&Scope::System, mock.mock_id, mock.revision)
            .await
        {
            Ok(found) => found.content,
            Err(e) if e.kind() == moclojer_ports::PortErrorKind::NotFound => continue,
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("read revision {} of mock {}", mock.revision, mock.mock_id)
                });
            }
        };
        match items_with_host(content.as_str(), &mock.host) {
            Ok(found) => items.extend(found),
            Err(error) => tracing::error!(
                mock_id = %mock.mock_id,
                host = %mock.host,
                error = ?error,
                "the live revision no longer reads; left out of the export"
            ),
        }
    }
    Ok(render(&items))
}
