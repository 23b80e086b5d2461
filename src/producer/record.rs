//! What an application sends ([`Record`]) and what it gets back ([`RecordMetadata`]).
//!
//! A `Record` borrows its topic, key, value and headers: `send` copies them straight into a
//! batch buffer in wire format, so nothing is cloned on the way.

pub use crate::protocol::record_batch::Header;
use std::borrow::Cow;
use std::sync::Arc;

/// A record to send: topic, optional partition, key, value, headers and timestamp.
///
/// Fields borrow from the caller by default (`key`, `value`, `header`): `send` copies them once,
/// straight into a batch buffer. The `*_owned` methods take owned data instead (useful in
/// interceptors, or for values built on the spot).
///
/// ```
/// use kafka_blocking::Record;
/// let r = Record::new("orders").key("order-123").value(b"{\"qty\":1}").header("trace", b"abc");
/// assert_eq!(r.topic(), "orders");
/// assert_eq!(r.key_bytes(), Some(&b"order-123"[..]));
/// ```
#[derive(Debug, Clone)]
pub struct Record<'a> {
    pub(crate) topic: Cow<'a, str>,
    pub(crate) partition: Option<i32>,
    pub(crate) key: Option<Cow<'a, [u8]>>,
    pub(crate) value: Option<Cow<'a, [u8]>>,
    pub(crate) headers: Vec<Header<'a>>,
    pub(crate) timestamp: Option<i64>,
}

impl<'a> Record<'a> {
    /// A record for `topic` with no key, a null value, no headers, and the send time as
    /// timestamp.
    pub fn new(topic: &'a str) -> Self {
        Record {
            topic: Cow::Borrowed(topic),
            partition: None,
            key: None,
            value: None,
            headers: Vec::new(),
            timestamp: None,
        }
    }

    /// Sets the key (`&str`, `&[u8]`, `&Vec<u8>`, `&String`, ...). Keyed records without an
    /// explicit partition go to `murmur2(key) % partitions`, as in the Java client.
    pub fn key<K: AsRef<[u8]> + ?Sized>(mut self, key: &'a K) -> Self {
        self.key = Some(Cow::Borrowed(key.as_ref()));
        self
    }

    /// Sets an owned key.
    pub fn key_owned(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.key = Some(Cow::Owned(key.into()));
        self
    }

    /// Sets the value. Without this call the value is null (a tombstone on compacted topics).
    pub fn value<V: AsRef<[u8]> + ?Sized>(mut self, value: &'a V) -> Self {
        self.value = Some(Cow::Borrowed(value.as_ref()));
        self
    }

    /// Sets an owned value.
    pub fn value_owned(mut self, value: impl Into<Vec<u8>>) -> Self {
        self.value = Some(Cow::Owned(value.into()));
        self
    }

    /// Appends a header; names may repeat and order is kept.
    pub fn header<V: AsRef<[u8]> + ?Sized>(mut self, name: &'a str, value: &'a V) -> Self {
        self.headers.push(Header::new(name, Some(value.as_ref())));
        self
    }

    /// Appends a header with a null value.
    pub fn header_null(mut self, name: &'a str) -> Self {
        self.headers.push(Header::new(name, None));
        self
    }

    /// Appends a header that owns its name and value.
    pub fn header_owned(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push(Header::owned(name, Some(value.into())));
        self
    }

    /// Appends a header in place (for interceptors, which get `&mut Record`).
    pub fn push_header(&mut self, header: Header<'a>) {
        self.headers.push(header);
    }

    /// Sends to this partition instead of letting the partitioner choose.
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Sets the record's timestamp in milliseconds since the Unix epoch (CreateTime).
    pub fn timestamp(mut self, millis: i64) -> Self {
        self.timestamp = Some(millis);
        self
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The key, if any.
    pub fn key_bytes(&self) -> Option<&[u8]> {
        self.key.as_deref()
    }

    /// The value, if any.
    pub fn value_bytes(&self) -> Option<&[u8]> {
        self.value.as_deref()
    }

    /// The explicit partition, if any.
    pub fn partition_number(&self) -> Option<i32> {
        self.partition
    }

    /// The headers, in order.
    pub fn headers(&self) -> &[Header<'a>] {
        &self.headers
    }

    /// The explicit timestamp, if any.
    pub fn timestamp_millis(&self) -> Option<i64> {
        self.timestamp
    }
}

/// A topic name in a [`RecordMetadata`]: short names (nearly all) are copied inline, so that
/// making and dropping one record's metadata on the sender thread touches no shared reference
/// count; longer names share the batch's `Arc<str>`.
#[derive(Clone)]
pub(crate) enum TopicName {
    Inline { len: u8, bytes: [u8; TopicName::INLINE] },
    Shared(Arc<str>),
}

impl TopicName {
    /// Names up to this many bytes are stored inline (the enum is then 48 bytes).
    const INLINE: usize = 46;

    pub(crate) fn new(topic: &Arc<str>) -> TopicName {
        let b = topic.as_bytes();
        if b.len() <= Self::INLINE {
            let mut bytes = [0u8; Self::INLINE];
            bytes[..b.len()].copy_from_slice(b);
            TopicName::Inline { len: b.len() as u8, bytes }
        } else {
            TopicName::Shared(topic.clone())
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            // SAFETY: `bytes[..len]` is a copy of a whole `str` (see `new`), so it is UTF-8.
            TopicName::Inline { len, bytes } => unsafe {
                std::str::from_utf8_unchecked(&bytes[..*len as usize])
            },
            TopicName::Shared(s) => s,
        }
    }
}

impl PartialEq for TopicName {
    fn eq(&self, other: &TopicName) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for TopicName {}

impl std::fmt::Debug for TopicName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

/// Where a record landed: topic, partition, offset and timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    pub(crate) topic: TopicName,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) timestamp: i64,
    pub(crate) serialized_key_size: i32,
    pub(crate) serialized_value_size: i32,
}

impl RecordMetadata {
    /// The topic.
    pub fn topic(&self) -> &str {
        self.topic.as_str()
    }

    /// The partition.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// The key's size in bytes as sent, or -1 for a null key (Java's `serializedKeySize`).
    pub fn serialized_key_size(&self) -> i32 {
        self.serialized_key_size
    }

    /// The value's size in bytes as sent, or -1 for a null value (Java's `serializedValueSize`).
    pub fn serialized_value_size(&self) -> i32 {
        self.serialized_value_size
    }

    /// The offset, or -1 when `acks=0` (the broker does not answer).
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// The record's timestamp: its CreateTime, or the broker's LogAppendTime when the topic
    /// uses that.
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }
}

impl std::fmt::Display for RecordMetadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}@{}", self.topic.as_str(), self.partition, self.offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_up_to_the_inline_size_are_copied_longer_ones_shared() {
        let short: Arc<str> = "orders-eu".into();
        let t = TopicName::new(&short);
        assert!(matches!(t, TopicName::Inline { .. }));
        assert_eq!(t.as_str(), "orders-eu");
        assert_eq!(Arc::strong_count(&short), 1, "no reference taken");
        let edge: Arc<str> = "é".repeat(TopicName::INLINE / 2).into();
        assert!(matches!(TopicName::new(&edge), TopicName::Inline { .. }));
        assert_eq!(TopicName::new(&edge).as_str(), &*edge);
        let long: Arc<str> = "x".repeat(TopicName::INLINE + 1).into();
        let t = TopicName::new(&long);
        assert!(matches!(t, TopicName::Shared(_)));
        assert_eq!(t.as_str(), &*long);
        assert_eq!(t, t.clone());
        assert_eq!(format!("{t:?}"), format!("{:?}", &*long));
        assert_eq!(std::mem::size_of::<TopicName>(), 48);
    }
}
