use super::expect::compare;
use super::*;
use serde_json::json;

fn emit(line: u64, key: &str) -> Entry {
    let msg = Msg {
        key: Some(Bytes::Text(key.into())),
        value: Some(Bytes::Binary { base64: "/w==".into() }),
        headers: Headers(vec![("h".into(), None)]),
        timestamp: None,
        topic: Some("t".into()),
        partition: Some(2),
    };
    Entry { line, outcome: "emit", messages: Some(vec![msg]), reason: None }
}

#[test]
fn entries_serialize_as_documented() {
    let text = serde_json::to_string(&emit(2, "k")).unwrap();
    assert_eq!(
        text,
        r#"{"line":2,"outcome":"emit","messages":[{"key":"k","value":{"base64":"/w=="},"headers":{"h":null},"timestamp":null,"topic":"t","partition":2}]}"#
    );
    let drop = Entry { line: 1, outcome: "drop", messages: None, reason: None };
    assert_eq!(serde_json::to_string(&drop).unwrap(), r#"{"line":1,"outcome":"drop"}"#);
}

#[test]
fn fields_left_out_of_an_expectation_are_not_compared() {
    let actual = [emit(1, "a"), emit(2, "b")];
    let expected = [json!({"outcome": "emit"}), json!({"line": 2, "messages": [{"key": "b", "topic": "t"}]})];
    assert_eq!(compare(&expected, &actual), Vec::<String>::new());
}

#[test]
fn a_mismatch_is_shown_as_a_diff_of_the_compared_fields() {
    let actual = [emit(4, "a")];
    let mismatches = compare(&[json!({"line": 4, "messages": [{"key": "b"}]})], &actual);
    let diff = [
        "line 4: the outcome differs (- expected, + actual)",
        "  {",
        "    \"line\": 4,",
        "    \"messages\": [",
        "      {",
        "-       \"key\": \"b\"",
        "+       \"key\": \"a\"",
        "      }",
        "    ]",
        "  }",
        "",
    ];
    assert_eq!(mismatches, [diff.join("\n")]);
    let missing = compare(&[json!({"line": 1}), json!({"line": 9})], &actual[..0]);
    assert_eq!(missing[1], "line 9: expected {\"line\":9}, but the input has only 0 records\n");
    let extra = compare(&[], &actual);
    assert!(extra[0].starts_with("line 4: not in the expect file: {\"line\":4,"), "{extra:?}");
}

#[test]
fn message_counts_differ_when_arrays_differ_in_length() {
    let actual = [emit(1, "a")];
    assert_eq!(compare(&[json!({"messages": [{}, {}]})], &actual).len(), 1);
    assert!(compare(&[json!({"messages": [{}]})], &actual).is_empty());
}

#[test]
fn the_summary_counts_outcomes_and_messages() {
    let entries = [emit(1, "a"), Entry { line: 2, outcome: "drop", messages: None, reason: None }];
    assert_eq!(summary(&entries), "2 records: 1 emitted (1 message), 1 dropped, 0 failed");
}

#[test]
fn the_summary_counts_in_words() {
    let drop = Entry { line: 2, outcome: "drop", messages: None, reason: None };
    assert_eq!(summary(&[emit(1, "a")]), "1 record: 1 emitted (1 message), 0 dropped, 0 failed");
    assert_eq!(summary(&[emit(1, "a"), drop]), "2 records: 1 emitted (1 message), 1 dropped, 0 failed");
    assert_eq!(summary(&[]), "0 records: 0 emitted (0 messages), 0 dropped, 0 failed");
}

#[test]
fn a_written_expectation_reads_back_and_matches() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("expect.jsonl");
    let entries = [emit(1, "a"), Entry { line: 2, outcome: "error", messages: None, reason: Some("bad".into()) }];
    expect::write(&path, &entries).unwrap();
    assert!(compare(&expect::read(&path).unwrap(), &entries).is_empty());
    assert_eq!(compare(&expect::read(&path).unwrap(), &[emit(1, "b"), entries[1].clone()]).len(), 1);
}
