//! The decision log: one JSON line per decision and per outcome, written by a thread of its own
//! through a bounded queue. A request never waits: when the queue is full the line is dropped
//! and counted (`policy_decision_log_dropped_total`).

use super::api::OutcomeKind;
use crate::decision::Decision;
use jiff::Timestamp;
use prometheus::IntCounter;
use serde_json::{Map, Value, json};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;

/// Where lines go.
#[derive(Debug, Clone, PartialEq)]
pub enum LogTarget {
    Stdout,
    File(PathBuf),
}

impl LogTarget {
    /// `-` is standard output; anything else a file, appended to.
    pub fn parse(s: &str) -> LogTarget {
        if s == "-" {
            LogTarget::Stdout
        } else {
            LogTarget::File(PathBuf::from(s))
        }
    }
}

pub enum Entry {
    Decision {
        decision: Box<Decision>,
        /// The policy the request named (the decision's `policy` is the one that selected).
        entry: String,
        latency: Duration,
    },
    Outcome {
        decision_id: String,
        policy: String,
        subject: Option<String>,
        outcome: OutcomeKind,
        value: Option<f64>,
        released: usize,
        at: Timestamp,
    },
    /// Flush and stop; the sender waits for the writer to finish.
    Shutdown(std::sync::mpsc::SyncSender<()>),
}

/// The request side of the log. Without a target, nothing is queued.
pub struct DecisionLog {
    tx: Option<mpsc::Sender<Entry>>,
    dropped: IntCounter,
}

impl DecisionLog {
    /// Opens the target and starts the writer thread.
    pub fn start(
        target: Option<&LogTarget>,
        capacity: usize,
        dropped: IntCounter,
    ) -> std::io::Result<DecisionLog> {
        let Some(target) = target else {
            return Ok(DecisionLog { tx: None, dropped });
        };
        let out: Box<dyn Write + Send> = match target {
            LogTarget::Stdout => Box::new(std::io::stdout()),
            LogTarget::File(p) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)?,
            ),
        };
        let (tx, rx) = mpsc::channel(capacity.max(1));
        std::thread::Builder::new()
            .name("decision-log".into())
            .spawn(move || writer(rx, std::io::BufWriter::with_capacity(64 * 1024, out)))?;
        Ok(DecisionLog {
            tx: Some(tx),
            dropped,
        })
    }

    pub fn enabled(&self) -> bool {
        self.tx.is_some()
    }

    /// Queues a line without waiting; counts it as dropped when the queue is full.
    pub fn push(&self, entry: Entry) {
        if let Some(tx) = &self.tx
            && tx.try_send(entry).is_err()
        {
            self.dropped.inc();
        }
    }

    /// Writes everything queued so far, flushes, and stops the writer.
    pub async fn shutdown(&self) {
        let Some(tx) = &self.tx else { return };
        let (done_tx, done_rx) = std::sync::mpsc::sync_channel(1);
        if tx.send(Entry::Shutdown(done_tx)).await.is_ok() {
            let _ = tokio::task::spawn_blocking(move || done_rx.recv()).await;
        }
    }
}

fn writer(mut rx: mpsc::Receiver<Entry>, mut out: impl Write) {
    loop {
        // Flush whenever the queue runs empty, so lines appear promptly but are batched under load.
        let entry = match rx.try_recv() {
            Ok(e) => e,
            Err(_) => {
                let _ = out.flush();
                match rx.blocking_recv() {
                    Some(e) => e,
                    None => return,
                }
            }
        };
        let line = match entry {
            Entry::Shutdown(done) => {
                let _ = out.flush();
                let _ = done.send(());
                return;
            }
            e => line(e),
        };
        if serde_json::to_writer(&mut out, &line).is_err() || out.write_all(b"\n").is_err() {
            tracing::warn!("cannot write the decision log");
        }
    }
}

/// The JSON of one line.
pub fn line(e: Entry) -> Value {
    match e {
        Entry::Decision {
            decision: d,
            entry,
            latency,
        } => {
            let mut models = Map::new();
            for m in &d.telemetry.models {
                let v = json!(m.value);
                match &m.candidate {
                    None => {
                        models.insert(m.model.clone(), v);
                    }
                    Some(c) => {
                        if let Value::Object(per) = models
                            .entry(m.model.clone())
                            .or_insert_with(|| Value::Object(Map::new()))
                        {
                            per.insert(c.clone(), v);
                        }
                    }
                }
            }
            json!({
                "kind": "decision",
                "decision_id": d.decision_id,
                "time": d.now,
                "policy": d.policy,
                "entry": entry,
                "path": d.path,
                "revision": d.revision,
                "subject": d.subject,
                "outcome": d.outcome,
                "selected": d.selected,
                "rejected": d.rejected,
                "models": models,
                "inference_us": d.telemetry.inference.as_secs_f64() * 1e6,
                "latency_us": latency.as_secs_f64() * 1e6,
            })
        }
        Entry::Outcome {
            decision_id,
            policy,
            subject,
            outcome,
            value,
            released,
            at,
        } => json!({
            "kind": "outcome",
            "decision_id": decision_id,
            "time": at,
            "policy": policy,
            "subject": subject,
            "outcome": outcome,
            "value": value,
            "released": released,
        }),
        Entry::Shutdown(_) => Value::Null,
    }
}
