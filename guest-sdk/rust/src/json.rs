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
    index.compact = scan(text, &mut index.members)?;
    Ok(())
}

/// What the scanner expects next.
#[derive(Clone, Copy)]
enum Expect {
    /// A value (after `:`, `[` or an array's `,`).
    Value,
    /// A key, or `}` (just after `{`).
    KeyOrClose,
    /// A key (after an object's `,`).
    Key,
    /// A value, or `]` (just after `[`).
    ValueOrClose,
    /// `,` or the container's close, after a value.
    Next,
    /// The container's close, at `pos`.
    Close,
}

/// The scan itself; true if the text has no whitespace outside strings.
///
/// One loop over the bytes, its state in locals and the nesting in a bit
/// stack (a 1 for each level that is an object), so that in wasm everything
/// stays in registers; a recursive descent kept its position in memory
/// and cost three times as much. This is most of the time a transform spends
/// on a record.
fn scan(b: &[u8], members: &mut Vec<Member>) -> Result<bool, JsonError> {
    let mut pos = 0;
    let mut compact = true;
    let mut depth = 0u32;
    // The current level is an object; `outer` holds that bit of each
    // enclosing level, innermost lowest.
    let (mut in_object, mut outer) = (false, 0u128);
    let (mut key, mut value_start) = (0..0, 0);
    macro_rules! fail {
        ($reason:expr) => {
            return Err(JsonError { offset: pos, reason: $reason })
        };
    }
    macro_rules! ws {
        () => {
            if matches!(b.get(pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
                compact = false;
                pos = skip_ws(b, pos);
            }
        };
    }
    ws!();
    if b.get(pos) != Some(&b'{') {
        fail!("a record must be a JSON object");
    }
    let mut expect = Expect::Value;
    loop {
        expect = match expect {
            Expect::KeyOrClose if b.get(pos) == Some(&b'}') => Expect::Close,
            Expect::ValueOrClose if b.get(pos) == Some(&b']') => Expect::Close,
            Expect::Key | Expect::KeyOrClose => {
                if b.get(pos) != Some(&b'"') {
                    fail!("expected a string key");
                }
                let name = string(b, pos)?;
                pos = name.end + 1;
                ws!();
                if b.get(pos) != Some(&b':') {
                    fail!("expected ':' after the key");
                }
                pos += 1;
                ws!();
                if depth == 1 {
                    (key, value_start) = (name, pos);
                }
                Expect::Value
            }
            Expect::Value | Expect::ValueOrClose => match b.get(pos) {
                Some(b'"') => {
                    pos = string(b, pos)?.end + 1;
                    Expect::Next
                }
                Some(b'-' | b'0'..=b'9') => {
                    pos = number(b, pos)?;
                    Expect::Next
                }
                Some(&open @ (b'{' | b'[')) => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        fail!("nested more than 128 levels deep");
                    }
                    outer = outer << 1 | u128::from(in_object);
                    in_object = open == b'{';
                    pos += 1;
                    ws!();
                    if in_object { Expect::KeyOrClose } else { Expect::ValueOrClose }
                }
                Some(&first @ (b't' | b'f' | b'n')) => {
                    let word: &[u8] = match first {
                        b't' => b"true",
                        b'f' => b"false",
                        _ => b"null",
                    };
                    if !b[pos..].starts_with(word) {
                        fail!("expected true, false or null");
                    }
                    pos += word.len();
                    Expect::Next
                }
                Some(_) => fail!("expected a value"),
                None => fail!("unexpected end of line, expected a value"),
            },
            Expect::Next => {
                if depth == 1 {
                    members.push(Member { key: key.clone(), value: value_start..pos });
                }
                ws!();
                match b.get(pos) {
                    Some(b',') => {
                        pos += 1;
                        ws!();
                        if in_object { Expect::Key } else { Expect::Value }
                    }
                    Some(b'}') if in_object => Expect::Close,
                    Some(b']') if !in_object => Expect::Close,
                    _ if in_object => fail!("expected ',' or '}' in the object"),
                    _ => fail!("expected ',' or ']' in the array"),
                }
            }
            Expect::Close => {
                pos += 1;
                depth -= 1;
                if depth == 0 {
                    break;
                }
                in_object = outer & 1 == 1;
                outer >>= 1;
                Expect::Next
            }
        };
    }
    ws!();
    if pos != b.len() {
        fail!("unexpected text after the object");
    }
    Ok(compact)
}

fn skip_ws(b: &[u8], mut pos: usize) -> usize {
    while matches!(b.get(pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        pos += 1;
    }
    pos
}

/// Scans the string whose opening quote is at `quote`; returns the range
/// between its quotes.
#[inline(always)]
fn string(b: &[u8], quote: usize) -> Result<Range<usize>, JsonError> {
    let start = quote + 1;
    let mut pos = start;
    loop {
        pos += string_stop(&b[pos..]);
        match b.get(pos) {
            Some(b'"') => return Ok(start..pos),
            Some(b'\\') => pos = escape(b, pos + 1)?,
            Some(_) => return Err(JsonError { offset: pos, reason: "control character in a string" }),
            None => return Err(JsonError { offset: pos, reason: "unterminated string" }),
        }
    }
}

/// Checks the escape after a backslash (`pos` is just after it); returns
/// where the string goes on.
#[cold]
fn escape(b: &[u8], pos: usize) -> Result<usize, JsonError> {
    match b.get(pos) {
        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(pos + 1),
        Some(b'u') if b.get(pos + 1..pos + 5).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) => Ok(pos + 5),
        Some(b'u') => Err(JsonError { offset: pos, reason: "\\u must be followed by four hex digits" }),
        _ => Err(JsonError { offset: pos, reason: "invalid escape in a string" }),
    }
}

/// Scans the number starting at `pos`; returns where it ends.
#[inline(always)]
fn number(b: &[u8], mut pos: usize) -> Result<usize, JsonError> {
    let digits = |mut pos: usize| {
        let start = pos;
        while matches!(b.get(pos), Some(b'0'..=b'9')) {
            pos += 1;
        }
        (pos, pos > start)
    };
    let fail = |offset, reason| Err(JsonError { offset, reason });
    if b.get(pos) == Some(&b'-') {
        pos += 1;
    }
    match b.get(pos) {
        Some(b'0') => pos += 1,
        Some(b'1'..=b'9') => pos = digits(pos).0,
        _ => return fail(pos, "expected a digit"),
    }
    if b.get(pos) == Some(&b'.') {
        let (end, any) = digits(pos + 1);
        if !any {
            return fail(pos + 1, "expected a digit after '.'");
        }
        pos = end;
    }
    if matches!(b.get(pos), Some(b'e' | b'E')) {
        pos += 1;
        if matches!(b.get(pos), Some(b'+' | b'-')) {
            pos += 1;
        }
        let (end, any) = digits(pos);
        if !any {
            return fail(pos, "expected a digit in the exponent");
        }
        pos = end;
    }
    Ok(pos)
}

/// Every byte of a word set to `byte`.
const fn splat(byte: u8) -> u64 {
    u64::from_le_bytes([byte; 8])
}

/// The length of the run of plain string content (no quote, backslash or
/// control character) at the start of `rest`: all of it if none ends it.
///
/// Eight bytes at a time (SWAR): strings are most of a record's bytes. Each
/// test below flags the lowest matching byte of a word exactly (a borrow can
/// only flag bytes above a true match), so the lowest flag of their union is
/// the first stop.
#[inline(always)]
fn string_stop(rest: &[u8]) -> usize {
    const HIGH: u64 = splat(0x80);
    let zero = |v: u64| v.wrapping_sub(splat(1)) & !v & HIGH;
    let mut offset = 0;
    while let Some(chunk) = rest.get(offset..offset + 8) {
        let word = u64::from_le_bytes(chunk.try_into().expect("a chunk of 8"));
        let control = word.wrapping_sub(splat(0x20)) & !word & HIGH;
        let stops = zero(word ^ splat(b'"')) | zero(word ^ splat(b'\\')) | control;
        if stops != 0 {
            return offset + (stops.trailing_zeros() / 8) as usize;
        }
        offset += 8;
    }
    let tail = &rest[offset..];
    offset + tail.iter().position(|&c| STRING_STOP[c as usize]).unwrap_or(tail.len())
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
    fn string_stop_finds_the_first_stop_at_any_offset() {
        // Plain bytes around every stop, at every offset of a word and of
        // the tail, including UTF-8 bytes (0x80 and up) and 0x20 and 0x7F,
        // which are plain.
        let plain = [b'a', b' ', 0x7f, 0x80, 0xc3, 0xff, b'0'];
        for len in 0..20 {
            for &fill in &plain {
                let run = vec![fill; len];
                assert_eq!(string_stop(&run), len, "{fill:#x} x {len}");
                for at in 0..len {
                    for stop in [b'"', b'\\', 0x00, 0x1f, b'\n'] {
                        let mut text = run.clone();
                        text[at] = stop;
                        if at + 1 < len {
                            text[at + 1] = b'"';
                        }
                        assert_eq!(string_stop(&text), at, "{stop:#x} at {at} in {fill:#x} x {len}");
                    }
                }
            }
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
