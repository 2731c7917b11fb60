//! Errors found while reading an expression at init, worded for the operator.
//!
//! The lexer and parser hand back a [`ParseError`] whose message already
//! points into the expression: what was wrong, the 1-based column (counted in
//! characters), and an excerpt of the text around it. `lib.rs` prefixes the
//! config key (`where` or `key`), so the operator sees for example
//! ``where`: expected a value after '=' at column 11, found the end of the
//! expression: StoreID =``.

use std::fmt;

/// Half the width, in characters, of the excerpt shown around a column.
const EXCERPT_HALF_WIDTH: usize = 30;

/// Why an expression was refused, as one line of text for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    message: String,
}

impl ParseError {
    /// An error about the whole expression, with no column to point at.
    pub fn whole(message: impl Into<String>) -> Self {
        ParseError { message: message.into() }
    }

    /// An error at byte offset `at` of `src`: `what`, then the column, then
    /// `detail` if any, then an excerpt of `src` around `at`.
    pub fn at(src: &str, at: usize, what: &str, detail: Option<&str>) -> Self {
        let column = src[..at].chars().count() + 1;
        let detail = detail.map(|d| format!(", {d}")).unwrap_or_default();
        let excerpt = excerpt(src, column - 1);
        ParseError { message: format!("{what} at column {column}{detail}: {excerpt}") }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ParseError {}

/// The expression, or for a long one the characters around index `around`,
/// with `...` where text was cut.
fn excerpt(src: &str, around: usize) -> String {
    // One line, whatever the config value held; one character for one keeps columns true.
    let src = src.replace(['\n', '\r', '\t'], " ");
    let total = src.chars().count();
    if total <= 2 * EXCERPT_HALF_WIDTH {
        return src.trim_end().to_owned();
    }
    let start = around.saturating_sub(EXCERPT_HALF_WIDTH);
    let end = (around + EXCERPT_HALF_WIDTH).min(total);
    let middle: String = src.chars().skip(start).take(end - start).collect();
    let before = if start > 0 { "..." } else { "" };
    let after = if end < total { "..." } else { "" };
    let middle = if after.is_empty() { middle.trim_end() } else { &middle };
    format!("{before}{middle}{after}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_columns_in_characters() {
        let err = ParseError::at("Ville = 'Liège' x", 17, "unexpected", Some("found x"));
        assert_eq!(err.to_string(), "unexpected at column 17, found x: Ville = 'Liège' x");
    }

    #[test]
    fn cuts_long_expressions_around_the_column() {
        let src = format!("{}b = )", "a = 1 AND ".repeat(10));
        let err = ParseError::at(&src, src.len() - 1, "unexpected ')'", None);
        assert_eq!(err.to_string(), "unexpected ')' at column 105: ...1 AND a = 1 AND a = 1 AND b = )");
        let err = ParseError::at(&src, 0, "here", None);
        assert_eq!(err.to_string(), "here at column 1: a = 1 AND a = 1 AND a = 1 AND ...");
        let err = ParseError::at("a = 1\nAND\t)", 10, "unmatched ')'", None);
        assert_eq!(err.to_string(), "unmatched ')' at column 11: a = 1 AND )");
    }
}
