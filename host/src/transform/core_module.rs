//! Core modules: a wasm module against the byte ABI of guest-sdk/ABI.md
//! (versions 1 and 2). [`Runtime::load`] checks the module ([`super::module`])
//! and keeps a pre-instantiated template; [`Runtime::instance`] makes a
//! fresh instance and calls `sluice_init`. A batch crosses into guest
//! memory with one copy and its outcomes come back with one copy, checked
//! against the module's ABI version. A module that called `sluice.fail`
//! ([`super::fail`]) says so through [`Instance::stopped`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_guest_sdk::abi;
use wasmtime::{Engine, InstancePre, Linker, Memory, Store, StoreLimits, Trap, TypedFunc};

use super::{CallFailure, TransformError, describe_error, fail, log, module, wasi};
use crate::config::TransformConfig;

/// Epoch ticks `sluice_current_record` may take (at most 20 ms).
const CURRENT_RECORD_TICKS: u64 = 2;

/// What each instance's store holds: its limits, its WASI stub state, and
/// the reason it gave `sluice.fail`, if it called it.
#[derive(Debug)]
pub struct Guest {
    limits: StoreLimits,
    wasi: wasi::Wasi,
    stopped: Option<String>,
}

/// A compiled, checked core module.
pub struct Runtime {
    engine: Engine,
    template: InstancePre<Guest>,
    config: TransformConfig,
    path: String,
    /// The first `sluice.*` function the module imports, which version 1 may not.
    host_import: Option<String>,
    log: Arc<log::GuestLog>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("core_module::Runtime").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Runtime {
    /// Compiles (or takes from the cache) and checks the module in `bytes`.
    pub fn load(engine: &Engine, config: &TransformConfig, bytes: &[u8]) -> Result<Self, TransformError> {
        let module = module::load(engine, &config.path, bytes, config.module_cache.as_deref())?;
        let path = config.path.display().to_string();
        let start = |e: wasmtime::Error| TransformError::Start { path: path.clone(), reason: format!("{e:#}") };
        let log = log::GuestLog::new(super::module_name(&config.path));
        let mut linker = Linker::new(engine);
        log.define(&mut linker).map_err(start)?;
        fail::define(&mut linker, |guest: &mut Guest| &mut guest.stopped).map_err(start)?;
        wasi::add_to_linker(engine, &mut linker, |guest: &mut Guest| &mut guest.wasi).map_err(start)?;
        let template = linker.instantiate_pre(&module).map_err(start)?;
        let host_import = module.imports().find(|i| i.module() == abi::IMPORT_MODULE).map(|i| i.name().to_owned());
        Ok(Runtime { engine: engine.clone(), template, config: config.clone(), path, host_import, log })
    }

    /// The module's log.
    pub fn log(&self) -> &log::GuestLog {
        &self.log
    }

    /// A fresh instance, version-checked and initialized with the config.
    pub fn instance(&self) -> Result<Instance, TransformError> {
        let start = |e: wasmtime::Error| TransformError::Start { path: self.path.clone(), reason: describe_error(&e) };
        let guest = Guest {
            limits: super::limits(self.config.memory_bytes, 1),
            wasi: wasi::Wasi::new(self.log.clone()),
            stopped: None,
        };
        let mut store = Store::new(&self.engine, guest);
        store.limiter(|guest| &mut guest.limits);
        let deadline_ticks = super::deadline_ticks(self.config.timeout);
        store.set_epoch_deadline(deadline_ticks);
        store.data_mut().wasi.set_deadline(Instant::now() + self.config.timeout);
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
            current_record: instance.get_typed_func(&mut store, abi::EXPORT_CURRENT_RECORD).ok(),
            store,
            abi_version: abi::Version::LATEST,
            deadline_ticks,
            timeout: self.config.timeout,
            memory_cap: self.config.memory_bytes,
        };
        self.check_version(&mut instance)?;
        let config = abi::encode_config(self.config.config.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let result = instance.init(&config);
        if let Some(reason) = instance.stopped() {
            return Err(TransformError::ModuleStopped { reason });
        }
        match result {
            Ok(Ok(())) => Ok(instance),
            Ok(Err(message)) => Err(TransformError::InitRefused { path: self.path.clone(), message }),
            Err(failure) => Err(TransformError::Start { path: self.path.clone(), reason: failure.0 }),
        }
    }

    fn check_version(&self, instance: &mut Instance) -> Result<(), TransformError> {
        instance.arm();
        let found = instance
            .version
            .call(&mut instance.store, ())
            .map_err(|e| TransformError::Start { path: self.path.clone(), reason: describe_error(&e) })?;
        instance.abi_version =
            abi::Version::from_export(found).ok_or(TransformError::AbiVersion { path: self.path.clone(), found })?;
        if let Some(import) = &self.host_import
            && instance.abi_version == abi::Version::V1
        {
            return Err(TransformError::HostImportNeedsV2 { path: self.path.clone(), import: import.clone() });
        }
        Ok(())
    }
}

/// One sandboxed instance of a core module.
pub struct Instance {
    store: Store<Guest>,
    memory: Memory,
    version: TypedFunc<(), i32>,
    buffer: TypedFunc<i32, i32>,
    init: TypedFunc<i32, i64>,
    process: TypedFunc<(i32, i32), i64>,
    panic_message: Option<TypedFunc<(), i64>>,
    current_record: Option<TypedFunc<(), i32>>,
    /// What `sluice_abi_version` returned; its outcomes are checked against it.
    abi_version: abi::Version,
    deadline_ticks: u64,
    timeout: Duration,
    memory_cap: usize,
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("core_module::Instance").field("abi_version", &self.abi_version).finish_non_exhaustive()
    }
}

impl Instance {
    fn init(&mut self, config: &[u8]) -> Result<Result<(), String>, CallFailure> {
        let region = self.call(config, |this, len| this.init.call(&mut this.store, len))?;
        abi::decode_init_result(region).map_err(|e| CallFailure(format!("returned a malformed init result: {e}")))
    }

    /// The reason the module gave `sluice.fail`, if it called it.
    pub fn stopped(&self) -> Option<String> {
        self.store.data().stopped.clone()
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
        self.arm();
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
        if let Some(Trap::UnreachableCodeReached) = error.downcast_ref::<Trap>()
            && let Some(message) = self.panic_message()
        {
            return CallFailure(format!("panicked: {message}"));
        }
        CallFailure::from_error(error, self.timeout, self.memory_cap)
    }

    /// The module's panic message, cut as a log line is.
    fn panic_message(&mut self) -> Option<String> {
        let func = self.panic_message.clone()?;
        self.arm();
        let (ptr, len) = abi::unpack_region(func.call(&mut self.store, ()).ok()?);
        let bytes = self.memory.data(&self.store).get(ptr as usize..ptr as usize + len as usize)?;
        (!bytes.is_empty()).then(|| log::shown(bytes))
    }

    /// After a failed call of `count` records, the index of the record the
    /// module was working on, by its `sluice_current_record`; `None` if it
    /// does not export it or names no record of the call.
    pub fn failed_record(&mut self, count: usize) -> Option<usize> {
        let func = self.current_record.clone()?;
        // It only reads a number: a tick or two, not a whole time limit.
        self.store.set_epoch_deadline(CURRENT_RECORD_TICKS);
        let index = func.call(&mut self.store, ()).ok()?;
        usize::try_from(index).ok().filter(|&i| i < count)
    }

    /// Gives the next call into the module its time limit, in wasm (the
    /// epoch deadline) and in the WASI stubs.
    fn arm(&mut self) {
        self.store.set_epoch_deadline(self.deadline_ticks);
        self.store.data_mut().wasi.set_deadline(Instant::now() + self.timeout);
    }
}
