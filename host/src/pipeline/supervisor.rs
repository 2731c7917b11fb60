//! The process's pipelines: `sluice run` with one pipeline's flags or a
//! config file of several, and `sluice check`.
//!
//! The process owns the shutdown signal (SIGTERM and SIGINT), the metrics
//! registry and its HTTP server, and a progress bar per pipeline
//! ([`Bar`], drawn only on a terminal); it hands each pipeline its handles
//! and runs it with [`super::run`]. The pipelines of a config file run on a
//! thread each: one that fails stops with its reason and the others go on;
//! the run ends when all have stopped, with an error naming those that failed.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;

use crate::cli::{RunArgs, TransformArgs};
use crate::config::file::{ConfigFile, PipelineEntry};
use crate::config::{RunConfig, TransformConfig};
use crate::metrics::server::{Server, Token};
use crate::metrics::{Metrics, PipelineMetrics};
use crate::progress::bar::Bar;
use crate::pump::Summary;
use crate::shutdown::Shutdown;
use crate::transform::Transformer;

/// `sluice run` with one pipeline's flags, until a signal or a failure.
pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    // First, so that a SIGTERM during start-up is a stop too.
    let shutdown = Shutdown::new();
    shutdown.on_signals()?;
    let config = RunConfig::from_args(args)?;
    let metrics = Arc::new(Metrics::new());
    let pipeline = metrics.pipeline(&config.pipeline, &config.kafka.topic, config.source.dir.clone());
    let _bar = Bar::start(pipeline.clone());
    // Bound before anything moves, so a taken port is a start-up error; it
    // answers until the pipeline has stopped.
    let _server = serve(config.metrics_addr, config.metrics_token_file.as_deref(), &metrics)?;
    let summary = super::run(config, shutdown, pipeline)?;
    log_summary(&summary, "stopped cleanly");
    Ok(())
}

/// `sluice run --config`: every pipeline of the file, each on its own
/// thread with its own bar. One that fails stops with its reason and the
/// others go on; an error once all have stopped if any failed.
pub fn run_file(path: &Path) -> anyhow::Result<()> {
    let shutdown = Shutdown::new();
    shutdown.on_signals()?;
    let file = ConfigFile::load(path)?;
    let configs = pipeline_configs(&file)?;
    let metrics = Arc::new(Metrics::new());
    let _server = serve(file.metrics_addr, file.metrics_token_file.as_deref(), &metrics)?;
    tracing::info!(file = %path.display(), pipelines = configs.len(), "running the config file's pipelines");
    let mut running = Vec::new();
    for (entry, config) in configs {
        let name = entry.name.clone();
        let counters = metrics.pipeline(&name, &config.kafka.topic, config.source.dir.clone());
        let bar = Bar::start(counters.clone());
        let stop = shutdown.child();
        let span = tracing::info_span!("pipeline", name = %name);
        let thread = std::thread::Builder::new()
            .name(format!("pipeline {name}"))
            .spawn(move || span.in_scope(|| run_pipeline(config, stop, counters)))?;
        running.push((name, thread, bar));
    }
    let mut failed = Vec::new();
    for (name, thread, _bar) in running {
        match thread.join() {
            Ok(true) => {}
            Ok(false) => failed.push(name),
            Err(_) => {
                tracing::error!(pipeline = %name, "the pipeline's thread panicked");
                failed.push(name);
            }
        }
    }
    anyhow::ensure!(failed.is_empty(), "{} of the file's pipelines failed: {}", failed.len(), failed.join(", "));
    Ok(())
}

/// One pipeline of a file, to its end; whether it stopped cleanly.
fn run_pipeline(config: RunConfig, stop: Shutdown, metrics: Arc<PipelineMetrics>) -> bool {
    match super::run(config, stop, metrics) {
        Ok(summary) => {
            log_summary(&summary, "pipeline stopped cleanly");
            true
        }
        Err(error) => {
            tracing::error!(error = %format!("{error:#}"), "pipeline failed and stopped; the others go on");
            false
        }
    }
}

/// Every pipeline's validated config, an error naming the pipeline and line if any is bad.
fn pipeline_configs<'a>(file: &'a ConfigFile) -> anyhow::Result<Vec<(&'a PipelineEntry, RunConfig)>> {
    let config = |entry: &'a PipelineEntry| {
        RunConfig::from_args(&entry.args).map(|c| (entry, c)).with_context(|| file.locate(entry))
    };
    file.pipelines.iter().map(config).collect()
}

/// Starts the metrics server if an address is given, with the token of `token_file`.
fn serve(
    addr: Option<SocketAddr>,
    token_file: Option<&Path>,
    metrics: &Arc<Metrics>,
) -> anyhow::Result<Option<Server>> {
    let Some(addr) = addr else {
        anyhow::ensure!(token_file.is_none(), "--metrics-token-file needs --metrics-addr, the address it protects");
        return Ok(None);
    };
    let token = token_file.map(Token::read).transpose()?;
    Ok(Some(Server::start(addr, token, metrics.clone())?))
}

fn log_summary(summary: &Summary, what: &str) {
    let Summary { records, published, filtered, dead_letters } = summary;
    tracing::info!(records, published, filtered, dead_letters, "{what}");
}

/// `sluice check --config`: every pipeline's settings (its Kafka
/// properties by librdkafka's rules), its landing zone and its module, no
/// broker; prints what it checked.
pub fn check_file(path: &Path) -> anyhow::Result<()> {
    let file = ConfigFile::load(path)?;
    let configs = pipeline_configs(&file)?;
    for (entry, config) in &configs {
        crate::zone::of(&config.source).check().with_context(|| file.locate(entry))?;
        let transformer = Transformer::new(&config.transform).with_context(|| file.locate(entry))?;
        let properties: std::collections::BTreeSet<&str> =
            config.kafka.properties.iter().map(|(k, _)| k.as_str()).collect();
        println!("pipeline {}: ok", entry.name);
        println!("  settings: valid");
        println!("  kafka: {} properties valid by librdkafka's rules (no broker contacted)", properties.len());
        println!("  landing zone: {} is a directory", config.source.dir.display());
        println!(
            "  module: {} loads ({}) and its init accepts the config",
            transformer.path().display(),
            transformer.interface()
        );
    }
    println!("{}: ok ({} pipelines)", path.display(), configs.len());
    Ok(())
}

/// `sluice check`: the module and its settings, no broker.
pub fn check(args: &TransformArgs) -> anyhow::Result<()> {
    let config = TransformConfig::from_args(args)?;
    let transformer = Transformer::new(&config)?;
    println!("{}: ok ({})", transformer.path().display(), transformer.interface());
    Ok(())
}
