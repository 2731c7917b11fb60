//! Errors, worded for the operator: [`ParseError`] for an expression refused
//! at init, [`EvalError`] for one record that could not be evaluated.
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

/// Why one record could not be evaluated. Spark with ANSI mode on (Spark
/// 4's default) raises these as query errors; here they fail that record
/// only, which goes to the dead letters with this message. The bracketed
/// names are Spark's error classes, so a Spark user can look them up.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// An integer or decimal result that does not fit its type.
    #[error("[ARITHMETIC_OVERFLOW] {0} overflow")]
    Overflow(String),
    /// `x / 0`, `x div 0`.
    #[error("[DIVIDE_BY_ZERO] division by zero")]
    DivideByZero,
    /// `x % 0`, `mod(x, 0)`, `pmod(x, 0)`.
    #[error("[REMAINDER_BY_ZERO] remainder by zero")]
    RemainderByZero,
    /// `CAST` (or an implicit cast) of a value that does not read as the
    /// target type.
    #[error("[CAST_INVALID_INPUT] the value {value} of the type {from} cannot be cast to {to} because it is malformed")]
    InvalidCast {
        /// The value, as Spark quotes it (`'abc'`).
        value: String,
        /// The source type's name (`STRING`).
        from: String,
        /// The target type's name (`INT`).
        to: String,
    },
    /// A value too large or small for the target type of a cast.
    #[error("[CAST_OVERFLOW] the value {value} of the type {from} cannot be cast to {to} due to an overflow")]
    CastOverflow {
        /// The value as text.
        value: String,
        /// The source type's name.
        from: String,
        /// The target type's name.
        to: String,
    },
    /// An array index past either end, with ANSI mode's message.
    #[error("[INVALID_ARRAY_INDEX] the index {index} is out of bounds; the array has {size} elements")]
    ArrayIndex {
        /// The index given.
        index: i64,
        /// The array's length.
        size: usize,
    },
    /// A regular expression that cannot be compiled.
    #[error("invalid regular expression '{pattern}': {reason}")]
    InvalidRegex {
        /// The pattern as given.
        pattern: String,
        /// What the regex engine said.
        reason: String,
    },
    /// A field name that matches two members of the record in different case.
    #[error(
        "[AMBIGUOUS_REFERENCE] field `{name}` is ambiguous: the record has both `{first}` and `{second}`; set case_sensitive=true or rename one"
    )]
    Ambiguous {
        /// The name as written in the expression.
        name: String,
        /// One matching member.
        first: String,
        /// Another.
        second: String,
    },
    /// A value of the wrong type where the expression needs another
    /// (`where` on a field holding a string).
    #[error("{what} is {found}, not {expected}")]
    Type {
        /// What was evaluated (`field Flag`, `the expression`).
        what: String,
        /// What it held (`a string`).
        found: String,
        /// What was needed (`a boolean`).
        expected: String,
    },
    /// A function's own error, with its message (`sha2: bit length 7 is not one of 0, 224, 256, 384, 512`).
    #[error("{0}")]
    Function(String),
}

impl EvalError {
    /// A function's own error.
    pub fn function(message: impl Into<String>) -> EvalError {
        EvalError::Function(message.into())
    }
}

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
