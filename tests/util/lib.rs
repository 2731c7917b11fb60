//! Test support for Sluice's integration tests: a unique directory per
//! test, the real `sluice` binary as a child process, and a real broker
//! ([`kafka`]). Every process started here is stopped when its guard drops,
//! and dies with the test process if that is killed.

pub mod kafka;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use kafka::{Broker, DurableBroker, Record, read_topic, wait_for_count};

/// The workspace root (this crate lives in `tests/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_owned()
}

/// The release `sluice` binary built by `scripts/test`, or `$SLUICE_BIN`.
/// Refuses a binary older than the host's sources, so a stale build cannot
/// pass for the code under test.
pub fn sluice_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("SLUICE_BIN") {
        return PathBuf::from(path);
    }
    let bin = workspace_root().join("target/release/sluice");
    let built = std::fs::metadata(&bin)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| panic!("{} is missing: run scripts/test, which builds it", bin.display()));
    for dir in ["host/src", "guest-sdk/src"] {
        let newest = newest_mtime(&workspace_root().join(dir));
        assert!(newest <= built, "{} is older than {dir}: run scripts/test to rebuild it", bin.display());
    }
    bin
}

fn newest_mtime(dir: &Path) -> SystemTime {
    let mut newest = UNIX_EPOCH;
    for entry in std::fs::read_dir(dir).expect("read source dir").flatten() {
        let meta = entry.metadata().expect("stat source");
        let t = if meta.is_dir() { newest_mtime(&entry.path()) } else { meta.modified().expect("mtime") };
        newest = newest.max(t);
    }
    newest
}

/// A stock or example transform built by `scripts/build-transforms`.
pub fn transform(name: &str) -> PathBuf {
    let path = workspace_root().join("target/transforms").join(format!("{name}.wasm"));
    assert!(path.exists(), "{} is missing: run scripts/test or scripts/build-transforms", path.display());
    path
}

/// One of the committed invoice fixtures, `n` in 1..=3.
pub fn invoice_file(n: u32) -> PathBuf {
    workspace_root().join(format!("testdata/invoices/invoices-{n}.json"))
}

/// Kills `cmd`'s process if the thread that started it (the test) dies.
pub fn die_with_parent(cmd: &mut Command) {
    // SAFETY: prctl is async-signal-safe and touches no memory of ours.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// A free TCP port on the loopback interface.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_millis() as i64
}

/// Calls `check` until it returns `Some`, or panics naming `what` after `within`.
pub fn poll_until<T>(within: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out after {within:?} waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A unique topic name for one test.
pub fn topic_name(test: &str) -> String {
    format!("{test}-{}-{}", std::process::id(), now_ms())
}

/// The directories one test works in, removed when it drops.
#[derive(Debug)]
pub struct TestDirs {
    root: tempfile::TempDir,
}

impl TestDirs {
    /// Fresh, empty landing zone and checkpoint directories.
    pub fn new() -> TestDirs {
        let root = tempfile::Builder::new().prefix("sluice-test-").tempdir().expect("create temp dir");
        std::fs::create_dir(root.path().join("landing")).expect("create landing zone");
        TestDirs { root }
    }

    /// The landing zone.
    pub fn landing(&self) -> PathBuf {
        self.root.path().join("landing")
    }

    /// The checkpoint directory (not created: sluice creates it).
    pub fn checkpoint(&self) -> PathBuf {
        self.root.path().join("checkpoint")
    }

    /// The test's root, for logs and scratch files outside the landing zone.
    pub fn root(&self) -> &Path {
        self.root.path()
    }
}

impl Default for TestDirs {
    fn default() -> Self {
        Self::new()
    }
}

/// How to start `sluice run`.
#[derive(Debug, Clone)]
pub struct HostArgs {
    args: Vec<String>,
}

impl HostArgs {
    /// `sluice run` on `dirs` with `module`, publishing to `topic`.
    pub fn new(dirs: &TestDirs, module: &Path, topic: &str, bootstrap: &str) -> HostArgs {
        let (landing, checkpoint) = (dirs.landing(), dirs.checkpoint());
        let args = [
            "run",
            "--landing-zone",
            path_str(&landing),
            "--transform",
            path_str(module),
            "--topic",
            topic,
            "--bootstrap-servers",
            bootstrap,
            "--checkpoint-dir",
            path_str(&checkpoint),
        ];
        HostArgs { args: args.iter().map(|s| s.to_string()).collect() }
    }

    /// Adds a `--transform-config KEY=VALUE`.
    pub fn config(mut self, key: &str, value: &str) -> HostArgs {
        self.args.extend(["--transform-config".into(), format!("{key}={value}")]);
        self
    }

    /// The full argument list.
    pub fn argv(&self) -> &[String] {
        &self.args
    }

    /// Adds raw flags.
    pub fn flags(mut self, flags: &[&str]) -> HostArgs {
        self.args.extend(flags.iter().map(|f| f.to_string()));
        self
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

/// A running `sluice` process; killed on drop if still running.
#[derive(Debug)]
pub struct Host {
    child: Child,
    log: PathBuf,
}

impl Host {
    /// Starts `sluice` with `args`, logging to `<log_dir>/sluice-<n>.log`.
    pub fn start(args: &HostArgs, log_dir: &Path) -> Host {
        let n = std::fs::read_dir(log_dir).map(|d| d.count()).unwrap_or(0);
        let log = log_dir.join(format!("sluice-{n}.log"));
        let file = std::fs::File::create(&log).expect("create host log");
        let mut cmd = Command::new(sluice_bin());
        cmd.args(&args.args).env("SLUICE_LOG", "info").stdin(Stdio::null()).stdout(Stdio::null()).stderr(file);
        die_with_parent(&mut cmd);
        let child = cmd.spawn().expect("start sluice");
        Host { child, log }
    }

    /// The host's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the host has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the host logs `needle`, or panics with its log.
    pub fn wait_for_log(&mut self, needle: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.log().contains(needle) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("sluice exited ({status}) before logging {needle:?}:\n{}", self.log());
            }
            assert!(Instant::now() < deadline, "sluice did not log {needle:?} within {within:?}:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits for a clean exit; returns the status.
    pub fn stop(mut self) -> ExitStatus {
        // SAFETY: sending a signal to our own child process.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.wait(Duration::from_secs(60))
    }

    /// Kills the host at once, as a crash would.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the host to exit by itself; returns its status.
    pub fn wait(&mut self, within: Duration) -> ExitStatus {
        let log = self.log.clone();
        poll_until(within, &format!("sluice exits (log {})", log.display()), || self.child.try_wait().ok().flatten())
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `sluice` with `args` to completion; returns its status and stderr.
pub fn run_to_exit(args: &[&str], within: Duration) -> (ExitStatus, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("stderr");
    let mut cmd = Command::new(sluice_bin());
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(std::fs::File::create(&log).expect("log"));
    die_with_parent(&mut cmd);
    let mut child = cmd.spawn().expect("start sluice");
    let status = poll_until(within, "sluice exits", || child.try_wait().ok().flatten());
    (status, std::fs::read_to_string(&log).unwrap_or_default())
}
