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
use lz4::block::{compress_bound, compress_to_buffer, CompressionMode};

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

/// The frame header every compressed batch starts with: magic, FLG `0x60`, BD `0x40` and the
/// header checksum, `(xxh32(FLG BD, seed 0) >> 8) & 0xff` = `0x82` for that descriptor.
const FRAME_HEADER: [u8; 7] = [0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82];

/// The largest block BD `0x40` allows.
const BLOCK_MAX: usize = 64 * 1024;

/// A block size word's top bit: the block is stored uncompressed.
const STORED: u32 = 1 << 31;

impl Codec for Lz4 {
    /// Writes the frame itself with liblz4's block compressor, each 64 KiB of input straight
    /// into `out`: liblz4's frame encoder (through the `lz4` crate) allocated a context per
    /// batch and copied the input into its own buffer and its output into ours.
    fn compress(&self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let err = |e| codec_error("lz4", "compress", e);
        // liblz4's frame encoder uses the fast compressor below level 3 (LZ4HC_CLEVEL_MIN).
        let mode = if self.lib_level < 3 {
            CompressionMode::DEFAULT
        } else {
            CompressionMode::HIGHCOMPRESSION(self.lib_level as i32)
        };
        out.extend_from_slice(&FRAME_HEADER);
        for block in input.chunks(BLOCK_MAX) {
            let at = out.len();
            out.resize(at + 4 + compress_bound(block.len()).map_err(err)?, 0);
            let n = compress_to_buffer(block, Some(mode), false, &mut out[at + 4..]).map_err(err)?;
            if n < block.len() {
                out[at..at + 4].copy_from_slice(&(n as u32).to_le_bytes());
                out.truncate(at + 4 + n);
            } else {
                // As liblz4's frame encoder: a block that does not shrink is stored as it is.
                out.truncate(at);
                out.extend_from_slice(&(block.len() as u32 | STORED).to_le_bytes());
                out.extend_from_slice(block);
            }
        }
        out.extend_from_slice(&0u32.to_le_bytes()); // end mark
        Ok(())
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

    /// What liblz4's own frame encoder writes with Java's settings (the implementation before
    /// this one): the same bytes, block for block.
    fn frame_encoder(level: u32, input: &[u8]) -> Vec<u8> {
        use lz4::liblz4::BlockChecksum;
        use lz4::{BlockMode, BlockSize, ContentChecksum, EncoderBuilder};
        use std::io::Write;
        let mut enc = EncoderBuilder::new()
            .block_size(BlockSize::Max64KB)
            .block_mode(BlockMode::Independent)
            .block_checksum(BlockChecksum::NoBlockChecksum)
            .checksum(ContentChecksum::NoChecksum)
            .level(level)
            .build(Vec::new())
            .unwrap();
        enc.write_all(input).unwrap();
        let (out, result) = enc.finish();
        result.unwrap();
        out
    }

    #[test]
    fn writes_what_liblz4s_frame_encoder_writes() {
        let text = super::super::tests::sample(200_000);
        // Incompressible bytes: every block is stored.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let noise: Vec<u8> = (0..70_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        for input in [&b""[..], b"hello kafka", &text[..65_536], &text[..], &noise[..]] {
            for level in [None, Some(1), Some(4), Some(12), Some(17)] {
                let codec = Lz4::new(level);
                let mut ours = Vec::new();
                codec.compress(input, &mut ours).unwrap();
                assert!(
                    ours == frame_encoder(codec.lib_level, input),
                    "{} bytes, level {level:?}",
                    input.len()
                );
                let mut back = Vec::new();
                codec.decompress(&ours, &mut back).unwrap();
                assert!(back == input);
            }
        }
        let mut stored = Vec::new();
        Lz4::new(None).compress(&noise, &mut stored).unwrap();
        assert_eq!(u32::from_le_bytes(stored[7..11].try_into().unwrap()), (64 * 1024) | STORED);
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
