//! S3 inputs: list a prefix, read an object's metadata, and stream an object's body as a
//! blocking [`Read`], so the archive reader checks `s3://bucket/key.tar.gz` without a temp file.
//!
//! The AWS SDK is async; the async stays in here. One current-thread tokio runtime runs on a
//! thread of its own for the whole process; every call is spawned onto it and waited for over a
//! channel. An object's body comes through a bounded channel of chunks (the SDK's, typically
//! 8–64 KiB), so a slow reader holds back the download instead of buffering it.
//! Credentials and region come from the standard AWS chain (`aws-config`): environment, shared
//! config and `--profile`, web identity, container and instance metadata.

use std::fmt;
use std::io::{self, Read};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::ResponseChecksumValidation;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{ByteStream, DateTime, DateTimeFormat};
use aws_sdk_s3::types::ChecksumMode;
use bytes::Bytes;

/// How many chunks of a body may wait between the download and the reader.
const CHANNEL_CHUNKS: usize = 4;
/// How many times a request is tried: throttling and transient errors are retried with
/// exponential backoff and jitter (the SDK's standard strategy).
const ATTEMPTS: u32 = 4;
/// How many times a body cut mid-stream is resumed with a ranged GET before giving up.
pub const RESUMES: u32 = 3;

/// Where to reach S3 and as whom: `--endpoint-url`, `--profile`, `--region` (each also from the
/// config file and the standard AWS variables, through `src/settings/`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct S3Settings {
    /// An S3-compatible endpoint; addressing is then path-style (`http://host/bucket/key`).
    pub endpoint_url: Option<String>,
    pub profile: Option<String>,
    pub region: Option<String>,
}

/// `s3://bucket/key` (a key ending in `/`, or empty, is a prefix).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    pub key: String,
}

impl S3Location {
    /// Whether `input` names an S3 location at all (then [`S3Location::parse`] says if it is valid).
    pub fn is_s3(input: &str) -> bool {
        input.starts_with("s3://")
    }

    pub fn parse(input: &str) -> Result<S3Location, String> {
        let rest = input.strip_prefix("s3://").ok_or_else(|| format!("{input}: not an s3:// url"))?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!("{input}: the url names no bucket (expected s3://bucket/key)"));
        }
        Ok(S3Location { bucket: bucket.to_string(), key: key.to_string() })
    }

    /// Whether this names a prefix (a "folder") rather than one object.
    pub fn is_prefix(&self) -> bool {
        self.key.is_empty() || self.key.ends_with('/')
    }

    /// The location of `key` in the same bucket.
    pub fn with_key(&self, key: &str) -> S3Location {
        S3Location { bucket: self.bucket.clone(), key: key.to_string() }
    }
}

impl fmt::Display for S3Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

/// One object of a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    pub etag: Option<String>,
    /// RFC 3339.
    pub last_modified: Option<String>,
}

/// One object's metadata, as HEAD returns it: what the report shows about a remote input.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ObjectMeta {
    pub url: String,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// `x-amz-checksum-*` where present: (algorithm, value), e.g. ("sha256", "base64...").
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checksums: Vec<(String, String)>,
}

/// optml could not do what it was asked with S3 (exit 2): the message names bucket and key.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{location}: {message}")]
pub struct S3Error {
    pub location: String,
    pub message: String,
    pub cause: Cause,
}

/// What kind of failure an [`S3Error`] is, where the caller acts on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// The store refused the credentials (403): worth naming the principal.
    Denied,
    /// The object no longer has the ETag it was pinned to: it was replaced while read.
    Changed,
    Other,
}

impl S3Error {
    pub fn new(location: impl Into<String>, message: impl Into<String>) -> S3Error {
        S3Error { location: location.into(), message: message.into(), cause: Cause::Other }
    }
}

/// A client of one endpoint/profile/region, on the process's S3 runtime.
#[derive(Clone)]
pub struct S3Client {
    client: aws_sdk_s3::Client,
    /// The same configuration's STS client, asked who the caller is when access is denied.
    sts: aws_sdk_sts::Client,
    endpoint: String,
}

/// The runtime every S3 call runs on: one current-thread runtime, driven by a thread of its own
/// for the life of the process (its tasks, timers and pooled connections need a driver between
/// calls too).
fn runtime() -> &'static tokio::runtime::Handle {
    static HANDLE: OnceLock<tokio::runtime::Handle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
        let handle = runtime.handle().clone();
        std::thread::Builder::new().name("optml-s3".into()).spawn(move || runtime.block_on(std::future::pending::<()>())).expect("the S3 runtime thread");
        handle
    })
}

/// Run `future` on the S3 runtime and wait for its result.
fn run<T: Send + 'static>(future: impl std::future::Future<Output = T> + Send + 'static) -> T {
    let (tx, rx) = mpsc::sync_channel(1);
    runtime().spawn(async move {
        let _ = tx.send(future.await);
    });
    rx.recv().expect("the S3 runtime thread runs for the life of the process")
}

static SETTINGS: OnceLock<S3Settings> = OnceLock::new();
static SHARED: OnceLock<Result<S3Client, S3Error>> = OnceLock::new();

/// Set the settings [`shared`] builds its client from (the settings stage calls this once).
pub fn configure(settings: S3Settings) {
    let _ = SETTINGS.set(settings);
}

/// The process's client, built once from the settings given to [`configure`] (so that every
/// input of a run shares one connection pool and one credential cache).
pub fn shared() -> Result<&'static S3Client, S3Error> {
    SHARED.get_or_init(|| S3Client::new(SETTINGS.get().cloned().unwrap_or_default())).as_ref().map_err(Clone::clone)
}

impl S3Client {
    pub fn new(settings: S3Settings) -> Result<S3Client, S3Error> {
        let endpoint = settings.endpoint_url.clone().unwrap_or_else(|| "AWS S3".into());
        let (client, sts) = run(async move {
            let mut loader = aws_config::defaults(BehaviorVersion::latest())
                // Throttling and transient network errors are retried with exponential backoff.
                .retry_config(RetryConfig::standard().with_max_attempts(ATTEMPTS))
                .timeout_config(TimeoutConfig::builder().connect_timeout(Duration::from_secs(10)).build());
            if let Some(profile) = &settings.profile {
                loader = loader.profile_name(profile);
            }
            if let Some(region) = &settings.region {
                loader = loader.region(aws_config::Region::new(region.clone()));
            }
            if let Some(url) = &settings.endpoint_url {
                loader = loader.endpoint_url(url);
            }
            let sdk = loader.load().await;
            let mut config = aws_sdk_s3::config::Builder::from(&sdk)
                // A resumed (ranged) GET has no whole-object checksum to check; the archive
                // reader's own CRC checks the bytes.
                .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
            if settings.endpoint_url.is_some() || sdk.endpoint_url().is_some() {
                config = config.force_path_style(true);
            }
            (aws_sdk_s3::Client::from_conf(config.build()), aws_sdk_sts::Client::new(&sdk))
        });
        Ok(S3Client { client, sts, endpoint })
    }

    /// Who the credentials belong to (STS GetCallerIdentity), for an access-denied message;
    /// `None` when STS does not say (no STS at a custom endpoint, or STS denied too). One
    /// cheap call, made only after a refusal.
    pub fn principal(&self) -> Option<String> {
        let sts = self.sts.clone();
        run(async move { sts.get_caller_identity().send().await.ok().and_then(|id| id.arn().map(str::to_string)) })
    }

    /// `err`, and when it is a refusal, the principal refused (or that it is unknown).
    pub fn explain(&self, mut err: S3Error) -> S3Error {
        if err.cause == Cause::Denied {
            let principal = self.principal().unwrap_or_else(|| "principal unknown".into());
            err.message = format!("{}; principal {principal}", err.message);
        }
        err
    }

    /// Every object under `prefix` of `bucket`, in key order.
    pub fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectInfo>, S3Error> {
        self.list_up_to(bucket, prefix, usize::MAX)
    }

    /// The first `max` objects under `prefix` of `bucket`, in key order: a listing stops there
    /// (`--max-entries`), so a prefix of millions of objects costs no unbounded memory.
    pub fn list_up_to(&self, bucket: &str, prefix: &str, max: usize) -> Result<Vec<ObjectInfo>, S3Error> {
        let client = self.client.clone();
        let (bucket_owned, prefix_owned) = (bucket.to_string(), prefix.to_string());
        let location = format!("s3://{bucket}/{prefix}");
        let endpoint = self.endpoint.clone();
        run(async move {
            let mut objects = Vec::new();
            let mut pages = client.list_objects_v2().bucket(&bucket_owned).prefix(&prefix_owned).into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|err| describe(&location, &endpoint, err))?;
                for object in page.contents() {
                    if objects.len() >= max {
                        return Ok(objects);
                    }
                    objects.push(ObjectInfo {
                        key: object.key().unwrap_or_default().to_string(),
                        size: object.size().unwrap_or(0).max(0) as u64,
                        etag: object.e_tag().map(str::to_string),
                        last_modified: object.last_modified().and_then(rfc3339),
                    });
                }
            }
            Ok(objects)
        })
    }

    /// One object's metadata (HEAD, with checksums asked for).
    pub fn head(&self, location: &S3Location) -> Result<ObjectMeta, S3Error> {
        let client = self.client.clone();
        let (url, loc, endpoint) = (location.to_string(), location.clone(), self.endpoint.clone());
        run(async move {
            let head = client
                .head_object()
                .bucket(&loc.bucket)
                .key(&loc.key)
                .checksum_mode(ChecksumMode::Enabled)
                .send()
                .await
                .map_err(|err| describe(&url, &endpoint, err))?;
            let checksums = [
                ("crc32", head.checksum_crc32()),
                ("crc32c", head.checksum_crc32_c()),
                ("crc64nvme", head.checksum_crc64_nvme()),
                ("sha1", head.checksum_sha1()),
                ("sha256", head.checksum_sha256()),
            ]
            .into_iter()
            .filter_map(|(name, value)| value.map(|value| (name.to_string(), value.to_string())))
            .collect();
            Ok(ObjectMeta {
                url,
                size: head.content_length().unwrap_or(0).max(0) as u64,
                etag: head.e_tag().map(str::to_string),
                last_modified: head.last_modified().and_then(rfc3339),
                checksums,
            })
        })
    }

    /// The object's body as a blocking reader. The object is pinned to `meta.etag` when given:
    /// a resumed GET of an object replaced meanwhile fails instead of splicing two objects.
    pub fn open(&self, location: &S3Location, etag: Option<&str>) -> Result<ObjectReader, S3Error> {
        let mut reader = ObjectReader {
            client: self.clone(),
            location: location.clone(),
            etag: etag.map(str::to_string),
            offset: 0,
            chunk: Bytes::new(),
            body: None,
            resumes: 0,
            failure: Arc::default(),
        };
        reader.start()?;
        Ok(reader)
    }

    /// Bytes `range` of an object (a small file a rule reads, or the tail of one), in memory,
    /// with one ranged GET pinned to `etag`. An empty range asks nothing of the store.
    pub fn read_range(&self, location: &S3Location, etag: Option<&str>, range: std::ops::Range<u64>) -> Result<Vec<u8>, S3Error> {
        if range.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.client.clone();
        let (url, loc, endpoint, etag) = (location.to_string(), location.clone(), self.endpoint.clone(), etag.map(str::to_string));
        run(async move {
            let get = client.get_object().bucket(&loc.bucket).key(&loc.key).range(format!("bytes={}-{}", range.start, range.end - 1)).set_if_match(etag);
            let body = get.send().await.map_err(|err| describe(&url, &endpoint, err))?.body;
            let bytes = body.collect().await.map_err(|err| S3Error::new(&url, format!("the download broke off: {}", DisplayErrorContext(err))))?;
            Ok(bytes.to_vec())
        })
    }
}

type Chunk = Result<Bytes, String>;

/// A blocking reader over a GET body: chunks come through a bounded channel from the download
/// task; a body cut mid-stream is resumed from the byte reached with a ranged GET.
pub struct ObjectReader {
    client: S3Client,
    location: S3Location,
    etag: Option<String>,
    /// Bytes of the object handed to the reader so far.
    offset: u64,
    chunk: Bytes,
    body: Option<tokio::sync::mpsc::Receiver<Chunk>>,
    resumes: u32,
    /// Why the download failed for good, if it did: a reader's caller may turn read errors
    /// into findings (a truncated archive), and must tell a broken download apart.
    failure: Arc<Mutex<Option<S3Error>>>,
}

impl ObjectReader {
    /// Where the reason goes if the download fails for good (see the field).
    pub fn failure(&self) -> Arc<Mutex<Option<S3Error>>> {
        Arc::clone(&self.failure)
    }

    /// GET the object from `self.offset` on, feeding the channel from a task.
    fn start(&mut self) -> Result<(), S3Error> {
        let client = self.client.client.clone();
        let (loc, etag, offset) = (self.location.clone(), self.etag.clone(), self.offset);
        let (url, endpoint) = (self.location.to_string(), self.client.endpoint.clone());
        let body: ByteStream = run(async move {
            let mut get = client.get_object().bucket(&loc.bucket).key(&loc.key);
            if offset > 0 {
                get = get.range(format!("bytes={offset}-"));
            }
            if let Some(etag) = etag {
                get = get.if_match(etag);
            }
            get.send().await.map(|out| out.body).map_err(|err| describe(&url, &endpoint, err))
        })?;
        let (tx, rx) = tokio::sync::mpsc::channel(CHANNEL_CHUNKS);
        runtime().spawn(async move {
            let mut body = body;
            loop {
                let chunk = match body.next().await {
                    None => break,
                    Some(chunk) => chunk.map_err(|err| DisplayErrorContext(err).to_string()),
                };
                let failed = chunk.is_err();
                if tx.send(chunk).await.is_err() || failed {
                    break;
                }
            }
        });
        self.body = Some(rx);
        Ok(())
    }

    /// The body broke off: GET the rest from the offset reached, a few times, saying so.
    fn resume(&mut self, why: &str) -> io::Result<()> {
        if self.resumes >= RESUMES {
            let message = format!("the download broke off at byte {} ({why}); gave up after {RESUMES} resumes", self.offset);
            return Err(self.fail(S3Error::new(self.location.to_string(), message)));
        }
        self.resumes += 1;
        eprintln!(
            "optml: {}: the download broke off at byte {} ({}); resuming from there ({} of {RESUMES})",
            crate::report::sanitize::sanitize(&self.location.to_string()),
            self.offset,
            crate::report::sanitize::sanitize(why),
            self.resumes
        );
        self.start().map_err(|err| self.fail(err))
    }

    fn fail(&self, err: S3Error) -> io::Error {
        let shown = err.to_string();
        if let Ok(mut failure) = self.failure.lock() {
            failure.get_or_insert(err);
        }
        io::Error::other(shown)
    }
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            let Some(body) = self.body.as_mut() else { return Ok(0) };
            match body.blocking_recv() {
                Some(Ok(chunk)) => self.chunk = chunk,
                Some(Err(why)) => self.resume(&why)?,
                None => {
                    self.body = None;
                    return Ok(0);
                }
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        self.offset += n as u64;
        Ok(n)
    }
}

fn rfc3339(time: &DateTime) -> Option<String> {
    time.fmt(DateTimeFormat::DateTime).ok()
}

/// An SDK error as a sentence naming what was asked for and, for a refused connection, where.
fn describe<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static>(location: &str, endpoint: &str, err: SdkError<E, HttpResponse>) -> S3Error {
    let status = err.raw_response().map(|raw| raw.status().as_u16());
    let cause = match (err.code(), status) {
        (Some("AccessDenied" | "InvalidAccessKeyId" | "SignatureDoesNotMatch"), _) | (None, Some(403)) => Cause::Denied,
        (Some("PreconditionFailed"), _) | (None, Some(412)) => Cause::Changed,
        _ => Cause::Other,
    };
    let message = match (&err, err.code(), status) {
        (SdkError::DispatchFailure(_) | SdkError::TimeoutError(_), _, _) => {
            // The innermost cause says it ("Connection refused"); the layers above repeat it.
            let mut cause: &dyn std::error::Error = &err;
            while let Some(source) = cause.source() {
                cause = source;
            }
            format!("cannot reach the S3 endpoint {endpoint} ({cause}; retried)")
        }
        (_, Some("NoSuchBucket"), _) => "no such bucket".into(),
        // HEAD has no body, so no error code: a 404 is either.
        (_, Some("NoSuchKey" | "NotFound"), _) | (_, None, Some(404)) => "no such key (or no such bucket)".into(),
        _ if cause == Cause::Denied => {
            let detail = err.message().map(|m| format!(": {m}")).unwrap_or_default();
            format!("access denied ({}){detail}", err.code().unwrap_or("403 Forbidden"))
        }
        _ if cause == Cause::Changed => "the object changed while it was read (its ETag no longer matches)".into(),
        (_, Some("InvalidObjectState"), _) => "the object is archived (GLACIER or DEEP_ARCHIVE): it must be restored before it can be read".into(),
        (_, Some("SlowDown" | "Throttling" | "ThrottlingException" | "RequestLimitExceeded"), _) | (_, None, Some(503)) => {
            format!("the store kept throttling the requests ({}; {ATTEMPTS} attempts with backoff)", err.code().unwrap_or("503 Slow Down"))
        }
        _ => DisplayErrorContext(&err).to_string(),
    };
    S3Error { location: location.to_string(), message, cause }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let loc = S3Location::parse("s3://bucket/job/output/model.tar.gz").unwrap();
        assert_eq!((loc.bucket.as_str(), loc.key.as_str()), ("bucket", "job/output/model.tar.gz"));
        assert!(!loc.is_prefix());
        assert!(S3Location::parse("s3://bucket/job/").unwrap().is_prefix());
        assert!(S3Location::parse("s3://bucket").unwrap().is_prefix());
        assert!(S3Location::parse("s3:///key").is_err());
        assert!(!S3Location::is_s3("/tmp/s3:/x"));
    }
}
