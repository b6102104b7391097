//! Where a policy set comes from, as zen-engine's loaders: the engine and the model store read
//! policies and model bytes through these traits, never through `std::fs` directly, so tests and
//! embedders can serve a set held in memory ([`MemoryLoader`]) and the CLI and server read
//! directories ([`FsPolicies`], [`FsModels`]).

use crate::compile;
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
        compile::load_sources(&self.paths).map_err(|e| LoadError::Policies(e.to_string()))
    }
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
    fn read_model(&self, file: &str) -> Result<ModelFile, LoadError> {
        let path = self.dir.join(file);
        if !path.exists() {
            return Err(LoadError::NoModel(path));
        }
        match std::fs::read(&path) {
            Ok(bytes) => Ok(ModelFile { path, bytes }),
            Err(e) => Err(LoadError::ModelUnreadable {
                path,
                why: e.to_string(),
            }),
        }
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
