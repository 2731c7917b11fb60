//! The `sluice` command: parse flags, set up logging, run, map the outcome
//! to an exit code. What runs is in the library ([`sluice::pipeline::supervisor`]).

// Functions stay under 60 lines (host/clippy.toml); split one by its steps.
#![warn(clippy::too_many_lines)]

use std::process::ExitCode;

use sluice::cli::{Cli, Command, LogFormat};
use sluice::log_text;
use sluice::pipeline::supervisor;

fn main() -> ExitCode {
    let cli = Cli::parse_checked();
    init_tracing(cli.log_format);
    let result = match cli.command {
        // `parse_checked` refuses --config beside a pipeline's flags.
        Command::Run(cmd) => match &cmd.config {
            Some(path) => supervisor::run_file(path, &cmd),
            None => supervisor::run(&cmd.pipeline),
        }
        .map(|()| ExitCode::SUCCESS),
        Command::Check(args) => match &args.config {
            Some(path) => supervisor::check_file(path),
            None => supervisor::check(&args.transform),
        }
        .map(|()| ExitCode::SUCCESS),
        // A mismatch with --expect is a failed test, not an error.
        Command::Test(args) => {
            sluice::test_cmd::run(&args).map(|all_match| if all_match { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            // Once: a plain line for a person, a JSON object for a collector
            // (whose every line must be one).
            match cli.log_format {
                LogFormat::Text => eprintln!("error: {}", log_text::escaped(&format!("{error:#}"))),
                LogFormat::Json => tracing::error!(exit_code = 1, "{error:#}"),
            }
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(format: LogFormat) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::field::MakeExt;
    let mut filter = EnvFilter::try_from_env("SLUICE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // The AWS SDK (the SQS notifications) traces its requests and their
    // canonical form, session token and all: whatever SLUICE_LOG asks, it
    // logs nothing below info (a target matches the directives it starts with).
    for quiet in ["aws_sigv4=info", "aws_smithy=info", "aws_runtime=info", "aws_config=info", "aws_sdk=info"] {
        if let Ok(quiet) = quiet.parse() {
            filter = filter.add_directive(quiet);
        }
    }
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
