//! `sluice.fail`, the host function a version-2 module imports to say the
//! stream cannot go on (the SQL module's `strict_fields`, for one). The
//! call only records the reason, cut and escaped ([`reason`]), in the
//! instance's store; the module's call goes on to its end. When the call
//! returns or traps, [`super::Transformer`] finds the reason, drops the
//! batch unprocessed (nothing of it is published, dead-lettered or
//! checkpointed) and stops with [`super::TransformError::ModuleStopped`].

use wasmtime::{Caller, Linker};

use super::log::guest_region;
use crate::log_text;
use sluice_guest_sdk::abi;

/// Longest reason kept, in bytes; the rest is cut and its length reported,
/// so a hostile module cannot make the fatal error a megabyte long.
const MAX_REASON_BYTES: usize = 1024;

/// Adds `sluice.fail` to `linker`; `slot` is where an instance keeps the
/// reason. The first reason stands: a module that calls it again is not
/// heard twice.
pub fn define<T: 'static>(linker: &mut Linker<T>, slot: fn(&mut T) -> &mut Option<String>) -> wasmtime::Result<()> {
    linker.func_wrap(abi::IMPORT_MODULE, abi::IMPORT_FAIL, move |mut caller: Caller<'_, T>, ptr: i32, len: i32| {
        let bytes = guest_region(&mut caller, "sluice.fail", ptr, len)?;
        let text = reason(bytes);
        slot(caller.data_mut()).get_or_insert(text);
        Ok(())
    })?;
    Ok(())
}

/// The reason as the operator reads it: lossily decoded, cut at
/// 1 KiB, control characters and the marks that reorder
/// text escaped as the log escapes them (`\n`, `\u{1b}`), so it cannot
/// forge a line of the log or of the exit error. An empty reason says so.
pub fn reason(bytes: &[u8]) -> String {
    let cut = bytes.len().min(MAX_REASON_BYTES);
    let mut text = log_text::escaped(&String::from_utf8_lossy(&bytes[..cut]));
    if bytes.len() > cut {
        text.push_str(&format!("... ({} more bytes)", bytes.len() - cut));
    }
    if text.trim().is_empty() {
        return "(the module gave no reason)".into();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reason_is_escaped_decoded_and_cut() {
        assert_eq!(
            reason(b"no `StoreId2`\n2026 ERROR forged\x1b[31m\xff"),
            "no `StoreId2`\\n2026 ERROR forged\\u{1b}[31m\u{fffd}"
        );
        assert_eq!(reason("\u{202e}txt".as_bytes()), "\\u{202e}txt");
        let long = vec![b'a'; MAX_REASON_BYTES + 7];
        let cut = reason(&long);
        assert!(cut.ends_with("a... (7 more bytes)") && cut.len() == MAX_REASON_BYTES + 18, "{cut}");
        assert_eq!(reason(b" "), "(the module gave no reason)");
    }
}
