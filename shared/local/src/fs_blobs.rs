//! Objects as files under a root directory.

use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use sluice_app::ports::{BlobMeta, BlobStore, BlobWriter, Segment, StoreError, StoreErrorKind};

/// Objects as files; keys are relative paths.
#[derive(Debug, Clone)]
pub struct FsBlobStore {
    root: PathBuf,
}

fn io_error(what: String, e: std::io::Error) -> StoreError {
    let kind = match e.kind() {
        std::io::ErrorKind::NotFound => StoreErrorKind::NotFound,
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::InvalidInput => StoreErrorKind::Permanent,
        _ => StoreErrorKind::Transient,
    };
    StoreError::with_source(kind, what, e)
}

async fn run<T: Send + 'static>(f: impl FnOnce() -> Result<T, StoreError> + Send + 'static) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::new(StoreErrorKind::Transient, format!("file task failed: {e}")))?
}

/// A path next to `path` for writing before an atomic rename.
fn temp_path(path: &Path) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".tmp-{}-{n}", std::process::id()));
    path.with_file_name(name)
}

/// Hard-links `src` to `dest`, or copies it when they are on different file systems.
fn link_or_copy(src: &Path, dest: &Path) -> std::io::Result<()> {
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let tmp = temp_path(dest);
    if std::fs::hard_link(src, &tmp).is_err() {
        std::fs::copy(src, &tmp)?;
    }
    std::fs::rename(&tmp, dest)
}

impl FsBlobStore {
    /// A store rooted at `root` (created if missing).
    pub fn open(root: impl Into<PathBuf>) -> std::io::Result<FsBlobStore> {
        let root = root.into();
        std::fs::create_dir_all(&root)?;
        Ok(FsBlobStore { root })
    }

    /// The file of a key. Keys are `/`-separated names of letters, digits, `-`, `_`, `.`;
    /// no empty, `.` or `..` segment can escape the root.
    pub fn path_of(&self, key: &str) -> Result<PathBuf, StoreError> {
        let ok = !key.is_empty()
            && key.split('/').all(|seg| {
                !seg.is_empty()
                    && seg != "."
                    && seg != ".."
                    && seg.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'='))
            });
        if !ok {
            return Err(StoreError::new(StoreErrorKind::Permanent, format!("invalid blob key {key:?}")));
        }
        Ok(self.root.join(key))
    }

    /// Stores a local file under `key` by hard link (or copy), and returns its metadata.
    pub async fn import_file(&self, src: &Path, key: &str) -> Result<BlobMeta, StoreError> {
        let dest = self.path_of(key)?;
        let src = src.to_path_buf();
        run(move || link_or_copy(&src, &dest).map_err(|e| io_error(format!("store {}", src.display()), e))).await?;
        self.head(key).await?.ok_or_else(|| StoreError::not_found(key.to_string()))
    }

    /// Writes an object to a local file by hard link (or copy).
    pub async fn export_file(&self, key: &str, dest: &Path) -> Result<(), StoreError> {
        let src = self.path_of(key)?;
        let dest = dest.to_path_buf();
        run(move || link_or_copy(&src, &dest).map_err(|e| io_error(format!("write {}", dest.display()), e))).await
    }

    /// Writes an object to a local file of its own: a change to the file leaves the store's
    /// object as it was (a hard link would share it).
    pub async fn copy_out(&self, key: &str, dest: &Path) -> Result<(), StoreError> {
        let src = self.path_of(key)?;
        let dest = dest.to_path_buf();
        run(move || {
            let tmp = temp_path(&dest);
            std::fs::copy(&src, &tmp).and_then(|_| std::fs::rename(&tmp, &dest)).map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                io_error(format!("write {}", dest.display()), e)
            })
        })
        .await
    }
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn put(&self, key: &str, body: Bytes) -> Result<(), StoreError> {
        self.put_parts(key, vec![body]).await
    }

    async fn put_parts(&self, key: &str, parts: Vec<Bytes>) -> Result<(), StoreError> {
        let path = self.path_of(key)?;
        let key = key.to_string();
        run(move || {
            let err = |e| io_error(format!("write {key}"), e);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(err)?;
            }
            let tmp = temp_path(&path);
            let mut file = std::fs::File::create(&tmp).map_err(err)?;
            let written = parts.iter().try_for_each(|part| file.write_all(part)).and_then(|()| file.flush());
            drop(file);
            if let Err(e) = written {
                let _ = std::fs::remove_file(&tmp);
                return Err(err(e));
            }
            std::fs::rename(&tmp, &path).map_err(err)
        })
        .await
    }

    async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        let path = self.path_of(key)?;
        let key = key.to_string();
        run(move || std::fs::read(&path).map(Bytes::from).map_err(|e| io_error(format!("read {key}"), e))).await
    }

    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, StoreError> {
        let path = self.path_of(key)?;
        let key = key.to_string();
        run(move || {
            let err = |e| io_error(format!("read {key}"), e);
            let mut file = std::fs::File::open(&path).map_err(err)?;
            file.seek(SeekFrom::Start(range.start)).map_err(err)?;
            let mut buf = Vec::with_capacity(range.end.saturating_sub(range.start) as usize);
            file.take(range.end.saturating_sub(range.start)).read_to_end(&mut buf).map_err(err)?;
            Ok(Bytes::from(buf))
        })
        .await
    }

    async fn get_ranges(&self, key: &str, ranges: &[Range<u64>]) -> Result<Vec<Bytes>, StoreError> {
        let path = self.path_of(key)?;
        let key = key.to_string();
        let ranges = ranges.to_vec();
        run(move || {
            let err = |e| io_error(format!("read {key}"), e);
            let mut file = std::fs::File::open(&path).map_err(err)?;
            let mut out = Vec::with_capacity(ranges.len());
            for range in ranges {
                file.seek(SeekFrom::Start(range.start)).map_err(err)?;
                let mut buf = Vec::with_capacity(range.end.saturating_sub(range.start) as usize);
                (&mut file).take(range.end.saturating_sub(range.start)).read_to_end(&mut buf).map_err(err)?;
                out.push(Bytes::from(buf));
            }
            Ok(out)
        })
        .await
    }

    async fn head(&self, key: &str) -> Result<Option<BlobMeta>, StoreError> {
        let path = self.path_of(key)?;
        let key = key.to_string();
        run(move || match std::fs::metadata(&path) {
            Ok(m) => {
                let modified = m
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_nanos())
                    .unwrap_or(0);
                Ok(Some(BlobMeta { size: m.len(), etag: format!("{:x}-{modified:x}", m.len()) }))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(format!("stat {key}"), e)),
        })
        .await
    }

    async fn writer(&self, key: &str) -> Result<Box<dyn BlobWriter>, StoreError> {
        let path = self.path_of(key)?;
        let tmp = temp_path(&path);
        let key = key.to_string();
        let (file, tmp) = run(move || {
            let err = |e| io_error(format!("write {key}"), e);
            if let Some(parent) = tmp.parent() {
                std::fs::create_dir_all(parent).map_err(err)?;
            }
            let file = std::fs::File::create(&tmp).map_err(err)?;
            Ok((std::io::BufWriter::with_capacity(1 << 20, file), tmp))
        })
        .await?;
        Ok(Box::new(FsWriter { file: Some(file), tmp, path, written: 0, store: self.clone() }))
    }

    async fn download_to(&self, key: &str, dest: &Path) -> Result<(), StoreError> {
        self.export_file(key, dest).await
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<(), StoreError> {
        let path = self.path_of(prefix.trim_end_matches('/'))?;
        run(move || match std::fs::remove_dir_all(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error(format!("delete {}", path.display()), e)),
        })
        .await
    }
}

/// A streamed write into a temporary file, renamed into place at `finish`.
struct FsWriter {
    file: Option<std::io::BufWriter<std::fs::File>>,
    tmp: PathBuf,
    path: PathBuf,
    written: u64,
    store: FsBlobStore,
}

#[async_trait]
impl BlobWriter for FsWriter {
    async fn write(&mut self, data: Bytes) -> Result<(), StoreError> {
        let mut file =
            self.file.take().ok_or_else(|| StoreError::new(StoreErrorKind::Permanent, "writer already failed"))?;
        let len = data.len() as u64;
        let tmp = self.tmp.clone();
        let file = run(move || {
            file.write_all(&data).map_err(|e| io_error(format!("write {}", tmp.display()), e))?;
            Ok(file)
        })
        .await?;
        self.file = Some(file);
        self.written += len;
        Ok(())
    }

    async fn append_object(&mut self, key: &str) -> Result<(), StoreError> {
        self.append_segments(key, vec![Segment::Range(0..u64::MAX)]).await
    }

    async fn append_segments(&mut self, key: &str, segments: Vec<Segment>) -> Result<(), StoreError> {
        let source = self.store.path_of(key)?;
        let mut file =
            self.file.take().ok_or_else(|| StoreError::new(StoreErrorKind::Permanent, "writer already failed"))?;
        let tmp = self.tmp.clone();
        let (file, copied) = run(move || {
            let err = |e| io_error(format!("write {}", tmp.display()), e);
            let mut part: Option<std::fs::File> = None;
            let mut buffer = Vec::new();
            let mut copied = 0;
            for segment in segments {
                match segment {
                    Segment::Bytes(bytes) => {
                        file.write_all(&bytes).map_err(err)?;
                        copied += bytes.len() as u64;
                    }
                    Segment::Range(range) => {
                        file.flush().map_err(err)?;
                        let source_file = match part.as_mut() {
                            Some(f) => f,
                            None => part.insert(
                                std::fs::File::open(&source)
                                    .map_err(|e| io_error(format!("read {}", source.display()), e))?,
                            ),
                        };
                        source_file.seek(SeekFrom::Start(range.start)).map_err(err)?;
                        let limited = source_file.take(range.end.saturating_sub(range.start));
                        copied += copy_through(limited, file.get_mut(), &mut buffer).map_err(err)?;
                    }
                }
            }
            Ok((file, copied))
        })
        .await?;
        self.file = Some(file);
        self.written += copied;
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<u64, StoreError> {
        let file =
            self.file.take().ok_or_else(|| StoreError::new(StoreErrorKind::Permanent, "writer already failed"))?;
        let (tmp, path, written) = (self.tmp.clone(), self.path.clone(), self.written);
        run(move || {
            let err = |e| io_error(format!("write {}", path.display()), e);
            let file = file.into_inner().map_err(|e| err(e.into_error()))?;
            drop(file);
            std::fs::rename(&tmp, &path).map_err(err)?;
            Ok(written)
        })
        .await
    }
}

/// Copies `from` to `to` through a user-space buffer of [`COPY_BUFFER`] bytes.
///
/// Not `std::io::copy`: between two files it uses `copy_file_range`, which on a filesystem
/// without reflinks (ext4) copies through a splice pipe 64 KiB at a time. Measured on the 296 MB
/// rows file of the benchmark, that took 0.16 s against 0.07 s for `read` and `write` of 1 MiB.
fn copy_through(mut from: impl Read, to: &mut std::fs::File, buffer: &mut Vec<u8>) -> std::io::Result<u64> {
    buffer.resize(COPY_BUFFER, 0);
    let mut copied = 0;
    loop {
        let n = match from.read(buffer) {
            Ok(0) => return Ok(copied),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buffer[..n])?;
        copied += n as u64;
    }
}

/// The buffer of [`copy_through`]: large enough that the system calls cost little.
const COPY_BUFFER: usize = 1 << 20;

impl Drop for FsWriter {
    fn drop(&mut self) {
        if self.file.is_some() {
            // Abandoned: the object never appears.
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn objects_round_trip_and_ranges_read_what_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        store.put("a/b/c.txt", Bytes::from_static(b"hello world")).await.unwrap();
        assert_eq!(store.get("a/b/c.txt").await.unwrap(), Bytes::from_static(b"hello world"));
        let parts = vec![Bytes::from_static(b"he"), Bytes::new(), Bytes::from_static(b"llo")];
        store.put_parts("a/parts", parts).await.unwrap();
        assert_eq!(store.get("a/parts").await.unwrap(), Bytes::from_static(b"hello"));
        assert_eq!(store.get_range("a/b/c.txt", 6..11).await.unwrap(), Bytes::from_static(b"world"));
        assert_eq!(store.head("a/b/c.txt").await.unwrap().unwrap().size, 11);
        assert!(store.head("a/b/missing").await.unwrap().is_none());
        assert!(store.get("a/b/missing").await.unwrap_err().is_not_found());
        let mut w = store.writer("out/x.jsonl").await.unwrap();
        w.write(Bytes::from_static(b"1\n")).await.unwrap();
        assert!(store.head("out/x.jsonl").await.unwrap().is_none(), "nothing appears before finish");
        w.write(Bytes::from_static(b"2\n")).await.unwrap();
        assert_eq!(w.finish().await.unwrap(), 4);
        assert_eq!(store.get("out/x.jsonl").await.unwrap(), Bytes::from_static(b"1\n2\n"));
        store.delete_prefix("a/").await.unwrap();
        assert!(store.head("a/b/c.txt").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_writer_appends_objects_ranges_and_bytes_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        let mut expected = Vec::new();
        let mut w = store.writer("out/all.jsonl").await.unwrap();
        for i in 0..40u64 {
            // Objects of varied sizes, some empty.
            let body: Vec<u8> = (0..(i * 7919 % 50_000) * (1 + i % 3)).map(|b| (b * 31 + i) as u8).collect();
            let key = format!("parts/{i}.bin");
            store.put(&key, Bytes::from(body.clone())).await.unwrap();
            match i % 4 {
                0 => {
                    w.append_object(&key).await.unwrap();
                    expected.extend_from_slice(&body);
                }
                1 => {
                    let n = body.len() as u64;
                    let (a, b) = (n / 3, 2 * n / 3);
                    let segments = vec![
                        Segment::Range(0..a),
                        Segment::Bytes(Bytes::from(format!("<{i}>"))),
                        Segment::Range(b..n),
                        Segment::Range(a..b),
                        Segment::Range(0..u64::MAX),
                    ];
                    w.append_segments(&key, segments).await.unwrap();
                    let (a, b) = (a as usize, b as usize);
                    expected.extend_from_slice(&body[..a]);
                    expected.extend_from_slice(format!("<{i}>").as_bytes());
                    expected.extend_from_slice(&body[b..]);
                    expected.extend_from_slice(&body[a..b]);
                    expected.extend_from_slice(&body);
                }
                _ => {
                    w.write(Bytes::from(body.clone())).await.unwrap();
                    expected.extend_from_slice(&body);
                }
            }
        }
        assert!(store.head("out/all.jsonl").await.unwrap().is_none(), "nothing appears before finish");
        assert_eq!(w.finish().await.unwrap(), expected.len() as u64);
        assert_eq!(store.get("out/all.jsonl").await.unwrap(), Bytes::from(expected));

        // A writer that ends with nothing is an empty object; a missing source is an error.
        let w = store.writer("out/empty").await.unwrap();
        assert_eq!(w.finish().await.unwrap(), 0);
        assert_eq!(store.get("out/empty").await.unwrap().len(), 0);
        let mut w = store.writer("out/broken").await.unwrap();
        assert!(w.append_object("parts/missing.bin").await.unwrap_err().is_not_found());
    }

    #[tokio::test]
    async fn keys_cannot_escape_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path()).unwrap();
        for key in ["../x", "a/../../x", "/etc/passwd", "a//b", "", "a/./b", "a b"] {
            assert_eq!(store.put(key, Bytes::new()).await.unwrap_err().kind, StoreErrorKind::Permanent, "{key:?}");
        }
    }
}
