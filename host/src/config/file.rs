//! `sluice run --config FILE`: one process, several pipelines, from a TOML file.
//!
//! ```toml
//! metrics_addr = "127.0.0.1:9898"          # process-wide, as is
//! metrics_token_file = "/etc/sluice/token"  # the bearer token it requires
//! on_pipeline_failure = "stop"              # or "continue"; see below
//!
//! [defaults]                               # every pipeline's, unless it says otherwise
//! bootstrap_servers = "broker:9092"
//! kafka = { "security.protocol" = "SASL_SSL", "sasl.password" = "${KAFKA_PASSWORD}" }
//!
//! [[pipeline]]
//! name = "invoices"
//! landing_zone = "/data/landing"
//! transform = "/opt/sluice/sql.wasm"
//! transform_config = { where = "StoreID = 'STR7188'", key = "StoreID" }
//! topic = "invoices"
//! checkpoint_dir = "/var/lib/sluice/invoices"
//! ```
//!
//! A pipeline's keys are `sluice run`'s long flag names in snake_case
//! (`name` is `--pipeline`). Each entry is turned back into those flags and
//! parsed by the same clap definition as the command line, so a file accepts
//! exactly what the flags do, with the same defaults and checks, and a flag
//! added to [`RunArgs`] is a key here with no second list to keep. Flags that
//! take `KEY=VALUE` (`kafka`, `transform_config`) are tables; repeatable
//! flags also take arrays; switches take `true`. A table in `[defaults]` is
//! merged key by key with the pipeline's.
//!
//! `${VAR}` in a string reads the environment (`$${` is a literal `${`), so
//! secrets stay out of the file. Every error names the file and the line.
//!
//! The process-wide keys are also flags beside `--config`, which win over
//! the file ([`ConfigFile::with_process_flags`]): `--metrics-addr`,
//! `--metrics-token-file`, `--on-pipeline-failure`, and `--host-id`, which
//! gives this host's id to every pipeline (a host id names the host within
//! one pipeline's group, and each pipeline is a group of its own, so one id
//! serves them all; a template unit passes `--host-id %i`).
//! `on_pipeline_failure = "stop"` (the default) stops every pipeline when
//! one fails and exits 1, so a supervisor restarts the process;
//! `"continue"` keeps the others running.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::cli::{OnPipelineFailure, RunArgs, RunCmd};
use flags::Flags;
use parser::{Parser, line_of, line_starts};

mod flags;
mod parser;

/// Top-level key of the process-wide metrics address.
const METRICS_ADDR: &str = "metrics_addr";
/// Top-level key of the process-wide metrics bearer-token file.
const METRICS_TOKEN_FILE: &str = "metrics_token_file";
/// Top-level key of what one failed pipeline does to the others.
const ON_PIPELINE_FAILURE: &str = "on_pipeline_failure";
/// Top-level table of shared defaults.
const DEFAULTS: &str = "defaults";
/// Top-level array of pipelines.
const PIPELINE: &str = "pipeline";
/// A pipeline's name: the `--pipeline` flag.
const NAME: &str = "name";

/// Keys every pipeline needs, itself or from `[defaults]`.
const REQUIRED: [&str; 4] = ["landing_zone", "transform", "topic", "checkpoint_dir"];

/// A parsed config file: every pipeline's flags, checked by clap.
#[derive(Debug)]
pub struct ConfigFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// `metrics_addr`: where the metrics, health and status page are served.
    pub metrics_addr: Option<SocketAddr>,
    /// `metrics_token_file`: the bearer token the metrics server requires.
    pub metrics_token_file: Option<PathBuf>,
    /// `on_pipeline_failure`: whether one failed pipeline stops the others.
    pub on_pipeline_failure: OnPipelineFailure,
    /// The `[[pipeline]]` entries, in file order.
    pub pipelines: Vec<PipelineEntry>,
}

/// One `[[pipeline]]`.
#[derive(Debug)]
pub struct PipelineEntry {
    /// Its `name`.
    pub name: String,
    /// The line of its `[[pipeline]]` header.
    pub line: usize,
    /// Its settings, as the flags would give them.
    pub args: RunArgs,
}

/// A config file that cannot be used: names the file, the line and the key.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The file cannot be read.
    #[error("cannot read --config {}: {reason}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: std::io::Error,
    },
    /// Not TOML. The line itself is not shown: it may hold a secret.
    #[error("{}:{line}: not TOML: {message} (the line is not shown: it may hold a secret)", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The parser's message, without its excerpt of the line.
        message: String,
    },
    /// Valid TOML that is not a valid config.
    #[error("{}:{line}: {message}", path.display())]
    At {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong, naming the key.
        message: String,
    },
}

impl ConfigFile {
    /// Reads and checks `path`, expanding `${VAR}` from the process environment.
    pub fn load(path: &Path) -> Result<ConfigFile, FileError> {
        let text = std::fs::read_to_string(path).map_err(|reason| FileError::Read { path: path.to_owned(), reason })?;
        Self::parse(path, &text, &|name| std::env::var(name).ok())
    }

    /// The file with the process-wide flags given beside `--config`, which
    /// win over its keys; `--host-id` becomes every pipeline's.
    pub fn with_process_flags(mut self, cmd: &RunCmd) -> ConfigFile {
        let flags = &cmd.pipeline;
        self.metrics_addr = flags.metrics_addr.or(self.metrics_addr);
        self.metrics_token_file = flags.metrics_token_file.clone().or(self.metrics_token_file);
        self.on_pipeline_failure = cmd.on_pipeline_failure.unwrap_or(self.on_pipeline_failure);
        if let Some(id) = &flags.host_id {
            self.pipelines.iter_mut().for_each(|entry| entry.args.host_id = Some(id.clone()));
        }
        self
    }

    /// Where `entry` is, for messages: ``sluice.toml:9: pipeline `invoices` ``.
    pub fn locate(&self, entry: &PipelineEntry) -> String {
        format!("{}:{}: pipeline `{}`", self.path.display(), entry.line, entry.name)
    }

    /// Checks `text` as the contents of `path`, reading variables from `env`.
    pub fn parse(path: &Path, text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<ConfigFile, FileError> {
        let line_starts = line_starts(text);
        let doc = toml_edit::Document::parse(text).map_err(|e| FileError::Syntax {
            path: path.to_owned(),
            line: e.span().map_or(1, |span| line_of(&line_starts, span.start)),
            message: e.message().trim().replace('\n', "; "),
        })?;
        let file = Parser { path, line_starts, env, flags: Flags::of_run() };
        file.document(doc.as_table())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ConfigFile, String> {
        let env = |name: &str| (name == "SECRET").then(|| "s3cr3t".to_owned());
        ConfigFile::parse(Path::new("sluice.toml"), text, &env).map_err(|e| e.to_string())
    }

    const TWO: &str = r#"
metrics_addr = "127.0.0.1:9898"

[defaults]
bootstrap_servers = "localhost:9092"
kafka = { "security.protocol" = "SASL_SSL", "sasl.password" = "${SECRET}" }
transform = "sql.wasm"

[[pipeline]]
name = "a"
landing_zone = "/in/a"
topic = "ta"
checkpoint_dir = "/ck/a"
transform_config = { where = "StoreID = 'STR7188'", key = "StoreID" }
kafka = { "sasl.password" = "other", "linger.ms" = 10 }
settle_ms = 250

[[pipeline]]
name = "b"
landing_zone = "/in/b"
topic = "tb"
checkpoint_dir = "/ck/b"
transform = "other.wasm"
delivery = "exactly-once"
dead_letter_topic = "dead"
"#;

    #[test]
    fn pipelines_take_defaults_and_override_them_key_by_key() {
        let file = parse(TWO).unwrap();
        assert_eq!(file.metrics_addr, Some("127.0.0.1:9898".parse().unwrap()));
        let [a, b] = &file.pipelines[..] else { panic!("two pipelines") };
        assert_eq!((a.name.as_str(), a.line, b.name.as_str(), b.line), ("a", 9, "b", 18));
        assert_eq!(a.args.pipeline.as_deref(), Some("a"));
        assert_eq!(a.args.landing_zone.as_deref(), Some(Path::new("/in/a")));
        assert_eq!(a.args.transform.path.as_deref(), Some(Path::new("sql.wasm")));
        assert_eq!(b.args.transform.path.as_deref(), Some(Path::new("other.wasm")));
        assert_eq!(a.args.transform.config, ["where=StoreID = 'STR7188'", "key=StoreID"]);
        assert_eq!(a.args.kafka, ["security.protocol=SASL_SSL", "sasl.password=other", "linger.ms=10"]);
        assert_eq!(b.args.kafka, ["security.protocol=SASL_SSL", "sasl.password=s3cr3t"]);
        assert_eq!((a.args.settle_ms, b.args.settle_ms), (250, crate::cli::default_settle_ms()));
        assert_eq!(b.args.delivery, crate::cli::Delivery::ExactlyOnce);
        assert_eq!(a.args.bootstrap_servers.as_deref(), Some("localhost:9092"));
    }

    #[test]
    fn storage_options_are_a_table_reading_the_environment() {
        let store = TWO.replace("landing_zone = \"/in/b\"", "landing_zone = \"s3://bucket/in/\"\nstorage_options = { endpoint = \"http://127.0.0.1:9000\", secret_access_key = \"${SECRET}\" }");
        let file = parse(&store).unwrap();
        let b = &file.pipelines[1].args;
        assert_eq!(b.landing_zone.as_deref(), Some(Path::new("s3://bucket/in/")));
        assert_eq!(b.store.storage_options, ["endpoint=http://127.0.0.1:9000", "secret_access_key=s3cr3t"]);
        let config = crate::config::RunConfig::from_args(b).unwrap();
        let store = config.source.store.expect("a zone in object storage");
        assert_eq!(config.source.dir, Path::new("s3://bucket/in"));
        assert!(!format!("{store:?}").contains("s3cr3t"));
    }

    #[test]
    fn errors_name_the_file_the_line_and_the_key() {
        let typo = TWO.replace("settle_ms = 250", "setle_ms = 250");
        assert_eq!(
            parse(&typo).unwrap_err(),
            "sluice.toml:16: unknown key `setle_ms` in [pipeline]; did you mean `settle_ms`?"
        );
        let bad = TWO.replace("settle_ms = 250", "settle_ms = \"soon\"");
        assert_eq!(
            parse(&bad).unwrap_err(),
            "sluice.toml:16: pipeline `a`: invalid value 'soon' for `settle_ms`: invalid digit found in string"
        );
        let unset = TWO.replace("${SECRET}", "${NOT_SET}");
        assert_eq!(
            parse(&unset).unwrap_err(),
            "sluice.toml:6: `kafka.sasl.password` reads ${NOT_SET}, which is not set in the environment"
        );
        let missing = TWO.replace("landing_zone = \"/in/b\"\n", "");
        assert_eq!(parse(&missing).unwrap_err(), "sluice.toml:18: pipeline `b` needs `landing_zone`");
        let top = format!("metric_addr = 1\n{TWO}");
        assert!(parse(&top).unwrap_err().starts_with("sluice.toml:1: unknown key `metric_addr` at the top level"));
        let nested = TWO
            .replace("metrics_addr = \"127.0.0.1:9898\"\n", "")
            .replace("settle_ms = 250", "metrics_addr = \"127.0.0.1:1\"");
        assert_eq!(
            parse(&nested).unwrap_err(),
            "sluice.toml:15: `metrics_addr` is process-wide: set it at the top of the file"
        );
        let twice = TWO.replace("name = \"b\"", "name = \"a\"");
        assert_eq!(
            parse(&twice).unwrap_err(),
            "sluice.toml:18: pipeline name `a` is already used by the pipeline at line 9"
        );
        let shared = TWO.replace("/ck/b", "/ck/a");
        assert_eq!(
            parse(&shared).unwrap_err(),
            "sluice.toml:18: pipeline `b` has the checkpoint_dir of pipeline `a` (/ck/a): each pipeline needs its own"
        );
        let unclosed = parse("[[pipeline]]\nname = \"a\"\nkafka = { \"sasl.password\" = \"s3cr3t }\n").unwrap_err();
        assert!(unclosed.starts_with("sluice.toml:3: not TOML: "), "{unclosed}");
        assert!(unclosed.ends_with("(the line is not shown: it may hold a secret)") && !unclosed.contains("s3cr3t"));
        assert_eq!(
            parse("[defaults]\n").unwrap_err(),
            "sluice.toml:1: no `[[pipeline]]`: the file must define at least one"
        );
    }

    #[test]
    fn lines_are_found_by_their_start_offsets() {
        let text = "a = 1\n\nb = 2\nc = 3";
        let parser =
            Parser { path: Path::new("x"), line_starts: line_starts(text), env: &|_| None, flags: Flags::of_run() };
        let line_of = |needle: &str| parser.line(text.find(needle).map(|at| at..at + 1));
        assert_eq!((line_of("a"), line_of("b"), line_of("c"), parser.line(None)), (1, 3, 4, 1));
        assert_eq!(parser.line(Some(5..6)), 1, "the newline itself ends line 1");
        assert_eq!(parser.line(Some(6..7)), 2);
    }

    #[test]
    fn a_table_of_many_keys_is_checked_in_one_pass() {
        let keys: String = (0..200_000).map(|i| format!("\"k{i}\" = \"v\"\n")).collect();
        let text = format!(
            "[[pipeline]]\nname = \"a\"\nlanding_zone = \"/in\"\ntransform = \"t.wasm\"\ntopic = \"t\"\n\
             checkpoint_dir = \"/ck\"\n[pipeline.kafka]\n{keys}"
        );
        let file = parse(&text).unwrap();
        assert_eq!(file.pipelines[0].args.kafka.len(), 200_000);
        let bad = text.replace("\"k199999\" = \"v\"", "\"k199999\" = []");
        assert_eq!(
            parse(&bad).unwrap_err(),
            "sluice.toml:200007: `kafka.k199999` must be a string, number or boolean, not array"
        );
    }

    #[test]
    fn process_wide_keys_belong_at_the_top() {
        let file = parse(&format!("metrics_token_file = \"/etc/sluice/token\"\n{TWO}")).unwrap();
        assert_eq!(file.metrics_token_file.as_deref(), Some(Path::new("/etc/sluice/token")));
        let bare = TWO.replace("\"127.0.0.1:9898\"", "\"9898\"");
        assert_eq!(parse(&bare).unwrap().metrics_addr, Some("127.0.0.1:9898".parse().unwrap()));
        let nested = TWO.replace("settle_ms = 250", "metrics_token_file = \"t\"");
        assert_eq!(
            parse(&nested).unwrap_err(),
            "sluice.toml:16: `metrics_token_file` is process-wide: set it at the top of the file"
        );
    }

    #[test]
    fn process_flags_beside_the_file_win_and_host_id_is_every_pipeline_s() {
        use clap::Parser as _;
        let file = parse(&format!("on_pipeline_failure = \"continue\"\n{TWO}")).unwrap();
        assert_eq!(file.on_pipeline_failure, OnPipelineFailure::Continue);
        let argv = ["sluice", "run", "--config", "f", "--metrics-addr", "9999", "--host-id", "h2"];
        let crate::cli::Command::Run(cmd) = crate::cli::Cli::try_parse_from(argv).unwrap().command else { panic!() };
        let file = file.with_process_flags(&cmd);
        assert_eq!(file.metrics_addr, Some("127.0.0.1:9999".parse().unwrap()));
        assert_eq!(file.on_pipeline_failure, OnPipelineFailure::Continue, "not given: the file's");
        let ids: Vec<_> = file.pipelines.iter().map(|p| p.args.host_id.as_deref()).collect();
        assert_eq!(ids, [Some("h2"), Some("h2")]);
        assert_eq!(parse(TWO).unwrap().on_pipeline_failure, OnPipelineFailure::Stop, "the default");
        assert_eq!(
            parse(&format!("on_pipeline_failure = \"retry\"\n{TWO}")).unwrap_err(),
            "sluice.toml:1: `on_pipeline_failure` is \"stop\" or \"continue\", not `retry`"
        );
    }

    #[test]
    fn variables_expand_and_dollars_stay() {
        let file = parse(&TWO.replace("topic = \"ta\"", "topic = \"t-${SECRET}-$$${x}-$5\"")).unwrap();
        assert_eq!(file.pipelines[0].args.topic.as_deref(), Some("t-s3cr3t-$${x}-$5"));
    }
}
