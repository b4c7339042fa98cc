//! Where feed files live. [`FeedStorage`] is the seam for other backends (an
//! S3-compatible bucket needs `put` = PutObject, `get` = GetObject, `list` =
//! ListObjectsV2 with a delimiter, `delete_prefix` = DeleteObjects); [`LocalDir`] is the
//! embedded default.
//!
//! Keys are `/`-separated and made by the exporter: `{tenant}/{date}/{run}/{file}`.

use std::io;
use std::path::{Component, Path, PathBuf};
use std::pin::Pin;

use tokio::io::AsyncRead;

/// A stored file opened for reading.
pub struct StoredFile {
    pub len: u64,
    pub reader: Pin<Box<dyn AsyncRead + Send>>,
}

#[async_trait::async_trait]
pub trait FeedStorage: Send + Sync + 'static {
    /// Makes the finished local file `staged` the object at `key` in one step (the
    /// staged file is consumed).
    async fn put(&self, staged: &Path, key: &str) -> io::Result<()>;
    /// The object at `key`, if there is one.
    async fn get(&self, key: &str) -> io::Result<Option<StoredFile>>;
    /// The names one level below `prefix` (objects and "directories").
    async fn list(&self, prefix: &str) -> io::Result<Vec<String>>;
    /// Deletes every object under `prefix`.
    async fn delete_prefix(&self, prefix: &str) -> io::Result<()>;
}

/// Files under a local directory. Objects appear by `rename`, which is atomic on one
/// filesystem, so the staging directory must be on the same one (the exporter stages
/// under the root's `.staging`).
#[derive(Debug, Clone)]
pub struct LocalDir {
    root: PathBuf,
}

impl LocalDir {
    pub fn new(root: impl Into<PathBuf>) -> LocalDir {
        LocalDir { root: root.into() }
    }

    /// Where the exporter writes files before `put`.
    pub fn staging_dir(&self) -> PathBuf {
        self.root.join(".staging")
    }

    /// The path of `key`, refusing anything that could leave the root.
    fn path(&self, key: &str) -> io::Result<PathBuf> {
        let relative = Path::new(key);
        let plain = !key.is_empty()
            && relative
                .components()
                .all(|c| matches!(c, Component::Normal(_)));
        if !plain {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid storage key `{key}`"),
            ));
        }
        Ok(self.root.join(relative))
    }
}

#[async_trait::async_trait]
impl FeedStorage for LocalDir {
    async fn put(&self, staged: &Path, key: &str) -> io::Result<()> {
        let target = self.path(key)?;
        if let Some(dir) = target.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        tokio::fs::rename(staged, &target).await
    }

    async fn get(&self, key: &str) -> io::Result<Option<StoredFile>> {
        let file = match tokio::fs::File::open(self.path(key)?).await {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let len = file.metadata().await?.len();
        Ok(Some(StoredFile {
            len,
            reader: Box::pin(file),
        }))
    }

    async fn list(&self, prefix: &str) -> io::Result<Vec<String>> {
        let mut entries = match tokio::fs::read_dir(self.path(prefix)?).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(e),
        };
        let mut names = Vec::new();
        while let Some(entry) = entries.next_entry().await? {
            if let Some(name) = entry.file_name().to_str() {
                names.push(name.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    async fn delete_prefix(&self, prefix: &str) -> io::Result<()> {
        let path = self.path(prefix)?;
        let removed = match tokio::fs::metadata(&path).await {
            Ok(meta) if meta.is_dir() => tokio::fs::remove_dir_all(&path).await,
            Ok(_) => tokio::fs::remove_file(&path).await,
            Err(e) => Err(e),
        };
        match removed {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn put_get_list_delete() {
        let dir = tempfile::tempdir().unwrap();
        let storage = LocalDir::new(dir.path());
        tokio::fs::create_dir_all(storage.staging_dir())
            .await
            .unwrap();
        let staged = storage.staging_dir().join("f");
        tokio::fs::write(&staged, b"hello").await.unwrap();
        storage.put(&staged, "t/2026-11-23/r1/f.gz").await.unwrap();
        assert!(!staged.exists(), "the staged file became the object");
        let mut got = storage.get("t/2026-11-23/r1/f.gz").await.unwrap().unwrap();
        let mut text = String::new();
        got.reader.read_to_string(&mut text).await.unwrap();
        assert_eq!((got.len, text.as_str()), (5, "hello"));
        assert_eq!(storage.list("t/2026-11-23").await.unwrap(), vec!["r1"]);
        storage.delete_prefix("t/2026-11-23/r1").await.unwrap();
        assert!(storage.get("t/2026-11-23/r1/f.gz").await.unwrap().is_none());
        assert!(storage.list("t/2026-11-23").await.unwrap().is_empty());
        storage.delete_prefix("t/nothing-here").await.unwrap();
    }

    #[tokio::test]
    async fn keys_cannot_leave_the_root() {
        let storage = LocalDir::new("/tmp/callscribe-root");
        for key in ["../etc/passwd", "/etc/passwd", "a/../../b", "", "./a"] {
            assert!(storage.get(key).await.is_err(), "{key}");
        }
    }
}
