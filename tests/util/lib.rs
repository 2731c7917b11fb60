//! Test support for Sluice's integration tests: a unique directory per
//! test, the real `sluice` binary as a child process, a real broker
//! ([`kafka`]), real object-store servers ([`objstore`]) and a proxy that
//! throttles one ([`throttle`]). Every process started here is stopped when its guard drops,
//! and dies with the test process if that is killed.

pub mod kafka;
pub mod objstore;
pub mod throttle;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use kafka::{
    Auth, Broker, Isolation, OwnBroker, Record, committed_offsets, offsets_for_times, read_as_group, read_topic,
    read_topic_with, wait_for_count, watermarks,
};
pub use objstore::{Kind, ObjectServer};
pub use throttle::ThrottleProxy;

/// The workspace root (this crate lives in `tests/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_owned()
}

/// A tool: `$var` if set, else `relative` under the workspace root.
pub fn tool_path(var: &str, relative: &str) -> PathBuf {
    std::env::var_os(var).map_or_else(|| workspace_root().join(relative), PathBuf::from)
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
    for dir in ["host/src", "guest-sdk/rust/src"] {
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

/// A child process that is killed and reaped when dropped, and dies with
/// the test if the test process is killed first.
#[derive(Debug)]
pub struct Process(Child);

impl Process {
    /// Spawns `cmd` so that it dies with the thread that started it.
    pub fn spawn(mut cmd: Command) -> Process {
        die_with_parent(&mut cmd);
        let program = cmd.get_program().to_string_lossy().into_owned();
        Process(cmd.spawn().unwrap_or_else(|e| panic!("cannot start {program}: {e}")))
    }

    /// Its process id.
    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// Sends `signal` (e.g. `libc::SIGTERM`).
    pub fn signal(&self, signal: i32) {
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(self.0.id() as i32, signal) };
    }

    /// Its exit status, if it has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.0.try_wait().ok().flatten()
    }

    /// Blocks until it exits.
    pub fn wait(&mut self) -> Option<ExitStatus> {
        self.0.wait().ok()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.try_wait().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Kills `cmd`'s process if the thread that started it (the test) dies.
fn die_with_parent(cmd: &mut Command) {
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

/// The checkpoint's `(offset, line)` for `file`, found by inode as sluice
/// identifies files; `None` while the checkpoint does not have it.
pub fn checkpointed(checkpoint_dir: &Path, file: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let ino = std::fs::metadata(file).ok()?.ino();
    let files = checkpoint_files(checkpoint_dir)?;
    let entry = files.iter().find(|f| f["ino"].as_u64() == Some(ino))?;
    Some((entry["offset"].as_u64()?, entry["line"].as_u64()?))
}

/// The checkpoint's entries (`dev`, `ino`, `path`, `offset`, `line`) as
/// sluice would load them: `checkpoint.json` with the entries of
/// `checkpoint.journal` applied when the journal continues that snapshot
/// (each entry a line `<len> <fnv-1a 64 hex> <json>`; reading stops at a
/// torn one). `None` while there is no snapshot.
pub fn checkpoint_files(checkpoint_dir: &Path) -> Option<Vec<serde_json::Value>> {
    let text = std::fs::read(checkpoint_dir.join("checkpoint.json")).ok()?;
    let snapshot: serde_json::Value = serde_json::from_slice(&text).ok()?;
    let key = |f: &serde_json::Value| (f["dev"].as_u64().unwrap_or(0), f["ino"].as_u64().unwrap_or(0));
    let mut files: std::collections::BTreeMap<_, _> =
        snapshot["files"].as_array()?.iter().map(|f| (key(f), f.clone())).collect();
    let journal = std::fs::read(checkpoint_dir.join("checkpoint.journal")).unwrap_or_default();
    let mut entries = journal_entries(&journal).into_iter();
    let continues = entries.next().is_some_and(|h| h["generation"] == snapshot["generation"]);
    for change in entries.filter(|_| continues) {
        for f in change["set"].as_array().into_iter().flatten() {
            files.insert(key(f), f.clone());
        }
        for f in change["del"].as_array().into_iter().flatten() {
            files.remove(&key(f));
        }
    }
    Some(files.into_values().collect())
}

/// The intact entries of a checkpoint journal, up to the first torn one.
pub fn journal_entries(mut bytes: &[u8]) -> Vec<serde_json::Value> {
    let fnv =
        |b: &[u8]| b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, c| (h ^ u64::from(*c)).wrapping_mul(0x0100_0000_01b3));
    let mut entries = Vec::new();
    while let Some(line_end) = bytes.iter().position(|b| *b == b'\n') {
        let line = &bytes[..line_end];
        let mut parts = line.splitn(3, |b| *b == b' ');
        let (Some(len), Some(sum), Some(json)) = (parts.next(), parts.next(), parts.next()) else { break };
        let len: Option<usize> = std::str::from_utf8(len).ok().and_then(|l| l.parse().ok());
        let sum = std::str::from_utf8(sum).ok().and_then(|s| u64::from_str_radix(s, 16).ok());
        if len != Some(json.len()) || sum != Some(fnv(json)) {
            break;
        }
        let Ok(entry) = serde_json::from_slice(json) else { break };
        entries.push(entry);
        bytes = &bytes[line_end + 1..];
    }
    entries
}

/// A count from the host's exit summary in `log` (`published`, `records`,
/// `filtered`, `dead_letters`).
pub fn summary_count(log: &str, field: &str) -> u64 {
    let line =
        log.lines().rev().find(|l| l.contains("stopped cleanly")).unwrap_or_else(|| panic!("no summary:\n{log}"));
    let prefix = format!("{field}=");
    let value = line.split_whitespace().find_map(|w| w.strip_prefix(prefix.as_str()));
    value.and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("no {field} in the summary: {line}"))
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
    user: Option<u32>,
    log_level: &'static str,
    env: Vec<(String, String)>,
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
        HostArgs::raw(&args)
    }

    /// `sluice` with exactly these arguments, e.g. `["run", "--config", file]`.
    pub fn raw(args: &[&str]) -> HostArgs {
        HostArgs { args: args.iter().map(|s| s.to_string()).collect(), user: None, log_level: "info", env: Vec::new() }
    }

    /// Sets an environment variable for the host.
    pub fn env(mut self, key: &str, value: &str) -> HostArgs {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Adds a `--transform-config KEY=VALUE`.
    pub fn config(mut self, key: &str, value: &str) -> HostArgs {
        self.args.extend(["--transform-config".into(), format!("{key}={value}")]);
        self
    }

    /// Logs at `level` (`SLUICE_LOG`), e.g. "debug" to see each rescan.
    pub fn log_level(mut self, level: &'static str) -> HostArgs {
        self.log_level = level;
        self
    }

    /// Runs the host as this user and group id (tests run as root, which
    /// ignores permission bits).
    pub fn as_user(mut self, id: u32) -> HostArgs {
        self.user = Some(id);
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
    child: Process,
    log: PathBuf,
}

impl Host {
    /// Starts `sluice` with `args`, logging to `<log_dir>/sluice-<n>.log`.
    pub fn start(args: &HostArgs, log_dir: &Path) -> Host {
        let n = std::fs::read_dir(log_dir).map(|d| d.count()).unwrap_or(0);
        let log = log_dir.join(format!("sluice-{n}.log"));
        let file = std::fs::File::create(&log).expect("create host log");
        let mut cmd = Command::new(sluice_bin());
        cmd.args(&args.args).env("SLUICE_LOG", args.log_level).stdin(Stdio::null()).stdout(Stdio::null()).stderr(file);
        cmd.envs(args.env.iter().map(|(k, v)| (k, v)));
        if let Some(id) = args.user {
            cmd.uid(id).gid(id);
        }
        Host { child: Process::spawn(cmd), log }
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
            if let Some(status) = self.child.try_wait() {
                panic!("sluice exited ({status}) before logging {needle:?}:\n{}", self.log());
            }
            assert!(Instant::now() < deadline, "sluice did not log {needle:?} within {within:?}:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits for a clean exit; returns the status. A host
    /// that does not exit fails the test with its log and, where gdb is
    /// installed, its threads' stacks: where it hangs.
    pub fn stop(mut self) -> ExitStatus {
        self.child.signal(libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let stacks = Command::new("gdb")
            .args(["-batch", "-p", &self.pid().to_string(), "-ex", "thread apply all bt"])
            .output()
            .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
            .unwrap_or_else(|e| format!("(no stacks: gdb: {e})"));
        panic!("sluice did not exit within 60 s of SIGTERM; its log:\n{}\nits threads:\n{stacks}", self.log());
    }

    /// Kills the host at once (SIGKILL), as a crash would.
    pub fn kill(mut self) {
        self.child.signal(libc::SIGKILL);
        self.child.wait();
    }

    /// Waits for the host to exit by itself; returns its status.
    pub fn wait(&mut self, within: Duration) -> ExitStatus {
        let log = self.log.clone();
        poll_until(within, &format!("sluice exits (log {})", log.display()), || self.child.try_wait())
    }
}

/// Runs `sluice` with `args` to completion; returns its status and stderr.
pub fn run_to_exit(args: &[&str], within: Duration) -> (ExitStatus, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("stderr");
    let mut cmd = Command::new(sluice_bin());
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(std::fs::File::create(&log).expect("log"));
    let mut child = Process::spawn(cmd);
    let status = poll_until(within, "sluice exits", || child.try_wait());
    (status, std::fs::read_to_string(&log).unwrap_or_default())
}

/// The partitions of the offsets topic a host owned at its last ownership
/// change, by its log (`owned=[0, 3, 6]`); empty before it owned any.
pub fn owned_partitions(log: &str) -> Vec<i32> {
    log.lines().rev().find_map(|l| list_after(l, " owned=[")).unwrap_or_default()
}

/// The partitions of each "took over partitions" line of a host's log.
pub fn takeovers(log: &str) -> Vec<Vec<i32>> {
    log.lines().filter(|l| l.contains("took over partitions")).filter_map(|l| list_after(l, "partitions=[")).collect()
}

fn list_after(line: &str, field: &str) -> Option<Vec<i32>> {
    let start = line.find(field)? + field.len();
    let end = start + line[start..].find(']')?;
    Some(line[start..end].split(',').filter_map(|p| p.trim().parse().ok()).collect())
}
