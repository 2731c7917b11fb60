//! Hash functions: `md5`, `sha1`, `sha2`, `crc32`, and Spark's own
//! `hash` (Murmur3 x86_32, seed 42) and `xxhash64` (XXH64, seed 42),
//! which give exactly Spark's numbers, so a partition or bucket computed
//! with them here matches one computed by Spark.
//!
//! `hash` and `xxhash64` fold their arguments left to right, each hashed
//! with the previous result as its seed, by type as Spark's
//! `HashExpression` does: integers up to `INT` (and dates, booleans) as a
//! 4-byte int, `BIGINT` (and timestamps, decimals of up to 18 digits) as an
//! 8-byte long, doubles and floats by their bits (`-0.0` as `0.0`),
//! strings and binary by their bytes, arrays and structs element by
//! element; NULL leaves the seed as it is.

use md5::Digest as _;

use super::FunctionDef;
use super::util::{bytes, int_arg, long, string};
use crate::ctx::Ctx;
use crate::error::EvalError;
use crate::value::Value;

/// Spark's seed for `hash` and `xxhash64`.
const SEED: u64 = 42;

/// This group's functions.
pub const FUNCTIONS: &[FunctionDef] = &[
    FunctionDef::scalar(&["md5"], 1, Some(1), string, |a, c| Ok(hex(&md5::Md5::digest(&*bytes(&a[0], c))))),
    FunctionDef::scalar(&["sha1", "sha"], 1, Some(1), string, |a, c| Ok(hex(&sha1::Sha1::digest(&*bytes(&a[0], c))))),
    FunctionDef::scalar(&["sha2"], 2, Some(2), string, sha2),
    FunctionDef::scalar(&["crc32"], 1, Some(1), long, |a, c| {
        Ok(Value::Long(i64::from(crc32fast::hash(&bytes(&a[0], c)))))
    }),
    FunctionDef::scalar(&["hash"], 1, None, super::util::int, |a, c| {
        let h = a.iter().fold(SEED as u32, |seed, v| murmur3(v, seed, c));
        Ok(Value::Int(h as i32))
    })
    .null_tolerant(),
    FunctionDef::scalar(&["xxhash64"], 1, None, long, |a, c| {
        Ok(Value::Long(a.iter().fold(SEED, |seed, v| xxhash64(v, seed, c)) as i64))
    })
    .null_tolerant(),
];

fn hex(digest: &[u8]) -> Value {
    Value::string(digest.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// `sha2(x, bits)`: SHA-224, -256 (also for 0), -384 or -512; NULL for
/// any other bit length, as Spark.
fn sha2(args: &[Value], ctx: &Ctx<'_>) -> Result<Value, EvalError> {
    let data = bytes(&args[0], ctx);
    Ok(match int_arg(&args[1], ctx)? {
        224 => hex(&sha2::Sha224::digest(&*data)),
        0 | 256 => hex(&sha2::Sha256::digest(&*data)),
        384 => hex(&sha2::Sha384::digest(&*data)),
        512 => hex(&sha2::Sha512::digest(&*data)),
        _ => Value::Null,
    })
}

/// What a value is hashed as.
enum Hashed {
    Int(i32),
    Long(i64),
    Bytes(std::rc::Rc<[u8]>),
    Each(Vec<Value>),
    Skip,
}

fn hashed(value: &Value, ctx: &Ctx<'_>) -> Hashed {
    match value {
        Value::Null => Hashed::Skip,
        Value::Boolean(b) => Hashed::Int(i32::from(*b)),
        Value::Byte(_) | Value::Short(_) | Value::Int(_) => Hashed::Int(value.as_i64().unwrap_or_default() as i32),
        Value::Long(v) => Hashed::Long(*v),
        Value::Date(d) => Hashed::Int(*d),
        Value::Timestamp(t) => Hashed::Long(*t),
        Value::Float(f) => Hashed::Int(if *f == 0.0 { 0 } else { f.to_bits() as i32 }),
        Value::Double(d) => Hashed::Long(if *d == 0.0 { 0 } else { d.to_bits() as i64 }),
        Value::Decimal(d) if d.precision <= 18 => Hashed::Long(d.unscaled as i64),
        Value::Decimal(d) => Hashed::Bytes(big_endian_minimal(d.unscaled).into()),
        Value::Array(items) => Hashed::Each(items.to_vec()),
        Value::Struct(fields) => Hashed::Each(fields.iter().map(|(_, v)| v.clone()).collect()),
        Value::Map(entries) => Hashed::Each(entries.iter().flat_map(|(k, v)| [k.clone(), v.clone()]).collect()),
        other => Hashed::Bytes(bytes(other, ctx)),
    }
}

/// Java's `BigInteger.toByteArray`: two's complement, big-endian, fewest bytes.
fn big_endian_minimal(v: i128) -> Vec<u8> {
    let all = v.to_be_bytes();
    let mut start = 0;
    while start < 15 {
        let (b, next) = (all[start], all[start + 1]);
        if (b == 0 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    all[start..].to_vec()
}

fn murmur3(value: &Value, seed: u32, ctx: &Ctx<'_>) -> u32 {
    match hashed(value, ctx) {
        Hashed::Skip => seed,
        Hashed::Int(i) => murmur3_bytes(&i.to_le_bytes(), seed),
        Hashed::Long(l) => murmur3_bytes(&l.to_le_bytes(), seed),
        Hashed::Bytes(b) => murmur3_bytes(&b, seed),
        Hashed::Each(items) => items.iter().fold(seed, |s, v| murmur3(v, s, ctx)),
    }
}

fn xxhash64(value: &Value, seed: u64, ctx: &Ctx<'_>) -> u64 {
    match hashed(value, ctx) {
        Hashed::Skip => seed,
        Hashed::Int(i) => xxhash_rust::xxh64::xxh64(&i.to_le_bytes(), seed),
        Hashed::Long(l) => xxhash_rust::xxh64::xxh64(&l.to_le_bytes(), seed),
        Hashed::Bytes(b) => xxhash_rust::xxh64::xxh64(&b, seed),
        Hashed::Each(items) => items.iter().fold(seed, |s, v| xxhash64(v, s, ctx)),
    }
}

/// Spark's `Murmur3_x86_32.hashUnsafeBytes`, written here because no
/// crate has it: it is Murmur3 x86_32 for whole 4-byte words, but mixes
/// each trailing byte (sign-extended) as a block of its own, where the
/// standard algorithm packs the tail into one block. For 4- and 8-byte
/// inputs (ints, longs) the two agree.
fn murmur3_bytes(data: &[u8], seed: u32) -> u32 {
    let mut h = seed;
    let mut words = data.chunks_exact(4);
    for word in &mut words {
        h = mix_h1(h, mix_k1(u32::from_le_bytes([word[0], word[1], word[2], word[3]])));
    }
    for &byte in words.remainder() {
        h = mix_h1(h, mix_k1(i32::from(byte as i8) as u32));
    }
    fmix(h, data.len() as u32)
}

fn mix_k1(k: u32) -> u32 {
    k.wrapping_mul(0xcc9e_2d51).rotate_left(15).wrapping_mul(0x1b87_3593)
}

fn mix_h1(h: u32, k: u32) -> u32 {
    (h ^ k).rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64)
}

fn fmix(h: u32, length: u32) -> u32 {
    let mut h = h ^ length;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

#[cfg(test)]
mod tests {
    use crate::functions::testing::text;

    #[test]
    fn digests() {
        assert_eq!(text("md5('Spark')"), "8cde774d6f7333752ed72cacddb05126");
        assert_eq!(text("sha1('Spark')"), "85f5955f4b27a9a4c2aab6ffe5d7189fc298b92c");
        assert_eq!(text("sha2('Spark', 256)"), "529bc3b07127ecb7e53a4dcf1991d9152c24537d919178022b2c42657f79a26b");
        assert_eq!(text("sha2('Spark', 7)"), "NULL");
        assert_eq!(text("crc32('Spark')"), "1557323817");
    }

    /// The values Spark's own documentation and `HashExpressionsSuite` show.
    #[test]
    fn spark_hashes() {
        assert_eq!(text("hash('Spark', array(123), 2)"), "-1321691492");
        assert_eq!(text("hash(1)"), "-559580957");
        assert_eq!(text("hash(NULL)"), "42");
        assert_eq!(text("xxhash64('Spark', array(123), 2)"), "5602566077635097486");
    }
}
