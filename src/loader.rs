//! Where a policy set comes from, as zen-engine's loaders: the engine and the model store read
//! policies and model bytes through these traits, never through `std::fs` directly, so tests and
//! embedders can serve a set held in memory ([`MemoryLoader`]) and the CLI and server read
//! directories ([`FsPolicies`], [`FsModels`]).

use crate::source::SourceMap;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

/// Why a source could not be read.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LoadError {
    /// A policy path given to the loader does not exist or a directory cannot be listed.
    #[error("{0}")]
    Policies(String),
    /// No model of that name.
    #[error("no file `{}`", .0.display())]
    NoModel(PathBuf),
    /// The model exists but its bytes cannot be read.
    #[error("{}: {source}", .path.display())]
    ModelUnreadable {
        path: PathBuf,
        #[source]
        source: ReadError,
    },
}

/// Why [`read_confined`] refused or failed to read a file. The messages are worded to follow
/// `cannot read …:` (`it is not a regular file`); an IO failure shows the system's own words.
///
/// `Clone` (the IO error is shared) because [`LoadError`] is.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// `path` does not exist (or vanished before it was opened).
    #[error("{source}")]
    NotFound {
        path: PathBuf,
        #[source]
        source: Arc<std::io::Error>,
    },
    /// Resolving, opening, inspecting or reading `path` failed for another reason.
    #[error("{source}")]
    Io {
        path: PathBuf,
        #[source]
        source: Arc<std::io::Error>,
    },
    /// After symlinks, the file is at `real`, which is not under `root`.
    #[error("it resolves to `{}`, outside `{}`", .real.display(), .root.display())]
    Outside { real: PathBuf, root: PathBuf },
    /// A FIFO, device, directory or socket, which could block or never end.
    #[error("it is not a regular file")]
    NotRegular { path: PathBuf },
    /// The file holds `size` bytes, more than `limit`.
    #[error("it is {size} bytes, over the limit of {limit}")]
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },
    /// The file was within `limit` when checked but held more when read.
    #[error("it grew over the limit of {limit} bytes while read")]
    Grew { path: PathBuf, limit: u64 },
}

impl ReadError {
    /// `NotFound` or `Io`, by the error's kind.
    fn io(path: &Path, e: std::io::Error) -> Self {
        let path = path.to_path_buf();
        let source = Arc::new(e);
        if source.kind() == std::io::ErrorKind::NotFound {
            ReadError::NotFound { path, source }
        } else {
            ReadError::Io { path, source }
        }
    }
}

/// A model file's bytes and the path shown for it in diagnostics and `/v1/policies`.
#[derive(Debug, Clone)]
pub struct ModelFile {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
}

/// The policy sources of a set. Called once per build; a file that exists but cannot be read is
/// added to the map as unreadable (reported by `compile::build` as a diagnostic at that file).
pub trait PolicySource: Send + Sync {
    fn read_policies(&self) -> Result<SourceMap, LoadError>;
}

/// Model files, named as a binding writes them (relative to the models root).
pub trait ModelSource: Send + Sync {
    fn read_model(&self, file: &str) -> Result<ModelFile, LoadError>;
}

/// Every `.policy` file under some files and directories.
#[derive(Debug, Clone)]
pub struct FsPolicies {
    paths: Vec<PathBuf>,
    max_bytes: u64,
}

impl FsPolicies {
    /// Files of at most [`MAX_POLICY_BYTES`].
    pub fn new(paths: Vec<PathBuf>) -> Self {
        FsPolicies {
            paths,
            max_bytes: MAX_POLICY_BYTES,
        }
    }
    /// The same source, reading files of at most `limit` bytes (a larger one is reported at
    /// that file, unread).
    pub fn max_bytes(mut self, limit: u64) -> Self {
        self.max_bytes = limit;
        self
    }
}

impl PolicySource for FsPolicies {
    fn read_policies(&self) -> Result<SourceMap, LoadError> {
        read_policy_files_within(&self.paths, self.max_bytes)
            .map_err(|e| LoadError::Policies(e.to_string()))
    }
}

/// The largest policy file read by default (`FsPolicies::max_bytes` and `policy serve
/// --max-policy-bytes` change it); a larger one is reported at that file, unread.
pub const MAX_POLICY_BYTES: u64 = 4 << 20;
/// The largest model file read by default (`FsModels::max_bytes` and `policy serve
/// --max-model-bytes` change it); a larger one is reported at its binding, unread.
pub const MAX_MODEL_BYTES: u64 = 512 << 20;

/// Every `.policy` file under the given files and directories, sorted, read into a source map.
/// A path that does not exist is an IO error. A file found under a directory must resolve (after
/// symlinks) inside that directory, be a regular file and hold at most [`MAX_POLICY_BYTES`];
/// one that does not, or cannot be read, or is not UTF-8, is added unread and reported by
/// `compile::build` as `P0003`, so its bytes never reach a diagnostic.
pub fn read_policy_files(paths: &[PathBuf]) -> std::io::Result<SourceMap> {
    read_policy_files_within(paths, MAX_POLICY_BYTES)
}

/// [`read_policy_files`] with files of at most `limit` bytes.
pub fn read_policy_files_within(paths: &[PathBuf], limit: u64) -> std::io::Result<SourceMap> {
    let mut files = Vec::new();
    for p in paths {
        let root = std::fs::canonicalize(p)?;
        let mut found = Vec::new();
        collect(p, &mut found)?;
        files.extend(found.into_iter().map(|f| (f, root.clone())));
    }
    files.sort();
    files.dedup_by(|a, b| a.0 == b.0);
    let mut map = SourceMap::new();
    for (f, root) in files {
        match read_confined(&root, &f, limit).map(String::from_utf8) {
            Ok(Ok(text)) => map.add(f, text),
            Ok(Err(_)) => map.add_unreadable(f, "the file is not UTF-8"),
            Err(why) => map.add_unreadable(f, &why.to_string()),
        };
    }
    Ok(map)
}

fn collect(p: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let meta = std::fs::metadata(p)?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(p)? {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with('.') {
                continue;
            }
            if path.is_dir() || path.extension().is_some_and(|e| e == "policy") {
                collect(&path, out)?;
            }
        }
    } else {
        out.push(p.to_path_buf());
    }
    Ok(())
}

/// Reads `path` only if it resolves (after symlinks) inside `root`, is a regular file (not a
/// FIFO, device or directory: `/dev/zero` or a pipe would never end) and holds at most `limit`
/// bytes. The file is opened without blocking and checked again on the open handle, so a file
/// swapped for a FIFO between the check and the open cannot stall the read.
pub fn read_confined(root: &Path, path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    use std::io::Read;
    let real = std::fs::canonicalize(path).map_err(|e| ReadError::io(path, e))?;
    if !real.starts_with(root) {
        return Err(ReadError::Outside {
            real,
            root: root.to_path_buf(),
        });
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(&real).map_err(|e| ReadError::io(&real, e))?;
    let meta = file.metadata().map_err(|e| ReadError::io(&real, e))?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular { path: real });
    }
    if meta.len() > limit {
        return Err(ReadError::TooLarge {
            path: real,
            size: meta.len(),
            limit,
        });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ReadError::io(&real, e))?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::Grew { path: real, limit });
    }
    Ok(bytes)
}

/// Model files under one directory.
#[derive(Debug, Clone)]
pub struct FsModels {
    dir: PathBuf,
    max_bytes: u64,
}

impl FsModels {
    /// Files of at most [`MAX_MODEL_BYTES`].
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FsModels {
            dir: dir.into(),
            max_bytes: MAX_MODEL_BYTES,
        }
    }
    /// The same source, reading files of at most `limit` bytes (a larger one is reported at
    /// its binding, unread).
    pub fn max_bytes(mut self, limit: u64) -> Self {
        self.max_bytes = limit;
        self
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl ModelSource for FsModels {
    /// A model resolves inside the models directory (after symlinks), is a regular file and
    /// holds at most its limit ([`MAX_MODEL_BYTES`] unless set); an absolute path, `..` or a
    /// symlink out of the directory is refused at its binding.
    fn read_model(&self, file: &str) -> Result<ModelFile, LoadError> {
        let path = self.dir.join(file);
        if !path.exists() {
            return Err(LoadError::NoModel(path));
        }
        let unreadable = |source: ReadError| LoadError::ModelUnreadable {
            path: path.clone(),
            source,
        };
        let root = std::fs::canonicalize(&self.dir)
            .map_err(|e| unreadable(ReadError::io(&self.dir, e)))?;
        let bytes = read_confined(&root, &path, self.max_bytes).map_err(unreadable)?;
        Ok(ModelFile { path, bytes })
    }
}

/// A set held in memory: policy texts by file name and model bytes by the name bindings use.
/// Clones share the same files, so a test keeps one clone, edits it, and reloads an engine built
/// over another: that is how tests drive reloads without directories or a watcher.
#[derive(Debug, Clone, Default)]
pub struct MemoryLoader {
    files: Arc<RwLock<MemoryFiles>>,
}

#[derive(Debug, Default)]
struct MemoryFiles {
    policies: BTreeMap<PathBuf, String>,
    models: BTreeMap<String, Vec<u8>>,
}

impl MemoryLoader {
    pub fn new() -> Self {
        Self::default()
    }
    /// With a policy file added (builder form of [`MemoryLoader::set_policy`]).
    pub fn policy(self, path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        self.set_policy(path, text);
        self
    }
    /// With a model file added (builder form of [`MemoryLoader::set_model`]).
    pub fn model(self, file: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Self {
        self.set_model(file, bytes);
        self
    }
    /// Adds or replaces a policy file.
    pub fn set_policy(&self, path: impl Into<PathBuf>, text: impl Into<String>) {
        self.write().policies.insert(path.into(), text.into());
    }
    /// Removes a policy file; true when it was there.
    pub fn remove_policy(&self, path: impl AsRef<Path>) -> bool {
        self.write().policies.remove(path.as_ref()).is_some()
    }
    /// Adds or replaces a model file.
    pub fn set_model(&self, file: impl Into<String>, bytes: impl Into<Vec<u8>>) {
        self.write().models.insert(file.into(), bytes.into());
    }
    fn read(&self) -> std::sync::RwLockReadGuard<'_, MemoryFiles> {
        self.files.read().unwrap_or_else(PoisonError::into_inner)
    }
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, MemoryFiles> {
        self.files.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl PolicySource for MemoryLoader {
    fn read_policies(&self) -> Result<SourceMap, LoadError> {
        let mut map = SourceMap::new();
        for (path, text) in &self.read().policies {
            map.add(path.clone(), text.clone());
        }
        Ok(map)
    }
}

impl ModelSource for MemoryLoader {
    fn read_model(&self, file: &str) -> Result<ModelFile, LoadError> {
        match self.read().models.get(file) {
            Some(bytes) => Ok(ModelFile {
                path: PathBuf::from(file),
                bytes: bytes.clone(),
            }),
            None => Err(LoadError::NoModel(PathBuf::from(file))),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    //! Each refusal of `read_confined` as its variant, with the text diagnostics show.
    use super::*;

    fn dir() -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        (tmp, root)
    }

    #[test]
    fn a_file_within_the_limit_is_read() {
        let (_tmp, root) = dir();
        std::fs::write(root.join("a.policy"), "abcd").unwrap();
        let bytes = read_confined(&root, &root.join("a.policy"), 4).unwrap();
        assert_eq!(bytes, b"abcd");
    }

    #[test]
    fn a_missing_file_is_not_found() {
        let (_tmp, root) = dir();
        let path = root.join("gone.onnx");
        let e = read_confined(&root, &path, 10).unwrap_err();
        let ReadError::NotFound { path: p, source } = &e else {
            panic!("{e:?}");
        };
        assert_eq!(p, &path);
        assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        assert_eq!(e.to_string(), source.to_string());
    }

    #[test]
    fn a_file_over_the_limit_reports_its_size_and_the_limit() {
        let (_tmp, root) = dir();
        let path = root.join("big.onnx");
        std::fs::write(&path, [0u8; 10]).unwrap();
        let e = read_confined(&root, &path, 4).unwrap_err();
        assert!(
            matches!(&e, ReadError::TooLarge { path: p, size: 10, limit: 4 } if *p == path),
            "{e:?}"
        );
        assert_eq!(e.to_string(), "it is 10 bytes, over the limit of 4");
    }

    #[test]
    fn a_file_outside_the_root_names_both() {
        let (_tmp, root) = dir();
        let inner = root.join("inner");
        std::fs::create_dir(&inner).unwrap();
        let path = root.join("out.policy");
        std::fs::write(&path, "x").unwrap();
        let e = read_confined(&inner, &path, 10).unwrap_err();
        assert!(
            matches!(&e, ReadError::Outside { real, root: r } if *real == path && *r == inner),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            format!(
                "it resolves to `{}`, outside `{}`",
                path.display(),
                inner.display()
            )
        );
    }

    #[test]
    fn a_directory_is_not_a_regular_file() {
        let (_tmp, root) = dir();
        let sub = root.join("sub.onnx");
        std::fs::create_dir(&sub).unwrap();
        let e = read_confined(&root, &sub, 10).unwrap_err();
        assert!(
            matches!(&e, ReadError::NotRegular { path } if *path == sub),
            "{e:?}"
        );
        assert_eq!(e.to_string(), "it is not a regular file");
    }

    #[test]
    fn an_unreadable_model_keeps_the_read_error_as_its_source() {
        let (_tmp, root) = dir();
        std::fs::create_dir(root.join("sub.onnx")).unwrap();
        let e = FsModels::new(&root).read_model("sub.onnx").unwrap_err();
        let LoadError::ModelUnreadable { path, source } = &e else {
            panic!("{e:?}");
        };
        assert_eq!(*path, root.join("sub.onnx"));
        assert!(matches!(source, ReadError::NotRegular { .. }), "{source:?}");
        assert_eq!(
            e.to_string(),
            format!("{}: it is not a regular file", path.display())
        );
        let missing = FsModels::new(&root).read_model("nope.onnx").unwrap_err();
        assert!(matches!(missing, LoadError::NoModel(_)), "{missing:?}");
    }
}
