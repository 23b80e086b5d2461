//! Serializers (Java's `key.serializer` / `value.serializer`) and a typed producer front.
//!
//! A [`Serializer`] turns a `T` into bytes, appending to a buffer. [`TypedProducer`] serializes
//! key and value into per-thread scratch buffers and hands the bytes to [`Producer::send`], which
//! copies them into a batch: no allocation per record once the scratch buffers have grown.
//!
//! ```no_run
//! use kafka_blocking::producer::serializer::{StringSerializer, TypedProducer, TypedRecord, I64Serializer};
//! use kafka_blocking::{Producer, ProducerConfig};
//!
//! let producer = Producer::new(ProducerConfig::new().bootstrap_servers("localhost:9092"))?;
//! let orders: TypedProducer<i64, str, _, _> = TypedProducer::new(producer, I64Serializer, StringSerializer);
//! let meta = orders.send(TypedRecord::new("orders").key(&123).value("{\"qty\":1}"))?.wait()?;
//! # Ok::<(), kafka_blocking::Error>(())
//! ```

use super::record::{Header, Record};
use super::{Producer, SendFuture};
use crate::error::{Error, Result};
use std::cell::RefCell;
use std::marker::PhantomData;

/// Turns a value into bytes.
pub trait Serializer<T: ?Sized>: Send + Sync {
    /// Appends the bytes for `data` (sent to `topic`) to `out`.
    fn serialize(&self, topic: &str, data: &T, out: &mut Vec<u8>) -> Result<()>;
}

/// Bytes as they are (Java's `ByteArraySerializer`).
#[derive(Debug, Clone, Copy, Default)]
pub struct BytesSerializer;

impl<T: AsRef<[u8]> + ?Sized> Serializer<T> for BytesSerializer {
    fn serialize(&self, _topic: &str, data: &T, out: &mut Vec<u8>) -> Result<()> {
        out.extend_from_slice(data.as_ref());
        Ok(())
    }
}

/// Strings as UTF-8 (Java's `StringSerializer` with its default encoding).
#[derive(Debug, Clone, Copy, Default)]
pub struct StringSerializer;

impl<T: AsRef<str> + ?Sized> Serializer<T> for StringSerializer {
    fn serialize(&self, _topic: &str, data: &T, out: &mut Vec<u8>) -> Result<()> {
        out.extend_from_slice(data.as_ref().as_bytes());
        Ok(())
    }
}

macro_rules! big_endian_serializer {
    ($(#[$doc:meta] $name:ident $ty:ty;)*) => {$(
        #[$doc]
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $name;

        impl Serializer<$ty> for $name {
            fn serialize(&self, _topic: &str, data: &$ty, out: &mut Vec<u8>) -> Result<()> {
                out.extend_from_slice(&data.to_be_bytes());
                Ok(())
            }
        }
    )*};
}

big_endian_serializer! {
    /// `i16`, 2 bytes big-endian (Java's `ShortSerializer`).
    I16Serializer i16;
    /// `i32`, 4 bytes big-endian (Java's `IntegerSerializer`).
    I32Serializer i32;
    /// `i64`, 8 bytes big-endian (Java's `LongSerializer`).
    I64Serializer i64;
    /// `f32`, IEEE 754 big-endian (Java's `FloatSerializer`).
    F32Serializer f32;
    /// `f64`, IEEE 754 big-endian (Java's `DoubleSerializer`).
    F64Serializer f64;
}

/// A record with typed key and value, for [`TypedProducer`].
#[derive(Debug)]
pub struct TypedRecord<'a, K: ?Sized, V: ?Sized> {
    topic: &'a str,
    key: Option<&'a K>,
    value: Option<&'a V>,
    headers: Vec<Header<'a>>,
    partition: Option<i32>,
    timestamp: Option<i64>,
}

impl<'a, K: ?Sized, V: ?Sized> TypedRecord<'a, K, V> {
    /// A record for `topic` with no key and a null value.
    pub fn new(topic: &'a str) -> Self {
        TypedRecord { topic, key: None, value: None, headers: Vec::new(), partition: None, timestamp: None }
    }
    /// Sets the key.
    pub fn key(mut self, key: &'a K) -> Self {
        self.key = Some(key);
        self
    }
    /// Sets the value.
    pub fn value(mut self, value: &'a V) -> Self {
        self.value = Some(value);
        self
    }
    /// Appends a header.
    pub fn header<H: AsRef<[u8]> + ?Sized>(mut self, name: &'a str, value: &'a H) -> Self {
        self.headers.push(Header::new(name, Some(value.as_ref())));
        self
    }
    /// Sends to this partition.
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }
    /// Sets the timestamp (ms since the epoch).
    pub fn timestamp(mut self, millis: i64) -> Self {
        self.timestamp = Some(millis);
        self
    }
}

/// A [`Producer`] that serializes typed keys and values.
pub struct TypedProducer<K: ?Sized, V: ?Sized, KS, VS> {
    producer: Producer,
    key_serializer: KS,
    value_serializer: VS,
    _types: PhantomData<fn(&K, &V)>,
}

thread_local! {
    static SCRATCH: RefCell<(Vec<u8>, Vec<u8>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

impl<K: ?Sized, V: ?Sized, KS: Serializer<K>, VS: Serializer<V>> TypedProducer<K, V, KS, VS> {
    /// Wraps `producer` with the two serializers.
    pub fn new(producer: Producer, key_serializer: KS, value_serializer: VS) -> Self {
        TypedProducer { producer, key_serializer, value_serializer, _types: PhantomData }
    }

    /// The untyped producer underneath (for `flush`, `close`, ...).
    pub fn producer(&self) -> &Producer {
        &self.producer
    }

    /// Serializes the key and value and sends the record (see [`Producer::send`]). A
    /// serializer's error is returned as `ErrorKind::Serialization` naming the topic.
    pub fn send(&self, record: TypedRecord<'_, K, V>) -> Result<SendFuture> {
        SCRATCH.with(|cell| {
            // A serializer that sends through this producer would re-enter: use fresh buffers then.
            let mut fresh = (Vec::new(), Vec::new());
            let mut guard = cell.try_borrow_mut().ok();
            let (kbuf, vbuf) = match guard.as_deref_mut() {
                Some(bufs) => (&mut bufs.0, &mut bufs.1),
                None => (&mut fresh.0, &mut fresh.1),
            };
            kbuf.clear();
            vbuf.clear();
            let topic = record.topic;
            let ser = |what: &str, e: Error| {
                Error::new(
                    crate::ErrorKind::Serialization,
                    format!("serializing the {what} for topic '{topic}': {e}"),
                )
            };
            let kind = crate::ErrorKind::Serialization;
            if let Some(k) = record.key {
                crate::error::catch_user_panic(
                    kind,
                    format_args!("the key serializer for topic '{topic}'"),
                    || self.key_serializer.serialize(topic, k, kbuf),
                )?
                .map_err(|e| ser("key", e))?;
            }
            if let Some(v) = record.value {
                crate::error::catch_user_panic(
                    kind,
                    format_args!("the value serializer for topic '{topic}'"),
                    || self.value_serializer.serialize(topic, v, vbuf),
                )?
                .map_err(|e| ser("value", e))?;
            }
            let mut r = Record::new(topic);
            if record.key.is_some() {
                r = r.key(&kbuf[..]);
            }
            if record.value.is_some() {
                r = r.value(&vbuf[..]);
            }
            r.headers = record.headers;
            r.partition = record.partition;
            r.timestamp = record.timestamp;
            self.producer.send(r)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ser<T: ?Sized, S: Serializer<T>>(s: S, v: &T) -> Vec<u8> {
        let mut out = Vec::new();
        s.serialize("t", v, &mut out).unwrap();
        out
    }

    #[test]
    fn java_compatible_encodings() {
        assert_eq!(ser(I32Serializer, &1), [0, 0, 0, 1]);
        assert_eq!(ser(I64Serializer, &-2), [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]);
        assert_eq!(ser(I16Serializer, &0x0102), [1, 2]);
        assert_eq!(ser(F64Serializer, &1.0), 1.0f64.to_bits().to_be_bytes());
        assert_eq!(ser(F32Serializer, &-0.5), (-0.5f32).to_bits().to_be_bytes());
        assert_eq!(ser(StringSerializer, "héllo"), "héllo".as_bytes());
        assert_eq!(ser(StringSerializer, &String::from("x")), b"x");
        assert_eq!(ser(BytesSerializer, &[1u8, 2][..]), [1, 2]);
        assert_eq!(ser(BytesSerializer, &vec![3u8]), [3]);
    }
}
