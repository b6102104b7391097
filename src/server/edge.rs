//! The HTTP edge: accepting connections, bounding how many are open, and closing the ones
//! that hold a file descriptor without sending a request.
//!
//! `axum::serve` has no timeouts and no connection limit, so this is the accept loop of its
//! low-level example (hyper's HTTP/1 connection over a tokio socket, graceful shutdown) with
//! three additions that no crate in our tree provides together:
//! - a **header-read timeout**: once the first byte of a request head has arrived, the whole
//!   head must follow within `header_timeout` (slowloris clients are closed);
//! - an **idle timeout**: a connection with no request in flight that sends nothing (and is
//!   sent nothing) for `idle_timeout` is closed;
//! - a **connection limit**: at `max_connections`, a new connection evicts the oldest idle one
//!   (as nginx reuses keep-alive connections when it runs out), and is refused only if every
//!   open connection has a request in flight.
//!
//! hyper's own `header_read_timeout` starts when hyper begins waiting for a head, which
//! includes the idle time between keep-alive requests, so it cannot tell the two apart; the
//! [`Timed`] socket wrapper does. The request-body timeout is applied where bodies are read
//! ([`super::JsonBody`]), since only there is it known that a body is wanted.

use super::AppState;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

/// The limits of the edge. [`EdgeLimits::default`] is what `policy serve` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdgeLimits {
    /// Connections open at once; see [`default_max_connections`].
    pub max_connections: usize,
    /// From the first byte of a request head to its end.
    pub header_timeout: Duration,
    /// With no request in flight, how long a connection may stay silent.
    pub idle_timeout: Duration,
    /// From the end of the head to the end of the body.
    pub body_timeout: Duration,
}

impl Default for EdgeLimits {
    fn default() -> Self {
        EdgeLimits {
            max_connections: default_max_connections(),
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(30),
        }
    }
}

/// File descriptors kept back from connections: policy and model files, the decision log,
/// the watcher's descriptors, the listener.
pub const RESERVED_FDS: u64 = 256;

/// The soft limit on open files (after [`raise_fd_limit`]), less [`RESERVED_FDS`]; at least 16.
pub fn default_max_connections() -> usize {
    let open = fd_limit().unwrap_or(1024);
    usize::try_from(open.saturating_sub(RESERVED_FDS).max(16)).unwrap_or(usize::MAX)
}

/// The soft `RLIMIT_NOFILE`.
#[cfg(unix)]
fn fd_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` writes only into the struct it is given, which lives on this frame.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    (rc == 0).then_some(lim.rlim_cur)
}

#[cfg(not(unix))]
fn fd_limit() -> Option<u64> {
    None
}

/// Raises the soft limit on open files to the hard limit (what Go's runtime and nginx's
/// `worker_rlimit_nofile` do), so connections are bounded by [`EdgeLimits::max_connections`]
/// rather than by a low default of 1024. Returns the soft limit now in force.
#[cfg(unix)]
pub fn raise_fd_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: as in `fd_limit`; `setrlimit` only reads the struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return None;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return Some(raised.rlim_cur);
            }
        }
    }
    Some(lim.rlim_cur)
}

#[cfg(not(unix))]
pub fn raise_fd_limit() -> Option<u64> {
    None
}

/// What a connection's task and the accept loop share.
struct Conn {
    /// Requests inside the router; 0 means idle.
    in_flight: AtomicUsize,
    /// Set once the accept loop chose this connection to make room.
    evicted: AtomicBool,
    /// Set when [`Timed`] failed a read for a timeout.
    timed_out: AtomicBool,
    /// The reader parked while a request was in flight: woken when the connection turns idle,
    /// so that its idle deadline starts (hyper does not poll the socket again by itself).
    parked: Mutex<Option<std::task::Waker>>,
    close: Notify,
}

/// The open connections, in the order they were accepted (ids only grow).
#[derive(Default)]
struct Open {
    next: u64,
    conns: BTreeMap<u64, Arc<Conn>>,
    /// Of `conns`, those evicted but not yet closed: `conns.len() - evicted` are live.
    evicted: usize,
}

/// Why a connection was closed by the edge rather than by its client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// Evicted while idle to make room for a new one.
    Evicted,
    /// Refused at the limit, every open connection being busy.
    Refused,
    /// Closed by the header-read or idle timeout.
    TimedOut,
}

impl Closed {
    pub fn as_str(self) -> &'static str {
        match self {
            Closed::Evicted => "evicted",
            Closed::Refused => "refused",
            Closed::TimedOut => "timed_out",
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting, lets every
/// request in flight finish (idle connections close at once) and returns once all are closed
/// or `grace` has passed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: EdgeLimits,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    let open: Arc<Mutex<Open>> = Arc::default();
    let max = limits.max_connections.max(1);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = &mut shutdown => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors (EMFILE, ENFILE) or a connection reset before it was
                // accepted: back off briefly rather than spin, as `axum::serve` does.
                tracing::debug!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let conn = Arc::new(Conn {
            in_flight: AtomicUsize::new(0),
            evicted: AtomicBool::new(false),
            timed_out: AtomicBool::new(false),
            parked: Mutex::new(None),
            close: Notify::new(),
        });
        let id = {
            let mut o = lock(&open);
            if o.conns.len() - o.evicted >= max {
                // The oldest idle connection makes room; it closes as soon as its task runs.
                let victim = o.conns.values().find(|c| {
                    !c.evicted.load(Ordering::Relaxed) && c.in_flight.load(Ordering::Acquire) == 0
                });
                match victim {
                    Some(v) => {
                        v.evicted.store(true, Ordering::Relaxed);
                        v.close.notify_one();
                        o.evicted += 1;
                        state.metrics.connection_closed(Closed::Evicted);
                    }
                    None => {
                        drop(o);
                        state.metrics.connection_closed(Closed::Refused);
                        drop(stream);
                        continue;
                    }
                }
            }
            let id = o.next;
            o.next += 1;
            o.conns.insert(id, conn.clone());
            state.metrics.connections_open(o.conns.len());
            id
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(Timed::new(stream, conn.clone(), limits));
        let router = app.clone();
        let counted = conn.clone();
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let busy = Busy::new(&counted);
            let mut router = router.clone();
            async move {
                let response = tower::Service::call(&mut router, req).await;
                drop(busy);
                response
            }
        });
        let open = open.clone();
        let state = state.clone();
        tokio::spawn(async move {
            let mut served = std::pin::pin!(
                hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(io, service)
            );
            let result = tokio::select! {
                r = served.as_mut() => r,
                () = conn.close.notified() => {
                    // Finishes a request in flight, closes an idle connection at once.
                    served.as_mut().graceful_shutdown();
                    served.as_mut().await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection closed");
            }
            if conn.timed_out.load(Ordering::Relaxed) {
                state.metrics.connection_closed(Closed::TimedOut);
            }
            let mut o = lock(&open);
            if o.conns.remove(&id).is_some() && conn.evicted.load(Ordering::Relaxed) {
                o.evicted -= 1;
            }
            state.metrics.connections_open(o.conns.len());
        });
    }
    drop(listener);
    let conns: Vec<Arc<Conn>> = lock(&open).conns.values().cloned().collect();
    for c in &conns {
        c.close.notify_one();
    }
    drop(conns);
    let deadline = Instant::now() + grace;
    while !lock(&open).conns.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn lock(open: &Mutex<Open>) -> std::sync::MutexGuard<'_, Open> {
    open.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Counts one request in flight on a connection while it lives.
struct Busy(Arc<Conn>);

impl Busy {
    fn new(conn: &Arc<Conn>) -> Self {
        conn.in_flight.fetch_add(1, Ordering::AcqRel);
        Busy(conn.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            let parked = self
                .0
                .parked
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            if let Some(w) = parked {
                w.wake();
            }
        }
    }
}

/// A socket that fails its reads with `TimedOut` when the header-read or idle deadline passes.
/// While a request is in flight no deadline applies here (the body timeout does).
struct Timed<S> {
    inner: S,
    conn: Arc<Conn>,
    limits: EdgeLimits,
    /// When the connection last became idle, or last made progress writing while idle.
    idle_since: Instant,
    /// When the first byte of the next request head arrived.
    head_started: Option<Instant>,
    was_busy: bool,
    timer: Pin<Box<Sleep>>,
}

impl<S> Timed<S> {
    fn new(inner: S, conn: Arc<Conn>, limits: EdgeLimits) -> Self {
        let now = Instant::now();
        Timed {
            inner,
            conn,
            limits,
            idle_since: now,
            head_started: None,
            was_busy: false,
            timer: Box::pin(tokio::time::sleep_until(now + limits.idle_timeout)),
        }
    }

    /// `None` while a request is in flight.
    fn deadline(&mut self) -> Option<Instant> {
        if self.conn.in_flight.load(Ordering::Acquire) > 0 {
            self.was_busy = true;
            return None;
        }
        if self.was_busy {
            self.was_busy = false;
            self.idle_since = Instant::now();
            self.head_started = None;
        }
        let idle = self.idle_since + self.limits.idle_timeout;
        Some(match self.head_started {
            Some(t) => idle.min(t + self.limits.header_timeout),
            None => idle,
        })
    }
}

impl<S> Timed<S> {
    /// A response still being written to a slow reader is progress, not idleness.
    fn wrote(&mut self, r: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        if let Poll::Ready(Ok(n)) = r
            && n > 0
        {
            self.idle_since = Instant::now();
        }
        r
    }

    fn timed_out(&self) -> io::Error {
        self.conn.timed_out.store(true, Ordering::Relaxed);
        io::Error::new(io::ErrorKind::TimedOut, "header-read or idle timeout")
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Timed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let deadline = this.deadline();
        if let Some(d) = deadline
            && Instant::now() >= d
        {
            return Poll::Ready(Err(this.timed_out()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if deadline.is_some() && this.head_started.is_none() && buf.filled().len() > before
                {
                    this.head_started = Some(Instant::now());
                }
                Poll::Ready(r)
            }
            Poll::Pending => match deadline {
                None => {
                    *this
                        .conn
                        .parked
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) =
                        Some(cx.waker().clone());
                    // Turned idle meanwhile: poll again so the idle deadline is armed.
                    if this.conn.in_flight.load(Ordering::Acquire) == 0 {
                        cx.waker().wake_by_ref();
                    }
                    Poll::Pending
                }
                Some(d) => {
                    if this.timer.deadline() != d {
                        this.timer.as_mut().reset(d);
                    }
                    match this.timer.as_mut().poll(cx) {
                        Poll::Ready(()) => Poll::Ready(Err(this.timed_out())),
                        Poll::Pending => Poll::Pending,
                    }
                }
            },
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Timed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.wrote(r)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.wrote(r)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
