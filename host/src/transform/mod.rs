//! The wasm transform stage: runs each [`Batch`] through the operator's
//! module and hands back one ABI outcome per record.
//!
//! [`Runtime::load`] compiles and checks the module once ([`module`]) and
//! keeps a pre-instantiated template; [`Runtime::instance`] makes a fresh
//! sandboxed instance from it and calls `sluice_init`. Each call runs under
//! an epoch deadline (`--transform-timeout-ms`) and each instance under a
//! memory cap (`--transform-memory-mb`). [`Transformer`] owns the current
//! instance: a batch crosses into guest memory with one copy and its
//! outcomes come back with one copy. When a batch fails as a whole (trap,
//! panic, timeout, memory cap, malformed result) the instance is discarded
//! and the batch is retried record by record on fresh instances, so only the
//! poison record fails.

pub mod cache;
pub mod log;
pub mod module;
pub mod wasi;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sluice_guest_sdk::abi::{self, Outcome};
use wasmtime::{Engine, InstancePre, Linker, Memory, Store, StoreLimits, StoreLimitsBuilder, Trap, TypedFunc};

/// What each instance's store holds: its limits and its WASI stub state.
#[derive(Debug)]
pub struct Guest {
    limits: StoreLimits,
    wasi: wasi::Wasi,
}

use crate::config::TransformConfig;
use crate::shutdown::Shutdown;
use crate::source::Batch;
pub use module::ModuleError;

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
    /// The module imports `sluice.log` but says it speaks version 1.
    #[error("transform {path} imports `sluice.log`, which needs ABI version 2, but it speaks version 1")]
    LogNeedsV2 {
        /// The module file.
        path: String,
    },
}

/// A compiled, checked module and the engine that runs it.
pub struct Runtime {
    engine: Engine,
    template: InstancePre<Guest>,
    config: TransformConfig,
    path: String,
    ticker: Arc<AtomicBool>,
    /// Whether the module imports `sluice.log`, which version 1 may not.
    imports_log: bool,
    log: Arc<log::GuestLog>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Runtime {
    /// Compiles and checks the module; starts the epoch ticker.
    pub fn load(config: &TransformConfig) -> Result<Self, TransformError> {
        let mut wasm = wasmtime::Config::new();
        wasm.epoch_interruption(true);
        let engine = Engine::new(&wasm).expect("static wasmtime config is valid");
        let module = module::load(&engine, &config.path, config.module_cache.as_deref())?;
        let path = config.path.display().to_string();
        let start = |e: wasmtime::Error| TransformError::Start { path: path.clone(), reason: format!("{e:#}") };
        let name = config.path.file_name().map_or_else(|| path.clone(), |n| n.to_string_lossy().into_owned());
        let log = log::GuestLog::new(name);
        let mut linker = Linker::new(&engine);
        log.define(&mut linker).map_err(start)?;
        wasi::add_to_linker(&engine, &mut linker, |guest: &mut Guest| &mut guest.wasi).map_err(start)?;
        let template = linker.instantiate_pre(&module).map_err(start)?;
        let imports_log = module.imports().any(|i| i.module() == abi::IMPORT_MODULE);
        let ticker = start_ticker(engine.clone());
        Ok(Runtime { engine, template, config: config.clone(), path, ticker, imports_log, log })
    }

    /// The module's path, for messages.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// A fresh instance, version-checked and initialized with the config.
    pub fn instance(&self) -> Result<Instance, TransformError> {
        let start = |e: wasmtime::Error| TransformError::Start { path: self.path.clone(), reason: describe_error(&e) };
        // The cap holds per memory, so allow one memory and bounded tables.
        let limits = StoreLimitsBuilder::new()
            .memory_size(self.config.memory_bytes)
            .memories(1)
            .tables(4)
            .table_elements(1 << 20)
            .trap_on_grow_failure(true)
            .build();
        let mut store = Store::new(&self.engine, Guest { limits, wasi: wasi::Wasi::new(self.log.clone()) });
        store.limiter(|guest| &mut guest.limits);
        store.set_epoch_deadline(self.deadline_ticks());
        let instance = self.template.instantiate(&mut store).map_err(start)?;
        // A WASI reactor (Go's `-buildmode=c-shared`) starts its runtime here.
        if let Ok(initialize) = instance.get_typed_func::<(), ()>(&mut store, "_initialize") {
            initialize.call(&mut store, ()).map_err(start)?;
        }
        let mut instance = Instance {
            memory: instance.get_memory(&mut store, abi::EXPORT_MEMORY).expect("checked at load"),
            version: instance.get_typed_func(&mut store, abi::EXPORT_ABI_VERSION).map_err(start)?,
            buffer: instance.get_typed_func(&mut store, abi::EXPORT_BUFFER).map_err(start)?,
            init: instance.get_typed_func(&mut store, abi::EXPORT_INIT).map_err(start)?,
            process: instance.get_typed_func(&mut store, abi::EXPORT_PROCESS).map_err(start)?,
            panic_message: instance.get_typed_func(&mut store, abi::EXPORT_PANIC_MESSAGE).ok(),
            store,
            abi_version: abi::Version::LATEST,
            deadline_ticks: self.deadline_ticks(),
            timeout: self.config.timeout,
            memory_cap: self.config.memory_bytes,
        };
        self.check_version(&mut instance)?;
        let config = abi::encode_config(self.config.config.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        match instance.init(&config) {
            Ok(Ok(())) => Ok(instance),
            Ok(Err(message)) => Err(TransformError::InitRefused { path: self.path.clone(), message }),
            Err(failure) => Err(TransformError::Start { path: self.path.clone(), reason: failure.0 }),
        }
    }

    fn check_version(&self, instance: &mut Instance) -> Result<(), TransformError> {
        instance.store.set_epoch_deadline(self.deadline_ticks());
        let found = instance
            .version
            .call(&mut instance.store, ())
            .map_err(|e| TransformError::Start { path: self.path.clone(), reason: describe_error(&e) })?;
        instance.abi_version =
            abi::Version::from_export(found).ok_or(TransformError::AbiVersion { path: self.path.clone(), found })?;
        if self.imports_log && instance.abi_version == abi::Version::V1 {
            return Err(TransformError::LogNeedsV2 { path: self.path.clone() });
        }
        Ok(())
    }

    fn deadline_ticks(&self) -> u64 {
        (self.config.timeout.as_millis() / EPOCH_TICK.as_millis()) as u64 + 1
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

/// Why a call into the module failed as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallFailure(pub String);

/// One sandboxed instance of the module.
pub struct Instance {
    store: Store<Guest>,
    memory: Memory,
    version: TypedFunc<(), i32>,
    buffer: TypedFunc<i32, i32>,
    init: TypedFunc<i32, i64>,
    process: TypedFunc<(i32, i32), i64>,
    panic_message: Option<TypedFunc<(), i64>>,
    /// What `sluice_abi_version` returned; its outcomes are checked against it.
    abi_version: abi::Version,
    deadline_ticks: u64,
    timeout: Duration,
    memory_cap: usize,
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance").finish_non_exhaustive()
    }
}

impl Instance {
    fn init(&mut self, config: &[u8]) -> Result<Result<(), String>, CallFailure> {
        let region = self.call(config, |this, len| this.init.call(&mut this.store, len))?;
        abi::decode_init_result(region).map_err(|e| CallFailure(format!("returned a malformed init result: {e}")))
    }

    /// The ABI version the module speaks.
    pub fn abi_version(&self) -> abi::Version {
        self.abi_version
    }

    /// Runs `count` ABI-encoded records and appends the checked outcomes to
    /// `out`. They are checked against the module's version, so `out` always
    /// reads as the latest version.
    pub fn process_into(&mut self, records: &[u8], count: usize, out: &mut Vec<u8>) -> Result<(), CallFailure> {
        let count_i32 = i32::try_from(count).map_err(|_| CallFailure("batch too large".into()))?;
        let version = self.abi_version;
        let region = self.call(records, |this, len| this.process.call(&mut this.store, (count_i32, len)))?;
        abi::decode_outcomes_as(version, region, count)
            .map_err(|e| CallFailure(format!("returned a malformed result: {e}")))?;
        out.extend_from_slice(region);
        Ok(())
    }

    /// Copies `input` into the guest buffer, calls `f`, returns the result region.
    fn call(
        &mut self,
        input: &[u8],
        f: impl FnOnce(&mut Self, i32) -> wasmtime::Result<i64>,
    ) -> Result<&[u8], CallFailure> {
        let len = i32::try_from(input.len()).map_err(|_| CallFailure("input over 2 GiB".into()))?;
        self.store.set_epoch_deadline(self.deadline_ticks);
        let ptr = self.buffer.call(&mut self.store, len).map_err(|e| self.failure(&e))?;
        self.memory
            .write(&mut self.store, ptr as u32 as usize, input)
            .map_err(|_| CallFailure(format!("sluice_buffer returned {ptr:#x}, outside its memory")))?;
        let packed = f(self, len).map_err(|e| self.failure(&e))?;
        let (ptr, len) = abi::unpack_region(packed);
        let data = self.memory.data(&self.store);
        let range = ptr as usize..ptr as usize + len as usize;
        data.get(range).ok_or_else(|| {
            CallFailure(format!("returned a region {ptr:#x}+{len} outside its {} bytes of memory", data.len()))
        })
    }

    /// Describes a failed call, with the guest's panic message if it left one.
    fn failure(&mut self, error: &wasmtime::Error) -> CallFailure {
        match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => {
                return CallFailure(format!("exceeded the time limit of {} ms", self.timeout.as_millis()));
            }
            Some(Trap::UnreachableCodeReached) => {
                if let Some(message) = self.panic_message() {
                    return CallFailure(format!("panicked: {message}"));
                }
            }
            _ => {}
        }
        let text = describe_error(error);
        if text.contains("forcing trap when growing memory") || text.contains("memory minimum size") {
            return CallFailure(format!("exceeded the memory cap of {} MiB", self.memory_cap >> 20));
        }
        CallFailure(text)
    }

    fn panic_message(&mut self) -> Option<String> {
        let func = self.panic_message.clone()?;
        self.store.set_epoch_deadline(self.deadline_ticks);
        let (ptr, len) = abi::unpack_region(func.call(&mut self.store, ()).ok()?);
        let bytes = self.memory.data(&self.store).get(ptr as usize..ptr as usize + len as usize)?;
        (!bytes.is_empty()).then(|| String::from_utf8_lossy(bytes).into_owned())
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

    /// The ABI version the module speaks.
    pub fn abi_version(&self) -> abi::Version {
        self.instance.abi_version()
    }

    /// The module's path.
    pub fn path(&self) -> &Path {
        Path::new(self.runtime.path())
    }

    /// One outcome per record of `batch`, in order. A failing batch is
    /// retried record by record, and each failing record becomes an error
    /// outcome with the reason; after `max_failures` failures in a row the
    /// rest are not tried. Stops early, with [`TransformError::Stopped`], on
    /// shutdown.
    pub fn process(
        &mut self,
        batch: &Batch,
        max_failures: u64,
        shutdown: &Shutdown,
    ) -> Result<Vec<Outcome<'_>>, TransformError> {
        self.out.clear();
        if let Err(failure) = self.instance.process_into(&batch.records, batch.len(), &mut self.out) {
            tracing::warn!(file = %batch.path, reason = %failure.0, records = batch.len(), "transform failed a batch; retrying record by record on a fresh instance");
            self.out.clear();
            self.instance = self.runtime.instance()?;
            self.salvage(batch, max_failures, shutdown)?;
        }
        Ok(abi::decode_outcomes(&self.out, batch.len()).expect("outcomes were checked when copied out"))
    }

    fn salvage(&mut self, batch: &Batch, max_failures: u64, shutdown: &Shutdown) -> Result<(), TransformError> {
        let mut single = Vec::new();
        let mut failures = 0;
        for record in abi::records(&batch.records, batch.len()) {
            if shutdown.is_triggered() {
                return Err(TransformError::Stopped);
            }
            if failures >= max_failures {
                let reason = format!("transform not run: it failed the {failures} records before this one");
                abi::encode_error(&mut self.out, &reason);
                continue;
            }
            single.clear();
            abi::put_bytes(&mut single, record);
            match self.instance.process_into(&single, 1, &mut self.out) {
                Ok(()) => failures = 0,
                Err(failure) => {
                    failures += 1;
                    abi::encode_error(&mut self.out, &format!("transform {}", failure.0));
                    self.instance = self.runtime.instance()?;
                }
            }
        }
        Ok(())
    }
}
