//! Members by name: a record's top-level member, found case-insensitively
//! as Spark's default `spark.sql.caseSensitive=false` finds it, and a
//! member of a struct value (or of each element of an array).
//!
//! Both run for every field of every record an expression reads, so the
//! record lookup decides from the key's bytes when it can and unescapes and
//! lowercases only when an escape or a non-ASCII byte comes first.

use sluice_guest_sdk::{RawValue, Record, json};

use crate::error::EvalError;
use crate::value::Value;

/// The member of `record` whose name equals `name` ignoring case; two
/// members that match in different spellings are an error naming both.
pub fn find_folded<'r>(record: &Record<'r>, name: &str) -> Result<Option<RawValue<'r>>, EvalError> {
    let mut found: Option<(&[u8], RawValue<'r>)> = None;
    let ascii_name = name.is_ascii();
    for (key, value) in record.members() {
        let quick = if ascii_name { ascii_fold_eq(key, name.as_bytes()) } else { None };
        let matches = quick.unwrap_or_else(|| json::unescape(key).to_lowercase() == name.to_lowercase());
        if !matches {
            continue;
        }
        if let Some((first, _)) = found
            && first != key
        {
            return Err(EvalError::Ambiguous {
                name: name.to_owned(),
                first: String::from_utf8_lossy(first).into_owned(),
                second: String::from_utf8_lossy(key).into_owned(),
            });
        }
        found = Some((key, value));
    }
    Ok(found.map(|(_, v)| v))
}

/// Whether the escaped key `key` equals the ASCII `name` ignoring ASCII
/// case, when its bytes decide it: `None` once the key has an escape or a
/// non-ASCII byte before a difference (the caller then unescapes and
/// lowercases). Bytes before the first such byte stand for themselves, and
/// every escape or character stands for at least one character, so a
/// difference or a longer key there decides. One pass that stops at the
/// first difference: this runs for every member of every record a field is
/// looked up in.
fn ascii_fold_eq(key: &[u8], name: &[u8]) -> Option<bool> {
    for (i, &c) in key.iter().enumerate() {
        if c == b'\\' || !c.is_ascii() {
            return None;
        }
        if name.get(i).is_none_or(|n| !n.eq_ignore_ascii_case(&c)) {
            return Some(false);
        }
    }
    Some(key.len() == name.len())
}

/// Member `name` of a struct (a map's entry for a string key); through an
/// array, each element's member; NULL for anything else.
pub fn get_member(value: &Value, name: &str, case_sensitive: bool) -> Value {
    match value {
        Value::Struct(fields) => {
            let found = if case_sensitive {
                fields.iter().rev().find(|(n, _)| &**n == name)
            } else {
                fields.iter().rev().find(|(n, _)| n.eq_ignore_ascii_case(name))
            };
            found.map(|(_, v)| v.clone()).unwrap_or_default()
        }
        Value::Map(entries) => {
            entries.iter().find(|(k, _)| k.as_str() == Some(name)).map(|(_, v)| v.clone()).unwrap_or_default()
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| get_member(v, name, case_sensitive)).collect::<Vec<_>>().into())
        }
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::ascii_fold_eq;

    #[test]
    fn ascii_fold_eq_decides_from_the_bytes_or_defers() {
        assert_eq!(ascii_fold_eq(b"StoreID", b"storeid"), Some(true));
        assert_eq!(ascii_fold_eq(b"StoreID", b"StoreIDs"), Some(false));
        assert_eq!(ascii_fold_eq(b"StoreIDs", b"StoreID"), Some(false));
        assert_eq!(ascii_fold_eq(b"PosID", b"StoreID"), Some(false));
        assert_eq!(ascii_fold_eq(b"", b""), Some(true));
        // An escape or a non-ASCII byte before any difference defers.
        assert_eq!(ascii_fold_eq(br"Store\u0049D", b"storeid"), None);
        assert_eq!(ascii_fold_eq("Store\u{212A}".as_bytes(), b"storek"), None);
        // A difference before it decides.
        assert_eq!(ascii_fold_eq(br"Xtore\u0049D", b"storeid"), Some(false));
    }
}
