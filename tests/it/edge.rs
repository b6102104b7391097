//! The HTTP edge of the `policy serve` process (issue 15, item 3): connection limit,
//! header-read and idle timeouts, the early 413, batch limits and bearer tokens. Each test
//! starts the real binary on a loopback port over the repository's policies; [`Server`] is the
//! one helper. Timeouts are asserted only as "closed eventually", within the hang guard.

use crate::root;
use serde_json::{Value, json};
use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Only a hang guard: no test asserts how long anything took.
const HANG: Duration = Duration::from_secs(120);

struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_policy"));
        cmd.args(["serve", "--addr", "127.0.0.1:0", "--debounce-ms", "600000"])
            .args(args)
            .current_dir(root())
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info")
            .env_remove("POLICY_ADMIN_TOKENS")
            .env_remove("POLICY_DECIDE_TOKENS")
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let _ = tx.send(line.unwrap_or_default());
            }
        });
        let mut seen = String::new();
        let addr = loop {
            let line = rx
                .recv_timeout(HANG)
                .unwrap_or_else(|_| panic!("the server never said its address:\n{seen}"));
            seen.push_str(&line);
            seen.push('\n');
            if let Some(rest) = line.split("addr=").nth(1) {
                break rest.split_whitespace().next().unwrap().to_string();
            }
        };
        // Keep draining standard error so the server never blocks on a full pipe.
        std::thread::spawn(move || while rx.recv().is_ok() {});
        Server { child, addr }
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(HANG)).unwrap();
        s
    }

    /// One request on a new connection; the status and the body.
    fn request(&self, method: &str, path: &str, headers: &[&str], body: &str) -> (u16, String) {
        let mut s = self.connect();
        let extra: String = headers.iter().map(|h| format!("{h}\r\n")).collect();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{body}",
            body.len()
        )
        .unwrap();
        read_response(&mut s)
    }

    fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let (code, text) = self.request("POST", path, &[], &body.to_string());
        (code, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn status(&self, key: &str) -> u64 {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = text.lines().find(|l| l.starts_with(key)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    fn metric(&self, series: &str) -> f64 {
        let (_, text) = self.request("GET", "/metrics", &[], "");
        text.lines()
            .find_map(|l| l.strip_prefix(series))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads a whole `Connection: close` response; the status code and the body.
pub(crate) fn read_response(s: &mut TcpStream) -> (u16, String) {
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let out = String::from_utf8_lossy(&out).into_owned();
    assert!(out.len() >= 12, "no response: {out:?}");
    let code = out[9..12].parse().unwrap();
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

/// True once the server has closed `s` (a read returns end of file or a reset).
fn closed_by_server(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => closed_by_server(s),
        Err(e) => matches!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
        ),
    }
}

fn context() -> Value {
    let text =
        std::fs::read_to_string(root().join("examples/contexts/notifications.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// With no body, a child run of this test binary that holds `EDGE_HOLD` connections to
/// `EDGE_ADDR` open until its standard input closes (see the test below; one process cannot
/// hold 20 000 descriptors under this machine's limit of 20 000).
#[test]
#[ignore = "run by `twenty_thousand_idle_connections_leave_the_server_answering`"]
fn hold_connections() {
    let (Ok(addr), Ok(n)) = (std::env::var("EDGE_ADDR"), std::env::var("EDGE_HOLD")) else {
        return;
    };
    let n: usize = n.parse().unwrap();
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        match TcpStream::connect(&addr) {
            Ok(s) => held.push(s),
            Err(e) => panic!("connection {} of {n}: {e}", held.len()),
        }
    }
    println!("HELD {}", held.len());
    std::io::stdout().flush().unwrap();
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}

/// Guards "20 000 idle connections exhaust the descriptors and new clients time out": two
/// processes open 10 000 idle connections each (more than the server's limit, its open-file
/// limit less 256), and a new client is still answered, the oldest idle ones evicted.
#[test]
fn twenty_thousand_idle_connections_leave_the_server_answering() {
    // Long timeouts: only the connection limit makes room here.
    let server = Server::start(
        &["--header-timeout-secs", "600", "--idle-timeout-secs", "600"],
        &[],
    );
    let holders: Vec<Child> = (0..2)
        .map(|_| {
            Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "edge::hold_connections",
                    "--ignored",
                    "--nocapture",
                ])
                .env("EDGE_ADDR", &server.addr)
                .env("EDGE_HOLD", "10000")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut holders: Vec<Child> = holders
        .into_iter()
        .map(|mut h| {
            let out = h.stdout.take().unwrap();
            let mut lines = std::io::BufReader::new(out).lines();
            let held = lines
                .find_map(|l| l.ok().filter(|l| l.contains("HELD")))
                .unwrap_or_else(|| panic!("a holder did not hold its connections"));
            assert_eq!(held.trim(), "HELD 10000");
            // The harness prints its summary later: keep reading so it never meets a closed pipe.
            std::thread::spawn(move || lines.for_each(drop));
            h
        })
        .collect();
    let (code, d) = server.post("/v1/decide/notifications", &context());
    assert_eq!(code, 200, "{d}");
    assert!(server.metric("policy_http_connections_closed_total{reason=\"evicted\"}") > 0.0);
    let open = server.metric("policy_http_connections_open");
    assert!(open < 20_000.0, "{open} connections open");
    for h in &mut holders {
        drop(h.stdin.take());
        let _ = h.wait();
    }
}

/// Guards "no header-read or idle timeout": a half-sent head and a silent connection are
/// both closed by the server.
#[test]
fn a_half_sent_head_and_an_idle_connection_are_closed() {
    let server = Server::start(
        &["--header-timeout-secs", "1", "--idle-timeout-secs", "2"],
        &[],
    );
    let mut half = server.connect();
    write!(
        half,
        "POST /v1/decide/notifications HTTP/1.1\r\nHost: t\r\n"
    )
    .unwrap();
    let mut idle = server.connect();
    assert!(closed_by_server(&mut half));
    assert!(closed_by_server(&mut idle));
    assert!(server.metric("policy_http_connections_closed_total{reason=\"timed_out\"}") >= 2.0);
    // A keep-alive connection is served, then closed once idle.
    let mut kept = server.connect();
    write!(kept, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let mut buf = [0u8; 512];
    let n = kept.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    assert!(closed_by_server(&mut kept));
}

/// Guards "a `Content-Length` over the limit with a short body gets no 413 until the client
/// gives up": the 413 comes with no body sent at all.
#[test]
fn a_content_length_over_the_limit_is_413_before_the_body() {
    let server = Server::start(&["--body-limit", "1000"], &[]);
    let mut s = server.connect();
    write!(
        s,
        "POST /v1/decide/notifications HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n\r\n{{"
    )
    .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    assert!(head.contains("body_too_large"), "{head}");
}

/// Guards "a 400 KB batch of 100 000 `{}` items produces a 140 MB response and leaves RSS at
/// about 1 GB": over the default batch limit it is a 413 at once; with the limit raised, the
/// equal errors are summarised (`same_as`) and the server's memory stays bounded.
#[test]
fn a_100000_item_batch_is_refused_or_answered_in_bounded_memory() {
    let items = vec![json!({}); 100_000];
    let body = json!({ "requests": items });
    let default = Server::start(&[], &[]);
    let (code, e) = default.post("/v1/decide/notifications/batch", &body);
    assert_eq!(code, 413, "{e}");
    assert_eq!(e["error"]["code"], "batch_too_large");
    drop(default);

    let server = Server::start(&["--batch-limit", "100000"], &[]);
    let before = server.status("VmRSS:");
    let (code, text) = server.request(
        "POST",
        "/v1/decide/notifications/batch",
        &[],
        &body.to_string(),
    );
    assert_eq!(code, 200);
    let after = server.status("VmRSS:");
    let peak = server.status("VmHWM:");
    let r: Value = serde_json::from_str(&text).unwrap();
    let d = r["decisions"].as_array().unwrap();
    assert_eq!(d.len(), 100_000);
    assert_eq!(d[0]["error"]["code"], "invalid_context");
    assert!(
        d[0]["error"]["details"][0]["path"]
            .as_str()
            .unwrap()
            .starts_with("$.requests[0].")
    );
    assert!(
        d[1..].iter().all(|i| i["error"]["same_as"] == 0),
        "{}",
        d[1]
    );
    eprintln!(
        "batch of 100 000: response {} bytes; RSS {before} kB before, {after} kB after, peak {peak} kB",
        text.len()
    );
    // The unbounded version peaked near 1 GB; allow a tenth of that over the start.
    assert!(
        peak - before < 100 * 1024,
        "peak {peak} kB from {before} kB"
    );
}

/// Guards "authentication for what changes state or shows internals": admin tokens from the
/// environment guard `/v1/policies`, decide tokens from a file guard decisions, `/metrics`
/// stays open unless protected.
#[test]
fn bearer_tokens_guard_their_endpoints() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("decide.tokens");
    std::fs::write(&file, "# callers\ncaller-1\n").unwrap();
    let server = Server::start(
        &["--decide-token-file", file.to_str().unwrap()],
        &[("POLICY_ADMIN_TOKENS", "root-1,root-2")],
    );
    let body = context().to_string();
    let (code, text) = server.request("GET", "/v1/policies", &[], "");
    assert_eq!(code, 401, "{text}");
    assert!(text.contains("unauthorized"));
    let (code, _) = server.request(
        "GET",
        "/v1/policies",
        &["Authorization: Bearer caller-1"],
        "",
    );
    assert_eq!(code, 401);
    let (code, _) = server.request("GET", "/v1/policies", &["Authorization: Bearer root-2"], "");
    assert_eq!(code, 200);
    let (code, _) = server.request("POST", "/v1/decide/notifications", &[], &body);
    assert_eq!(code, 401);
    let (code, text) = server.request(
        "POST",
        "/v1/decide/notifications",
        &["Authorization: Bearer caller-1"],
        &body,
    );
    assert_eq!(code, 200, "{text}");
    let (code, _) = server.request("GET", "/metrics", &[], "");
    assert_eq!(code, 200);
}
