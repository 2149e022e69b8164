//! SUBACK (section 3.9): packet id, properties, one reason code per filter. v3 carries only
//! the granted QoS (0, 1, 2) or 0x80 for a failure.

use bytes::{BufMut, BytesMut};

use super::codec::{read_pid, read_reason};
use super::properties::{self, Context};
use super::wire::Reader;
use super::{DecodeError, Properties, ProtocolVersion, ReasonCode, SubAck};

/// Section 3.9.3.
pub(crate) const ALLOWED: &[u8] = &[
    0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2,
];
const ALLOWED_V3: &[u8] = &[0x00, 0x01, 0x02, 0x80];

pub(crate) fn decode(r: &mut Reader, version: ProtocolVersion) -> Result<SubAck, DecodeError> {
    let pid = read_pid(r)?;
    let (properties, allowed) = if version.is_v5() {
        (properties::decode(r, Context::SubAck)?, ALLOWED)
    } else {
        (Properties::default(), ALLOWED_V3)
    };
    let mut reasons = Vec::with_capacity(r.remaining());
    while !r.is_empty() {
        reasons.push(read_reason(r, allowed)?);
    }
    Ok(SubAck {
        pid,
        properties: properties.into(),
        reasons,
    })
}

fn v3_code(reason: ReasonCode) -> u8 {
    match reason {
        ReasonCode::Success => 0,
        ReasonCode::GrantedQoS1 => 1,
        ReasonCode::GrantedQoS2 => 2,
        _ => 0x80,
    }
}

pub(crate) fn body_len(s: &SubAck, version: ProtocolVersion) -> usize {
    let props = if version.is_v5() {
        properties::block_len(&s.properties)
    } else {
        0
    };
    2 + props + s.reasons.len()
}

pub(crate) fn write(s: &SubAck, version: ProtocolVersion, buf: &mut BytesMut) {
    buf.put_u16(s.pid.get());
    if version.is_v5() {
        properties::encode(&s.properties, buf);
        for &reason in &s.reasons {
            buf.put_u8(reason as u8);
        }
    } else {
        for &reason in &s.reasons {
            buf.put_u8(v3_code(reason));
        }
    }
}
