//! Real object-store servers for the landing-zone tests, one per test on
//! free loopback ports with its data under the test's own directory:
//! moto's server (S3 and SQS, in memory), SeaweedFS (`weed mini`, S3 on
//! disk, with the credentials it checks) and Azurite (Azure Blob, on disk).
//! `scripts/lib.sh` installs them (`ensure_object_stores`); `$SLUICE_MOTO_SERVER`, `$SLUICE_WEED` and
//! `$SLUICE_AZURITE` name other builds.
//!
//! An [`ObjectServer`] is stopped when it drops and dies with the test
//! process. It puts, reads, lists and deletes objects with `object_store`
//! (the host's own client), and makes buckets, containers and moto's SQS
//! queues with `tests/util/objstore.py` in the tools' venv
//! (`$SLUICE_OBJSTORE_PYTHON`), since `object_store` has no API for those.
//! [`ObjectServer::host_flags`] and [`ObjectServer::host_env`] are what
//! `sluice run` needs to reach it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::{HostArgs, Process, TestDirs, free_port, poll_until, tool_path, workspace_root};

/// The access key id SeaweedFS is configured with (moto takes any).
pub const ACCESS_KEY_ID: &str = "sluice-test-key";
/// Its secret access key.
pub const SECRET_ACCESS_KEY: &str = "sluice-test-secret-6f1c";
/// Azurite's well-known account.
const AZURITE_ACCOUNT: &str = "devstoreaccount1";
/// Azurite's well-known key.
const AZURITE_KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// How long a server may take to answer (a cold `weed mini` takes ~5 s on
/// a busy two-core machine).
const READY_WITHIN: Duration = Duration::from_secs(60);

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// moto's server: S3 and SQS in memory, S3 event notifications to SQS.
    Moto,
    /// SeaweedFS's `weed mini`: S3 with its data on disk, credentials checked.
    Seaweed,
    /// Azurite: Azure Blob Storage with its data on disk.
    Azurite,
}

/// A running object-store server of one test, killed on drop.
#[derive(Debug)]
pub struct ObjectServer {
    kind: Kind,
    dir: PathBuf,
    /// The API's port first, then the other ports the server listens on;
    /// the same across restarts.
    ports: Vec<u16>,
    process: Option<Process>,
    starts: usize,
    runtime: tokio::runtime::Runtime,
}

impl ObjectServer {
    /// Starts a `kind` server with its data and logs in `dir` and returns
    /// once it answers HTTP.
    pub fn start(kind: Kind, dir: &Path) -> ObjectServer {
        std::fs::create_dir_all(dir).expect("create the server's directory");
        let count = if kind == Kind::Seaweed { 12 } else { 1 };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
        let ports = (0..count).map(|_| free_port()).collect();
        let mut server = ObjectServer { kind, dir: dir.to_owned(), ports, process: None, starts: 0, runtime };
        let started = Instant::now();
        server.start_again();
        eprintln!("objstore: {kind:?} on {} ready after {:.1} s", server.endpoint(), started.elapsed().as_secs_f64());
        server
    }

    /// Which server it is.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Its API's port.
    pub fn port(&self) -> u16 {
        self.ports[0]
    }

    /// Its API's base URL: `http://127.0.0.1:PORT` (Azurite's blob service).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port())
    }

    /// The process id of the running server.
    pub fn pid(&self) -> u32 {
        self.process.as_ref().expect("the server is not running").id()
    }

    /// Starts the stopped server again on the same ports and data; returns
    /// once it answers HTTP.
    pub fn start_again(&mut self) {
        assert!(self.process.is_none(), "the server is running");
        self.starts += 1;
        let log = std::fs::File::create(self.dir.join(format!("server-{}.log", self.starts))).expect("server log");
        let mut cmd = self.command();
        cmd.current_dir(&self.dir).stdin(Stdio::null()).stdout(log.try_clone().expect("clone log")).stderr(log);
        self.process = Some(Process::spawn(cmd));
        self.wait_ready();
    }

    fn command(&self) -> Command {
        let port = self.port().to_string();
        match self.kind {
            Kind::Moto => {
                let mut cmd = Command::new(tool_path("SLUICE_MOTO_SERVER", ".tools/objstore/bin/moto_server"));
                cmd.args(["-H", "127.0.0.1", "-p", &port]);
                cmd
            }
            Kind::Seaweed => self.weed_command(),
            Kind::Azurite => {
                let mut cmd =
                    Command::new(tool_path("SLUICE_AZURITE", ".tools/azurite/node_modules/.bin/azurite-blob"));
                let data = self.dir.join("azurite");
                cmd.args(["--blobHost", "127.0.0.1", "--blobPort", &port, "--location", path_str(&data)]);
                cmd.args(["--silent", "--disableTelemetry", "--skipApiVersionCheck", "--loose"]);
                cmd
            }
        }
    }

    /// `weed mini` with every port its own, no telemetry, no web UIs, and
    /// the S3 identity of [`ACCESS_KEY_ID`].
    fn weed_command(&self) -> Command {
        let config = self.dir.join("s3.json");
        let identity = serde_json::json!({"identities": [{
            "name": "sluice",
            "credentials": [{"accessKey": ACCESS_KEY_ID, "secretKey": SECRET_ACCESS_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]});
        std::fs::write(&config, identity.to_string()).expect("write the S3 identities");
        let mut cmd = Command::new(tool_path("SLUICE_WEED", ".tools/objstore/bin/weed"));
        cmd.args(["mini", &format!("-dir={}", path_str(&self.dir.join("data"))), "-ip=127.0.0.1"]);
        cmd.args(["-ip.bind=127.0.0.1", "-master.telemetry=false", "-admin.ui=false", "-webdav=false"]);
        cmd.args(["-s3.port.iceberg=0", "-s3.port.lance=0", &format!("-s3.config={}", path_str(&config))]);
        let flags = ["s3.port", "s3.port.grpc", "master.port", "master.port.grpc", "volume.port", "volume.port.grpc"];
        let more = ["filer.port", "filer.port.grpc", "admin.port", "admin.port.grpc", "debug.port", "metricsPort"];
        cmd.args(flags.iter().chain(&more).zip(&self.ports).map(|(flag, port)| format!("-{flag}={port}")));
        cmd
    }

    /// Waits until the API answers any HTTP status.
    fn wait_ready(&mut self) {
        let url = format!("{}/", self.endpoint());
        let agent: ureq::Agent =
            ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(2))).build().into();
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            match agent.get(&url).call() {
                Ok(_) | Err(ureq::Error::StatusCode(_)) => return,
                Err(_) => {}
            }
            if let Some(status) = self.process.as_mut().and_then(Process::try_wait) {
                panic!("{:?} exited ({status}) while starting:\n{}", self.kind, self.log_tail());
            }
            assert!(
                Instant::now() < deadline,
                "{:?} did not answer within {READY_WITHIN:?}:\n{}",
                self.kind,
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join(format!("server-{}.log", self.starts))).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Stops the server (SIGTERM, SIGKILL after 20 s) and waits until it is
    /// gone. SeaweedFS and Azurite keep their data for [`Self::start_again`];
    /// moto's is lost.
    pub fn stop(&mut self) {
        let Some(mut process) = self.process.take() else { return };
        process.signal(libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        while process.try_wait().is_none() {
            if Instant::now() > deadline {
                process.signal(libc::SIGKILL);
                process.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Makes `bucket` (an S3 bucket or an Azure container), retrying while
    /// the server is still coming up.
    pub fn create_bucket(&self, bucket: &str) {
        let endpoint = self.endpoint();
        let args: Vec<&str> = match self.kind {
            Kind::Azurite => vec!["az-container", &endpoint, bucket],
            _ => vec!["s3-bucket", &endpoint, ACCESS_KEY_ID, SECRET_ACCESS_KEY, bucket],
        };
        let mut last = String::new();
        let deadline = Instant::now() + READY_WITHIN;
        while Instant::now() < deadline {
            match run_helper(&args) {
                Ok(_) => return,
                Err(error) => last = error,
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("cannot create bucket {bucket} on {:?}: {last}", self.kind);
    }

    /// Makes SQS queue `queue` on moto and has `bucket` send its
    /// `s3:ObjectCreated:*` events to it; returns the queue's URL.
    pub fn notify_to_queue(&self, bucket: &str, queue: &str) -> String {
        assert_eq!(self.kind, Kind::Moto, "only moto delivers S3 event notifications");
        let out = run_helper(&["s3-notify", &self.endpoint(), bucket, queue]).expect("configure notifications");
        out.trim().to_owned()
    }

    /// The bodies of the messages waiting in moto's SQS queue `queue_url`
    /// (received, so hidden from other readers for the queue's visibility
    /// timeout), one per line.
    pub fn receive(&self, queue_url: &str) -> String {
        assert_eq!(self.kind, Kind::Moto, "only moto has SQS");
        run_helper(&["sqs-receive", queue_url]).expect("receive from the queue")
    }

    /// The `--landing-zone` URL of `prefix` in `bucket`: `s3://bucket/prefix/`
    /// or `az://container/prefix/`.
    pub fn url(&self, bucket: &str, prefix: &str) -> String {
        let scheme = if self.kind == Kind::Azurite { "az" } else { "s3" };
        let prefix = prefix.trim_matches('/');
        if prefix.is_empty() { format!("{scheme}://{bucket}/") } else { format!("{scheme}://{bucket}/{prefix}/") }
    }

    /// The `--storage-option` pairs that reach the server.
    pub fn storage_options(&self) -> Vec<(String, String)> {
        let pairs: Vec<(&str, String)> = match self.kind {
            Kind::Azurite => vec![("use_emulator", "true".into())],
            _ => vec![
                ("endpoint", self.endpoint()),
                ("allow_http", "true".into()),
                ("access_key_id", ACCESS_KEY_ID.into()),
                ("secret_access_key", SECRET_ACCESS_KEY.into()),
                ("region", "us-east-1".into()),
            ],
        };
        pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }

    /// The environment the host needs besides the flags: Azurite's URL
    /// (`object_store` reads it from there only).
    pub fn host_env(&self) -> Vec<(String, String)> {
        match self.kind {
            Kind::Azurite => vec![("AZURITE_BLOB_STORAGE_URL".into(), self.endpoint())],
            _ => Vec::new(),
        }
    }

    /// `--landing-zone URL` and a `--storage-option KEY=VALUE` per option.
    pub fn host_flags(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let mut flags = vec!["--landing-zone".to_owned(), self.url(bucket, prefix)];
        for (key, value) in self.storage_options() {
            flags.extend(["--storage-option".to_owned(), format!("{key}={value}")]);
        }
        flags
    }

    /// `sluice run` on `prefix` of `bucket` with `module`, publishing to
    /// `topic`, its checkpoint under `dirs`: the flags and the environment
    /// that reach this server.
    pub fn host_args(
        &self,
        dirs: &TestDirs,
        (bucket, prefix): (&str, &str),
        module: &Path,
        topic: &str,
        bootstrap: &str,
    ) -> HostArgs {
        let checkpoint = dirs.checkpoint();
        let args = ["run", "--transform", path_str(module), "--topic", topic, "--bootstrap-servers", bootstrap];
        let args = HostArgs::raw(&args).flags(&["--checkpoint-dir", path_str(&checkpoint)]);
        let flags = self.host_flags(bucket, prefix);
        let args = args.flags(&flags.iter().map(String::as_str).collect::<Vec<_>>());
        self.host_env().iter().fold(args, |args, (key, value)| args.env(key, value))
    }

    /// The harness's own client of `bucket`.
    pub fn store(&self, bucket: &str) -> Arc<dyn ObjectStore> {
        // TLS (built, if unused here) takes ring's provider, as the host's.
        #[allow(deprecated)]
        let _ = rustls::crypto::ring::default_provider().install_default();
        match self.kind {
            Kind::Azurite => Arc::new(
                MicrosoftAzureBuilder::new()
                    .with_account(AZURITE_ACCOUNT)
                    .with_access_key(AZURITE_KEY)
                    .with_endpoint(format!("{}/{AZURITE_ACCOUNT}", self.endpoint()))
                    .with_allow_http(true)
                    .with_container_name(bucket)
                    .build()
                    .expect("an Azurite client"),
            ),
            _ => Arc::new(
                AmazonS3Builder::new()
                    .with_endpoint(self.endpoint())
                    .with_allow_http(true)
                    .with_access_key_id(ACCESS_KEY_ID)
                    .with_secret_access_key(SECRET_ACCESS_KEY)
                    .with_region("us-east-1")
                    .with_bucket_name(bucket)
                    .build()
                    .expect("an S3 client"),
            ),
        }
    }

    /// Uploads `bytes` as `key` in `bucket` (one PUT: atomic).
    pub fn put(&self, bucket: &str, key: &str, bytes: impl Into<Vec<u8>>) {
        let (store, payload) = (self.store(bucket), PutPayload::from(bytes.into()));
        let put = self.runtime.block_on(store.put(&Key::from(key), payload));
        put.unwrap_or_else(|e| panic!("put {key} into {bucket}: {e}"));
    }

    /// The content of `key` in `bucket`, `None` if there is no such object.
    pub fn get(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        let store = self.store(bucket);
        let got = self.runtime.block_on(async { store.get(&Key::from(key)).await?.bytes().await });
        match got {
            Ok(bytes) => Some(bytes.to_vec()),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => panic!("get {key} from {bucket}: {e}"),
        }
    }

    /// Deletes `key` from `bucket`.
    pub fn delete(&self, bucket: &str, key: &str) {
        let store = self.store(bucket);
        let deleted = self.runtime.block_on(store.delete(&Key::from(key)));
        deleted.unwrap_or_else(|e| panic!("delete {key} from {bucket}: {e}"));
    }

    /// The keys below `prefix` (`""`: all) in `bucket`, sorted.
    pub fn list(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let store = self.store(bucket);
        let prefix = Key::from(prefix.trim_matches('/'));
        let listed: Vec<_> = self
            .runtime
            .block_on(store.list(Some(&prefix)).try_collect::<Vec<_>>())
            .unwrap_or_else(|e| panic!("list {bucket}/{prefix}: {e}"));
        let mut keys: Vec<String> = listed.into_iter().map(|meta| meta.location.to_string()).collect();
        keys.sort();
        keys
    }

    /// Polls until `bucket` has exactly `keys` below `prefix`.
    pub fn wait_for_keys(&self, bucket: &str, prefix: &str, keys: &[&str], within: Duration) {
        let mut want: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        want.sort();
        poll_until(within, &format!("{bucket}/{prefix} holds {want:?}"), || {
            (self.list(bucket, prefix) == want).then_some(())
        });
    }
}

impl Drop for ObjectServer {
    fn drop(&mut self) {
        if let Some(process) = self.process.as_ref() {
            process.signal(libc::SIGKILL);
        }
        self.process = None; // Process's own drop reaps it.
    }
}

/// Runs `tests/util/objstore.py` with `args`; its stdout, or its stderr.
fn run_helper(args: &[&str]) -> Result<String, String> {
    let python = tool_path("SLUICE_OBJSTORE_PYTHON", ".tools/objstore/bin/python");
    let script = workspace_root().join("tests/util/objstore.py");
    let mut cmd = Command::new(&python);
    cmd.arg(&script).args(args).env("NO_PROXY", "127.0.0.1");
    let out = cmd.output().map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}
