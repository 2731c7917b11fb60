//! The HTTP server of `--metrics-addr`: axum on hyper, on a small tokio
//! runtime of its own thread (the pipeline's stages are plain threads; only
//! this server is async).
//!
//! - `/metrics`: every metric, in the OpenMetrics text format Prometheus
//!   scrapes.
//! - `/health/live`: 200 while the process runs.
//! - `/health/ready`: 200 when every pipeline is ready ([`super::Health`]),
//!   else 503 with the reasons, one a line.
//! - `/`: the status page (with `/status.js` and `/status.css`), which polls
//!   `/status.json`.
//!
//! The port may be reached by anyone on the network, so it is bounded:
//! at most [`MAX_CONNECTIONS`] are served at once (the next wait in the
//! kernel's backlog, holding no descriptor of the process), a client has
//! [`HEADER_READ_TIMEOUT`] to send a request's headers (hyper's own
//! timer), and a connection lives at most [`CONNECTION_LIFETIME`]. Who may
//! read what is the `access` module's: the `Host` header, the bearer token
//! and the headers of every answer.
//!
//! The listener is bound before the pipeline starts, so a taken port is a
//! start-up error; the server stops when its [`Server`] drops.

mod access;

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::middleware::{from_fn_with_state, map_response};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

pub use access::{Token, TokenError};

use super::Metrics;
use super::status::{self, History};

/// Connections served at once: Prometheus, a few probes and browsers need a
/// handful; the bound keeps idle or half-sent connections from using up the
/// process's file descriptors, which the landing zone needs.
pub const MAX_CONNECTIONS: usize = 128;
/// How long a client may take to send a request's headers, from the
/// connection's start or the previous answer; then the connection closes.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest a connection is kept: then it is closed once its request in
/// progress is answered, so a client that never reads cannot hold a slot.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(30);
/// How long a request in progress may take to finish after the lifetime.
const CLOSING_GRACE: Duration = Duration::from_secs(5);
/// The wait before accepting again after `accept` failed (out of descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// OpenMetrics' content type, which Prometheus asks for.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The address is taken or not ours.
    #[error("cannot listen on --metrics-addr {addr}: {reason}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        reason: std::io::Error,
    },
    /// The runtime or its thread could not be created.
    #[error("cannot start the metrics server: {0}")]
    Start(std::io::Error),
}

/// The running server; dropping it stops it.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug, Clone)]
struct App {
    metrics: Arc<Metrics>,
    history: Arc<History>,
}

impl Server {
    /// Binds `addr` and serves `metrics` from a thread of its own; with a
    /// `token`, its data only to clients that present it.
    pub fn start(addr: SocketAddr, token: Option<Token>, metrics: Arc<Metrics>) -> Result<Self, ServerError> {
        let listener = std::net::TcpListener::bind(addr).map_err(|reason| ServerError::Bind { addr, reason })?;
        let addr = listener.local_addr().map_err(ServerError::Start)?;
        listener.set_nonblocking(true).map_err(ServerError::Start)?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(ServerError::Start)?;
        let (stop, stopped) = oneshot::channel::<()>();
        let app = App { history: Arc::new(History::default()), metrics };
        let authenticated = token.is_some();
        let thread = std::thread::Builder::new()
            .name("http".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(e) => return tracing::error!(error = %e, "cannot serve --metrics-addr"),
                    };
                    tokio::spawn(status::sample(app.metrics.clone(), app.history.clone()));
                    let serving = tokio::spawn(serve(listener, router(app, access::Access::new(token))));
                    let _ = stopped.await;
                    serving.abort();
                });
            })
            .map_err(ServerError::Start)?;
        tracing::info!(%addr, authenticated, "serving metrics, health and the status page");
        Ok(Server { addr, stop: Some(stop), thread: Some(thread) })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Accepts connections while fewer than [`MAX_CONNECTIONS`] are open.
async fn serve(listener: TcpListener, router: Router) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let slot = slots.clone().acquire_owned().await.expect("the semaphore is never closed");
        match listener.accept().await {
            Ok((stream, _)) => drop(tokio::spawn(connection(stream, router.clone(), slot))),
            Err(e) => {
                tracing::warn!(error = %e, "cannot accept a connection on --metrics-addr");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// Serves one connection with hyper's header-read timeout, for at most
/// [`CONNECTION_LIFETIME`]; its slot is free when it ends.
async fn connection(stream: TcpStream, router: Router, _slot: OwnedSemaphorePermit) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
    let conn = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(router));
    let mut conn = std::pin::pin!(conn);
    if tokio::time::timeout(CONNECTION_LIFETIME, conn.as_mut()).await.is_err() {
        conn.as_mut().graceful_shutdown();
        let _ = tokio::time::timeout(CLOSING_GRACE, conn).await;
    }
}

fn router(app: App, rules: Arc<access::Access>) -> Router {
    let host = || from_fn_with_state(rules.clone(), access::check_host);
    let data = Router::new()
        .route("/metrics", get(metrics))
        .route("/health/ready", get(ready))
        .route("/status.json", get(status_json).layer(host()))
        .route_layer(from_fn_with_state(rules.clone(), access::check_token));
    let page = Router::new()
        .route("/", get(|| async { Html(include_str!("status.html")) }))
        .route("/status.js", get(|| async { ([(header::CONTENT_TYPE, "text/javascript")], include_str!("status.js")) }))
        .route("/status.css", get(|| async { ([(header::CONTENT_TYPE, "text/css")], include_str!("status.css")) }))
        .route_layer(host());
    Router::new()
        .route("/health/live", get(|| async { "live\n" }))
        .merge(data)
        .merge(page)
        .with_state(app)
        .layer(map_response(access::headers))
}

async fn metrics(State(app): State<App>) -> Response {
    ([(header::CONTENT_TYPE, OPENMETRICS)], app.metrics.encode()).into_response()
}

async fn ready(State(app): State<App>) -> Response {
    let problems: Vec<String> = app
        .metrics
        .pipelines()
        .iter()
        .flat_map(|p| p.health.problems().into_iter().map(|why| format!("pipeline {}: {why}\n", p.name)))
        .collect();
    match problems.is_empty() {
        true => (StatusCode::OK, "ready\n".to_owned()).into_response(),
        false => (StatusCode::SERVICE_UNAVAILABLE, problems.concat()).into_response(),
    }
}

async fn status_json(State(app): State<App>) -> Response {
    axum::Json(status::status(&app.metrics, &app.history)).into_response()
}
