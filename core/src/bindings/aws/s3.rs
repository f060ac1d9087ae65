//! `bindings.aws.s3`: an output binding to one S3 bucket, with Dapr's operations, fields and
//! answers (components-contrib `bindings/aws/s3`).
//!
//! - `create`: puts the data (or the file at `filePath`) under request metadata `key` (a new
//!   UUID when there is none), with `Content-Type`, `storageClass` and `tags` (`k=v,k2=v2`)
//!   when given; data that is a JSON string is stored without its quotes, as Dapr does, and
//!   `decodeBase64` stores the bytes the base64 text holds. Answers Dapr's
//!   `{"location", "versionID", "presignURL"}` (the URL when `presignTTL` is given) and the
//!   `key` in the response metadata.
//! - `get`: the object's bytes (base64 text with `encodeBase64`); `NotFound` "object not
//!   found" when the key is not there.
//! - `delete`: removes the key (S3 answers the same whether or not it was there).
//! - `list`: Dapr's request `{"maxResults", "prefix", "marker", "delimiter"}` (up to 1000 by
//!   default), answered as Dapr answers it: S3's ListObjects output in the field names of
//!   Go's SDK (`Contents[].Key`, `IsTruncated`, `NextMarker`, ...).
//! - `presign`: `{"presignURL"}`, a GET URL for `key` valid for `presignTTL` (a Go duration).
//! - `bulkGet`, `bulkCreate`, `bulkDelete`: Dapr's JSON requests (`items`/`keys`,
//!   `concurrency`, 10 by default), answered as a list of `{key, data|location, error}`, one per
//!   item, in order; an item's failure is in its entry, not an error of the call.
//!
//! Request metadata `decodeBase64`, `encodeBase64`, `filePath`, `presignTTL` and
//! `storageClass` override the component's.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier, StorageClass};
use aws_sdk_s3::Client;
use base64::Engine;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{Connection, Started};
use crate::binding::{declare, BindingParts, InvokeRequest, InvokeResponse, OutputBinding};
use crate::binding::{MetadataMap, Settings};
use crate::bindings::common::gotext::{rfc3339_nano, unquote};
use crate::component::values::{parse_go_duration, parse_truthy};
use crate::error::{Error, ErrorKind, Result};

declare!("s3.metadata.yaml", build, super::fields());

const DEFAULT_MAX_RESULTS: i32 = 1000;
const DEFAULT_BULK_CONCURRENCY: usize = 10;
const MAX_DELETE_BATCH: usize = 1000;

/// The component's settings, which request metadata may override per call.
#[derive(Debug, Clone, Default)]
struct Options {
    decode_base64: bool,
    encode_base64: bool,
    file_path: Option<String>,
    presign_ttl: Option<String>,
    storage_class: Option<String>,
}

impl Options {
    /// These options with the request's overrides (Dapr's `mergeWithRequestMetadata`).
    fn merged(&self, md: &MetadataMap) -> Options {
        let given = |k: &str| md.get(k).filter(|v| !v.is_empty());
        let mut o = self.clone();
        if let Some(v) = given("decodeBase64") {
            o.decode_base64 = parse_truthy(v).0;
        }
        if let Some(v) = given("encodeBase64") {
            o.encode_base64 = parse_truthy(v).0;
        }
        if let Some(v) = given("filePath") {
            o.file_path = Some(v.clone());
        }
        if let Some(v) = given("presignTTL") {
            o.presign_ttl = Some(v.clone());
        }
        if let Some(v) = given("storageClass") {
            o.storage_class = Some(v.clone());
        }
        o
    }
}

struct S3 {
    name: String,
    bucket: String,
    path_style: bool,
    conn: Connection,
    options: Options,
    client: Started<Client>,
}

fn build(s: &mut Settings) -> Result<BindingParts> {
    let disable_ssl = s.flag("disableSSL", false);
    let conn = Connection::read(s, disable_ssl).insecure_tls(s.flag("insecureSSL", false));
    let options = Options {
        decode_base64: s.flag("decodeBase64", false),
        encode_base64: s.flag("encodeBase64", false),
        file_path: s.text("filePath").map(str::to_string),
        presign_ttl: s.text("presignTTL").map(str::to_string),
        storage_class: s.text("storageClass").map(str::to_string),
    };
    // Dapr loads such a file (it reads presignTTL at each call): a warning, and every create
    // and presign fails naming it.
    if let Some(ttl) = &options.presign_ttl {
        if let Err(e) = parse_go_duration(ttl) {
            s.warn(
                "presignTTL",
                format!("presignTTL: {e}; every create and presign will fail"),
                "give a Go duration, e.g. 15m or 24h",
            );
        }
    }
    let binding = S3 {
        name: s.name().to_string(),
        bucket: s.text("bucket").unwrap_or_default().to_string(),
        path_style: s.flag("forcePathStyle", false),
        conn,
        options,
        client: Started::default(),
    };
    Ok(BindingParts {
        output: Some(Arc::new(binding)),
        input: None,
    })
}

fn bad(message: impl Into<String>) -> Error {
    Error::invalid_argument(message)
}

/// Dapr's `parseS3Tags`: `k=v, k2=v2` as S3's tagging query `k=v&k2=v2`.
fn tagging(raw: &str) -> Result<Option<String>> {
    let mut pairs = Vec::new();
    for entry in raw.split(',') {
        match entry.trim().split_once('=') {
            Some((k, v)) if !k.trim().is_empty() && !v.trim().is_empty() => {
                pairs.push(format!("{}={}", k.trim(), v.trim()))
            }
            _ => {
                return Err(bad(format!(
                    "tags: invalid tag format: {entry:?} (expected key=value, pairs separated by commas)"
                )))
            }
        }
    }
    Ok((!pairs.is_empty()).then(|| pairs.join("&")))
}

fn decode_base64(data: &[u8]) -> Result<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|e| bad(format!("decodeBase64: the data is not base64 ({e})")))
}

fn encode_base64(data: &[u8]) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .encode(data)
        .into_bytes()
}

fn ttl(text: &str) -> Result<Duration> {
    parse_go_duration(text).map_err(|e| {
        bad(format!(
            "presignTTL: {e} (give a Go duration, e.g. 15m or 24h)"
        ))
    })
}

fn json_answer(v: &impl serde::Serialize) -> Result<InvokeResponse> {
    Ok(InvokeResponse {
        data: serde_json::to_vec(v).map_err(|e| Error::internal(e.to_string()))?,
        metadata: MetadataMap::new(),
    })
}

/// Go's JSON of an optional string: the text, or null.
fn opt(s: Option<&str>) -> Value {
    s.map_or(Value::Null, |s| Value::String(s.to_string()))
}

/// Go's JSON of an SDK time (`time.Time`, RFC 3339 with nanoseconds).
fn time(t: Option<&aws_sdk_s3::primitives::DateTime>) -> Value {
    t.and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
        .map_or(Value::Null, |t| Value::String(rfc3339_nano(t)))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ListRequest {
    marker: String,
    prefix: String,
    max_results: i32,
    delimiter: String,
}

/// Dapr's bulkGet and bulkCreate requests: the items, and how many to run at a time.
#[derive(Deserialize)]
struct Bulk<T> {
    items: Vec<T>,
    concurrency: Option<i64>,
}

#[derive(Deserialize)]
struct BulkGetItem {
    #[serde(default)]
    key: String,
    #[serde(rename = "filePath")]
    file_path: Option<String>,
}

#[derive(Deserialize)]
struct BulkCreateItem {
    #[serde(default)]
    key: String,
    data: Option<String>,
    #[serde(rename = "contentType")]
    content_type: Option<String>,
    #[serde(rename = "filePath")]
    file_path: Option<String>,
}

#[derive(Deserialize)]
struct BulkDelete {
    keys: Vec<String>,
}

/// One entry of a bulk answer.
fn item(key: &str, field: &str, value: Result<String>) -> Value {
    match value {
        Ok(v) if v.is_empty() => json!({ "key": key }),
        Ok(v) => json!({ "key": key, field: v }),
        Err(e) => json!({ "key": key, "error": e.message() }),
    }
}

fn concurrency(c: Option<i64>) -> Result<usize> {
    match c {
        None => Ok(DEFAULT_BULK_CONCURRENCY),
        Some(n) if n > 0 => Ok(n as usize),
        Some(n) => Err(bad(format!("concurrency must be greater than 0, got {n}"))),
    }
}

fn parse<'a, T: Deserialize<'a>>(op: &str, data: &'a [u8]) -> Result<T> {
    serde_json::from_slice(data).map_err(|e| bad(format!("invalid {op} payload: {e}")))
}

/// Run `one` on each item of a bulk request `op`, as many at a time as it asks, answering
/// their results in the items' order.
async fn bulk<'a, T, F, Fut>(op: &str, data: &'a [u8], one: F) -> Result<InvokeResponse>
where
    T: Deserialize<'a>,
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = Value>,
{
    let r: Bulk<T> = parse(op, data)?;
    if r.items.is_empty() {
        return Err(bad(format!("{op} requires at least one item")));
    }
    let n = concurrency(r.concurrency)?;
    let results: Vec<Value> = futures::stream::iter(r.items)
        .map(one)
        .buffered(n)
        .collect()
        .await;
    json_answer(&results)
}

async fn read_file(path: &str) -> Result<Vec<u8>> {
    tokio::fs::read(path)
        .await
        .map_err(|e| bad(format!("filePath {path:?}: cannot read it: {e}")))
}

impl S3 {
    fn client(&self) -> Result<&Client> {
        self.client.get(&self.name)
    }

    fn in_bucket(&self, what: &str, key: &str) -> String {
        format!("{what} {key:?} in bucket {:?}", self.bucket)
    }

    /// Dapr's `buildLocation`: the object's URL.
    fn location(&self, key: &str) -> String {
        let bucket = &self.bucket;
        match self.conn.endpoint() {
            Some(ep) => format!("{}/{bucket}/{key}", ep.trim_end_matches('/')),
            None if self.path_style => format!("https://s3.amazonaws.com/{bucket}/{key}"),
            None => format!("https://{bucket}.s3.amazonaws.com/{key}"),
        }
    }

    fn key<'r>(&self, req: &'r InvokeRequest) -> Result<&'r str> {
        match req.metadata.get("key").map(String::as_str) {
            Some(k) if !k.is_empty() => Ok(k),
            _ => Err(bad("required metadata 'key' missing")),
        }
    }

    /// Put `body` under `key`; the version id S3 gave it.
    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: Option<&str>,
        storage_class: Option<&str>,
        tags: Option<String>,
    ) -> Result<Option<String>> {
        let out = self
            .client()?
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body))
            .set_content_type(content_type.map(str::to_string))
            .set_storage_class(storage_class.map(StorageClass::from))
            .set_tagging(tags)
            .send()
            .await
            .map_err(|e| self.conn.error(&self.in_bucket("put object", key), e))?;
        Ok(out.version_id)
    }

    async fn fetch(&self, key: &str) -> Result<Vec<u8>> {
        let out = self
            .client()?
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| {
                self.conn
                    .error_or_gone(&self.in_bucket("get object", key), e, || {
                        format!("object not found: {}", self.in_bucket("key", key))
                    })
            })?;
        let body = out.body.collect().await.map_err(|e| {
            Error::upstream(format!(
                "{}: the body broke off: {e}",
                self.in_bucket("get object", key)
            ))
            .with_component(&self.name)
        })?;
        Ok(body.into_bytes().to_vec())
    }

    async fn presign_url(&self, key: &str, ttl: Duration) -> Result<String> {
        let config =
            PresigningConfig::expires_in(ttl).map_err(|e| bad(format!("presignTTL: {e}")))?;
        let req = self
            .client()?
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(|e| self.conn.error(&self.in_bucket("presign object", key), e))?;
        Ok(req.uri().to_string())
    }

    async fn create(&self, req: &InvokeRequest) -> Result<InvokeResponse> {
        let o = self.options.merged(&req.metadata);
        let key = match req.metadata.get("key").filter(|k| !k.is_empty()) {
            Some(k) => k.clone(),
            None => uuid::Uuid::new_v4().to_string(),
        };
        let content_type = ["Content-Type", "contentType"]
            .iter()
            .find_map(|k| req.metadata.get(*k))
            .map(|c| c.trim())
            .filter(|c| !c.is_empty());
        let tags = match req.metadata.get("tags") {
            Some(raw) => tagging(raw)?,
            None => None,
        };
        let mut body = match &o.file_path {
            Some(path) => read_file(path).await?,
            None => unquote(&req.data).into_owned(),
        };
        if o.decode_base64 {
            body = decode_base64(&body)?;
        }
        let presign = o.presign_ttl.as_deref().map(ttl).transpose()?;
        let version = self
            .put(&key, body, content_type, o.storage_class.as_deref(), tags)
            .await?;
        let mut answer = json!({ "location": self.location(&key), "versionID": version });
        if let Some(ttl) = presign {
            answer["presignURL"] = Value::String(self.presign_url(&key, ttl).await?);
        }
        let mut response = json_answer(&answer)?;
        response.metadata.insert("key".into(), key);
        Ok(response)
    }

    async fn get(&self, req: &InvokeRequest) -> Result<InvokeResponse> {
        let o = self.options.merged(&req.metadata);
        let data = self.fetch(self.key(req)?).await?;
        Ok(InvokeResponse {
            data: if o.encode_base64 {
                encode_base64(&data)
            } else {
                data
            },
            metadata: MetadataMap::new(),
        })
    }

    async fn delete(&self, req: &InvokeRequest) -> Result<InvokeResponse> {
        let key = self.key(req)?;
        self.client()?
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| self.conn.error(&self.in_bucket("delete object", key), e))?;
        Ok(InvokeResponse::default())
    }

    async fn list(&self, req: &InvokeRequest) -> Result<InvokeResponse> {
        let mut r: ListRequest = if req.data.is_empty() {
            ListRequest::default()
        } else {
            serde_json::from_slice(&req.data).map_err(|e| {
                bad(format!(
                    "list: the data is not Dapr's list request {{\"maxResults\", \"prefix\", \"marker\", \"delimiter\"}}: {e}"
                ))
            })?
        };
        if r.max_results < 1 {
            r.max_results = DEFAULT_MAX_RESULTS;
        }
        let out = self
            .client()?
            .list_objects()
            .bucket(&self.bucket)
            .max_keys(r.max_results)
            .marker(&r.marker)
            .prefix(&r.prefix)
            .delimiter(&r.delimiter)
            .send()
            .await
            .map_err(|e| {
                self.conn
                    .error(&format!("list objects in bucket {:?}", self.bucket), e)
            })?;
        let contents: Vec<Value> = out
            .contents()
            .iter()
            .map(|o| {
                json!({
                    "ChecksumAlgorithm": o.checksum_algorithm.as_ref().map(|a| a.iter().map(|c| c.as_str()).collect::<Vec<_>>()),
                    "ChecksumType": o.checksum_type().map_or("", |c| c.as_str()),
                    "ETag": opt(o.e_tag()),
                    "Key": opt(o.key()),
                    "LastModified": time(o.last_modified()),
                    "Owner": o.owner().map(|w| json!({"DisplayName": opt(w.display_name()), "ID": opt(w.id())})),
                    "RestoreStatus": o.restore_status().map(|r| json!({
                        "IsRestoreInProgress": r.is_restore_in_progress(),
                        "RestoreExpiryDate": time(r.restore_expiry_date()),
                    })),
                    "Size": o.size(),
                    "StorageClass": o.storage_class().map_or("", |c| c.as_str()),
                })
            })
            .collect();
        let prefixes: Vec<Value> = out
            .common_prefixes()
            .iter()
            .map(|p| json!({ "Prefix": opt(p.prefix()) }))
            .collect();
        json_answer(&json!({
            "CommonPrefixes": if out.common_prefixes.is_some() { Value::from(prefixes) } else { Value::Null },
            "Contents": if out.contents.is_some() { Value::from(contents) } else { Value::Null },
            "Delimiter": opt(out.delimiter()),
            "EncodingType": out.encoding_type().map_or("", |e| e.as_str()),
            "IsTruncated": out.is_truncated(),
            "Marker": opt(out.marker()),
            "MaxKeys": out.max_keys(),
            "Name": opt(out.name()),
            "NextMarker": opt(out.next_marker()),
            "Prefix": opt(out.prefix()),
            "RequestCharged": out.request_charged().map_or("", |r| r.as_str()),
            "ResultMetadata": {},
        }))
    }

    async fn presign(&self, req: &InvokeRequest) -> Result<InvokeResponse> {
        let o = self.options.merged(&req.metadata);
        let key = self.key(req)?;
        let Some(t) = o.presign_ttl.as_deref() else {
            return Err(bad("required metadata 'presignTTL' missing"));
        };
        let url = self.presign_url(key, ttl(t)?).await?;
        json_answer(&json!({ "presignURL": url }))
    }

    async fn bulk_get(&self, req: &InvokeRequest) -> Result<InvokeResponse> {
        let o = self.options.merged(&req.metadata);
        bulk("bulkGet", &req.data, |it: BulkGetItem| {
            let o = &o;
            async move {
                if it.key.is_empty() {
                    return item("", "data", Err(bad("key is required")));
                }
                let got = self.fetch(&it.key).await.map(|d| {
                    if o.encode_base64 {
                        encode_base64(&d)
                    } else {
                        d
                    }
                });
                let value = match (got, &it.file_path) {
                    (Ok(d), Some(path)) => tokio::fs::write(path, d)
                        .await
                        .map(|_| String::new())
                        .map_err(|e| bad(format!("filePath {path:?}: {e}"))),
                    (Ok(d), None) => Ok(String::from_utf8_lossy(&d).into_owned()),
                    (Err(e), _) => Err(e),
                };
                item(&it.key, "data", value)
            }
        })
        .await
    }

    async fn bulk_create(&self, req: &InvokeRequest) -> Result<InvokeResponse> {
        let o = self.options.merged(&req.metadata);
        bulk("bulkCreate", &req.data, |it: BulkCreateItem| {
            let o = &o;
            async move {
                if it.key.is_empty() {
                    return item("", "location", Err(bad("key is required")));
                }
                let body = match (&it.file_path, &it.data) {
                    (Some(path), _) => read_file(path).await,
                    (None, Some(d)) => Ok(d.clone().into_bytes()),
                    (None, None) => Err(bad("either data or filePath is required")),
                };
                let body = match body {
                    Ok(b) if o.decode_base64 => decode_base64(&b),
                    other => other,
                };
                let put = match body {
                    Ok(b) => self
                        .put(&it.key, b, it.content_type.as_deref(), None, None)
                        .await
                        .map(|_| self.location(&it.key)),
                    Err(e) => Err(e),
                };
                item(&it.key, "location", put)
            }
        })
        .await
    }

    async fn bulk_delete(&self, req: &InvokeRequest) -> Result<InvokeResponse> {
        let r: BulkDelete = parse("bulkDelete", &req.data)?;
        if r.keys.is_empty() {
            return Err(bad("bulkDelete requires at least one key"));
        }
        let mut errors: Vec<Option<String>> = vec![None; r.keys.len()];
        let mut unique: Vec<&str> = Vec::new();
        for (i, k) in r.keys.iter().enumerate() {
            if k.trim().is_empty() {
                errors[i] = Some("key is required".into());
            } else if !unique.contains(&k.as_str()) {
                unique.push(k);
            }
        }
        let mark = |errors: &mut Vec<Option<String>>, key: &str, msg: &str| {
            for (i, k) in r.keys.iter().enumerate() {
                if k == key {
                    errors[i] = Some(msg.to_string());
                }
            }
        };
        for batch in unique.chunks(MAX_DELETE_BATCH) {
            let objects: Vec<ObjectIdentifier> = batch
                .iter()
                .filter_map(|k| ObjectIdentifier::builder().key(*k).build().ok())
                .collect();
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(false)
                .build()
                .map_err(|e| Error::internal(e.to_string()))?;
            match self
                .client()?
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .await
            {
                Ok(out) => {
                    for e in out.errors() {
                        if let Some(k) = e.key() {
                            mark(&mut errors, k, e.message().unwrap_or("unknown error"));
                        }
                    }
                }
                Err(e) => {
                    let e = self
                        .conn
                        .error(&format!("delete objects in bucket {:?}", self.bucket), e);
                    for k in batch {
                        mark(&mut errors, k, e.message());
                    }
                }
            }
        }
        let results: Vec<Value> = r
            .keys
            .iter()
            .zip(errors)
            .map(|(k, e)| match e {
                None => json!({ "key": k }),
                Some(e) => json!({ "key": k, "error": e }),
            })
            .collect();
        json_answer(&results)
    }
}

#[async_trait]
impl OutputBinding for S3 {
    async fn init(&self) -> Result<()> {
        self.client
            .start(|| async {
                let config = self.conn.sdk_config().await?;
                let s3 = aws_sdk_s3::config::Builder::from(&config)
                    .force_path_style(self.path_style)
                    .build();
                Ok(Client::from_conf(s3))
            })
            .await
    }

    async fn invoke(&self, req: InvokeRequest) -> Result<InvokeResponse> {
        let answer = match req.operation.as_str() {
            "create" => self.create(&req).await,
            "get" => self.get(&req).await,
            "delete" => self.delete(&req).await,
            "list" => self.list(&req).await,
            "presign" => self.presign(&req).await,
            "bulkGet" => self.bulk_get(&req).await,
            "bulkCreate" => self.bulk_create(&req).await,
            "bulkDelete" => self.bulk_delete(&req).await,
            other => Err(Error::new(
                ErrorKind::UnsupportedOperation,
                format!("unsupported operation {other}"),
            )),
        };
        answer.map_err(|e| match e.component() {
            Some(_) => e,
            None => e.with_component(&self.name),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_read_as_dapr_reads_them() {
        assert_eq!(
            tagging("a=1, b = two").unwrap().as_deref(),
            Some("a=1&b=two")
        );
        assert!(tagging("a=1,b").is_err());
        assert!(tagging("=1").is_err());
    }

    #[test]
    fn request_metadata_overrides_the_component() {
        let o = Options {
            decode_base64: true,
            ..Options::default()
        };
        let md: MetadataMap = [("decodeBase64", "false"), ("presignTTL", "5m")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let m = o.merged(&md);
        assert!(!m.decode_base64);
        assert_eq!(m.presign_ttl.as_deref(), Some("5m"));
    }
}
