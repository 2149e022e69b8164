//! Wire primitives (section 1.5): big-endian integers, Variable Byte Integers, length-prefixed
//! UTF-8 strings and binary data. Reading slices `Bytes` out of the packet (zero copy);
//! writing appends straight into the output buffer.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::{ByteStr, DecodeError};

/// The largest value a Variable Byte Integer can carry (four bytes).
pub(crate) const VARINT_MAX: u32 = 268_435_455;

const PAST_END: DecodeError = DecodeError::Malformed("a field runs past the end of the packet");

/// A cursor over one packet's body. Every read checks the remaining length, so a field
/// running past the end is `Malformed`, never a panic.
pub(crate) struct Reader {
    buf: Bytes,
}

impl Reader {
    pub(crate) fn new(buf: Bytes) -> Self {
        Self { buf }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Fails with `Malformed` when bytes are left over: the Remaining Length said the packet
    /// was longer than its fields.
    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::Malformed(
                "Remaining Length longer than the packet's fields",
            ))
        }
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        if self.buf.is_empty() {
            return Err(PAST_END);
        }
        Ok(self.buf.get_u8())
    }

    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        if self.buf.len() < 2 {
            return Err(PAST_END);
        }
        Ok(self.buf.get_u16())
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        if self.buf.len() < 4 {
            return Err(PAST_END);
        }
        Ok(self.buf.get_u32())
    }

    /// A Variable Byte Integer inside a packet body (property lengths, identifiers, values).
    pub(crate) fn varint(&mut self) -> Result<u32, DecodeError> {
        match read_varint(&self.buf)? {
            Some((value, n)) => {
                self.buf.advance(n);
                Ok(value)
            }
            None => Err(PAST_END),
        }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<Bytes, DecodeError> {
        if self.buf.len() < n {
            return Err(PAST_END);
        }
        Ok(self.buf.split_to(n))
    }

    /// Everything left (a PUBLISH payload).
    pub(crate) fn rest(&mut self) -> Bytes {
        std::mem::take(&mut self.buf)
    }

    /// Binary Data: a two-byte length then that many bytes (section 1.5.6).
    pub(crate) fn binary(&mut self) -> Result<Bytes, DecodeError> {
        let len = self.u16()?;
        self.take(usize::from(len))
    }

    /// UTF-8 Encoded String (section 1.5.4): well-formed UTF-8 [MQTT-1.5.4-1] (Rust's
    /// validation also rejects the surrogates) and no U+0000 [MQTT-1.5.4-2].
    pub(crate) fn string(&mut self) -> Result<ByteStr, DecodeError> {
        let raw = self.binary()?;
        if raw.contains(&0) {
            return Err(DecodeError::Malformed(
                "[MQTT-1.5.4-2] U+0000 in a UTF-8 string",
            ));
        }
        ByteStr::try_from(raw)
            .map_err(|_| DecodeError::Malformed("[MQTT-1.5.4-1] ill-formed UTF-8 string"))
    }
}

/// Reads a Variable Byte Integer from the front of `buf`: `Ok(None)` when it is incomplete,
/// `Ok(Some((value, bytes used)))`, or `Malformed` when it runs past four bytes.
/// Non-minimal encodings ([MQTT-1.5.5-1] binds the sender) are accepted, as other brokers do.
pub(crate) fn read_varint(buf: &[u8]) -> Result<Option<(u32, usize)>, DecodeError> {
    let mut value: u32 = 0;
    for (i, &byte) in buf.iter().enumerate() {
        if i == 4 {
            break;
        }
        value |= u32::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some((value, i + 1)));
        }
    }
    if buf.len() >= 4 {
        Err(DecodeError::Malformed(
            "Variable Byte Integer longer than four bytes (section 1.5.5)",
        ))
    } else {
        Ok(None)
    }
}

/// Bytes needed to encode `value` as a Variable Byte Integer.
pub(crate) fn varint_len(value: usize) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Writes a Variable Byte Integer. Values above [`VARINT_MAX`] cannot be represented; the
/// caller keeps packets under the maximum size, and we write the low 28 bits so the length
/// still matches [`varint_len`].
pub(crate) fn put_varint(buf: &mut BytesMut, value: usize) {
    debug_assert!(
        value <= VARINT_MAX as usize,
        "Variable Byte Integer overflow"
    );
    let mut v = value;
    for _ in 0..4 {
        #[expect(clippy::cast_possible_truncation, reason = "masked to seven bits")]
        let mut byte = (v & 0x7F) as u8;
        v >>= 7;
        if v > 0 {
            byte |= 0x80;
        }
        buf.put_u8(byte);
        if v == 0 {
            return;
        }
    }
}

/// Strings and binary fields longer than 65,535 bytes cannot be encoded; the encoder writes
/// the first 65,535 bytes so framing stays intact. Callers validate lengths before this.
fn clamp(bytes: &[u8]) -> &[u8] {
    &bytes[..bytes.len().min(usize::from(u16::MAX))]
}

/// Encoded size of a string or binary field: two length bytes plus the data.
pub(crate) fn bin_len(bytes: &[u8]) -> usize {
    2 + clamp(bytes).len()
}

/// Writes a length-prefixed string or binary field.
pub(crate) fn put_bin(buf: &mut BytesMut, bytes: &[u8]) {
    let data = clamp(bytes);
    #[expect(clippy::cast_possible_truncation, reason = "clamped to u16::MAX above")]
    buf.put_u16(data.len() as u16);
    buf.put_slice(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_spec_boundaries() {
        // Table from section 1.5.5.
        let table: [(usize, &[u8]); 8] = [
            (0, &[0x00]),
            (127, &[0x7F]),
            (128, &[0x80, 0x01]),
            (16_383, &[0xFF, 0x7F]),
            (16_384, &[0x80, 0x80, 0x01]),
            (2_097_151, &[0xFF, 0xFF, 0x7F]),
            (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
            (268_435_455, &[0xFF, 0xFF, 0xFF, 0x7F]),
        ];
        for (value, bytes) in table {
            let mut buf = BytesMut::new();
            put_varint(&mut buf, value);
            assert_eq!(&buf[..], bytes, "{value}");
            assert_eq!(varint_len(value), bytes.len());
            let got = read_varint(bytes).expect("valid").expect("complete");
            assert_eq!(got, (u32::try_from(value).expect("fits"), bytes.len()));
        }
    }

    #[test]
    fn varint_incomplete_and_too_long() {
        assert_eq!(read_varint(&[]), Ok(None));
        assert_eq!(read_varint(&[0x80, 0x80, 0x80]), Ok(None));
        assert!(matches!(
            read_varint(&[0x80, 0x80, 0x80, 0x80, 0x01]),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn strings_reject_nul_and_bad_utf8() {
        let mut r = Reader::new(Bytes::from_static(&[0, 3, b'a', 0, b'b']));
        assert_eq!(
            r.string(),
            Err(DecodeError::Malformed(
                "[MQTT-1.5.4-2] U+0000 in a UTF-8 string"
            ))
        );
        // An encoded surrogate (U+D800) is ill-formed UTF-8.
        let mut r = Reader::new(Bytes::from_static(&[0, 3, 0xED, 0xA0, 0x80]));
        assert_eq!(
            r.string(),
            Err(DecodeError::Malformed(
                "[MQTT-1.5.4-1] ill-formed UTF-8 string"
            ))
        );
        let mut r = Reader::new(Bytes::from_static(&[0, 4, b'a']));
        assert_eq!(r.string(), Err(PAST_END));
    }
}
