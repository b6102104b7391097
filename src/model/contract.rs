//! The model contract: what `check` needs to know about a model, without running it. Pure data
//! and one trait, with no dependency on the runtime (tract) or on `check`: `check` depends on
//! this module, and the loader in `model` implements [`ModelCatalog`]. Its error,
//! [`ModelError`], holds no tract types either.

use super::error::ModelError;
use std::sync::Arc;

/// The contract of an ONNX model: read from the file when it loads.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    pub input_name: String,
    /// Number of features per row, when the model fixes it.
    pub input_width: Option<usize>,
    pub outputs: Vec<OutputInfo>,
    /// The ordered feature names from `metadata_props` (`feature_names`), when present.
    pub feature_names: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutputInfo {
    pub name: String,
    /// Columns per row (the second dimension), when known.
    pub columns: Option<usize>,
}

/// Where `check` gets model contracts from. `compile` provides one that loads and caches the
/// models it will serve; tests can provide fixed contracts.
pub trait ModelCatalog {
    /// `file` is the path as written in the binding, relative to the models directory.
    /// Why it has no contract (no such file, not a model we can load) is a [`ModelError`].
    fn info(&self, file: &str) -> Result<Arc<ModelInfo>, ModelError>;
}
