//! The invariants of ARCHITECTURE.md that are rules about which code may do what, checked on the
//! source: each test names the invariant it guards. (The others are enforced by the build, such
//! as the library compiling without the `server` feature, or by behaviour tests named there.)

use std::path::{Path, PathBuf};

/// Every `.rs` file under `src/`, as (path relative to the root, text without its `mod tests`
/// and without comment lines).
fn sources() -> Vec<(String, String)> {
    fn visit(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("src/") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                visit(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let root = super::root();
    let mut paths = Vec::new();
    visit(&root.join("src"), &mut paths);
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("utf-8");
            let code = text
                .split("\nmod tests {")
                .next()
                .unwrap_or_default()
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            let rel = p.strip_prefix(root).expect("under root");
            (rel.display().to_string(), code)
        })
        .collect()
}

/// The files (outside tests) that contain any of `needles`.
fn files_with(needles: &[&str], skip: impl Fn(&str) -> bool) -> Vec<String> {
    sources()
        .into_iter()
        .filter(|(path, code)| !skip(path) && needles.iter().any(|n| code.contains(n)))
        .map(|(path, _)| path)
        .collect()
}

fn leaf(path: &str) -> bool {
    path.starts_with("src/cli/") || path.starts_with("src/server/") || path == "src/main.rs"
}

/// "Time is an input": nothing outside `src/cli/` and `src/server/` reads the wall clock, and
/// only `eval` reads the monotonic clock (to time inference for telemetry).
#[test]
fn only_the_cli_and_the_server_read_the_clock() {
    let wall = files_with(
        &[
            "Timestamp::now(",
            "SystemTime::now(",
            "Zoned::now(",
            "Utc::now(",
        ],
        leaf,
    );
    assert_eq!(wall, Vec::<String>::new(), "these read the wall clock");
    let mono = files_with(&["Instant::now("], |p| {
        leaf(p) || p.starts_with("src/eval/")
    });
    assert_eq!(mono, Vec::<String>::new(), "these read the monotonic clock");
}

/// "The engine reads no directory itself" and "A build reads only its own files": outside the
/// leaves, only the loaders touch the file system (`loader`, and `LoadedModel::load`, which
/// reads one model file named by the caller).
#[test]
fn only_the_loaders_touch_the_file_system() {
    let fs = files_with(&["std::fs", "File::open", "read_dir("], |p| {
        leaf(p) || p == "src/loader.rs" || p == "src/model/mod.rs"
    });
    assert_eq!(fs, Vec::<String>::new(), "these use the file system");
}

/// "`check` never runs inference": `check` knows models only through `model::contract`, and
/// the contract imports nothing from the runtime or from `check`.
#[test]
fn check_knows_models_only_by_their_contract() {
    let runtime = [
        "tract_onnx",
        "tract_hir",
        "tract_core",
        "LoadedModel",
        "ModelStore",
    ];
    let check = files_with(&runtime, |p| !p.starts_with("src/check/"));
    assert_eq!(check, Vec::<String>::new(), "check uses the model runtime");
    let contract = files_with(&[&runtime[..], &["crate::check"]].concat(), |p| {
        p != "src/model/contract.rs" && p != "src/model/error.rs"
    });
    assert_eq!(
        contract,
        Vec::<String>::new(),
        "the contract depends on the runtime"
    );
}

/// "`syntax` knows nothing of models, CEL values or IO".
#[test]
fn syntax_knows_nothing_of_models_values_or_io() {
    let syntax = files_with(
        &[
            "crate::model",
            "crate::types",
            "crate::eval",
            "crate::check",
            "std::fs",
        ],
        |p| !p.starts_with("src/syntax/"),
    );
    assert_eq!(syntax, Vec::<String>::new());
}

/// "`cli/` and `server/` are leaves": the library never imports either.
#[test]
fn the_library_never_imports_the_cli_or_the_server() {
    let up = files_with(&["crate::server", "crate::cli"], leaf);
    assert_eq!(up, Vec::<String>::new());
}
