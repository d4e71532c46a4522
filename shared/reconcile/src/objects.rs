//! The object-store port: where statements and bank receipts come from and
//! reports go to. S3 in AWS (the `reconcile` function's adapter), a local
//! directory here ([`LocalDir`]). Objects move through local files so that
//! neither side ever holds a whole statement or report in memory.
//!
//! Keys (one bucket):
//! - `statements/{date}/{provider}.csv` — a provider's bill of day D
//! - `bank/{date}/receipts.csv` — the bank's settlement receipts of day D
//! - `reports/{date}/{shop}.csv` and `.json` — the day's report of one shop

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use qrpay_domain::{BusinessDate, Provider};

#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error("object store unavailable: {0}")]
    Unavailable(String),
    #[error("object key {0:?} is not allowed")]
    BadKey(String),
}

#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Copies the object at `key` into the local file `dest` (created or
    /// truncated); `false` if there is no such object.
    async fn download(&self, key: &str, dest: &Path) -> Result<bool, ObjectError>;
    /// Stores the local file `src` under `key`, replacing any object there.
    /// `src` is a scratch file the caller is done with: an adapter may move
    /// it instead of copying it.
    async fn upload(&self, key: &str, src: &Path, content_type: &str) -> Result<(), ObjectError>;
    /// A small object's bytes; `None` if there is no such object.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, ObjectError>;
    /// Stores small bytes under `key`, replacing any object there.
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), ObjectError>;
    /// Every key that starts with `prefix`, sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, ObjectError>;
    /// Removes `key`; removing a missing key is not an error.
    async fn delete(&self, key: &str) -> Result<(), ObjectError>;
}

pub fn statement_key(date: BusinessDate, provider: Provider) -> String {
    format!("statements/{date}/{provider}.csv")
}

pub fn receipts_key(date: BusinessDate) -> String {
    format!("bank/{date}/receipts.csv")
}

pub fn reports_prefix(date: BusinessDate) -> String {
    format!("reports/{date}/")
}

pub fn report_key(date: BusinessDate, shop_id: &str, extension: &str) -> String {
    format!("reports/{date}/{shop_id}.{extension}")
}

/// A key is 1–512 characters of `[A-Za-z0-9._/-]`, with no empty, `.` or
/// `..` segment, so no key can leave the local root.
pub fn check_key(key: &str) -> Result<(), ObjectError> {
    let ok = !key.is_empty()
        && key.len() <= 512
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'))
        && key
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..");
    if ok {
        Ok(())
    } else {
        Err(ObjectError::BadKey(key.to_owned()))
    }
}

/// The local adapter: objects are files under a root directory.
#[derive(Debug, Clone)]
pub struct LocalDir {
    root: PathBuf,
}

impl LocalDir {
    pub fn new(root: impl Into<PathBuf>) -> LocalDir {
        LocalDir { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the object `key` lives on disk.
    pub fn path_of(&self, key: &str) -> Result<PathBuf, ObjectError> {
        check_key(key)?;
        Ok(self.root.join(key))
    }
}

fn io_error(e: std::io::Error) -> ObjectError {
    ObjectError::Unavailable(e.to_string())
}

async fn make_parent(path: &Path) -> Result<(), ObjectError> {
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent).await.map_err(io_error)?;
    }
    Ok(())
}

/// Writes through a temporary sibling and renames, so a reader never sees a
/// half-written object.
async fn replace_with(
    path: &Path,
    write: impl std::future::Future<Output = std::io::Result<()>>,
    tmp: &Path,
) -> Result<(), ObjectError> {
    write.await.map_err(io_error)?;
    tokio::fs::rename(tmp, path).await.map_err(io_error)
}

/// A temporary name no other writer uses, in this process (two runs of
/// one day at once write the same keys) or another.
fn tmp_sibling(path: &Path) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}-{n}", std::process::id()));
    path.with_file_name(name)
}

#[async_trait]
impl ObjectStore for LocalDir {
    async fn download(&self, key: &str, dest: &Path) -> Result<bool, ObjectError> {
        let path = self.path_of(key)?;
        match tokio::fs::metadata(&path).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io_error(e)),
        }
        // Objects are replaced by rename, never written in place: a hard
        // link is a stable copy that costs nothing.
        let _ = tokio::fs::remove_file(dest).await;
        if tokio::fs::hard_link(&path, dest).await.is_ok() {
            return Ok(true);
        }
        match tokio::fs::copy(&path, dest).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_error(e)),
        }
    }

    async fn upload(&self, key: &str, src: &Path, _content_type: &str) -> Result<(), ObjectError> {
        let path = self.path_of(key)?;
        // Same filesystem: a rename is atomic and copies nothing. The
        // directory is made only when missing (creating files and
        // directories is what costs on a busy disk).
        if tokio::fs::rename(src, &path).await.is_ok() {
            return Ok(());
        }
        make_parent(&path).await?;
        if tokio::fs::rename(src, &path).await.is_ok() {
            return Ok(());
        }
        let tmp = tmp_sibling(&path);
        replace_with(
            &path,
            async { tokio::fs::copy(src, &tmp).await.map(|_| ()) },
            &tmp,
        )
        .await
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, ObjectError> {
        let path = self.path_of(key)?;
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(e)),
        }
    }

    async fn put(&self, key: &str, bytes: Vec<u8>, _content_type: &str) -> Result<(), ObjectError> {
        let path = self.path_of(key)?;
        make_parent(&path).await?;
        let tmp = tmp_sibling(&path);
        replace_with(&path, tokio::fs::write(&tmp, bytes), &tmp).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, ObjectError> {
        let mut keys = Vec::new();
        let mut dirs = vec![self.root.clone()];
        while let Some(dir) = dirs.pop() {
            let mut entries = match tokio::fs::read_dir(&dir).await {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_error(e)),
            };
            while let Some(entry) = entries.next_entry().await.map_err(io_error)? {
                let path = entry.path();
                if entry.file_type().await.map_err(io_error)?.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let Ok(relative) = path.strip_prefix(&self.root) else {
                    continue;
                };
                let key = relative.to_string_lossy().replace('\\', "/");
                if key.starts_with(prefix) && check_key(&key).is_ok() {
                    keys.push(key);
                }
            }
        }
        keys.sort();
        Ok(keys)
    }

    async fn delete(&self, key: &str) -> Result<(), ObjectError> {
        let path = self.path_of(key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_escape_the_root() {
        for bad in [
            "", "../x", "a/../b", "/abs", "a//b", "a/./b", "a b", "a\\b", "汉",
        ] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
        check_key("reports/2026-11-20/shop-1.csv").expect("a normal key");
    }

    /// Two runs of one day in one process write the same keys at once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_writers_of_one_key_all_succeed_and_one_wins_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = std::sync::Arc::new(LocalDir::new(dir.path()));
        let writers: Vec<_> = (0..32u8)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .put("reports/d/s.csv", vec![i; 64 * 1024], "text/csv")
                        .await
                })
            })
            .collect();
        for writer in writers {
            writer.await.expect("join").expect("every put succeeds");
        }
        let bytes = store
            .get("reports/d/s.csv")
            .await
            .expect("get")
            .expect("object");
        assert_eq!(bytes.len(), 64 * 1024);
        assert!(
            bytes.iter().all(|b| *b == bytes[0]),
            "one writer's bytes, whole"
        );
        let names: Vec<_> = std::fs::read_dir(dir.path().join("reports/d"))
            .expect("dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(
            names,
            vec![std::ffi::OsString::from("s.csv")],
            "no temporary left"
        );
    }

    #[tokio::test]
    async fn local_dir_round_trips_lists_and_deletes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LocalDir::new(dir.path());
        assert_eq!(store.get("a/b.txt").await.expect("get"), None);
        store
            .put("a/b.txt", b"one".to_vec(), "text/plain")
            .await
            .expect("put");
        store
            .put("a/c.txt", b"two".to_vec(), "text/plain")
            .await
            .expect("put");
        store
            .put("z.txt", b"three".to_vec(), "text/plain")
            .await
            .expect("put");
        assert_eq!(
            store.get("a/b.txt").await.expect("get"),
            Some(b"one".to_vec())
        );
        assert_eq!(
            store.list("a/").await.expect("list"),
            ["a/b.txt", "a/c.txt"]
        );
        let scratch = tempfile::tempdir().expect("tempdir");
        let local = scratch.path().join("copy");
        assert!(store.download("a/c.txt", &local).await.expect("download"));
        assert!(!store.download("a/none", &local).await.expect("download"));
        store
            .upload("d/e.txt", &local, "text/plain")
            .await
            .expect("upload");
        assert_eq!(
            store.get("d/e.txt").await.expect("get"),
            Some(b"two".to_vec())
        );
        store.delete("a/b.txt").await.expect("delete");
        store.delete("a/b.txt").await.expect("delete twice");
        assert_eq!(
            store.list("").await.expect("list"),
            ["a/c.txt", "d/e.txt", "z.txt"]
        );
    }
}
