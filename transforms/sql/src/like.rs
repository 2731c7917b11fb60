//! Spark SQL `LIKE` patterns, compiled once at init and matched without
//! allocating.
//!
//! `%` matches any run of characters (newlines too), `_` exactly one
//! character, and the escape character (`\` unless `ESCAPE` names another)
//! makes the next `%`, `_` or escape character literal; before anything else,
//! or at the very end, it is an error, as in Spark. Matching is
//! case-sensitive. Note that a SQL string literal keeps the backslash of
//! `\%` and `\_`, so `'a\_b'` reaches the pattern as `a\_b`.

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    /// This text, exactly.
    Text(String),
    /// `_`: any one character.
    One,
    /// `%`: any run of characters.
    Any,
}

impl Pattern {
    /// Compiles `pattern`; the error says what is wrong with an escape.
    pub fn compile(pattern: &str, escape: char) -> Result<Pattern, String> {
        let mut parts = Vec::new();
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            let part = match c {
                _ if c == escape => match chars.next() {
                    Some(next) if next == '%' || next == '_' || next == escape => Part::Text(next.into()),
                    Some(next) => return Err(format!("the escape character '{escape}' may not precede '{next}'")),
                    None => return Err(format!("the pattern may not end with the escape character '{escape}'")),
                },
                '%' => Part::Any,
                '_' => Part::One,
                _ => Part::Text(c.into()),
            };
            push(&mut parts, part);
        }
        Ok(Pattern { parts })
    }

    /// Whether `text` matches the whole pattern.
    pub fn matches(&self, text: &str) -> bool {
        let (mut p, mut t) = (0, 0);
        // After a `%`: the part following it, and where in `text` to retry it.
        let mut retry: Option<(usize, usize)> = None;
        loop {
            if let Some(part) = self.parts.get(p) {
                let used = match part {
                    Part::Any => {
                        retry = Some((p + 1, t));
                        Some(0)
                    }
                    Part::One => text[t..].chars().next().map(char::len_utf8),
                    Part::Text(s) => text[t..].starts_with(s.as_str()).then_some(s.len()),
                };
                if let Some(used) = used {
                    (p, t) = (p + 1, t + used);
                    continue;
                }
            } else if t == text.len() {
                return true;
            }
            // Mismatch: let the last `%` swallow one more character.
            let Some((after_any, from)) = retry else { return false };
            let Some(c) = text[from..].chars().next() else { return false };
            retry = Some((after_any, from + c.len_utf8()));
            (p, t) = (after_any, from + c.len_utf8());
        }
    }
}

/// Appends `part`, joining adjacent text and collapsing `%%`.
fn push(parts: &mut Vec<Part>, part: Part) {
    match (parts.last_mut(), part) {
        (Some(Part::Text(last)), Part::Text(more)) => last.push_str(&more),
        (Some(Part::Any), Part::Any) => {}
        (_, part) => parts.push(part),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn like(text: &str, pattern: &str) -> bool {
        Pattern::compile(pattern, '\\').unwrap().matches(text)
    }

    #[test]
    fn percent_matches_any_run() {
        assert!(like("STR7188", "STR%"));
        assert!(like("STR", "STR%"));
        assert!(like("xSTRy", "%STR%"));
        assert!(like("abcabd", "%abd"));
        assert!(like("aXbXc", "a%b%c"));
        assert!(!like("aXbXd", "a%b%c"));
        assert!(like("", "%"));
        assert!(like("line\nbreak", "line%"));
        assert!(!like("STR7188", "str%"), "case-sensitive");
    }

    #[test]
    fn underscore_matches_one_character() {
        assert!(like("abc", "a_c"));
        assert!(like("aéc", "a_c"), "one character, not one byte");
        assert!(!like("ac", "a_c"));
        assert!(!like("abbc", "a_c"));
        assert!(like("abbc", "a_%c"));
        assert!(!like("", "_"));
    }

    #[test]
    fn exact_text_without_wildcards() {
        assert!(like("abc", "abc"));
        assert!(!like("abcd", "abc"));
        assert!(!like("ab", "abc"));
        assert!(like("", ""));
    }

    #[test]
    fn escapes_make_wildcards_literal() {
        assert!(like("50%", "50\\%"));
        assert!(!like("500", "50\\%"));
        assert!(like("a_b", "a\\_b"));
        assert!(!like("axb", "a\\_b"));
        assert!(like("a\\b", "a\\\\b"));
        assert!(Pattern::compile("a/%", '/').unwrap().matches("a%"));
    }

    #[test]
    fn refuses_bad_escapes() {
        assert_eq!(Pattern::compile("a\\b", '\\').unwrap_err(), "the escape character '\\' may not precede 'b'");
        assert_eq!(
            Pattern::compile("a\\", '\\').unwrap_err(),
            "the pattern may not end with the escape character '\\'"
        );
    }

    #[test]
    fn backtracks_in_repetitive_text() {
        assert!(like("aaaaaaaaaaaaaaaaaaab", "%a%a%a%b"));
        assert!(!like("aaaaaaaaaaaaaaaaaaaa", "%a%a%a%b"));
        assert!(like("mississippi", "%iss%ipp%"));
    }
}
