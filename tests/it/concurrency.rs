//! Reservations are atomic: concurrent decisions can never exceed a cap.

use policy_engine::compile;
use policy_engine::eval::{self, Options};
use policy_engine::ledger::MemoryLedger;
use serde_json::json;
use std::sync::{Arc, Barrier};

#[test]
fn sixty_four_concurrent_decisions_under_a_cap_of_two_select_exactly_two() {
    let build = compile::build_paths(
        &[super::fixture("policies/cap_only.policy")],
        &super::root().join("models"),
    )
    .expect("read");
    let graph = Arc::new(build.graph.expect("fixture compiles"));
    let ledger = Arc::new(MemoryLedger::new());
    let barrier = Arc::new(Barrier::new(64));
    let now: jiff::Timestamp = "2026-11-23T17:00:00Z".parse().expect("now");
    let handles: Vec<_> = (0..64)
        .map(|_| {
            let (graph, ledger, barrier) = (graph.clone(), ledger.clone(), barrier.clone());
            std::thread::spawn(move || {
                let ctx = json!({"user_id": "same-user", "timezone": "Europe/Paris"});
                barrier.wait();
                let d = eval::decide(&graph, "capped", &ctx, &Options::at(now), ledger.as_ref())
                    .expect("decision");
                d.selected.len()
            })
        })
        .collect();
    let selected: usize = handles.into_iter().map(|h| h.join().expect("thread")).sum();
    assert_eq!(selected, 2);
    let dump = ledger.dump();
    assert_eq!(dump.len(), 1);
    assert_eq!(
        dump[0].1.len(),
        2,
        "the ledger holds exactly the two reservations"
    );
}
