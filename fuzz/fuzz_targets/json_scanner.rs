//! The guest SDK's JSON scanner on arbitrary bytes: it never panics, and,
//! for UTF-8 text (the host hands a module nothing else: other lines are
//! dead letters before the module), what it accepts is an object serde_json
//! accepts too, whose members it finds, compacts and unescapes as
//! serde_json reads them.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_guest_sdk::json::{self, Index};

fuzz_target!(|text: &[u8]| {
    let mut index = Index::default();
    if json::index_object(text, &mut index).is_err() || std::str::from_utf8(text).is_err() {
        return;
    }
    let value: serde_json::Value = match serde_json::from_slice(text) {
        Ok(value) => value,
        // serde_json stops at its own depth limit (128, as json::MAX_DEPTH),
        // and refuses escaped lone surrogates and numbers beyond f64, which
        // RFC 8259's grammar allows (the scanner follows the RFC; unescape
        // makes a lone surrogate U+FFFD).
        Err(e)
            if has_surrogate_escape(text)
                || ["recursion limit", "number out of range"].iter().any(|m| e.to_string().contains(m)) =>
        {
            return;
        }
        Err(e) => panic!("the scanner accepted what serde_json refuses ({e}): {:?}", String::from_utf8_lossy(text)),
    };
    let object = value.as_object().expect("the scanner accepts only objects");
    assert!(index.members.len() >= object.len(), "every distinct key is indexed");
    let mut compact = Vec::new();
    json::write_compact(text, &mut compact);
    let again: serde_json::Value = serde_json::from_slice(&compact).expect("compact text is JSON");
    assert_eq!(again, value, "compacting keeps the value");
    for member in &index.members {
        let key = json::unescape(&text[member.key.clone()]);
        assert!(object.contains_key(key.as_ref()), "key {key:?} is in the object");
        let found = json::find_member(text, &key).expect("an indexed key is found");
        let found: serde_json::Value = serde_json::from_slice(found).expect("a member's value is JSON");
        assert_eq!(&found, &object[key.as_ref()], "the last of duplicate keys wins, as in serde_json");
    }
});

/// Whether `text` has a `\uD800`-`\uDFFF` escape (or what looks like one).
fn has_surrogate_escape(text: &[u8]) -> bool {
    text.windows(4)
        .any(|w| w[..2] == *b"\\u" && matches!(w[2], b'd' | b'D') && w[3].is_ascii_hexdigit() && w[3] >= b'8')
}
