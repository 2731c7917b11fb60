//! The process's pipelines: `sluice run` with one pipeline's flags or a
//! config file of several, and `sluice check`.
//!
//! The process owns the shutdown signal (SIGTERM and SIGINT), the metrics
//! registry and its HTTP server, and a progress bar per pipeline
//! ([`Bar`], drawn only on a terminal); it hands each pipeline its handles
//! and runs it with [`super::run`]. The pipelines of a config file run on a
//! thread each. One that fails stops with its reason; by default
//! (`on_pipeline_failure = "stop"`) the others are then stopped too, so the
//! process exits 1 and a supervisor restarts it (as Vector and Flink stop on
//! a failed component), and with `"continue"` they go on. The run ends when
//! all have stopped, with an error naming those that failed. Each pipeline's
//! setup ([`About`], secrets redacted) and end ([`Phase`]) go to its metrics
//! for the status page.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;

use crate::cli::{OnPipelineFailure, RunArgs, RunCmd, TransformArgs};
use crate::config::file::{ConfigFile, PipelineEntry};
use crate::config::{RunConfig, TransformConfig, secrets};
use crate::metrics::server::{Server, Token};
use crate::metrics::{About, Metrics, Phase, PipelineMetrics};
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
    pipeline.describe(about(&config));
    let _bar = Bar::start(pipeline.clone());
    // Bound before anything moves, so a taken port is a start-up error; it
    // answers until the pipeline has stopped.
    let _server = serve(config.metrics_addr, config.metrics_token_file.as_deref(), &metrics)?;
    let summary = super::run(config, shutdown, pipeline)?;
    log_summary(&summary, "stopped cleanly");
    Ok(())
}

/// `sluice run --config`: every pipeline of the file (with the process's
/// flags of `cmd` beside it), each on its own thread with its own bar. One
/// that fails stops with its reason, and the others with it unless the
/// file says `on_pipeline_failure = "continue"`; an error once all have
/// stopped if any failed.
pub fn run_file(path: &Path, cmd: &RunCmd) -> anyhow::Result<()> {
    let shutdown = Shutdown::new();
    shutdown.on_signals()?;
    let file = ConfigFile::load(path)?.with_process_flags(cmd);
    let configs = pipeline_configs(&file)?;
    let metrics = Arc::new(Metrics::new());
    let _server = serve(file.metrics_addr, file.metrics_token_file.as_deref(), &metrics)?;
    let policy = file.on_pipeline_failure;
    tracing::info!(file = %path.display(), pipelines = configs.len(), on_pipeline_failure = ?policy, "running the config file's pipelines");
    let ending = Arc::new(Ending { shutdown: shutdown.clone(), policy, first_failed: Default::default() });
    let mut running = Vec::new();
    for (entry, config) in configs {
        let name = entry.name.clone();
        let counters = metrics.pipeline(&name, &config.kafka.topic, config.source.dir.clone());
        counters.describe(about(&config));
        let bar = Bar::start(counters.clone());
        let (stop, ending) = (shutdown.child(), ending.clone());
        let span = tracing::info_span!("pipeline", name = %name);
        let thread = std::thread::Builder::new()
            .name(format!("pipeline {name}"))
            .spawn(move || span.in_scope(|| ending.run(config, stop, counters)))?;
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
    let others = match policy {
        OnPipelineFailure::Stop => "the others were stopped (on_pipeline_failure = \"stop\")",
        OnPipelineFailure::Continue => "the others ran on until stopped (on_pipeline_failure = \"continue\")",
    };
    anyhow::ensure!(
        failed.is_empty(),
        "{} of the file's pipelines failed: {}; {others}",
        failed.len(),
        failed.join(", ")
    );
    Ok(())
}

/// How the pipelines of a file end: the process's shutdown, what one
/// failure does to the others, and the first that failed.
struct Ending {
    shutdown: Shutdown,
    policy: OnPipelineFailure,
    first_failed: std::sync::Mutex<Option<String>>,
}

impl Ending {
    /// One pipeline of a file, to its end; whether it stopped cleanly.
    fn run(&self, config: RunConfig, stop: Shutdown, metrics: Arc<PipelineMetrics>) -> bool {
        let name = config.pipeline.clone();
        match super::run(config, stop, metrics.clone()) {
            Ok(summary) => {
                log_summary(&summary, "pipeline stopped cleanly");
                let first = self.first_failed.lock().unwrap_or_else(|e| e.into_inner()).clone();
                metrics.ended(Phase::Stopped(match first {
                    Some(failed) => format!("pipeline `{failed}` failed and on_pipeline_failure is \"stop\""),
                    None => "asked to stop (SIGTERM or SIGINT)".to_owned(),
                }));
                true
            }
            Err(error) => {
                let error = format!("{error:#}");
                metrics.ended(Phase::Failed(error.clone()));
                match self.policy {
                    OnPipelineFailure::Continue => {
                        tracing::error!(error, "pipeline failed and stopped; the others go on");
                    }
                    OnPipelineFailure::Stop => {
                        tracing::error!(error, "pipeline failed and stopped; stopping the others");
                        self.first_failed.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(name);
                        self.shutdown.trigger();
                    }
                }
                false
            }
        }
    }
}

/// How `config` is set up, for the status page: the transform's config
/// with the values of keys named like secrets redacted.
fn about(config: &RunConfig) -> About {
    let transform_config =
        config.transform.config.iter().map(|(k, v)| (k.clone(), secrets::transform_value(k, v).to_owned())).collect();
    About {
        delivery: if config.exactly_once.is_some() { "exactly-once" } else { "at-least-once" },
        transform: config.transform.path.display().to_string(),
        transform_config,
        kafka_servers: config.kafka.get("bootstrap.servers").unwrap_or_default().to_owned(),
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
        let zone = crate::zone::of(&config.source, &PipelineMetrics::detached()).with_context(|| file.locate(entry))?;
        zone.check().with_context(|| file.locate(entry))?;
        let transformer = Transformer::new(&config.transform).with_context(|| file.locate(entry))?;
        let properties: std::collections::BTreeSet<&str> =
            config.kafka.properties.iter().map(|(k, _)| k.as_str()).collect();
        println!("pipeline {}: ok", entry.name);
        println!("  settings: valid");
        println!("  kafka: {} properties valid by librdkafka's rules (no broker contacted)", properties.len());
        let kind = if config.source.store.is_some() { "can be listed" } else { "is a directory" };
        println!("  landing zone: {} {kind}", config.source.dir.display());
        println!(
            "  module: {} loads ({}) and its init accepts the config",
            transformer.path().display(),
            transformer.interface()
        );
    }
    let noun = if configs.len() == 1 { "pipeline" } else { "pipelines" };
    println!("{}: ok ({} {noun})", path.display(), configs.len());
    Ok(())
}

/// `sluice check`: the module and its settings, no broker.
pub fn check(args: &TransformArgs) -> anyhow::Result<()> {
    let config = TransformConfig::from_args(args)?;
    let transformer = Transformer::new(&config)?;
    println!("{}: ok ({})", transformer.path().display(), transformer.interface());
    Ok(())
}
