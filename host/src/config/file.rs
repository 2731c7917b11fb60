//! `sluice run --config FILE`: one process, several pipelines, from a TOML file.
//!
//! ```toml
//! metrics_addr = "127.0.0.1:9898"          # process-wide, as is
//! metrics_token_file = "/etc/sluice/token"  # the bearer token it requires
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

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};

use clap::{ArgAction, Args, FromArgMatches};
use toml_edit::{Item, Table, TableLike, Value};

use crate::cli::RunArgs;

/// Top-level key of the process-wide metrics address.
const METRICS_ADDR: &str = "metrics_addr";
/// Top-level key of the process-wide metrics bearer-token file.
const METRICS_TOKEN_FILE: &str = "metrics_token_file";
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

/// What one `sluice run` flag accepts, read off its clap definition.
#[derive(Debug, Clone)]
struct Flag {
    long: String,
    /// A switch: `true` gives the bare flag.
    switch: bool,
    /// Takes `KEY=VALUE`: given as a table.
    pairs: bool,
    /// May be given more than once: an array gives it once per element.
    repeatable: bool,
}

#[derive(Debug)]
struct Flags {
    command: clap::Command,
    /// By config key (snake_case).
    by_key: BTreeMap<String, Flag>,
}

impl Flags {
    fn of_run() -> Flags {
        let command = clap::Command::new("sluice run").no_binary_name(true).disable_help_flag(true);
        let command = RunArgs::augment_args(command);
        let by_key = command
            .get_arguments()
            .filter_map(|arg| {
                let long = arg.get_long()?.to_owned();
                let key = if long == "pipeline" { NAME.to_owned() } else { long.replace('-', "_") };
                let action = arg.get_action();
                let pairs = arg.get_value_names().is_some_and(|names| names.iter().any(|n| n == "KEY=VALUE"));
                let flag = Flag {
                    long,
                    switch: matches!(action, ArgAction::SetTrue),
                    pairs,
                    repeatable: matches!(action, ArgAction::Append),
                };
                Some((key, flag))
            })
            .collect();
        Flags { command, by_key }
    }

    /// The config key of a clap argument as its errors show it (`--settle-ms <MS>`).
    fn key_of(&self, shown: &str) -> Option<&str> {
        let long = shown.trim_start_matches("--").split([' ', '=', '\'']).next()?;
        self.by_key.iter().find(|(_, f)| f.long == long).map(|(k, _)| k.as_str())
    }

    /// The closest known key to a mistyped one.
    fn suggest(&self, key: &str) -> Option<&str> {
        let known = self.by_key.keys().map(String::as_str);
        known
            .map(|k| (strsim::jaro_winkler(key, k), k))
            .filter(|(score, _)| *score > 0.8)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, k)| k)
    }
}

/// One key's flag values, with where they were written.
#[derive(Debug, Clone)]
struct Setting {
    line: usize,
    values: Vec<String>,
    /// For `KEY=VALUE` flags: the pairs, merged by key.
    pairs: Vec<(String, String)>,
}

struct Parser<'a> {
    path: &'a Path,
    /// The byte offset of each line's start, so a span's line is a binary
    /// search, not a count of the newlines before it (a file of 200,000
    /// keys took 36 s that way).
    line_starts: Vec<usize>,
    env: &'a dyn Fn(&str) -> Option<String>,
    flags: Flags,
}

impl Parser<'_> {
    fn document(&self, root: &Table) -> Result<ConfigFile, FileError> {
        let mut metrics_addr = None;
        let mut metrics_token_file = None;
        let mut defaults = BTreeMap::new();
        let mut entries = None;
        for (key, item) in root.iter() {
            let line = self.key_line(root, key);
            match key {
                METRICS_ADDR => {
                    let text = self.scalar(key, line, item)?;
                    let addr = crate::cli::parse_metrics_addr(&text)
                        .map_err(|why| self.at(line, format!("`{METRICS_ADDR}`: {why}")))?;
                    metrics_addr = Some(addr);
                }
                METRICS_TOKEN_FILE => metrics_token_file = Some(PathBuf::from(self.scalar(key, line, item)?)),
                DEFAULTS => {
                    let table = item.as_table_like().ok_or_else(|| self.at(line, "`[defaults]` must be a table"))?;
                    defaults = self.settings(table, DEFAULTS)?;
                }
                PIPELINE => {
                    let tables = item
                        .as_array_of_tables()
                        .ok_or_else(|| self.at(line, "`pipeline` must be an array of tables: `[[pipeline]]`"))?;
                    entries = Some(tables);
                }
                _ => {
                    let message = format!(
                        "unknown key `{key}` at the top level (expected `{METRICS_ADDR}`, `{METRICS_TOKEN_FILE}`, \
                         `[{DEFAULTS}]` or `[[{PIPELINE}]]`{})",
                        self.did_you_mean(key)
                    );
                    return Err(self.at(line, message));
                }
            }
        }
        let entries = entries.ok_or_else(|| self.at(1, "no `[[pipeline]]`: the file must define at least one"))?;
        let mut pipelines: Vec<PipelineEntry> = Vec::new();
        for table in entries.iter() {
            let entry = self.pipeline(table, &defaults)?;
            if let Some(first) = pipelines.iter().find(|p| p.name == entry.name) {
                let message =
                    format!("pipeline name `{}` is already used by the pipeline at line {}", entry.name, first.line);
                return Err(self.at(entry.line, message));
            }
            let shares = |p: &&PipelineEntry| {
                p.args.checkpoint_dir.is_some() && p.args.checkpoint_dir == entry.args.checkpoint_dir
            };
            if let Some(first) = pipelines.iter().find(shares) {
                let message = format!(
                    "pipeline `{}` has the checkpoint_dir of pipeline `{}` ({}): each pipeline needs its own",
                    entry.name,
                    first.name,
                    first.args.checkpoint_dir.as_deref().unwrap_or(Path::new("")).display()
                );
                return Err(self.at(entry.line, message));
            }
            pipelines.push(entry);
        }
        Ok(ConfigFile { path: self.path.to_owned(), metrics_addr, metrics_token_file, pipelines })
    }

    fn pipeline(&self, table: &Table, defaults: &BTreeMap<String, Setting>) -> Result<PipelineEntry, FileError> {
        let line = self.table_line(table);
        let own = self.settings(table, PIPELINE)?;
        let name = match own.get(NAME) {
            Some(setting) => setting.values[0].clone(),
            None => return Err(self.at(line, "a `[[pipeline]]` needs a `name`")),
        };
        let mut merged = defaults.clone();
        for (key, setting) in own {
            match merged.get_mut(&key) {
                Some(base) if !setting.pairs.is_empty() => {
                    let own: std::collections::HashSet<&str> = setting.pairs.iter().map(|(k, _)| k.as_str()).collect();
                    base.pairs.retain(|(k, _)| !own.contains(k.as_str()));
                    base.pairs.extend(setting.pairs);
                    base.line = setting.line;
                }
                _ => {
                    merged.insert(key, setting);
                }
            }
        }
        let missing: Vec<String> =
            REQUIRED.iter().filter(|k| !merged.contains_key(**k)).map(|k| format!("`{k}`")).collect();
        if !missing.is_empty() {
            return Err(self.at(line, format!("pipeline `{name}` needs {}", missing.join(", "))));
        }
        let mut argv = Vec::new();
        for (key, setting) in &merged {
            let flag = &self.flags.by_key[key];
            argv.extend(setting.values.iter().map(|v| match flag.switch {
                true => format!("--{}", flag.long),
                false => format!("--{}={v}", flag.long),
            }));
            argv.extend(setting.pairs.iter().map(|(k, v)| format!("--{}={k}={v}", flag.long)));
        }
        let matches = self
            .flags
            .command
            .clone()
            .try_get_matches_from(argv)
            .map_err(|e| self.clap_error(&name, line, &merged, &e))?;
        let args = RunArgs::from_arg_matches(&matches).map_err(|e| self.clap_error(&name, line, &merged, &e))?;
        Ok(PipelineEntry { name, line, args })
    }

    /// The flag values of every key of `table` (a pipeline or the defaults).
    fn settings(&self, table: &dyn TableLike, section: &str) -> Result<BTreeMap<String, Setting>, FileError> {
        let mut settings = BTreeMap::new();
        for (key, item) in table.iter() {
            let line = self.line(table.get_key_value(key).and_then(|(k, _)| k.span()));
            if key == METRICS_ADDR || key == METRICS_TOKEN_FILE {
                return Err(self.at(line, format!("`{key}` is process-wide: set it at the top of the file")));
            }
            let Some(flag) = self.flags.by_key.get(key) else {
                return Err(self.at(line, format!("unknown key `{key}` in [{section}]{}", self.did_you_mean(key))));
            };
            if key == NAME && section == DEFAULTS {
                return Err(self.at(line, "`name` belongs to each `[[pipeline]]`, not to `[defaults]`"));
            }
            let mut setting = Setting { line, values: Vec::new(), pairs: Vec::new() };
            if flag.pairs && item.is_table_like() {
                let pairs = item.as_table_like().expect("checked");
                for (k, v) in pairs.iter() {
                    let at = self.line(pairs.get_key_value(k).and_then(|(k, _)| k.span())).max(line);
                    setting.pairs.push((k.to_owned(), self.scalar(&format!("{key}.{k}"), at, v)?));
                }
            } else if let Some(array) = item.as_array() {
                if !flag.repeatable {
                    return Err(self.at(line, format!("`{key}` takes one value, not an array")));
                }
                for value in array.iter() {
                    setting.values.push(self.value(key, line, value)?);
                }
            } else if flag.switch {
                match item.as_bool() {
                    Some(true) => setting.values.push(String::new()),
                    Some(false) => {}
                    None => return Err(self.at(line, format!("`{key}` is a switch: `true` or `false`"))),
                }
            } else {
                setting.values.push(self.scalar(key, line, item)?);
            }
            settings.insert(key.to_owned(), setting);
        }
        Ok(settings)
    }

    fn scalar(&self, key: &str, line: usize, item: &Item) -> Result<String, FileError> {
        match item.as_value() {
            Some(value) => self.value(key, line, value),
            None => Err(self.at(line, format!("`{key}` must be a value, not a table"))),
        }
    }

    fn value(&self, key: &str, line: usize, value: &Value) -> Result<String, FileError> {
        match value {
            Value::String(s) => self.expand(key, line, s.value()),
            Value::Integer(i) => Ok(i.value().to_string()),
            Value::Float(f) => Ok(f.value().to_string()),
            Value::Boolean(b) => Ok(b.value().to_string()),
            Value::Datetime(d) => Ok(d.value().to_string()),
            Value::Array(_) | Value::InlineTable(_) => {
                Err(self.at(line, format!("`{key}` must be a string, number or boolean, not {}", value.type_name())))
            }
        }
    }

    /// Replaces `${VAR}` with the variable's value; `$${` is a literal `${`.
    fn expand(&self, key: &str, line: usize, text: &str) -> Result<String, FileError> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            rest = &rest[at..];
            if let Some(after) = rest.strip_prefix("$${") {
                out.push_str("${");
                rest = after;
            } else if let Some(after) = rest.strip_prefix("${") {
                let Some(end) = after.find('}') else {
                    return Err(self.at(line, format!("`{key}`: `${{` without a closing `}}`")));
                };
                let name = &after[..end];
                let value = (self.env)(name).ok_or_else(|| {
                    self.at(line, format!("`{key}` reads ${{{name}}}, which is not set in the environment"))
                })?;
                out.push_str(&value);
                rest = &after[end + 1..];
            } else {
                out.push('$');
                rest = &rest[1..];
            }
        }
        out.push_str(rest);
        Ok(out)
    }

    /// clap's complaint about a pipeline, with flag names turned back into keys.
    fn clap_error(
        &self,
        name: &str,
        line: usize,
        settings: &BTreeMap<String, Setting>,
        error: &clap::Error,
    ) -> FileError {
        use clap::error::{ContextKind, ContextValue};
        // Every key is known and none is required by clap (the required
        // ones are checked above), so what is left is a value it refused.
        let shown = match error.get(ContextKind::InvalidArg) {
            Some(ContextValue::String(s)) => Some(s.as_str()),
            _ => None,
        };
        let key = shown.and_then(|s| self.flags.key_of(s));
        let rendered = error.render().to_string();
        let mut message = rendered.lines().next().unwrap_or_default().trim_start_matches("error: ").to_owned();
        if let (Some(shown), Some(key)) = (shown, key) {
            message = message.replace(&format!("'{shown}'"), &format!("`{key}`"));
        }
        let at = key.and_then(|k| settings.get(k)).map_or(line, |s| s.line);
        self.at(at, format!("pipeline `{name}`: {message}"))
    }

    fn did_you_mean(&self, key: &str) -> String {
        self.flags.suggest(key).map(|k| format!("; did you mean `{k}`?")).unwrap_or_default()
    }

    fn at(&self, line: usize, message: impl Into<String>) -> FileError {
        FileError::At { path: self.path.to_owned(), line, message: message.into() }
    }

    fn key_line(&self, table: &Table, key: &str) -> usize {
        self.line(table.get_key_value(key).and_then(|(k, _)| k.span()))
    }

    /// The line of a `[[pipeline]]` header, else of its first key.
    fn table_line(&self, table: &Table) -> usize {
        let first_key = table.iter().next().and_then(|(k, _)| table.get_key_value(k)).and_then(|(k, _)| k.span());
        self.line(table.span().or(first_key))
    }

    /// The 1-based line of a span's start; 1 without a span.
    fn line(&self, span: Option<Range<usize>>) -> usize {
        span.map_or(1, |span| line_of(&self.line_starts, span.start))
    }
}

/// The 1-based line of byte `offset`, given each line's start.
fn line_of(line_starts: &[usize], offset: usize) -> usize {
    line_starts.partition_point(|start| *start <= offset).max(1)
}

/// The byte offset at which each line of `text` starts; the first is 0.
fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0).chain(memchr::memchr_iter(b'\n', text.as_bytes()).map(|at| at + 1)).collect()
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
    fn variables_expand_and_dollars_stay() {
        let file = parse(&TWO.replace("topic = \"ta\"", "topic = \"t-${SECRET}-$$${x}-$5\"")).unwrap();
        assert_eq!(file.pipelines[0].args.topic.as_deref(), Some("t-s3cr3t-$${x}-$5"));
    }
}
