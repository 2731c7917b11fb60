//! The `sluice` command: parse flags, set up logging, run, map the outcome
//! to an exit code.

use std::process::ExitCode;

use clap::Parser;
use sluice::cli::{Cli, Command};
use sluice::config::{RunConfig, TransformConfig};
use sluice::shutdown::Shutdown;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
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
    let shutdown = Shutdown::new();
    shutdown.on_signals()?;
    let summary = sluice::pipeline::run(config, shutdown)?;
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

fn init_tracing() {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("SLUICE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}
