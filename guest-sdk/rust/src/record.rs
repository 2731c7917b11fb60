//! [`Record`]: one input line, as raw bytes and as JSON.
//!
//! A record is validated and indexed once when it is built (see
//! [`crate::json`]); field look-ups then cost a scan of one member's text,
//! and the full `serde_json::Value` is built only if the transform asks.

use std::borrow::Cow;
use std::cell::OnceCell;

use crate::json::{self, Index};
use crate::{Error, Result};

/// One JSON-lines record handed to a [`crate::Transform`].
#[derive(Debug)]
pub struct Record<'a> {
    raw: &'a [u8],
    index: &'a Index,
    parsed: OnceCell<serde_json::Value>,
}

impl<'a> Record<'a> {
    /// Wraps a line that [`json::index_object`] has already validated into `index`.
    pub(crate) fn new(raw: &'a [u8], index: &'a Index) -> Self {
        Record { raw, index, parsed: OnceCell::new() }
    }

    /// The line exactly as it was read, without its line terminator.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The line as text. The host only hands over valid UTF-8.
    pub fn as_str(&self) -> &'a str {
        std::str::from_utf8(self.raw).unwrap_or_default()
    }

    /// The whole record parsed into a `serde_json::Value`, built on first use.
    pub fn json(&self) -> Result<&serde_json::Value> {
        if let Some(value) = self.parsed.get() {
            return Ok(value);
        }
        let value = serde_json::from_slice(self.raw).map_err(Error::new)?;
        Ok(self.parsed.get_or_init(|| value))
    }

    /// The field at `path`, a dot-separated list of member names
    /// (`DeliveryAddress.City`), or `None` if any step is missing or not an
    /// object. Cheap: it does not parse the whole record.
    pub fn field(&self, path: &str) -> Option<RawValue<'a>> {
        let mut steps = path.split('.');
        let first = self.member(steps.next()?)?;
        steps.try_fold(first, |value, step| value.member(step))
    }

    /// The top-level member called exactly `name` (dots and all); the last
    /// of duplicate keys wins.
    pub fn member(&self, name: &str) -> Option<RawValue<'a>> {
        let member = self.index.members.iter().rev().find(|m| json::key_matches(&self.raw[m.key.clone()], name))?;
        Some(RawValue(&self.raw[member.value.clone()]))
    }

    /// The top-level members in the order they appear: each key's text
    /// between its quotes (still escaped) and its value. For look-ups the
    /// SDK's own matching does not cover (case-insensitive names).
    pub fn members(&self) -> impl Iterator<Item = (&'a [u8], RawValue<'a>)> + '_ {
        let raw = self.raw;
        self.index.members.iter().map(move |m| (&raw[m.key.clone()], RawValue(&raw[m.value.clone()])))
    }

    /// The string field at `path`, unescaped; `None` if missing or not a string.
    pub fn str_field(&self, path: &str) -> Option<Cow<'a, str>> {
        self.field(path)?.as_str()
    }

    /// Appends the record as compact JSON: no whitespace outside strings,
    /// members in their original order, numbers exactly as written.
    pub fn write_compact_json(&self, out: &mut Vec<u8>) {
        if self.index.compact {
            out.extend_from_slice(self.raw);
        } else {
            json::write_compact(self.raw, out);
        }
    }
}

/// The raw JSON text of one value inside a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawValue<'a>(&'a [u8]);

/// The JSON type of a [`RawValue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `null`
    Null,
    /// `true` or `false`
    Bool,
    /// A number
    Number,
    /// A string
    String,
    /// An array
    Array,
    /// An object
    Object,
}

impl<'a> RawValue<'a> {
    /// The value's JSON text, as it appears in the record.
    pub fn raw(&self) -> &'a [u8] {
        self.0
    }

    /// Member `name` of this value, if it is an object that has one.
    pub fn member(&self, name: &str) -> Option<RawValue<'a>> {
        json::find_member(self.0, name).map(RawValue)
    }

    /// The value's JSON type.
    pub fn kind(&self) -> Kind {
        match self.0.first() {
            Some(b'"') => Kind::String,
            Some(b'{') => Kind::Object,
            Some(b'[') => Kind::Array,
            Some(b't' | b'f') => Kind::Bool,
            Some(b'n') | None => Kind::Null,
            Some(_) => Kind::Number,
        }
    }

    /// The string's content, unescaped, if this is a string.
    pub fn as_str(&self) -> Option<Cow<'a, str>> {
        (self.kind() == Kind::String).then(|| json::unescape(&self.0[1..self.0.len() - 1]))
    }

    /// The number, if this is a number.
    pub fn as_f64(&self) -> Option<f64> {
        if self.kind() != Kind::Number {
            return None;
        }
        std::str::from_utf8(self.0).ok()?.parse().ok()
    }

    /// The boolean, if this is `true` or `false`.
    pub fn as_bool(&self) -> Option<bool> {
        match self.0 {
            b"true" => Some(true),
            b"false" => Some(false),
            _ => None,
        }
    }

    /// Whether this is JSON `null`.
    pub fn is_null(&self) -> bool {
        self.kind() == Kind::Null
    }

    /// The value as Kafka key or header bytes: a string's unescaped content,
    /// any other value's compact JSON text.
    pub fn to_bytes(&self) -> Cow<'a, [u8]> {
        match self.as_str() {
            Some(Cow::Borrowed(s)) => Cow::Borrowed(s.as_bytes()),
            Some(Cow::Owned(s)) => Cow::Owned(s.into_bytes()),
            None => {
                let mut out = Vec::with_capacity(self.0.len());
                json::write_compact(self.0, &mut out);
                Cow::Owned(out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_record<R>(text: &str, f: impl FnOnce(&Record<'_>) -> R) -> R {
        let mut index = Index::default();
        json::index_object(text.as_bytes(), &mut index).unwrap();
        f(&Record::new(text.as_bytes(), &index))
    }

    #[test]
    fn reads_fields_without_parsing() {
        let text = r#"{"StoreID":"STR7188","Total":12.5,"Prime":true,"Addr":{"City":"Pune"},"N":null,"a.b":7}"#;
        with_record(text, |r| {
            assert_eq!(r.str_field("StoreID").as_deref(), Some("STR7188"));
            assert_eq!(r.field("Total").and_then(|v| v.as_f64()), Some(12.5));
            assert_eq!(r.field("Prime").and_then(|v| v.as_bool()), Some(true));
            assert_eq!(r.str_field("Addr.City").as_deref(), Some("Pune"));
            assert!(r.field("N").unwrap().is_null());
            assert_eq!(r.field("Addr.Missing"), None);
            assert_eq!(r.field("Total.Deeper"), None);
            assert_eq!(r.field("Addr").unwrap().to_bytes().as_ref(), br#"{"City":"Pune"}"#);
            assert_eq!(r.member("a.b").and_then(|v| v.as_f64()), Some(7.0));
            assert_eq!(r.field("a.b"), None);
            assert_eq!(
                r.member("Addr").and_then(|v| v.member("City")).and_then(|v| v.as_str()).as_deref(),
                Some("Pune")
            );
        });
    }

    #[test]
    fn parses_on_demand_and_compacts() {
        with_record(r#"{ "a" : [1, 2] }"#, |r| {
            assert_eq!(r.json().unwrap()["a"][1], 2);
            let mut out = Vec::new();
            r.write_compact_json(&mut out);
            assert_eq!(out, br#"{"a":[1,2]}"#);
        });
    }
}
