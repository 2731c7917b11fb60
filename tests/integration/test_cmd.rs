//! `sluice test`, the real binary with no broker: a module run over a
//! sample file, its outcomes as JSON lines, `--expect` passing and failing
//! with a diff, the limits of `sluice run` (a trap, a timeout, the memory
//! cap), the same limits for a component, the stock modules on the invoice
//! fixtures, the Python and JavaScript components against the Rust one, and
//! every SDK's `keep_all` example against the expect file its README shows;
//! the exit code when records fail, `--write-expect` read back by
//! `--expect`, plurals, and the message without `--transform`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use sluice_tests::{Process, TestDirs, invoice_file, poll_until, sluice_bin, transform, workspace_root};

const WITHIN: Duration = Duration::from_secs(60);

/// What one `sluice test` run printed.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The JSON lines of stdout.
    fn outcomes(&self) -> Vec<Value> {
        self.stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
    }
}

/// Runs `sluice test` with `args` to completion (stdout is a file, so the
/// default format is JSON lines).
fn sluice_test(dir: &Path, args: &[&str]) -> Run {
    let (out, err) = (dir.join("stdout"), dir.join("stderr"));
    let mut cmd = Command::new(sluice_bin());
    cmd.arg("test").args(args).stdin(Stdio::null());
    cmd.stdout(std::fs::File::create(&out).unwrap()).stderr(std::fs::File::create(&err).unwrap());
    let mut child = Process::spawn(cmd);
    let status = poll_until(WITHIN, "sluice test exits", || child.try_wait());
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    Run { code: status.code(), stdout: read(&out), stderr: read(&err) }
}

fn write(dir: &Path, name: &str, text: impl AsRef<[u8]>) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

const SAMPLE: &str =
    "{\"StoreID\":\"STR7188\",\"n\":1}\n{\"StoreID\":\"STR1534\"}\n\n{\"StoreID\":\"STR7188\",  \"n\":2}\n";

#[test]
fn outcomes_are_json_lines_with_every_field_and_a_summary() {
    let dirs = TestDirs::new();
    let input = write(dirs.root(), "sample.jsonl", SAMPLE);
    let module = transform("invoice_by_store");
    let run = sluice_test(
        dirs.root(),
        &["--transform", module.to_str().unwrap(), "-C", "store_id=STR7188", "--input", &input],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "{\"line\":1,\"outcome\":\"emit\",\"messages\":[{\"key\":\"STR7188\",\"value\":\"{\\\"StoreID\\\":\\\"STR7188\\\",\\\"n\\\":1}\",\"headers\":{},\"timestamp\":null,\"topic\":null,\"partition\":null}]}\n\
         {\"line\":2,\"outcome\":\"drop\"}\n\
         {\"line\":4,\"outcome\":\"emit\",\"messages\":[{\"key\":\"STR7188\",\"value\":\"{\\\"StoreID\\\":\\\"STR7188\\\",\\\"n\\\":2}\",\"headers\":{},\"timestamp\":null,\"topic\":null,\"partition\":null}]}\n"
    );
    assert!(run.stderr.contains("3 records: 2 emitted (2 messages), 1 dropped, 0 failed"), "{}", run.stderr);
}

#[test]
fn an_expect_file_that_matches_exits_0() {
    let dirs = TestDirs::new();
    let input = write(dirs.root(), "sample.jsonl", SAMPLE);
    let expect = write(
        dirs.root(),
        "expected.jsonl",
        "{\"line\":1,\"outcome\":\"emit\",\"messages\":[{\"key\":\"STR7188\"}]}\n{\"outcome\":\"drop\"}\n\
         {\"line\":4,\"messages\":[{\"value\":\"{\\\"StoreID\\\":\\\"STR7188\\\",\\\"n\\\":2}\",\"topic\":null}]}\n",
    );
    let module = transform("invoice_by_store");
    let args =
        ["--transform", module.to_str().unwrap(), "-C", "store_id=STR7188", "--input", &input, "--expect", &expect];
    let run = sluice_test(dirs.root(), &args);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stderr.ends_with(&format!("{expect}: all 3 outcomes match\n")), "{}", run.stderr);
}

#[test]
fn a_wrong_expectation_exits_1_with_a_diff() {
    let dirs = TestDirs::new();
    let input = write(dirs.root(), "sample.jsonl", SAMPLE);
    let expect = write(
        dirs.root(),
        "expected.jsonl",
        "{\"line\":1,\"outcome\":\"emit\",\"messages\":[{\"key\":\"STR1534\"}]}\n{\"line\":2,\"outcome\":\"drop\"}\n",
    );
    let module = transform("invoice_by_store");
    let args =
        ["--transform", module.to_str().unwrap(), "-C", "store_id=STR7188", "--input", &input, "--expect", &expect];
    let run = sluice_test(dirs.root(), &args);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let diff = [
        "line 1: the outcome differs (- expected, + actual)",
        "  {",
        "    \"line\": 1,",
        "    \"messages\": [",
        "      {",
        "-       \"key\": \"STR1534\"",
        "+       \"key\": \"STR7188\"",
        "      }",
        "    ],",
        "    \"outcome\": \"emit\"",
        "  }",
        "",
    ]
    .join("\n");
    assert!(run.stderr.contains(&diff), "{}", run.stderr);
    assert!(run.stderr.contains("line 4: not in the expect file: {\"line\":4,\"outcome\":\"emit\""), "{}", run.stderr);
    assert!(run.stderr.ends_with(&format!("{expect}: 2 of 3 outcomes do not match\n")), "{}", run.stderr);
}

#[test]
fn a_trap_a_timeout_and_the_memory_cap_show_as_errors_under_the_run_limits() {
    let dirs = TestDirs::new();
    let input = write(
        dirs.root(),
        "faults.jsonl",
        b"{\"id\":1}\n{\"id\":2,\"fault\":\"trap\"}\n{\"id\":3,\"fault\":\"loop\"}\n{\"id\":4,\"fault\":\"bomb\"}\n\
         {\"id\":5,\"fault\":\"error\"}\n{\"id\":6}\n\xff\n",
    );
    let module = transform("fault_injector");
    let limits = ["--transform-timeout-ms", "300", "--transform-memory-mb", "32"];
    let run = sluice_test(
        dirs.root(),
        &[&["--transform", module.to_str().unwrap(), "--input", &input], &limits[..]].concat(),
    );
    assert_eq!(run.code, Some(1), "failed records exit 1: {}", run.stderr);
    let closing = "5 records failed; exiting 1 (--allow-errors exits 0 when records fail)\n";
    assert!(run.stderr.ends_with(closing), "{}", run.stderr);
    let outcomes = run.outcomes();
    let summary: Vec<(u64, &str, &str)> = outcomes
        .iter()
        .map(|o| (o["line"].as_u64().unwrap(), o["outcome"].as_str().unwrap(), o["reason"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        summary,
        [
            (1, "emit", ""),
            (2, "error", "transform trapped: wasm trap: wasm `unreachable` instruction executed"),
            (3, "error", "transform exceeded the time limit of 300 ms"),
            (4, "error", "transform exceeded the memory cap of 32 MiB"),
            (5, "error", "the record asked to fail"),
            (6, "emit", ""),
            (7, "error", "invalid UTF-8 at byte 0 of the line"),
        ]
    );
    assert_eq!(outcomes[0]["messages"][0]["headers"], serde_json::json!({"fault-injector": "v1"}));
    assert!(run.stderr.contains("7 records: 2 emitted (2 messages), 0 dropped, 5 failed"), "{}", run.stderr);
}

#[test]
fn invoice_by_store_emits_53_records_of_the_first_fixture() {
    let dirs = TestDirs::new();
    let module = transform("invoice_by_store");
    let input = invoice_file(1);
    let run = sluice_test(
        dirs.root(),
        &["-w", module.to_str().unwrap(), "-C", "store_id=STR7188", "-i", input.to_str().unwrap()],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let outcomes = run.outcomes();
    let emits: Vec<&Value> = outcomes.iter().filter(|o| o["outcome"] == "emit").collect();
    assert_eq!((outcomes.len(), emits.len()), (400, 53));
    assert!(emits.iter().all(|o| o["messages"][0]["key"] == "STR7188"));
    assert!(run.stderr.contains("400 records: 53 emitted (53 messages), 347 dropped, 0 failed"), "{}", run.stderr);
}

#[test]
fn sql_with_a_where_keeps_what_the_condition_keeps() {
    let dirs = TestDirs::new();
    let module = transform("sql");
    let input = invoice_file(1);
    let text = std::fs::read_to_string(&input).unwrap();
    let want: Vec<u64> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| serde_json::from_str::<Value>(l).unwrap()["TotalAmount"].as_f64().unwrap() > 10000.0)
        .map(|(n, _)| n as u64 + 1)
        .collect();
    assert!(!want.is_empty());
    let args = ["-w", module.to_str().unwrap(), "-C", "where=TotalAmount > 10000", "-C", "key=InvoiceNumber"];
    let run = sluice_test(dirs.root(), &[&args[..], &["-i", input.to_str().unwrap()]].concat());
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let outcomes = run.outcomes();
    let kept: Vec<u64> =
        outcomes.iter().filter(|o| o["outcome"] == "emit").map(|o| o["line"].as_u64().unwrap()).collect();
    assert_eq!(kept, want);
    let line = text.lines().nth(want[0] as usize - 1).unwrap();
    let record: Value = serde_json::from_str(line).unwrap();
    let first = &outcomes[want[0] as usize - 1]["messages"][0];
    assert_eq!(first["key"], record["InvoiceNumber"]);
}

#[test]
fn several_messages_per_record_show_their_topics_and_a_table_on_request() {
    let dirs = TestDirs::new();
    let input = write(dirs.root(), "route.jsonl", "{\"id\":\"a\",\"to\":\"eu\",\"p\":1}\n");
    let module = transform("router");
    let config = ["-C", "topic_field=to", "-C", "copies=2", "-C", "partition_field=p", "-C", "key_field=id"];
    let run = sluice_test(dirs.root(), &[&["-w", module.to_str().unwrap(), "-i", &input], &config[..]].concat());
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let messages = run.outcomes()[0]["messages"].clone();
    let routes: Vec<(&str, i64, &str)> = messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (m["topic"].as_str().unwrap(), m["partition"].as_i64().unwrap(), m["headers"]["copy"].as_str().unwrap())
        })
        .collect();
    assert_eq!(routes, [("eu", 1, "1"), ("eu", 1, "2")]);

    let table = [&["-w", module.to_str().unwrap(), "-i", &input, "--format", "table"], &config[..]].concat();
    let run = sluice_test(dirs.root(), &table);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    for cell in ["line", "outcome", "emit 1/2", "emit 2/2", "eu", "copy=2"] {
        assert!(run.stdout.contains(cell), "no {cell:?} in\n{}", run.stdout);
    }
}

#[test]
fn a_module_that_refuses_its_config_fails_before_any_record() {
    let dirs = TestDirs::new();
    let input = write(dirs.root(), "sample.jsonl", SAMPLE);
    let module = transform("invoice_by_store");
    let run = sluice_test(dirs.root(), &["-w", module.to_str().unwrap(), "-i", &input]);
    assert_eq!(run.code, Some(1));
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr.contains(&format!(
            "error: transform {} refused its configuration: missing required config `store_id`",
            module.display()
        )),
        "{}",
        run.stderr
    );
}

/// The Python and JavaScript components, through `sluice test --expect`:
/// the Rust module's outcomes on the three invoice fixtures and malformed
/// records, written as an expect file, are exactly theirs.
#[test]
fn the_python_and_javascript_components_match_the_rust_outcomes() {
    let dirs = TestDirs::new();
    let mut sample: String = (1..=3).map(|n| std::fs::read_to_string(invoice_file(n)).unwrap()).collect();
    sample.push_str("{\"StoreID\":\"STR7188\",}\n[1]\n{ \"StoreID\" : \"STR7188\" , \"a\" : [ 1 , \"x \\\" y\" ] }\n");
    let input = write(dirs.root(), "sample.jsonl", &sample);
    let run_module = |name: &str, expect: Option<&str>| {
        let module = transform(name);
        let mut args = vec!["-w", module.to_str().unwrap(), "-C", "store_id=STR7188", "-i", &input, "--allow-errors"];
        args.extend(expect.map(|e| ["--expect", e]).into_iter().flatten());
        sluice_test(dirs.root(), &args)
    };
    let rust = run_module("invoice_by_store", None);
    assert_eq!(rust.code, Some(0), "{}", rust.stderr);
    assert!(rust.stderr.contains("1052 records: 90 emitted (90 messages), 960 dropped, 2 failed"), "{}", rust.stderr);
    let expect = write(dirs.root(), "expected.jsonl", &rust.stdout);
    for name in ["invoice_by_store_py", "invoice_by_store_js"] {
        let run = run_module(name, Some(&expect));
        assert_eq!(run.code, Some(0), "{name}: {}", run.stderr);
        assert_eq!(run.stdout, rust.stdout, "{name}");
    }
}

/// Each SDK README's check, as it shows it: the SDK's `examples/keep_all`,
/// built by `build_transforms`, over `invoices-2.json` against
/// `guest-sdk/keep_all.expected.jsonl`.
#[test]
fn every_sdk_keep_all_example_passes_the_readme_expect_file() {
    let dirs = TestDirs::new();
    let input = invoice_file(2);
    let expect = workspace_root().join("guest-sdk/keep_all.expected.jsonl");
    let (input, expect) = (input.to_str().unwrap(), expect.to_str().unwrap());
    for lang in ["", "_c", "_zig", "_as", "_go", "_py", "_js"] {
        let module = transform(&format!("keep_all{lang}"));
        let run = sluice_test(dirs.root(), &["--transform", module.to_str().unwrap(), "-i", input, "-e", expect]);
        assert_eq!(run.code, Some(0), "keep_all{lang}: {}", run.stderr);
        assert!(run.stderr.ends_with(&format!("{expect}: all 300 outcomes match\n")), "{}", run.stderr);
    }
}

/// Each SDK README opens with its `examples/keep_all`, verbatim, so the
/// check above checks what the README shows.
#[test]
fn every_sdk_readme_opens_with_its_keep_all_example() {
    let sdks = workspace_root().join("guest-sdk");
    let examples = [
        ("rust", "keep_all.rs"),
        ("c", "keep_all.c"),
        ("zig", "keep_all.zig"),
        ("assemblyscript", "keep_all.ts"),
        ("go", "keep_all/main.go"),
        ("python", "keep_all.py"),
        ("javascript", "keep_all.js"),
    ];
    for (lang, example) in examples {
        let readme = std::fs::read_to_string(sdks.join(lang).join("README.md")).unwrap();
        let first_block = readme.split("```").nth(1).and_then(|b| b.split_once('\n')).map(|(_, code)| code);
        let example = std::fs::read_to_string(sdks.join(lang).join("examples").join(example)).unwrap();
        assert_eq!(first_block, Some(example.as_str()), "guest-sdk/{lang}/README.md");
    }
}

/// A component (a hand-written one, `fault_component.wat`) runs under the
/// same limits as a core module: a trap, the time limit, the memory cap and
/// a malformed result (one outcome too many) each fail only their record
/// after the batch is retried record by record, and an error outcome
/// carries its text.
#[test]
fn a_component_breaking_its_limits_fails_only_the_poison_records() {
    let dirs = TestDirs::new();
    let wasm = wat::parse_str(include_str!("fault_component.wat")).expect("valid wat");
    let module = write(dirs.root(), "fault_component.wasm", wasm);
    let input = write(
        dirs.root(),
        "faults.jsonl",
        "{\"ok\":1}\n{\"trap\":1}\n{\"loop\":1}\n{\"grow\":1}\n{\"err\":1}\n{\"count\":1}\n{\"ok\":2}\n",
    );
    let limits = ["--transform-timeout-ms", "300", "--transform-memory-mb", "32"];
    let args = [&["--transform", &module, "--input", &input, "--allow-errors"], &limits[..]].concat();
    let run = sluice_test(dirs.root(), &args);
    assert_eq!(run.code, Some(0), "--allow-errors exits 0: {}", run.stderr);
    let outcomes = run.outcomes();
    let summary: Vec<(&str, &str)> =
        outcomes.iter().map(|o| (o["outcome"].as_str().unwrap(), o["reason"].as_str().unwrap_or(""))).collect();
    assert_eq!(
        summary,
        [
            ("drop", ""),
            ("error", "transform trapped: wasm trap: wasm `unreachable` instruction executed"),
            ("error", "transform exceeded the time limit of 300 ms"),
            ("error", "transform exceeded the memory cap of 32 MiB"),
            ("error", "the record asked to fail"),
            ("error", "transform returned 2 outcomes for 1 records"),
            ("drop", ""),
        ]
    );
    assert!(run.stderr.contains("retrying record by record"), "{}", run.stderr);
}

#[test]
fn write_expect_snapshots_a_run_that_expect_then_passes_and_a_change_fails() {
    let dirs = TestDirs::new();
    let input = write(dirs.root(), "sample.jsonl", SAMPLE);
    let snapshot = dirs.root().join("snapshot.jsonl");
    let module = transform("invoice_by_store");
    let base = ["--transform", module.to_str().unwrap(), "-C", "store_id=STR7188", "--input", &input];
    let written = sluice_test(dirs.root(), &[&base[..], &["--write-expect", snapshot.to_str().unwrap()]].concat());
    assert_eq!(written.code, Some(0), "{}", written.stderr);
    assert_eq!(std::fs::read_to_string(&snapshot).unwrap(), written.stdout, "the file holds what was printed");
    let expect = snapshot.to_str().unwrap();
    let checked = sluice_test(dirs.root(), &[&base[..], &["--expect", expect]].concat());
    assert_eq!(checked.code, Some(0), "{}", checked.stderr);
    assert!(checked.stderr.ends_with(&format!("{expect}: all 3 outcomes match\n")), "{}", checked.stderr);
    let changed = write(dirs.root(), "changed.jsonl", SAMPLE.replace("\"n\":2", "\"n\":3"));
    let args = ["--transform", module.to_str().unwrap(), "-C", "store_id=STR7188", "-i", &changed, "-e", expect];
    let failed = sluice_test(dirs.root(), &args);
    assert_eq!(failed.code, Some(1), "{}", failed.stderr);
    assert!(failed.stderr.ends_with(&format!("{expect}: 1 of 3 outcomes do not match\n")), "{}", failed.stderr);
}

#[test]
fn one_record_is_counted_in_the_singular_and_allow_errors_exits_0() {
    let dirs = TestDirs::new();
    let input = write(dirs.root(), "one.jsonl", "{\"StoreID\":\"STR7188\"}\n");
    let module = transform("invoice_by_store");
    let run = sluice_test(dirs.root(), &["-w", module.to_str().unwrap(), "-C", "store_id=STR7188", "-i", &input]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stderr.ends_with("1 record: 1 emitted (1 message), 0 dropped, 0 failed\n"), "{}", run.stderr);
    let bad = write(dirs.root(), "bad.jsonl", "{\"StoreID\":\"STR7188\",}\n");
    let failed = sluice_test(dirs.root(), &["-w", module.to_str().unwrap(), "-C", "store_id=STR7188", "-i", &bad]);
    assert_eq!(failed.code, Some(1), "{}", failed.stderr);
    assert!(
        failed.stderr.ends_with(
            "1 record: 0 emitted (0 messages), 0 dropped, 1 failed\n\
             1 record failed; exiting 1 (--allow-errors exits 0 when records fail)\n"
        ),
        "{}",
        failed.stderr
    );
    let args = ["-w", module.to_str().unwrap(), "-C", "store_id=STR7188", "-i", &bad, "--allow-errors"];
    assert_eq!(sluice_test(dirs.root(), &args).code, Some(0));
}

#[test]
fn without_transform_it_names_the_flag_not_a_config_file() {
    let dirs = TestDirs::new();
    let input = write(dirs.root(), "sample.jsonl", SAMPLE);
    let run = sluice_test(dirs.root(), &["-i", &input]);
    assert_eq!(run.code, Some(1));
    let last = run.stderr.lines().last().unwrap_or_default();
    assert_eq!(
        last,
        "error: missing required flag: --transform WASM (the module to test, e.g. --transform target/transforms/sql.wasm)"
    );
    assert!(!run.stderr.contains("config file"), "{}", run.stderr);
}
