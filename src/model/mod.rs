//! ONNX models through tract: loading, the model contract, and batched inference.

pub mod ops;

pub mod contract;

pub mod error;

use crate::loader::{FsModels, ModelFile, ModelSource};
pub use contract::{ModelCatalog, ModelInfo, OutputInfo};
pub use error::{ModelError, TractError};
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
    /// An output that is a `TreeEnsembleClassifier`'s probabilities fed by the input alone
    /// (XGBoost, LightGBM and sklearn exports): computed without tract's plan, which costs more
    /// than the trees at batch 1 (and is built at opt-level 0 in the `release` profile). Same
    /// operator, same results; every other output runs through the plan.
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
    pub fn load(path: &Path) -> Result<LoadedModel, ModelError> {
        let bytes = std::fs::read(path).map_err(|e| ModelError::Read {
            path: path.to_path_buf(),
            source: Arc::new(e),
        })?;
        Self::from_bytes(path, &bytes)
    }

    /// Loads a model from a file's bytes; `path` names it.
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<LoadedModel, ModelError> {
        let digest = blake3::hash(bytes).to_hex().to_string();
        let onnx = loader();
        let proto = onnx
            .proto_model_for_read(&mut &bytes[..])
            .map_err(|e| ModelError::NotOnnx { source: e.into() })?;
        let model = onnx
            .model_for_proto_model(&proto)
            .map_err(|e| ModelError::Unloadable { source: e.into() })?;
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
        let input_outlets = model.input_outlets().map_err(ModelError::tract)?.to_vec();
        if input_outlets.len() != 1 {
            return Err(ModelError::InputCount {
                found: input_outlets.len(),
            });
        }
        let input_name = model.node(input_outlets[0].node).name.clone();
        let in_fact = model.input_fact(0).map_err(ModelError::tract)?;
        let width = in_fact
            .shape
            .dims()
            .last()
            .and_then(|w| w.concretize())
            .and_then(|w| w.to_i64().ok())
            .map(|w| w as usize);
        let Some(width) = width else {
            return Err(ModelError::NoFixedWidth);
        };
        let batch = model.symbols.sym("batch");
        let model = model
            .with_input_fact(0, f32::fact([batch.to_dim(), width.to_dim()]).into())
            .map_err(|e| ModelError::InputType {
                width,
                source: e.into(),
            })?;
        let typed = model
            .into_optimized()
            .map_err(|e| ModelError::Prepare { source: e.into() })?;
        let mut outputs = Vec::new();
        for (i, o) in typed
            .output_outlets()
            .map_err(ModelError::tract)?
            .iter()
            .enumerate()
        {
            let name = typed
                .outlet_label(*o)
                .map(str::to_string)
                .unwrap_or_else(|| typed.node(o.node).name.clone());
            let fact = typed.output_fact(i).map_err(ModelError::tract)?;
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
            .map_err(|e| ModelError::Prepare { source: e.into() })?;
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
    pub fn run(&self, rows: Vec<f32>, n: usize) -> Result<Vec<RunOutput>, ModelError> {
        let input = Tensor::from_shape(&[n, self.width], &rows).map_err(ModelError::tract)?;
        let out = self
            .plan
            .run(tvec!(input.into()))
            .map_err(|e| ModelError::Inference { source: e.into() })?;
        out.iter()
            .map(|t| {
                let columns = if t.rank() >= 2 {
                    t.shape()[t.rank() - 1]
                } else {
                    1
                };
                let integer = t.datum_type().is_integer();
                let t = t.cast_to::<f64>().map_err(ModelError::tract)?;
                let data = t
                    .try_as_plain_ram()
                    .and_then(|v| v.as_slice::<f64>().map(<[f64]>::to_vec))
                    .map_err(ModelError::tract)?;
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
    ) -> Result<Vec<f64>, ModelError> {
        if let Some((classifier, probs)) = &self.direct
            && *probs == output
        {
            let classes = classifier.n_classes();
            let z = classifier
                .probabilities(&rows, n, self.width)
                .map_err(|e| ModelError::Inference { source: e.into() })?;
            return Ok((0..n)
                .map(|r| z.get(r * classes + column).copied().unwrap_or(f32::NAN) as f64)
                .collect());
        }
        let input = Tensor::from_shape(&[n, self.width], &rows).map_err(ModelError::tract)?;
        let out = self
            .plan
            .run(tvec!(input.into()))
            .map_err(|e| ModelError::Inference { source: e.into() })?;
        let t = out.get(output).ok_or(ModelError::MissingOutput {
            index: output,
            outputs: out.len(),
        })?;
        let cols = if t.rank() >= 2 {
            t.shape()[t.rank() - 1]
        } else {
            1
        };
        let t = t.cast_to::<f32>().map_err(ModelError::tract)?;
        let view = t.try_as_plain_ram().map_err(ModelError::tract)?;
        let data = view.as_slice::<f32>().map_err(ModelError::tract)?;
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
    // An output that is exactly a classifier's probabilities (its slot 1), computed from the
    // model's input alone, is served without the plan whatever else the graph computes: the
    // LightGBM exports of onnxmltools add `Identity`, a `Mul` by one and a `Cast` of the labels,
    // which tract's optimiser folds or leaves on the other output.
    let input = *typed.input_outlets().ok()?.first()?;
    typed
        .output_outlets()
        .ok()?
        .iter()
        .enumerate()
        .find_map(|(index, outlet)| {
            let node = typed.node(outlet.node);
            let op = node.op_as::<ops::TreeEnsembleClassifierOp>()?;
            let fed_by_input = node.inputs.len() == 1 && node.inputs[0] == input;
            (outlet.slot == 1 && fed_by_input).then(|| (op.0.clone(), index))
        })
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
    cache: Mutex<HashMap<String, Result<Arc<LoadedModel>, ModelError>>>,
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

    /// The model of `file`, loaded once: later calls return the same model, or the same error.
    pub fn get(&self, file: &str) -> Result<Arc<LoadedModel>, ModelError> {
        let mut cache = self.cache.lock().map_err(|_| ModelError::CachePoisoned)?;
        if let Some(r) = cache.get(file) {
            return r.clone();
        }
        let r = match self.source.read_model(file) {
            Err(e) => Err(ModelError::Source(e)),
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
    fn info(&self, file: &str) -> Result<Arc<ModelInfo>, ModelError> {
        self.get(file).map(|m| Arc::new(m.info.clone()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    //! What each failure is, as a variant, and that its text is what diagnostics show. The
    //! models are built here as ONNX protobuf bytes, a few fields each.
    use super::*;
    use crate::loader::{LoadError, MemoryLoader};

    /// The protobuf wire format, as much of it as a small ONNX graph needs.
    fn varint(out: &mut Vec<u8>, mut v: u64) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }
    fn int(field: u64, v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        varint(&mut out, field << 3);
        varint(&mut out, v);
        out
    }
    fn bytes(field: u64, v: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        varint(&mut out, (field << 3) | 2);
        varint(&mut out, v.len() as u64);
        out.extend_from_slice(v);
        out
    }

    #[derive(Clone, Copy)]
    enum Dim {
        Fixed(u64),
        Named(&'static str),
    }

    /// `ValueInfoProto`: a float tensor named `name` of shape `dims`.
    fn value(name: &str, dims: &[Dim]) -> Vec<u8> {
        let shape: Vec<u8> = dims
            .iter()
            .flat_map(|d| {
                let dim = match d {
                    Dim::Fixed(v) => int(1, *v),
                    Dim::Named(s) => bytes(2, s.as_bytes()),
                };
                bytes(1, &dim)
            })
            .collect();
        let tensor = [int(1, 1), bytes(2, &shape)].concat();
        [bytes(1, name.as_bytes()), bytes(2, &bytes(1, &tensor))].concat()
    }

    /// `ModelProto`: one `op` node from `inputs` to `z`.
    fn model(op: &str, inputs: &[Vec<u8>], names: &[&str], output: Vec<u8>) -> Vec<u8> {
        let mut node: Vec<u8> = names.iter().flat_map(|n| bytes(1, n.as_bytes())).collect();
        node.extend(bytes(2, b"z"));
        node.extend(bytes(4, op.as_bytes()));
        let mut graph = bytes(1, &node);
        graph.extend(bytes(2, b"g"));
        for i in inputs {
            graph.extend(bytes(11, i));
        }
        graph.extend(bytes(12, &output));
        let opset = [bytes(1, b""), int(2, 13)].concat();
        [int(1, 7), bytes(8, &opset), bytes(7, &graph)].concat()
    }

    /// `x: float[N, width]` → `Relu` → `z`.
    fn relu(width: Dim) -> Vec<u8> {
        let shape = [Dim::Named("N"), width];
        model("Relu", &[value("x", &shape)], &["x"], value("z", &shape))
    }

    fn load(bytes: &[u8]) -> Result<LoadedModel, ModelError> {
        LoadedModel::from_bytes(Path::new("m.onnx"), bytes)
    }

    #[test]
    fn the_test_model_loads_and_runs() {
        let m = load(&relu(Dim::Fixed(3))).unwrap();
        assert_eq!(m.width(), 3);
        let out = m.run_column(vec![-1.0, 2.0, 3.0], 1, 0, 1).unwrap();
        assert_eq!(out, vec![2.0]);
    }

    #[test]
    fn bytes_that_are_not_onnx_are_not_onnx() {
        let e = load(b"\xff\xff\xff\xff not a protobuf").unwrap_err();
        assert!(matches!(e, ModelError::NotOnnx { .. }), "{e:?}");
        assert!(e.to_string().starts_with("not a valid ONNX file: "), "{e}");
        assert!(std::error::Error::source(&e).is_some());
    }

    #[test]
    fn a_model_with_two_inputs_reports_how_many() {
        let shape = [Dim::Named("N"), Dim::Fixed(3)];
        let bytes = model(
            "Add",
            &[value("x", &shape), value("y", &shape)],
            &["x", "y"],
            value("z", &shape),
        );
        let e = load(&bytes).unwrap_err();
        assert!(matches!(e, ModelError::InputCount { found: 2 }), "{e:?}");
        assert_eq!(
            e.to_string(),
            "the model has 2 inputs; policies feed models with exactly one input of shape [batch, features]"
        );
    }

    #[test]
    fn a_symbolic_feature_width_is_no_fixed_width() {
        let e = load(&relu(Dim::Named("features"))).unwrap_err();
        assert!(matches!(e, ModelError::NoFixedWidth), "{e:?}");
        assert_eq!(
            e.to_string(),
            "the model's input has no fixed feature width"
        );
    }

    #[test]
    fn an_output_past_the_last_is_missing_with_the_counts() {
        let m = load(&relu(Dim::Fixed(3))).unwrap();
        let e = m.run_column(vec![0.0; 3], 1, 4, 0).unwrap_err();
        assert!(
            matches!(
                e,
                ModelError::MissingOutput {
                    index: 4,
                    outputs: 1
                }
            ),
            "{e:?}"
        );
        assert_eq!(e.to_string(), "missing output");
    }

    #[test]
    fn rows_of_the_wrong_length_are_tracts_own_words() {
        let m = load(&relu(Dim::Fixed(3))).unwrap();
        let e = m.run(vec![0.0; 4], 1).unwrap_err();
        let ModelError::Tract { source } = &e else {
            panic!("{e:?}");
        };
        assert_eq!(e.to_string(), source.to_string());
        assert!(!e.to_string().is_empty());
    }

    #[test]
    fn a_missing_file_names_its_path_and_keeps_the_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gone.onnx");
        let e = LoadedModel::load(&path).unwrap_err();
        let ModelError::Read { path: p, source } = &e else {
            panic!("{e:?}");
        };
        assert_eq!(p, &path);
        assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        assert_eq!(e.to_string(), format!("{}: {source}", path.display()));
    }

    #[test]
    fn the_store_keeps_the_sources_error_and_returns_it_again() {
        let store = ModelStore::from_source(Arc::new(
            MemoryLoader::new().model("bad.onnx", b"\xff\xff\xff\xff".to_vec()),
        ));
        let e = store.get("nope.onnx").unwrap_err();
        assert!(
            matches!(&e, ModelError::Source(LoadError::NoModel(p)) if p == Path::new("nope.onnx")),
            "{e:?}"
        );
        assert_eq!(e.to_string(), "no file `nope.onnx`");
        let first = store.get("bad.onnx").unwrap_err();
        let again = store.get("bad.onnx").unwrap_err();
        assert!(matches!(again, ModelError::NotOnnx { .. }), "{again:?}");
        assert_eq!(first.to_string(), again.to_string());
        let info = store.info("bad.onnx").unwrap_err();
        assert_eq!(info.to_string(), first.to_string());
        assert!(store.loaded().is_empty());
    }
}
