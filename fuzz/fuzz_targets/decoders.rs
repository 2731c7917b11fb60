//! The landing zone's decoders on arbitrary bytes: the first byte picks the
//! codec (gz, zst, bz2, lz4), the rest is the file. Decoding ends, at the
//! end of the stream or at an error, never a panic, and memory stays
//! bounded: the output is read in fixed chunks and dropped, up to a cap that
//! keeps one run short (a bomb is bounded in time by the cap, not in
//! memory by it).

#![no_main]

use std::cell::RefCell;
use std::fs::File;
use std::io::{Read, Seek, Write};

use libfuzzer_sys::fuzz_target;
use sluice::source::decode::{Codec, DecodeError, Decoded};

const CODECS: [Codec; 4] = [Codec::Gzip, Codec::Zstd, Codec::Bzip2, Codec::Lz4];
/// Uncompressed bytes read at most per input.
const MAX_OUT: u64 = 16 << 20;

thread_local! {
    static FILE: RefCell<File> = RefCell::new(tempfile::tempfile().expect("a temporary file"));
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, compressed)) = data.split_first() else { return };
    let codec = CODECS[usize::from(pick) % CODECS.len()];
    let file = FILE.with(|f| {
        let mut f = f.borrow_mut();
        f.set_len(0).unwrap();
        f.rewind().unwrap();
        f.write_all(compressed).unwrap();
        f.rewind().unwrap();
        f.try_clone().unwrap()
    });
    let Ok(mut decoded) = Decoded::new(codec, file) else { return };
    let mut buf = vec![0; 64 << 10];
    let mut total = 0u64;
    while total < MAX_OUT {
        match decoded.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => total += n as u64,
            Err(e) => {
                let decode = DecodeError::of(&e).expect("a decoding failure, not an I/O error of the file");
                assert_eq!(decode.offset, total, "the error names where decoding stopped");
                break;
            }
        }
    }
});
