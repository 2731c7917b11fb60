//! The body of one SQS message, read as an S3 event notification: the keys
//! of the objects it announces as created in one bucket below one prefix.
//!
//! A body is an S3 event (`Records[]`, each with `eventName`,
//! `s3.bucket.name` and `s3.object.key`), or the same event as a string in
//! the `Message` of an SNS notification (a bucket that notifies a topic
//! the queue subscribes to). Only `ObjectCreated:*` records count; S3's
//! `s3:TestEvent` and the other events (removals, restores, lifecycle) are
//! known and announce nothing. Keys arrive URL-encoded as S3 writes them
//! (`+` for a space, `%xx` for the other bytes) and are decoded here.

use percent_encoding::percent_decode_str;
use serde::Deserialize;

/// Why a body is not an S3 event notification: each kind is logged once
/// in a while by the receiver, never with the body itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Malformed {
    /// Not JSON, or JSON of another shape.
    #[error("the message is not an S3 event notification")]
    NotAnEvent,
    /// A key whose URL-encoding does not decode to UTF-8.
    #[error("the message names a key that does not decode to UTF-8")]
    Key,
}

/// An S3 event, or an SNS notification carrying one.
#[derive(Deserialize)]
struct Body {
    #[serde(rename = "Records")]
    records: Option<Vec<Record>>,
    /// `s3:TestEvent` in the message S3 sends when the notification is set up.
    #[serde(rename = "Event")]
    event: Option<String>,
    /// `Notification` in an SNS envelope.
    #[serde(rename = "Type")]
    kind: Option<String>,
    /// The S3 event, as a string, in an SNS envelope.
    #[serde(rename = "Message")]
    message: Option<String>,
}

#[derive(Deserialize)]
struct Record {
    #[serde(rename = "eventName")]
    event_name: String,
    s3: S3,
}

#[derive(Deserialize)]
struct S3 {
    bucket: Named,
    object: Object,
}

#[derive(Deserialize)]
struct Named {
    name: String,
}

#[derive(Deserialize)]
struct Object {
    key: String,
}

/// The keys `body` announces as created in `bucket` below `prefix` (as
/// `object_store` shows a prefix: no leading or trailing `/`, empty for
/// the whole bucket), decoded, in the order of the records.
pub fn created_keys(body: &str, bucket: &str, prefix: &str) -> Result<Vec<String>, Malformed> {
    let body: Body = serde_json::from_str(body).map_err(|_| Malformed::NotAnEvent)?;
    let body = match (body.kind.as_deref(), &body.message) {
        (Some("Notification"), Some(message)) => serde_json::from_str(message).map_err(|_| Malformed::NotAnEvent)?,
        _ => body,
    };
    let Some(records) = body.records else {
        return match body.event.as_deref() {
            Some("s3:TestEvent") => Ok(Vec::new()),
            _ => Err(Malformed::NotAnEvent),
        };
    };
    let mut keys = Vec::new();
    for record in records.into_iter().filter(|r| r.event_name.starts_with("ObjectCreated:")) {
        if record.s3.bucket.name != bucket {
            continue;
        }
        let key = decode(&record.s3.object.key)?;
        if below(&key, prefix) {
            keys.push(key);
        }
    }
    Ok(keys)
}

/// A key as S3 events encode it, decoded: `+` is a space, `%xx` a byte.
fn decode(key: &str) -> Result<String, Malformed> {
    let spaced = key.replace('+', " ");
    let decoded = percent_decode_str(&spaced).decode_utf8().map_err(|_| Malformed::Key)?;
    Ok(decoded.into_owned())
}

/// Whether `key` names an object below `prefix` (not the prefix itself).
fn below(key: &str, prefix: &str) -> bool {
    if prefix.is_empty() {
        return !key.is_empty();
    }
    key.strip_prefix(prefix).and_then(|rest| rest.strip_prefix('/')).is_some_and(|rest| !rest.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An S3 event with one record per `(event name, bucket, key)`.
    fn event(records: &[(&str, &str, &str)]) -> String {
        let records: Vec<_> = records
            .iter()
            .map(|(name, bucket, key)| {
                serde_json::json!({
                    "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
                    "eventName": name,
                    "s3": {"bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
                           "object": {"key": key, "size": 12, "eTag": "0123"}}
                })
            })
            .collect();
        serde_json::json!({ "Records": records }).to_string()
    }

    #[test]
    fn created_objects_are_announced_in_order() {
        let body = event(&[
            ("ObjectCreated:Put", "b", "in/a.json"),
            ("ObjectCreated:CompleteMultipartUpload", "b", "in/b.json"),
        ]);
        assert_eq!(created_keys(&body, "b", "in"), Ok(vec!["in/a.json".to_owned(), "in/b.json".to_owned()]));
    }

    #[test]
    fn removals_and_other_events_announce_nothing() {
        let body = event(&[("ObjectRemoved:Delete", "b", "in/a.json"), ("ObjectRestore:Completed", "b", "in/b.json")]);
        assert_eq!(created_keys(&body, "b", "in"), Ok(vec![]));
    }

    #[test]
    fn the_test_event_announces_nothing() {
        let body = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-12-08T00:00:00.000Z","Bucket":"b","RequestId":"R","HostId":"H"}"#;
        assert_eq!(created_keys(body, "b", ""), Ok(vec![]));
    }

    #[test]
    fn an_sns_envelope_is_opened() {
        let inner = event(&[("ObjectCreated:Copy", "b", "x.json")]);
        let body =
            serde_json::json!({"Type": "Notification", "MessageId": "m", "TopicArn": "arn:aws:sns:us-east-1:1:t",
                                      "Subject": "Amazon S3 Notification", "Message": inner})
            .to_string();
        assert_eq!(created_keys(&body, "b", ""), Ok(vec!["x.json".to_owned()]));
    }

    #[test]
    fn keys_are_url_decoded() {
        let body = event(&[("ObjectCreated:Put", "b", "in/my+file%2Bv2%2Fx%C3%A9.json")]);
        assert_eq!(created_keys(&body, "b", "in"), Ok(vec!["in/my file+v2/xé.json".to_owned()]));
    }

    #[test]
    fn a_prefix_spelled_with_an_encoded_slash_matches_once_decoded() {
        let body = event(&[("ObjectCreated:Put", "b", "in%2Fa.json")]);
        assert_eq!(created_keys(&body, "b", "in"), Ok(vec!["in/a.json".to_owned()]));
    }

    #[test]
    fn another_bucket_is_not_ours() {
        let body = event(&[("ObjectCreated:Put", "other", "in/a.json")]);
        assert_eq!(created_keys(&body, "b", "in"), Ok(vec![]));
    }

    #[test]
    fn keys_outside_the_prefix_are_not_ours() {
        let body = event(&[
            ("ObjectCreated:Put", "b", "inbox/a.json"),
            ("ObjectCreated:Put", "b", "out/a.json"),
            ("ObjectCreated:Put", "b", "in"),
            ("ObjectCreated:Put", "b", "in/"),
            ("ObjectCreated:Put", "b", "in/deeper/a.json"),
        ]);
        assert_eq!(created_keys(&body, "b", "in"), Ok(vec!["in/deeper/a.json".to_owned()]));
    }

    #[test]
    fn the_whole_bucket_takes_every_key() {
        let body = event(&[("ObjectCreated:Put", "b", "a.json"), ("ObjectCreated:Put", "b", "in/b.json")]);
        assert_eq!(created_keys(&body, "b", ""), Ok(vec!["a.json".to_owned(), "in/b.json".to_owned()]));
    }

    #[test]
    fn garbage_is_malformed() {
        for body in
            ["", "not json", "[]", "{}", r#"{"Records": "x"}"#, r#"{"Records": [{"eventName": "ObjectCreated:Put"}]}"#]
        {
            assert_eq!(created_keys(body, "b", ""), Err(Malformed::NotAnEvent), "{body:?}");
        }
        let wrapped = r#"{"Type": "Notification", "Message": "not json"}"#;
        assert_eq!(created_keys(wrapped, "b", ""), Err(Malformed::NotAnEvent));
    }

    #[test]
    fn a_key_that_is_not_utf8_is_malformed() {
        let body = event(&[("ObjectCreated:Put", "b", "in/%FF.json")]);
        assert_eq!(created_keys(&body, "b", "in"), Err(Malformed::Key));
    }
}
