//! The `sluice` command: parse flags, set up logging, run, map the outcome
//! to an exit code.

mod log_text;

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use sluice::cli::{Cli, Command};
use std::sync::Arc;

use sluice::cli::LogFormat;
use sluice::config::file::{ConfigFile, PipelineEntry};
use sluice::config::{RunConfig, TransformConfig};
use sluice::metrics::Metrics;
use sluice::metrics::server::{Server, Token};
use sluice::shutdown::Shutdown;

fn main() -> ExitCode {
    let cli = Cli::parse_checked();
    init_tracing(cli.log_format);
    let result = match cli.command {
        // `parse_checked` refuses --config beside a pipeline's flags.
        Command::Run(cmd) => match &cmd.config {
            Some(path) => run_file(path),
            None => run(&cmd.pipeline).map(|()| ExitCode::SUCCESS),
        },
        Command::Check(args) => match &args.config {
            Some(path) => check_file(path).map(|()| ExitCode::SUCCESS),
            None => check(&args.transform).map(|()| ExitCode::SUCCESS),
        },
        // A mismatch with --expect is a failed test, not an error.
        Command::Test(args) => {
            sluice::test_cmd::run(&args).map(|all_match| if all_match { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("error: {}", log_text::escaped(&format!("{error:#}")));
            ExitCode::FAILURE
        }
    }
}

fn run(args: &sluice::cli::RunArgs) -> anyhow::Result<()> {
    // First, so that a SIGTERM during start-up is a stop too.
    let shutdown = Shutdown::new();
    shutdown.on_signals()?;
    let config = RunConfig::from_args(args)?;
    let metrics = Arc::new(Metrics::new());
    let pipeline = metrics.pipeline(&config.pipeline, &config.kafka.topic, config.source.dir.clone());
    let _bar = sluice::progress::bar::Bar::start(pipeline.clone());
    // Bound before anything moves, so a taken port is a start-up error; it
    // answers until the pipeline has stopped.
    let _server = serve(config.metrics_addr, config.metrics_token_file.as_deref(), &metrics)?;
    let summary = sluice::pipeline::run(config, shutdown, pipeline)?;
    log_summary(&summary, "stopped cleanly");
    Ok(())
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

fn log_summary(summary: &sluice::pump::Summary, what: &str) {
    let sluice::pump::Summary { records, published, filtered, dead_letters } = summary;
    tracing::info!(records, published, filtered, dead_letters, "{what}");
}

/// Runs every pipeline of a config file, each on its own thread. One that
/// fails stops with its reason and the others go on; the process exits
/// when all have stopped, with failure if any failed.
fn run_file(path: &Path) -> anyhow::Result<ExitCode> {
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
        let stop = shutdown.child();
        let span = tracing::info_span!("pipeline", name = %name);
        let thread = std::thread::Builder::new()
            .name(format!("pipeline {name}"))
            .spawn(move || span.in_scope(|| run_pipeline(config, stop, counters)))?;
        running.push((name, thread));
    }
    let mut failed = Vec::new();
    for (name, thread) in running {
        match thread.join() {
            Ok(true) => {}
            Ok(false) => failed.push(name),
            Err(_) => {
                tracing::error!(pipeline = %name, "the pipeline's thread panicked");
                failed.push(name);
            }
        }
    }
    if failed.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let message = format!("{} of the file's pipelines failed: {}", failed.len(), failed.join(", "));
    tracing::error!("{message}");
    eprintln!("error: {message}");
    Ok(ExitCode::FAILURE)
}

/// One pipeline of a file, to its end; whether it stopped cleanly.
fn run_pipeline(config: RunConfig, stop: Shutdown, metrics: Arc<sluice::metrics::PipelineMetrics>) -> bool {
    match sluice::pipeline::run(config, stop, metrics) {
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

/// `sluice check --config`: every pipeline's settings and module, no broker.
fn check_file(path: &Path) -> anyhow::Result<()> {
    let file = ConfigFile::load(path)?;
    let configs = pipeline_configs(&file)?;
    for (entry, config) in &configs {
        let transformer = sluice::transform::Transformer::new(&config.transform).with_context(|| file.locate(entry))?;
        println!("pipeline {}: ok ({}: {})", entry.name, transformer.path().display(), transformer.interface());
    }
    println!("{}: ok ({} pipelines)", path.display(), configs.len());
    Ok(())
}

fn check(args: &sluice::cli::TransformArgs) -> anyhow::Result<()> {
    let config = TransformConfig::from_args(args)?;
    let transformer = sluice::transform::Transformer::new(&config)?;
    println!("{}: ok ({})", transformer.path().display(), transformer.interface());
    Ok(())
}

fn init_tracing(format: LogFormat) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::field::MakeExt;
    let filter = EnvFilter::try_from_env("SLUICE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(sluice::progress::bar::log_writer)
        .with_target(false);
    match format {
        // Field values and messages with their control characters escaped.
        LogFormat::Text => {
            let fields = tracing_subscriber::fmt::format::debug_fn(log_text::write_field).delimited(" ");
            fmt.fmt_fields(fields).with_ansi(std::io::stderr().is_terminal()).init()
        }
        // One object a line; the event's fields flattened beside the message.
        LogFormat::Json => fmt.json().flatten_event(true).with_current_span(false).init(),
    }
}
