//! The flags a config file's pipeline keys stand for, read off `sluice
//! run`'s clap definition, with a did-you-mean for a key that is none.

use std::collections::BTreeMap;

use clap::{ArgAction, Args};

use super::NAME;
use crate::cli::RunArgs;

/// What one `sluice run` flag accepts, read off its clap definition.
#[derive(Debug, Clone)]
pub(super) struct Flag {
    pub(super) long: String,
    /// A switch: `true` gives the bare flag.
    pub(super) switch: bool,
    /// Takes `KEY=VALUE`: given as a table.
    pub(super) pairs: bool,
    /// May be given more than once: an array gives it once per element.
    pub(super) repeatable: bool,
}

#[derive(Debug)]
pub(super) struct Flags {
    pub(super) command: clap::Command,
    /// By config key (snake_case).
    pub(super) by_key: BTreeMap<String, Flag>,
}

impl Flags {
    pub(super) fn of_run() -> Flags {
        let command = clap::Command::new("sluice run").no_binary_name(true).disable_help_flag(true);
        let command = RunArgs::augment_args(command);
        let by_key = command
            .get_arguments()
            .flat_map(|arg| {
                let long = arg.get_long().map(str::to_owned);
                let action = arg.get_action();
                let pairs = arg.get_value_names().is_some_and(|names| names.iter().any(|n| n == "KEY=VALUE"));
                let flag = long.map(|long| Flag {
                    long,
                    switch: matches!(action, ArgAction::SetTrue),
                    pairs,
                    repeatable: matches!(action, ArgAction::Append),
                });
                // A visible alias (`--storage-options`) is a key too.
                let names = arg.get_long_and_visible_aliases().unwrap_or_default();
                names.into_iter().filter_map(move |name| {
                    let key = if name == "pipeline" { NAME.to_owned() } else { name.replace('-', "_") };
                    Some((key, flag.clone()?))
                })
            })
            .collect();
        Flags { command, by_key }
    }

    /// The config key of a clap argument as its errors show it (`--settle-ms <MS>`).
    pub(super) fn key_of(&self, shown: &str) -> Option<&str> {
        let long = shown.trim_start_matches("--").split([' ', '=', '\'']).next()?;
        self.by_key.iter().find(|(_, f)| f.long == long).map(|(k, _)| k.as_str())
    }

    /// The closest known key to a mistyped one.
    pub(super) fn suggest(&self, key: &str) -> Option<&str> {
        let known = self.by_key.keys().map(String::as_str);
        known
            .map(|k| (strsim::jaro_winkler(key, k), k))
            .filter(|(score, _)| *score > 0.8)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, k)| k)
    }
}
