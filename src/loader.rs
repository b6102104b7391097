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
    #[error("{}: {why}", .path.display())]
    ModelUnreadable { path: PathBuf, why: String },
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
}

impl FsPolicies {
    pub fn new(paths: Vec<PathBuf>) -> Self {
        FsPolicies { paths }
    }
}

impl PolicySource for FsPolicies {
    fn read_policies(&self) -> Result<SourceMap, LoadError> {
        read_policy_files(&self.paths).map_err(|e| LoadError::Policies(e.to_string()))
    }
}

/// The largest policy file read; a larger one is reported at that file, unread.
pub const MAX_POLICY_BYTES: u64 = 4 << 20;
/// The largest model file read; a larger one is reported at its binding, unread.
pub const MAX_MODEL_BYTES: u64 = 512 << 20;

/// Every `.policy` file under the given files and directories, sorted, read into a source map.
/// A path that does not exist is an IO error. A file found under a directory must resolve (after
/// symlinks) inside that directory, be a regular file and hold at most [`MAX_POLICY_BYTES`];
/// one that does not, or cannot be read, or is not UTF-8, is added unread and reported by
/// `compile::build` as `P0003`, so its bytes never reach a diagnostic.
pub fn read_policy_files(paths: &[PathBuf]) -> std::io::Result<SourceMap> {
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
        match read_confined(&root, &f, MAX_POLICY_BYTES).map(String::from_utf8) {
            Ok(Ok(text)) => map.add(f, text),
            Ok(Err(_)) => map.add_unreadable(f, "the file is not UTF-8"),
            Err(why) => map.add_unreadable(f, &why),
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
pub fn read_confined(root: &Path, path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let real = std::fs::canonicalize(path).map_err(|e| e.to_string())?;
    if !real.starts_with(root) {
        return Err(format!(
            "it resolves to `{}`, outside `{}`",
            real.display(),
            root.display()
        ));
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(&real).map_err(|e| e.to_string())?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("it is not a regular file".into());
    }
    if meta.len() > limit {
        return Err(format!(
            "it is {} bytes, over the limit of {limit}",
            meta.len()
        ));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > limit {
        return Err(format!(
            "it grew over the limit of {limit} bytes while read"
        ));
    }
    Ok(bytes)
}

/// Model files under one directory.
#[derive(Debug, Clone)]
pub struct FsModels {
    dir: PathBuf,
}

impl FsModels {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FsModels { dir: dir.into() }
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl ModelSource for FsModels {
    /// A model resolves inside the models directory (after symlinks), is a regular file and
    /// holds at most [`MAX_MODEL_BYTES`]; an absolute path, `..` or a symlink out of the
    /// directory is refused at its binding.
    fn read_model(&self, file: &str) -> Result<ModelFile, LoadError> {
        let path = self.dir.join(file);
        if !path.exists() {
            return Err(LoadError::NoModel(path));
        }
        let unreadable = |why: String| LoadError::ModelUnreadable {
            path: path.clone(),
            why,
        };
        let root = std::fs::canonicalize(&self.dir).map_err(|e| unreadable(e.to_string()))?;
        let bytes = read_confined(&root, &path, MAX_MODEL_BYTES).map_err(unreadable)?;
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
