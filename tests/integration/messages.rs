//! What a person reads at the terminal: `run --help` grouped by topic with
//! an example, a fatal error printed once (as one JSON object with
//! `--log-format json`), every missing flag in one message, a cause said
//! once, where modules are built, and the compile of a module that is not
//! yet in the cache announced before it starts.

use std::process::{Command, Stdio};
use std::time::Duration;

use sluice_tests::{Process, TestDirs, poll_until, sluice_bin, transform};

const WITHIN: Duration = Duration::from_secs(60);

/// Runs `sluice` with `args` to its exit: its code, stdout and stderr.
fn sluice(args: &[&str]) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut cmd = Command::new(sluice_bin());
    cmd.args(args).env_remove("SLUICE_BOOTSTRAP_SERVERS").stdin(Stdio::null());
    cmd.stdout(std::fs::File::create(&out).unwrap()).stderr(std::fs::File::create(&err).unwrap());
    let mut child = Process::spawn(cmd);
    let status = poll_until(WITHIN, "sluice exits", || child.try_wait());
    (status.code(), std::fs::read_to_string(out).unwrap(), std::fs::read_to_string(err).unwrap())
}

#[test]
fn run_help_groups_the_flags_by_topic_and_ends_with_an_example() {
    let (code, help, _) = sluice(&["run", "--help"]);
    assert_eq!(code, Some(0));
    let headings: Vec<&str> = help.lines().filter(|l| l.ends_with(':') && !l.contains(' ')).collect();
    assert_eq!(headings, ["Options:", "Input:", "Transform:", "Kafka:", "Delivery:", "Operations:"], "{help}");
    let under = |heading: &str, flag: &str| {
        let at = help.find(&format!("\n{heading}:\n")).unwrap();
        let end = help[at + 1..].find("\n\n\n").map_or(help.len(), |e| at + 1 + e);
        let section = &help[at..end];
        section.split("\n\n").any(|entry| entry.trim_start().split(", ").any(|f| f.starts_with(flag)))
    };
    for (heading, flag) in [
        ("Input", "--landing-zone"),
        ("Transform", "--transform-config"),
        ("Kafka", "--bootstrap-servers"),
        ("Delivery", "--checkpoint-dir"),
        ("Operations", "--metrics-addr"),
        ("Operations", "--on-pipeline-failure"),
    ] {
        assert!(under(heading, flag), "{flag} under {heading}:\n{help}");
    }
    let example = help.split("\nExample").nth(1).expect("an example after the flags");
    assert!(example.contains("--transform target/transforms/sql.wasm"), "{help}");
    assert!(example.contains("\"schema=InvoiceNumber STRING, "), "{help}");
}

#[test]
fn a_fatal_error_is_printed_once_naming_every_missing_flag() {
    let want = "missing required flags: --landing-zone DIR, --transform WASM, --topic TOPIC, \
                --bootstrap-servers SERVERS, --checkpoint-dir DIR";
    let (code, _, stderr) = sluice(&["run"]);
    assert_eq!((code, stderr.as_str()), (Some(1), format!("error: {want}\n").as_str()));

    let (code, _, stderr) = sluice(&["run", "--log-format", "json", "--glob", "*.json"]);
    assert_eq!(code, Some(1));
    let lines: Vec<serde_json::Value> = stderr.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let [line] = &lines[..] else { panic!("one JSON line, got {stderr}") };
    assert_eq!((line["level"].as_str(), line["message"].as_str()), (Some("ERROR"), Some(want)));

    let (code, _, stderr) = sluice(&["test", "--input", "/dev/null"]);
    assert_eq!(
        (code, stderr.as_str()),
        (
            Some(1),
            "error: missing required flag: --transform WASM (the module to test, e.g. --transform target/transforms/sql.wasm)\n"
        )
    );
}

#[test]
fn a_missing_module_says_its_cause_once_and_where_modules_are_built() {
    let dirs = TestDirs::new();
    let module = dirs.root().join("sql.wasm");
    let (code, _, stderr) = sluice(&["check", "--transform", module.to_str().unwrap()]);
    let want = format!(
        "error: cannot read transform {}: No such file or directory (os error 2) (scripts/build-transforms builds \
         the modules of transforms/ into target/transforms/<name>.wasm)\n",
        module.display()
    );
    assert_eq!((code, stderr), (Some(1), want));
}

#[test]
fn a_compile_that_misses_the_cache_is_announced_first() {
    let dirs = TestDirs::new();
    let cache = dirs.root().join("cache");
    let module = transform("fault_injector");
    let argv = ["check", "--transform", module.to_str().unwrap(), "--module-cache-dir", cache.to_str().unwrap()];
    let compiling = "compiling fault_injector.wasm (first start; cached afterwards)";
    let (code, _, first) = sluice(&argv);
    assert_eq!(code, Some(0), "{first}");
    let announced = first.find(compiling).unwrap_or_else(|| panic!("{compiling:?} in:\n{first}"));
    assert!(announced < first.find("module cache miss: compiled the module").unwrap(), "{first}");
    let (code, _, second) = sluice(&argv);
    assert_eq!(code, Some(0), "{second}");
    assert!(!second.contains("compiling") && second.contains("module cache hit"), "{second}");
}

#[test]
fn beside_config_only_the_process_s_flags_are_taken() {
    let (code, _, stderr) = sluice(&["run", "--config", "/nowhere/sluice.toml", "--topic", "t", "--metrics-addr", "9"]);
    let want = "error: `sluice run --config` takes each pipeline's settings from the file; remove --topic (beside it \
                go only the process's flags: --metrics-addr, --metrics-token-file, --host-id, --on-pipeline-failure, \
                --log-format)\n";
    assert_eq!(code, Some(2));
    assert!(stderr.starts_with(want), "{stderr}");
    let (code, _, stderr) =
        sluice(&["run", "--config", "/nowhere/sluice.toml", "--metrics-addr", "9", "--host-id", "a"]);
    assert_eq!(
        (code, stderr.as_str()),
        (Some(1), "error: cannot read --config /nowhere/sluice.toml: No such file or directory (os error 2)\n")
    );
}
