//! Native unit testing for transforms: `cargo test`, no wasm runtime.
//!
//! [`Harness`] drives a [`Transform`] through the same encode, process and
//! decode steps the host uses, so what passes here behaves the same inside
//! `sluice`.

use crate::{Result, Transform, abi, json};

/// A transform configured as the host would configure it.
pub struct Harness<T> {
    transform: T,
}

impl<T> std::fmt::Debug for Harness<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness").finish_non_exhaustive()
    }
}

/// What the transform made of one record, owned for easy assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Filtered out.
    Drop,
    /// Kept, as this message.
    Emit(Message),
    /// Failed with this message.
    Error(String),
}

/// An emitted Kafka message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// Key bytes; `None` is a null key.
    pub key: Option<Vec<u8>>,
    /// Value bytes; `None` is a null value.
    pub value: Option<Vec<u8>>,
    /// Headers in order.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// Timestamp in epoch milliseconds, if the transform set one.
    pub timestamp_ms: Option<i64>,
}

impl Message {
    /// The key as UTF-8 text (panics if it is not), for assertions.
    pub fn key_str(&self) -> Option<&str> {
        self.key.as_deref().map(|k| std::str::from_utf8(k).expect("key is UTF-8"))
    }

    /// The value as UTF-8 text (panics if it is not), for assertions.
    pub fn value_str(&self) -> Option<&str> {
        self.value.as_deref().map(|v| std::str::from_utf8(v).expect("value is UTF-8"))
    }
}

impl<T: Transform> Harness<T> {
    /// Runs `init` with these `(key, value)` config pairs.
    pub fn new(config: &[(&str, &str)]) -> Result<Self> {
        let encoded = abi::encode_config(config.iter().copied());
        Ok(Harness { transform: crate::init_from_abi(&encoded)? })
    }

    /// Transforms one line.
    pub fn run(&self, line: &str) -> Outcome {
        self.run_batch(&[line]).remove(0)
    }

    /// Transforms lines as one batch.
    pub fn run_batch(&self, lines: &[&str]) -> Vec<Outcome> {
        let mut batch = Vec::new();
        for line in lines {
            abi::put_bytes(&mut batch, line.as_bytes());
        }
        let mut out = Vec::new();
        crate::process_batch(&self.transform, &batch, lines.len(), &mut out, &mut json::Index::default());
        let decoded = abi::decode_outcomes(&out, lines.len()).expect("the SDK encodes valid outcomes");
        decoded.into_iter().map(Outcome::from).collect()
    }
}

impl From<abi::Outcome<'_>> for Outcome {
    fn from(outcome: abi::Outcome<'_>) -> Self {
        match outcome {
            abi::Outcome::Drop => Outcome::Drop,
            abi::Outcome::Error(message) => Outcome::Error(message.to_owned()),
            abi::Outcome::Emit(m) => Outcome::Emit(Message {
                key: m.key.map(<[u8]>::to_vec),
                value: m.value.map(<[u8]>::to_vec),
                headers: m.headers.iter().map(|(n, v)| (n.to_string(), v.map(<[u8]>::to_vec))).collect(),
                timestamp_ms: m.timestamp_ms,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Error, Header, Record};

    /// Exercises every hook: keeps records with `"keep":true`, keys by `id`.
    struct Everything {
        source: String,
    }

    impl Transform for Everything {
        fn init(config: &Config) -> Result<Self> {
            config.allow_only(&["source"])?;
            Ok(Everything { source: config.require("source")?.to_owned() })
        }
        fn filter(&self, record: &Record<'_>) -> Result<bool> {
            Ok(record.field("keep").and_then(|v| v.as_bool()).unwrap_or(false))
        }
        fn key(&self, record: &Record<'_>) -> Result<Option<Vec<u8>>> {
            let id = record.field("id").ok_or_else(|| Error::new("record has no `id`"))?;
            Ok(Some(id.to_bytes().into_owned()))
        }
        fn headers(&self, _record: &Record<'_>) -> Result<Vec<Header>> {
            Ok(vec![Header { name: "source".into(), value: Some(self.source.clone().into_bytes()) }])
        }
        fn timestamp(&self, record: &Record<'_>) -> Result<Option<i64>> {
            Ok(record.field("ts").and_then(|v| v.as_f64()).map(|t| t as i64))
        }
    }

    #[test]
    fn init_checks_config() {
        let err = Harness::<Everything>::new(&[("sorce", "x")]).unwrap_err();
        assert_eq!(err.to_string(), "unknown config `sorce`; this transform accepts: source");
        let err = Harness::<Everything>::new(&[]).unwrap_err();
        assert_eq!(err.to_string(), "missing required config `source`");
    }

    #[test]
    fn every_hook_reaches_the_message() {
        let h = Harness::<Everything>::new(&[("source", "unit")]).unwrap();
        let outcomes = h.run_batch(&[
            r#"{"keep": true, "id": 7, "ts": 1000}"#,
            r#"{"keep": false, "id": 8}"#,
            r#"{"keep": true}"#,
            r#"{"keep": true, "id": "#,
        ]);
        let expected = Message {
            key: Some(b"7".to_vec()),
            value: Some(br#"{"keep":true,"id":7,"ts":1000}"#.to_vec()),
            headers: vec![("source".into(), Some(b"unit".to_vec()))],
            timestamp_ms: Some(1000),
        };
        assert_eq!(outcomes[0], Outcome::Emit(expected));
        assert_eq!(outcomes[1], Outcome::Drop);
        assert_eq!(outcomes[2], Outcome::Error("record has no `id`".into()));
        assert_eq!(
            outcomes[3],
            Outcome::Error("malformed JSON at byte 21: unexpected end of line, expected a value".into())
        );
    }
}
