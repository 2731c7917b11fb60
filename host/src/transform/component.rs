//! Components: a module built as a WebAssembly component of the world in
//! guest-sdk/wit/sluice.wit (guest-sdk/COMPONENTS.md), as componentize-py
//! and componentize-js make them. [`Runtime::load`] compiles it through the
//! cache, refuses it unless it imports only `sluice:transform/host` (no
//! WASI: the world grants none) and keeps a pre-instantiated template;
//! [`Runtime::instance`] makes a fresh instance and calls its `init`.
//!
//! A batch is one call of the world's `process`, its records passed as
//! strings; the typed outcomes that come back are encoded into the same ABI
//! outcomes a core module returns and checked the same way, so the retry,
//! the dead letters and `sluice test` do not know which kind they run. The
//! instance's `log` calls go to the module's [`GuestLog`], like `sluice.log`;
//! its `fail` is `sluice.fail` ([`super::fail`]).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sluice_guest_sdk::abi::{self, Level};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Engine, Store, StoreLimits};

use super::log::GuestLog;
use super::{CallFailure, TransformError, module};
use crate::config::TransformConfig;

wasmtime::component::bindgen!({
    path: "../guest-sdk/wit/sluice.wit",
    world: "transform",
    ownership: Borrowing { duplicate_if_necessary: false },
});

use self::sluice::transform::host;
use self::sluice::transform::types::Message;

/// The world, as `sluice check` names it.
pub const WORLD: &str = "sluice:transform/transform@1.0.0";
/// The one interface a component may import.
const HOST_INTERFACE: &str = "sluice:transform/host@1.0.0";
/// The types-only interface the world's outcomes come from (nothing to call).
const TYPES_INTERFACE: &str = "sluice:transform/types@1.0.0";
/// Core memories a component instance may have: componentize-py and
/// componentize-js make one, plus the few their adapters bring; each is
/// capped at `--transform-memory-mb`.
const MEMORIES: usize = 4;

/// What each instance's store holds: its limits, its log, and the reason
/// it gave `fail`, if it called it.
#[derive(Debug)]
pub struct Guest {
    limits: StoreLimits,
    log: Arc<GuestLog>,
    stopped: Option<String>,
}

impl host::Host for Guest {
    fn log(&mut self, level: host::Level, message: String) {
        let level = match level {
            host::Level::Error => Level::Error,
            host::Level::Warn => Level::Warn,
            host::Level::Info => Level::Info,
            host::Level::Debug => Level::Debug,
            host::Level::Trace => Level::Trace,
        };
        // Cut as `sluice.log` cuts a line: one huge message cannot flood the log.
        self.log.line(level, &super::log::shown(message.as_bytes()));
    }

    fn fail(&mut self, reason: String) {
        // Cut and escaped as `sluice.fail`'s; the first reason stands.
        self.stopped.get_or_insert_with(|| super::fail::reason(reason.as_bytes()));
    }
}

impl sluice::transform::types::Host for Guest {}

/// A compiled, checked component.
pub struct Runtime {
    engine: Engine,
    template: TransformPre<Guest>,
    config: TransformConfig,
    path: String,
    log: Arc<GuestLog>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("component::Runtime").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Runtime {
    /// Compiles (or takes from the cache) and checks the component in `bytes`.
    pub fn load(engine: &Engine, config: &TransformConfig, bytes: &[u8]) -> Result<Self, TransformError> {
        let component: Component = module::compile(engine, &config.path, bytes, config.module_cache.as_deref())?;
        check_imports(engine, &component, &config.path)?;
        let path = config.path.display().to_string();
        let start = |e: wasmtime::Error| TransformError::Start { path: path.clone(), reason: format!("{e:#}") };
        let mut linker = Linker::new(engine);
        Transform::add_to_linker::<Guest, HasSelf<Guest>>(&mut linker, |guest| guest).map_err(start)?;
        let template = TransformPre::new(linker.instantiate_pre(&component).map_err(start)?).map_err(start)?;
        let log = GuestLog::new(super::module_name(&config.path));
        Ok(Runtime { engine: engine.clone(), template, config: config.clone(), path, log })
    }

    /// The module's log.
    pub fn log(&self) -> &GuestLog {
        &self.log
    }

    /// A fresh instance, initialized with the config.
    pub fn instance(&self) -> Result<Instance, TransformError> {
        let (timeout, memory_cap) = (self.config.timeout, self.config.memory_bytes);
        let failed = |e: wasmtime::Error| TransformError::Start {
            path: self.path.clone(),
            reason: CallFailure::from_error(&e, timeout, memory_cap).0,
        };
        let guest = Guest { limits: super::limits(memory_cap, MEMORIES), log: self.log.clone(), stopped: None };
        let mut store = Store::new(&self.engine, guest);
        store.limiter(|guest| &mut guest.limits);
        let deadline_ticks = super::deadline_ticks(timeout);
        store.set_epoch_deadline(deadline_ticks);
        let bindings = self.template.instantiate(&mut store).map_err(failed)?;
        let pairs: Vec<(&str, &str)> = self.config.config.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let result = bindings.call_init(&mut store, &pairs);
        if let Some(reason) = store.data_mut().stopped.take() {
            return Err(TransformError::ModuleStopped { reason });
        }
        match result.map_err(failed)? {
            Ok(()) => Ok(Instance { store, bindings, deadline_ticks, timeout, memory_cap }),
            Err(message) => Err(TransformError::InitRefused { path: self.path.clone(), message }),
        }
    }
}

/// Refuses a component that imports anything but the world's interfaces.
fn check_imports(engine: &Engine, component: &Component, path: &Path) -> Result<(), TransformError> {
    let refused: Vec<String> = component
        .component_type()
        .imports(engine)
        .map(|(name, _)| name)
        .filter(|name| *name != HOST_INTERFACE && *name != TYPES_INTERFACE)
        .map(|name| format!("`{name}`"))
        .collect();
    if refused.is_empty() {
        return Ok(());
    }
    let imports = module::list_imports(&refused);
    Err(module::ModuleError::ComponentImports { path: path.to_owned(), imports, host: HOST_INTERFACE }.into())
}

/// One sandboxed instance of a component.
pub struct Instance {
    store: Store<Guest>,
    bindings: Transform,
    deadline_ticks: u64,
    timeout: Duration,
    memory_cap: usize,
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("component::Instance").finish_non_exhaustive()
    }
}

impl Instance {
    /// The reason the component gave `fail`, if it called it.
    pub fn stopped(&self) -> Option<String> {
        self.store.data().stopped.clone()
    }

    /// Runs `count` ABI-encoded records through the world's `process` and
    /// appends their outcomes to `out`, ABI-encoded and checked.
    pub fn process_into(&mut self, records: &[u8], count: usize, out: &mut Vec<u8>) -> Result<(), CallFailure> {
        let texts: Vec<&str> = abi::records(records, count)
            .map(|r| std::str::from_utf8(r).expect("the host hands over valid UTF-8 records"))
            .collect();
        self.store.set_epoch_deadline(self.deadline_ticks);
        let outcomes = self
            .bindings
            .call_process(&mut self.store, &texts)
            .map_err(|e| CallFailure::from_error(&e, self.timeout, self.memory_cap))?;
        if outcomes.len() != count {
            return Err(CallFailure(format!("returned {} outcomes for {count} records", outcomes.len())));
        }
        let mark = out.len();
        outcomes.iter().for_each(|outcome| encode(outcome, out));
        if let Err(e) = abi::decode_outcomes(&out[mark..], count) {
            out.truncate(mark);
            return Err(CallFailure(format!("returned a malformed result: {e}")));
        }
        Ok(())
    }
}

/// Appends `outcome` in the ABI's encoding.
fn encode(outcome: &Outcome, out: &mut Vec<u8>) {
    match outcome {
        Outcome::Drop => abi::encode_drop(out),
        Outcome::Error(message) => abi::encode_error(out, message),
        Outcome::Emit(messages) => {
            let messages: Vec<abi::Message<'_>> = messages.iter().map(message).collect();
            abi::encode_emit_many(out, &messages);
        }
    }
}

fn message(m: &Message) -> abi::Message<'_> {
    abi::Message {
        key: m.key.as_deref(),
        value: m.value.as_deref(),
        headers: m.headers.iter().map(|(name, value)| (name.as_str(), value.as_deref())).collect(),
        timestamp_ms: m.timestamp_ms,
        topic: m.topic.as_deref(),
        partition: m.partition,
    }
}
