//! Compressed landing files: a decompressing reader chosen by file name.
//!
//! As Spark (Hadoop's codec factory) does, the extension decides: `.gz`,
//! `.zst`, `.bz2` and `.lz4` (the LZ4 frame format) are decompressed as
//! they are read, concatenated members or frames included; every other
//! file is read as it is. [`Decoded`] reads any landing zone's stream
//! ([`ZoneFile::reader_at_start`](crate::zone::ZoneFile::reader_at_start)) and sits
//! below the line splitter in [`Tail`](super::tail::Tail), so lines, offsets and checkpoints count
//! uncompressed bytes. It tells the decoder's complaints (bad data, a
//! truncated stream) from the file's own read errors: the first become a
//! [`DecodeError`] naming the uncompressed offset where decoding stopped,
//! which the source turns into a dead letter; the second stay I/O errors,
//! retried like those of a plain file.

use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// A compression format, chosen by file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// `.gz`: gzip, every member of a multi-member file.
    Gzip,
    /// `.zst`: Zstandard, every frame.
    Zstd,
    /// `.bz2`: bzip2, every stream (as `pbzip2` writes them).
    Bzip2,
    /// `.lz4`: the LZ4 frame format (the `lz4` command's), every frame.
    Lz4,
}

impl Codec {
    /// The codec of `path` by its extension, or `None` for a plain file.
    pub fn of(path: &Path) -> Option<Codec> {
        match path.extension()?.to_str()? {
            "gz" => Some(Codec::Gzip),
            "zst" => Some(Codec::Zstd),
            "bz2" => Some(Codec::Bzip2),
            "lz4" => Some(Codec::Lz4),
            _ => None,
        }
    }

    /// Its name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Gzip => "gzip",
            Codec::Zstd => "zstd",
            Codec::Bzip2 => "bzip2",
            Codec::Lz4 => "lz4",
        }
    }
}

impl std::fmt::Display for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Decoding stopped: the file is corrupt or truncated at `offset`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{codec} decoding failed at uncompressed byte {offset}: {message}")]
pub struct DecodeError {
    /// The file's codec.
    pub codec: Codec,
    /// Uncompressed bytes decoded before the failure.
    pub offset: u64,
    /// The decoder's message.
    pub message: String,
}

impl DecodeError {
    /// The decoding failure carried by `error`, if it is one.
    pub fn of(error: &io::Error) -> Option<&DecodeError> {
        error.get_ref()?.downcast_ref()
    }
}

/// What the compressed side shares with [`Decoded`]: how far the file
/// has been read, and whether reading the file itself failed.
#[derive(Debug, Default)]
struct FileSide {
    consumed: AtomicU64,
    failed: AtomicBool,
}

/// The compressed file under the decoder, counting what it reads.
struct Compressed {
    file: Box<dyn Read + Send>,
    side: Arc<FileSide>,
}

impl Read for Compressed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.file.read(buf) {
            Ok(n) => {
                self.side.consumed.fetch_add(n as u64, Ordering::Relaxed);
                Ok(n)
            }
            Err(e) => {
                self.side.failed.store(e.kind() != io::ErrorKind::Interrupted, Ordering::Relaxed);
                Err(e)
            }
        }
    }
}

/// The uncompressed bytes of a compressed file, read from its start.
pub struct Decoded {
    inner: Box<dyn Read + Send>,
    side: Arc<FileSide>,
    codec: Codec,
    /// Uncompressed bytes produced so far.
    pos: u64,
}

impl std::fmt::Debug for Decoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoded").field("codec", &self.codec).field("pos", &self.pos).finish_non_exhaustive()
    }
}

impl Decoded {
    /// A decoder reading `file` (a landing zone's stream, at the file's
    /// start).
    pub fn new(codec: Codec, file: Box<dyn Read + Send>) -> io::Result<Decoded> {
        let side = Arc::new(FileSide::default());
        let compressed = Compressed { file, side: side.clone() };
        let inner: Box<dyn Read + Send> = match codec {
            Codec::Gzip => Box::new(flate2::read::MultiGzDecoder::new(compressed)),
            Codec::Zstd => Box::new(zstd::stream::read::Decoder::new(compressed)?),
            Codec::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(compressed)),
            Codec::Lz4 => Box::new(lz4_flex::frame::FrameDecoder::new(compressed)),
        };
        Ok(Decoded { inner, side, codec, pos: 0 })
    }

    /// Reads and drops the first `n` uncompressed bytes (those a checkpoint
    /// covers); returns how many there were, fewer if the stream is shorter.
    pub fn skip(&mut self, n: u64) -> io::Result<u64> {
        io::copy(&mut self.by_ref().take(n), &mut io::sink())
    }

    /// Compressed bytes read from the file so far.
    pub fn compressed_pos(&self) -> u64 {
        self.side.consumed.load(Ordering::Relaxed)
    }
}

impl Read for Decoded {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.read_inner(buf)?;
        // The LZ4 frame decoder ends each frame with a read of 0; the next
        // read starts the next frame, or is 0 again at the end of the file.
        if n == 0 && self.codec == Codec::Lz4 && !buf.is_empty() {
            return self.read_inner(buf);
        }
        Ok(n)
    }
}

impl Decoded {
    fn read_inner(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.pos += n as u64;
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted || self.side.failed.swap(false, Ordering::Relaxed) => {
                Err(e)
            }
            Err(e) => {
                let (codec, offset, message) = (self.codec, self.pos, e.to_string());
                Err(io::Error::new(io::ErrorKind::InvalidData, DecodeError { codec, offset, message }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn compress(codec: Codec, data: &[u8]) -> Vec<u8> {
        match codec {
            Codec::Gzip => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            Codec::Zstd => {
                // With a checksum, as the `zstd` command writes by default.
                let mut e = zstd::Encoder::new(Vec::new(), 3).unwrap();
                e.include_checksum(true).unwrap();
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            Codec::Bzip2 => {
                let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            Codec::Lz4 => {
                // With a content checksum, as the `lz4` command writes by default.
                let info = lz4_flex::frame::FrameInfo::new().content_checksum(true);
                let mut e = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
        }
    }

    fn decoder(codec: Codec, bytes: &[u8]) -> (tempfile::NamedTempFile, Decoded) {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        let decoded = Decoded::new(codec, Box::new(std::fs::File::open(f.path()).unwrap())).unwrap();
        (f, decoded)
    }

    /// Lines that compress poorly enough that a cut lands mid-stream.
    fn sample() -> Vec<u8> {
        (0..20_000u64)
            .map(|i| format!("{{\"i\":{i},\"h\":{}}}\n", i.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
            .collect::<String>()
            .into()
    }

    const ALL: [Codec; 4] = [Codec::Gzip, Codec::Zstd, Codec::Bzip2, Codec::Lz4];

    #[test]
    fn codecs_are_chosen_by_extension() {
        assert_eq!(Codec::of(Path::new("in/a.json.gz")), Some(Codec::Gzip));
        assert_eq!(Codec::of(Path::new("a.zst")), Some(Codec::Zstd));
        assert_eq!(Codec::of(Path::new("a.json.bz2")), Some(Codec::Bzip2));
        assert_eq!(Codec::of(Path::new("a.lz4")), Some(Codec::Lz4));
        assert_eq!(Codec::of(Path::new("a.json")), None);
        assert_eq!(Codec::of(Path::new("gz")), None);
    }

    #[test]
    fn every_codec_round_trips_concatenated_streams_and_skips() {
        let data = sample();
        for codec in ALL {
            let mut bytes = compress(codec, &data[..1000]);
            bytes.extend(compress(codec, &data[1000..]));
            let (_f, mut d) = decoder(codec, &bytes);
            assert_eq!(d.skip(10).unwrap(), 10, "{codec}");
            let mut out = Vec::new();
            d.read_to_end(&mut out).unwrap();
            assert_eq!(out, &data[10..], "{codec}");
            assert_eq!(d.compressed_pos(), bytes.len() as u64, "{codec}");
        }
    }

    #[test]
    fn truncated_and_corrupt_streams_fail_with_the_offset() {
        let data = sample();
        for codec in ALL {
            let bytes = compress(codec, &data);
            let mut corrupt = bytes.clone();
            let middle = corrupt.len() / 2;
            corrupt[middle..middle + 64].fill(0x55);
            for (what, broken) in [("truncated", &bytes[..bytes.len() / 2]), ("corrupt", &corrupt[..])] {
                let (_f, mut d) = decoder(codec, broken);
                let mut out = Vec::new();
                let err = d.read_to_end(&mut out).expect_err(&format!("{codec} {what}"));
                let decode = DecodeError::of(&err).unwrap_or_else(|| panic!("{codec} {what}: {err}"));
                assert_eq!(decode.offset, out.len() as u64, "{codec} {what}");
                // A checksum may only catch corruption after bad bytes came out.
                if what == "truncated" {
                    assert!(out.len() < data.len() && data.starts_with(&out), "{codec}: a prefix, then the error");
                }
                let text = err.to_string();
                assert!(
                    text.starts_with(&format!("{codec} decoding failed at uncompressed byte {}: ", out.len())),
                    "{text}"
                );
            }
        }
    }
}
