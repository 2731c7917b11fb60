//! A file's identity in the landing zone: the [`FileId`] that survives
//! renames, and the [`Head`] fingerprint that tells a file from a new one
//! reusing its inode.

use std::fs;

use serde::{Deserialize, Serialize};

/// Identity of a source file that survives renames: device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FileId {
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
}

impl FileId {
    /// The identity of an opened or stat-ed file.
    pub fn of(meta: &fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        FileId { dev: meta.dev(), ino: meta.ino() }
    }
}

/// A fingerprint of a file's first bytes (up to [`Head::MAX_LEN`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Head {
    /// How many bytes it covers.
    pub len: u16,
    /// Their FNV-1a hash.
    pub fnv: u64,
}

impl Head {
    /// Bytes a complete fingerprint covers.
    pub const MAX_LEN: u16 = 256;
}

/// The FNV-1a 64 hash of `bytes`.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}
