//! Kafka protocol primitive types: fixed-width integers (big-endian), unsigned varints,
//! zigzag varints/varlongs, UUIDs, (nullable) strings and bytes in their classic (int16/int32
//! length) and compact (unsigned varint length + 1) forms, arrays, and tagged fields.
//!
//! Encoding appends to a caller's `Vec<u8>` through the [`Encoder`] trait. Decoding reads from
//! a byte slice through [`Reader`], which checks every length against what remains before
//! taking or allocating, and returns [`Error`] (kind `Protocol`) on truncation or bad values.
//! Nothing here panics on wire data.
//!
//! Reference: <https://kafka.apache.org/protocol#protocol_types>.
//!
//! Runs on: any thread (pure functions).

use crate::error::{Error, Result};

/// A 16-byte Kafka UUID (topic ids). All zeros is the "null" UUID.
pub type Uuid = [u8; 16];

/// Appends protocol primitives to a buffer.
pub trait Encoder {
    /// INT8.
    fn put_i8(&mut self, v: i8);
    /// INT16, big-endian.
    fn put_i16(&mut self, v: i16);
    /// INT32, big-endian.
    fn put_i32(&mut self, v: i32);
    /// INT64, big-endian.
    fn put_i64(&mut self, v: i64);
    /// UINT32, big-endian.
    fn put_u32(&mut self, v: u32);
    /// BOOLEAN.
    fn put_bool(&mut self, v: bool);
    /// UNSIGNED_VARINT (LEB128, 1–5 bytes).
    fn put_uvarint(&mut self, v: u32);
    /// VARINT (zigzag then LEB128).
    fn put_varint(&mut self, v: i32);
    /// VARLONG (zigzag then LEB128, 1–10 bytes).
    fn put_varlong(&mut self, v: i64);
    /// UUID.
    fn put_uuid(&mut self, v: &Uuid);
    /// STRING / NULLABLE_STRING (int16 length, -1 for null).
    fn put_string(&mut self, v: Option<&str>);
    /// COMPACT_STRING / COMPACT_NULLABLE_STRING (uvarint length+1, 0 for null).
    fn put_compact_string(&mut self, v: Option<&str>);
    /// STRING or COMPACT_STRING depending on `flexible`.
    fn put_str_v(&mut self, v: Option<&str>, flexible: bool) {
        if flexible {
            self.put_compact_string(v)
        } else {
            self.put_string(v)
        }
    }
    /// BYTES / NULLABLE_BYTES (int32 length, -1 for null).
    fn put_bytes(&mut self, v: Option<&[u8]>);
    /// COMPACT_BYTES / COMPACT_NULLABLE_BYTES (uvarint length+1, 0 for null).
    fn put_compact_bytes(&mut self, v: Option<&[u8]>);
    /// BYTES or COMPACT_BYTES depending on `flexible`.
    fn put_bytes_v(&mut self, v: Option<&[u8]>, flexible: bool) {
        if flexible {
            self.put_compact_bytes(v)
        } else {
            self.put_bytes(v)
        }
    }
    /// An array length: int32 (-1 for null) or, when `flexible`, uvarint length+1 (0 for null).
    fn put_array_len(&mut self, len: Option<usize>, flexible: bool);
    /// An empty tagged-field section (uvarint 0).
    fn put_empty_tagged_fields(&mut self) {
        self.put_uvarint(0)
    }
}

impl Encoder for Vec<u8> {
    #[inline]
    fn put_i8(&mut self, v: i8) {
        self.push(v as u8);
    }
    #[inline]
    fn put_i16(&mut self, v: i16) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    #[inline]
    fn put_i32(&mut self, v: i32) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    #[inline]
    fn put_i64(&mut self, v: i64) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    #[inline]
    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    #[inline]
    fn put_bool(&mut self, v: bool) {
        self.push(v as u8);
    }
    #[inline]
    fn put_uvarint(&mut self, mut v: u32) {
        while v >= 0x80 {
            self.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.push(v as u8);
    }
    #[inline]
    fn put_varint(&mut self, v: i32) {
        self.put_uvarint(((v << 1) ^ (v >> 31)) as u32);
    }
    #[inline]
    fn put_varlong(&mut self, v: i64) {
        let mut z = ((v << 1) ^ (v >> 63)) as u64;
        while z >= 0x80 {
            self.push((z as u8) | 0x80);
            z >>= 7;
        }
        self.push(z as u8);
    }
    fn put_uuid(&mut self, v: &Uuid) {
        self.extend_from_slice(v);
    }
    fn put_string(&mut self, v: Option<&str>) {
        match v {
            None => self.put_i16(-1),
            Some(s) => {
                debug_assert!(s.len() <= i16::MAX as usize);
                self.put_i16(s.len() as i16);
                self.extend_from_slice(s.as_bytes());
            }
        }
    }
    fn put_compact_string(&mut self, v: Option<&str>) {
        self.put_compact_bytes(v.map(str::as_bytes));
    }
    fn put_bytes(&mut self, v: Option<&[u8]>) {
        match v {
            None => self.put_i32(-1),
            Some(b) => {
                self.put_i32(b.len() as i32);
                self.extend_from_slice(b);
            }
        }
    }
    fn put_compact_bytes(&mut self, v: Option<&[u8]>) {
        match v {
            None => self.put_uvarint(0),
            Some(b) => {
                self.put_uvarint(b.len() as u32 + 1);
                self.extend_from_slice(b);
            }
        }
    }
    fn put_array_len(&mut self, len: Option<usize>, flexible: bool) {
        match (len, flexible) {
            (None, false) => self.put_i32(-1),
            (Some(n), false) => self.put_i32(n as i32),
            (None, true) => self.put_uvarint(0),
            (Some(n), true) => self.put_uvarint(n as u32 + 1),
        }
    }
}

/// Number of bytes `put_uvarint(v)` writes.
#[inline]
pub fn uvarint_len(v: u32) -> usize {
    match v {
        0..=0x7f => 1,
        0x80..=0x3fff => 2,
        0x4000..=0x1f_ffff => 3,
        0x20_0000..=0xfff_ffff => 4,
        _ => 5,
    }
}

/// Number of bytes `put_varint(v)` writes.
#[inline]
pub fn varint_len(v: i32) -> usize {
    uvarint_len(((v << 1) ^ (v >> 31)) as u32)
}

/// Number of bytes `put_varlong(v)` writes.
#[inline]
pub fn varlong_len(v: i64) -> usize {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    let mut n = 1;
    while z >= 0x80 {
        z >>= 7;
        n += 1;
    }
    n
}

/// A cursor over bytes received from a peer. Every read checks bounds.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Offset of the next byte to read.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Whether everything was read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    fn truncated(&self, need: usize, what: &str) -> Error {
        Error::protocol(format!(
            "truncated {what}: need {need} bytes at offset {}, only {} remain",
            self.pos,
            self.remaining()
        ))
    }

    /// Takes the next `n` bytes.
    pub fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.truncated(n, what));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// INT8.
    pub fn i8(&mut self) -> Result<i8> {
        Ok(self.array::<1>("int8")?[0] as i8)
    }
    /// INT16.
    pub fn i16(&mut self) -> Result<i16> {
        Ok(i16::from_be_bytes(self.array("int16")?))
    }
    /// INT32.
    pub fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_be_bytes(self.array("int32")?))
    }
    /// INT64.
    pub fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_be_bytes(self.array("int64")?))
    }
    /// UINT32.
    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array("uint32")?))
    }
    /// BOOLEAN (any non-zero byte is true).
    pub fn bool(&mut self) -> Result<bool> {
        Ok(self.array::<1>("boolean")?[0] != 0)
    }
    /// UUID.
    pub fn uuid(&mut self) -> Result<Uuid> {
        self.array("uuid")
    }

    /// UNSIGNED_VARINT; more than 5 bytes or a value over 32 bits is an error.
    pub fn uvarint(&mut self) -> Result<u32> {
        let mut v: u64 = 0;
        for i in 0..5 {
            let b = self.array::<1>("unsigned varint")?[0];
            v |= ((b & 0x7f) as u64) << (7 * i);
            if b & 0x80 == 0 {
                return u32::try_from(v)
                    .map_err(|_| Error::protocol(format!("unsigned varint {v} overflows 32 bits")));
            }
        }
        Err(Error::protocol(format!("unsigned varint longer than 5 bytes at offset {}", self.pos)))
    }

    /// VARINT (zigzag).
    pub fn varint(&mut self) -> Result<i32> {
        let z = self.uvarint()?;
        Ok(((z >> 1) as i32) ^ -((z & 1) as i32))
    }

    /// VARLONG (zigzag, up to 10 bytes).
    pub fn varlong(&mut self) -> Result<i64> {
        let mut z: u64 = 0;
        for i in 0..10 {
            let b = self.array::<1>("varlong")?[0];
            if i == 9 && b > 1 {
                return Err(Error::protocol("varlong overflows 64 bits"));
            }
            z |= ((b & 0x7f) as u64) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(((z >> 1) as i64) ^ -((z & 1) as i64));
            }
        }
        Err(Error::protocol(format!("varlong longer than 10 bytes at offset {}", self.pos)))
    }

    fn utf8(bytes: &'a [u8], what: &str) -> Result<&'a str> {
        std::str::from_utf8(bytes).map_err(|e| Error::protocol(format!("{what} is not UTF-8: {e}")))
    }

    /// NULLABLE_STRING (int16 length, -1 for null).
    pub fn nullable_string(&mut self) -> Result<Option<&'a str>> {
        let n = self.i16()?;
        match n {
            -1 => Ok(None),
            n if n < 0 => Err(Error::protocol(format!("negative string length {n}"))),
            n => Self::utf8(self.take(n as usize, "string")?, "string").map(Some),
        }
    }

    /// STRING (non-null).
    pub fn string(&mut self) -> Result<&'a str> {
        self.nullable_string()?.ok_or_else(|| Error::protocol("null where a string is required"))
    }

    /// COMPACT_NULLABLE_STRING.
    pub fn compact_nullable_string(&mut self) -> Result<Option<&'a str>> {
        match self.compact_nullable_bytes()? {
            None => Ok(None),
            Some(b) => Self::utf8(b, "compact string").map(Some),
        }
    }

    /// COMPACT_STRING (non-null).
    pub fn compact_string(&mut self) -> Result<&'a str> {
        self.compact_nullable_string()?
            .ok_or_else(|| Error::protocol("null where a compact string is required"))
    }

    /// A nullable string in the classic or compact form.
    pub fn nullable_str_v(&mut self, flexible: bool) -> Result<Option<&'a str>> {
        if flexible {
            self.compact_nullable_string()
        } else {
            self.nullable_string()
        }
    }

    /// A non-null string in the classic or compact form.
    pub fn str_v(&mut self, flexible: bool) -> Result<&'a str> {
        if flexible {
            self.compact_string()
        } else {
            self.string()
        }
    }

    /// NULLABLE_BYTES (int32 length, -1 for null).
    pub fn nullable_bytes(&mut self) -> Result<Option<&'a [u8]>> {
        let n = self.i32()?;
        match n {
            -1 => Ok(None),
            n if n < 0 => Err(Error::protocol(format!("negative bytes length {n}"))),
            n => self.take(n as usize, "bytes").map(Some),
        }
    }

    /// COMPACT_NULLABLE_BYTES.
    pub fn compact_nullable_bytes(&mut self) -> Result<Option<&'a [u8]>> {
        match self.uvarint()? {
            0 => Ok(None),
            n => self.take((n - 1) as usize, "compact bytes").map(Some),
        }
    }

    /// Nullable bytes in the classic or compact form.
    pub fn nullable_bytes_v(&mut self, flexible: bool) -> Result<Option<&'a [u8]>> {
        if flexible {
            self.compact_nullable_bytes()
        } else {
            self.nullable_bytes()
        }
    }

    /// An array length (None for a null array). The length is checked against the bytes that
    /// remain, assuming each element takes at least `min_element_size` bytes, so a hostile
    /// length cannot make the caller allocate.
    pub fn array_len(&mut self, flexible: bool, min_element_size: usize) -> Result<Option<usize>> {
        let n: i64 = if flexible { self.uvarint()? as i64 - 1 } else { self.i32()? as i64 };
        if n == -1 {
            return Ok(None);
        }
        if n < 0 {
            return Err(Error::protocol(format!("negative array length {n}")));
        }
        let n = n as usize;
        if n.saturating_mul(min_element_size.max(1)) > self.remaining() {
            return Err(Error::protocol(format!(
                "array of {n} elements cannot fit in the {} bytes that remain",
                self.remaining()
            )));
        }
        Ok(Some(n))
    }

    /// Skips a tagged-field section (flexible versions), returning how many fields it had.
    pub fn skip_tagged_fields(&mut self) -> Result<u32> {
        let n = self.uvarint()?;
        for _ in 0..n {
            let _tag = self.uvarint()?;
            let size = self.uvarint()?;
            self.take(size as usize, "tagged field")?;
        }
        Ok(n)
    }

    /// Reads a tagged-field section, calling `f(tag, data)` for each field.
    pub fn tagged_fields(&mut self, mut f: impl FnMut(u32, &'a [u8]) -> Result<()>) -> Result<()> {
        let n = self.uvarint()?;
        for _ in 0..n {
            let tag = self.uvarint()?;
            let size = self.uvarint()?;
            let data = self.take(size as usize, "tagged field")?;
            f(tag, data)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enc(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut v = Vec::new();
        f(&mut v);
        v
    }

    // Golden bytes, worked out by hand from the protocol guide.
    #[test]
    fn golden_fixed_width_is_big_endian() {
        assert_eq!(enc(|b| b.put_i16(0x0102)), [0x01, 0x02]);
        assert_eq!(enc(|b| b.put_i32(-2)), [0xff, 0xff, 0xff, 0xfe]);
        assert_eq!(enc(|b| b.put_i64(1)), [0, 0, 0, 0, 0, 0, 0, 1]);
    }

    #[test]
    fn golden_varints() {
        // 300 = 0b1_0010_1100 -> low 7 bits 0x2c with continuation, then 0x02.
        assert_eq!(enc(|b| b.put_uvarint(300)), [0xac, 0x02]);
        // zigzag: 0->0, -1->1, 1->2, -2->3, 63->126, -64->127, 64->128 (two bytes)
        assert_eq!(enc(|b| b.put_varint(0)), [0x00]);
        assert_eq!(enc(|b| b.put_varint(-1)), [0x01]);
        assert_eq!(enc(|b| b.put_varint(1)), [0x02]);
        assert_eq!(enc(|b| b.put_varint(-64)), [0x7f]);
        assert_eq!(enc(|b| b.put_varint(64)), [0x80, 0x01]);
        // i32::MIN zigzags to u32::MAX: five bytes 0xff 0xff 0xff 0xff 0x0f.
        assert_eq!(enc(|b| b.put_varint(i32::MIN)), [0xff, 0xff, 0xff, 0xff, 0x0f]);
        // i64::MIN zigzags to u64::MAX: nine 0xff then 0x01.
        let mut want = vec![0xff; 9];
        want.push(0x01);
        assert_eq!(enc(|b| b.put_varlong(i64::MIN)), want);
    }

    #[test]
    fn golden_strings_and_bytes() {
        assert_eq!(enc(|b| b.put_string(Some("ab"))), [0x00, 0x02, b'a', b'b']);
        assert_eq!(enc(|b| b.put_string(None)), [0xff, 0xff]);
        assert_eq!(enc(|b| b.put_compact_string(Some("ab"))), [0x03, b'a', b'b']);
        assert_eq!(enc(|b| b.put_compact_string(None)), [0x00]);
        assert_eq!(enc(|b| b.put_bytes(Some(&[7]))), [0, 0, 0, 1, 7]);
        assert_eq!(enc(|b| b.put_bytes(None)), [0xff, 0xff, 0xff, 0xff]);
        assert_eq!(enc(|b| b.put_compact_bytes(Some(&[]))), [0x01]);
        assert_eq!(enc(|b| b.put_array_len(Some(2), true)), [0x03]);
        assert_eq!(enc(|b| b.put_array_len(None, false)), [0xff, 0xff, 0xff, 0xff]);
    }

    #[test]
    fn lengths_match_encoders() {
        for v in [0, 1, -1, 63, 64, -65, 8191, 8192, i32::MAX, i32::MIN] {
            assert_eq!(varint_len(v), enc(|b| b.put_varint(v)).len(), "{v}");
        }
        for v in [0u32, 127, 128, 16383, 16384, u32::MAX] {
            assert_eq!(uvarint_len(v), enc(|b| b.put_uvarint(v)).len(), "{v}");
        }
        for v in [0i64, -1, 1 << 40, i64::MAX, i64::MIN] {
            assert_eq!(varlong_len(v), enc(|b| b.put_varlong(v)).len(), "{v}");
        }
    }

    #[test]
    fn truncation_is_an_error_not_a_panic() {
        let mut r = Reader::new(&[0x00, 0x05, b'a']);
        let e = r.string().unwrap_err();
        assert!(e.to_string().contains("truncated string"), "{e}");
        assert!(Reader::new(&[0x80, 0x80]).uvarint().is_err());
        assert!(Reader::new(&[0xff; 6]).uvarint().is_err());
        assert!(Reader::new(&[0xff; 11]).varlong().is_err());
        assert!(Reader::new(&[0x00, 0x00]).i32().is_err());
    }

    #[test]
    fn huge_lengths_fail_without_allocating() {
        // i32::MAX bytes length with nothing behind it.
        let mut r = Reader::new(&[0x7f, 0xff, 0xff, 0xff]);
        assert!(r.nullable_bytes().is_err());
        let mut r = Reader::new(&[0x7f, 0xff, 0xff, 0xff]);
        let e = r.array_len(false, 4).unwrap_err();
        assert!(e.to_string().contains("cannot fit"), "{e}");
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff, 0x07]);
        assert!(r.array_len(true, 1).is_err());
    }

    #[test]
    fn tagged_fields_are_skipped() {
        // two fields: tag 0 size 1 [9], tag 5 size 2 [1 2]; then an int8 7.
        let b = [0x02, 0x00, 0x01, 0x09, 0x05, 0x02, 0x01, 0x02, 0x07];
        let mut r = Reader::new(&b);
        assert_eq!(r.skip_tagged_fields().unwrap(), 2);
        assert_eq!(r.i8().unwrap(), 7);
        assert!(r.is_empty());
    }

    proptest! {
        #[test]
        fn varint_round_trip(v: i32) {
            let b = enc(|b| b.put_varint(v));
            let mut r = Reader::new(&b);
            prop_assert_eq!(r.varint().unwrap(), v);
            prop_assert!(r.is_empty());
        }

        #[test]
        fn varlong_round_trip(v: i64) {
            let b = enc(|b| b.put_varlong(v));
            let mut r = Reader::new(&b);
            prop_assert_eq!(r.varlong().unwrap(), v);
            prop_assert!(r.is_empty());
        }

        #[test]
        fn uvarint_round_trip(v: u32) {
            let b = enc(|b| b.put_uvarint(v));
            prop_assert_eq!(Reader::new(&b).uvarint().unwrap(), v);
        }

        #[test]
        fn strings_round_trip(s in ".{0,40}", compact: bool) {
            let b = enc(|b| b.put_str_v(Some(&s), compact));
            let mut r = Reader::new(&b);
            prop_assert_eq!(r.str_v(compact).unwrap(), s.as_str());
        }

        #[test]
        fn reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut r = Reader::new(&bytes);
            let _ = r.compact_nullable_string();
            let _ = r.skip_tagged_fields();
            let _ = r.array_len(true, 1);
            let _ = r.varlong();
            let _ = r.nullable_bytes();
        }
    }
}
