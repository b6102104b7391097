//! policy-engine: `.policy` files compiled to an immutable decision graph.
//!
//! Pipeline: [`syntax`] → [`check`] → [`compile`] → [`eval`]; an [`engine::Engine`] holds the
//! current compiled set and swaps whole sets atomically.

pub mod check;
pub mod compile;
pub mod decision;
pub mod describe;
pub mod diagnostics;
pub mod diff;
pub mod engine;
pub mod eval;
pub mod fmt;
pub mod graph;
pub mod ir;
pub mod ledger;
pub mod loader;
pub mod model;
#[cfg(feature = "server")]
pub mod server;
pub mod source;
pub mod syntax;
pub mod testing;
pub mod types;
