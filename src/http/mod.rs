//! The operations endpoint (`[http] bind` / `--http`): `GET /metrics` in Prometheus text
//! format 0.0.4, `/healthz` (the process serves) and `/readyz` (listeners bound, store
//! usable, not shutting down). HTTP/1.1 by hyper on the broker's runtime. A scrape reads
//! counters and gauges the core keeps anyway: it costs the same at 10 clients as at
//! 20,000, and never asks the router anything.
//!
//! Requests are bounded: at most 8 KiB of request line and headers (hyper answers 431),
//! headers within 5 s, a connection at most 30 s, and [`MAX_CONNECTIONS`] at once, so a
//! slow or idle client cannot hold a scrape up or take descriptors from MQTT.

mod metrics;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

use crate::broker::Broker;

/// Request line and headers, at most (hyper's default buffer is far larger).
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Connections served at once; more wait in the kernel's backlog.
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
    let mut shutdown = state.shutdown.clone();
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
        };
        let Ok((stream, _)) = accepted else {
            // Out of descriptors and the like: try again shortly, never spin.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
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
