//! UNSUBACK (section 3.11): packet id, and in v5 properties and one reason per filter.
//! v3 carries the packet id only.

use bytes::{BufMut, BytesMut};

use super::codec::{read_pid, read_reason};
use super::properties::{self, Context};
use super::wire::Reader;
use super::{DecodeError, Props, ProtocolVersion, UnsubAck};

/// Section 3.11.3.
pub(crate) const ALLOWED: &[u8] = &[0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91];

pub(crate) fn decode(r: &mut Reader, version: ProtocolVersion) -> Result<UnsubAck, DecodeError> {
    let pid = read_pid(r)?;
    if !version.is_v5() {
        return Ok(UnsubAck {
            pid,
            properties: Props::default(),
            reasons: Vec::new(),
        });
    }
    let properties = properties::decode(r, Context::UnsubAck)?;
    let mut reasons = Vec::with_capacity(r.remaining());
    while !r.is_empty() {
        reasons.push(read_reason(r, ALLOWED)?);
    }
    Ok(UnsubAck {
        pid,
        properties: properties.into(),
        reasons,
    })
}

pub(crate) fn body_len(u: &UnsubAck, version: ProtocolVersion) -> usize {
    if version.is_v5() {
        2 + properties::block_len(&u.properties) + u.reasons.len()
    } else {
        2
    }
}

pub(crate) fn write(u: &UnsubAck, version: ProtocolVersion, buf: &mut BytesMut) {
    buf.put_u16(u.pid.get());
    if version.is_v5() {
        properties::encode(&u.properties, buf);
        for &reason in &u.reasons {
            buf.put_u8(reason as u8);
        }
    }
}
