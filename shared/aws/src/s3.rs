//! Objects in S3: ranged reads (several in flight), multipart writes that copy stored objects
//! server-side where S3 allows it, and presigned upload URLs.

use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};
use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt as _, TryStreamExt as _, stream};
use jiff::Timestamp;
use sluice_app::model::{ImportId, TenantId};
use sluice_app::ports::{BlobMeta, BlobStore, BlobWriter, Segment, StoreError, UploadTarget, UploadUrls};
use tokio::io::AsyncWriteExt as _;

use crate::errors::{permanent, sort};

/// S3 wants every part but the last to be at least 5 MiB.
const MIN_PART: u64 = 5 * 1024 * 1024;
/// Parts are flushed from memory at this size.
const PART_TARGET: usize = 16 * 1024 * 1024;
/// Ranged GETs in flight at once.
const READS_IN_FLIGHT: usize = 6;
/// Ranges longer than this are read as several GETs in flight.
const PARALLEL_READ_OVER: u64 = 8 * 1024 * 1024;
/// Size of those GETs.
const READ_PIECE: u64 = 4 * 1024 * 1024;
const NOT_FOUND: &[&str] = &["NoSuchKey", "NotFound", "404"];

/// One bucket.
#[derive(Debug, Clone)]
pub struct S3BlobStore {
    client: Client,
    bucket: String,
}

impl S3BlobStore {
    /// Objects of `bucket`.
    pub fn new(client: Client, bucket: impl Into<String>) -> S3BlobStore {
        S3BlobStore { client, bucket: bucket.into() }
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Copies an object inside the bucket (server-side, up to 5 GB).
    pub async fn copy(&self, from: &str, to: &str) -> Result<BlobMeta, StoreError> {
        self.client
            .copy_object()
            .bucket(&self.bucket)
            .copy_source(format!("{}/{}", self.bucket, encode_key(from)))
            .key(to)
            .send()
            .await
            .map_err(|e| sort(&format!("copy {from} to {to}"), e, NOT_FOUND))?;
        self.head(to).await?.ok_or_else(|| StoreError::not_found(to.to_string()))
    }

    /// One ranged GET.
    async fn get_one_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, StoreError> {
        if range.is_empty() {
            return Ok(Bytes::new());
        }
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .range(format!("bytes={}-{}", range.start, range.end - 1))
            .send()
            .await
            .map_err(|e| sort(&format!("get {key} bytes {range:?}"), e, NOT_FOUND))?;
        let bytes = collect(out.body, key).await?;
        // A range past the end comes back short; the caller asked for what exists.
        Ok(bytes.slice(..bytes.len().min((range.end - range.start) as usize)))
    }

    /// Deletes one object.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sort(&format!("delete {key}"), e, NOT_FOUND))
    }
}

/// Percent-encodes a key for `x-amz-copy-source` (slashes kept).
fn encode_key(key: &str) -> String {
    const SET: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'/').remove(b'-').remove(b'_').remove(b'.').remove(b'~');
    percent_encoding::utf8_percent_encode(key, SET).to_string()
}

fn trim_etag(etag: Option<&str>) -> String {
    etag.unwrap_or_default().trim_matches('"').to_string()
}

async fn collect(body: ByteStream, what: &str) -> Result<Bytes, StoreError> {
    body.collect()
        .await
        .map(|b| b.into_bytes())
        .map_err(|e| StoreError::with_source(sluice_app::StoreErrorKind::Transient, format!("read {what}"), e))
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn put(&self, key: &str, body: Bytes) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sort(&format!("put {key}"), e, &[]))
    }

    async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| sort(&format!("get {key}"), e, NOT_FOUND))?;
        collect(out.body, key).await
    }

    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, StoreError> {
        if range.is_empty() {
            return Ok(Bytes::new());
        }
        if range.end - range.start > PARALLEL_READ_OVER {
            // A large range (a chunk) comes faster as several GETs in flight.
            let pieces: Vec<Range<u64>> = (range.start..range.end)
                .step_by(READ_PIECE as usize)
                .map(|start| start..(start + READ_PIECE).min(range.end))
                .collect();
            let parts = self.get_ranges(key, &pieces).await?;
            let mut whole = BytesMut::with_capacity(parts.iter().map(Bytes::len).sum());
            for part in parts {
                whole.extend_from_slice(&part);
            }
            return Ok(whole.freeze());
        }
        self.get_one_range(key, range).await
    }

    async fn get_ranges(&self, key: &str, ranges: &[Range<u64>]) -> Result<Vec<Bytes>, StoreError> {
        stream::iter(ranges.iter().cloned().map(|r| self.get_one_range(key, r)))
            .buffered(READS_IN_FLIGHT)
            .try_collect()
            .await
    }

    async fn head(&self, key: &str) -> Result<Option<BlobMeta>, StoreError> {
        match self.client.head_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => Ok(Some(BlobMeta {
                size: out.content_length.unwrap_or_default().max(0) as u64,
                etag: trim_etag(out.e_tag.as_deref()),
            })),
            Err(e) => {
                let e = sort(&format!("head {key}"), e, NOT_FOUND);
                if e.is_not_found() { Ok(None) } else { Err(e) }
            }
        }
    }

    async fn writer(&self, key: &str) -> Result<Box<dyn BlobWriter>, StoreError> {
        Ok(Box::new(S3Writer {
            store: self.clone(),
            key: key.to_string(),
            upload_id: None,
            parts: Vec::new(),
            buffer: BytesMut::new(),
            size: 0,
        }))
    }

    async fn download_to(&self, key: &str, path: &Path) -> Result<(), StoreError> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| sort(&format!("get {key}"), e, NOT_FOUND))?;
        let io = |e: std::io::Error| {
            StoreError::with_source(sluice_app::StoreErrorKind::Transient, format!("write {}", path.display()), e)
        };
        let mut file = tokio::fs::File::create(path).await.map_err(io)?;
        let mut body = out.body;
        while let Some(piece) = body
            .try_next()
            .await
            .map_err(|e| StoreError::with_source(sluice_app::StoreErrorKind::Transient, format!("read {key}"), e))?
        {
            file.write_all(&piece).await.map_err(io)?;
        }
        file.flush().await.map_err(io)?;
        Ok(())
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<(), StoreError> {
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token.clone())
                .send()
                .await
                .map_err(|e| sort(&format!("list {prefix}"), e, &[]))?;
            let keys: Vec<ObjectIdentifier> = page
                .contents()
                .iter()
                .filter_map(|o| o.key())
                .filter_map(|k| ObjectIdentifier::builder().key(k).build().ok())
                .collect();
            if !keys.is_empty() {
                let delete = Delete::builder()
                    .set_objects(Some(keys))
                    .quiet(true)
                    .build()
                    .map_err(|e| permanent(e.to_string()))?;
                self.client
                    .delete_objects()
                    .bucket(&self.bucket)
                    .delete(delete)
                    .send()
                    .await
                    .map_err(|e| sort(&format!("delete under {prefix}"), e, &[]))?;
            }
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => return Ok(()),
            }
        }
    }
}

/// A multipart upload, started only once there is a full part to send; small objects are one
/// `PutObject`.
struct S3Writer {
    store: S3BlobStore,
    key: String,
    upload_id: Option<String>,
    parts: Vec<CompletedPart>,
    buffer: BytesMut,
    size: u64,
}

impl S3Writer {
    async fn upload_id(&mut self) -> Result<String, StoreError> {
        if let Some(id) = &self.upload_id {
            return Ok(id.clone());
        }
        let out = self
            .store
            .client
            .create_multipart_upload()
            .bucket(&self.store.bucket)
            .key(&self.key)
            .send()
            .await
            .map_err(|e| sort(&format!("start upload of {}", self.key), e, &[]))?;
        let id = out.upload_id.ok_or_else(|| permanent("S3 returned no upload id"))?;
        self.upload_id = Some(id.clone());
        Ok(id)
    }

    async fn flush(&mut self) -> Result<(), StoreError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let id = self.upload_id().await?;
        let number = self.parts.len() as i32 + 1;
        let body = self.buffer.split().freeze();
        let out = self
            .store
            .client
            .upload_part()
            .bucket(&self.store.bucket)
            .key(&self.key)
            .upload_id(id)
            .part_number(number)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| sort(&format!("upload part {number} of {}", self.key), e, &[]))?;
        self.parts.push(CompletedPart::builder().part_number(number).set_e_tag(out.e_tag).build());
        Ok(())
    }

    async fn push(&mut self, data: Bytes) -> Result<(), StoreError> {
        self.size += data.len() as u64;
        self.buffer.extend_from_slice(&data);
        if self.buffer.len() >= PART_TARGET {
            self.flush().await?;
        }
        Ok(())
    }

    /// Appends a range of a stored object: a server-side part copy when it can be a part of its
    /// own (nothing buffered, at least 5 MiB), otherwise through memory.
    async fn append_range(&mut self, source: &str, range: Range<u64>) -> Result<(), StoreError> {
        let mut range = range;
        if !self.buffer.is_empty() && (self.buffer.len() as u64) < MIN_PART && range.end - range.start >= MIN_PART {
            // Top the buffer up to a whole part, then copy the rest.
            let take = MIN_PART - self.buffer.len() as u64;
            let head = self.store.get_range(source, range.start..range.start + take).await?;
            self.push(head).await?;
            self.flush().await?;
            range.start += take;
        } else if !self.buffer.is_empty() && range.end - range.start >= MIN_PART {
            self.flush().await?;
        }
        if self.buffer.is_empty() && range.end - range.start >= MIN_PART {
            let id = self.upload_id().await?;
            let number = self.parts.len() as i32 + 1;
            let out = self
                .store
                .client
                .upload_part_copy()
                .bucket(&self.store.bucket)
                .key(&self.key)
                .upload_id(id)
                .part_number(number)
                .copy_source(format!("{}/{}", self.store.bucket, encode_key(source)))
                .copy_source_range(format!("bytes={}-{}", range.start, range.end - 1))
                .send()
                .await
                .map_err(|e| sort(&format!("copy {source} into {}", self.key), e, NOT_FOUND))?;
            let etag = out.copy_part_result.and_then(|r| r.e_tag);
            self.parts.push(CompletedPart::builder().part_number(number).set_e_tag(etag).build());
            self.size += range.end - range.start;
            return Ok(());
        }
        let bytes = self.store.get_range(source, range).await?;
        self.push(bytes).await
    }
}

#[async_trait]
impl BlobWriter for S3Writer {
    async fn write(&mut self, data: Bytes) -> Result<(), StoreError> {
        self.push(data).await
    }

    async fn append_object(&mut self, key: &str) -> Result<(), StoreError> {
        let size = self.store.head(key).await?.ok_or_else(|| StoreError::not_found(key.to_string()))?.size;
        self.append_range(key, 0..size).await
    }

    async fn append_segments(&mut self, key: &str, segments: Vec<Segment>) -> Result<(), StoreError> {
        for segment in segments {
            match segment {
                Segment::Range(r) => self.append_range(key, r).await?,
                Segment::Bytes(b) => self.push(b).await?,
            }
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<u64, StoreError> {
        let Some(id) = self.upload_id.clone() else {
            let body = self.buffer.split().freeze();
            self.store.put(&self.key, body).await?;
            return Ok(self.size);
        };
        self.flush().await?;
        let done = CompletedMultipartUpload::builder().set_parts(Some(std::mem::take(&mut self.parts))).build();
        self.store
            .client
            .complete_multipart_upload()
            .bucket(&self.store.bucket)
            .key(&self.key)
            .upload_id(id)
            .multipart_upload(done)
            .send()
            .await
            .map_err(|e| sort(&format!("complete upload of {}", self.key), e, &[]))?;
        Ok(self.size)
    }
}

impl Drop for S3Writer {
    fn drop(&mut self) {
        // An unfinished multipart upload is aborted (the bucket's lifecycle rule also cleans up
        // any a crash leaves behind).
        if let Some(id) = self.upload_id.take()
            && let Ok(handle) = tokio::runtime::Handle::try_current()
        {
            let (client, bucket, key) = (self.store.client.clone(), self.store.bucket.clone(), self.key.clone());
            handle.spawn(async move {
                let _ = client.abort_multipart_upload().bucket(bucket).key(key).upload_id(id).send().await;
            });
        }
    }
}

/// Presigned S3 PUT URLs for uploads.
#[derive(Debug, Clone)]
pub struct S3Uploads {
    store: S3BlobStore,
}

impl S3Uploads {
    /// URLs into the store's bucket.
    pub fn new(store: S3BlobStore) -> S3Uploads {
        S3Uploads { store }
    }
}

#[async_trait]
impl UploadUrls for S3Uploads {
    async fn upload_url(
        &self,
        _tenant: &TenantId,
        _import: &ImportId,
        key: &str,
        size: Option<u64>,
        max_bytes: u64,
        expires_at: Timestamp,
    ) -> Result<UploadTarget, StoreError> {
        let size = size.ok_or_else(|| {
            permanent("file_size is required: the upload URL is signed for the file's exact size in bytes")
        })?;
        if size > max_bytes {
            return Err(permanent(format!("file_size {size} is larger than the largest upload, {max_bytes} bytes")));
        }
        if size > 5 * 1024 * 1024 * 1024 {
            return Err(permanent("a single upload URL takes at most 5 GiB"));
        }
        let seconds = (expires_at.as_second() - Timestamp::now().as_second()).clamp(1, 1800) as u64;
        let config =
            PresigningConfig::expires_in(Duration::from_secs(seconds)).map_err(|e| permanent(e.to_string()))?;
        let request = self
            .store
            .client
            .put_object()
            .bucket(&self.store.bucket)
            .key(key)
            .content_length(size as i64)
            .content_type("application/octet-stream")
            .presigned(config)
            .await
            .map_err(|e| sort("presign upload", e, &[]))?;
        let mut headers: Vec<(String, String)> = request
            .headers()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
            .filter(|(k, _)| k != "host")
            .collect();
        if !headers.iter().any(|(k, _)| k == "content-length") {
            headers.push(("content-length".into(), size.to_string()));
        }
        if !headers.iter().any(|(k, _)| k == "content-type") {
            headers.push(("content-type".into(), "application/octet-stream".into()));
        }
        headers.sort();
        Ok(UploadTarget {
            url: request.uri().to_string(),
            method: request.method().to_string(),
            headers,
            expires_at: Timestamp::from_second(Timestamp::now().as_second() + seconds as i64).unwrap_or(expires_at),
        })
    }
}
