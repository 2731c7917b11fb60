//! The language ports of `invoice_by_store` (C, Zig, AssemblyScript, Go,
//! and the Python and JavaScript components)
//! against the Rust original, through the host's own transform stage: the
//! same outcome for every record (fixtures and edge cases: escapes,
//! duplicate keys, whitespace, malformed JSON) and the same refusals of bad
//! config, message for message. Needs `scripts/build-transforms` first.

use std::path::PathBuf;
use std::time::Duration;

use sluice::config::TransformConfig;
use sluice::transform::{Instance, Runtime, TransformError};
use sluice_guest_sdk::abi;

/// The ports, by the suffix of `target/transforms/invoice_by_store_<lang>.wasm`.
const LANGUAGES: [&str; 6] = ["c", "zig", "as", "go", "py", "js"];

/// Records chosen to tell a faithful port from a near miss.
const EDGE_CASES: &[&str] = &[
    r#"{"StoreID":"STR7188"}"#,
    r#" { "StoreID" : "STR7188" , "a" : [ 1 , { "b" : "x \" y" } ] ,	"c":-0.5e+10 } "#,
    r#"{"StoreID":"STR\u0037188","n":"\ud83d\ude00 \ud800 \/\b\f\n\r\t"}"#,
    r#"{"Store\u0049D":"STR7188"}"#,
    r#"{"StoreID":"STR7188","StoreID":"STR1534"}"#,
    r#"{"StoreID":"STR1534","StoreID":"STR7188"}"#,
    r#"{"StoreID":"STR1534"}"#,
    r#"{"StoreID":7188}"#,
    r#"{"StoreID":null}"#,
    r#"{"storeid":"STR7188"}"#,
    r#"{}"#,
    r#"{"a":1"#,
    r#"{"a":01}"#,
    r#"{"a":1.}"#,
    r#"{"a":1e}"#,
    r#"{"a":-}"#,
    r#"{"a":tru}"#,
    r#"{"a":"x}"#,
    r#"{"a":"\q"}"#,
    r#"{"a":"\u12"}"#,
    r#"{"a":"\u12G4"}"#,
    r#"{"a":1,}"#,
    r#"{"a" 1}"#,
    r#"{"a":[1,}"#,
    r#"{"a":]}"#,
    r#"[1,2]"#,
    r#"{"a":1} x"#,
    "{\"a\":\"\u{1}\"}",
    "\"StoreID\"",
    "{\"StoreID\":\"STR7188\",\"é\":\"ünï\"}",
];

fn module(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/transforms").join(format!("{name}.wasm"));
    assert!(path.exists(), "{} is missing: run scripts/build-transforms", path.display());
    path
}

fn transformer(name: &str, config: &[(&str, &str)]) -> Result<Instance, TransformError> {
    Runtime::load(&TransformConfig {
        path: module(name),
        config: config.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        timeout: Duration::from_secs(5),
        memory_bytes: 256 << 20,
        module_cache: Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/module-cache")),
    })?
    .instance()
}

/// Every outcome of `lines` through module `name`, as text to compare.
fn outcomes(name: &str, lines: &[String]) -> Vec<String> {
    let mut instance = transformer(name, &[("store_id", "STR7188")]).expect("the module starts");
    let mut batch = Vec::new();
    for line in lines {
        abi::put_bytes(&mut batch, line.as_bytes());
    }
    let mut out = Vec::new();
    instance.process_into(&batch, lines.len(), &mut out).unwrap_or_else(|e| panic!("{name}: {}", e.0));
    let outcomes = abi::decode_outcomes(&out, lines.len()).expect("checked by process_into");
    outcomes.iter().map(|o| format!("{o:?}")).collect()
}

fn lines() -> Vec<String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata");
    let mut lines: Vec<String> = EDGE_CASES.iter().map(|s| s.to_string()).collect();
    lines.push(format!("{{\"a\":{}{}}}", "[".repeat(200), "]".repeat(200)));
    lines.push(format!("{{\"StoreID\":\"STR7188\",\"a\":{}{}}}", "[".repeat(127), "]".repeat(127)));
    for n in 1..=3 {
        let text = std::fs::read_to_string(root.join(format!("invoices/invoices-{n}.json"))).expect("read fixture");
        lines.extend(text.lines().map(str::to_owned));
    }
    lines
}

#[test]
fn every_port_makes_the_same_outcomes_as_the_rust_module() {
    let lines = lines();
    let want = outcomes("invoice_by_store", &lines);
    assert_eq!(want.iter().filter(|o| o.starts_with("Emit")).count(), 89 + 7, "the Rust module's own count");
    for lang in LANGUAGES {
        let got = outcomes(&format!("invoice_by_store_{lang}"), &lines);
        for ((line, want), got) in lines.iter().zip(&want).zip(&got) {
            assert_eq!(got, want, "{lang} port, record {line}");
        }
        assert_eq!(got.len(), want.len(), "{lang} port");
    }
}

#[test]
fn every_port_refuses_bad_config_like_the_rust_module() {
    let configs: [&[(&str, &str)]; 4] =
        [&[], &[("store_id", "")], &[("store", "x")], &[("store_id", "STR1"), ("x", "1")]];
    let refusal = |name: &str, config: &[(&str, &str)]| match transformer(name, config) {
        Err(TransformError::InitRefused { message, .. }) => message,
        other => panic!("{name} with {config:?}: expected a refusal, got {other:?}"),
    };
    for config in configs {
        let want = refusal("invoice_by_store", config);
        for lang in LANGUAGES {
            assert_eq!(refusal(&format!("invoice_by_store_{lang}"), config), want, "{lang} port, config {config:?}");
        }
    }
    let last_wins = [("store_id", ""), ("store_id", "STR7188")];
    for lang in LANGUAGES {
        transformer(&format!("invoice_by_store_{lang}"), &last_wins).expect("the last store_id wins");
    }
}

#[test]
fn every_sdk_emits_several_messages_with_topic_and_partition() {
    for module in ["fan_out_c", "fan_out_zig", "fan_out_as", "fan_out_go", "fan_out_py", "fan_out_js"] {
        fan_out(module);
    }
}

fn fan_out(module: &str) {
    let mut instance = transformer(module, &[]).expect("the module starts");
    let mut batch = Vec::new();
    abi::put_bytes(&mut batch, br#"{ "a" : 1 }"#);
    let mut out = Vec::new();
    instance.process_into(&batch, 1, &mut out).unwrap_or_else(|e| panic!("{}", e.0));
    let outcomes = abi::decode_outcomes(&out, 1).expect("checked by process_into");
    let abi::Outcome::EmitMany(messages) = &outcomes[0] else { panic!("expected several messages: {outcomes:?}") };
    let routes: Vec<_> = messages.iter().map(|m| (m.value, m.topic, m.partition)).collect();
    let value = Some(br#"{"a":1}"#.as_slice());
    assert_eq!(routes, vec![(value, None, None), (value, Some("audit"), Some(0))]);
}
