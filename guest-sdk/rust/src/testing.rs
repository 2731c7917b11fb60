//! Native unit testing for transforms: `cargo test`, no wasm runtime.
//!
//! [`Harness`] drives a [`Transform`] through the same encode, process and
//! decode steps the host uses, so what passes here behaves the same inside
//! `sluice`. Lines the transform writes with [`crate::log`] are captured
//! here, per thread, and read back with [`Harness::take_logs`]; a reason
//! given to [`crate::fail`] is read back with [`Harness::take_failure`].

use std::cell::RefCell;

use crate::{Level, Result, Transform, abi, json};

pub use crate::abi::{OwnedMessage as Message, OwnedOutcome as Outcome};

/// A transform configured as the host would configure it.
pub struct Harness<T> {
    transform: T,
}

impl<T> std::fmt::Debug for Harness<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness").finish_non_exhaustive()
    }
}

thread_local! {
    static LOGS: RefCell<Vec<(Level, String)>> = const { RefCell::new(Vec::new()) };
    static FAILED: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Where [`crate::log`] writes when the transform runs natively.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn capture_log(level: Level, message: &str) {
    LOGS.with(|logs| logs.borrow_mut().push((level, message.to_owned())));
}

/// Where [`crate::fail`] writes when the transform runs natively: the
/// first reason stands, as in the host.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn capture_fail(reason: &str) {
    FAILED.with(|failed| {
        failed.borrow_mut().get_or_insert_with(|| reason.to_owned());
    });
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
        let index = &mut json::Index::default();
        crate::process_batch(&self.transform, &batch, lines.len(), &mut out, index, &mut |_| {});
        let decoded =
            abi::decode_outcomes_as(abi::Version::LATEST, &out, lines.len()).expect("the SDK encodes valid outcomes");
        decoded.iter().map(Outcome::from).collect()
    }

    /// The reason the transform gave [`crate::fail`] on this thread since
    /// the last call, if it called it. The host would have dropped the
    /// outcomes of the batch that called it and stopped the stream.
    pub fn take_failure(&self) -> Option<String> {
        FAILED.with(|failed| failed.borrow_mut().take())
    }

    /// The lines logged on this thread since the last call, oldest first.
    pub fn take_logs(&self) -> Vec<(Level, String)> {
        LOGS.with(|logs| std::mem::take(&mut *logs.borrow_mut()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Emitter, Error, Header, Record};

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
        fn topic(&self, record: &Record<'_>) -> Result<Option<String>> {
            Ok(record.str_field("to").map(|t| t.into_owned()))
        }
        fn partition(&self, record: &Record<'_>) -> Result<Option<i32>> {
            Ok(record.field("p").and_then(|v| v.as_f64()).map(|p| p as i32))
        }
    }

    #[test]
    fn a_failure_is_taken_once_and_the_first_reason_stands() {
        let h = Harness::<Fan>::new(&[]).unwrap();
        assert_eq!(h.take_failure(), None);
        crate::fail("the first reason");
        crate::fail("a second one");
        assert_eq!(h.take_failure().as_deref(), Some("the first reason"));
        assert_eq!(h.take_failure(), None);
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
            r#"{"keep": true, "id": 9, "to": "other", "p": 2}"#,
            r#"{"keep": true, "id": 9, "p": -1}"#,
        ]);
        let expected = Message {
            key: Some(b"7".to_vec()),
            value: Some(br#"{"keep":true,"id":7,"ts":1000}"#.to_vec()),
            headers: vec![("source".into(), Some(b"unit".to_vec()))],
            timestamp_ms: Some(1000),
            topic: None,
            partition: None,
        };
        assert_eq!(outcomes[0], Outcome::Emit(expected));
        assert_eq!(outcomes[1], Outcome::Drop);
        assert_eq!(outcomes[2], Outcome::Error("record has no `id`".into()));
        assert_eq!(
            outcomes[3],
            Outcome::Error("malformed JSON at byte 21: unexpected end of line, expected a value".into())
        );
        let routed = &outcomes[4].messages()[0];
        assert_eq!((routed.topic.as_deref(), routed.partition), (Some("other"), Some(2)));
        assert_eq!(outcomes[5], Outcome::Error("partition -1 is negative".into()));
    }

    /// Fans a record out: `n` copies, the hook-built message among them,
    /// and an error or a failing value when asked.
    struct Fan;

    impl Transform for Fan {
        fn init(_: &Config) -> Result<Self> {
            Ok(Fan)
        }
        fn key(&self, record: &Record<'_>) -> Result<Option<Vec<u8>>> {
            Ok(record.field("k").map(|k| k.to_bytes().into_owned()))
        }
        fn value(&self, record: &Record<'_>, out: &mut Vec<u8>) -> Result<()> {
            if record.field("bad_value").is_some() {
                out.extend_from_slice(b"half-written");
                return Err(Error::new("value refused"));
            }
            record.write_compact_json(out);
            Ok(())
        }
        fn flat_map(&self, record: &Record<'_>, out: &mut Emitter<'_>) -> Result<()> {
            let n = record.field("n").and_then(|v| v.as_f64()).unwrap_or(0.0) as usize;
            for i in 0..n {
                let key = i.to_string();
                out.push(&crate::Message { key: Some(key.as_bytes()), topic: Some("t"), ..Default::default() });
            }
            // A failing hook message is taken back whole; the others stay.
            let _ = out.push_from_hooks(self, record);
            crate::log(Level::Info, &format!("made {} messages", out.len()));
            if record.field("fail").is_some() {
                return Err(Error::new("asked to fail after pushing"));
            }
            Ok(())
        }
    }

    fn keys(outcome: &Outcome) -> Vec<Option<&str>> {
        outcome.messages().iter().map(Message::key_str).collect()
    }

    #[test]
    fn flat_map_emits_none_one_or_many() {
        let h = Harness::<Fan>::new(&[]).unwrap();
        let outcomes = h.run_batch(&[
            r#"{"n": 0, "bad_value": 1}"#,
            r#"{"n": 0, "k": "only"}"#,
            r#"{"n": 1, "bad_value": 1}"#,
            r#"{"n": 2, "k": "last"}"#,
            r#"{"n": 1, "fail": 1}"#,
            r#"{"n": 3, "bad_value": 1}"#,
        ]);
        assert_eq!(outcomes[0], Outcome::Drop);
        let Outcome::Emit(only) = &outcomes[1] else { panic!("one message: {:?}", outcomes[1]) };
        assert_eq!((only.key_str(), only.value_str()), (Some("only"), Some(r#"{"n":0,"k":"only"}"#)));
        let Outcome::Emit(first) = &outcomes[2] else { panic!("one message: {:?}", outcomes[2]) };
        assert_eq!((first.key_str(), first.topic.as_deref(), first.value.as_deref()), (Some("0"), Some("t"), None));
        assert_eq!(keys(&outcomes[3]), vec![Some("0"), Some("1"), Some("last")]);
        assert!(matches!(outcomes[3], Outcome::EmitMany(_)));
        assert_eq!(outcomes[4], Outcome::Error("asked to fail after pushing".into()));
        assert_eq!(keys(&outcomes[5]), vec![Some("0"), Some("1"), Some("2")]);
        let logs = h.take_logs();
        assert_eq!(logs.len(), 6);
        assert_eq!(logs[3], (Level::Info, "made 3 messages".to_owned()));
        assert!(h.take_logs().is_empty());
    }
}
