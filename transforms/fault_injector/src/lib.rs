//! `fault_injector`: a test module that misbehaves on demand.
//!
//! A record with `"fault": "<kind>"` makes the module fail in that way;
//! any other record is emitted with key `id`, a `fault-injector` header and,
//! when it has a numeric `ts`, that timestamp. The kinds:
//!
//! | fault | what the module does |
//! |---|---|
//! | `error` | returns a per-record error |
//! | `trap` | executes `unreachable` |
//! | `panic` | panics (a trap, with a message the host reads back) |
//! | `loop` | never returns (the epoch deadline stops it) |
//! | `bomb` | allocates until the memory cap stops it |
//! | `garbage` | returns a result region outside its memory |
//! | `huge` | emits a 2 MiB value, more than Kafka accepts by default |
//! | `escape` | tries to read a host file, an environment variable and the network |
//!
//! It exports the ABI by hand (delegating to the SDK) so that `garbage` can
//! corrupt what crosses the boundary.

use sluice_guest_sdk::{Config, Error, Header, Record, Result, Transform};

/// The fault injector.
#[derive(Debug)]
pub struct FaultInjector;

impl Transform for FaultInjector {
    fn init(config: &Config) -> Result<Self> {
        config.allow_only(&[])?;
        Ok(FaultInjector)
    }

    fn filter(&self, record: &Record<'_>) -> Result<bool> {
        match record.str_field("fault").as_deref() {
            None | Some("huge") | Some("garbage") => Ok(true),
            Some(kind) => Err(misbehave(kind)),
        }
    }

    fn key(&self, record: &Record<'_>) -> Result<Option<Vec<u8>>> {
        Ok(record.field("id").map(|id| id.to_bytes().into_owned()))
    }

    fn value(&self, record: &Record<'_>, out: &mut Vec<u8>) -> Result<()> {
        if record.str_field("fault").as_deref() == Some("huge") {
            out.resize(out.len() + (2 << 20), b'x');
        } else {
            record.write_compact_json(out);
        }
        Ok(())
    }

    fn headers(&self, _record: &Record<'_>) -> Result<Vec<Header>> {
        Ok(vec![Header { name: "fault-injector".into(), value: Some(b"v1".to_vec()) }])
    }

    fn timestamp(&self, record: &Record<'_>) -> Result<Option<i64>> {
        Ok(record.field("ts").and_then(|t| t.as_f64()).map(|t| t as i64))
    }
}

/// Misbehaves as asked; returns only for kinds that fail politely.
fn misbehave(kind: &str) -> Error {
    match kind {
        "trap" => trap(),
        "panic" => panic!("poison record asked for a panic"),
        "loop" => loop {
            std::hint::spin_loop();
        },
        "bomb" => {
            let mut hoard = Vec::new();
            loop {
                hoard.push(vec![1u8; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        "escape" => escape(),
        "error" => Error::new("the record asked to fail"),
        other => Error::new(format!("unknown fault `{other}`")),
    }
}

#[cfg(target_arch = "wasm32")]
fn trap() -> ! {
    core::arch::wasm32::unreachable()
}

#[cfg(not(target_arch = "wasm32"))]
fn trap() -> ! {
    std::process::abort()
}

/// Tries the host's filesystem, environment and network; reports what it got.
fn escape() -> Error {
    let file = std::fs::read("/etc/hostname").map(|b| b.len());
    let env = std::env::var("HOME");
    let net = std::net::TcpStream::connect("127.0.0.1:9").map(drop);
    Error::new(format!("escape attempt: file {file:?}; env {env:?}; network {net:?}"))
}

#[cfg(target_arch = "wasm32")]
mod exports {
    use super::FaultInjector;
    use sluice_guest_sdk::abi;
    use sluice_guest_sdk::guest::{self, State};

    static STATE: State<FaultInjector> = State::new();
    /// Where the host writes input: the pointer `sluice_buffer` last returned.
    static mut BUFFER: usize = 0;

    #[unsafe(no_mangle)]
    pub extern "C" fn sluice_abi_version() -> i32 {
        abi::ABI_VERSION
    }

    #[unsafe(no_mangle)]
    pub extern "C" fn sluice_buffer(capacity: i32) -> i32 {
        let ptr = STATE.buffer(capacity);
        // SAFETY: single-threaded wasm; the host wrote the batch here before
        // calling process, and we only read what it says it wrote.
        unsafe { BUFFER = ptr as usize };
        ptr
    }

    #[unsafe(no_mangle)]
    pub extern "C" fn sluice_init(len: i32) -> i64 {
        STATE.init(len)
    }

    #[unsafe(no_mangle)]
    pub extern "C" fn sluice_process(count: i32, len: i32) -> i64 {
        // SAFETY: see sluice_buffer; `len` bytes were written at BUFFER.
        let batch = unsafe { core::slice::from_raw_parts(BUFFER as *const u8, len.max(0) as usize) };
        if batch.windows(17).any(|w| w == br#""fault":"garbage""#) {
            return abi::pack_region(u32::MAX - 64, 1024);
        }
        STATE.process(count, len)
    }

    #[unsafe(no_mangle)]
    pub extern "C" fn sluice_panic_message() -> i64 {
        guest::panic_message()
    }

    #[unsafe(no_mangle)]
    pub extern "C" fn sluice_current_record() -> i32 {
        guest::current_record()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_guest_sdk::testing::{Harness, Outcome};

    #[test]
    fn well_behaved_records_carry_key_header_and_timestamp() {
        let h = Harness::<FaultInjector>::new(&[]).unwrap();
        let Outcome::Emit(msg) = h.run(r#"{"id": 7, "ts": 1600000000000}"#) else { panic!("expected a message") };
        assert_eq!(msg.key_str(), Some("7"));
        assert_eq!(msg.headers, vec![("fault-injector".to_owned(), Some(b"v1".to_vec()))]);
        assert_eq!(msg.timestamp_ms, Some(1_600_000_000_000));
    }

    #[test]
    fn polite_faults_are_per_record_errors() {
        let h = Harness::<FaultInjector>::new(&[]).unwrap();
        assert_eq!(h.run(r#"{"fault": "error"}"#), Outcome::Error("the record asked to fail".into()));
        let Outcome::Error(escape) = h.run(r#"{"fault": "escape"}"#) else { panic!("expected an error") };
        assert!(escape.starts_with("escape attempt: file Ok("), "natively the host is reachable: {escape}");
    }
}
