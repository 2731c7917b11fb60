//! The `sluice` command: parse flags, set up logging, run, map the outcome
//! to an exit code.

use std::process::ExitCode;

use clap::Parser;
use sluice::cli::{Cli, Command};
use std::sync::Arc;

use sluice::cli::LogFormat;
use sluice::config::{RunConfig, TransformConfig};
use sluice::metrics::Metrics;
use sluice::metrics::server::Server;
use sluice::shutdown::Shutdown;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    let result = match cli.command {
        Command::Run(args) => run(&args).map(|()| ExitCode::SUCCESS),
        Command::Check(args) => check(&args.transform).map(|()| ExitCode::SUCCESS),
        // A mismatch with --expect is a failed test, not an error.
        Command::Test(args) => {
            sluice::test_cmd::run(&args).map(|all_match| if all_match { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &sluice::cli::RunArgs) -> anyhow::Result<()> {
    let config = RunConfig::from_args(args)?;
    let metrics = Arc::new(Metrics::new());
    let pipeline = metrics.pipeline(&config.pipeline, &config.kafka.topic, config.source.dir.clone());
    let _bar = sluice::progress::bar::Bar::start(pipeline.clone());
    // Bound before anything moves, so a taken port is a start-up error; it
    // answers until the pipeline has stopped.
    let _server = config.metrics_addr.map(|addr| Server::start(addr, metrics.clone())).transpose()?;
    let shutdown = Shutdown::new();
    shutdown.on_signals()?;
    let summary = sluice::pipeline::run(config, shutdown, pipeline)?;
    tracing::info!(
        records = summary.records,
        published = summary.published,
        filtered = summary.filtered,
        dead_letters = summary.dead_letters,
        "stopped cleanly"
    );
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
    let filter = EnvFilter::try_from_env("SLUICE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(sluice::progress::bar::log_writer)
        .with_target(false);
    match format {
        LogFormat::Text => fmt.with_ansi(std::io::stderr().is_terminal()).init(),
        // One object a line; the event's fields flattened beside the message.
        LogFormat::Json => fmt.json().flatten_event(true).with_current_span(false).init(),
    }
}
