//! snappy (`compression.type=snappy`, attribute id 2): the xerial-snappy stream that Java's
//! `SnappyOutputStream` (snappy-java) writes, which every Kafka client reads:
//!
//! ```text
//! header  82 'S' 'N' 'A' 'P' 'P' 'Y' 00   magic, 8 bytes
//!         00 00 00 01                     version, int32 BE
//!         00 00 00 01                     minimum compatible version, int32 BE
//! blocks  [int32 BE compressed length][raw snappy block]   one per 32 KiB of input
//! ```
//!
//! Decompression accepts that framing (and a second header in the middle, which snappy-java
//! skips when streams were concatenated) and, like librdkafka and snappy-java, a plain raw
//! snappy block with no header at all (what librdkafka writes).

use super::{codec_error, too_large, Codec};
use crate::error::{Error, ErrorKind, Result};

/// The xerial stream magic.
pub const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0x00];
/// The xerial stream header: magic, version 1, minimum compatible version 1.
pub const XERIAL_HEADER: [u8; 16] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0x00, 0, 0, 0, 1, 0, 0, 0, 1];
/// Uncompressed bytes per block (snappy-java's default, which Kafka uses).
pub const BLOCK_SIZE: usize = 32 * 1024;

/// A raw snappy block never expands more than about 21 times (a 3-byte copy element yields at
/// most 64 bytes); a declared length past this is refused before anything is allocated.
const MAX_EXPANSION: usize = 32;

/// The snappy codec (it has no level).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snappy;

fn malformed(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Compression, format!("snappy: {}", msg.into()))
}

/// Appends the raw decompression of one snappy `block` to `out`, bounded by `limit`.
fn decompress_raw(block: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<()> {
    let n = snap::raw::decompress_len(block).map_err(|e| codec_error("snappy", "decompress", e))?;
    if n > block.len().saturating_mul(MAX_EXPANSION) {
        return Err(malformed(format!("block of {} bytes claims {n} uncompressed bytes", block.len())));
    }
    let start = out.len();
    if start.saturating_add(n) > limit {
        return Err(too_large("snappy", limit));
    }
    out.resize(start + n, 0);
    match snap::raw::Decoder::new().decompress(block, &mut out[start..]) {
        Ok(written) if written == n => Ok(()),
        Ok(written) => {
            out.truncate(start);
            Err(malformed(format!("block declared {n} bytes but held {written}")))
        }
        Err(e) => {
            out.truncate(start);
            Err(codec_error("snappy", "decompress", e))
        }
    }
}

impl Codec for Snappy {
    fn compress(&self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        out.extend_from_slice(&XERIAL_HEADER);
        let mut enc = snap::raw::Encoder::new();
        for chunk in input.chunks(BLOCK_SIZE) {
            let len_at = out.len();
            let max = snap::raw::max_compress_len(chunk.len());
            out.resize(len_at + 4 + max, 0);
            let n = match enc.compress(chunk, &mut out[len_at + 4..]) {
                Ok(n) => n,
                Err(e) => {
                    out.truncate(len_at);
                    return Err(codec_error("snappy", "compress", e));
                }
            };
            out.truncate(len_at + 4 + n);
            // n <= max_compress_len(32 KiB), far below i32::MAX.
            out[len_at..len_at + 4].copy_from_slice(&(n as u32).to_be_bytes());
        }
        Ok(())
    }

    fn decompress_bounded(&self, input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<()> {
        if input.is_empty() {
            // snappy-java writes nothing at all for an empty stream.
            return Ok(());
        }
        if !input.starts_with(&XERIAL_MAGIC) {
            return decompress_raw(input, out, limit);
        }
        let mut rest = input;
        while !rest.is_empty() {
            if rest.starts_with(&XERIAL_MAGIC) {
                if rest.len() < XERIAL_HEADER.len() {
                    return Err(malformed("truncated xerial header"));
                }
                rest = &rest[XERIAL_HEADER.len()..];
                continue;
            }
            if rest.len() < 4 {
                return Err(malformed(format!("truncated block length ({} bytes)", rest.len())));
            }
            let len = i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
            rest = &rest[4..];
            let len = usize::try_from(len).map_err(|_| malformed(format!("negative block length {len}")))?;
            if len > rest.len() {
                return Err(malformed(format!("block of {len} bytes but only {} remain", rest.len())));
            }
            decompress_raw(&rest[..len], out, limit)?;
            rest = &rest[len..];
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A xerial stream written by hand: header, then one block holding a literal-only raw
    /// snappy block for "hello". Raw block: preamble varint 5 (uncompressed length), then a
    /// literal element: tag byte (len - 1) << 2 | 0b00 = 0x10, then the 5 bytes.
    const HELLO_XERIAL: [u8; 27] = [
        0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0x00, // magic
        0x00, 0x00, 0x00, 0x01, // version 1
        0x00, 0x00, 0x00, 0x01, // minimum compatible version 1
        0x00, 0x00, 0x00, 0x07, // block length 7
        0x05, // uncompressed length 5
        0x10, b'h', b'e', b'l', b'l', b'o', // literal of 5 bytes
    ];

    #[test]
    fn golden_xerial_stream_decodes() {
        let mut out = Vec::new();
        Snappy.decompress(&HELLO_XERIAL, &mut out).unwrap();
        assert_eq!(out, b"hello");
    }

    #[test]
    fn golden_raw_block_decodes() {
        let mut out = Vec::new();
        Snappy.decompress(&HELLO_XERIAL[20..], &mut out).unwrap();
        assert_eq!(out, b"hello");
    }

    #[test]
    fn output_starts_with_the_xerial_header() {
        let mut out = Vec::new();
        Snappy.compress(b"hello", &mut out).unwrap();
        assert_eq!(out[..16], XERIAL_HEADER);
        let mut empty = Vec::new();
        Snappy.compress(b"", &mut empty).unwrap();
        assert_eq!(empty, XERIAL_HEADER);
        let mut back = Vec::new();
        Snappy.decompress(&empty, &mut back).unwrap();
        assert!(back.is_empty());
    }

    #[test]
    fn blocks_hold_32k_of_input() {
        let input = super::super::tests::sample(100_000);
        let mut out = Vec::new();
        Snappy.compress(&input, &mut out).unwrap();
        let mut pos = 16;
        let mut sizes = Vec::new();
        while pos < out.len() {
            let len = u32::from_be_bytes(out[pos..pos + 4].try_into().unwrap()) as usize;
            let block = &out[pos + 4..pos + 4 + len];
            sizes.push(snap::raw::decompress_len(block).unwrap());
            pos += 4 + len;
        }
        assert_eq!(sizes, [32768, 32768, 32768, 100_000 - 3 * 32768]);
    }

    #[test]
    fn concatenated_xerial_streams_decode_whole() {
        let mut two = HELLO_XERIAL.to_vec();
        two.extend_from_slice(&HELLO_XERIAL);
        let mut out = Vec::new();
        Snappy.decompress(&two, &mut out).unwrap();
        assert_eq!(out, b"hellohello");
    }

    #[test]
    fn bad_framing_is_an_error() {
        let mut neg = XERIAL_HEADER.to_vec();
        neg.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
        assert!(Snappy.decompress(&neg, &mut Vec::new()).is_err());
        let mut long = XERIAL_HEADER.to_vec();
        long.extend_from_slice(&[0x00, 0x00, 0x01, 0x00, 0x05]);
        assert!(Snappy.decompress(&long, &mut Vec::new()).is_err());
        // A raw block claiming 4 GiB from 5 bytes: refused without allocating.
        let bomb = [0xff, 0xff, 0xff, 0xff, 0x0f];
        let e = Snappy.decompress(&bomb, &mut Vec::new()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Compression);
    }
}
