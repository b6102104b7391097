//! `policy serve`: the router driven in process (no socket) for every endpoint and every class
//! of bad input, the decision log, schemas, hot reload under load (the test triggers the
//! reloads), the debounce (made-up instants), one reload through `notify`, and the binary's signals.

use crate::root;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use policy_engine::server::{self, AppState, Config, LogTarget};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;

// ---- helper -----------------------------------------------------------------------------------

/// A state over `policies` and `models`, loaded.
fn loaded(config: Config) -> Arc<AppState> {
    let state = AppState::new(config).unwrap();
    assert!(state.reload(), "the set must load");
    state
}

fn repo_config() -> Config {
    Config::new(root().join("policies"), root().join("models"))
}

/// Sends one request through the router; the body is parsed as JSON when it is JSON.
pub(crate) async fn send(app: &Router, method: &str, uri: &str, body: &str) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    let v = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, v)
}

async fn get(app: &Router, uri: &str) -> (StatusCode, Value) {
    send(app, "GET", uri, "").await
}

fn context() -> Value {
    let text =
        std::fs::read_to_string(root().join("examples/contexts/notifications.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Empty `policies/` and a `models/` holding the notification model under `tmp`, and the
/// notification policy's text: the set-up of every test that rewrites a policy.
fn notifications_copy(tmp: &Path) -> (PathBuf, PathBuf, String) {
    let (policies, models) = (tmp.join("policies"), tmp.join("models"));
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::create_dir_all(&models).unwrap();
    std::fs::copy(
        root().join("models/notif_ranker_v1.onnx"),
        models.join("notif_ranker_v1.onnx"),
    )
    .unwrap();
    let base = std::fs::read_to_string(root().join("policies/notifications.policy")).unwrap();
    (policies, models, base)
}

fn with(mut v: Value, key: &str, val: Value) -> Value {
    v[key] = val;
    v
}

/// Asserts the one error shape and returns its body.
fn error_of(status: StatusCode, v: &Value, want_status: StatusCode, code: &str) -> Value {
    assert_eq!(status, want_status, "{v:#}");
    assert_eq!(v["error"]["code"], code, "{v:#}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{v:#}"
    );
    assert!(v["error"]["details"].is_array(), "{v:#}");
    v["error"].clone()
}

// ---- decide ------------------------------------------------------------------------------------

#[tokio::test]
async fn decide_returns_the_same_decision_as_eval() {
    let state = loaded(repo_config());
    let app = server::app(state.clone());
    let body = with(context(), "now", json!("2026-11-23T17:00:00Z"));
    let (status, d) = send(&app, "POST", "/v1/decide/notifications", &body.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{d:#}");

    let graph =
        policy_engine::compile::build_paths(&[root().join("policies")], &root().join("models"))
            .unwrap()
            .graph
            .unwrap();
    let opts = policy_engine::eval::Options::at("2026-11-23T17:00:00Z".parse().unwrap());
    let want = policy_engine::eval::decide(
        &graph,
        "notifications",
        &context(),
        &opts,
        &policy_engine::ledger::MemoryLedger::new(),
    )
    .unwrap();
    let mut want = serde_json::to_value(want).unwrap();
    want["decision_id"] = d["decision_id"].clone();
    assert_eq!(d, want);
    assert_eq!(d["outcome"], "selected");
    assert!(d.get("trace").is_none());
}

#[tokio::test]
async fn decide_reads_the_clock_when_the_body_has_no_now_and_explains_on_request() {
    let app = server::app(loaded(repo_config()));
    let before = jiff::Timestamp::now();
    let body = with(context(), "explain", json!(true));
    let (status, d) = send(&app, "POST", "/v1/decide/notifications", &body.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{d:#}");
    let now: jiff::Timestamp = d["now"].as_str().unwrap().parse().unwrap();
    assert!(now >= before && now <= jiff::Timestamp::now(), "{now}");
    assert!(d["trace"]["candidates"].is_array(), "{d:#}");
}

#[tokio::test]
async fn malformed_json_is_400_with_line_and_column() {
    let app = server::app(loaded(repo_config()));
    let (status, v) = send(
        &app,
        "POST",
        "/v1/decide/notifications",
        "{\n  \"user_id\": \"u1\",\n  oops\n}",
    )
    .await;
    let e = error_of(status, &v, StatusCode::BAD_REQUEST, "malformed_json");
    assert_eq!(e["details"], json!([{"line": 3, "column": 3}]), "{e:#}");
    let (status, v) = send(&app, "POST", "/v1/decide/notifications", "").await;
    error_of(status, &v, StatusCode::BAD_REQUEST, "malformed_json");
}

#[tokio::test]
async fn invalid_context_is_422_listing_each_field_path_and_type() {
    let app = server::app(loaded(repo_config()));
    let mut ctx = context();
    ctx.as_object_mut().unwrap().remove("dau_7");
    ctx["notif_count_7"] = json!("four");
    let (status, v) = send(&app, "POST", "/v1/decide/notifications", &ctx.to_string()).await;
    let e = error_of(
        status,
        &v,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_context",
    );
    let details: Vec<(String, String)> = e["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["path"].as_str().unwrap().to_string(),
                d["expected"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        details,
        vec![
            ("$.dau_7".into(), "float".into()),
            ("$.notif_count_7".into(), "int".into())
        ]
    );
    // Not an object at all.
    let (status, v) = send(&app, "POST", "/v1/decide/notifications", "[1, 2]").await;
    let e = error_of(
        status,
        &v,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_context",
    );
    assert_eq!(e["details"][0]["path"], "$");
    // `now` and `explain` of the wrong type.
    let body = with(
        with(context(), "now", json!("yesterday")),
        "explain",
        json!(1),
    );
    let (status, v) = send(&app, "POST", "/v1/decide/notifications", &body.to_string()).await;
    let e = error_of(
        status,
        &v,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    );
    assert_eq!(e["details"][0]["path"], "$.now");
    assert_eq!(e["details"][1]["path"], "$.explain");
}

#[tokio::test]
async fn unknown_policy_route_and_method_are_404_404_405() {
    let app = server::app(loaded(repo_config()));
    let (status, v) = send(&app, "POST", "/v1/decide/nope", &context().to_string()).await;
    error_of(status, &v, StatusCode::NOT_FOUND, "unknown_policy");
    let (status, v) = get(&app, "/v1/nothing").await;
    error_of(status, &v, StatusCode::NOT_FOUND, "not_found");
    let (status, v) = get(&app, "/v1/decide/notifications").await;
    error_of(
        status,
        &v,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
    let (status, v) = get(&app, "/v1/policies/nope/schema").await;
    error_of(status, &v, StatusCode::NOT_FOUND, "unknown_policy");
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let mut config = repo_config();
    config.body_limit = 2048;
    let app = server::app(loaded(config));
    let body = with(context(), "padding", json!("x".repeat(4096)));
    let (status, v) = send(&app, "POST", "/v1/decide/notifications", &body.to_string()).await;
    error_of(status, &v, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large");
    let (status, v) = send(
        &app,
        "POST",
        "/v1/decide/notifications/batch",
        &body.to_string(),
    )
    .await;
    error_of(status, &v, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large");
}

#[tokio::test]
async fn not_ready_until_a_valid_set_is_loaded() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("broken.policy"), "policy broken {").unwrap();
    let state =
        AppState::new(Config::new(dir.path().to_path_buf(), root().join("models"))).unwrap();
    let app = server::app(state.clone());
    let (status, v) = get(&app, "/readyz").await;
    error_of(status, &v, StatusCode::SERVICE_UNAVAILABLE, "not_ready");
    assert!(!state.reload());
    let (status, v) = get(&app, "/readyz").await;
    error_of(status, &v, StatusCode::SERVICE_UNAVAILABLE, "not_ready");
    let (status, v) = send(&app, "POST", "/v1/decide/broken", "{}").await;
    error_of(status, &v, StatusCode::SERVICE_UNAVAILABLE, "not_ready");
    let (status, v) = get(&app, "/healthz").await;
    assert_eq!((status, v), (StatusCode::OK, json!({"status": "ok"})));
    let (_, v) = get(&app, "/v1/policies").await;
    assert_eq!(v["ready"], false);
    assert!(
        v["last_reload_error"]["message"]
            .as_str()
            .unwrap()
            .contains("broken.policy"),
        "{v:#}"
    );

    std::fs::write(dir.path().join("broken.policy"), GATE).unwrap();
    assert!(state.reload());
    let (status, v) = get(&app, "/readyz").await;
    assert_eq!(status, StatusCode::OK, "{v:#}");
    assert_eq!(v["status"], "ready");
}

const GATE: &str =
    "policy broken {\n  context { x: int }\n  guard positive: require x > 0\n  select gate\n}\n";

// ---- batch -------------------------------------------------------------------------------------

#[tokio::test]
async fn batch_decides_for_each_subject_with_per_item_errors() {
    let app = server::app(loaded(repo_config()));
    let now = json!("2026-11-23T17:00:00Z");
    let mut bad = context();
    bad.as_object_mut().unwrap().remove("dau_7");
    let body = json!({"requests": [
        with(with(context(), "user_id", json!("a")), "now", now.clone()),
        with(with(context(), "user_id", json!("b")), "now", now.clone()),
        bad,
    ]});
    let (status, v) = send(
        &app,
        "POST",
        "/v1/decide/notifications/batch",
        &body.to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v:#}");
    let items = v["decisions"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["subject"], "a");
    assert_eq!(items[1]["subject"], "b");
    assert_eq!(items[0]["outcome"], "selected");
    assert_ne!(items[0]["decision_id"], items[1]["decision_id"]);
    assert_eq!(items[2]["error"]["code"], "invalid_context", "{v:#}");
    assert_eq!(
        items[2]["error"]["details"][0]["path"],
        "$.requests[2].dau_7"
    );

    let (status, v) = send(
        &app,
        "POST",
        "/v1/decide/notifications/batch",
        "{\"requests\": 3}",
    )
    .await;
    let e = error_of(
        status,
        &v,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    );
    assert_eq!(e["details"][0]["path"], "$.requests");
    let (status, v) = send(&app, "POST", "/v1/decide/nope/batch", "{\"requests\": []}").await;
    error_of(status, &v, StatusCode::NOT_FOUND, "unknown_policy");
    let (status, v) = send(
        &app,
        "POST",
        "/v1/decide/notifications/batch",
        "{\"requests\": [",
    )
    .await;
    error_of(status, &v, StatusCode::BAD_REQUEST, "malformed_json");
}

// ---- outcomes ----------------------------------------------------------------------------------

#[tokio::test]
async fn not_acted_releases_the_reservation_so_the_gap_no_longer_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("decisions.jsonl");
    let mut config = repo_config();
    config.decision_log = Some(LogTarget::File(log.clone()));
    let state = loaded(config);
    let app = server::app(state.clone());
    let body = with(context(), "now", json!("2026-11-23T17:00:00Z")).to_string();
    let decide = || send(&app, "POST", "/v1/decide/notifications", &body);

    let (_, first) = decide().await;
    assert_eq!(first["outcome"], "selected", "{first:#}");
    // The same subject a moment later: the 8 h gap blocks every topic.
    let (_, second) = decide().await;
    assert_eq!(second["outcome"], "none", "{second:#}");
    assert!(
        second["rejected"][0]["guards"]
            .as_array()
            .unwrap()
            .contains(&json!("min_gap"))
    );

    let id = first["decision_id"].as_str().unwrap();
    let uri = format!("/v1/decisions/{id}/outcome");
    let (status, v) = send(&app, "POST", &uri, r#"{"outcome": "not_acted"}"#).await;
    assert_eq!(status, StatusCode::OK, "{v:#}");
    assert_eq!(
        v,
        json!({"decision_id": id, "outcome": "not_acted", "released": 1})
    );
    let (_, third) = decide().await;
    assert_eq!(third["outcome"], "selected", "{third:#}");

    let tid = third["decision_id"].as_str().unwrap();
    let (status, v) = send(
        &app,
        "POST",
        &format!("/v1/decisions/{tid}/outcome"),
        r#"{"outcome": "converted", "value": 4.5}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v:#}");
    assert_eq!(v["released"], 0);

    // Bad outcomes.
    let (status, v) = send(
        &app,
        "POST",
        "/v1/decisions/nope/outcome",
        r#"{"outcome": "acted"}"#,
    )
    .await;
    error_of(status, &v, StatusCode::NOT_FOUND, "unknown_decision");
    let (status, v) = send(&app, "POST", &uri, r#"{"outcome": "maybe", "value": "x"}"#).await;
    let e = error_of(
        status,
        &v,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    );
    assert_eq!(e["details"][0]["path"], "$.outcome");
    assert_eq!(e["details"][1]["path"], "$.value");
    let (status, v) = send(&app, "POST", &uri, "{").await;
    error_of(status, &v, StatusCode::BAD_REQUEST, "malformed_json");

    // The log: one line per decision, outcomes joined to them by id; flushed on shutdown.
    state.log.shutdown().await;
    let lines: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = lines.iter().map(|l| l["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["decision", "decision", "outcome", "decision", "outcome"]
    );
    let d = &lines[0];
    assert_eq!(d["decision_id"], id);
    assert_eq!(d["policy"], "notifications");
    assert_eq!(d["revision"], first["revision"]);
    assert_eq!(d["subject"], "u1");
    assert_eq!(d["time"], "2026-11-23T17:00:00Z");
    assert_eq!(d["selected"], first["selected"]);
    assert_eq!(
        d["models"]["returned_24h"].as_object().unwrap().len(),
        8,
        "{d:#}"
    );
    assert!(d["latency_us"].as_f64().unwrap() > 0.0);
    assert_eq!(lines[1]["rejected"], second["rejected"]);
    assert_eq!(lines[2]["decision_id"], id);
    assert_eq!(lines[2]["outcome"], "not_acted");
    assert_eq!(lines[2]["released"], 1);
    assert_eq!(lines[4]["value"], 4.5);
}

#[tokio::test]
async fn a_full_decision_log_drops_and_counts_lines_without_blocking_requests() {
    // A FIFO that is opened but never read: the writer blocks once the pipe is full.
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("log.fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::File::open(fifo).unwrap())
    };
    let mut config = repo_config();
    config.decision_log = Some(LogTarget::File(fifo));
    config.log_queue = 1;
    let state = loaded(config);
    let _reader = reader.join().unwrap();
    let app = server::app(state.clone());
    for i in 0..400 {
        let body = with(
            with(context(), "user_id", json!(format!("u{i}"))),
            "now",
            json!("2026-11-23T17:00:00Z"),
        );
        let (status, _) = send(&app, "POST", "/v1/decide/notifications", &body.to_string()).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (_, m) = get(&app, "/metrics").await;
    let dropped = metric(m.as_str().unwrap(), "policy_decision_log_dropped_total");
    assert!(dropped > 0.0, "{dropped}");
}

// ---- policies, schemas, metrics -------------------------------------------------------------------

fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no `{series}` in\n{text}"))
}

#[tokio::test]
async fn policies_lists_the_served_set_and_the_last_reload_error() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["notifications.policy", "retention.policy"] {
        std::fs::copy(root().join("policies").join(f), dir.path().join(f)).unwrap();
    }
    let state = loaded(Config::new(dir.path().to_path_buf(), root().join("models")));
    let app = server::app(state.clone());
    let (status, v) = get(&app, "/v1/policies").await;
    assert_eq!(status, StatusCode::OK, "{v:#}");
    assert_eq!(v["ready"], true);
    assert!(v["last_reload_error"].is_null());
    let names: Vec<&str> = v["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["churn_playbook", "notifications", "retention_router"]
    );
    let n = &v["policies"][1];
    assert_eq!(n["version"], "1.0.0");
    assert!(
        n["sources"][0]
            .as_str()
            .unwrap()
            .ends_with("notifications.policy")
    );
    assert!(
        n["models"][0]
            .as_str()
            .unwrap()
            .ends_with("notif_ranker_v1.onnx")
    );
    let loaded_at: jiff::Timestamp = n["loaded_at"].as_str().unwrap().parse().unwrap();
    assert!(loaded_at <= jiff::Timestamp::now());
    let revision = n["revision"].clone();

    // A broken edit: the old set stays, the error shows.
    std::fs::write(
        dir.path().join("notifications.policy"),
        "policy notifications {",
    )
    .unwrap();
    assert!(!state.reload());
    let (_, v) = get(&app, "/v1/policies").await;
    assert_eq!(v["policies"][1]["revision"], revision);
    assert_eq!(v["policies"][1]["loaded_at"], n["loaded_at"]);
    let err = &v["last_reload_error"];
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("notifications.policy"),
        "{err:#}"
    );
    assert_eq!(err["diagnostics"][0]["code"], "P0001", "{err:#}");
    let (_, m) = get(&app, "/metrics").await;
    let m = m.as_str().unwrap();
    assert_eq!(metric(m, "policy_reload_error"), 1.0);
    assert_eq!(metric(m, "policy_reloads_total{result=\"error\"}"), 1.0);

    // Deleting a file removes its policies; routes into them would not check, so delete both.
    std::fs::remove_file(dir.path().join("notifications.policy")).unwrap();
    std::fs::remove_file(dir.path().join("retention.policy")).unwrap();
    std::fs::write(dir.path().join("gate.policy"), GATE).unwrap();
    assert!(state.reload());
    let (_, v) = get(&app, "/v1/policies").await;
    assert_eq!(v["policies"].as_array().unwrap().len(), 1);
    assert!(v["last_reload_error"].is_null());
    let (status, v) = send(
        &app,
        "POST",
        "/v1/decide/notifications",
        &context().to_string(),
    )
    .await;
    error_of(status, &v, StatusCode::NOT_FOUND, "unknown_policy");
}

#[tokio::test]
async fn policy_schema_is_generated_from_the_context_declaration() {
    let app = server::app(loaded(repo_config()));
    let (status, s) = get(&app, "/v1/policies/notifications/schema").await;
    assert_eq!(status, StatusCode::OK, "{s:#}");
    assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema");
    assert_eq!(s["type"], "object");
    assert_eq!(s["properties"]["dau_7"], json!({"type": "number"}));
    assert_eq!(s["properties"]["notif_count_7"], json!({"type": "integer"}));
    assert_eq!(s["properties"]["is_trialing"], json!({"type": "boolean"}));
    assert_eq!(s["properties"]["now"]["format"], "date-time");
    let required: Vec<&str> = s["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    let declared: Vec<String> = context().as_object().unwrap().keys().cloned().collect();
    assert_eq!(required, declared);
    // Candidates from a list of records, optional fields.
    let (_, s) = get(&app, "/v1/policies/suggested_contacts/schema").await;
    assert_eq!(s["properties"]["contacts"]["type"], "array", "{s:#}");
    assert_eq!(
        s["properties"]["contacts"]["items"]["type"], "object",
        "{s:#}"
    );
}

#[tokio::test]
async fn metrics_count_decisions_guards_reloads_and_serve_the_revision() {
    let state = loaded(repo_config());
    let app = server::app(state.clone());
    let body = with(context(), "now", json!("2026-11-23T17:00:00Z")).to_string();
    for _ in 0..2 {
        send(&app, "POST", "/v1/decide/notifications", &body).await;
    }
    send(&app, "POST", "/v1/decide/nope", &body).await;
    let (status, m) = get(&app, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let m = m.as_str().unwrap();
    let revision = served(&state);
    assert_eq!(
        metric(
            m,
            "policy_decisions_total{policy=\"notifications\",result=\"selected\"}"
        ),
        1.0
    );
    assert_eq!(
        metric(
            m,
            "policy_decisions_total{policy=\"notifications\",result=\"none\"}"
        ),
        1.0
    );
    assert_eq!(
        metric(
            m,
            "policy_decisions_total{policy=\"_unknown\",result=\"unknown_policy\"}"
        ),
        1.0
    );
    assert_eq!(
        metric(
            m,
            "policy_guard_blocks_total{guard=\"min_gap\",policy=\"notifications\"}"
        ),
        8.0
    );
    assert_eq!(
        metric(
            m,
            "policy_decision_duration_seconds_count{policy=\"notifications\"}"
        ),
        2.0
    );
    assert_eq!(
        metric(
            m,
            "policy_model_inference_seconds_count{policy=\"notifications\"}"
        ),
        2.0
    );
    assert_eq!(metric(m, "policy_reloads_total{result=\"ok\"}"), 1.0);
    assert_eq!(
        metric(
            m,
            &format!("policy_served_revision{{policy=\"notifications\",revision=\"{revision}\"}}")
        ),
        1.0
    );
    assert_eq!(metric(m, "policy_decision_log_dropped_total"), 0.0);
}

#[tokio::test]
async fn openapi_document_describes_every_endpoint_and_matches_the_committed_one() {
    let app = server::app(loaded(repo_config()));
    let (status, doc) = get(&app, "/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.0.3");
    let paths: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for p in [
        "/v1/decide/{policy}",
        "/v1/decide/{policy}/batch",
        "/v1/decisions/{decision_id}/outcome",
        "/v1/policies",
        "/v1/policies/{name}/schema",
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
    ] {
        assert!(paths.contains(&p), "{p} missing from {paths:?}");
    }
    // Every `$ref` resolves inside the document.
    let text = doc.to_string();
    for r in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = &r[..r.find('"').unwrap()];
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "dangling $ref {name}"
        );
    }
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("schemas/openapi.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        doc, committed,
        "schemas/openapi.json is out of date: run `cargo run -- schema`"
    );
}

/// Guards `schemas/`: CI fails when the committed schemas differ from the types.
#[test]
fn committed_schemas_are_up_to_date() {
    let dir = root().join("schemas");
    let mut expected: Vec<String> = vec![];
    for (name, schema) in server::schema::files() {
        let path = dir.join(name);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            committed,
            server::schema::render(&schema),
            "{} is out of date: run `cargo run -- schema`",
            path.display()
        );
        expected.push(name.to_string());
    }
    let mut present: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        // The SARIF schema is the OASIS one, kept for `check --format sarif`'s test.
        .filter(|n| n != "sarif-schema-2.1.0.json")
        .collect();
    present.sort();
    expected.sort();
    assert_eq!(present, expected, "stale files in schemas/");
}

// ---- hot reload ----------------------------------------------------------------------------------

/// How a write reaches the policy directory.
#[derive(Debug, Clone, Copy)]
enum Write {
    /// An editor's save: a temporary file renamed over the target.
    Rename,
    /// Truncate and write the same file.
    InPlace,
    /// A Kubernetes ConfigMap update: a new `..<n>` directory, then `..data` swapped to it.
    SymlinkSwap,
}

/// A ConfigMap-style directory: `notifications.policy -> ..data/notifications.policy`,
/// `..data -> ..0`.
struct ConfigMapDir {
    dir: PathBuf,
    n: usize,
}

impl ConfigMapDir {
    fn new(dir: &Path, text: &str) -> Self {
        let first = dir.join("..0");
        std::fs::create_dir(&first).unwrap();
        std::fs::write(first.join("notifications.policy"), text).unwrap();
        std::os::unix::fs::symlink("..0", dir.join("..data")).unwrap();
        std::os::unix::fs::symlink(
            "..data/notifications.policy",
            dir.join("notifications.policy"),
        )
        .unwrap();
        ConfigMapDir {
            dir: dir.to_path_buf(),
            n: 0,
        }
    }

    fn write(&mut self, how: Write, text: &str) {
        let file = self.dir.join("..data/notifications.policy");
        match how {
            Write::Rename => {
                let tmp = self.dir.join("..data/.notifications.policy.swp");
                std::fs::write(&tmp, text).unwrap();
                std::fs::rename(&tmp, &file).unwrap();
            }
            Write::InPlace => std::fs::write(&file, text).unwrap(),
            Write::SymlinkSwap => {
                let old = format!("..{}", self.n);
                self.n += 1;
                let new = format!("..{}", self.n);
                std::fs::create_dir(self.dir.join(&new)).unwrap();
                // The new version starts as a copy of the current one, as a ConfigMap holds every key.
                std::fs::write(self.dir.join(&new).join("notifications.policy"), text).unwrap();
                std::os::unix::fs::symlink(&new, self.dir.join("..data_tmp")).unwrap();
                std::fs::rename(self.dir.join("..data_tmp"), self.dir.join("..data")).unwrap();
                std::fs::remove_dir_all(self.dir.join(old)).unwrap();
            }
        }
    }
}

/// The notification policy with its fatigue weight changed: a distinct revision per `i`.
fn valid_version(base: &str, i: usize) -> String {
    let v = base.replace(
        "param fatigue_lambda: float = 0.02",
        &format!("param fatigue_lambda: float = 0.{:03}", i + 1),
    );
    assert_ne!(v, base);
    v
}

/// Broken in turn by an unknown name and a syntax error.
fn invalid_version(base: &str, i: usize) -> String {
    match i % 2 {
        0 => base.replace(
            "score = returned_24h - fatigue",
            "score = returned_24h - fatigue_typo",
        ),
        _ => base.replace("select best", "select best {"),
    }
}

/// The revision the notification policy `text` must be served under, computed independently
/// of the server.
fn revision_of(models: &Path, text: &str) -> String {
    let mut sources = policy_engine::source::SourceMap::new();
    sources.add("notifications.policy", text.to_string());
    let g = policy_engine::compile::build(sources, &policy_engine::model::ModelStore::new(models))
        .graph
        .unwrap();
    g.policy("notifications").unwrap().revision.clone()
}

/// The notification policy's revision in the state's current set.
fn served(state: &AppState) -> String {
    state
        .engine
        .snapshot()
        .unwrap()
        .policy("notifications")
        .unwrap()
        .revision
        .clone()
}

/// How long a test waits for something that must happen before it calls it a hang. A guard
/// only: no test asserts how long anything took.
const HANG: Duration = Duration::from_secs(60);

/// Guards "a request reads one immutable snapshot": a client sends decisions back to back
/// while the policy is rewritten 100 times, valid and broken in turn, by every kind of write,
/// each followed by a reload (what the watcher or SIGHUP runs once the write is complete; here
/// the test is the trigger, so every count below is exact). Every request succeeds and is
/// answered by a valid revision; a broken write is refused and keeps the previous revision; the
/// client sees every valid revision. The way from a file event to a reload is
/// `a_real_file_change_is_reloaded_through_notify`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_under_load_serves_only_valid_revisions_without_a_failed_request() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let tmp = tempfile::tempdir().unwrap();
    let (policies, models, base) = notifications_copy(tmp.path());
    let mut dir = ConfigMapDir::new(&policies, &base);

    const WRITES: usize = 100;
    let mut valid = vec![revision_of(&models, &base)];
    for i in 0..WRITES / 2 {
        valid.push(revision_of(&models, &valid_version(&base, i)));
    }
    let valid = Arc::new(valid);

    let state = loaded(Config::new(policies.clone(), models.clone()));
    let app = server::app(state.clone());

    // The client: decisions back to back until told to stop; it reports each change of revision.
    let stop = Arc::new(AtomicBool::new(false));
    let (changed, mut changes) = tokio::sync::mpsc::unbounded_channel();
    let client = {
        let (app, stop, valid) = (app.clone(), stop.clone(), valid.clone());
        tokio::spawn(async move {
            let body = with(context(), "now", json!("2026-11-23T17:00:00Z")).to_string();
            let mut seen = std::collections::BTreeSet::new();
            let mut last = String::new();
            let mut n = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let (status, d) = send(&app, "POST", "/v1/decide/notifications", &body).await;
                assert_eq!(status, StatusCode::OK, "request {n} failed: {d:#}");
                let rev = d["revision"].as_str().unwrap().to_string();
                assert!(
                    valid.contains(&rev),
                    "request {n} answered by revision {rev}, not a valid one"
                );
                if rev != last {
                    let _ = changed.send(rev.clone());
                    seen.insert(rev.clone());
                    last = rev;
                }
                n += 1;
                tokio::task::yield_now().await;
            }
            seen
        })
    };

    let hows = [Write::Rename, Write::InPlace, Write::SymlinkSwap];
    for w in 0..WRITES {
        let how = hows[(w / 2) % 3];
        let is_valid = w % 2 == 0;
        if is_valid {
            dir.write(how, &valid_version(&base, w / 2));
        } else {
            dir.write(how, &invalid_version(&base, w / 2));
        }
        let s = state.clone();
        let reloaded = tokio::task::spawn_blocking(move || s.reload())
            .await
            .unwrap();
        assert_eq!(reloaded, is_valid, "write {w} ({how:?})");
        // After a valid write its revision, after a broken one still the previous one.
        let want = &valid[w / 2 + 1];
        assert_eq!(&served(&state), want, "write {w} ({how:?})");
        if is_valid {
            // The client is answered by the new revision before the next write.
            let saw = tokio::time::timeout(HANG, async {
                while let Some(rev) = changes.recv().await {
                    if rev == *want {
                        return true;
                    }
                }
                false
            })
            .await;
            match saw {
                Ok(true) => {}
                Ok(false) => panic!("the client stopped: {:?}", client.await),
                Err(_) => panic!("the client never saw write {w}'s revision"),
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let seen = client.await.unwrap();
    assert_eq!(
        seen,
        valid.iter().cloned().collect(),
        "the client saw every valid revision and nothing else"
    );
    let (_, m) = get(&app, "/metrics").await;
    let m = m.as_str().unwrap();
    assert_eq!(
        metric(m, "policy_reloads_total{result=\"ok\"}"),
        (1 + WRITES / 2) as f64
    );
    assert_eq!(
        metric(m, "policy_reloads_total{result=\"error\"}"),
        (WRITES / 2) as f64
    );
}

/// The one end-to-end reload through `notify`: a real file change, by every kind of write
/// (including writes after a ConfigMap symlink swap, into the directory the watch moved to),
/// reaches a reload with the default debounce. The test waits for the reloads the watcher runs,
/// never for time, and asserts no timing: each wait is bounded only as a hang guard.
#[test]
fn a_real_file_change_is_reloaded_through_notify() {
    let tmp = tempfile::tempdir().unwrap();
    let (policies, models, base) = notifications_copy(tmp.path());
    let mut dir = ConfigMapDir::new(&policies, &base);
    let config = Config::new(policies.clone(), models.clone());
    let state = loaded(config.clone());
    let (reloaded, reloads) = std::sync::mpsc::channel();
    let _watch = {
        let state = state.clone();
        server::watch::watch_paths(vec![policies, models.clone()], config.debounce, move || {
            let _ = reloaded.send(state.reload());
        })
        .unwrap()
    };
    let writes = [
        Write::Rename,
        Write::InPlace,
        Write::SymlinkSwap,
        Write::Rename,
        Write::InPlace,
        Write::SymlinkSwap,
        Write::SymlinkSwap,
    ];
    for (i, how) in writes.into_iter().enumerate() {
        let text = valid_version(&base, i);
        let want = revision_of(&models, &text);
        dir.write(how, &text);
        // A reload may come for a write seen halfway (an in-place write truncates first) or for
        // the previous one's tail; wait for the one that serves this write.
        while served(&state) != want {
            reloads
                .recv_timeout(HANG)
                .unwrap_or_else(|_| panic!("write {i} ({how:?}) was never reloaded"));
        }
    }
}

// ---- the debounce, with made-up instants ----------------------------------------------------------

/// Feeds `events` (each at a millisecond offset) through the watcher's filter and a debouncer of
/// `quiet_ms`, in the watcher thread's order (an event is recorded, then the change is due or
/// not); returns the offsets at which a reload fires. No clock is read but for an origin.
fn reloads_at(quiet_ms: u64, events: &[(u64, notify::Event)]) -> Vec<u64> {
    let roots = [PathBuf::from("/srv/policies"), PathBuf::from("/srv/models")];
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let mut d = server::watch::Debouncer::new(Duration::from_millis(quiet_ms));
    let mut fired = vec![];
    let mut fire_before = |d: &mut server::watch::Debouncer, until: Option<Instant>| {
        while let Some(due) = d.deadline().filter(|due| until.is_none_or(|u| *due < u)) {
            assert!(
                !d.due(due - Duration::from_nanos(1)),
                "due before its deadline"
            );
            assert!(d.due(due));
            assert!(!d.due(due), "due twice for one burst");
            fired.push(u64::try_from((due - t0).as_millis()).unwrap());
        }
    };
    for (ms, ev) in events {
        fire_before(&mut d, Some(at(*ms)));
        if server::watch::relevant(&Ok(ev.clone()), &roots) {
            d.event(at(*ms));
        }
    }
    fire_before(&mut d, None);
    fired
}

fn event(kind: notify::EventKind, path: &str) -> notify::Event {
    notify::Event::new(kind).add_path(PathBuf::from(path))
}

fn write_to(path: &str) -> notify::Event {
    use notify::event::{DataChange, ModifyKind};
    event(
        notify::EventKind::Modify(ModifyKind::Data(DataChange::Content)),
        path,
    )
}

fn read_of(path: &str) -> notify::Event {
    use notify::event::{AccessKind, AccessMode};
    event(
        notify::EventKind::Access(AccessKind::Close(AccessMode::Read)),
        path,
    )
}

#[test]
fn debounce_reloads_once_the_directories_are_quiet() {
    assert_eq!(reloads_at(100, &[]), Vec::<u64>::new());
    assert_eq!(
        reloads_at(100, &[(0, write_to("/srv/policies/a.policy"))]),
        [100]
    );
    // Quiet again, a new change: a second reload.
    assert_eq!(
        reloads_at(
            100,
            &[
                (0, write_to("/srv/policies/a.policy")),
                (350, write_to("/srv/models/m.onnx"))
            ]
        ),
        [100, 450]
    );
    let mut d = server::watch::Debouncer::new(Duration::from_millis(100));
    assert_eq!(d.deadline(), None);
    assert!(!d.due(Instant::now()));
}

/// Guards "one consistent set, never half of one" (with
/// `a_checkout_is_only_valid_whole_and_half_of_one_keeps_the_old_set`): the two writes of a
/// checkout 20 ms apart are one reload, after the second.
#[test]
fn debounce_makes_a_checkout_of_two_files_20_ms_apart_one_reload() {
    let checkout = [
        (0, write_to("/srv/policies/gate.policy")),
        (20, write_to("/srv/policies/router.policy")),
    ];
    assert_eq!(reloads_at(100, &checkout), [120]);
}

#[test]
fn debounce_coalesces_a_burst_of_events_into_one_reload() {
    let burst: Vec<_> = (0..200)
        .map(|i| (i * 3, write_to(&format!("/srv/policies/p{}.policy", i % 7))))
        .collect();
    assert_eq!(reloads_at(100, &burst), [597 + 100]);
}

#[test]
fn debounce_still_reloads_a_directory_that_never_stops_changing() {
    // An event every 30 ms for 3 s against a 100 ms debounce: a reload 20 intervals after the
    // first event, then one when the storm is over.
    let storm: Vec<_> = (0..100)
        .map(|i| (i * 30, write_to("/srv/policies/a.policy")))
        .collect();
    assert_eq!(reloads_at(100, &storm), [2000, 2970 + 100]);
}

/// Guards "access events never trigger a reload": the reload's own reads neither start a burst
/// nor postpone a pending one.
#[test]
fn access_events_never_trigger_or_delay_a_reload() {
    let reads: Vec<_> = (0..50)
        .map(|i| (i * 10, read_of("/srv/policies/a.policy")))
        .collect();
    assert_eq!(reloads_at(100, &reads), Vec::<u64>::new());
    let mut mixed = vec![(0, write_to("/srv/policies/a.policy"))];
    mixed.extend((1..30).map(|i| (i * 10, read_of("/srv/models/m.onnx"))));
    assert_eq!(reloads_at(100, &mixed), [100]);
}

#[test]
fn only_events_under_the_watched_paths_are_changes() {
    let roots = [PathBuf::from("/srv/policies"), PathBuf::from("/srv/models")];
    let relevant = |ev: notify::Result<notify::Event>| server::watch::relevant(&ev, &roots);
    assert!(relevant(Ok(write_to("/srv/policies/a.policy"))));
    assert!(relevant(Ok(write_to("/srv/policies"))));
    assert!(relevant(Ok(write_to("/srv/models/sub/m.onnx"))));
    // Other entries of a watched parent directory, even a name that extends a root's.
    assert!(!relevant(Ok(write_to("/srv/notes.txt"))));
    assert!(!relevant(Ok(write_to("/srv/policies.bak/a.policy"))));
    assert!(!relevant(Ok(read_of("/srv/policies/a.policy"))));
    // No path, or a watcher error that may have lost events: reload to be sure.
    assert!(relevant(Ok(notify::Event::new(notify::EventKind::Any))));
    assert!(relevant(Err(notify::Error::generic("queue overflow"))));
    assert_eq!(
        reloads_at(100, &[(0, write_to("/srv/policies.bak/a.policy"))]),
        Vec::<u64>::new()
    );
}

/// A debounce longer than the clock can count means never, not a panic.
#[test]
fn a_debounce_beyond_the_clock_never_fires() {
    let mut d = server::watch::Debouncer::new(Duration::MAX);
    let now = Instant::now();
    d.event(now);
    assert_eq!(d.deadline(), None);
    assert!(!d.due(now + Duration::from_secs(3600)));
}

// ---- the process: signals ------------------------------------------------------------------------

/// One HTTP/1.1 exchange over a socket; returns the status line's code and the body.
fn http(addr: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    crate::edge::read_response(&mut s)
}

fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}

/// Reads the server's log lines until one contains `needle`; returns it. Bounded only as a hang
/// guard; `seen` keeps everything read, for the failure message.
fn log_line(rx: &std::sync::mpsc::Receiver<String>, seen: &mut String, needle: &str) -> String {
    loop {
        let line = rx
            .recv_timeout(HANG)
            .unwrap_or_else(|_| panic!("no `{needle}` in the log:\n{seen}"));
        seen.push_str(&line);
        seen.push('\n');
        if line.contains(needle) {
            return line;
        }
    }
}

#[test]
fn the_binary_reloads_on_sighup_and_flushes_the_log_on_sigterm() {
    use std::io::BufRead;
    let tmp = tempfile::tempdir().unwrap();
    let (policies, models, base) = notifications_copy(tmp.path());
    std::fs::write(policies.join("notifications.policy"), &base).unwrap();
    let log = tmp.path().join("decisions.jsonl");
    // A long debounce keeps the watcher out of the way: only SIGHUP reloads here.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_policy"))
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--debounce-ms",
            "600000",
            "--decision-log",
        ])
        .arg(&log)
        .arg("--policies")
        .arg(&policies)
        .arg("--models")
        .arg(&models)
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let _ = tx.send(line.unwrap_or_default());
        }
    });
    let mut seen = String::new();
    let line = log_line(&rx, &mut seen, "addr=");
    let addr = line.split("addr=").nth(1).unwrap();
    let addr = addr.split_whitespace().next().unwrap().to_string();
    let body = with(context(), "now", json!("2026-11-23T17:00:00Z")).to_string();
    let (code, d) = http(&addr, "POST", "/v1/decide/notifications", &body);
    assert_eq!(code, 200, "{d}");
    let first: Value = serde_json::from_str(&d).unwrap();
    assert_eq!(first["revision"], revision_of(&models, &base));

    let edited = valid_version(&base, 7);
    std::fs::write(policies.join("notifications.policy"), &edited).unwrap();
    signal(child.id(), "-HUP");
    // The server says when the reload SIGHUP started has swapped the new set in.
    log_line(&rx, &mut seen, "SIGHUP: reloading");
    log_line(&rx, &mut seen, "policy set loaded");
    let (code, d) = http(&addr, "POST", "/v1/decide/notifications", &body);
    assert_eq!(code, 200, "{d}");
    let second: Value = serde_json::from_str(&d).unwrap();
    assert_eq!(second["revision"], revision_of(&models, &edited));

    signal(child.id(), "-TERM");
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let lines: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: Vec<&Value> = lines.iter().map(|l| &l["decision_id"]).collect();
    assert_eq!(ids, [&first["decision_id"], &second["decision_id"]]);
}

/// Guards "one consistent set, never half of one", with
/// `debounce_makes_a_checkout_of_two_files_20_ms_apart_one_reload`: a `git checkout` that
/// renames a policy and the route into it touches two files, and either file alone does not
/// check (a route to a missing policy). A reload after both writes serves the new set; one
/// between them is refused and keeps serving the old set whole. The test is the trigger.
#[tokio::test]
async fn a_checkout_is_only_valid_whole_and_half_of_one_keeps_the_old_set() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("policies");
    std::fs::create_dir_all(&dir).unwrap();
    let gate = |name: &str| {
        format!(
            "policy {name} {{\n  context {{ x: int }}\n  guard positive: require x > 0\n  select gate\n}}\n"
        )
    };
    let router = |to: &str| {
        format!(
            "policy router {{\n  context {{ x: int }}\n  route {{\n    when x > 10 -> {to}\n    otherwise -> {to}\n  }}\n}}\n"
        )
    };
    std::fs::write(dir.join("gate.policy"), gate("gate_a")).unwrap();
    std::fs::write(dir.join("router.policy"), router("gate_a")).unwrap();
    let state = loaded(Config::new(dir.clone(), root().join("models")));
    let app = server::app(state.clone());
    let routed_to = || async {
        let (status, d) = send(&app, "POST", "/v1/decide/router", r#"{"x": 3}"#).await;
        assert_eq!(status, StatusCode::OK, "{d:#}");
        d["policy"].as_str().unwrap().to_string()
    };

    let mut before = "gate_a";
    for name in ["gate_b", "gate_c", "gate_d"] {
        std::fs::write(dir.join("gate.policy"), gate(name)).unwrap();
        assert!(!state.reload(), "half of the checkout to {name} loaded");
        assert_eq!(routed_to().await, before);
        std::fs::write(dir.join("router.policy"), router(name)).unwrap();
        assert!(state.reload(), "the checkout to {name} did not load");
        assert_eq!(routed_to().await, name);
        before = name;
    }
    let (_, m) = get(&app, "/metrics").await;
    let m = m.as_str().unwrap();
    assert_eq!(metric(m, "policy_reloads_total{result=\"ok\"}"), 4.0);
    assert_eq!(metric(m, "policy_reloads_total{result=\"error\"}"), 3.0);
    assert_eq!(metric(m, "policy_reload_error"), 0.0);
}

/// Guards reload speed: a reload that changes only policies reuses the loaded models (same
/// `Arc`); a changed model file is loaded again and changes the revision.
#[test]
fn a_reload_reuses_unchanged_models_and_reloads_changed_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let (policies, models, base) = notifications_copy(tmp.path());
    let model = models.join("notif_ranker_v1.onnx");
    std::fs::write(policies.join("notifications.policy"), &base).unwrap();
    let engine = policy_engine::engine::Engine::new(vec![policies.clone()], models.clone());
    let now = jiff::Timestamp::now();
    let run_of = |g: &policy_engine::compile::DecisionGraph| {
        let p = g.policy("notifications").unwrap();
        (
            p.revision.clone(),
            p.cand_models.iter().flatten().next().unwrap().model.clone(),
        )
    };
    let (rev1, m1) = run_of(&engine.reload(now).unwrap());
    std::fs::write(
        policies.join("notifications.policy"),
        valid_version(&base, 3),
    )
    .unwrap();
    let (rev2, m2) = run_of(&engine.reload(now).unwrap());
    assert_ne!(rev1, rev2);
    assert!(Arc::ptr_eq(&m1, &m2), "an unchanged model was loaded again");
    // Same inputs and outputs, different trees: loaded again, a new revision.
    std::fs::copy(root().join("models/notif_ranker_v1_lr.onnx"), &model).unwrap();
    let (rev3, m3) = run_of(&engine.reload(now).unwrap());
    assert!(!Arc::ptr_eq(&m2, &m3));
    assert_ne!(m2.digest, m3.digest);
    assert_ne!(rev2, rev3);
}
