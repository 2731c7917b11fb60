//! Command-line parsing for `gen-invoices`, by hand over `std::env::args`.
//!
//! [`parse`] turns the arguments (program name excluded) into a [`Command`]
//! or a message saying what was wrong; the caller prints [`USAGE`] with it.

use std::path::PathBuf;

use crate::bench::Limit;

/// Printed on `--help` and after any argument error.
pub const USAGE: &str = "usage: gen-invoices fixtures OUT_DIR\n       \
                         gen-invoices bench OUT_FILE (--records N | --bytes N)";

/// What to do.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// Print [`USAGE`] and succeed.
    Help,
    /// Write the fixture files into this directory.
    Fixtures { out_dir: PathBuf },
    /// Write the bench input to this file.
    Bench { out_file: PathBuf, limit: Limit },
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Command, String> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["-h" | "--help"] => Ok(Command::Help),
        ["fixtures", out_dir] => Ok(Command::Fixtures { out_dir: out_dir.into() }),
        ["bench", out_file, flag, n] => Ok(Command::Bench { out_file: out_file.into(), limit: limit(flag, n)? }),
        [] => Err("missing command".to_owned()),
        [command, ..] if !matches!(*command, "fixtures" | "bench") => Err(format!("unknown command {command:?}")),
        _ => Err("wrong number of arguments".to_owned()),
    }
}

fn limit(flag: &str, n: &str) -> Result<Limit, String> {
    let count = n
        .parse::<u64>()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{flag} needs a positive integer, got {n:?}"))?;
    match flag {
        "--records" => Ok(Limit::Records(count)),
        "--bytes" => Ok(Limit::Bytes(count)),
        other => Err(format!("unknown option {other:?}, expected --records or --bytes")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(args: &[&str]) -> Result<Command, String> {
        parse(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn parses_both_commands() {
        assert_eq!(parse_str(&["fixtures", "out"]), Ok(Command::Fixtures { out_dir: "out".into() }));
        assert_eq!(
            parse_str(&["bench", "b.json", "--bytes", "1000"]),
            Ok(Command::Bench { out_file: "b.json".into(), limit: Limit::Bytes(1000) })
        );
        assert_eq!(
            parse_str(&["bench", "b.json", "--records", "7"]),
            Ok(Command::Bench { out_file: "b.json".into(), limit: Limit::Records(7) })
        );
    }

    #[test]
    fn rejects_bad_arguments() {
        for bad in [
            &[][..],
            &["fixture", "out"],
            &["fixtures"],
            &["fixtures", "a", "b"],
            &["bench", "b.json"],
            &["bench", "b.json", "--lines", "5"],
            &["bench", "b.json", "--records", "0"],
            &["bench", "b.json", "--bytes", "1GB"],
        ] {
            assert!(parse_str(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
