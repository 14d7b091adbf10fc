//! The moclojer object store on a local folder: [`FsObjectStore`].
//!
//! Each object is one file; its key, a `/`-separated [`ObjectKey`], is its path relative to
//! the store's folder. A write goes to a temporary file in the target's folder, is synced,
//! and is renamed over the target, so readers see the old or the new content, never a mix,
//! and a crash leaves one of the two. Version tags are the hex SHA-256 of the content, the
//! same as `moclojer-memory`'s, so they survive a restart and need no side files.
//!
//! This crate is not a cache, not a network store and not a place for anything but objects:
//! files whose names cannot be key segments (such as its own temporary files) are ignored,
//! and symbolic links are neither created nor listed.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use moclojer_ports::{ETag, Object, ObjectKey, ObjectMeta, ObjectStore, PortError, PortResult};
use sha2::{Digest, Sha256};

/// Objects as files under one folder, replaced atomically, versioned by the SHA-256 of their
/// content. Cloning shares the folder; several stores, even in several processes, may use
/// the same folder at once.
#[derive(Debug, Clone)]
pub struct FsObjectStore {
    root: Arc<PathBuf>,
}

impl FsObjectStore {
    /// A store on the folder `root`, created with its parents if missing. The path is made
    /// absolute, so a later change of working directory does not move the store.
    ///
    /// # Errors
    /// `Unavailable`, naming the path, when the folder cannot be created or is not a folder
    /// (for example when `root` is a regular file).
    pub fn open(root: impl Into<PathBuf>) -> PortResult<Self> {
        let root = root.into();
        let unusable = |e: io::Error| {
            PortError::unavailable(format!(
                "cannot use {} as the object store folder",
                root.display()
            ))
            .with_source(e)
        };
        fs::create_dir_all(&root).map_err(unusable)?;
        let root = fs::canonicalize(&root).map_err(unusable)?;
        if !root.is_dir() {
            return Err(PortError::unavailable(format!(
                "cannot use {} as the object store folder: it is not a folder",
                root.display()
            )));
        }
        Ok(Self {
            root: Arc::new(root),
        })
    }

    /// The store's folder, absolute.
    pub fn root(&self) -> &Path {
        &self.root
    }

    async fn blocking<T, F>(&self, work: F) -> PortResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Path) -> PortResult<T> + Send + 'static,
    {
        let root = Arc::clone(&self.root);
        tokio::task::spawn_blocking(move || work(&root))
            .await
            .map_err(|e| PortError::internal("the file system task failed").with_source(e))?
    }
}

#[async_trait]
impl ObjectStore for FsObjectStore {
    async fn put(&self, key: &ObjectKey, bytes: Bytes) -> PortResult<ETag> {
        let key = key.clone();
        self.blocking(move |root| {
            let path = path_of(root, &key)?;
            write_atomically(root, &key, &path, &bytes).map_err(|e| put_error(&key, &path, e))?;
            Ok(etag_of(&bytes))
        })
        .await
    }

    async fn get(&self, key: &ObjectKey) -> PortResult<Object> {
        let key = key.clone();
        self.blocking(move |root| read_object(root, &key)).await
    }

    async fn get_if_changed(&self, key: &ObjectKey, etag: &ETag) -> PortResult<Option<Object>> {
        let object = self.get(key).await?;
        Ok((object.etag != *etag).then_some(object))
    }

    async fn head(&self, key: &ObjectKey) -> PortResult<ObjectMeta> {
        let object = self.get(key).await?;
        Ok(ObjectMeta {
            key: key.clone(),
            size: object.bytes.len() as u64,
            etag: object.etag,
        })
    }

    async fn delete(&self, key: &ObjectKey) -> PortResult<()> {
        let key = key.clone();
        self.blocking(move |root| delete_object(root, &key)).await
    }

    async fn list(&self, prefix: &str) -> PortResult<Vec<ObjectMeta>> {
        let prefix = prefix.to_owned();
        self.blocking(move |root| {
            let mut found = Vec::new();
            walk(root, "", &prefix, &mut found)?;
            found.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(found)
        })
        .await
    }
}

/// The version tag of `bytes`: their hex SHA-256, unquoted.
fn etag_of(bytes: &[u8]) -> ETag {
    ETag(hex::encode(Sha256::digest(bytes)))
}

/// Whether `name` can be one segment of an object key. Temporary files contain `~`, so they
/// never are.
fn is_key_segment(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The file of `key` under `root`. [`ObjectKey`] already refuses anything that could leave
/// the folder; this checks again, segment by segment, rather than trust it blindly.
fn path_of(root: &Path, key: &ObjectKey) -> PortResult<PathBuf> {
    let mut path = root.to_path_buf();
    for segment in key.as_str().split('/') {
        let mut components = Path::new(segment).components();
        let plain = matches!(
            (components.next(), components.next()),
            (Some(Component::Normal(_)), None)
        );
        if !plain || !is_key_segment(segment) {
            return Err(PortError::invalid(format!(
                "{key} does not name a file inside the object store folder"
            )));
        }
        path.push(segment);
    }
    Ok(path)
}

/// Whether `e` means there is no file where one was looked for: nothing there, a folder
/// there, a file where a folder was expected, or a name too long to have been written.
fn is_absent(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound
            | io::ErrorKind::NotADirectory
            | io::ErrorKind::IsADirectory
            | io::ErrorKind::InvalidFilename
    )
}

/// An IO failure that is not about a missing object (those are handled where they can
/// occur): the folder is unreadable, read-only, full, gone, and so on.
fn io_error(action: &str, path: &Path, e: io::Error) -> PortError {
    PortError::unavailable(format!("cannot {action} {}", path.display())).with_source(e)
}

fn not_found(key: &ObjectKey) -> PortError {
    PortError::not_found(format!("no object at {key}"))
}

fn put_error(key: &ObjectKey, path: &Path, e: io::Error) -> PortError {
    match e.kind() {
        io::ErrorKind::NotADirectory | io::ErrorKind::IsADirectory => PortError::conflict(format!(
            "{key} clashes with another key: a folder cannot also be an object"
        ))
        .with_source(e),
        io::ErrorKind::InvalidFilename => {
            PortError::invalid(format!("{key} has a segment too long for the file system"))
                .with_source(e)
        }
        _ => io_error("write", path, e),
    }
}

/// Gives each temporary file of this process a distinct name.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The longest part of the target's name kept in a temporary name, so that the temporary
/// name stays within the usual 255-byte limit.
const TEMP_NAME_KEEP: usize = 160;

/// A fresh temporary name next to the file `name`: `.<name>~tmp-<pid>-<n>`. Names are
/// ASCII, so cutting at any byte is safe.
fn temp_name(name: &str) -> String {
    let kept = &name[..name.len().min(TEMP_NAME_KEEP)];
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(".{kept}~tmp-{}-{n}", std::process::id())
}

/// Writes `bytes` to a synced temporary file next to `path`, renames it over `path` and
/// syncs the folder. The temporary file is removed when anything fails.
fn write_atomically(root: &Path, key: &ObjectKey, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let (dir, name) = match (path.parent(), key.as_str().rsplit('/').next()) {
        (Some(dir), Some(name)) => (dir, name),
        _ => return Err(io::Error::other("an object path has a folder and a name")),
    };
    let (file, temp) = create_temp(root, key, dir, name)?;
    if let Err(e) = fill_and_rename(file, bytes, &temp, path) {
        // Best effort: the temporary file is invisible anyway, and the write error matters more.
        fs::remove_file(&temp).ok();
        return Err(e);
    }
    sync_dir(dir)
}

fn fill_and_rename(mut file: File, bytes: &[u8], temp: &Path, path: &Path) -> io::Result<()> {
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(temp, path)
}

/// Creates a new temporary file in `dir`, creating the key's folders when they are missing
/// (or were just removed by a concurrent delete) and skipping names left over by a crash.
fn create_temp(
    root: &Path,
    key: &ObjectKey,
    dir: &Path,
    name: &str,
) -> io::Result<(File, PathBuf)> {
    const ATTEMPTS: u32 = 8;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let temp = dir.join(temp_name(name));
        match OpenOptions::new().write(true).create_new(true).open(&temp) {
            Ok(file) => return Ok((file, temp)),
            Err(e) if attempt < ATTEMPTS && e.kind() == io::ErrorKind::NotFound => {
                match create_folders(root, key) {
                    // A concurrent delete removed a folder just created: try again.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    other => other?,
                }
            }
            Err(e) if attempt < ATTEMPTS && e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
}

/// Creates the folders of `key` (all segments but the last), syncing the parent of each
/// folder it creates so the new entry survives a crash.
fn create_folders(root: &Path, key: &ObjectKey) -> io::Result<()> {
    let mut segments: Vec<&str> = key.as_str().split('/').collect();
    segments.pop();
    let mut current = root.to_path_buf();
    for segment in segments {
        let parent = current.clone();
        current.push(segment);
        match fs::create_dir(&current) {
            Ok(()) => sync_dir(&parent)?,
            // A file there makes the next step fail with `NotADirectory`, reported as a clash.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Makes the entries of `dir` (created, renamed, removed files) durable.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Folders cannot be opened and synced like this outside Unix; renames there are durable
/// enough for a development store.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

fn read_object(root: &Path, key: &ObjectKey) -> PortResult<Object> {
    let path = path_of(root, key)?;
    match fs::read(&path) {
        Ok(bytes) => Ok(Object {
            etag: etag_of(&bytes),
            bytes: Bytes::from(bytes),
        }),
        Err(e) if is_absent(&e) => Err(not_found(key).with_source(e)),
        Err(e) => Err(io_error("read", &path, e)),
    }
}

fn delete_object(root: &Path, key: &ObjectKey) -> PortResult<()> {
    let path = path_of(root, key)?;
    match fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if is_absent(&e) => return Ok(()),
        Err(e) => return Err(io_error("delete", &path, e)),
    }
    let mut dir = path.parent();
    if let Some(dir) = dir {
        match sync_dir(dir) {
            // Removed by a concurrent delete, which synced its parent.
            Err(e) if !is_absent(&e) => return Err(io_error("sync", dir, e)),
            _ => {}
        }
    }
    // Best effort: remove the folders the delete left empty, up to (not including) the root.
    // A concurrent put that loses its folder this way creates it again.
    while let Some(current) = dir.filter(|d| *d != root) {
        if fs::remove_dir(current).is_err() {
            break;
        }
        dir = current.parent();
        if let Some(parent) = dir {
            sync_dir(parent).ok();
        }
    }
    Ok(())
}

/// Adds to `found` every object under `dir` whose key starts with `prefix`; `key_prefix` is
/// the key text of `dir` (`""` for the root, otherwise ending with `/`). Folders that cannot
/// hold a matching key are not read.
fn walk(dir: &Path, key_prefix: &str, prefix: &str, found: &mut Vec<ObjectMeta>) -> PortResult<()> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        // Removed by a concurrent delete since its parent was read.
        Err(e) if is_absent(&e) && !key_prefix.is_empty() => return Ok(()),
        Err(e) => return Err(io_error("list", dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| io_error("list", dir, e))?;
        let file_name = entry.file_name();
        let Some(name) = file_name.to_str().filter(|n| is_key_segment(n)) else {
            continue;
        };
        let key_text = format!("{key_prefix}{name}");
        if key_text.len() > ObjectKey::MAX_LEN {
            continue;
        }
        let file_type = match entry.file_type() {
            Ok(file_type) => file_type,
            Err(e) if is_absent(&e) => continue,
            Err(e) => return Err(io_error("list", &entry.path(), e)),
        };
        if file_type.is_dir() {
            let sub_prefix = format!("{key_text}/");
            if sub_prefix.starts_with(prefix) || prefix.starts_with(&sub_prefix) {
                walk(&entry.path(), &sub_prefix, prefix, found)?;
            }
        } else if file_type.is_file() && key_text.starts_with(prefix) {
            let Ok(key) = ObjectKey::parse(&key_text) else {
                continue;
            };
            let path = entry.path();
            match fs::read(&path) {
                Ok(bytes) => found.push(ObjectMeta {
                    key,
                    size: bytes.len() as u64,
                    etag: etag_of(&bytes),
                }),
                // Deleted since the folder was read.
                Err(e) if is_absent(&e) => {}
                Err(e) => return Err(io_error("read", &path, e)),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_are_never_key_segments() {
        for name in ["a.yml", ".hidden", &"x".repeat(300)] {
            let temp = temp_name(name);
            assert!(!is_key_segment(&temp), "{temp}");
            assert!(temp.len() < 255, "{temp}");
        }
        assert_ne!(temp_name("a"), temp_name("a"));
    }

    #[test]
    fn paths_stay_under_the_root() {
        let root = Path::new("/store");
        let key = ObjectKey::parse("mocks/ws-1/..a/m.yml").unwrap();
        assert_eq!(
            path_of(root, &key).unwrap(),
            Path::new("/store/mocks/ws-1/..a/m.yml")
        );
    }
}
