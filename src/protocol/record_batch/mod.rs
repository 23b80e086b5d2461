//! Record batch v2 (magic 2): the writer the producer appends records to, and a reader for
//! tests and future use.
//!
//! Layout (Kafka protocol guide, "Record Batch"; Java `DefaultRecordBatch`/`DefaultRecord`):
//!
//! ```text
//! offset  field                 type     notes
//!  0      baseOffset            int64    0 from a producer; the broker assigns offsets
//!  8      batchLength           int32    bytes after this field
//! 12      partitionLeaderEpoch  int32    -1 from a producer
//! 16      magic                 int8     2
//! 17      crc                   uint32   CRC-32C of every byte from attributes to the end
//! 21      attributes            int16    bits 0-2 codec, 3 timestamp type (0 = CreateTime),
//!                                        4 transactional, 5 control
//! 23      lastOffsetDelta       int32
//! 27      baseTimestamp         int64    the first record's timestamp
//! 35      maxTimestamp          int64
//! 43      producerId            int64    -1 without idempotence
//! 51      producerEpoch         int16    -1 without idempotence
//! 53      baseSequence          int32    -1 without idempotence
//! 57      recordCount           int32
//! 61      records               the rest, compressed as a whole when the codec is not none
//!
//! record: length varint (of what follows), attributes int8 (0), timestampDelta varlong,
//!         offsetDelta varint, key (varint length, -1 = null, then bytes),
//!         value (likewise), header count varint, then per header:
//!         key (varint length, bytes, UTF-8), value (varint length, -1 = null, bytes)
//! ```
//!
//! [`RecordBatchBuilder`] keeps one buffer: 61 bytes reserved for the header, then records
//! appended uncompressed. Appending writes straight into that buffer and allocates nothing
//! else. [`RecordBatchBuilder::seal`] compresses the records (when the codec is not `none`)
//! into a second buffer, fills in the header and the CRC, and returns a [`SealedBatch`]
//! whose bytes go into a Produce request as they are (and again, unchanged, on a retry).
//!
//! Runs on: application threads (appending, under the partition's lock in the accumulator)
//! and the sender thread (sealing, producer-state rewrites). No shared state.

use super::primitives::{varint_len, varlong_len, Encoder, Reader};
use crate::compression::{self, CompressionType};
use crate::error::{Error, ErrorKind, Result};
use std::borrow::Cow;

/// Bytes of a batch before its first record.
pub const BATCH_HEADER_LEN: usize = 61;
/// The magic byte of record batch v2.
pub const MAGIC: i8 = 2;
/// The partition leader epoch a producer writes (the broker fills in its own).
pub const NO_PARTITION_LEADER_EPOCH: i32 = -1;
/// Bytes before `batchLength`'s count starts: baseOffset and batchLength themselves.
pub const LOG_OVERHEAD: usize = 12;

const PARTITION_LEADER_EPOCH_AT: usize = 12;
const MAGIC_AT: usize = 16;
const CRC_AT: usize = 17;
const ATTRIBUTES_AT: usize = 21;
const LAST_OFFSET_DELTA_AT: usize = 23;
const BASE_TIMESTAMP_AT: usize = 27;
const MAX_TIMESTAMP_AT: usize = 35;
const PRODUCER_ID_AT: usize = 43;
const PRODUCER_EPOCH_AT: usize = 51;
const BASE_SEQUENCE_AT: usize = 53;
const RECORD_COUNT_AT: usize = 57;

/// Attribute bits 0–2: the compression codec.
pub const COMPRESSION_CODEC_MASK: i16 = 0x07;
/// Attribute bit 3: timestamp type (0 = CreateTime, 1 = LogAppendTime).
pub const TIMESTAMP_TYPE_BIT: i16 = 0x08;
/// Attribute bit 4: the batch belongs to a transaction.
pub const TRANSACTIONAL_BIT: i16 = 0x10;
/// Attribute bit 5: the batch holds a control record (transaction marker).
pub const CONTROL_BIT: i16 = 0x20;

/// The smallest possible record: length, attributes, timestampDelta, offsetDelta, key, value,
/// header count, one byte each.
const MIN_RECORD_LEN: usize = 7;

/// A record header: borrowed from the caller (no copy until the append), or owned (e.g. added
/// by an interceptor).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    /// The header key (never null on the wire).
    pub key: Cow<'a, str>,
    /// The header value; `None` is written as length -1.
    pub value: Option<Cow<'a, [u8]>>,
}

impl<'a> Header<'a> {
    /// A header borrowing its key and value.
    pub fn new(key: &'a str, value: Option<&'a [u8]>) -> Self {
        Header { key: Cow::Borrowed(key), value: value.map(Cow::Borrowed) }
    }

    /// A header owning its key and value.
    pub fn owned(key: impl Into<String>, value: Option<Vec<u8>>) -> Header<'static> {
        Header { key: Cow::Owned(key.into()), value: value.map(Cow::Owned) }
    }

    /// The value as a slice.
    pub fn value_bytes(&self) -> Option<&[u8]> {
        self.value.as_deref()
    }
}

/// The idempotence/transaction fields of a batch header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProducerState {
    /// The producer id, -1 without idempotence.
    pub producer_id: i64,
    /// The producer epoch, -1 without idempotence.
    pub producer_epoch: i16,
    /// The sequence number of the batch's first record, -1 without idempotence.
    pub base_sequence: i32,
    /// Whether the batch is part of a transaction (attribute bit 4).
    pub transactional: bool,
}

impl ProducerState {
    /// No idempotence, no transaction: -1, -1, -1, false.
    pub const NONE: ProducerState =
        ProducerState { producer_id: -1, producer_epoch: -1, base_sequence: -1, transactional: false };
}

impl Default for ProducerState {
    fn default() -> Self {
        ProducerState::NONE
    }
}

/// Bytes a nullable varint-length-prefixed byte string takes.
#[inline]
fn nullable_len(b: Option<&[u8]>) -> usize {
    match b {
        None => 1, // varint(-1)
        Some(b) => varint_len(b.len() as i32) + b.len(),
    }
}

#[inline]
fn put_nullable(buf: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => buf.put_varint(-1),
        Some(b) => {
            buf.put_varint(b.len() as i32);
            buf.extend_from_slice(b);
        }
    }
}

#[inline]
fn set_bytes<const N: usize>(buf: &mut [u8], at: usize, v: [u8; N]) {
    buf[at..at + N].copy_from_slice(&v);
}

#[inline]
fn get_bytes<const N: usize>(buf: &[u8], at: usize) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&buf[at..at + N]);
    a
}

/// Recomputes the CRC of a whole batch in place.
fn write_crc(batch: &mut [u8]) {
    let crc = crc32c::crc32c(&batch[ATTRIBUTES_AT..]);
    set_bytes(batch, CRC_AT, crc.to_be_bytes());
}

/// A record's size in a batch, measured by [`RecordBatchBuilder::measure`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measured {
    body: usize,
}

impl Measured {
    /// The bytes the record adds to the batch (its length prefix included).
    pub fn bytes(&self) -> usize {
        varint_len(self.body as i32) + self.body
    }
}

/// Builds one record batch. Append records, then [`seal`](Self::seal) it.
///
/// Records must stay within the limits the producer enforces (`max.request.size`, at most
/// 2 GiB): lengths are written as 32-bit varints.
#[derive(Debug)]
pub struct RecordBatchBuilder {
    /// 61 reserved header bytes, then the records, uncompressed.
    buf: Vec<u8>,
    record_count: u32,
    base_timestamp: i64,
    max_timestamp: i64,
}

impl RecordBatchBuilder {
    /// A builder writing into `buf` (a recycled buffer: it is cleared, its capacity reused).
    ///
    /// `base_timestamp` stands for the batch's timestamps while it is empty; the first
    /// appended record's timestamp becomes the base, as in Java's `MemoryRecordsBuilder`
    /// (pass that timestamp here and the two agree).
    pub fn new(mut buf: Vec<u8>, base_timestamp: i64) -> Self {
        buf.clear();
        buf.resize(BATCH_HEADER_LEN, 0);
        RecordBatchBuilder { buf, record_count: 0, base_timestamp, max_timestamp: base_timestamp }
    }

    /// Gives the buffer back without sealing (its contents are unspecified).
    pub fn into_buffer(self) -> Vec<u8> {
        self.buf
    }

    #[inline]
    fn timestamp_delta(&self, timestamp: i64) -> i64 {
        if self.record_count == 0 {
            0
        } else {
            timestamp.wrapping_sub(self.base_timestamp)
        }
    }

    /// Bytes of a record after its length prefix.
    #[inline]
    fn body_size(
        &self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header<'_>],
    ) -> usize {
        let mut n = 1 // attributes
            + varlong_len(self.timestamp_delta(timestamp))
            + varint_len(self.record_count as i32)
            + nullable_len(key)
            + nullable_len(value)
            + varint_len(headers.len() as i32);
        for h in headers {
            n += varint_len(h.key.len() as i32) + h.key.len() + nullable_len(h.value.as_deref());
        }
        n
    }

    /// Exactly how many bytes [`append`](Self::append) would add for this record now, so the
    /// caller can check `batch.size` and `max.request.size` before appending.
    pub fn record_size(
        &self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header<'_>],
    ) -> usize {
        self.measure(timestamp, key, value, headers).bytes()
    }

    /// The record's size as [`append_measured`](Self::append_measured) takes it: measure,
    /// check, then append without measuring again.
    #[inline]
    pub fn measure(
        &self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header<'_>],
    ) -> Measured {
        Measured { body: self.body_size(timestamp, key, value, headers) }
    }

    /// Appends a record (CreateTime `timestamp` in ms) and returns its offset delta within the
    /// batch (0 for the first record). Grows the buffer at most once; allocates nothing else.
    pub fn append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header<'_>],
    ) -> u32 {
        let size = self.measure(timestamp, key, value, headers);
        self.append_measured(size, timestamp, key, value, headers)
    }

    /// [`append`](Self::append) with the size [`measure`](Self::measure) gave for the same
    /// record, with no append in between.
    pub fn append_measured(
        &mut self,
        size: Measured,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header<'_>],
    ) -> u32 {
        let body = size.body;
        debug_assert_eq!(body, self.body_size(timestamp, key, value, headers), "measured for another record");
        let offset_delta = self.record_count;
        let delta = self.timestamp_delta(timestamp);
        let buf = &mut self.buf;
        buf.reserve(size.bytes());
        let start = buf.len();
        buf.put_varint(body as i32);
        buf.put_i8(0); // record attributes: unused
        buf.put_varlong(delta);
        buf.put_varint(offset_delta as i32);
        put_nullable(buf, key);
        put_nullable(buf, value);
        buf.put_varint(headers.len() as i32);
        for h in headers {
            buf.put_varint(h.key.len() as i32);
            buf.extend_from_slice(h.key.as_bytes());
            put_nullable(buf, h.value.as_deref());
        }
        debug_assert_eq!(buf.len() - start, size.bytes());
        if self.record_count == 0 {
            self.base_timestamp = timestamp;
            self.max_timestamp = timestamp;
        } else {
            self.max_timestamp = self.max_timestamp.max(timestamp);
        }
        self.record_count += 1;
        offset_delta
    }

    /// Records appended so far.
    pub fn record_count(&self) -> u32 {
        self.record_count
    }

    /// Whether no record was appended.
    pub fn is_empty(&self) -> bool {
        self.record_count == 0
    }

    /// Header plus uncompressed records so far (the batch's size if sealed uncompressed).
    pub fn size_in_bytes(&self) -> usize {
        self.buf.len()
    }

    /// The first record's timestamp (the one given to [`new`](Self::new) while empty).
    pub fn base_timestamp(&self) -> i64 {
        self.base_timestamp
    }

    /// The largest record timestamp (the base while empty).
    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }

    /// Finishes the batch: compresses the records with `compression` at `level` (`None`: the
    /// codec's default), writes the header and the CRC. A compressed batch is written into a
    /// newly allocated buffer; use [`seal_into`](Self::seal_into) to supply one.
    pub fn seal(
        self,
        compression: CompressionType,
        level: Option<i32>,
        producer: ProducerState,
    ) -> Result<SealedBatch> {
        self.seal_into(Vec::new(), compression, level, producer).map(|(batch, _)| batch)
    }

    /// [`seal`](Self::seal), compressing into `scratch` (cleared first). Returns the sealed
    /// batch and the buffer it did not use, cleared, for the caller to recycle: the builder's
    /// own buffer when the records were compressed, else `scratch` untouched.
    pub fn seal_into(
        self,
        mut scratch: Vec<u8>,
        compression: CompressionType,
        level: Option<i32>,
        producer: ProducerState,
    ) -> Result<(SealedBatch, Vec<u8>)> {
        let RecordBatchBuilder { buf, record_count, base_timestamp, max_timestamp } = self;
        let (mut bytes, spare) = if compression == CompressionType::None {
            (buf, scratch)
        } else {
            scratch.clear();
            scratch.resize(BATCH_HEADER_LEN, 0);
            compression::compress(compression, level, &buf[BATCH_HEADER_LEN..], &mut scratch)
                .map_err(|e| e.context(format!("sealing a batch of {record_count} records")))?;
            let mut spare = buf;
            spare.clear();
            (scratch, spare)
        };
        let batch_length = bytes.len() - LOG_OVERHEAD;
        let batch_length = i32::try_from(batch_length).map_err(|_| {
            Error::new(
                ErrorKind::RecordTooLarge,
                format!("record batch of {} bytes exceeds the 2 GiB batch limit", bytes.len()),
            )
        })?;
        let h = &mut bytes[..BATCH_HEADER_LEN];
        set_bytes(h, 0, 0i64.to_be_bytes()); // baseOffset
        set_bytes(h, LOG_OVERHEAD - 4, batch_length.to_be_bytes());
        set_bytes(h, PARTITION_LEADER_EPOCH_AT, NO_PARTITION_LEADER_EPOCH.to_be_bytes());
        h[MAGIC_AT] = MAGIC as u8;
        // CreateTime (bit 3 clear); bit 4 is set with the producer state below.
        set_bytes(h, ATTRIBUTES_AT, compression.id().to_be_bytes());
        set_bytes(h, LAST_OFFSET_DELTA_AT, (record_count as i32 - 1).to_be_bytes());
        set_bytes(h, BASE_TIMESTAMP_AT, base_timestamp.to_be_bytes());
        set_bytes(h, MAX_TIMESTAMP_AT, max_timestamp.to_be_bytes());
        set_bytes(h, RECORD_COUNT_AT, (record_count as i32).to_be_bytes());
        let mut batch = SealedBatch { bytes, record_count };
        batch.set_producer_state(producer); // also writes the CRC
        Ok((batch, spare))
    }
}

/// A finished record batch: the exact bytes to put in a Produce request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedBatch {
    bytes: Vec<u8>,
    record_count: u32,
}

impl SealedBatch {
    /// Moves the batch's bytes into `into` (cleared first) and returns the batch there, with the
    /// storage it had (cleared) for reuse: a compressed batch goes back into its pooled buffer.
    pub fn relocate(self, mut into: Vec<u8>) -> (SealedBatch, Vec<u8>) {
        into.clear();
        into.extend_from_slice(&self.bytes);
        let mut old = self.bytes;
        old.clear();
        (SealedBatch { bytes: into, record_count: self.record_count }, old)
    }

    /// The batch on the wire (empty while [lent](Self::lend)).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Takes the bytes out, for a frame to write them from (see `network::frame`); the batch
    /// holds none until [`give_back`](Self::give_back).
    pub(crate) fn lend(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.bytes)
    }

    /// Puts back the bytes [`lend`](Self::lend) took.
    pub(crate) fn give_back(&mut self, bytes: Vec<u8>) {
        debug_assert!(self.bytes.is_empty(), "bytes given back to a batch that has its own");
        self.bytes = bytes;
    }

    /// Whether the bytes are lent out (a sealed batch always has at least its header).
    pub(crate) fn is_lent(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The batch's size on the wire.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the batch holds no bytes (never true: a batch has at least its header).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The buffer, for the caller to recycle.
    pub fn into_buffer(self) -> Vec<u8> {
        self.bytes
    }

    /// Records in the batch.
    pub fn record_count(&self) -> u32 {
        self.record_count
    }

    /// The codec the records were compressed with.
    pub fn compression(&self) -> CompressionType {
        // Written by `seal` from a valid type, so the id is always known.
        CompressionType::from_id(self.attributes() & COMPRESSION_CODEC_MASK).unwrap_or(CompressionType::None)
    }

    fn attributes(&self) -> i16 {
        i16::from_be_bytes(get_bytes(&self.bytes, ATTRIBUTES_AT))
    }

    /// The first record's timestamp.
    pub fn base_timestamp(&self) -> i64 {
        i64::from_be_bytes(get_bytes(&self.bytes, BASE_TIMESTAMP_AT))
    }

    /// The largest record timestamp.
    pub fn max_timestamp(&self) -> i64 {
        i64::from_be_bytes(get_bytes(&self.bytes, MAX_TIMESTAMP_AT))
    }

    /// The producer id, epoch, base sequence and transactional bit in the header.
    pub fn producer_state(&self) -> ProducerState {
        ProducerState {
            producer_id: i64::from_be_bytes(get_bytes(&self.bytes, PRODUCER_ID_AT)),
            producer_epoch: i16::from_be_bytes(get_bytes(&self.bytes, PRODUCER_EPOCH_AT)),
            base_sequence: i32::from_be_bytes(get_bytes(&self.bytes, BASE_SEQUENCE_AT)),
            transactional: self.attributes() & TRANSACTIONAL_BIT != 0,
        }
    }

    /// Rewrites producer id, epoch, base sequence and the transactional bit in place and
    /// recomputes the CRC; the (compressed) records are untouched. Used when a batch is
    /// retried under a new producer epoch or sequence.
    ///
    /// Runs on: sender thread.
    pub fn set_producer_state(&mut self, state: ProducerState) {
        let b = &mut self.bytes;
        set_bytes(b, PRODUCER_ID_AT, state.producer_id.to_be_bytes());
        set_bytes(b, PRODUCER_EPOCH_AT, state.producer_epoch.to_be_bytes());
        set_bytes(b, BASE_SEQUENCE_AT, state.base_sequence.to_be_bytes());
        let mut attributes = i16::from_be_bytes(get_bytes(b, ATTRIBUTES_AT)) & !TRANSACTIONAL_BIT;
        if state.transactional {
            attributes |= TRANSACTIONAL_BIT;
        }
        set_bytes(b, ATTRIBUTES_AT, attributes.to_be_bytes());
        write_crc(b);
    }
}

/// A record batch read back by [`decode_batches`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedBatch {
    /// baseOffset.
    pub base_offset: i64,
    /// partitionLeaderEpoch.
    pub partition_leader_epoch: i32,
    /// The raw attributes.
    pub attributes: i16,
    /// The codec from attribute bits 0–2.
    pub compression: CompressionType,
    /// lastOffsetDelta.
    pub last_offset_delta: i32,
    /// baseTimestamp.
    pub base_timestamp: i64,
    /// maxTimestamp.
    pub max_timestamp: i64,
    /// producerId.
    pub producer_id: i64,
    /// producerEpoch.
    pub producer_epoch: i16,
    /// baseSequence.
    pub base_sequence: i32,
    /// Attribute bit 4.
    pub transactional: bool,
    /// Attribute bit 5.
    pub control: bool,
    /// The records, decompressed.
    pub records: Vec<DecodedRecord>,
}

/// A record read back by [`decode_batches`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedRecord {
    /// offsetDelta.
    pub offset_delta: i32,
    /// timestampDelta.
    pub timestamp_delta: i64,
    /// The key; `None` when null.
    pub key: Option<Vec<u8>>,
    /// The value; `None` when null.
    pub value: Option<Vec<u8>>,
    /// The headers in order: key and (nullable) value.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

/// Decodes one or more concatenated v2 batches, checking magic and CRC and decompressing
/// records. Any truncation, bad length, unknown codec or trailing byte is an error (kind
/// `Protocol`, or `Compression` from the codec); nothing here panics or allocates by a length
/// that the bytes cannot back. An empty slice is zero batches.
pub fn decode_batches(bytes: &[u8]) -> Result<Vec<DecodedBatch>> {
    let mut r = Reader::new(bytes);
    let mut batches = Vec::new();
    while !r.is_empty() {
        let at = r.position();
        let batch = decode_batch(&mut r).map_err(|e| e.context(format!("batch at byte {at}")))?;
        batches.push(batch);
    }
    Ok(batches)
}

fn decode_batch(r: &mut Reader<'_>) -> Result<DecodedBatch> {
    let base_offset = r.i64()?;
    let batch_length = r.i32()?;
    let min = (BATCH_HEADER_LEN - LOG_OVERHEAD) as i32;
    if batch_length < min {
        return Err(Error::protocol(format!("batchLength {batch_length} is under {min}")));
    }
    let body = r.take(batch_length as usize, "record batch")?;
    let mut b = Reader::new(body);
    let partition_leader_epoch = b.i32()?;
    let magic = b.i8()?;
    if magic != MAGIC {
        return Err(Error::protocol(format!("record batch magic {magic}, only 2 is supported")));
    }
    let crc = b.u32()?;
    let computed = crc32c::crc32c(&body[ATTRIBUTES_AT - LOG_OVERHEAD..]);
    if crc != computed {
        return Err(Error::protocol(format!(
            "record batch CRC mismatch: header says {crc:#010x}, bytes give {computed:#010x}"
        )));
    }
    let attributes = b.i16()?;
    let compression = CompressionType::from_id(attributes & COMPRESSION_CODEC_MASK)?;
    let last_offset_delta = b.i32()?;
    let base_timestamp = b.i64()?;
    let max_timestamp = b.i64()?;
    let producer_id = b.i64()?;
    let producer_epoch = b.i16()?;
    let base_sequence = b.i32()?;
    let count = b.i32()?;
    if count < 0 {
        return Err(Error::protocol(format!("negative record count {count}")));
    }
    let packed = b.take(b.remaining(), "records")?;
    let mut unpacked = Vec::new();
    let data = if compression == CompressionType::None {
        packed
    } else {
        compression::decompress(compression, packed, &mut unpacked)?;
        &unpacked[..]
    };
    let count = count as usize;
    if count.saturating_mul(MIN_RECORD_LEN) > data.len() {
        return Err(Error::protocol(format!("{count} records cannot fit in {} bytes", data.len())));
    }
    let mut rr = Reader::new(data);
    let mut records = Vec::with_capacity(count);
    for i in 0..count {
        records.push(decode_record(&mut rr).map_err(|e| e.context(format!("record {i}")))?);
    }
    if !rr.is_empty() {
        return Err(Error::protocol(format!("{} bytes after the last of {count} records", rr.remaining())));
    }
    Ok(DecodedBatch {
        base_offset,
        partition_leader_epoch,
        attributes,
        compression,
        last_offset_delta,
        base_timestamp,
        max_timestamp,
        producer_id,
        producer_epoch,
        base_sequence,
        transactional: attributes & TRANSACTIONAL_BIT != 0,
        control: attributes & CONTROL_BIT != 0,
        records,
    })
}

/// A varint length (-1 = null) and that many bytes.
fn nullable_varint_bytes<'a>(r: &mut Reader<'a>, what: &str) -> Result<Option<&'a [u8]>> {
    match r.varint()? {
        -1 => Ok(None),
        n if n < 0 => Err(Error::protocol(format!("{what} has negative length {n}"))),
        n => r.take(n as usize, what).map(Some),
    }
}

fn decode_record(r: &mut Reader<'_>) -> Result<DecodedRecord> {
    let len = r.varint()?;
    if len < 0 {
        return Err(Error::protocol(format!("negative record length {len}")));
    }
    let body = r.take(len as usize, "record")?;
    let mut b = Reader::new(body);
    let _attributes = b.i8()?;
    let timestamp_delta = b.varlong()?;
    let offset_delta = b.varint()?;
    let key = nullable_varint_bytes(&mut b, "record key")?.map(<[u8]>::to_vec);
    let value = nullable_varint_bytes(&mut b, "record value")?.map(<[u8]>::to_vec);
    let n = b.varint()?;
    // A header takes at least 2 bytes (two lengths).
    if n < 0 || (n as usize).saturating_mul(2) > b.remaining() {
        return Err(Error::protocol(format!(
            "header count {n} cannot fit in the {} bytes that remain",
            b.remaining()
        )));
    }
    let mut headers = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let k =
            nullable_varint_bytes(&mut b, "header key")?.ok_or_else(|| Error::protocol("null header key"))?;
        let k =
            std::str::from_utf8(k).map_err(|e| Error::protocol(format!("header key is not UTF-8: {e}")))?;
        let v = nullable_varint_bytes(&mut b, "header value")?.map(<[u8]>::to_vec);
        headers.push((k.to_owned(), v));
    }
    if !b.is_empty() {
        return Err(Error::protocol(format!("record length {len} leaves {} bytes unread", b.remaining())));
    }
    Ok(DecodedRecord { offset_delta, timestamp_delta, key, value, headers })
}

#[cfg(test)]
mod tests;
