//! Java `.properties` files as Confluent Cloud and Kafka's own clients hand
//! them out (`--kafka-properties`): the parser, and the translation of
//! `sasl.jaas.config` into the `sasl.username` and `sasl.password` that
//! librdkafka wants.

use std::path::Path;

use super::ConfigError;

/// Java clients' `sasl.jaas.config` carries the PLAIN or SCRAM credentials;
/// librdkafka wants them as `sasl.username` and `sasl.password`.
pub(super) fn translate_java(properties: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(properties.len());
    for (key, value) in properties {
        if key == "sasl.jaas.config" {
            out.extend(jaas_option(&value, "username").map(|u| ("sasl.username".to_owned(), u)));
            out.extend(jaas_option(&value, "password").map(|p| ("sasl.password".to_owned(), p)));
        } else {
            out.push((key, value));
        }
    }
    out
}

/// Reads `name='value'` or `name="value"` out of a JAAS login line.
fn jaas_option(jaas: &str, name: &str) -> Option<String> {
    let start = jaas.find(&format!("{name}="))? + name.len() + 1;
    let rest = &jaas[start..];
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let end = rest[1..].find(quote)?;
    Some(rest[1..=end].to_owned())
}

/// Parses a Java `.properties` file: `key=value`, `key: value` or
/// `key value`; `#` and `!` comments; a trailing `\` continues a line.
pub fn read_properties(path: &Path) -> Result<Vec<(String, String)>, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|reason| ConfigError::PropertiesFile { path: path.to_owned(), reason })?;
    parse_properties(&text).map_err(|line| ConfigError::PropertiesSyntax { path: path.to_owned(), line })
}

/// The pairs a Java `.properties` text gives librdkafka, as
/// `--kafka-properties` reads a file (`sasl.jaas.config` translated), or the
/// 1-based number of a bad line. Public for the fuzz targets (`fuzz/`).
pub fn properties_of_text(text: &str) -> Result<Vec<(String, String)>, usize> {
    parse_properties(text).map(translate_java)
}

/// The pairs of a properties text, or the 1-based number of a bad line.
pub(super) fn parse_properties(text: &str) -> Result<Vec<(String, String)>, usize> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let mut logical = line.trim_start().to_owned();
        if logical.is_empty() || logical.starts_with('#') || logical.starts_with('!') {
            continue;
        }
        while logical.ends_with('\\') && !logical.ends_with("\\\\") {
            logical.pop();
            logical.push_str(lines.next().map_or("", |(_, l)| l.trim_start()));
        }
        let split = logical.find(['=', ':', ' ', '\t']).ok_or(n + 1)?;
        let key = logical[..split].trim_end();
        let value = logical[split..].trim_start_matches([' ', '\t']);
        let value = value.strip_prefix(['=', ':']).unwrap_or(value).trim();
        out.push((unescape_property(key), unescape_property(value)));
    }
    Ok(out)
}

fn unescape_property(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}
