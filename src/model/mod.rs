//! ONNX models through tract: loading, the model contract, and batched inference.

pub mod ops;

pub mod contract;

use crate::loader::{FsModels, ModelFile, ModelSource};
pub use contract::{ModelCatalog, ModelInfo, OutputInfo};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;

type Plan = Arc<TypedRunnableModel>;

/// A model ready to serve.
pub struct LoadedModel {
    pub info: ModelInfo,
    pub path: PathBuf,
    /// blake3 of the file, part of a policy's revision.
    pub digest: String,
    plan: Plan,
    /// A file that is one `TreeEnsembleClassifier` fed by the input (XGBoost, sklearn exports):
    /// its probabilities are computed without tract's plan, which costs more than the trees at
    /// batch 1. Same operator, same results; everything else runs through the plan.
    direct: Option<(Arc<ops::Classifier>, usize)>,
    width: usize,
    /// ONNX operators of the file (`domain:op_type`), for `policy model inspect`.
    pub operators: Vec<String>,
    /// Every `metadata_props` entry.
    pub metadata: std::collections::BTreeMap<String, String>,
    /// Number of trees in tree-ensemble operators (0 for other models).
    pub trees: usize,
}

impl std::fmt::Debug for LoadedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedModel")
            .field("path", &self.path)
            .field("info", &self.info)
            .finish()
    }
}

/// The ONNX loader, with this project's operator implementations registered.
pub fn loader() -> tract_onnx::Onnx {
    ops::onnx_loader()
}

impl LoadedModel {
    pub fn load(path: &Path) -> Result<LoadedModel, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::from_bytes(path, &bytes)
    }

    /// Loads a model from a file's bytes; `path` names it.
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<LoadedModel, String> {
        let digest = blake3::hash(bytes).to_hex().to_string();
        let onnx = loader();
        let proto = onnx
            .proto_model_for_read(&mut &bytes[..])
            .map_err(|e| format!("not a valid ONNX file: {e}"))?;
        let model = onnx
            .model_for_proto_model(&proto)
            .map_err(|e| format!("cannot load: {}", root_cause(&e)))?;
        let feature_names = proto
            .metadata_props
            .iter()
            .find(|p| p.key == "feature_names")
            .map(|p| {
                p.value
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
            });
        let input_outlets = model.input_outlets().map_err(|e| e.to_string())?.to_vec();
        if input_outlets.len() != 1 {
            return Err(format!(
                "the model has {} inputs; policies feed models with exactly one input of shape [batch, features]",
                input_outlets.len()
            ));
        }
        let input_name = model.node(input_outlets[0].node).name.clone();
        let in_fact = model.input_fact(0).map_err(|e| e.to_string())?;
        let width = in_fact
            .shape
            .dims()
            .last()
            .and_then(|w| w.concretize())
            .and_then(|w| w.to_i64().ok())
            .map(|w| w as usize);
        let Some(width) = width else {
            return Err("the model's input has no fixed feature width".into());
        };
        let batch = model.symbols.sym("batch");
        let model = model
            .with_input_fact(0, f32::fact([batch.to_dim(), width.to_dim()]).into())
            .map_err(|e| format!("input must be float32 [batch, {width}]: {}", root_cause(&e)))?;
        let typed = model
            .into_optimized()
            .map_err(|e| format!("cannot prepare the model: {}", root_cause(&e)))?;
        let mut outputs = Vec::new();
        for (i, o) in typed
            .output_outlets()
            .map_err(|e| e.to_string())?
            .iter()
            .enumerate()
        {
            let name = typed
                .outlet_label(*o)
                .map(str::to_string)
                .unwrap_or_else(|| typed.node(o.node).name.clone());
            let fact = typed.output_fact(i).map_err(|e| e.to_string())?;
            let columns = match fact.shape.rank() {
                1 => Some(1),
                _ => fact
                    .shape
                    .iter()
                    .last()
                    .and_then(|d| d.to_i64().ok())
                    .map(|c| c as usize),
            };
            outputs.push(OutputInfo { name, columns });
        }
        let graph = proto.graph.as_ref();
        let mut operators: Vec<String> = graph
            .map(|g| {
                g.node
                    .iter()
                    .map(|n| {
                        if n.domain.is_empty() {
                            n.op_type.clone()
                        } else {
                            format!("{}:{}", n.domain, n.op_type)
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        operators.sort();
        operators.dedup();
        let trees = graph
            .map(|g| {
                g.node
                    .iter()
                    .filter(|n| n.op_type.starts_with("TreeEnsemble"))
                    .map(|n| {
                        let ids = n
                            .attribute
                            .iter()
                            .find(|a| a.name == "nodes_treeids")
                            .map(|a| a.ints.clone())
                            .unwrap_or_default();
                        ids.iter().collect::<std::collections::BTreeSet<_>>().len()
                    })
                    .sum()
            })
            .unwrap_or(0);
        let metadata = proto
            .metadata_props
            .iter()
            .map(|p| (p.key.clone(), p.value.clone()))
            .collect();
        let direct = direct_classifier(&typed);
        let plan = typed
            .into_runnable()
            .map_err(|e| format!("cannot prepare the model: {}", root_cause(&e)))?;
        Ok(LoadedModel {
            info: ModelInfo {
                input_name,
                input_width: Some(width),
                outputs,
                feature_names,
            },
            path: path.to_path_buf(),
            digest,
            plan,
            direct,
            width,
            operators,
            metadata,
            trees,
        })
    }

    /// Whether `run_column` on the probabilities bypasses tract's plan (see `direct`).
    pub fn serves_directly(&self) -> bool {
        self.direct.is_some()
    }

    pub fn width(&self) -> usize {
        self.width
    }

    /// Runs `rows` (row-major, `n × width`) and returns every output, row-major, as f64 with
    /// its column count and whether it was an integer tensor (labels).
    pub fn run(&self, rows: Vec<f32>, n: usize) -> Result<Vec<RunOutput>, String> {
        let input = Tensor::from_shape(&[n, self.width], &rows).map_err(|e| e.to_string())?;
        let out = self
            .plan
            .run(tvec!(input.into()))
            .map_err(|e| format!("inference failed: {}", root_cause(&e)))?;
        out.iter()
            .map(|t| {
                let columns = if t.rank() >= 2 {
                    t.shape()[t.rank() - 1]
                } else {
                    1
                };
                let integer = t.datum_type().is_integer();
                let t = t.cast_to::<f64>().map_err(|e| e.to_string())?;
                let data = t
                    .try_as_plain_ram()
                    .and_then(|v| v.as_slice::<f64>().map(<[f64]>::to_vec))
                    .map_err(|e| e.to_string())?;
                Ok(RunOutput {
                    data,
                    columns,
                    integer,
                })
            })
            .collect()
    }

    /// Runs a batch and returns one column of one output, one value per row.
    pub fn run_column(
        &self,
        rows: Vec<f32>,
        n: usize,
        output: usize,
        column: usize,
    ) -> Result<Vec<f64>, String> {
        if let Some((classifier, probs)) = &self.direct
            && *probs == output
        {
            let classes = classifier.n_classes();
            let z = classifier
                .probabilities(&rows, n, self.width)
                .map_err(|e| format!("inference failed: {}", root_cause(&e)))?;
            return Ok((0..n)
                .map(|r| z.get(r * classes + column).copied().unwrap_or(f32::NAN) as f64)
                .collect());
        }
        let input = Tensor::from_shape(&[n, self.width], &rows).map_err(|e| e.to_string())?;
        let out = self
            .plan
            .run(tvec!(input.into()))
            .map_err(|e| format!("inference failed: {}", root_cause(&e)))?;
        let t = out.get(output).ok_or("missing output")?;
        let cols = if t.rank() >= 2 {
            t.shape()[t.rank() - 1]
        } else {
            1
        };
        let t = t.cast_to::<f32>().map_err(|e| e.to_string())?;
        let view = t.try_as_plain_ram().map_err(|e| e.to_string())?;
        let data = view.as_slice::<f32>().map_err(|e| e.to_string())?;
        Ok((0..n)
            .map(|r| data.get(r * cols + column).copied().unwrap_or(f32::NAN) as f64)
            .collect())
    }

    pub fn output_index(&self, name: &str) -> Option<usize> {
        self.info.outputs.iter().position(|o| o.name == name)
    }
}

/// The classifier and its probabilities output index, when the optimized model is exactly
/// input → `TreeEnsembleClassifier` → (label, probabilities).
fn direct_classifier(typed: &TypedModel) -> Option<(Arc<ops::Classifier>, usize)> {
    let outputs = typed.output_outlets().ok()?;
    let node = typed.node(outputs.first()?.node);
    let op = node.op_as::<ops::TreeEnsembleClassifierOp>()?;
    let fed_by_input = node.inputs.len() == 1
        && typed
            .input_outlets()
            .ok()?
            .first()
            .is_some_and(|i| *i == node.inputs[0]);
    let same_node = outputs.iter().all(|o| o.node == node.id);
    let probs = outputs.iter().position(|o| o.slot == 1)?;
    (fed_by_input && same_node && typed.nodes().len() == 2).then(|| (op.0.clone(), probs))
}

fn root_cause(e: &anyhow::Error) -> String {
    e.chain()
        .last()
        .map(|c| c.to_string())
        .unwrap_or_else(|| e.to_string())
}

/// One output of a model run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutput {
    /// Row-major values.
    pub data: Vec<f64>,
    pub columns: usize,
    /// An integer tensor, such as a classifier's `label`.
    pub integer: bool,
}

/// Loads each model file once per build and answers `check`'s questions from the loaded model.
/// Bytes come from a [`ModelSource`] (a directory, or memory).
pub struct ModelStore {
    source: Arc<dyn ModelSource>,
    cache: Mutex<HashMap<String, Result<Arc<LoadedModel>, String>>>,
    /// Models of an earlier build, reused when their file's bytes are unchanged.
    previous: HashMap<String, Arc<LoadedModel>>,
}

impl ModelStore {
    /// A store over the model files of one directory.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self::reusing(Arc::new(FsModels::new(dir)), HashMap::new())
    }

    /// A store over any source of model bytes.
    pub fn from_source(source: Arc<dyn ModelSource>) -> Self {
        Self::reusing(source, HashMap::new())
    }

    /// A store that reuses `previous` models (by file name) whose file still has the same
    /// content digest, so a reload that changes only policies does not parse its models again.
    pub fn reusing(
        source: Arc<dyn ModelSource>,
        previous: HashMap<String, Arc<LoadedModel>>,
    ) -> Self {
        ModelStore {
            source,
            cache: Mutex::new(HashMap::new()),
            previous,
        }
    }

    /// Every model this store loaded, by file name: the `previous` of the next build.
    pub fn loaded(&self) -> HashMap<String, Arc<LoadedModel>> {
        let cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache
            .iter()
            .filter_map(|(k, r)| Some((k.clone(), r.as_ref().ok()?.clone())))
            .collect()
    }

    pub fn get(&self, file: &str) -> Result<Arc<LoadedModel>, String> {
        let mut cache = self
            .cache
            .lock()
            .map_err(|_| "model cache poisoned".to_string())?;
        if let Some(r) = cache.get(file) {
            return r.clone();
        }
        let r = match self.source.read_model(file) {
            Err(e) => Err(e.to_string()),
            Ok(ModelFile { path, bytes }) => match self.previous.get(file) {
                Some(m) if m.path == path && m.digest == blake3::hash(&bytes).to_hex().as_str() => {
                    Ok(m.clone())
                }
                _ => LoadedModel::from_bytes(&path, &bytes).map(Arc::new),
            },
        };
        cache.insert(file.to_string(), r.clone());
        r
    }
}

impl ModelCatalog for ModelStore {
    fn info(&self, file: &str) -> Result<Arc<ModelInfo>, String> {
        self.get(file).map(|m| Arc::new(m.info.clone()))
    }
}
