//! Splits an expression into tokens, each with the byte range it came from.
//!
//! Follows Spark SQL's lexer: words are names, keywords or function names
//! (the parser tells them apart, case-insensitively); names may be
//! backquoted (`` `Store ID` ``, with ``` `` ``` for a backquote); strings
//! take single or double quotes with Spark's backslash escapes, plus `''`
//! (or `""`) for the quote itself, or are raw (`r'C:\dir'`); numbers may
//! carry Spark's type suffixes (`10L`, `1.5D`, `2BD`).

use crate::error::ParseError;
use crate::val::{Num, parse_number};

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// An unquoted word: a name, a keyword or a function name.
    Word(String),
    /// A backquoted name, unescaped.
    Quoted(String),
    /// A string literal, unescaped.
    Str(String),
    /// A numeric literal.
    Num(Num),
    /// An operator or punctuation.
    Sym(Sym),
    /// The end of the expression.
    End,
}

/// Operators and punctuation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sym {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    NullSafeEq,
    LParen,
    RParen,
    Comma,
    Dot,
    Minus,
    Plus,
    Bang,
}

/// Longest first, so `<=>` wins over `<=` and `<`.
const SYMBOLS: [(&str, Sym); 18] = [
    ("<=>", Sym::NullSafeEq),
    ("==", Sym::Eq),
    ("!=", Sym::Ne),
    ("<>", Sym::Ne),
    ("<=", Sym::Le),
    (">=", Sym::Ge),
    ("!>", Sym::Le),
    ("!<", Sym::Ge),
    ("=", Sym::Eq),
    ("<", Sym::Lt),
    (">", Sym::Gt),
    ("(", Sym::LParen),
    (")", Sym::RParen),
    (",", Sym::Comma),
    (".", Sym::Dot),
    ("-", Sym::Minus),
    ("+", Sym::Plus),
    ("!", Sym::Bang),
];

/// One token and where it lies in the expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    /// Byte offset of its first character.
    pub start: usize,
    /// Byte offset just past it.
    pub end: usize,
}

/// All tokens of `src`, ending with [`Tok::End`].
pub fn tokenize(src: &str) -> Result<Vec<Token>, ParseError> {
    let mut lexer = Lexer { src, pos: 0 };
    let mut tokens = Vec::new();
    loop {
        let token = lexer.next_token()?;
        let done = token.tok == Tok::End;
        tokens.push(token);
        if done {
            return Ok(tokens);
        }
    }
}

struct Lexer<'s> {
    src: &'s str,
    pos: usize,
}

impl Lexer<'_> {
    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    fn error(&self, at: usize, what: &str) -> ParseError {
        ParseError::at(self.src, at, what, None)
    }

    fn next_token(&mut self) -> Result<Token, ParseError> {
        let skipped = self.rest().len() - self.rest().trim_start().len();
        self.pos += skipped;
        let start = self.pos;
        let mut chars = self.rest().chars();
        let (first, second) = (chars.next(), chars.next());
        let tok = match first {
            None => Tok::End,
            Some(q @ ('\'' | '"')) => Tok::Str(self.string(q)?),
            Some('`') => Tok::Quoted(self.quoted()?),
            Some(c) if c.is_ascii_digit() => Tok::Num(self.number()?),
            Some('.') if second.is_some_and(|c| c.is_ascii_digit()) => Tok::Num(self.number()?),
            Some(c) if is_word_char(c) => self.word()?,
            Some(c) => Tok::Sym(self.symbol(c)?),
        };
        Ok(Token { tok, start, end: self.pos })
    }

    /// A word, or a raw string when the word is `r` right before a quote.
    fn word(&mut self) -> Result<Tok, ParseError> {
        let len = self.rest().find(|c| !is_word_char(c)).unwrap_or(self.rest().len());
        let word = &self.rest()[..len];
        let raw_quote = self.rest()[len..].chars().next().filter(|q| matches!(q, '\'' | '"'));
        if let (true, Some(quote)) = (word.eq_ignore_ascii_case("r"), raw_quote) {
            return self.raw_string(quote).map(Tok::Str);
        }
        let word = word.to_owned();
        self.pos += len;
        Ok(Tok::Word(word))
    }

    fn symbol(&mut self, c: char) -> Result<Sym, ParseError> {
        if self.rest().starts_with("--") || self.rest().starts_with("/*") {
            return Err(self.error(self.pos, "SQL comments are not supported"));
        }
        if let Some((text, sym)) = SYMBOLS.iter().find(|(text, _)| self.rest().starts_with(text)) {
            self.pos += text.len();
            return Ok(*sym);
        }
        let what = if "*/%|&^~".contains(c) {
            format!("operator '{c}' is not supported (there is no arithmetic)")
        } else {
            format!("unexpected character '{c}'")
        };
        Err(self.error(self.pos, &what))
    }

    /// A quoted string starting at its quote; `\` escapes, a doubled quote
    /// stands for itself.
    fn string(&mut self, quote: char) -> Result<String, ParseError> {
        let start = self.pos;
        let mut out = String::new();
        let mut chars = self.src[start + 1..].char_indices();
        while let Some((i, c)) = chars.next() {
            if c == quote && self.src[start + 1 + i + 1..].starts_with(quote) {
                out.push(quote);
                chars.next();
            } else if c == quote {
                self.pos = start + 1 + i + 1;
                return Ok(out);
            } else if c == '\\' {
                let escaped = &self.src[start + 1 + i + 1..];
                let used = unescape(escaped, &mut out);
                if used > 0 {
                    chars.nth(used - 1);
                }
            } else {
                out.push(c);
            }
        }
        Err(self.error(start, "unterminated string starting"))
    }

    /// `r'...'` or `r"..."`: no escapes at all.
    fn raw_string(&mut self, quote: char) -> Result<String, ParseError> {
        let start = self.pos;
        let body = &self.src[start + 2..];
        let Some(len) = body.find(quote) else {
            return Err(self.error(start, "unterminated raw string starting"));
        };
        self.pos = start + 2 + len + 1;
        Ok(body[..len].to_owned())
    }

    /// A backquoted name; ``` `` ``` stands for one backquote.
    fn quoted(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        let mut out = String::new();
        let mut rest = &self.src[start + 1..];
        while let Some(i) = rest.find('`') {
            out.push_str(&rest[..i]);
            if !rest[i + 1..].starts_with('`') {
                self.pos = self.src.len() - rest.len() + i + 1;
                return Ok(out);
            }
            out.push('`');
            rest = &rest[i + 2..];
        }
        Err(self.error(start, "unterminated backquoted name starting"))
    }

    /// Digits, an optional fraction and exponent, and an optional suffix.
    fn number(&mut self) -> Result<Num, ParseError> {
        let start = self.pos;
        let b = self.src.as_bytes();
        let digits = |mut i: usize| {
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            i
        };
        let mut end = digits(start);
        let mut integer = true;
        if b.get(end) == Some(&b'.') {
            (end, integer) = (digits(end + 1), false);
        }
        if matches!(b.get(end), Some(b'e' | b'E')) {
            let sign = usize::from(matches!(b.get(end + 1), Some(b'+' | b'-')));
            let after = digits(end + 1 + sign);
            if after > end + 1 + sign {
                (end, integer) = (after, false);
            }
        }
        self.pos = end;
        let value = parse_number(&self.src[start..end]).unwrap_or(Num::Float(f64::NAN));
        self.suffix(start, value, integer)
    }

    /// Applies a Spark type suffix (`L`, `S`, `Y`, `D`, `F`, `BD`) if any.
    fn suffix(&mut self, start: usize, value: Num, integer: bool) -> Result<Num, ParseError> {
        let len = self.rest().find(|c| !is_word_char(c)).unwrap_or(self.rest().len());
        let suffix = self.rest()[..len].to_ascii_uppercase();
        let value = match suffix.as_str() {
            "" => value,
            "L" | "S" | "Y" if integer => value,
            "D" | "F" | "BD" => as_float(value),
            _ => return Err(self.error(start, "malformed number")),
        };
        if matches!(value, Num::Float(f) if !f.is_finite()) {
            return Err(self.error(start, "number out of range"));
        }
        self.pos += len;
        Ok(value)
    }
}

fn as_float(n: Num) -> Num {
    match n {
        Num::Int(i) => Num::Float(i as f64),
        float => float,
    }
}

/// Letters, digits and `_`: the characters of an unquoted word.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Decodes the escape after a backslash as Spark does, appending to `out`;
/// returns how many characters of `rest` it used. `\%` and `\_` keep their
/// backslash so that `LIKE` can see them.
fn unescape(rest: &str, out: &mut String) -> usize {
    let mut chars = rest.chars();
    let Some(c) = chars.next() else {
        out.push('\\');
        return 0;
    };
    if let Some((decoded, used)) = unicode_escape(rest).or_else(|| octal_escape(rest)) {
        out.push(decoded);
        return used;
    }
    match c {
        '0' => out.push('\0'),
        'b' => out.push('\u{8}'),
        'n' => out.push('\n'),
        'r' => out.push('\r'),
        't' => out.push('\t'),
        'Z' => out.push('\u{1a}'),
        '%' | '_' => {
            out.push('\\');
            out.push(c);
        }
        _ => out.push(c),
    }
    1
}

/// `uXXXX` (joining a surrogate pair written as two escapes) or `UXXXXXXXX`.
fn unicode_escape(rest: &str) -> Option<(char, usize)> {
    let hex = |from: usize, len: usize| {
        let digits = rest.get(from..from + len)?;
        digits.bytes().all(|b| b.is_ascii_hexdigit()).then(|| u32::from_str_radix(digits, 16).ok())?
    };
    let (code, used) = match rest.as_bytes().first() {
        Some(b'u') => (hex(1, 4)?, 5),
        Some(b'U') => (hex(1, 8)?, 9),
        _ => return None,
    };
    if (0xD800..0xDC00).contains(&code)
        && rest.get(5..7) == Some("\\u")
        && let Some(low) = hex(7, 4).filter(|low| (0xDC00..0xE000).contains(low))
    {
        let joined = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
        return Some((char::from_u32(joined)?, 11));
    }
    Some((char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER), used))
}

/// `[01][0-7][0-7]`: a character by its octal code.
fn octal_escape(rest: &str) -> Option<(char, usize)> {
    let b = rest.as_bytes().get(..3)?;
    let octal = matches!(b[0], b'0' | b'1') && b[1..].iter().all(|d| (b'0'..=b'7').contains(d));
    octal.then(|| (char::from(u8::from_str_radix(&rest[..3], 8).unwrap_or(0)), 3))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        tokenize(src).unwrap().into_iter().map(|t| t.tok).collect()
    }

    fn one(src: &str) -> Tok {
        toks(src).remove(0)
    }

    fn err(src: &str) -> String {
        tokenize(src).unwrap_err().to_string()
    }

    fn string(text: &str) -> Tok {
        Tok::Str(text.into())
    }

    #[test]
    fn splits_words_symbols_and_literals() {
        use Sym::*;
        let word = |w: &str| Tok::Word(w.into());
        assert_eq!(
            toks("a.b<=>'x'AND(c!=1.5)"),
            vec![
                word("a"),
                Tok::Sym(Dot),
                word("b"),
                Tok::Sym(NullSafeEq),
                string("x"),
                word("AND"),
                Tok::Sym(LParen),
                word("c"),
                Tok::Sym(Ne),
                Tok::Num(Num::Float(1.5)),
                Tok::Sym(RParen),
                Tok::End,
            ]
        );
        let ops = toks("= == != <> < <= > >= !< !> ! - +");
        let expected = [Eq, Eq, Ne, Ne, Lt, Le, Gt, Ge, Ge, Le, Bang, Minus, Plus].map(Tok::Sym);
        assert_eq!(ops[..ops.len() - 1], expected);
    }

    #[test]
    fn records_byte_ranges() {
        let tokens = tokenize("  Ville = 'Liège'").unwrap();
        let ranges: Vec<_> = tokens.iter().map(|t| (t.start, t.end)).collect();
        assert_eq!(ranges, vec![(2, 7), (8, 9), (10, 18), (18, 18)]);
    }

    #[test]
    fn reads_numbers_with_suffixes() {
        assert_eq!(one("42"), Tok::Num(Num::Int(42)));
        assert_eq!(one("42L"), Tok::Num(Num::Int(42)));
        assert_eq!(one("42d"), Tok::Num(Num::Float(42.0)));
        assert_eq!(one("1.5BD"), Tok::Num(Num::Float(1.5)));
        assert_eq!(one(".5"), Tok::Num(Num::Float(0.5)));
        assert_eq!(one("5."), Tok::Num(Num::Float(5.0)));
        assert_eq!(one("1e3"), Tok::Num(Num::Float(1000.0)));
        assert_eq!(one("2.5E-1"), Tok::Num(Num::Float(0.25)));
        assert_eq!(one("12345678901234567890"), Tok::Num(Num::Float(12_345_678_901_234_567_890.0)));
        assert_eq!(err("x = 12abc"), "malformed number at column 5: x = 12abc");
        assert_eq!(err("x = 1.5L"), "malformed number at column 5: x = 1.5L");
        assert_eq!(err("x = 1e999"), "number out of range at column 5: x = 1e999");
    }

    #[test]
    fn unescapes_strings_like_spark() {
        assert_eq!(one(r"'it\'s'"), string("it's"));
        assert_eq!(one("'it''s'"), string("it's"));
        assert_eq!(one(r#""say \"hi\"""#), string("say \"hi\""));
        assert_eq!(one(r#""a""b""#), string("a\"b"));
        assert_eq!(one(r#""it's""#), string("it's"));
        assert_eq!(one(r"'a\\b'"), string("a\\b"));
        assert_eq!(one(r"'\n\t\r\0\Z\b'"), string("\n\t\r\0\u{1a}\u{8}"));
        assert_eq!(one(r"'50\%\_'"), string("50\\%\\_"));
        assert_eq!(one(r"'\u00e9\U0001F600\ud83d\ude00'"), string("é😀😀"));
        assert_eq!(one(r"'\101\q'"), string("Aq"));
        assert_eq!(one(r"r'C:\dir\n'"), string("C:\\dir\\n"));
        assert_eq!(one(r#"R"x\""#), string("x\\"));
    }

    #[test]
    fn reads_backquoted_names() {
        assert_eq!(one("`Store ID`"), Tok::Quoted("Store ID".into()));
        assert_eq!(one("`a``b`"), Tok::Quoted("a`b".into()));
        assert_eq!(one("`a.b`"), Tok::Quoted("a.b".into()));
        assert_eq!(one("Città"), Tok::Word("Città".into()));
    }

    #[test]
    fn points_at_lexical_errors() {
        assert_eq!(err("StoreID = 'STR7188"), "unterminated string starting at column 11: StoreID = 'STR7188");
        assert_eq!(err(r"a = 'x\'"), r"unterminated string starting at column 5: a = 'x\'");
        assert_eq!(err("`Store ID = 1"), "unterminated backquoted name starting at column 1: `Store ID = 1");
        assert_eq!(err("a = r'x"), "unterminated raw string starting at column 5: a = r'x");
        assert_eq!(err("a # 1"), "unexpected character '#' at column 3: a # 1");
        assert_eq!(err("a * 2 > 1"), "operator '*' is not supported (there is no arithmetic) at column 3: a * 2 > 1");
        assert_eq!(err("a = 1 -- note"), "SQL comments are not supported at column 7: a = 1 -- note");
    }
}
