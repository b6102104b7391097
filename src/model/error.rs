//! Why a model could not be loaded or run. Plain data with no tract types, so
//! [`ModelCatalog`](super::ModelCatalog) can name it without depending on the runtime; tract's
//! errors ride along as a [`TractError`] source.
//!
//! Each variant's `Display` is the text diagnostics, `policy model` and the server have always
//! shown: it is snapshotted, so change it only with the snapshots.

use crate::loader::LoadError;
use std::path::PathBuf;
use std::sync::Arc;

/// Why a model could not be read, loaded or run.
///
/// `Clone` (sources are shared) because [`ModelStore`](super::ModelStore) caches a failed load
/// and returns it to every binding of the same file.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// The model file could not be read ([`LoadedModel::load`](super::LoadedModel::load)).
    #[error("{}: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: Arc<std::io::Error>,
    },
    /// The model source has no such model, or refused to read it (confinement, size limit).
    #[error(transparent)]
    Source(#[from] LoadError),
    /// The bytes are not an ONNX protobuf.
    #[error("not a valid ONNX file: {source}")]
    NotOnnx { source: TractError },
    /// A valid ONNX file that tract cannot turn into a model (an unsupported operator, say).
    #[error("cannot load: {}", .source.root_cause())]
    Unloadable { source: TractError },
    /// Policies feed a model one input; this model has `found`.
    #[error(
        "the model has {found} inputs; policies feed models with exactly one input of shape [batch, features]"
    )]
    InputCount { found: usize },
    /// The last dimension of the input is not a fixed number of features.
    #[error("the model's input has no fixed feature width")]
    NoFixedWidth,
    /// The input cannot be typed as float32 `[batch, width]`.
    #[error("input must be float32 [batch, {width}]: {}", .source.root_cause())]
    InputType { width: usize, source: TractError },
    /// Optimizing the model or building its plan failed.
    #[error("cannot prepare the model: {}", .source.root_cause())]
    Prepare { source: TractError },
    /// Running the model failed.
    #[error("inference failed: {}", .source.root_cause())]
    Inference { source: TractError },
    /// A run asked for output `index` of a model that produced `outputs`.
    #[error("missing output")]
    MissingOutput { index: usize, outputs: usize },
    /// A thread panicked while loading a model; the cache cannot be trusted.
    #[error("model cache poisoned")]
    CachePoisoned,
    /// Any other tract failure (reading a fact, building or casting a tensor), shown as tract
    /// words it.
    #[error("{source}")]
    Tract { source: TractError },
}

/// An error from tract (an `anyhow::Error`), shared so [`ModelError`] can be `Clone`. `Display`
/// is tract's outermost message; [`std::error::Error::source`] walks its chain.
#[derive(Debug, Clone)]
pub struct TractError(Arc<anyhow::Error>);

impl TractError {
    /// The innermost cause, which is what a person can act on ("unsupported operator …").
    pub fn root_cause(&self) -> &(dyn std::error::Error + 'static) {
        self.0.root_cause()
    }
}

impl From<anyhow::Error> for TractError {
    fn from(e: anyhow::Error) -> Self {
        TractError(Arc::new(e))
    }
}

impl std::fmt::Display for TractError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&*self.0, f)
    }
}

impl std::error::Error for TractError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl ModelError {
    pub(crate) fn tract(e: anyhow::Error) -> Self {
        ModelError::Tract { source: e.into() }
    }
}
