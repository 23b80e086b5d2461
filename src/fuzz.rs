//! Entry points for the fuzzers: everything that reads bytes a broker sent.
//!
//! Built only for the cargo-fuzz targets in `tests/fuzz` (`--cfg fuzzing`, where this module is
//! public) and for the unit tests below, which run the same entry points on random and mutated
//! inputs in every test run. Each entry point must return for any input: no panic, no allocation
//! the input cannot back, no endless loop. `scripts/fuzz.sh` runs the libFuzzer targets.

use crate::network::connection::cut_frames;
use crate::protocol::header::decode_response;
use crate::protocol::record_batch::decode_batches;
use crate::protocol::{
    add_offsets_to_txn::AddOffsetsToTxnRequest, add_partitions_to_txn::AddPartitionsToTxnRequest,
    api_versions::ApiVersionsRequest, end_txn::EndTxnRequest, find_coordinator::FindCoordinatorRequest,
    init_producer_id::InitProducerIdRequest, metadata::MetadataRequest, produce::ProduceRequest,
    txn_offset_commit::TxnOffsetCommitRequest, Request,
};

/// The response decoders, one per API this crate speaks.
const APIS: usize = 9;

fn decode_as<R: Request>(version_pick: u8, frame: &[u8]) {
    let (lo, hi) = (*R::VERSIONS.start(), *R::VERSIONS.end());
    let version = lo + (version_pick as i16) % (hi - lo + 1);
    let _ = decode_response::<R>(frame, version);
}

/// A response frame (the bytes after the size prefix) for the API and version the first two
/// bytes pick, decoded as the sender would.
pub fn response(data: &[u8]) {
    let [api, version, frame @ ..] = data else { return };
    match *api as usize % APIS {
        0 => decode_as::<ApiVersionsRequest>(*version, frame),
        1 => decode_as::<MetadataRequest>(*version, frame),
        2 => decode_as::<ProduceRequest<'_>>(*version, frame),
        3 => decode_as::<InitProducerIdRequest>(*version, frame),
        4 => decode_as::<FindCoordinatorRequest>(*version, frame),
        5 => decode_as::<AddPartitionsToTxnRequest>(*version, frame),
        6 => decode_as::<AddOffsetsToTxnRequest>(*version, frame),
        7 => decode_as::<EndTxnRequest>(*version, frame),
        _ => decode_as::<TxnOffsetCommitRequest>(*version, frame),
    }
}

/// Bytes as they arrive on a connection, cut into frames.
pub fn frames(data: &[u8]) {
    let mut out = Vec::new();
    if let Ok(n) = cut_frames(data, &mut out) {
        assert!(n <= data.len());
        assert_eq!(out.iter().map(|f| f.len() + 4).sum::<usize>(), n);
    }
}

/// A Produce request's records field (or a fetched log), read back as record batches v2; then
/// again with the first batch's CRC-32C made right, so that inputs get past the checksum to the
/// codecs and the records.
pub fn record_batches(data: &[u8]) {
    let _ = decode_batches(data);
    const CRC_AT: usize = 17;
    const CRC_FROM: usize = 21;
    if data.len() > CRC_FROM {
        let len = i32::from_be_bytes([data[8], data[9], data[10], data[11]]);
        let end = (12 + len.max(0) as usize).clamp(CRC_FROM, data.len());
        let mut fixed = data.to_vec();
        fixed[CRC_AT..CRC_FROM].copy_from_slice(&crc32c::crc32c(&data[CRC_FROM..end]).to_be_bytes());
        let _ = decode_batches(&fixed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compression::CompressionType;
    use crate::protocol::record_batch::{ProducerState, RecordBatchBuilder};
    use proptest::prelude::*;

    /// A valid sealed batch of a few records, for mutation.
    fn valid_batch(codec: CompressionType) -> Vec<u8> {
        let mut b = RecordBatchBuilder::new(Vec::new(), 1_700_000_000_000);
        for i in 0..5u8 {
            b.append(1_700_000_000_000 + i as i64, Some(&[i; 3]), Some(b"value value value"), &[]);
        }
        b.seal(codec, codec.default_level(), ProducerState::NONE).unwrap().bytes().to_vec()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn any_bytes_as_any_response_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            response(&data);
        }

        #[test]
        fn any_bytes_cut_into_frames_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            frames(&data);
        }

        #[test]
        fn mutated_record_batches_never_panic(
            codec in 0..CompressionType::ALL.len(),
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
            cut in any::<usize>(),
        ) {
            let c = CompressionType::ALL[codec];
            prop_assume!(c.is_available());
            let mut b = valid_batch(c);
            for (at, x) in flips {
                let i = at % b.len();
                b[i] ^= x;
            }
            b.truncate(cut % (b.len() + 1));
            record_batches(&b);
        }

        #[test]
        fn valid_batches_still_decode_through_the_crc_fixing_entry(codec in 0..CompressionType::ALL.len()) {
            let c = CompressionType::ALL[codec];
            prop_assume!(c.is_available());
            let b = valid_batch(c);
            prop_assert_eq!(decode_batches(&b).unwrap()[0].records.len(), 5);
            record_batches(&b);
        }
    }
}
