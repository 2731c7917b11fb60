//! `sluice run --config` and `sluice check --config`: several pipelines in one
//! process from a TOML file, against the real binary and a real broker.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use sluice_tests::{
    Broker, Host, HostArgs, Process, TestDirs, free_port, now_ms, poll_until, topic_name, transform, wait_for_count,
};

use crate::invoices::{assert_exactly, copy_in, store_lines};

const WITHIN: Duration = Duration::from_secs(30);

/// A pipeline table for `file`: its own landing zone and checkpoint under `root`.
fn pipeline(root: &Path, name: &str, topic: &str, extra: &str) -> String {
    let (landing, checkpoint) = (root.join(format!("in-{name}")), root.join(format!("ck-{name}")));
    std::fs::create_dir_all(&landing).unwrap();
    format!(
        "\n[[pipeline]]\nname = \"{name}\"\nlanding_zone = \"{}\"\ntopic = \"{topic}\"\ncheckpoint_dir = \"{}\"\n{extra}\n",
        landing.display(),
        checkpoint.display()
    )
}

/// Shared defaults: the broker from `${SLUICE_TEST_BOOTSTRAP}`, and sql.wasm.
fn defaults() -> String {
    format!(
        "[defaults]\nbootstrap_servers = \"${{SLUICE_TEST_BOOTSTRAP}}\"\ntransform = \"{}\"\nsettle_ms = 200\n",
        transform("sql").display()
    )
}

fn write_config(dirs: &TestDirs, text: &str) -> String {
    let path = dirs.root().join("sluice.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

fn start(dirs: &TestDirs, config: &str, broker: &Broker) -> Host {
    start_with(dirs, config, broker, &[])
}

/// `sluice run --config` with process-wide `flags` beside it.
fn start_with(dirs: &TestDirs, config: &str, broker: &Broker, flags: &[&str]) -> Host {
    let args = HostArgs::raw(&["run", "--config", config]).flags(flags).env("SLUICE_TEST_BOOTSTRAP", &broker.bootstrap);
    Host::start(&args, dirs.root())
}

#[test]
fn two_pipelines_from_one_file_each_deliver_their_own_records() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let (stores, all) = (topic_name("cfg-stores"), topic_name("cfg-all"));
    broker.create_topic(&stores, 3);
    broker.create_topic(&all, 1);
    let where_store = "transform_config = { where = \"StoreID = 'STR7188'\", key = \"StoreID\" }";
    let text = format!(
        "{}{}{}",
        defaults(),
        pipeline(dirs.root(), "stores", &stores, where_store),
        pipeline(dirs.root(), "all", &all, "")
    );
    let config = write_config(&dirs, &text);
    let start_ms = now_ms();
    let mut host = start(&dirs, &config, &broker);
    host.wait_for_log("pipeline{name=stores}: streaming", WITHIN);
    host.wait_for_log("pipeline{name=all}: streaming", WITHIN);

    let mut expected = Vec::new();
    for n in 1..=3 {
        copy_in(n, &dirs.root().join("in-stores"));
        expected.extend(store_lines(n));
    }
    copy_in(2, &dirs.root().join("in-all"));
    let lines = std::fs::read_to_string(sluice_tests::invoice_file(2)).unwrap();
    let records = wait_for_count(&broker.bootstrap, &stores, start_ms, 89, WITHIN);
    assert_exactly(&records, &expected);
    let records = wait_for_count(&broker.bootstrap, &all, start_ms, lines.lines().count(), WITHIN);
    let mut got: Vec<&str> = records.iter().map(|r| r.value.as_deref().unwrap()).collect();
    let mut want: Vec<&str> = lines.lines().collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert!(host.stop().success(), "sluice did not exit cleanly");
}

#[test]
fn with_continue_a_failing_pipeline_stops_alone_and_the_exit_code_says_so() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let good = topic_name("cfg-good");
    broker.create_topic(&good, 1);
    let keyed = "transform_config = { where = \"StoreID = 'STR7188'\", key = \"StoreID\" }";
    let missing_module = format!("transform = \"{}\"", dirs.root().join("nowhere.wasm").display());
    let text = format!(
        "on_pipeline_failure = \"continue\"\nmetrics_addr = \"127.0.0.1:1\"\n{}{}{}{}",
        defaults(),
        pipeline(dirs.root(), "no-topic", &topic_name("cfg-never-created"), ""),
        pipeline(dirs.root(), "good", &good, keyed),
        pipeline(dirs.root(), "no-module", &good, &missing_module),
    );
    let config = write_config(&dirs, &text);
    let start_ms = now_ms();
    // --metrics-addr beside --config wins over the file's (unusable) port 1.
    let addr = format!("127.0.0.1:{}", free_port());
    let mut host = start_with(&dirs, &config, &broker, &["--metrics-addr", &addr]);
    host.wait_for_log(&format!("serving metrics, health and the status page addr={addr}"), WITHIN);
    host.wait_for_log("pipeline{name=good}: streaming", WITHIN);
    host.wait_for_log("pipeline{name=no-topic}: pipeline failed and stopped; the others go on", WITHIN);
    host.wait_for_log("pipeline{name=no-module}: pipeline failed and stopped; the others go on", WITHIN);

    // The good one still streams after both others have stopped.
    copy_in(1, &dirs.root().join("in-good"));
    let records = wait_for_count(&broker.bootstrap, &good, start_ms, 53, WITHIN);
    assert_exactly(&records, &store_lines(1));
    let log = host.log();
    assert!(log.contains("does not exist"), "the missing topic's reason is logged:\n{log}");
    assert!(log.contains("nowhere.wasm"), "the missing module's reason is logged:\n{log}");
    let status: serde_json::Value =
        serde_json::from_str(&crate::metrics::get(&format!("http://{addr}/status.json")).body).unwrap();
    let phases: Vec<(&str, &str)> = status["pipelines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["phase"]["state"].as_str().unwrap()))
        .collect();
    assert_eq!(phases, [("no-topic", "failed"), ("good", "running"), ("no-module", "failed")]);
    let status = host.stop();
    assert_eq!(status.code(), Some(1), "a failed pipeline makes the exit code 1");
    let log = host_log_after_stop(&dirs);
    let want = "error: 2 of the file's pipelines failed: no-topic, no-module; the others ran on until stopped \
                (on_pipeline_failure = \"continue\")\n";
    assert!(log.ends_with(want), "{log}");
}

#[test]
fn by_default_a_failing_pipeline_stops_the_process_naming_it() {
    let dirs = TestDirs::new();
    let broker = Broker::start(dirs.root());
    let good = topic_name("cfg-stop-good");
    broker.create_topic(&good, 1);
    let text = format!(
        "{}{}{}",
        defaults(),
        pipeline(dirs.root(), "good", &good, ""),
        pipeline(dirs.root(), "no-topic", &topic_name("cfg-stop-never-created"), ""),
    );
    let config = write_config(&dirs, &text);
    let mut host = start(&dirs, &config, &broker);
    let status = host.wait(WITHIN);
    assert_eq!(status.code(), Some(1), "{}", host.log());
    let log = host.log();
    assert!(log.contains("pipeline{name=no-topic}: pipeline failed and stopped; stopping the others"), "{log}");
    assert!(log.contains("pipeline{name=good}: pipeline stopped cleanly"), "{log}");
    let want = "error: 1 of the file's pipelines failed: no-topic; the others were stopped (on_pipeline_failure = \
                \"stop\")\n";
    assert!(log.ends_with(want), "{log}");
}

/// The first host log of the test (`Host::stop` consumes the host).
fn host_log_after_stop(dirs: &TestDirs) -> String {
    let log = std::fs::read_dir(dirs.root())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("sluice-")))
        .expect("a host log");
    std::fs::read_to_string(log).unwrap()
}

/// Runs `sluice` to its exit with `env`; returns its code, stdout and stderr.
fn run_sluice(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut cmd = Command::new(sluice_tests::sluice_bin());
    cmd.args(args).envs(env.iter().copied()).stdin(Stdio::null());
    cmd.stdout(std::fs::File::create(&out).unwrap()).stderr(std::fs::File::create(&err).unwrap());
    let mut child = Process::spawn(cmd);
    let status = poll_until(WITHIN, "sluice exits", || child.try_wait());
    (status.code(), std::fs::read_to_string(out).unwrap(), std::fs::read_to_string(err).unwrap())
}

#[test]
fn check_config_validates_every_pipeline_without_a_broker() {
    let dirs = TestDirs::new();
    let keyed = "transform_config = { where = \"StoreID = 'STR7188'\", key = \"StoreID\" }";
    let text =
        format!("{}{}{}", defaults(), pipeline(dirs.root(), "a", "ta", keyed), pipeline(dirs.root(), "b", "tb", ""));
    let config = write_config(&dirs, &text);
    let env = [("SLUICE_TEST_BOOTSTRAP", "127.0.0.1:1")];
    let (code, out, err) = run_sluice(&["check", "--config", &config], &env);
    assert_eq!(code, Some(0), "{err}");
    let sql = transform("sql");
    let landing = dirs.root().join("in-a");
    let checked = format!(
        "pipeline a: ok\n  settings: valid\n  kafka: 10 properties valid by librdkafka's rules (no broker \
         contacted)\n  landing zone: {} is a directory\n  module: {} loads (ABI version 2) and its init accepts \
         the config\npipeline b: ok\n",
        landing.display(),
        sql.display()
    );
    assert!(out.starts_with(&checked), "{out}");
    assert!(out.ends_with(&format!("{config}: ok (2 pipelines)\n")), "{out}");

    // A misspelled librdkafka property: librdkafka's own words and the closest name it knows.
    let (line, _) = text.lines().enumerate().find(|(_, l)| *l == "name = \"b\"").unwrap();
    let config =
        write_config(&dirs, &text.replace("topic = \"tb\"", "topic = \"tb\"\nkafka = { \"linger.mss\" = \"7\" }"));
    let want = format!(
        "error: {config}:{line}: pipeline `b`: kafka property `linger.mss`: No such configuration property: \
         \"linger.mss\"; did you mean `linger.ms`?"
    );
    for command in ["check", "run"] {
        let (code, _, err) = run_sluice(&[command, "--config", &config], &env);
        assert_eq!(code, Some(1), "{command}: {err}");
        assert!(err.contains(&want), "{command}: {err}");
    }

    // A landing zone that does not exist.
    std::fs::remove_dir(dirs.root().join("in-b")).unwrap();
    let config = write_config(&dirs, &text);
    let (code, _, err) = run_sluice(&["check", "--config", &config], &env);
    assert_eq!(code, Some(1), "{err}");
    let missing = dirs.root().join("in-b");
    let want = format!(
        "error: {config}:{line}: pipeline `b`: landing zone {} does not exist; create it, or correct \
         --landing-zone (`landing_zone` in a config file)",
        missing.display()
    );
    assert!(err.contains(&want), "{err}");
    std::fs::create_dir(&missing).unwrap();

    // A typo: `check` and `run` both refuse the file, naming the key and the line.
    let line = text.lines().position(|l| l.starts_with("topic = \"tb\"")).unwrap() + 1;
    let config = write_config(&dirs, &text.replace("topic = \"tb\"", "topik = \"tb\""));
    let want = format!("error: {config}:{line}: unknown key `topik` in [pipeline]; did you mean `topic`?");
    for command in ["check", "run"] {
        let (code, _, err) = run_sluice(&[command, "--config", &config], &env);
        assert_eq!(code, Some(1), "{command}: {err}");
        assert!(err.contains(&want), "{command}: {err}");
    }

    // An unset variable names itself, not a value.
    let (code, _, err) = run_sluice(&["check", "--config", &write_config(&dirs, &text)], &[]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains(":2: `bootstrap_servers` reads ${SLUICE_TEST_BOOTSTRAP}, which is not set in the environment"),
        "{err}"
    );

    // A module that does not load fails the check with its pipeline and line.
    let broken = text.replace(&format!("\n{keyed}"), "\ntransform_config = { where = \"StoreID = \" }");
    let config = write_config(&dirs, &broken);
    let (code, _, err) = run_sluice(&["check", "--config", &config], &env);
    assert_eq!(code, Some(1));
    let header = broken.lines().position(|l| l == "name = \"a\"").unwrap();
    assert!(err.contains(&format!("error: {config}:{header}: pipeline `a`: ")), "{err}");
}
