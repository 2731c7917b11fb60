//! The TOML document walked into [`ConfigFile`]: sections, keys turned
//! back into flags, `${VAR}` expansion, and the line of every error.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use clap::FromArgMatches;
use toml_edit::{Item, Table, TableLike, Value};

use super::flags::Flags;
use super::*;

/// One key's flag values, with where they were written.
#[derive(Debug, Clone)]
struct Setting {
    line: usize,
    values: Vec<String>,
    /// For `KEY=VALUE` flags: the pairs, merged by key.
    pairs: Vec<(String, String)>,
}

pub(super) struct Parser<'a> {
    pub(super) path: &'a Path,
    /// The byte offset of each line's start, so a span's line is a binary
    /// search, not a count of the newlines before it (a file of 200,000
    /// keys took 36 s that way).
    pub(super) line_starts: Vec<usize>,
    pub(super) env: &'a dyn Fn(&str) -> Option<String>,
    pub(super) flags: Flags,
}

impl Parser<'_> {
    pub(super) fn document(&self, root: &Table) -> Result<ConfigFile, FileError> {
        let mut metrics_addr = None;
        let mut metrics_token_file = None;
        let mut on_pipeline_failure = OnPipelineFailure::default();
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
                ON_PIPELINE_FAILURE => on_pipeline_failure = self.on_failure(line, item)?,
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
                         `{ON_PIPELINE_FAILURE}`, `[{DEFAULTS}]` or `[[{PIPELINE}]]`{})",
                        self.did_you_mean(key)
                    );
                    return Err(self.at(line, message));
                }
            }
        }
        let entries = entries.ok_or_else(|| self.at(1, "no `[[pipeline]]`: the file must define at least one"))?;
        let pipelines = self.pipelines(entries, &defaults)?;
        Ok(ConfigFile { path: self.path.to_owned(), metrics_addr, metrics_token_file, on_pipeline_failure, pipelines })
    }

    /// `on_pipeline_failure`: `stop` or `continue`.
    fn on_failure(&self, line: usize, item: &Item) -> Result<OnPipelineFailure, FileError> {
        match self.scalar(ON_PIPELINE_FAILURE, line, item)?.as_str() {
            "stop" => Ok(OnPipelineFailure::Stop),
            "continue" => Ok(OnPipelineFailure::Continue),
            other => Err(self.at(line, format!("`{ON_PIPELINE_FAILURE}` is \"stop\" or \"continue\", not `{other}`"))),
        }
    }

    /// Every `[[pipeline]]`, each with its own name and checkpoint directory.
    fn pipelines(
        &self,
        entries: &toml_edit::ArrayOfTables,
        defaults: &BTreeMap<String, Setting>,
    ) -> Result<Vec<PipelineEntry>, FileError> {
        let mut pipelines: Vec<PipelineEntry> = Vec::new();
        for table in entries.iter() {
            let entry = self.pipeline(table, defaults)?;
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
        Ok(pipelines)
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
            if [METRICS_ADDR, METRICS_TOKEN_FILE, ON_PIPELINE_FAILURE].contains(&key) {
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
    pub(super) fn line(&self, span: Option<Range<usize>>) -> usize {
        span.map_or(1, |span| line_of(&self.line_starts, span.start))
    }
}

/// The 1-based line of byte `offset`, given each line's start.
pub(super) fn line_of(line_starts: &[usize], offset: usize) -> usize {
    line_starts.partition_point(|start| *start <= offset).max(1)
}

/// The byte offset at which each line of `text` starts; the first is 0.
pub(super) fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0).chain(memchr::memchr_iter(b'\n', text.as_bytes()).map(|at| at + 1)).collect()
}
