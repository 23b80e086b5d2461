//! zstd (`compression.type=zstd`, attribute id 4): one zstd frame at
//! `compression.zstd.level` (default 3), as zstd-jni's `ZstdOutputStream` writes for Java.
//! Brokers accept zstd batches on Produce v7 and later only.
//!
//! We pledge the input size, so the frame header carries the content size (readers that use
//! it to size their buffer, as librdkafka does, allocate once). Decompression reads every
//! frame of the stream, with zstd's default window limit (128 MiB) and our output limit.

use super::{codec_error, read_bounded, Codec};
use crate::error::Result;
use std::io::Write;

/// The zstd codec at a level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Zstd {
    level: i32,
}

impl Zstd {
    /// The codec at `level` (`None`: 3). libzstd clamps levels past its range; 0 means its
    /// default (3).
    pub fn new(level: Option<i32>) -> Self {
        Zstd { level: level.unwrap_or(3) }
    }
}

impl Codec for Zstd {
    fn compress(&self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let err = |e| codec_error("zstd", "compress", e);
        let mut enc = zstd::stream::write::Encoder::new(out, self.level).map_err(err)?;
        enc.set_pledged_src_size(Some(input.len() as u64)).map_err(err)?;
        enc.write_all(input).map_err(err)?;
        enc.finish().map_err(err)?;
        Ok(())
    }

    fn decompress_bounded(&self, input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<()> {
        let dec = zstd::stream::read::Decoder::with_buffer(input)
            .map_err(|e| codec_error("zstd", "decompress", e))?;
        read_bounded("zstd", dec, out, limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_a_zstd_frame_with_content_size() {
        let mut out = Vec::new();
        Zstd::new(None).compress(b"hello kafka", &mut out).unwrap();
        // Magic 0xFD2FB528, little-endian.
        assert_eq!(out[..4], [0x28, 0xb5, 0x2f, 0xfd]);
        // Frame header descriptor: a single-segment frame with the content size set
        // (Single_Segment_flag, bit 5) so the size follows in the header.
        assert_ne!(out[4] & 0x20, 0);
    }

    #[test]
    fn trailing_garbage_is_an_error() {
        let mut packed = Vec::new();
        Zstd::new(None).compress(b"hello kafka", &mut packed).unwrap();
        packed.extend_from_slice(b"junk");
        assert!(Zstd::new(None).decompress(&packed, &mut Vec::new()).is_err());
    }
}
