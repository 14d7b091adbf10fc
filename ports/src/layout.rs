//! What the generator writes to the object store and the mock servers read from it: the
//! keys, and the [`Manifest`] that says which config is complete. Writer and reader use
//! these same definitions.
//!
//! - [`CONFIG_KEY`] (`moclojer.yml`): the unified config, a JSON array (JSON is YAML, so the
//!   original moclojer reads it too) of every live mock's items, each `endpoint` and
//!   `websocket` with its mock's `host`;
//! - `mocks/<workspace-id>/<mock-id>.yml` ([`mock_key`]): the same items for one mock;
//! - [`MANIFEST_KEY`] (`manifest.json`): the [`Manifest`], written after the config it
//!   describes, so a reader that trusts it only ever sees a complete config.

use std::collections::BTreeMap;

use moclojer_domain::{MockId, WorkspaceId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ObjectKey;

/// The key of the unified config.
pub const CONFIG_KEY: &str = "moclojer.yml";

/// The key of the manifest.
pub const MANIFEST_KEY: &str = "manifest.json";

/// The prefix of every per-mock file: `mocks/<workspace-id>/<mock-id>.yml`.
pub const MOCKS_PREFIX: &str = "mocks/";

/// The largest manifest a reader accepts, in bytes: a manifest is a few numbers and one
/// line per host, so anything bigger is not one.
pub const MAX_MANIFEST_BYTES: usize = 16 * 1024 * 1024;

/// The key of one mock's file.
pub fn mock_key(workspace: WorkspaceId, mock: MockId) -> ObjectKey {
    let raw = format!("{MOCKS_PREFIX}{workspace}/{mock}.yml");
    ObjectKey::parse(&raw).unwrap_or_else(|e| unreachable!("ids make valid keys: {e}"))
}

/// The lower-case hex SHA-256 of `bytes`, as manifests give checksums.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Which object holds the unified config of which generation, and how to tell it is
/// complete. Its JSON form (pretty, ending with a newline) is `{"generation": N, "key":
/// "moclojer.yml", "checksum": "<hex sha256>", "bytes": len, "hosts": {"<host>": revision,
/// ...}}`; every field is required and typed, and fields a newer writer adds are ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// Grows by one with every new config; a manifest never moves it back.
    pub generation: u64,
    /// The object holding the unified config.
    pub key: ObjectKey,
    /// The lower-case hex SHA-256 of the config's exact bytes.
    pub checksum: String,
    /// The config's size in bytes.
    pub bytes: u64,
    /// Each host the config serves, with the revision of its mock that is live.
    pub hosts: BTreeMap<String, u64>,
}

/// The manifest as JSON has it.
#[derive(Serialize, Deserialize)]
struct RawManifest {
    generation: u64,
    key: String,
    checksum: String,
    bytes: u64,
    hosts: BTreeMap<String, u64>,
}

/// Why a manifest was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ManifestError(String);

impl Manifest {
    /// The manifest of generation `generation` for `config`, stored at `key`, serving
    /// `hosts`.
    pub fn describing(
        generation: u64,
        key: ObjectKey,
        config: &[u8],
        hosts: BTreeMap<String, u64>,
    ) -> Self {
        Self {
            generation,
            key,
            checksum: sha256_hex(config),
            bytes: config.len() as u64,
            hosts,
        }
    }

    /// Reads a manifest from its JSON bytes.
    ///
    /// # Errors
    /// A [`ManifestError`] saying what is wrong: larger than [`MAX_MANIFEST_BYTES`], not
    /// JSON, a field missing or of the wrong type, a `key` that is not an [`ObjectKey`], a
    /// `checksum` that is not 64 hex digits.
    pub fn parse(bytes: &[u8]) -> Result<Self, ManifestError> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(ManifestError(format!(
                "it has {} bytes; a manifest has at most {MAX_MANIFEST_BYTES}",
                bytes.len()
            )));
        }
        let raw: RawManifest = serde_json::from_slice(bytes)
            .map_err(|e| ManifestError(format!("it is not a manifest: {e}")))?;
        let key = ObjectKey::parse(&raw.key).map_err(|e| ManifestError(e.to_string()))?;
        if raw.checksum.len() != 64 || !raw.checksum.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ManifestError(format!(
                "the checksum {:?} is not a hex SHA-256",
                raw.checksum
            )));
        }
        Ok(Self {
            generation: raw.generation,
            key,
            checksum: raw.checksum.to_ascii_lowercase(),
            bytes: raw.bytes,
            hosts: raw.hosts,
        })
    }

    /// The JSON form, pretty, ending with a newline.
    pub fn to_json(&self) -> Vec<u8> {
        let raw = RawManifest {
            generation: self.generation,
            key: self.key.as_str().to_owned(),
            checksum: self.checksum.clone(),
            bytes: self.bytes,
            hosts: self.hosts.clone(),
        };
        let mut out = serde_json::to_vec_pretty(&raw)
            .unwrap_or_else(|e| unreachable!("a manifest always serialises: {e}"));
        out.push(b'\n');
        out
    }

    /// Whether it describes the same config serving the same hosts as `other`, whatever
    /// the generations.
    pub fn same_content(&self, other: &Self) -> bool {
        self.key == other.key
            && self.checksum == other.checksum
            && self.bytes == other.bytes
            && self.hosts == other.hosts
    }

    /// Checks that `config` is exactly the config this manifest describes.
    ///
    /// # Errors
    /// What differs (the size or the checksum), in words.
    pub fn verify(&self, config: &[u8]) -> Result<(), String> {
        if config.len() as u64 != self.bytes {
            return Err(format!(
                "{} has {} bytes, the manifest says {}",
                self.key,
                config.len(),
                self.bytes
            ));
        }
        let checksum = sha256_hex(config);
        if checksum != self.checksum {
            return Err(format!(
                "{}'s SHA-256 is {checksum}, the manifest says {}",
                self.key, self.checksum
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUM: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn manifest(json: &str) -> Result<Manifest, ManifestError> {
        Manifest::parse(json.as_bytes())
    }

    #[test]
    fn a_manifest_reads_with_its_fields_checked() {
        let ok = manifest(&format!(
            r#"{{"generation": 3, "key": "moclojer.yml", "checksum": "{}", "bytes": 0, "hosts": {{"a-alice.moclojer.com": 2}}, "created_at": "later"}}"#,
            SUM.to_ascii_uppercase()
        ))
        .expect("a manifest");
        assert_eq!(ok.generation, 3);
        assert_eq!(ok.key.as_str(), "moclojer.yml");
        assert_eq!(ok.checksum, SUM, "the checksum is kept in lower case");
        assert_eq!(ok.hosts.get("a-alice.moclojer.com"), Some(&2));

        let cases = [
            ("[]".to_owned(), "it is not a manifest"),
            ("{".to_owned(), "it is not a manifest"),
            (
                format!(r#"{{"key": "moclojer.yml", "checksum": "{SUM}", "bytes": 0, "hosts": {{}}}}"#),
                "missing field `generation`",
            ),
            (
                format!(r#"{{"generation": -1, "key": "moclojer.yml", "checksum": "{SUM}", "bytes": 0, "hosts": {{}}}}"#),
                "it is not a manifest",
            ),
            (
                format!(r#"{{"generation": 1, "key": "../etc/passwd", "checksum": "{SUM}", "bytes": 0, "hosts": {{}}}}"#),
                "relative segment",
            ),
            (
                r#"{"generation": 1, "key": "moclojer.yml", "checksum": "abc", "bytes": 0, "hosts": {}}"#.to_owned(),
                "not a hex SHA-256",
            ),
            (
                format!(r#"{{"generation": 1, "key": "moclojer.yml", "checksum": "{SUM}", "bytes": 0, "hosts": {{"a": "x"}}}}"#),
                "it is not a manifest",
            ),
        ];
        for (json, expected) in cases {
            let err = manifest(&json).expect_err(&json);
            assert!(err.to_string().contains(expected), "{json}: {err}");
        }
        let huge = vec![b' '; MAX_MANIFEST_BYTES + 1];
        assert!(Manifest::parse(&huge).is_err());
    }

    #[test]
    fn what_the_writer_writes_the_reader_reads() {
        let config = b"[]\n";
        let key = ObjectKey::parse(CONFIG_KEY).unwrap();
        let hosts = BTreeMap::from([("a-b.test".to_owned(), 2)]);
        let written = Manifest::describing(3, key, config, hosts);
        let json = written.to_json();
        assert!(json.ends_with(b"}\n"));
        let read = Manifest::parse(&json).unwrap();
        assert_eq!(read, written);
        assert!(read.same_content(&Manifest {
            generation: 9,
            ..written.clone()
        }));
        assert_eq!(read.verify(config), Ok(()));
        let err = read.verify(b"[1]\n").unwrap_err();
        assert!(err.contains("has 4 bytes, the manifest says 3"), "{err}");
        let err = read.verify(b"{}\n").unwrap_err();
        assert!(err.contains("SHA-256"), "{err}");
    }

    #[test]
    fn mock_keys_name_the_workspace_and_the_mock() {
        let workspace = WorkspaceId::from_uuid(uuid::Uuid::nil());
        let mock = MockId::from_uuid(uuid::Uuid::max());
        assert_eq!(
            mock_key(workspace, mock).as_str(),
            format!("mocks/{workspace}/{mock}.yml")
        );
    }
}
