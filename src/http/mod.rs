//! The operations endpoint (`[http] bind` / `--http`): `GET /metrics` in Prometheus text
//! format 0.0.4, `/healthz` (the process serves) and `/readyz` (listeners bound, store
//! usable, not shutting down). HTTP/1.1 by hyper on the broker's runtime. A scrape reads
//! counters and gauges the core keeps anyway: it costs the same at 10 clients as at
//! 20,000, and never asks the router anything.
//!
//! Requests are bounded: at most 8 KiB of request line and headers (hyper answers 431),
//! headers within 5 s, a connection at most 30 s, and [`MAX_CONNECTIONS`] at once, so a
//! slow or idle client cannot take descriptors from MQTT. When all are taken, the one
//! that has been silent longest is closed for the newcomer: idle sockets never hold a
//! scrape up.

mod metrics;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, Semaphore};

use crate::broker::Broker;

/// Request line and headers, at most (hyper's default buffer is far larger).
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Connections open at once; beyond, a silent one is closed or the newcomer waits.
pub const MAX_CONNECTIONS: usize = 64;
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
#[error("cannot serve HTTP on {addr}: {source}")]
pub struct Error {
    pub addr: SocketAddr,
    pub source: std::io::Error,
}

/// What the endpoint reads.
struct State {
    metrics: metrics::Sources,
    /// True once the broker shuts down.
    shutdown: watch::Receiver<bool>,
}

/// Bind `addr` and serve until the broker shuts down; returns the bound address.
///
/// # Errors
/// The address cannot be bound.
pub async fn start(addr: SocketAddr, broker: &Broker) -> Result<SocketAddr, Error> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| Error { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| Error { addr, source })?;
    let state = Arc::new(State {
        metrics: metrics::Sources::of(broker),
        shutdown: broker.shutting_down(),
    });
    tracing::info!(address = %bound, "operations endpoint: /metrics /healthz /readyz");
    tokio::spawn(accept_loop(listener, state));
    Ok(bound)
}

async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let idle = Arc::new(Idle::default());
    let mut shutdown = state.shutdown.clone();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
        };
        let Ok((stream, _)) = accepted else {
            // Out of descriptors and the like: try again shortly, never spin.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        // All slots taken: the connection that has been silent longest makes room, so
        // idle sockets cannot keep a scrape out. Only when every slot is busy with a
        // request does the newcomer wait.
        let permit = match slots.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                idle.evict_oldest();
                let Ok(p) = slots.clone().acquire_owned().await else {
                    return;
                };
                p
            }
        };
        let state = state.clone();
        let idle = idle.clone();
        // Registered here, not in the task: the next accept may need to evict it before
        // the task first runs.
        let (id, evicted) = idle.register();
        tokio::spawn(async move {
            if !idle.first_byte(&stream, id, &evicted).await {
                return;
            }
            let service = hyper::service::service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(respond(&state, &req)) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .max_buf_size(MAX_HEAD_BYTES)
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_TIMEOUT, conn).await;
            drop(permit);
        });
    }
}

/// Connections that have not sent a byte yet, oldest first, each with the signal that
/// closes it.
#[derive(Default)]
struct Idle {
    waiting: Mutex<BTreeMap<u64, Arc<Notify>>>,
    next: AtomicU64,
}

impl Idle {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Notify>>> {
        self.waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A new connection, silent so far: its id and the signal that evicts it.
    fn register(&self) -> (u64, Arc<Notify>) {
        let id = self.next.fetch_add(1, Relaxed);
        let evicted = Arc::new(Notify::new());
        self.lock().insert(id, evicted.clone());
        (id, evicted)
    }

    /// Waits until `stream` has something to read: false when it stayed silent for
    /// [`HEADER_TIMEOUT`] or was evicted to make room.
    async fn first_byte(&self, stream: &TcpStream, id: u64, evicted: &Notify) -> bool {
        // peek, not readable(): a new socket's readiness may be reported before any data.
        let mut byte = [0; 1];
        let spoke = tokio::select! {
            // A request that arrives as it is evicted is served.
            biased;
            r = stream.peek(&mut byte) => matches!(r, Ok(n) if n > 0),
            () = evicted.notified() => false,
            () = tokio::time::sleep(HEADER_TIMEOUT) => false,
        };
        self.lock().remove(&id);
        spoke
    }

    /// Closes the connection that has been silent longest, if any.
    fn evict_oldest(&self) {
        if let Some((_, evicted)) = self.lock().pop_first() {
            // notify_one keeps the wake-up even if the task is not waiting yet.
            evicted.notify_one();
        }
    }
}

fn respond(state: &State, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    if !matches!(path, "/metrics" | "/healthz" | "/readyz") {
        return text(
            StatusCode::NOT_FOUND,
            "not found: /metrics, /healthz, /readyz\n",
        );
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "GET only\n");
        r.headers_mut().insert(
            hyper::header::ALLOW,
            hyper::header::HeaderValue::from_static("GET, HEAD"),
        );
        return r;
    }
    match path {
        "/metrics" => {
            let mut r = Response::new(Full::new(Bytes::from(state.metrics.render())));
            r.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            r
        }
        "/healthz" => text(StatusCode::OK, "ok\n"),
        _ => match state.metrics.not_ready(*state.shutdown.borrow()) {
            None => text(StatusCode::OK, "ready\n"),
            Some(why) => text(StatusCode::SERVICE_UNAVAILABLE, why),
        },
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}
