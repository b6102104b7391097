//! `policy model inspect|predict`: look inside a model, or run it on rows, for debugging.

use super::eval::read_json;
use super::{FAILED, OK, usage_error};
use policy_engine::model::LoadedModel;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand)]
enum Cmd {
    /// Inputs, outputs, operators, metadata and tree count of an ONNX model
    Inspect { file: PathBuf },
    /// Run a model on rows and print every output by name, as JSON
    Predict {
        file: PathBuf,
        /// A JSON array of rows of numbers; `null` is a missing value
        #[arg(long)]
        rows: PathBuf,
    },
}

pub fn run(a: Args) -> u8 {
    match a.cmd {
        Cmd::Inspect { file } => inspect(&file),
        Cmd::Predict { file, rows } => predict(&file, &rows),
    }
}

fn load(file: &std::path::Path) -> Result<LoadedModel, u8> {
    if !file.exists() {
        return Err(usage_error(format!("no file `{}`", file.display())));
    }
    LoadedModel::load(file).map_err(|e| {
        eprintln!("error: cannot load `{}`: {e}", file.display());
        FAILED
    })
}

fn inspect(file: &std::path::Path) -> u8 {
    let m = match load(file) {
        Ok(m) => m,
        Err(c) => return c,
    };
    let outputs: Vec<_> = m
        .info
        .outputs
        .iter()
        .map(|o| serde_json::json!({"name": o.name, "columns": o.columns}))
        .collect();
    let out = serde_json::json!({
        "file": file.display().to_string(),
        "input": {"name": m.info.input_name, "dtype": "float32", "shape": ["batch", m.width()]},
        "outputs": outputs,
        "feature_names": m.info.feature_names,
        "operators": m.operators,
        "trees": m.trees,
        "metadata": m.metadata,
        "blake3": m.digest,
    });
    outln!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    OK
}

fn predict(file: &std::path::Path, rows: &PathBuf) -> u8 {
    let m = match load(file) {
        Ok(m) => m,
        Err(c) => return c,
    };
    let json = match read_json(rows) {
        Ok(j) => j,
        Err(e) => return usage_error(e),
    };
    let Some(rows) = json.as_array() else {
        return usage_error(format!("{}: expected an array of rows", rows.display()));
    };
    let mut flat = Vec::with_capacity(rows.len() * m.width());
    for (i, row) in rows.iter().enumerate() {
        let Some(cells) = row.as_array() else {
            return usage_error(format!("$[{i}]: expected an array of numbers"));
        };
        if cells.len() != m.width() {
            return usage_error(format!(
                "$[{i}]: the model takes {} features, the row has {}",
                m.width(),
                cells.len()
            ));
        }
        for (j, c) in cells.iter().enumerate() {
            match c {
                serde_json::Value::Null => flat.push(f32::NAN),
                v => match v.as_f64() {
                    Some(f) => flat.push(f as f32),
                    None => return usage_error(format!("$[{i}][{j}]: expected a number or null")),
                },
            }
        }
    }
    match m.run(flat, rows.len()) {
        Ok(outputs) => {
            let mut out = serde_json::Map::new();
            for (info, o) in m.info.outputs.iter().zip(outputs) {
                let num = |v: f64| {
                    if o.integer {
                        serde_json::Value::from(v as i64)
                    } else {
                        json_num(v)
                    }
                };
                let rows: Vec<serde_json::Value> = o
                    .data
                    .chunks(o.columns.max(1))
                    .map(|r| {
                        if o.columns == 1 {
                            num(r[0])
                        } else {
                            serde_json::Value::Array(r.iter().map(|v| num(*v)).collect())
                        }
                    })
                    .collect();
                out.insert(info.name.clone(), serde_json::Value::Array(rows));
            }
            outln!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
            OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            FAILED
        }
    }
}

fn json_num(v: f64) -> serde_json::Value {
    serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, serde_json::Value::Number)
}
