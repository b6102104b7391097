#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may panic; the library may not
//! The server's hot path without a socket: body parsing, `now`/`explain` extraction, the
//! decision, metrics, the outcome map and JSON rendering, through `server::app`.

use axum::body::Body;
use axum::http::Request;
use criterion::{Criterion, criterion_group, criterion_main};
use policy_engine::server::{self, AppState, Config};
use std::path::Path;
use tower::ServiceExt;

fn request(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let state = AppState::new(Config::new(root.join("policies"), root.join("models"))).unwrap();
    assert!(state.reload());
    let app = server::app(state);
    let mut ctx: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("examples/contexts/notifications.json")).unwrap(),
    )
    .unwrap();
    ctx["now"] = "2026-11-23T17:00:00Z".into();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    // A fresh subject per iteration, so every request reserves (as in `decide/notifications_reserving`).
    let mut n = 0u64;
    c.bench_function("server/decide_notifications", |b| {
        b.iter(|| {
            n += 1;
            ctx["user_id"] = format!("u{n}").into();
            let req = Request::post("/v1/decide/notifications")
                .body(Body::from(ctx.to_string()))
                .unwrap();
            rt.block_on(async {
                let res = app.clone().oneshot(req).await.unwrap();
                assert!(res.status().is_success());
                axum::body::to_bytes(res.into_body(), usize::MAX)
                    .await
                    .unwrap()
            })
        })
    });
}

criterion_group!(benches, request);
criterion_main!(benches);
