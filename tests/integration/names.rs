//! Names and words the operator sees: a field no record has warns once
//! (`sluice run` logs it, `sluice test` repeats it in its summary) and,
//! with `strict_fields=true`, stops the stream at the first record (the
//! module calls `sluice.fail`: `sluice run` exits 1 with nothing of the file
//! published, dead-lettered or checkpointed, and `sluice test` exits 1 with
//! the same words); a schema's DDL error says
//! what was expected and where; a module's refusal of its config carries
//! its own words; a failing expression logs its first dead letters and
//! then a count, not a line per record.

use std::path::Path;
use std::time::Duration;

use sluice_tests::{Broker, Host, HostArgs, TestDirs, invoice_file, poll_until, run_to_exit, topic_name, transform};
use sluice_tests::{checkpointed, read_topic, summary_count, wait_for_count};

const WITHIN: Duration = Duration::from_secs(60);

/// The warning for `-C key=StoreId2` over records that have `StoreID`.
fn store_id2_warning(records: &str) -> String {
    format!(
        "[UNRESOLVED_COLUMN.WITH_SUGGESTION] `key`: a field with name `StoreId2` cannot be resolved; did you mean \
         one of the following? [`StoreID`, `PosID`, `CashierID`] (not in {records}; it reads NULL)"
    )
}

fn sample(dir: &Path) -> String {
    let line = r#"{"StoreID":"STR7188","PosID":"POS1","CashierID":"C1"}"#;
    let path = dir.join("sample.jsonl");
    std::fs::write(&path, format!("{line}\n{line}\n")).unwrap();
    path.to_str().unwrap().to_owned()
}

fn sluice_test(args: &[&str]) -> (Option<i32>, String) {
    let sql = transform("sql");
    let argv = [&["test", "--transform", sql.to_str().unwrap()], args].concat();
    let (status, stderr) = run_to_exit(&argv, WITHIN);
    (status.code(), stderr)
}

#[test]
fn sluice_test_repeats_the_unknown_field_warning_in_its_summary() {
    let dirs = TestDirs::new();
    let input = sample(dirs.root());
    let (code, stderr) = sluice_test(&["-C", "key=StoreId2", "-i", &input]);
    assert_eq!(code, Some(0), "{stderr}");
    let summary = format!(
        "2 records: 2 emitted (2 messages), 0 dropped, 0 failed\nwarn from sql.wasm: {}\n",
        store_id2_warning("any of the first 2 records")
    );
    assert!(stderr.ends_with(&summary), "{stderr}");
}

#[test]
fn strict_fields_stops_the_test_with_the_module_s_words() {
    let dirs = TestDirs::new();
    let input = sample(dirs.root());
    let (code, stderr) = sluice_test(&["-C", "key=StoreId2", "-C", "strict_fields=true", "-i", &input]);
    assert_eq!(code, Some(1), "{stderr}");
    let reason = format!("{} (strict_fields=true refuses it)", store_id2_warning("the first record"));
    assert!(stderr.ends_with(&format!("error: the module stopped the stream: {reason}\n")), "{stderr}");
    assert_eq!(stderr.matches("StoreId2").count(), 1, "said once: {stderr}");
}

#[test]
fn a_schema_ddl_error_says_what_was_expected_where() {
    let dirs = TestDirs::new();
    let input = sample(dirs.root());
    let (code, stderr) = sluice_test(&["-C", "schema=StoreID STRING TotalAmount DOUBLE", "-i", &input]);
    assert_eq!(code, Some(1), "{stderr}");
    let sql = transform("sql");
    let error = format!(
        "error: transform {} refused its configuration: `schema`: [PARSE_SYNTAX_ERROR] syntax error at or near \
         `TotalAmount` at position 15: expected `,` or end of input after the type of `StoreID`\n",
        sql.display()
    );
    assert!(stderr.ends_with(&error), "{stderr}");
}

#[test]
fn a_refused_config_key_carries_the_module_s_own_words_once() {
    let dirs = TestDirs::new();
    let input = sample(dirs.root());
    let (code, stderr) = sluice_test(&["-C", "wher=StoreID = 'x'", "-i", &input]);
    assert_eq!(code, Some(1), "{stderr}");
    let words = "unknown config `wher`; this transform accepts: where, key, value, timestamp, topic, partition, \
                 schema, mode, timezone, case_sensitive, strict_fields, header.NAME";
    let last = stderr.lines().last().unwrap_or_default();
    let sql = transform("sql");
    assert_eq!(last, format!("error: transform {} refused its configuration: {words}", sql.display()));
    assert_eq!(last.matches("unknown config").count(), 1, "{stderr}");
}

#[test]
fn sluice_run_logs_one_warning_for_a_field_no_record_has() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let topic = topic_name("names-warning");
    broker.create_topic(&topic, 1);
    let args = HostArgs::new(&dirs, &transform("sql"), &topic, &broker.bootstrap).config("key", "StoreId2");
    let mut host = Host::start(&args, dirs.root());
    host.wait_for_log("streaming", WITHIN);
    std::fs::copy(invoice_file(1), dirs.landing().join("invoices-1.json")).unwrap();
    let from = sluice_tests::now_ms() - 60_000;
    let records = wait_for_count(&broker.bootstrap, &topic, from, 400, WITHIN);
    assert!(records.iter().all(|r| r.key.is_none()), "a misspelt key is still NULL");
    std::fs::copy(invoice_file(2), dirs.landing().join("invoices-2.json")).unwrap();
    wait_for_count(&broker.bootstrap, &topic, from, 700, WITHIN);
    let log = host.log();
    assert!(host.stop().success());
    let warnings: Vec<&str> = log.lines().filter(|l| l.contains("StoreId2")).collect();
    assert_eq!(warnings.len(), 1, "{log}");
    assert!(warnings[0].contains(" WARN "), "{log}");
    assert!(warnings[0].contains("did you mean one of the following? [`StoreID`"), "{log}");
}

#[test]
fn a_failing_expression_logs_its_first_dead_letters_then_a_count() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let topic = topic_name("names-dead-letters");
    broker.create_topic(&topic, 1);
    let args = HostArgs::new(&dirs, &transform("sql"), &topic, &broker.bootstrap)
        .config("key", "cast(StoreID AS INT)")
        .flags(&["--max-consecutive-errors", "100000"]);
    let mut host = Host::start(&args, dirs.root());
    host.wait_for_log("streaming", WITHIN);
    let lines: String = (0..1000).map(|n| format!("{{\"StoreID\":\"STR{n}\"}}\n")).collect();
    std::fs::write(dirs.root().join("failing.json"), lines).unwrap();
    std::fs::rename(dirs.root().join("failing.json"), dirs.landing().join("failing.json")).unwrap();
    let dead_letters = dirs.checkpoint().join("dead-letters.jsonl");
    poll_until(WITHIN, "1000 dead letters", || {
        let text = std::fs::read_to_string(&dead_letters).unwrap_or_default();
        (text.lines().count() == 1000).then_some(())
    });
    let status = host.stop();
    let log = std::fs::read_dir(dirs.root())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("sluice-"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect::<String>();
    assert!(status.success(), "{log}");
    assert_eq!(summary_count(&log, "dead_letters"), 1000, "{log}");
    let about: Vec<&str> = log.lines().filter(|l| l.contains("dead letters")).collect();
    let one_by_one = about.iter().filter(|l| l.contains("record sent to the dead letters")).count();
    assert_eq!(one_by_one, 10, "{log}");
    assert!(about.len() <= 14, "{} lines about dead letters:\n{log}", about.len());
    let counted: u64 = about
        .iter()
        .filter_map(|l| {
            l.split(" more records sent to the dead letters").next().filter(|_| l.contains(" more records"))
        })
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(counted, 990, "{log}");
    assert!(about.last().unwrap().contains(" more records sent to the dead letters in the last "), "{log}");
}

#[test]
fn strict_fields_stops_sluice_run_at_the_first_record_and_a_fixed_restart_publishes_the_file() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let topic = topic_name("names-strict");
    broker.create_topic(&topic, 1);
    let sql = transform("sql");
    let strict = HostArgs::new(&dirs, &sql, &topic, &broker.bootstrap).config("strict_fields", "true");
    // No --max-consecutive-errors: the module stops the stream itself.
    let mut host = Host::start(&strict.clone().config("key", "StoreId2"), dirs.root());
    host.wait_for_log("streaming", WITHIN);
    let file = dirs.landing().join("invoices-1.json");
    std::fs::copy(invoice_file(1), &file).unwrap();
    let status = host.wait(WITHIN);
    let log = host.log();
    assert_eq!(status.code(), Some(1), "{log}");
    let reason = format!("{} (strict_fields=true refuses it)", store_id2_warning("the first record"));
    let error = format!("error: while streaming {}: the module stopped the stream: {reason}", file.display());
    assert_eq!(log.lines().last().unwrap_or_default(), error, "{log}");
    let from = sluice_tests::now_ms() - 60_000;
    assert_eq!(read_topic(&broker.bootstrap, &topic, from).unwrap().len(), 0, "nothing published");
    let dead_letters = std::fs::read_to_string(dirs.checkpoint().join("dead-letters.jsonl")).unwrap_or_default();
    assert_eq!(dead_letters, "", "no dead letter");
    let size = std::fs::metadata(&file).unwrap().len();
    assert!(checkpointed(&dirs.checkpoint(), &file).is_none_or(|(offset, _)| offset < size), "left unfinished");
    let fixed = Host::start(&strict.config("key", "StoreID"), dirs.root());
    let records = wait_for_count(&broker.bootstrap, &topic, from, 400, WITHIN);
    assert!(records.iter().all(|r| r.key.is_some()), "keyed by StoreID");
    let log = fixed.log();
    assert!(fixed.stop().success(), "{log}");
}
