//! `router`: the example of per-message routing and fan-out (ABI v2).
//!
//! Each record becomes `copies` messages (default 1), each the record as
//! compact JSON with a `copy` header (`1`..=`copies`):
//!
//! - `topic_field=NAME`: each message goes to the topic named by the
//!   record's string field `NAME`; a record without it goes to `--topic`.
//! - `partition_field=NAME`: each message goes to the partition given by
//!   the record's integer field `NAME` (0 or more); without it, the
//!   producer's partitioner chooses by key.
//! - `key_field=NAME`: the key is the record's field `NAME` (its text, or
//!   its JSON for a non-string); without it, the key is null.
//! - `copies=N`: 1 to 1000 messages per record; `0` drops every record.
//!
//! A topic that does not exist, or a partition the topic does not have,
//! sends the record to the dead letters with that reason; the host goes on.
//!
//! ```text
//! sluice run --transform target/transforms/router.wasm \
//!            -C topic_field=region -C copies=3 ...
//! ```

use sluice_guest_sdk::{Config, Emitter, Error, Kind, Message, Record, Result, Transform, export_transform};

/// Most messages one record may become.
const MAX_COPIES: u32 = 1000;

/// Routes by fields and fans out into copies.
#[derive(Debug)]
pub struct Router {
    topic_field: Option<String>,
    partition_field: Option<String>,
    key_field: Option<String>,
    copies: u32,
}

impl Transform for Router {
    fn init(config: &Config) -> Result<Self> {
        config.allow_only(&["topic_field", "partition_field", "key_field", "copies"])?;
        let field = |key: &str| -> Result<Option<String>> {
            match config.get(key) {
                Some("") => Err(Error::new(format!("config `{key}` is empty; give a field name"))),
                other => Ok(other.map(str::to_owned)),
            }
        };
        let copies = match config.get("copies") {
            None => 1,
            Some(text) => text.parse().ok().filter(|n| *n <= MAX_COPIES).ok_or_else(|| {
                Error::new(format!("config `copies` must be a whole number from 0 to {MAX_COPIES}, got `{text}`"))
            })?,
        };
        Ok(Router {
            topic_field: field("topic_field")?,
            partition_field: field("partition_field")?,
            key_field: field("key_field")?,
            copies,
        })
    }

    fn flat_map(&self, record: &Record<'_>, out: &mut Emitter<'_>) -> Result<()> {
        let topic = self.topic(record)?;
        let partition = self.partition(record)?;
        let key = match &self.key_field {
            Some(name) => record.field(name).map(|v| v.to_bytes().into_owned()),
            None => None,
        };
        let mut value = Vec::new();
        record.write_compact_json(&mut value);
        for copy in 1..=self.copies {
            let copy = copy.to_string();
            out.push(&Message {
                key: key.as_deref(),
                value: Some(value.as_slice()),
                headers: vec![("copy", Some(copy.as_bytes()))],
                topic: topic.as_deref(),
                partition,
                ..Message::default()
            });
        }
        Ok(())
    }
}

impl Router {
    fn topic(&self, record: &Record<'_>) -> Result<Option<String>> {
        let Some(name) = &self.topic_field else { return Ok(None) };
        match record.field(name) {
            None => Ok(None),
            Some(v) if v.is_null() => Ok(None),
            Some(v) if v.kind() == Kind::String => Ok(v.as_str().map(|s| s.into_owned())),
            Some(_) => Err(Error::new(format!("field `{name}` must be a string naming a topic"))),
        }
    }

    fn partition(&self, record: &Record<'_>) -> Result<Option<i32>> {
        let Some(name) = &self.partition_field else { return Ok(None) };
        let Some(v) = record.field(name).filter(|v| !v.is_null()) else { return Ok(None) };
        match v.as_f64() {
            Some(n) if n >= 0.0 && n <= f64::from(i32::MAX) && n.fract() == 0.0 => Ok(Some(n as i32)),
            _ => Err(Error::new(format!("field `{name}` must be a partition number, 0 or more"))),
        }
    }
}

export_transform!(Router);

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_guest_sdk::testing::{Harness, Outcome};

    #[test]
    fn routes_by_field_and_fans_out() {
        let h = Harness::<Router>::new(&[("topic_field", "to"), ("copies", "3"), ("key_field", "id")]).unwrap();
        let outcome = h.run(r#"{"id": 7, "to": "eu"}"#);
        let messages = outcome.messages();
        assert_eq!(messages.len(), 3);
        for (n, msg) in messages.iter().enumerate() {
            assert_eq!(msg.topic.as_deref(), Some("eu"));
            assert_eq!(msg.partition, None);
            assert_eq!(msg.key_str(), Some("7"));
            assert_eq!(msg.value_str(), Some(r#"{"id":7,"to":"eu"}"#));
            assert_eq!(msg.headers, vec![("copy".to_owned(), Some((n + 1).to_string().into_bytes()))]);
        }
        assert_eq!(h.run(r#"{"id": 8}"#).messages()[0].topic, None, "no field: the default topic");
    }

    #[test]
    fn one_message_without_copies_and_partition_by_field() {
        let h = Harness::<Router>::new(&[("partition_field", "p")]).unwrap();
        let Outcome::Emit(msg) = h.run(r#"{"p": 2}"#) else { panic!("one message") };
        assert_eq!((msg.topic, msg.partition), (None, Some(2)));
        assert!(
            matches!(h.run(r#"{"p": -1}"#), Outcome::Error(e) if e == "field `p` must be a partition number, 0 or more")
        );
        let none = Harness::<Router>::new(&[("copies", "0")]).unwrap();
        assert_eq!(none.run("{}"), Outcome::Drop);
    }

    #[test]
    fn refuses_bad_config() {
        let err = |cfg: &[(&str, &str)]| Harness::<Router>::new(cfg).unwrap_err().to_string();
        assert_eq!(err(&[("copies", "x")]), "config `copies` must be a whole number from 0 to 1000, got `x`");
        assert_eq!(err(&[("copies", "1001")]), "config `copies` must be a whole number from 0 to 1000, got `1001`");
        assert_eq!(err(&[("topic_field", "")]), "config `topic_field` is empty; give a field name");
        assert_eq!(
            err(&[("topics", "a")]),
            "unknown config `topics`; this transform accepts: topic_field, partition_field, key_field, copies"
        );
    }
}
