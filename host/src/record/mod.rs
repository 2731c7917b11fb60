//! The ground floor: the types a record wears on its way from a landing-zone
//! file to Kafka. Every stage and the progress floor import these; this
//! module imports none of them.
//!
//! - [`batch`]: the [`Batch`] of consecutive lines of one file that crosses
//!   into wasm, each line's [`RecordMeta`], and the lines [`Reject`]ed
//!   before the transform.
//! - [`file`](mod@file): a file's identity ([`FileId`]) and first-bytes fingerprint
//!   ([`Head`]).
//! - [`reason`]: why a record went to the dead letters ([`Reason`]) and why
//!   a landing-zone entry was skipped ([`Skip`]): the bounded values of the
//!   metrics' `reason` labels.
//! - [`dead_letter`]: a refused record ([`DeadLetter`]) and the `sluice.*`
//!   header schema it carries on the dead-letter topic.
//!
//! The message a module builds is the guest SDK's own [`OwnedMessage`] once
//! it must outlive the module's output buffer (a retry, a dead letter).

pub mod batch;
pub mod dead_letter;
pub mod file;
pub mod reason;

pub use batch::{BATCH_MAX_BYTES, BATCH_MAX_RECORDS, Batch, REJECT_SAMPLE, RecordMeta, Reject};
pub use dead_letter::DeadLetter;
pub use file::{FileId, Head};
pub use reason::{Reason, Skip};
pub use sluice_guest_sdk::abi::OwnedMessage;
