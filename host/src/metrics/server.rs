//! The HTTP server of `--metrics-addr`: axum on a small tokio runtime of its
//! own thread (the pipeline's stages are plain threads; only this server is
//! async).
//!
//! - `/metrics`: every metric, in the OpenMetrics text format Prometheus
//!   scrapes.
//! - `/health/live`: 200 while the process runs.
//! - `/health/ready`: 200 when every pipeline is ready ([`super::Health`]),
//!   else 503 with the reasons, one a line.
//! - `/`: the status page, which polls `/status.json`.
//!
//! The listener is bound before the pipeline starts, so a taken port is a
//! start-up error; the server stops when its [`Server`] drops.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use super::Metrics;
use super::status::{self, History};

/// OpenMetrics' content type, which Prometheus asks for.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The address is taken or not ours.
    #[error("cannot listen on --metrics-addr {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
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
    /// Binds `addr` and serves `metrics` from a thread of its own.
    pub fn start(addr: SocketAddr, metrics: Arc<Metrics>) -> Result<Self, ServerError> {
        let listener = std::net::TcpListener::bind(addr).map_err(|source| ServerError::Bind { addr, source })?;
        let addr = listener.local_addr().map_err(ServerError::Start)?;
        listener.set_nonblocking(true).map_err(ServerError::Start)?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(ServerError::Start)?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = App { history: Arc::new(History::default()), metrics };
        let thread = std::thread::Builder::new()
            .name("http".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(e) => return tracing::error!(error = %e, "cannot serve --metrics-addr"),
                    };
                    tokio::spawn(status::sample(app.metrics.clone(), app.history.clone()));
                    let served = axum::serve(listener, router(app)).with_graceful_shutdown(async {
                        let _ = stopped.await;
                    });
                    if let Err(e) = served.await {
                        tracing::error!(error = %e, "the metrics server failed");
                    }
                });
            })
            .map_err(ServerError::Start)?;
        tracing::info!(%addr, "serving metrics, health and the status page");
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

fn router(app: App) -> Router {
    Router::new()
        .route("/", get(|| async { Html(include_str!("status.html")) }))
        .route("/metrics", get(metrics))
        .route("/health/live", get(|| async { "live\n" }))
        .route("/health/ready", get(ready))
        .route("/status.json", get(status_json))
        .with_state(app)
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
