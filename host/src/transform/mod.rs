//! The wasm transform stage: runs each [`Batch`] through the operator's
//! module and hands back one ABI outcome per record.
//!
//! [`Runtime::load`] reads the file and hands it to one of two loaders by
//! what it is: a core module against the byte ABI ([`core_module`]) or a
//! component of the WIT world ([`component`]). Either compiles and checks
//! it once ([`module`], through the [`cache`]) and keeps a pre-instantiated
//! template; [`Runtime::instance`] makes a fresh sandboxed instance from it
//! and runs the module's init. Both produce the same ABI outcomes, so what
//! is above them does not know which it runs. Each call runs under an
//! epoch deadline (`--transform-timeout-ms`) and each instance under a
//! memory cap (`--transform-memory-mb`). [`Transformer`] owns the current
//! instance. When a batch fails as a whole (trap, panic, timeout, memory
//! cap, malformed result) the instance is discarded and the batch is run
//! again around the record that failed on fresh instances ([`salvage`]), so
//! only the poison record fails, and it fails once. A module that calls
//! `sluice.fail` ([`fail`]) stops the stream instead, when its call returns.

pub mod cache;
pub mod component;
pub mod core_module;
pub mod fail;
pub mod log;
pub mod module;
pub mod salvage;
pub mod wasi;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sluice_guest_sdk::abi::{self, Outcome};
use wasmtime::{Engine, StoreLimits, StoreLimitsBuilder, Trap};

use crate::config::TransformConfig;
use crate::record::Batch;
use crate::shutdown::Shutdown;
pub use module::ModuleError;
pub use salvage::Tolerance;

/// Epoch tick; the time limit is enforced to within this.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Why the transform stage cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    /// The module is unusable.
    #[error(transparent)]
    Module(#[from] ModuleError),
    /// The module refused its configuration in `sluice_init`.
    #[error("transform {path} refused its configuration: {message}")]
    InitRefused {
        /// The module file.
        path: String,
        /// The module's reason.
        message: String,
    },
    /// Instantiating or initializing failed in the engine.
    #[error("transform {path} failed to start: {reason}")]
    Start {
        /// The module file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// Shutdown came while a failed batch was being retried.
    #[error("stopped while retrying a failed batch")]
    Stopped,
    /// The module speaks another ABI version.
    #[error("transform {path} speaks ABI version {found}, but this sluice speaks versions 1 and 2")]
    AbiVersion {
        /// The module file.
        path: String,
        /// What it reported.
        found: i32,
    },
    /// The module imports `sluice.log` or `sluice.fail` but says it speaks version 1.
    #[error("transform {path} imports `sluice.{import}`, which needs ABI version 2, but it speaks version 1")]
    HostImportNeedsV2 {
        /// The module file.
        path: String,
        /// The function's name.
        import: String,
    },
    /// The module called `sluice.fail`: the stream cannot go on.
    #[error("the module stopped the stream: {reason}")]
    ModuleStopped {
        /// The module's reason, cut and escaped.
        reason: String,
    },
}

/// A compiled, checked module or component, ready to make instances.
pub struct Runtime {
    kind: Kind,
    path: String,
    ticker: Arc<AtomicBool>,
}

/// The two loaders, chosen by what the file is.
enum Kind {
    Core(core_module::Runtime),
    Component(component::Runtime),
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Runtime {
    /// Reads the file, compiles and checks it as a core module or as a
    /// component (by its header's layer field), and starts the epoch ticker.
    pub fn load(config: &TransformConfig) -> Result<Self, TransformError> {
        let mut wasm = wasmtime::Config::new();
        wasm.epoch_interruption(true);
        let engine = Engine::new(&wasm).expect("static wasmtime config is valid");
        let bytes = module::read(&config.path)?;
        let kind = match wasmparser::Parser::is_component(&bytes) {
            true => Kind::Component(component::Runtime::load(&engine, config, &bytes)?),
            false => Kind::Core(core_module::Runtime::load(&engine, config, &bytes)?),
        };
        let ticker = start_ticker(engine);
        Ok(Runtime { kind, path: config.path.display().to_string(), ticker })
    }

    /// The module's path, for messages.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The module's log.
    pub fn log(&self) -> &log::GuestLog {
        match &self.kind {
            Kind::Core(runtime) => runtime.log(),
            Kind::Component(runtime) => runtime.log(),
        }
    }

    /// A fresh instance, checked and initialized with the config.
    pub fn instance(&self) -> Result<Instance, TransformError> {
        Ok(match &self.kind {
            Kind::Core(runtime) => Instance::Core(Box::new(runtime.instance()?)),
            Kind::Component(runtime) => Instance::Component(runtime.instance()?),
        })
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.ticker.store(true, Ordering::Relaxed);
    }
}

/// Advances the engine's epoch every tick until `stop` is set.
fn start_ticker(engine: Engine) -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::Builder::new()
        .name("wasm-epoch".into())
        .spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        })
        .expect("spawn the epoch ticker");
    stop
}

/// Epoch ticks for a time limit: the limit, rounded up to a tick.
fn deadline_ticks(timeout: Duration) -> u64 {
    (timeout.as_millis() / EPOCH_TICK.as_millis()) as u64 + 1
}

/// An instance's limits: `memories` memories (and bounded tables), each
/// capped at `memory_bytes`.
fn limits(memory_bytes: usize, memories: usize) -> StoreLimits {
    StoreLimitsBuilder::new()
        .memory_size(memory_bytes)
        .memories(memories)
        .tables(4 * memories)
        .table_elements(1 << 20)
        .trap_on_grow_failure(true)
        .build()
}

/// The file name of the module at `path`, for its log lines.
fn module_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// What an instance speaks, as `sluice check` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interface {
    /// A core module speaking this ABI version.
    Abi(abi::Version),
    /// A component of the world in guest-sdk/wit/sluice.wit.
    World,
}

impl std::fmt::Display for Interface {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Interface::Abi(version) => write!(f, "ABI version {version}"),
            Interface::World => write!(f, "component of the world {}", component::WORLD),
        }
    }
}

/// Why a call into the module failed as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallFailure(pub String);

impl CallFailure {
    /// Names the limit a failed call broke, else describes the error.
    fn from_error(error: &wasmtime::Error, timeout: Duration, memory_cap: usize) -> Self {
        let host_call = error.downcast_ref::<wasi::HostCallError>();
        let host_over_time = matches!(host_call, Some(wasi::HostCallError::OverTime { .. }));
        if host_over_time || matches!(error.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
            return CallFailure(format!("exceeded the time limit of {} ms", timeout.as_millis()));
        }
        if let Some(refused) = host_call {
            // The stub's own words, without the wasm backtrace.
            return CallFailure(refused.to_string());
        }
        let text = describe_error(error);
        if text.contains("forcing trap when growing memory") || text.contains("memory minimum size") {
            return CallFailure(format!("exceeded the memory cap of {} MiB", memory_cap >> 20));
        }
        CallFailure(text)
    }
}

/// One sandboxed instance of the module or component.
#[derive(Debug)]
pub enum Instance {
    /// Of a core module (boxed: its store and typed functions make it
    /// several times the size of a component's).
    Core(Box<core_module::Instance>),
    /// Of a component.
    Component(component::Instance),
}

impl Instance {
    /// What the instance speaks.
    pub fn interface(&self) -> Interface {
        match self {
            Instance::Core(instance) => Interface::Abi(instance.abi_version()),
            Instance::Component(_) => Interface::World,
        }
    }

    /// Runs `count` ABI-encoded records and appends one checked outcome per
    /// record to `out`, in the latest ABI version's encoding.
    pub fn process_into(&mut self, records: &[u8], count: usize, out: &mut Vec<u8>) -> Result<(), CallFailure> {
        match self {
            Instance::Core(instance) => instance.process_into(records, count, out),
            Instance::Component(instance) => instance.process_into(records, count, out),
        }
    }

    /// Fails with the module's reason if it called `sluice.fail`.
    fn check_stopped(&self) -> Result<(), TransformError> {
        let reason = match self {
            Instance::Core(instance) => instance.stopped(),
            Instance::Component(instance) => instance.stopped(),
        };
        reason.map_or(Ok(()), |reason| Err(TransformError::ModuleStopped { reason }))
    }

    /// After a failed call of `count` records, the index of the record the
    /// module says it was working on (`sluice_current_record`), if it says.
    pub fn failed_record(&mut self, count: usize) -> Option<usize> {
        match self {
            Instance::Core(instance) => instance.failed_record(count),
            Instance::Component(_) => None,
        }
    }
}

fn describe_error(error: &wasmtime::Error) -> String {
    match error.downcast_ref::<Trap>() {
        Some(trap) => format!("trapped: {trap}"),
        None => format!("{error:#}"),
    }
}

/// Runs batches through the module, replacing instances that fail.
#[derive(Debug)]
pub struct Transformer {
    runtime: Runtime,
    instance: Instance,
    out: Vec<u8>,
}

impl Transformer {
    /// Loads the module and makes its first instance: every start-up check
    /// happens here, before a record is read.
    pub fn new(config: &TransformConfig) -> Result<Self, TransformError> {
        let runtime = Runtime::load(config)?;
        let instance = runtime.instance()?;
        Ok(Transformer { runtime, instance, out: Vec::new() })
    }

    /// What the module speaks.
    pub fn interface(&self) -> Interface {
        self.instance.interface()
    }

    /// The module's path.
    pub fn path(&self) -> &Path {
        Path::new(self.runtime.path())
    }

    /// The module's log, and the warnings and errors it has kept.
    pub fn log(&self) -> &log::GuestLog {
        self.runtime.log()
    }

    /// [`Transformer::process_with`], after no failure, `max_failures` of
    /// them in a row allowed.
    pub fn process(
        &mut self,
        batch: &Batch,
        max_failures: u64,
        shutdown: &Shutdown,
    ) -> Result<Vec<Outcome<'_>>, TransformError> {
        self.process_with(batch, Tolerance::new(max_failures), shutdown)
    }

    /// One outcome per record of `batch`, in order. A failing batch is run
    /// again around its failing records ([`salvage`]), and each failing
    /// record becomes an error outcome with the reason; once `tolerance`
    /// failures in a row are reached the rest are not tried. Stops early,
    /// with [`TransformError::Stopped`], on shutdown, and with
    /// [`TransformError::ModuleStopped`] (no outcome of the batch kept)
    /// once a call of the module's called `sluice.fail`.
    pub fn process_with(
        &mut self,
        batch: &Batch,
        tolerance: Tolerance,
        shutdown: &Shutdown,
    ) -> Result<Vec<Outcome<'_>>, TransformError> {
        self.out.clear();
        let result = self.instance.process_into(&batch.records, batch.len(), &mut self.out);
        self.instance.check_stopped()?;
        if let Err(failure) = result {
            let at = self.instance.failed_record(batch.len());
            match at {
                Some(record) => {
                    tracing::warn!(file = %batch.path, reason = %failure.0, records = batch.len(), record, "transform failed a batch at one record; dead-lettering it and running the others again on a fresh instance")
                }
                None => {
                    tracing::warn!(file = %batch.path, reason = %failure.0, records = batch.len(), "transform failed a batch; retrying record by record on a fresh instance")
                }
            }
            self.out.clear();
            self.instance = self.runtime.instance()?;
            self.salvage(batch, (at, failure), tolerance, shutdown)?;
        }
        Ok(abi::decode_outcomes(&self.out, batch.len()).expect("outcomes were checked when copied out"))
    }
}
