//! What clap does not check by itself: which flags may stand beside
//! `--config` (the process-wide ones, [`BESIDE_CONFIG`]), and the value of
//! `--metrics-addr`.

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};

use super::{CONFIG_FILE, Cli};

/// The ids of `sluice run`'s flags that are the process's, not a pipeline's,
/// and so may stand beside `--config` (`--log-format` is global). They win
/// over the file's keys of the same name.
pub const BESIDE_CONFIG: [&str; 4] = ["metrics_addr", "metrics_token_file", "host_id", "on_pipeline_failure"];

impl Cli {
    /// Parses the process's arguments, refusing a pipeline's flags beside
    /// `--config` (clap's own conflicts count defaulted flags as given).
    pub fn parse_checked() -> Cli {
        let mut command = Cli::command();
        let matches = command.get_matches_mut();
        let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.format(&mut command).exit());
        if let Some((name, sub)) = matches.subcommand()
            && sub.get_one::<std::path::PathBuf>(CONFIG_FILE).is_some()
        {
            let given = beside_config(command.find_subcommand(name).expect("the parsed subcommand"), sub);
            if !given.is_empty() {
                let beside = match name {
                    "run" => {
                        " (beside it go only the process's flags: --metrics-addr, --metrics-token-file, \
                               --host-id, --on-pipeline-failure, --log-format)"
                    }
                    _ => "",
                };
                let message = format!(
                    "`sluice {name} --config` takes each pipeline's settings from the file; remove {}{beside}",
                    given.join(", ")
                );
                command.error(clap::error::ErrorKind::ArgumentConflict, message).exit();
            }
        }
        cli
    }
}

/// The pipeline flags typed beside `--config`, as `--long` names.
fn beside_config(command: &clap::Command, matches: &ArgMatches) -> Vec<String> {
    let pipeline_flag = |arg: &&clap::Arg| {
        let id = arg.get_id().as_str();
        id != CONFIG_FILE && !BESIDE_CONFIG.contains(&id) && !arg.is_global_set()
    };
    command
        .get_arguments()
        .filter(pipeline_flag)
        .filter(|arg| matches.value_source(arg.get_id().as_str()) == Some(ValueSource::CommandLine))
        .filter_map(|arg| arg.get_long().map(|long| format!("--{long}")))
        .collect()
}

/// `--metrics-addr`: `HOST:PORT`, or a bare port (`9898`, `:9898`) bound to
/// 127.0.0.1, never to every interface by accident.
pub fn parse_metrics_addr(text: &str) -> Result<std::net::SocketAddr, String> {
    let bare = text.strip_prefix(':').unwrap_or(text);
    if let Ok(port) = bare.parse::<u16>() {
        return Ok(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    }
    text.parse().map_err(|_| format!("expected HOST:PORT (e.g. 127.0.0.1:9898) or a port, got `{text}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_metrics_port_binds_loopback_only() {
        for bare in ["9898", ":9898"] {
            assert_eq!(parse_metrics_addr(bare).unwrap().to_string(), "127.0.0.1:9898");
        }
        assert_eq!(parse_metrics_addr("0.0.0.0:9898").unwrap().to_string(), "0.0.0.0:9898");
        assert_eq!(parse_metrics_addr("[::1]:9898").unwrap().to_string(), "[::1]:9898");
        let err = parse_metrics_addr("localhost").unwrap_err();
        assert_eq!(err, "expected HOST:PORT (e.g. 127.0.0.1:9898) or a port, got `localhost`");
    }

    #[test]
    fn process_flags_may_stand_beside_config_and_pipeline_flags_may_not() {
        let given = |argv: &[&str]| {
            let command = Cli::command();
            let matches = command.clone().try_get_matches_from(argv).unwrap();
            let (name, sub) = matches.subcommand().unwrap();
            beside_config(command.find_subcommand(name).unwrap(), sub)
        };
        let process = ["sluice", "run", "--config", "f.toml", "--metrics-addr", "9898", "--host-id", "h1"];
        assert!(given(&process).is_empty());
        assert!(
            given(&[&process[..], &["--on-pipeline-failure", "continue", "--log-format", "json"]].concat()).is_empty()
        );
        assert_eq!(
            given(&["sluice", "run", "--config", "f.toml", "-t", "x", "--settle-ms", "5"]),
            ["--topic", "--settle-ms"]
        );
    }
}
