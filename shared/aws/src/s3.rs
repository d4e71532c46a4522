//! The object store port on one S3 bucket: statements, bank receipts and
//! reports. Objects move between S3 and local files as streams, so a run
//! never holds a whole object in memory. Locally the port is `LocalDir`.

use std::path::Path;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::{GetObjectError, GetObjectOutput};
use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use qrpay_reconcile::objects::{check_key, ObjectError, ObjectStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error_text;
use crate::lazy::Lazy;

const MIB: u64 = 1024 * 1024;
/// S3's smallest part (every part but the last).
const MIN_PART_BYTES: u64 = 5 * MIB;
/// S3's largest part, and its largest single PUT.
const MAX_PART_BYTES: u64 = 5 * 1024 * MIB;
/// Files up to this size go up in one PUT, larger ones in parts of this size.
const DEFAULT_PART_BYTES: u64 = 64 * MIB;
/// S3's most parts per upload: 640 GiB at the default part size.
const MAX_PARTS: u64 = 10_000;
/// `get` is for small objects (summaries); statements go through `download`.
const MAX_GET_BYTES: u64 = 64 * MIB;
/// S3's page size (the most it returns per ListObjectsV2 call).
const LIST_PAGE_KEYS: i32 = 1_000;
/// One day has a few thousand keys; far more means the prefix is wrong.
const MAX_LISTED_KEYS: usize = 1_000_000;

/// The object store on one S3 bucket.
#[derive(Debug, Clone)]
pub struct S3Objects {
    client: Lazy<aws_sdk_s3::Client>,
    bucket: String,
    part_bytes: u64,
}

impl S3Objects {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> S3Objects {
        S3Objects::with(Lazy::ready(client), bucket)
    }

    fn with(client: Lazy<aws_sdk_s3::Client>, bucket: impl Into<String>) -> S3Objects {
        S3Objects {
            client,
            bucket: bucket.into(),
            part_bytes: DEFAULT_PART_BYTES,
        }
    }

    /// The client from the shared config. An endpoint override means an
    /// emulator, which serves every bucket on one host: path-style URLs.
    /// Made on first use (crate::lazy).
    pub fn from_conf(config: &SdkConfig, bucket: impl Into<String>) -> S3Objects {
        let client = Lazy::new(config, |config| {
            let s3 = aws_sdk_s3::config::Builder::from(config)
                .force_path_style(config.endpoint_url().is_some())
                .build();
            aws_sdk_s3::Client::from_conf(s3)
        });
        S3Objects::with(client, bucket)
    }

    /// Files larger than `part_bytes` are uploaded in parts of that size,
    /// kept within S3's 5 MiB–5 GiB (which also bounds a single PUT).
    pub fn with_part_size(mut self, part_bytes: u64) -> S3Objects {
        self.part_bytes = part_bytes.clamp(MIN_PART_BYTES, MAX_PART_BYTES);
        self
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The object at `key`, or `None` if there is none.
    async fn get_object(&self, key: &str) -> Result<Option<GetObjectOutput>, ObjectError> {
        match self
            .client
            .get()
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => Ok(Some(out)),
            Err(e) if is_missing_key(&e) => Ok(None),
            Err(e) => Err(self.unavailable("GetObject", key, e)),
        }
    }

    async fn upload_in_parts(
        &self,
        key: &str,
        src: &Path,
        size_bytes: u64,
        content_type: &str,
    ) -> Result<(), ObjectError> {
        let parts = size_bytes.div_ceil(self.part_bytes);
        if parts > MAX_PARTS {
            return Err(ObjectError::Unavailable(format!(
                "{key}: {size_bytes} bytes need more than {MAX_PARTS} parts of {} bytes",
                self.part_bytes
            )));
        }
        let created = self
            .client
            .get()
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .send()
            .await
            .map_err(|e| self.unavailable("CreateMultipartUpload", key, e))?;
        let Some(upload_id) = created.upload_id() else {
            return Err(ObjectError::Unavailable(format!(
                "{key}: CreateMultipartUpload gave no upload id"
            )));
        };
        let result = self
            .send_parts(key, src, size_bytes, upload_id)
            .await
            .map(|completed| CompletedMultipartUpload::builder().set_parts(Some(completed)));
        let result = match result {
            Ok(completed) => self
                .client
                .get()
                .complete_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .multipart_upload(completed.build())
                .send()
                .await
                .map(|_| ())
                .map_err(|e| self.unavailable("CompleteMultipartUpload", key, e)),
            Err(e) => Err(e),
        };
        if result.is_err() {
            // Parts of an unfinished upload are billed until aborted.
            if let Err(e) = self
                .client
                .get()
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .send()
                .await
            {
                tracing::warn!(key, error = %error_text(&e), "multipart upload not aborted");
            }
        }
        result
    }

    /// Sends `src` part by part, each streamed from its offset in the file.
    async fn send_parts(
        &self,
        key: &str,
        src: &Path,
        size_bytes: u64,
        upload_id: &str,
    ) -> Result<Vec<CompletedPart>, ObjectError> {
        let mut completed = Vec::new();
        let mut offset = 0;
        while offset < size_bytes {
            let length = self.part_bytes.min(size_bytes - offset);
            let number = i32::try_from(completed.len() + 1)
                .map_err(|_| ObjectError::Unavailable(format!("{key}: too many parts")))?;
            let body = ByteStream::read_from()
                .path(src)
                .offset(offset)
                .length(Length::Exact(length))
                .build()
                .await
                .map_err(|e| ObjectError::Unavailable(format!("{key}: {e}")))?;
            let sent = self
                .client
                .get()
                .upload_part()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(number)
                .checksum_algorithm(ChecksumAlgorithm::Crc32)
                .body(body)
                .send()
                .await
                .map_err(|e| self.unavailable("UploadPart", key, e))?;
            completed.push(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(sent.e_tag().map(str::to_owned))
                    .set_checksum_crc32(sent.checksum_crc32().map(str::to_owned))
                    .build(),
            );
            offset += length;
        }
        Ok(completed)
    }

    fn unavailable<E, R>(&self, operation: &str, key: &str, e: SdkError<E, R>) -> ObjectError
    where
        E: std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        ObjectError::Unavailable(format!(
            "S3 {operation} {}/{key}: {}",
            self.bucket,
            error_text(&e)
        ))
    }
}

/// No such key, as opposed to no such bucket (which is a setup error).
fn is_missing_key(e: &SdkError<GetObjectError, HttpResponse>) -> bool {
    match e {
        SdkError::ServiceError(service) => {
            let err = service.err();
            err.is_no_such_key()
                || (err.code() != Some("NoSuchBucket") && service.raw().status().as_u16() == 404)
        }
        _ => false,
    }
}

fn io_error(key: &str, e: std::io::Error) -> ObjectError {
    ObjectError::Unavailable(format!("{key}: {e}"))
}

#[async_trait]
impl ObjectStore for S3Objects {
    async fn download(&self, key: &str, dest: &Path) -> Result<bool, ObjectError> {
        check_key(key)?;
        let Some(object) = self.get_object(key).await? else {
            return Ok(false);
        };
        // After an error `dest` may hold part of the object: the error says
        // not to use it.
        let mut file = tokio::fs::File::create(dest)
            .await
            .map_err(|e| io_error(key, e))?;
        let body = object.body.into_async_read();
        tokio::pin!(body);
        tokio::io::copy_buf(&mut body, &mut file)
            .await
            .map_err(|e| io_error(key, e))?;
        file.flush().await.map_err(|e| io_error(key, e))?;
        Ok(true)
    }

    async fn upload(&self, key: &str, src: &Path, content_type: &str) -> Result<(), ObjectError> {
        check_key(key)?;
        let size_bytes = tokio::fs::metadata(src)
            .await
            .map_err(|e| io_error(key, e))?
            .len();
        if size_bytes > self.part_bytes {
            return self
                .upload_in_parts(key, src, size_bytes, content_type)
                .await;
        }
        // One PUT: at most `part_bytes`, never above S3's 5 GiB PUT limit.
        let body = ByteStream::from_path(src)
            .await
            .map_err(|e| ObjectError::Unavailable(format!("{key}: {e}")))?;
        self.client
            .get()
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            // The reports bucket has Object Lock, which refuses a PUT
            // without a checksum: asked for, not left to an SDK default.
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .body(body)
            .send()
            .await
            .map_err(|e| self.unavailable("PutObject", key, e))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, ObjectError> {
        check_key(key)?;
        let Some(object) = self.get_object(key).await? else {
            return Ok(None);
        };
        let mut bytes = Vec::new();
        let body = object.body.into_async_read().take(MAX_GET_BYTES + 1);
        tokio::pin!(body);
        body.read_to_end(&mut bytes)
            .await
            .map_err(|e| io_error(key, e))?;
        if bytes.len() as u64 > MAX_GET_BYTES {
            return Err(ObjectError::Unavailable(format!(
                "{key}: larger than {MAX_GET_BYTES} bytes; download it instead"
            )));
        }
        Ok(Some(bytes))
    }

    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), ObjectError> {
        check_key(key)?;
        self.client
            .get()
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| self.unavailable("PutObject", key, e))?;
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, ObjectError> {
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .get()
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .max_keys(LIST_PAGE_KEYS)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.unavailable("ListObjectsV2", prefix, e))?;
            // As `LocalDir`: a key the port refuses cannot be used, so it is
            // not listed either.
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|object| object.key())
                    .filter(|key| check_key(key).is_ok())
                    .map(str::to_owned),
            );
            if keys.len() > MAX_LISTED_KEYS {
                return Err(ObjectError::Unavailable(format!(
                    "more than {MAX_LISTED_KEYS} keys under {prefix:?}"
                )));
            }
        }
        keys.sort();
        Ok(keys)
    }

    async fn delete(&self, key: &str) -> Result<(), ObjectError> {
        check_key(key)?;
        // S3 answers 204 whether or not the key existed.
        self.client
            .get()
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| self.unavailable("DeleteObject", key, e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_size_stays_within_what_s3_accepts() {
        let client = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::Config::builder()
                .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
                .build(),
        );
        let store = S3Objects::new(client, "b");
        assert_eq!(store.part_bytes, DEFAULT_PART_BYTES);
        assert_eq!(store.clone().with_part_size(1).part_bytes, MIN_PART_BYTES);
        assert_eq!(store.with_part_size(u64::MAX).part_bytes, MAX_PART_BYTES);
    }
}
