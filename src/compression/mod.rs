//! Record batch compression: the five codecs of `compression.type`, one file per codec behind
//! the [`Codec`] trait.
//!
//! Each codec writes the exact stream the Java client writes, so any broker or consumer
//! (Java, librdkafka, franz-go, ...) reads our batches:
//!
//! | type     | id | stream                                                                  |
//! |----------|----|-------------------------------------------------------------------------|
//! | `gzip`   | 1  | an RFC 1952 gzip member ([`gzip`])                                      |
//! | `snappy` | 2  | xerial-snappy framing of 32 KiB raw snappy blocks ([`snappy`])          |
//! | `lz4`    | 3  | an LZ4 frame, 64 KiB independent blocks, no checksums ([`lz4`])         |
//! | `zstd`   | 4  | a zstd frame ([`zstd`])                                                 |
//!
//! A codec whose cargo feature is off (`gzip`, `snappy`, `lz4`, `zstd`, all on by default)
//! still has its [`CompressionType`], but [`compress`] and [`decompress`] fail with an error
//! of kind `Config` naming the feature.
//!
//! Decompression never grows its output past [`MAX_DECOMPRESSED_SIZE`], so a hostile batch
//! ends in an error, not in an out-of-memory abort.
//!
//! Runs on: any thread (pure functions; the sender thread compresses, tests decompress).

#[cfg(feature = "gzip")]
pub mod gzip;
#[cfg(feature = "lz4")]
pub mod lz4;
#[cfg(feature = "snappy")]
pub mod snappy;
#[cfg(feature = "zstd")]
pub mod zstd;

use crate::error::{Error, ErrorKind, Result};
use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;

/// The most bytes [`decompress`] lets its output buffer hold (256 MiB, counting what the
/// buffer held before). A batch that would inflate past it is refused.
pub const MAX_DECOMPRESSED_SIZE: usize = 256 * 1024 * 1024;

/// A codec of `compression.type`, numbered as in bits 0–2 of a record batch's attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum CompressionType {
    /// No compression (0). The default of `compression.type`.
    #[default]
    None,
    /// gzip (1).
    Gzip,
    /// snappy (2), xerial-framed.
    Snappy,
    /// lz4 (3), LZ4 frame format.
    Lz4,
    /// zstd (4); brokers accept it on Produce v7 and later.
    Zstd,
}

impl CompressionType {
    /// Every type, in id order.
    pub const ALL: [CompressionType; 5] = [
        CompressionType::None,
        CompressionType::Gzip,
        CompressionType::Snappy,
        CompressionType::Lz4,
        CompressionType::Zstd,
    ];

    /// The id written in bits 0–2 of a batch's attributes.
    pub fn id(self) -> i16 {
        match self {
            CompressionType::None => 0,
            CompressionType::Gzip => 1,
            CompressionType::Snappy => 2,
            CompressionType::Lz4 => 3,
            CompressionType::Zstd => 4,
        }
    }

    /// The type with attribute id `id`; an error of kind `Protocol` for an unknown id.
    pub fn from_id(id: i16) -> Result<Self> {
        match id {
            0 => Ok(CompressionType::None),
            1 => Ok(CompressionType::Gzip),
            2 => Ok(CompressionType::Snappy),
            3 => Ok(CompressionType::Lz4),
            4 => Ok(CompressionType::Zstd),
            _ => Err(Error::protocol(format!("unknown compression type id {id}"))),
        }
    }

    /// The Java name, as `compression.type` takes it.
    pub fn name(self) -> &'static str {
        match self {
            CompressionType::None => "none",
            CompressionType::Gzip => "gzip",
            CompressionType::Snappy => "snappy",
            CompressionType::Lz4 => "lz4",
            CompressionType::Zstd => "zstd",
        }
    }

    /// The default of `compression.<name>.level` (Java 4.x): gzip -1 (zlib's default), lz4 9,
    /// zstd 3; `None` for types without a level.
    pub fn default_level(self) -> Option<i32> {
        match self {
            CompressionType::Gzip => Some(-1),
            CompressionType::Lz4 => Some(9),
            CompressionType::Zstd => Some(3),
            CompressionType::None | CompressionType::Snappy => None,
        }
    }

    /// The valid range of `compression.<name>.level` (Java 4.x): gzip 1..=9 (and -1, the
    /// default, outside the range), lz4 1..=17, zstd -131072..=22.
    pub fn level_range(self) -> Option<RangeInclusive<i32>> {
        match self {
            CompressionType::Gzip => Some(1..=9),
            CompressionType::Lz4 => Some(1..=17),
            // zstd's ZSTD_minCLevel() is -(1 << 17); ZSTD_maxCLevel() is 22.
            CompressionType::Zstd => Some(-131_072..=22),
            CompressionType::None | CompressionType::Snappy => None,
        }
    }

    /// The cargo feature this type needs, `None` for `none`.
    pub fn feature(self) -> Option<&'static str> {
        match self {
            CompressionType::None => None,
            other => Some(other.name()),
        }
    }

    /// Whether this build can compress and decompress this type.
    pub fn is_available(self) -> bool {
        match self {
            CompressionType::None => true,
            CompressionType::Gzip => cfg!(feature = "gzip"),
            CompressionType::Snappy => cfg!(feature = "snappy"),
            CompressionType::Lz4 => cfg!(feature = "lz4"),
            CompressionType::Zstd => cfg!(feature = "zstd"),
        }
    }
}

impl fmt::Display for CompressionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for CompressionType {
    type Err = Error;

    /// Parses a Java name (`none`, `gzip`, `snappy`, `lz4`, `zstd`; ASCII case ignored).
    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim();
        CompressionType::ALL.into_iter().find(|c| c.name().eq_ignore_ascii_case(t)).ok_or_else(|| {
            Error::config(format!("compression.type={s:?} is not one of none, gzip, snappy, lz4, zstd"))
        })
    }
}

/// One compression codec. Both methods append to `out` and leave what it held before intact.
pub trait Codec {
    /// Appends the compressed form of `input` to `out`.
    fn compress(&self, input: &[u8], out: &mut Vec<u8>) -> Result<()>;

    /// Appends the decompressed form of `input` to `out`, failing rather than letting `out`
    /// grow past `limit` bytes in all. On error `out` may hold a partial result.
    fn decompress_bounded(&self, input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<()>;

    /// [`Codec::decompress_bounded`] with the limit [`MAX_DECOMPRESSED_SIZE`].
    fn decompress(&self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        self.decompress_bounded(input, out, MAX_DECOMPRESSED_SIZE)
    }
}

/// Compresses `input` with `ty` at `level` (`None`: the type's default; ignored by types with
/// no level), appending to `out`. `none` copies `input`. Out-of-range levels are clamped by the
/// codec (config validation rejects them earlier), never a panic.
pub fn compress(ty: CompressionType, level: Option<i32>, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let _ = level;
    match ty {
        CompressionType::None => {
            out.extend_from_slice(input);
            Ok(())
        }
        #[cfg(feature = "gzip")]
        CompressionType::Gzip => gzip::Gzip::new(level).compress(input, out),
        #[cfg(feature = "snappy")]
        CompressionType::Snappy => snappy::Snappy.compress(input, out),
        #[cfg(feature = "lz4")]
        CompressionType::Lz4 => lz4::Lz4::new(level).compress(input, out),
        #[cfg(feature = "zstd")]
        CompressionType::Zstd => zstd::Zstd::new(level).compress(input, out),
        #[allow(unreachable_patterns)]
        other => Err(feature_off(other)),
    }
}

/// Decompresses `input` written with `ty`, appending to `out`. Fails (kind `Compression`) on
/// malformed input and when `out` would grow past [`MAX_DECOMPRESSED_SIZE`]; on error `out`
/// is truncated back to its length on entry.
pub fn decompress(ty: CompressionType, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
    decompress_bounded(ty, input, out, MAX_DECOMPRESSED_SIZE)
}

/// [`decompress`] with a limit other than [`MAX_DECOMPRESSED_SIZE`] on the total length of
/// `out`.
pub fn decompress_bounded(ty: CompressionType, input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<()> {
    let start = out.len();
    let result = match ty {
        CompressionType::None => {
            if start.saturating_add(input.len()) > limit {
                Err(too_large("none", limit))
            } else {
                out.extend_from_slice(input);
                Ok(())
            }
        }
        #[cfg(feature = "gzip")]
        CompressionType::Gzip => gzip::Gzip::new(None).decompress_bounded(input, out, limit),
        #[cfg(feature = "snappy")]
        CompressionType::Snappy => snappy::Snappy.decompress_bounded(input, out, limit),
        #[cfg(feature = "lz4")]
        CompressionType::Lz4 => lz4::Lz4::new(None).decompress_bounded(input, out, limit),
        #[cfg(feature = "zstd")]
        CompressionType::Zstd => zstd::Zstd::new(None).decompress_bounded(input, out, limit),
        #[allow(unreachable_patterns)]
        other => Err(feature_off(other)),
    };
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// The error for a codec compiled out.
#[allow(dead_code)]
fn feature_off(ty: CompressionType) -> Error {
    Error::config(format!(
        "compression.type={} needs the `{}` cargo feature",
        ty.name(),
        ty.feature().unwrap_or("none")
    ))
}

/// A `Compression` error: `codec` failed to `what`.
#[allow(dead_code)]
pub(crate) fn codec_error(
    codec: &str,
    what: &str,
    err: impl std::error::Error + Send + Sync + 'static,
) -> Error {
    Error::new(ErrorKind::Compression, format!("{codec}: failed to {what}: {err}")).with_source(err)
}

/// The error for output that would pass `limit`.
pub(crate) fn too_large(codec: &str, limit: usize) -> Error {
    Error::new(
        ErrorKind::Compression,
        format!("{codec}: decompressed batch exceeds the limit of {limit} bytes"),
    )
}

/// Reads `r` to its end into `out`, refusing to let `out` pass `limit` bytes.
#[allow(dead_code)]
pub(crate) fn read_bounded(
    codec: &str,
    r: impl std::io::Read,
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<()> {
    use std::io::Read;
    let room = limit.saturating_sub(out.len());
    // One byte past the room tells "exactly full" from "too much".
    r.take(room as u64 + 1).read_to_end(out).map_err(|e| codec_error(codec, "decompress", e))?;
    if out.len() > limit {
        return Err(too_large(codec, limit));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Deterministic, somewhat compressible bytes (a text-like mix with a xorshift).
    pub(crate) fn sample(len: usize) -> Vec<u8> {
        let mut x: u32 = 0x9e37_79b9;
        (0..len)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                if i % 7 < 4 {
                    b"kafka-blocking "[i % 15]
                } else {
                    (x >> 24) as u8
                }
            })
            .collect()
    }

    #[test]
    fn ids_names_and_parsing_agree() {
        for ty in CompressionType::ALL {
            assert_eq!(CompressionType::from_id(ty.id()).unwrap(), ty);
            assert_eq!(ty.name().parse::<CompressionType>().unwrap(), ty);
            assert_eq!(ty.to_string(), ty.name());
        }
        assert_eq!("ZSTD".parse::<CompressionType>().unwrap(), CompressionType::Zstd);
        let e = "brotli".parse::<CompressionType>().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.to_string().contains("none, gzip, snappy, lz4, zstd"), "{e}");
        assert!(CompressionType::from_id(5).is_err());
        assert!(CompressionType::from_id(-1).is_err());
    }

    #[test]
    fn levels_are_java_4x() {
        assert_eq!(CompressionType::Gzip.default_level(), Some(-1));
        assert_eq!(CompressionType::Gzip.level_range(), Some(1..=9));
        assert_eq!(CompressionType::Lz4.default_level(), Some(9));
        assert_eq!(CompressionType::Lz4.level_range(), Some(1..=17));
        assert_eq!(CompressionType::Zstd.default_level(), Some(3));
        assert_eq!(CompressionType::Zstd.level_range(), Some(-131_072..=22));
        assert_eq!(CompressionType::Snappy.default_level(), None);
        assert_eq!(CompressionType::None.level_range(), None);
    }

    #[test]
    fn every_codec_round_trips_empty_small_and_1mb() {
        for ty in CompressionType::ALL.into_iter().filter(|t| t.is_available()) {
            for input in [Vec::new(), b"hello kafka".to_vec(), sample(1 << 20)] {
                let mut packed = vec![0xAA]; // output is appended after existing bytes
                compress(ty, None, &input, &mut packed).unwrap();
                assert_eq!(packed[0], 0xAA);
                let mut back = vec![0xBB];
                decompress(ty, &packed[1..], &mut back).unwrap();
                assert_eq!(back[0], 0xBB);
                assert!(back[1..] == input[..], "{ty} round trip of {} bytes", input.len());
                if input.len() == 1 << 20 && ty != CompressionType::None {
                    assert!(packed.len() < input.len(), "{ty} did not compress");
                }
            }
        }
    }

    #[test]
    fn every_level_in_range_and_out_of_range_works() {
        let input = sample(100_000);
        for ty in CompressionType::ALL.into_iter().filter(|t| t.is_available()) {
            let mut levels = vec![None, Some(i32::MIN), Some(-1), Some(0), Some(i32::MAX)];
            if let Some(r) = ty.level_range() {
                levels.extend([Some(*r.start().max(&-5)), Some(*r.end())]);
            }
            for level in levels {
                let mut packed = Vec::new();
                compress(ty, level, &input, &mut packed).unwrap();
                let mut back = Vec::new();
                decompress(ty, &packed, &mut back).unwrap();
                assert!(back == input, "{ty} at level {level:?}");
            }
        }
    }

    #[test]
    fn garbage_and_truncations_fail_without_panic() {
        let input = sample(70_000);
        for ty in CompressionType::ALL.into_iter().filter(|t| t.is_available()) {
            if ty == CompressionType::None {
                continue;
            }
            let mut packed = Vec::new();
            compress(ty, None, &input, &mut packed).unwrap();
            // Every strict prefix must fail (or, for a prefix that happens to be a valid
            // stream, decode to something other than the input); none may panic.
            let step = (packed.len() / 300).max(1);
            for cut in (0..packed.len()).step_by(step) {
                let mut out = vec![1, 2, 3];
                match decompress(ty, &packed[..cut], &mut out) {
                    Err(_) => assert_eq!(out, [1, 2, 3], "{ty}: out restored on error"),
                    Ok(()) => assert!(out[3..] != input[..], "{ty}: prefix {cut} decoded whole"),
                }
            }
            for junk in [&[0u8; 0][..], &[0xff; 64], b"definitely not compressed data"] {
                let _ = decompress(ty, junk, &mut Vec::new());
            }
            let mut flipped = packed.clone();
            for i in (0..flipped.len()).step_by(97) {
                flipped[i] ^= 0x5a;
            }
            let _ = decompress(ty, &flipped, &mut Vec::new());
        }
    }

    #[test]
    fn decompression_refuses_to_pass_the_limit() {
        // 1 MiB of zeros packs to a few KiB: a "zip bomb" in miniature.
        let zeros = vec![0u8; 1 << 20];
        for ty in CompressionType::ALL.into_iter().filter(|t| t.is_available()) {
            let mut packed = Vec::new();
            compress(ty, None, &zeros, &mut packed).unwrap();
            // Exactly at the limit (counting the 2 bytes already there) is fine...
            let mut out = vec![7, 7];
            decompress_bounded(ty, &packed, &mut out, (1 << 20) + 2).unwrap();
            assert_eq!(out.len(), (1 << 20) + 2);
            // ...one byte less is an error, and `out` is left as it was.
            let mut out = vec![7, 7];
            let e = decompress_bounded(ty, &packed, &mut out, (1 << 20) + 1).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Compression, "{ty}");
            assert!(e.to_string().contains("exceeds the limit"), "{ty}: {e}");
            assert_eq!(out, [7, 7]);
        }
    }

    #[test]
    fn codecs_compiled_out_fail_with_config_errors() {
        for ty in CompressionType::ALL.into_iter().filter(|t| !t.is_available()) {
            let e = compress(ty, None, b"x", &mut Vec::new()).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config);
            assert!(e.to_string().contains("cargo feature"), "{e}");
            let e = decompress(ty, b"x", &mut Vec::new()).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config);
        }
    }

    #[test]
    fn disabled_codec_error_names_the_feature() {
        let e = feature_off(CompressionType::Zstd);
        assert_eq!(e.kind(), ErrorKind::Config);
        assert_eq!(e.to_string(), "compression.type=zstd needs the `zstd` cargo feature");
    }
}
