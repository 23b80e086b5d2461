//! lz4 (`compression.type=lz4`, attribute id 3): the LZ4 frame format as Java's
//! `Lz4BlockOutputStream` and librdkafka write it: frame magic `04 22 4D 18`, FLG `0x60`
//! (version 01, independent blocks, no block or content checksum, no content size), BD `0x40`
//! (64 KiB maximum block size), header checksum, data blocks, end mark `00 00 00 00`.
//! Java's reader rejects dependent blocks and a block size outside 64 KiB..4 MiB, so we set
//! both explicitly rather than trusting liblz4's defaults.
//!
//! Levels follow `compression.lz4.level` (default 9). Like the Java client, the default level
//! uses the fast compressor (liblz4 level 0), any other level the high-compression one.
//!
//! Decompression goes through liblz4's frame decoder, which checks the header checksum and
//! any checksums present; it reads concatenated frames until the input ends.

use super::{codec_error, read_bounded, Codec};
use crate::error::{Error, ErrorKind, Result};
use lz4::liblz4::BlockChecksum;
use lz4::{BlockMode, BlockSize, ContentChecksum, EncoderBuilder};
use std::io::Write;

/// Java's `compression.lz4.level` default, which it maps to lz4's fast compressor.
const DEFAULT_LEVEL: i32 = 9;

/// The lz4 codec at a level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lz4 {
    /// The liblz4 frame compression level: 0 fast, 3..=12 HC (liblz4 clamps past 12).
    lib_level: u32,
}

impl Lz4 {
    /// The codec at Java level `level` (`None`: 9, the fast compressor). Levels past 0..=17
    /// are clamped (config validation rejects them before they get here).
    pub fn new(level: Option<i32>) -> Self {
        let level = level.unwrap_or(DEFAULT_LEVEL);
        let lib_level = if level == DEFAULT_LEVEL { 0 } else { level.clamp(0, 17) as u32 };
        Lz4 { lib_level }
    }
}

impl Codec for Lz4 {
    fn compress(&self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let err = |e| codec_error("lz4", "compress", e);
        let mut enc = EncoderBuilder::new()
            .block_size(BlockSize::Max64KB)
            .block_mode(BlockMode::Independent)
            .block_checksum(BlockChecksum::NoBlockChecksum)
            .checksum(ContentChecksum::NoChecksum)
            .level(self.lib_level)
            .build(out)
            .map_err(err)?;
        enc.write_all(input).map_err(err)?;
        let (_, result) = enc.finish();
        result.map_err(err)
    }

    fn decompress_bounded(&self, input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<()> {
        let mut rest = input;
        loop {
            let mut dec = lz4::Decoder::new(rest).map_err(|e| codec_error("lz4", "decompress", e))?;
            read_bounded("lz4", &mut dec, out, limit)?;
            let (after, finished) = dec.finish();
            // The decoder reports the end of its input as a plain end of stream; only
            // `finish` tells whether the frame was complete.
            finished.map_err(|e| Error::new(ErrorKind::Compression, format!("lz4: truncated frame: {e}")))?;
            if after.is_empty() || after.len() >= rest.len() {
                return Ok(());
            }
            rest = after;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_header_is_what_java_and_librdkafka_write() {
        let mut out = Vec::new();
        Lz4::new(None).compress(b"hello kafka", &mut out).unwrap();
        // magic 0x184D2204 LE, FLG 0x60 (v01, independent blocks), BD 0x40 (64 KiB)
        assert_eq!(out[..6], [0x04, 0x22, 0x4d, 0x18, 0x60, 0x40]);
        // end mark, no content checksum after it
        assert_eq!(out[out.len() - 4..], [0, 0, 0, 0]);
    }

    #[test]
    fn large_input_is_split_in_64k_blocks() {
        let input = super::super::tests::sample(300_000);
        for level in [None, Some(1), Some(12), Some(17)] {
            let mut out = Vec::new();
            Lz4::new(level).compress(&input, &mut out).unwrap();
            // Walk the blocks: 7 header bytes, then [u32 LE size (bit 31: stored)][data].
            let mut pos = 7;
            let mut blocks = 0;
            loop {
                let word = u32::from_le_bytes(out[pos..pos + 4].try_into().unwrap());
                pos += 4;
                if word == 0 {
                    break;
                }
                let size = (word & 0x7fff_ffff) as usize;
                assert!(size <= 64 * 1024);
                pos += size;
                blocks += 1;
            }
            assert_eq!(pos, out.len());
            assert_eq!(blocks, 300_000usize.div_ceil(64 * 1024));
            let mut back = Vec::new();
            Lz4::new(None).decompress(&out, &mut back).unwrap();
            assert!(back == input);
        }
    }

    #[test]
    fn stored_block_frame_written_by_hand_decodes() {
        // A frame with one uncompressed ("stored", bit 31 set) block of "abc":
        // magic, FLG 0x60, BD 0x40, HC = (xxh32(FLG BD, seed 0) >> 8) & 0xff = 0x82, which is
        // the byte librdkafka's own frames carry for this descriptor; then the block and the
        // end mark.
        let frame = [
            0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82, // header
            0x03, 0x00, 0x00, 0x80, b'a', b'b', b'c', // stored block of 3 bytes
            0x00, 0x00, 0x00, 0x00, // end mark
        ];
        let mut out = Vec::new();
        Lz4::new(None).decompress(&frame, &mut out).unwrap();
        assert_eq!(out, b"abc");
        // A wrong header checksum is refused.
        let mut bad = frame;
        bad[6] ^= 1;
        assert!(Lz4::new(None).decompress(&bad, &mut Vec::new()).is_err());
    }
}
