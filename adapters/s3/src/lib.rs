//! The moclojer object store on S3 or any S3-compatible server: [`S3ObjectStore`].
//!
//! Each object is one S3 object in one bucket, at its [`ObjectKey`] after an optional
//! [`S3Config::prefix`]. Writes are single-part `PUT`s, which S3 applies atomically, so
//! readers see the old or the new content, never a mix. Version tags are the server's
//! ETags without their quotes; for a single-part upload that is the hex MD5 of the content,
//! so equal content has equal tags. (Servers that encrypt with SSE-KMS or SSE-C return other
//! ETags; this store is not meant for those buckets.)
//!
//! [`S3ObjectStore::get_if_changed`](ObjectStore::get_if_changed) is a conditional `GET`
//! (`If-None-Match`), so an unchanged object costs a `304` and no body. Listing follows
//! `ListObjectsV2` continuation tokens until the end, so any number of objects is returned.
//!
//! # Errors
//!
//! Every failure is a [`PortError`]; its kind is what callers branch on:
//!
//! | what happened | kind |
//! |---|---|
//! | `404 NoSuchKey` (or a `404` to `HEAD`) | `NotFound` (`delete` succeeds) |
//! | connection refused or reset, DNS failure, `429`, `5xx`, `503 SlowDown`, `409 OperationAborted` | `Unavailable` (retryable) |
//! | no answer within [`S3Config::request_timeout`], `408`, `400 RequestTimeout` | `Timeout` (retryable) |
//! | `403` (`AccessDenied`, `SignatureDoesNotMatch`, `InvalidAccessKeyId`, `RequestTimeTooSkewed`, …), `400 AuthorizationHeaderMalformed`, `404 NoSuchBucket`, `301` (wrong region or endpoint) | `Internal`: the store is misconfigured; not retryable |
//! | `400 KeyTooLongError`, `EntityTooLarge`, `413` | `Invalid` |
//! | other `409`s (a key that clashes with a folder on file-backed servers) | `Conflict` |
//! | an answer that cannot be read, any other status | `Internal` |
//!
//! A `HEAD` answer has no body, so a `HEAD` in a missing bucket reads as an absent object
//! (`NotFound`); every other call there names the missing bucket.
//!
//! Credential and bucket problems are `Internal`, not `Unauthenticated` or `NotFound`: they
//! are the operator's to fix, no retry helps, and the end user whose request touched the
//! store is neither unauthenticated nor asking for something absent. The message names the
//! S3 error code and what to check; the cause chain keeps the server's answer.
//!
//! Reads (`GET`, `HEAD`, `ListObjectsV2`) that fail on the transport or with a
//! `408`/`429`/`5xx` are retried once, after one second, by `rust-s3` itself (its
//! process-wide `s3::set_retries` setting, left at its default of 1); writes and deletes are
//! not replayed. So against a stopped server a read fails in about a second, and a write at
//! once. Each attempt is bounded by [`S3Config::request_timeout`].
//!
//! # Creating the bucket
//!
//! With [`S3Config::create_bucket`], [`S3ObjectStore::connect`] creates the bucket and
//! accepts `BucketAlreadyOwnedByYou` and `BucketAlreadyExists` as success (moto answers the
//! latter for a bucket of the same account). The request carries a `LocationConstraint`
//! for every region but `us-east-1`, which S3 and moto refuse to see named, so no process
//! environment variable (`RUST_S3_SKIP_LOCATION_CONSTRAINT`) is needed. On AWS, a bucket of
//! that name owned by another account also answers `BucketAlreadyExists`; the first use then
//! fails with `403` (`Internal`).
//!
//! No request is sent by `connect` when the bucket is not to be created: a missing bucket
//! or wrong credentials show at the first call.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http::header::{HeaderValue, IF_NONE_MATCH};
use moclojer_ports::{
    ETag, Object, ObjectKey, ObjectMeta, ObjectStore, PortError, PortErrorKind as Kind, PortResult,
};
use s3::command::Command;
use s3::creds::Credentials;
use s3::error::S3Error;
use s3::request::Request as _;
use s3::request::ResponseData;
use s3::request::tokio_backend::ReqwestRequest;
use s3::{Bucket, BucketConfiguration, Region};

/// A secret text, such as an S3 secret key. Its `Debug` form never shows it, so a
/// configuration can be logged whole.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `text`.
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The secret itself, to hand to the code that uses it; never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl From<String> for Secret {
    fn from(text: String) -> Self {
        Self(text)
    }
}

impl From<&str> for Secret {
    fn from(text: &str) -> Self {
        Self(text.to_owned())
    }
}

/// Where and how to reach the bucket. Build it with [`S3Config::new`] or
/// [`S3Config::from_url`] and change the fields that differ from the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct S3Config {
    /// The server's base URL, `http` or `https`, without a path:
    /// `http://127.0.0.1:9000`, `https://s3.eu-west-1.amazonaws.com`.
    pub endpoint: String,
    /// The region requests are signed for ([`S3Config::DEFAULT_REGION`] unless set).
    pub region: String,
    /// The bucket's name: 3 to 63 characters of `[a-z0-9.-]`, beginning and ending with a
    /// letter or digit.
    pub bucket: String,
    /// The access key id.
    pub access_key: String,
    /// The secret access key.
    pub secret_key: Secret,
    /// Whether the bucket is addressed in the path (`http://host/bucket/key`, what local
    /// servers need; the default) rather than in the host name (`http://bucket.host/key`).
    pub path_style: bool,
    /// Whether [`S3ObjectStore::connect`] creates the bucket (an existing one is fine).
    /// Off by default.
    pub create_bucket: bool,
    /// A folder inside the bucket that holds every object of this store, such as
    /// `moclojer` or `env/prod`; `None` (the default) for the bucket's root. It has the
    /// form of an [`ObjectKey`]; a trailing `/` is optional.
    pub prefix: Option<String>,
    /// The longest one request may take, connection included
    /// ([`S3Config::DEFAULT_REQUEST_TIMEOUT`] unless set).
    pub request_timeout: Duration,
}

impl S3Config {
    /// The region used unless another is set. S3-compatible servers usually ignore the
    /// region or expect this one.
    pub const DEFAULT_REGION: &'static str = "us-east-1";

    /// The request timeout used unless another is set: long enough for a large unified
    /// configuration, short enough that a hung server is noticed.
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

    /// A configuration for `bucket` at `endpoint` with these credentials, and the defaults
    /// for everything else: [`S3Config::DEFAULT_REGION`], path style, no bucket creation,
    /// no prefix, [`S3Config::DEFAULT_REQUEST_TIMEOUT`].
    pub fn new(
        endpoint: impl Into<String>,
        bucket: impl Into<String>,
        access_key: impl Into<String>,
        secret_key: impl Into<Secret>,
    ) -> Self {
        Self {
            endpoint: endpoint.into(),
            region: Self::DEFAULT_REGION.to_owned(),
            bucket: bucket.into(),
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            path_style: true,
            create_bucket: false,
            prefix: None,
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
        }
    }

    /// Reads `s3://<bucket>[/<prefix>][?<options>]`, with the credentials given apart (they
    /// do not belong in a URL, which ends up in logs). The options, all optional:
    ///
    /// - `endpoint=<url>`: the server; `https://s3.<region>.amazonaws.com` when absent;
    /// - `region=<name>`: [`S3Config::DEFAULT_REGION`] when absent;
    /// - `path_style=<bool>`: `true` when absent;
    /// - `create_bucket=<bool>`: `false` when absent;
    /// - `timeout_ms=<milliseconds>`: [`S3Config::DEFAULT_REQUEST_TIMEOUT`] when absent.
    ///
    /// For example `s3://moclojer/prod?endpoint=http://127.0.0.1:9000&region=eu-west-1`.
    /// The values are checked again by [`S3ObjectStore::connect`].
    ///
    /// # Errors
    /// `Invalid`, saying what is wrong: not an `s3://` URL, a user or password in it, an
    /// unknown or repeated option, a value that does not parse.
    pub fn from_url(
        url: &str,
        access_key: impl Into<String>,
        secret_key: impl Into<Secret>,
    ) -> PortResult<Self> {
        let bad = |what: &str| PortError::invalid(format!("{url:?} is not an s3 url: {what}"));
        let parsed = url::Url::parse(url).map_err(|e| bad("it does not parse").with_source(e))?;
        if parsed.scheme() != "s3" {
            return Err(bad("the scheme is not s3"));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(bad("credentials do not belong in the url"));
        }
        if parsed.port().is_some() || parsed.fragment().is_some() {
            return Err(bad("it has a port or a fragment"));
        }
        let bucket = parsed.host_str().unwrap_or_default();
        if bucket.is_empty() {
            return Err(bad("it names no bucket"));
        }
        let mut config = Self::new("", bucket, access_key, secret_key);
        let prefix = parsed.path().trim_start_matches('/');
        if !prefix.is_empty() {
            config.prefix = Some(prefix.to_owned());
        }
        let mut endpoint = None;
        let mut seen = Vec::new();
        for (name, value) in parsed.query_pairs() {
            if seen.contains(&name) {
                return Err(bad(&format!("the option {name} is given twice")));
            }
            let flag = |value: &str| match value {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(bad(&format!("{name} must be true or false"))),
            };
            match name.as_ref() {
                "endpoint" => endpoint = Some(value.clone().into_owned()),
                "region" => config.region = value.clone().into_owned(),
                "path_style" => config.path_style = flag(&value)?,
                "create_bucket" => config.create_bucket = flag(&value)?,
                "timeout_ms" => {
                    let ms: u64 = value
                        .parse()
                        .map_err(|_| bad("timeout_ms must be a number of milliseconds"))?;
                    config.request_timeout = Duration::from_millis(ms);
                }
                other => return Err(bad(&format!("unknown option {other:?}"))),
            }
            seen.push(name);
        }
        config.endpoint =
            endpoint.unwrap_or_else(|| format!("https://s3.{}.amazonaws.com", config.region));
        Ok(config)
    }
}

/// Objects in one S3 bucket (under an optional prefix), versioned by their ETags. Cloning
/// shares the connection pool; any number of stores, in any number of processes, may use
/// the same bucket at once.
#[derive(Clone)]
pub struct S3ObjectStore {
    inner: Arc<Inner>,
}

struct Inner {
    bucket: Bucket,
    /// `""` or the configured prefix ending with `/`.
    prefix: String,
    endpoint: String,
}

impl fmt::Debug for S3ObjectStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the `Bucket`: its `Debug` would print the credentials.
        f.debug_struct("S3ObjectStore")
            .field("endpoint", &self.inner.endpoint)
            .field("bucket", &self.inner.bucket.name)
            .field("region", &self.region())
            .field("prefix", &self.inner.prefix)
            .finish_non_exhaustive()
    }
}

impl S3ObjectStore {
    /// A store on the bucket `config` names, created first when
    /// [`S3Config::create_bucket`] says so. Without creation no request is sent.
    ///
    /// # Errors
    /// `Invalid` when the configuration is malformed (endpoint, region, bucket name, prefix,
    /// empty credentials, a zero timeout); when creating the bucket, the kinds of the
    /// module documentation: `Unavailable` or `Timeout` when the server cannot be reached,
    /// `Internal` when it refuses the credentials.
    pub async fn connect(config: &S3Config) -> PortResult<Self> {
        let endpoint = check_endpoint(&config.endpoint)?;
        check_bucket_name(&config.bucket)?;
        let prefix = normalize_prefix(config.prefix.as_deref())?;
        let region = config.region.trim();
        if region.is_empty()
            || !region
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(PortError::invalid(format!(
                "{:?} is not an s3 region name",
                config.region
            )));
        }
        if config.access_key.is_empty() || config.secret_key.expose().is_empty() {
            return Err(PortError::invalid(
                "the s3 access key and secret key must not be empty",
            ));
        }
        if config.request_timeout.is_zero() {
            return Err(PortError::invalid(
                "the s3 request timeout must not be zero",
            ));
        }
        let credentials = Credentials::new(
            Some(&config.access_key),
            Some(config.secret_key.expose()),
            None,
            None,
            None,
        )
        .map_err(|e| PortError::invalid("the s3 credentials are not usable").with_source(e))?;
        let region = Region::Custom {
            region: region.to_owned(),
            endpoint: endpoint.clone(),
        };
        let mut bucket = *Bucket::new(&config.bucket, region, credentials).map_err(|e| {
            PortError::invalid(format!("cannot address the s3 bucket {}", config.bucket))
                .with_source(e)
        })?;
        bucket.set_request_timeout(Some(config.request_timeout));
        if config.path_style {
            bucket.set_path_style();
        } else {
            bucket.set_subdomain_style();
        }
        let store = Self {
            inner: Arc::new(Inner {
                bucket,
                prefix,
                endpoint,
            }),
        };
        if config.create_bucket {
            store.create_bucket().await?;
        }
        Ok(store)
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.inner.bucket.name
    }

    /// The prefix every key gets in the bucket: `""`, or the configured one ending with `/`.
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    fn region(&self) -> String {
        match &self.inner.bucket.region {
            Region::Custom { region, .. } => region.clone(),
            other => other.to_string(),
        }
    }

    /// Creates the bucket; one that already exists is fine.
    async fn create_bucket(&self) -> PortResult<()> {
        let bucket = &self.inner.bucket;
        let region = self.region();
        // S3 and moto refuse a LocationConstraint naming us-east-1, the default region;
        // `Bucket::create*` would send one unless a process environment variable is set.
        let constraint = (region != "us-east-1").then(|| bucket.region.clone());
        let configuration =
            BucketConfiguration::new(None, false, None, None, None, None, None, constraint);
        let action = || format!("create the bucket {}", bucket.name);
        let command = Command::CreateBucket {
            config: configuration,
        };
        let result = match ReqwestRequest::new(bucket, "", command).await {
            Ok(request) => request.response_data(false).await,
            Err(e) => Err(e),
        };
        let response = match result {
            Ok(response) => response,
            Err(S3Error::HttpFailWithBody(409, body)) if bucket_exists_code(&body) => return Ok(()),
            Err(e) => return Err(self.failure(&action(), e)),
        };
        match response.status_code() {
            200..=299 => Ok(()),
            409 if bucket_exists_code(response.as_str().unwrap_or_default()) => Ok(()),
            _ => Err(self.failure(&action(), into_http_failure(response))),
        }
    }

    /// The S3 key of `key`.
    fn path_of(&self, key: &ObjectKey) -> String {
        format!("{}{}", self.inner.prefix, key.as_str())
    }

    /// Maps `error` from `action` to a port error (see the module documentation).
    fn failure(&self, action: &str, error: S3Error) -> PortError {
        let bucket = &self.inner.bucket.name;
        let (kind, detail) = match &error {
            S3Error::HttpFailWithBody(status, body) => classify_status(*status, error_code(body)),
            other => classify_transport(other),
        };
        let message = format!("s3: cannot {action} in bucket {bucket}: {detail}");
        PortError::new(kind, message).with_source(error)
    }

    async fn get_object(&self, key: &ObjectKey, if_none_match: Option<&ETag>) -> PortResult<Got> {
        let path = self.path_of(key);
        let action = || format!("get {key}");
        let conditional = if_none_match.and_then(quoted_header).map(|value| {
            let mut bucket = self.inner.bucket.clone();
            bucket.extra_headers_mut().insert(IF_NONE_MATCH, value);
            bucket
        });
        let bucket = conditional.as_ref().unwrap_or(&self.inner.bucket);
        let response = match bucket.get_object(&path).await {
            Ok(response) => response,
            Err(S3Error::HttpFailWithBody(304, _)) => return Ok(Got::NotModified),
            Err(e) => return Err(self.not_found_or(key, &action(), e)),
        };
        match response.status_code() {
            200..=299 => {}
            304 => return Ok(Got::NotModified),
            _ => return Err(self.not_found_or(key, &action(), into_http_failure(response))),
        }
        let etag = header(&response, "etag")
            .map(|raw| clean_etag(&raw))
            .ok_or_else(|| self.no_etag(&action()))?;
        Ok(Got::Object(Object {
            bytes: response.into_bytes(),
            etag,
        }))
    }

    /// `NotFound` for a missing object, otherwise the mapped failure.
    fn not_found_or(&self, key: &ObjectKey, action: &str, error: S3Error) -> PortError {
        let err = self.failure(action, error);
        if err.kind() == Kind::NotFound {
            PortError::not_found(format!("no object at {key}")).with_source(err)
        } else {
            err
        }
    }

    fn no_etag(&self, action: &str) -> PortError {
        PortError::internal(format!(
            "s3: cannot {action} in bucket {}: the server sent no etag",
            self.inner.bucket.name
        ))
    }
}

/// The answer to a (conditional) `GET`.
enum Got {
    Object(Object),
    NotModified,
}

#[async_trait]
impl ObjectStore for S3ObjectStore {
    async fn put(&self, key: &ObjectKey, bytes: Bytes) -> PortResult<ETag> {
        let path = self.path_of(key);
        let action = || format!("put {key}");
        let response = self
            .inner
            .bucket
            .put_object(&path, &bytes)
            .await
            .map_err(|e| self.failure(&action(), e))?;
        if !(200..=299).contains(&response.status_code()) {
            return Err(self.failure(&action(), into_http_failure(response)));
        }
        // `put_object` answers with the ETag header as its body.
        let etag = response.as_str().unwrap_or_default().trim();
        if etag.is_empty() {
            return Err(self.no_etag(&action()));
        }
        Ok(clean_etag(etag))
    }

    async fn get(&self, key: &ObjectKey) -> PortResult<Object> {
        match self.get_object(key, None).await? {
            Got::Object(object) => Ok(object),
            Got::NotModified => Err(PortError::internal(format!(
                "s3: cannot get {key} in bucket {}: the server answered 304 to an unconditional get",
                self.inner.bucket.name
            ))),
        }
    }

    async fn get_if_changed(&self, key: &ObjectKey, etag: &ETag) -> PortResult<Option<Object>> {
        match self.get_object(key, Some(etag)).await? {
            // A server that ignores If-None-Match sends the object again: compare.
            Got::Object(object) => Ok((object.etag != *etag).then_some(object)),
            Got::NotModified => Ok(None),
        }
    }

    async fn head(&self, key: &ObjectKey) -> PortResult<ObjectMeta> {
        let path = self.path_of(key);
        let action = || format!("head {key}");
        let (result, status) = self
            .inner
            .bucket
            .head_object(&path)
            .await
            .map_err(|e| self.not_found_or(key, &action(), e))?;
        if !(200..=299).contains(&status) {
            let error = S3Error::HttpFailWithBody(status, String::new());
            return Err(self.not_found_or(key, &action(), error));
        }
        let etag = result
            .e_tag
            .as_deref()
            .map(clean_etag)
            .ok_or_else(|| self.no_etag(&action()))?;
        let size = result
            .content_length
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| {
                PortError::internal(format!(
                    "s3: cannot head {key} in bucket {}: the server sent no size",
                    self.inner.bucket.name
                ))
            })?;
        Ok(ObjectMeta {
            key: key.clone(),
            size,
            etag,
        })
    }

    async fn delete(&self, key: &ObjectKey) -> PortResult<()> {
        let path = self.path_of(key);
        let action = || format!("delete {key}");
        let error = match self.inner.bucket.delete_object(&path).await {
            Ok(response) if (200..=299).contains(&response.status_code()) => return Ok(()),
            Ok(response) => into_http_failure(response),
            Err(e) => e,
        };
        let err = self.failure(&action(), error);
        // Deleting an absent object succeeds; S3 itself answers 204, some servers 404.
        if err.kind() == Kind::NotFound {
            return Ok(());
        }
        Err(err)
    }

    async fn list(&self, prefix: &str) -> PortResult<Vec<ObjectMeta>> {
        let full_prefix = format!("{}{prefix}", self.inner.prefix);
        let action = || format!("list {prefix:?}");
        let mut found = Vec::new();
        let mut token: Option<String> = None;
        let mut start_after: Option<String> = None;
        loop {
            let (page, status) = self
                .inner
                .bucket
                .list_page(
                    full_prefix.clone(),
                    None,
                    token.clone(),
                    start_after.clone(),
                    Some(1000),
                )
                .await
                .map_err(|e| self.failure(&action(), e))?;
            if !(200..=299).contains(&status) {
                let error = S3Error::HttpFailWithBody(status, String::new());
                return Err(self.failure(&action(), error));
            }
            let last = page.contents.last().map(|o| o.key.clone());
            for object in page.contents {
                let Some(key) = object
                    .key
                    .strip_prefix(&self.inner.prefix)
                    .filter(|k| k.starts_with(prefix))
                    .and_then(|k| ObjectKey::parse(k).ok())
                else {
                    // Not an object of this store (a key it could not have written).
                    continue;
                };
                let etag = object
                    .e_tag
                    .as_deref()
                    .map(clean_etag)
                    .ok_or_else(|| self.no_etag(&action()))?;
                found.push(ObjectMeta {
                    key,
                    size: object.size,
                    etag,
                });
            }
            match (page.next_continuation_token, page.is_truncated, last) {
                (Some(next), _, _) if !next.is_empty() => {
                    if token.as_ref() == Some(&next) {
                        return Err(PortError::internal(format!(
                            "s3: cannot {} in bucket {}: the server repeated a continuation token",
                            action(),
                            self.inner.bucket.name
                        )));
                    }
                    token = Some(next);
                    start_after = None;
                }
                // A truncated page without a token: go on after its last key.
                (_, true, Some(last)) => {
                    token = None;
                    start_after = Some(last);
                }
                (_, true, None) => {
                    return Err(PortError::internal(format!(
                        "s3: cannot {} in bucket {}: the server sent an empty truncated page",
                        action(),
                        self.inner.bucket.name
                    )));
                }
                _ => break,
            }
        }
        found.sort_by(|a, b| a.key.cmp(&b.key));
        found.dedup_by(|a, b| a.key == b.key);
        Ok(found)
    }
}

/// The endpoint as `scheme://host[:port]`, or `Invalid`.
fn check_endpoint(raw: &str) -> PortResult<String> {
    let bad = |what: &str| PortError::invalid(format!("{raw:?} is not an s3 endpoint: {what}"));
    let url = url::Url::parse(raw).map_err(|e| bad("it does not parse").with_source(e))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("the scheme is not http or https"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("credentials do not belong in the url"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(bad("it has a path, a query or a fragment"));
    }
    let Some(host) = url.host_str() else {
        return Err(bad("it has no host"));
    };
    Ok(match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    })
}

/// S3's bucket naming rules, the part that keeps the name safe in a URL.
fn check_bucket_name(name: &str) -> PortResult<()> {
    let ok = (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(PortError::invalid(format!(
            "{name:?} is not an s3 bucket name: 3 to 63 characters of [a-z0-9.-], beginning \
             and ending with a letter or digit"
        )))
    }
}

/// The longest prefix, so that prefix and key stay within S3's 1,024-byte keys.
const MAX_PREFIX_LEN: usize = 256;

/// `""`, or `raw` as a valid key ending with `/`.
fn normalize_prefix(raw: Option<&str>) -> PortResult<String> {
    let trimmed = raw.unwrap_or_default().trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    if trimmed.len() > MAX_PREFIX_LEN {
        return Err(PortError::invalid(format!(
            "the s3 prefix is longer than {MAX_PREFIX_LEN} bytes"
        )));
    }
    ObjectKey::parse(trimmed)
        .map(|key| format!("{key}/"))
        .map_err(|e| PortError::invalid(format!("{trimmed:?} is not an s3 prefix")).with_source(e))
}

/// `"etag"` as an `If-None-Match` value; `None` when it cannot be a header (then the
/// object is fetched and compared).
fn quoted_header(etag: &ETag) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!("\"{}\"", etag.0)).ok()
}

/// An ETag as the port carries it: without `W/` and quotes.
fn clean_etag(raw: &str) -> ETag {
    let raw = raw.trim();
    let raw = raw.strip_prefix("W/").unwrap_or(raw);
    ETag(raw.trim_matches('"').to_owned())
}

/// The value of the response header `name`, whatever its case.
fn header(response: &ResponseData, name: &str) -> Option<String> {
    response
        .headers()
        .into_iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// A non-2xx answer as the error `fail-on-err` would have made of it.
fn into_http_failure(response: ResponseData) -> S3Error {
    let status = response.status_code();
    let body = response.as_str().unwrap_or_default().to_owned();
    S3Error::HttpFailWithBody(status, body)
}

/// The `<Code>` of an S3 error document.
fn error_code(body: &str) -> Option<&str> {
    let start = body.find("<Code>")? + "<Code>".len();
    let len = body[start..].find("</Code>")?;
    Some(body[start..start + len].trim())
}

fn bucket_exists_code(body: &str) -> bool {
    matches!(
        error_code(body),
        Some("BucketAlreadyOwnedByYou" | "BucketAlreadyExists")
    )
}

/// The kind and a lowercase explanation of an S3 error answer.
fn classify_status(status: u16, code: Option<&str>) -> (Kind, String) {
    let named = |what: &str| match code {
        Some(code) => format!("{what} ({status} {code})"),
        None => format!("{what} ({status})"),
    };
    let credentials = || {
        (
            Kind::Internal,
            named(
                "the server refused the credentials; check the access key, the secret key, \
                 the region and the bucket's permissions",
            ),
        )
    };
    match (status, code) {
        (_, Some("NoSuchBucket")) => (
            Kind::Internal,
            named("the bucket does not exist; create it or set create_bucket"),
        ),
        (404, _) | (_, Some("NoSuchKey")) => (Kind::NotFound, named("no such object")),
        (_, Some("RequestTimeTooSkewed")) => (
            Kind::Internal,
            named("the server refused the request time; check this machine's clock"),
        ),
        (401 | 403, _)
        | (
            _,
            Some(
                "SignatureDoesNotMatch"
                | "InvalidAccessKeyId"
                | "AccessDenied"
                | "AuthorizationHeaderMalformed"
                | "ExpiredToken"
                | "InvalidToken",
            ),
        ) => credentials(),
        (_, Some("SlowDown" | "ServiceUnavailable" | "InternalError" | "OperationAborted")) => (
            Kind::Unavailable,
            named("the server refused service for now"),
        ),
        (408, _) | (_, Some("RequestTimeout")) => {
            (Kind::Timeout, named("the server timed the request out"))
        }
        (413, _) | (_, Some("KeyTooLongError" | "EntityTooLarge" | "InvalidBucketName")) => (
            Kind::Invalid,
            named("the server refused the request as too large or malformed"),
        ),
        (301 | 307, _) | (_, Some("PermanentRedirect" | "TemporaryRedirect")) => (
            Kind::Internal,
            named("the bucket is elsewhere; check the endpoint and the region"),
        ),
        (409, _) => (Kind::Conflict, named("the key clashes with another object")),
        (429 | 500..=599, _) => (
            Kind::Unavailable,
            named("the server refused service for now"),
        ),
        _ => (Kind::Internal, named("unexpected answer")),
    }
}

/// The kind and a lowercase explanation of a failure that is not an S3 error answer.
fn classify_transport(error: &S3Error) -> (Kind, String) {
    match error {
        S3Error::Reqwest(e) if e.is_timeout() => (
            Kind::Timeout,
            "the server did not answer in time".to_owned(),
        ),
        S3Error::Reqwest(e) if e.is_builder() => {
            (Kind::Internal, "the request could not be built".to_owned())
        }
        S3Error::Reqwest(e) if e.is_connect() => {
            (Kind::Unavailable, "the server cannot be reached".to_owned())
        }
        S3Error::Reqwest(_) => (
            Kind::Unavailable,
            "the connection to the server failed".to_owned(),
        ),
        S3Error::Io(e) if e.kind() == std::io::ErrorKind::TimedOut => (
            Kind::Timeout,
            "the server did not answer in time".to_owned(),
        ),
        S3Error::Io(_) => (
            Kind::Unavailable,
            "the connection to the server failed".to_owned(),
        ),
        S3Error::SerdeXml(_) | S3Error::Utf8(_) | S3Error::FromUtf8(_) => (
            Kind::Internal,
            "the server's answer could not be read".to_owned(),
        ),
        S3Error::HttpFail => (Kind::Internal, "unexpected answer".to_owned()),
        _ => (Kind::Internal, "the request failed".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_not_debugged() {
        let config = S3Config::new("http://127.0.0.1:9000", "b-1", "ak", "very-secret");
        let shown = format!("{config:?}");
        assert!(!shown.contains("very-secret"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn urls_parse() {
        let config = S3Config::from_url(
            "s3://moclojer/env/prod?endpoint=http://127.0.0.1:9000&region=eu-west-1\
             &path_style=false&create_bucket=true&timeout_ms=2500",
            "ak",
            "sk",
        )
        .unwrap();
        assert_eq!(config.bucket, "moclojer");
        assert_eq!(config.prefix.as_deref(), Some("env/prod"));
        assert_eq!(config.endpoint, "http://127.0.0.1:9000");
        assert_eq!(config.region, "eu-west-1");
        assert!(!config.path_style);
        assert!(config.create_bucket);
        assert_eq!(config.request_timeout, Duration::from_millis(2500));
        assert_eq!(config.secret_key.expose(), "sk");

        let plain = S3Config::from_url("s3://bucket", "ak", "sk").unwrap();
        assert_eq!(plain.endpoint, "https://s3.us-east-1.amazonaws.com");
        assert_eq!(plain.region, S3Config::DEFAULT_REGION);
        assert_eq!(plain.prefix, None);
        assert!(plain.path_style && !plain.create_bucket);

        for bad in [
            "http://bucket",
            "s3://user:pw@bucket",
            "s3:///prefix",
            "s3://bucket?colour=red",
            "s3://bucket?region=a&region=b",
            "s3://bucket?path_style=maybe",
            "s3://bucket?timeout_ms=soon",
            "not a url",
        ] {
            let err = S3Config::from_url(bad, "ak", "sk").unwrap_err();
            assert_eq!(err.kind(), Kind::Invalid, "{bad}");
        }
    }

    #[test]
    fn endpoints_buckets_and_prefixes_are_checked() {
        assert_eq!(
            check_endpoint("http://127.0.0.1:9000/").unwrap(),
            "http://127.0.0.1:9000"
        );
        assert_eq!(
            check_endpoint("https://s3.eu-west-1.amazonaws.com").unwrap(),
            "https://s3.eu-west-1.amazonaws.com"
        );
        for bad in [
            "127.0.0.1:9000",
            "ftp://host",
            "http://a:b@host",
            "http://host/path",
            "http://host/?q=1",
        ] {
            assert!(check_endpoint(bad).is_err(), "{bad}");
        }
        for ok in ["abc", "moclojer-test-0a1b", "a.b-c", &"a".repeat(63)] {
            assert!(check_bucket_name(ok).is_ok(), "{ok}");
        }
        for bad in ["ab", "Upper", "a_b", "-ab", "ab-", "a/b", &"a".repeat(64)] {
            assert!(check_bucket_name(bad).is_err(), "{bad}");
        }
        assert_eq!(normalize_prefix(None).unwrap(), "");
        assert_eq!(normalize_prefix(Some("")).unwrap(), "");
        assert_eq!(normalize_prefix(Some("a/b")).unwrap(), "a/b/");
        assert_eq!(normalize_prefix(Some("a/b/")).unwrap(), "a/b/");
        for bad in ["/a", "a//b", "../a", "a b", &"a".repeat(300)] {
            assert!(normalize_prefix(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn etags_lose_their_quotes() {
        assert_eq!(clean_etag("\"abc\"").0, "abc");
        assert_eq!(clean_etag(" W/\"abc\" ").0, "abc");
        assert_eq!(clean_etag("abc").0, "abc");
        assert_eq!(
            quoted_header(&ETag("abc".to_owned())).unwrap(),
            HeaderValue::from_static("\"abc\"")
        );
        assert!(quoted_header(&ETag("a\nb".to_owned())).is_none());
    }

    #[test]
    fn statuses_map_to_kinds() {
        let body =
            "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>x</Message></Error>";
        assert_eq!(error_code(body), Some("NoSuchKey"));
        assert_eq!(error_code("no xml"), None);
        let cases: &[(u16, Option<&str>, Kind)] = &[
            (404, Some("NoSuchKey"), Kind::NotFound),
            (404, None, Kind::NotFound),
            (404, Some("NoSuchBucket"), Kind::Internal),
            (403, Some("SignatureDoesNotMatch"), Kind::Internal),
            (403, Some("InvalidAccessKeyId"), Kind::Internal),
            (403, Some("AccessDenied"), Kind::Internal),
            (403, None, Kind::Internal),
            (403, Some("RequestTimeTooSkewed"), Kind::Internal),
            (400, Some("AuthorizationHeaderMalformed"), Kind::Internal),
            (400, Some("RequestTimeout"), Kind::Timeout),
            (400, Some("KeyTooLongError"), Kind::Invalid),
            (400, Some("SomethingElse"), Kind::Internal),
            (408, None, Kind::Timeout),
            (409, Some("OperationAborted"), Kind::Unavailable),
            (409, Some("XMinioParentIsObject"), Kind::Conflict),
            (413, None, Kind::Invalid),
            (429, None, Kind::Unavailable),
            (500, Some("InternalError"), Kind::Unavailable),
            (502, None, Kind::Unavailable),
            (503, Some("SlowDown"), Kind::Unavailable),
            (301, Some("PermanentRedirect"), Kind::Internal),
            (418, None, Kind::Internal),
        ];
        for (status, code, kind) in cases {
            assert_eq!(
                classify_status(*status, *code).0,
                *kind,
                "{status} {code:?}"
            );
        }
        assert!(bucket_exists_code(
            "<Error><Code>BucketAlreadyOwnedByYou</Code></Error>"
        ));
        assert!(bucket_exists_code(
            "<Error><Code>BucketAlreadyExists</Code></Error>"
        ));
        assert!(!bucket_exists_code(
            "<Error><Code>AccessDenied</Code></Error>"
        ));
    }
}
