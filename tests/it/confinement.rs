//! Model and policy files are read only from inside their directories, only as regular files
//! and only up to a size: a binding or a symlink cannot make the engine read (or print) anything
//! else, and a FIFO or device cannot stall a build.

use policy_engine::compile;
use policy_engine::model::ModelStore;
use policy_engine::source::SourceMap;
use std::path::Path;

fn binding(file: &str) -> String {
    format!(
        "policy p {{\n  context {{ x: float }}\n  model m {{\n    file \"{file}\"\n    per request\n    inputs [x]\n    output probabilities[1]\n  }}\n  score = m\n  select gate\n}}\n"
    )
}

/// The messages of building one policy that binds `file` against the models in `dir`.
fn build_messages(dir: &Path, file: &str) -> Vec<String> {
    let mut sources = SourceMap::new();
    sources.add("p.policy", binding(file));
    let build = compile::build(sources, &ModelStore::new(dir));
    assert!(build.graph.is_none(), "{file} must not load");
    build
        .diagnostics
        .iter()
        .map(|d| d.message.clone())
        .collect()
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(status.success());
}

#[test]
fn a_model_binding_cannot_reach_outside_the_models_directory_or_a_special_file() {
    let tmp = tempfile::tempdir().unwrap();
    let models = tmp.path().join("models");
    std::fs::create_dir(&models).unwrap();
    let real = super::root().join("models/paywall_trial.onnx");
    let outside = tmp.path().join("outside.onnx");
    std::fs::copy(&real, &outside).unwrap();
    std::os::unix::fs::symlink(&outside, models.join("link.onnx")).unwrap();
    mkfifo(&models.join("fifo.onnx"));
    // A symlink inside the directory to a file inside it is fine (a ConfigMap's `..data`).
    std::fs::copy(&real, models.join("inside.onnx")).unwrap();
    std::os::unix::fs::symlink(models.join("inside.onnx"), models.join("alias.onnx")).unwrap();

    let cases = [
        ("../outside.onnx", "outside"),
        (outside.to_str().unwrap(), "outside"),
        ("link.onnx", "outside"),
        ("fifo.onnx", "not a regular file"),
        ("/dev/zero", "outside"),
    ];
    for (file, why) in cases {
        let messages = build_messages(&models, file);
        assert!(
            messages.iter().any(|m| m.contains(why)),
            "`{file}`: expected a diagnostic saying `{why}`, got {messages:?}"
        );
    }
    for file in ["inside.onnx", "alias.onnx"] {
        let messages = build_messages(&models, file);
        assert!(
            messages.iter().all(|m| !m.contains("outside")),
            "`{file}` is inside: {messages:?}"
        );
    }
}

#[test]
fn a_symlink_in_the_policies_directory_to_a_secret_never_shows_its_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let policies = tmp.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    let secret = tmp.path().join("secret.txt");
    std::fs::write(&secret, "policy leaked { TOP-SECRET-TOKEN }\n").unwrap();
    std::os::unix::fs::symlink(&secret, policies.join("evil.policy")).unwrap();
    mkfifo(&policies.join("pipe.policy"));
    std::fs::write(policies.join("ok.policy"), binding("nope.onnx")).unwrap();

    let sources = compile::load_sources(std::slice::from_ref(&policies)).unwrap();
    let build = compile::build(sources, &ModelStore::new(tmp.path()));
    let rendered =
        policy_engine::diagnostics::render_human(&build.diagnostics, &build.sources, false);
    assert!(!rendered.contains("TOP-SECRET"), "{rendered}");
    assert!(
        rendered.contains("evil.policy"),
        "the refused file is named: {rendered}"
    );
    assert!(rendered.contains("outside"), "{rendered}");
    assert!(
        rendered.contains("not a regular file"),
        "the FIFO is refused: {rendered}"
    );
}
