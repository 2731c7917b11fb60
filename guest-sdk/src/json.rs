//! A strict, allocation-free JSON scanner for one record at a time.
//!
//! [`index_object`] makes a single pass over a line: it validates the whole
//! text against RFC 8259, records where each top-level member's key and value
//! lie, and notes whether the line has any whitespace outside strings. That
//! is all the filter, key and default value need, so most transforms never
//! build a `serde_json::Value`. The helpers below it work on text that pass
//! has already validated.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

/// Nesting deeper than this is refused rather than risking the guest stack.
pub const MAX_DEPTH: u32 = 128;

/// Where a top-level member's key (inside the quotes) and value lie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Key text between its quotes, still escaped.
    pub key: Range<usize>,
    /// The value's raw JSON text.
    pub value: Range<usize>,
}

/// The result of scanning one record, reused across records.
#[derive(Debug, Default, Clone)]
pub struct Index {
    /// Top-level members in the order they appear.
    pub members: Vec<Member>,
    /// No whitespace outside strings: the text is already compact JSON.
    pub compact: bool,
}

/// Why a record is not valid JSON, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    /// Byte offset within the record.
    pub offset: usize,
    /// What was expected or found there.
    pub reason: &'static str,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed JSON at byte {}: {}", self.offset, self.reason)
    }
}

impl std::error::Error for JsonError {}

/// Validates `text` as one JSON object and indexes its top-level members.
pub fn index_object(text: &[u8], index: &mut Index) -> Result<(), JsonError> {
    index.members.clear();
    let mut s = Scanner { b: text, pos: 0, compact: true, depth: 0 };
    s.ws();
    if s.peek() != Some(b'{') {
        return Err(s.err("a record must be a JSON object"));
    }
    s.object(Some(&mut index.members))?;
    s.ws();
    if s.pos != text.len() {
        return Err(s.err("unexpected text after the object"));
    }
    index.compact = s.compact;
    Ok(())
}

struct Scanner<'a> {
    b: &'a [u8],
    pos: usize,
    compact: bool,
    depth: u32,
}

impl Scanner<'_> {
    fn err(&self, reason: &'static str) -> JsonError {
        JsonError { offset: self.pos, reason }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn ws(&mut self) {
        let start = self.pos;
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
        self.compact &= self.pos == start;
    }

    fn expect(&mut self, byte: u8, reason: &'static str) -> Result<(), JsonError> {
        if self.peek() != Some(byte) {
            return Err(self.err(reason));
        }
        self.pos += 1;
        Ok(())
    }

    fn value(&mut self) -> Result<(), JsonError> {
        match self.peek() {
            Some(b'{') => self.object(None),
            Some(b'[') => self.array(),
            Some(b'"') => self.string().map(drop),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.err("expected a value")),
            None => Err(self.err("unexpected end of line, expected a value")),
        }
    }

    fn enter(&mut self) -> Result<(), JsonError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err("nested more than 128 levels deep"));
        }
        self.pos += 1;
        self.ws();
        Ok(())
    }

    fn object(&mut self, mut members: Option<&mut Vec<Member>>) -> Result<(), JsonError> {
        self.enter()?;
        if self.peek() == Some(b'}') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(());
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.err("expected a string key"));
            }
            let key = self.string()?;
            self.ws();
            self.expect(b':', "expected ':' after the key")?;
            self.ws();
            let start = self.pos;
            self.value()?;
            if let Some(members) = members.as_deref_mut() {
                members.push(Member { key, value: start..self.pos });
            }
            self.ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.ws();
                }
                Some(b'}') => break,
                _ => return Err(self.err("expected ',' or '}' in the object")),
            }
        }
        self.pos += 1;
        self.depth -= 1;
        Ok(())
    }

    fn array(&mut self) -> Result<(), JsonError> {
        self.enter()?;
        if self.peek() == Some(b']') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(());
        }
        loop {
            self.value()?;
            self.ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.ws();
                }
                Some(b']') => break,
                _ => return Err(self.err("expected ',' or ']' in the array")),
            }
        }
        self.pos += 1;
        self.depth -= 1;
        Ok(())
    }

    /// Scans a string starting at its opening quote; returns its inner range.
    fn string(&mut self) -> Result<Range<usize>, JsonError> {
        self.pos += 1;
        let start = self.pos;
        loop {
            let rest = &self.b[self.pos..];
            let Some(i) = rest.iter().position(|&c| STRING_STOP[c as usize]) else {
                self.pos = self.b.len();
                return Err(self.err("unterminated string"));
            };
            self.pos += i;
            match self.b[self.pos] {
                b'"' => {
                    self.pos += 1;
                    return Ok(start..self.pos - 1);
                }
                b'\\' => self.escape()?,
                _ => return Err(self.err("control character in a string")),
            }
        }
    }

    fn escape(&mut self) -> Result<(), JsonError> {
        self.pos += 1;
        match self.peek() {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.pos += 1,
            Some(b'u') => {
                let hex = self.b.get(self.pos + 1..self.pos + 5);
                if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                    return Err(self.err("\\u must be followed by four hex digits"));
                }
                self.pos += 5;
            }
            _ => return Err(self.err("invalid escape in a string")),
        }
        Ok(())
    }

    fn literal(&mut self, word: &'static [u8]) -> Result<(), JsonError> {
        if !self.b[self.pos..].starts_with(word) {
            return Err(self.err("expected true, false or null"));
        }
        self.pos += word.len();
        Ok(())
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<(), JsonError> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => drop(self.digits()),
            _ => return Err(self.err("expected a digit")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.err("expected a digit after '.'"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.err("expected a digit in the exponent"));
            }
        }
        Ok(())
    }
}

/// Bytes that end a run of plain string content: quote, backslash, controls.
const STRING_STOP: [bool; 256] = {
    let mut table = [false; 256];
    let mut c = 0;
    while c < 0x20 {
        table[c] = true;
        c += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// Appends `text` (valid JSON) with the whitespace outside strings removed.
pub fn write_compact(text: &[u8], out: &mut Vec<u8>) {
    out.reserve(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for &c in text {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_string = false;
            }
        } else if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
            continue;
        } else if c == b'"' {
            in_string = true;
        }
        out.push(c);
    }
}

/// Finds member `name` of the valid JSON object `object`; returns its value's
/// raw text. The last of duplicate keys wins, as in `serde_json`.
pub fn find_member<'a>(object: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let mut found = None;
    let mut pos = skip_ws(object, 0);
    if object.get(pos) != Some(&b'{') {
        return None;
    }
    pos = skip_ws(object, pos + 1);
    while object.get(pos) == Some(&b'"') {
        let key_end = skip_string(object, pos);
        let key = &object[pos + 1..key_end - 1];
        let value_start = skip_ws(object, skip_ws(object, key_end) + 1);
        let value_end = skip_value(object, value_start);
        if key_matches(key, name) {
            found = Some(&object[value_start..value_end]);
        }
        pos = skip_ws(object, value_end);
        if object.get(pos) != Some(&b',') {
            break;
        }
        pos = skip_ws(object, pos + 1);
    }
    found
}

/// Compares an escaped key (between its quotes) with a plain name.
pub fn key_matches(escaped_key: &[u8], name: &str) -> bool {
    if !escaped_key.contains(&b'\\') {
        return escaped_key == name.as_bytes();
    }
    unescape(escaped_key) == name
}

fn skip_ws(b: &[u8], mut pos: usize) -> usize {
    while matches!(b.get(pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        pos += 1;
    }
    pos
}

/// Returns the position just after the string whose quote is at `pos`.
fn skip_string(b: &[u8], mut pos: usize) -> usize {
    pos += 1;
    while pos < b.len() {
        match b[pos] {
            b'"' => return pos + 1,
            b'\\' => pos += 2,
            _ => pos += 1,
        }
    }
    b.len()
}

/// Returns the position just after the valid value starting at `pos`.
fn skip_value(b: &[u8], mut pos: usize) -> usize {
    let mut depth = 0usize;
    while pos < b.len() {
        match b[pos] {
            b'"' => {
                pos = skip_string(b, pos);
                if depth == 0 {
                    return pos;
                }
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' if depth == 0 => return pos,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return pos + 1;
                }
            }
            b',' | b' ' | b'\t' | b'\n' | b'\r' if depth == 0 => return pos,
            _ => {}
        }
        pos += 1;
    }
    pos
}

/// Decodes the escapes of string content (the text between the quotes).
pub fn unescape(escaped: &[u8]) -> Cow<'_, str> {
    if !escaped.contains(&b'\\') {
        return String::from_utf8_lossy(escaped);
    }
    let mut out = String::with_capacity(escaped.len());
    let mut i = 0;
    while i < escaped.len() {
        let Some(off) = escaped[i..].iter().position(|&c| c == b'\\') else {
            out.push_str(&String::from_utf8_lossy(&escaped[i..]));
            break;
        };
        out.push_str(&String::from_utf8_lossy(&escaped[i..i + off]));
        i += off + 1;
        i += push_escape(&escaped[i..], &mut out);
    }
    Cow::Owned(out)
}

/// Decodes one escape after its backslash; returns the bytes it used.
fn push_escape(rest: &[u8], out: &mut String) -> usize {
    let simple = match rest.first() {
        Some(b'b') => '\u{8}',
        Some(b'f') => '\u{c}',
        Some(b'n') => '\n',
        Some(b'r') => '\r',
        Some(b't') => '\t',
        Some(b'u') => return push_unicode(rest, out),
        Some(&c) => c as char,
        None => return 0,
    };
    out.push(simple);
    1
}

fn push_unicode(rest: &[u8], out: &mut String) -> usize {
    let hex = |at: usize| {
        let digits = rest.get(at..at + 4)?;
        u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
    };
    let Some(first) = hex(1) else { return 1 };
    let low = hex(7).filter(|s| (0xDC00..0xE000).contains(s));
    if let Some(second) = low.filter(|_| (0xD800..0xDC00).contains(&first) && rest.get(5..7) == Some(b"\\u")) {
        let c = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
        out.push(char::from_u32(c).unwrap_or('\u{fffd}'));
        return 11;
    }
    out.push(char::from_u32(first).unwrap_or('\u{fffd}'));
    5
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(text: &str) -> Result<Index, JsonError> {
        let mut idx = Index::default();
        index_object(text.as_bytes(), &mut idx).map(|()| idx)
    }

    #[test]
    fn indexes_top_level_members() {
        let text = r#"{"a":1,"b":{"c":[1,2,{"d":"x"}]},"e\"f":"g"}"#;
        let idx = index(text).unwrap();
        assert!(idx.compact);
        let spans: Vec<_> = idx.members.iter().map(|m| (&text[m.key.clone()], &text[m.value.clone()])).collect();
        assert_eq!(spans, vec![("a", "1"), ("b", r#"{"c":[1,2,{"d":"x"}]}"#), (r#"e\"f"#, r#""g""#)]);
    }

    #[test]
    fn accepts_what_serde_json_accepts() {
        let good = [
            r#"{}"#,
            r#" { "a" : [ ] , "b" : { } } "#,
            r#"{"n":-0.5e+10,"m":0,"o":12.25E-3,"t":true,"f":false,"z":null}"#,
            r#"{"s":"\u00e9\n\t\"\\\/ ünï"}"#,
        ];
        for text in good {
            assert!(serde_json::from_str::<serde_json::Value>(text).is_ok(), "{text}");
            assert!(index(text).is_ok(), "{text}");
        }
    }

    #[test]
    fn refuses_what_serde_json_refuses_with_a_position() {
        let bad = [
            (r#"{"a":1"#, 6, "expected ',' or '}' in the object"),
            (r#"{"a":01}"#, 6, "expected ',' or '}' in the object"),
            (r#"{"a":1.}"#, 7, "expected a digit after '.'"),
            (r#"{"a":tru}"#, 5, "expected true, false or null"),
            (r#"{"a":"x}"#, 8, "unterminated string"),
            (r#"{"a":"\q"}"#, 7, "invalid escape in a string"),
            (r#"{"a":1,}"#, 7, "expected a string key"),
            (r#"[1,2]"#, 0, "a record must be a JSON object"),
            (r#"{"a":1} x"#, 8, "unexpected text after the object"),
            ("{\"a\":\"\u{1}\"}", 6, "control character in a string"),
            ("", 0, "a record must be a JSON object"),
        ];
        for (text, offset, reason) in bad {
            let valid_json_not_object = text == "[1,2]";
            assert_eq!(serde_json::from_str::<serde_json::Value>(text).is_ok(), valid_json_not_object, "{text}");
            assert_eq!(index(text).unwrap_err(), JsonError { offset, reason }, "{text}");
        }
    }

    #[test]
    fn refuses_deep_nesting() {
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(200), "]".repeat(200));
        assert_eq!(index(&deep).unwrap_err().reason, "nested more than 128 levels deep");
    }

    #[test]
    fn compacts_whitespace_outside_strings_only() {
        let text = "{ \"a b\" : [ 1 , \"x \\\" y\" ],\t\"c\":\r\n2 }";
        assert!(!index(text).unwrap().compact);
        let mut out = Vec::new();
        write_compact(text.as_bytes(), &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), r#"{"a b":[1,"x \" y"],"c":2}"#);
    }

    #[test]
    fn finds_nested_members_and_last_duplicate() {
        let text = br#"{ "x" : { "City" : "Pune", "Pin": "411001" }, "d":1, "d":[2] }"#;
        let x = find_member(text, "x").unwrap();
        assert_eq!(find_member(x, "City"), Some(br#""Pune""#.as_slice()));
        assert_eq!(find_member(x, "Missing"), None);
        assert_eq!(find_member(text, "d"), Some(b"[2]".as_slice()));
        assert_eq!(find_member(b"[1]", "d"), None);
    }

    #[test]
    fn unescapes_strings() {
        assert_eq!(unescape(br#"plain"#), "plain");
        assert_eq!(unescape(br#"a\"b\\c\/d\ne"#), "a\"b\\c/d\ne");
        assert_eq!(unescape(br#"\u00e9\ud83d\ude00"#), "é😀");
        assert!(key_matches(br#"Store\u0049D"#, "StoreID"));
    }
}
