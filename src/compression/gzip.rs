//! gzip (`compression.type=gzip`, attribute id 1): one RFC 1952 gzip member, as Java's
//! `GZIPOutputStream` writes it, at `compression.gzip.level` (-1, the default, is zlib's
//! default level 6).
//!
//! Decompression reads every member of the stream (Java's `GZIPInputStream` and zlib both
//! accept concatenated members).

use super::{codec_error, read_bounded, Codec};
use crate::error::Result;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use std::io::Write;

/// The gzip codec at a level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gzip {
    level: Compression,
}

impl Gzip {
    /// The codec at `level`: `None` or -1 for the default; values past 1..=9 are clamped
    /// (config validation rejects them before they get here).
    pub fn new(level: Option<i32>) -> Self {
        let level = match level {
            None | Some(-1) => Compression::default(),
            Some(l) => Compression::new(l.clamp(0, 9) as u32),
        };
        Gzip { level }
    }
}

impl Codec for Gzip {
    fn compress(&self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let mut enc = GzEncoder::new(out, self.level);
        enc.write_all(input).map_err(|e| codec_error("gzip", "compress", e))?;
        enc.finish().map_err(|e| codec_error("gzip", "compress", e))?;
        Ok(())
    }

    fn decompress_bounded(&self, input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<()> {
        read_bounded("gzip", MultiGzDecoder::new(input), out, limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_a_gzip_member() {
        let mut out = Vec::new();
        Gzip::new(None).compress(b"abc", &mut out).unwrap();
        // ID1 ID2 CM=8 (deflate)
        assert_eq!(out[..3], [0x1f, 0x8b, 0x08]);
        // ISIZE: input length mod 2^32, little-endian, in the last 4 bytes.
        assert_eq!(out[out.len() - 4..], [3, 0, 0, 0]);
    }

    #[test]
    fn concatenated_members_decode_whole() {
        let mut packed = Vec::new();
        Gzip::new(Some(1)).compress(b"hello ", &mut packed).unwrap();
        Gzip::new(Some(9)).compress(b"kafka", &mut packed).unwrap();
        let mut out = Vec::new();
        Gzip::new(None).decompress(&packed, &mut out).unwrap();
        assert_eq!(out, b"hello kafka");
    }
}
