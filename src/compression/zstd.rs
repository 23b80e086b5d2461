//! zstd (`compression.type=zstd`, attribute id 4): one zstd frame at
//! `compression.zstd.level` (default 3), as zstd-jni's `ZstdOutputStream` writes for Java.
//! Brokers accept zstd batches on Produce v7 and later only.
//!
//! The batch is compressed in one call, so the frame header carries the content size (readers
//! that use it to size their buffer, as librdkafka does, allocate once). Each thread keeps its
//! compression context. Decompression reads every
//! frame of the stream, with zstd's default window limit (128 MiB) and our output limit.

use super::{codec_error, read_bounded, Codec};
use crate::error::Result;
use std::cell::RefCell;

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

thread_local! {
    /// This thread's compression context and its level: making a context per batch (tables
    /// allocated and initialized each time) cost about as much as compressing a 16 KiB batch.
    static COMPRESSOR: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> = const { RefCell::new(None) };
}

impl Codec for Zstd {
    fn compress(&self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let err = |e| codec_error("zstd", "compress", e);
        COMPRESSOR.with(|cell| {
            let mut slot = cell.borrow_mut();
            if slot.as_ref().map(|(level, _)| *level) != Some(self.level) {
                *slot = None;
                *slot = Some((self.level, zstd::bulk::Compressor::new(self.level).map_err(err)?));
            }
            let (_, compressor) = slot.as_mut().expect("set above");
            // One-shot compression of the whole input: the frame header carries its size.
            out.reserve(zstd::zstd_safe::compress_bound(input.len()));
            let start = out.len() as u64;
            let mut at_end = std::io::Cursor::new(&mut *out);
            at_end.set_position(start);
            if let Err(e) = compressor.compress_to_buffer(input, &mut at_end) {
                *slot = None; // a fresh context next time
                return Err(err(e));
            }
            Ok(())
        })
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
    fn compressing_appends_after_what_the_buffer_holds_and_reuses_the_context_across_levels() {
        let text: Vec<u8> =
            (0..20_000u32).flat_map(|i| format!("{{\"n\":{}}}", i % 97).into_bytes()).collect();
        for level in [Some(3), Some(3), Some(1), None, Some(19)] {
            let mut out = b"HEADER".to_vec();
            Zstd::new(level).compress(&text, &mut out).unwrap();
            assert_eq!(&out[..6], b"HEADER");
            assert!(out.len() < text.len() / 4, "compressed: {} of {}", out.len(), text.len());
            let mut back = Vec::new();
            Zstd::new(level).decompress(&out[6..], &mut back).unwrap();
            assert_eq!(back, text);
        }
    }

    #[test]
    fn trailing_garbage_is_an_error() {
        let mut packed = Vec::new();
        Zstd::new(None).compress(b"hello kafka", &mut packed).unwrap();
        packed.extend_from_slice(b"junk");
        assert!(Zstd::new(None).decompress(&packed, &mut Vec::new()).is_err());
    }
}
