//! DISCONNECT (section 3.14): in v5 a reason code and properties, both omitted when the
//! Remaining Length is 0 (Normal disconnection); v3 has no body.

use bytes::{BufMut, BytesMut};

use super::codec::read_reason;
use super::properties::{self, Context};
use super::wire::Reader;
use super::{DecodeError, Disconnect, Properties, ProtocolVersion, ReasonCode};

/// Section 3.14.2.1.
pub(crate) const ALLOWED: &[u8] = &[
    0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95,
    0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2,
];

pub(crate) fn decode(r: &mut Reader, version: ProtocolVersion) -> Result<Disconnect, DecodeError> {
    if !version.is_v5() || r.is_empty() {
        // v3: any body is left for `finish` to reject.
        return Ok(Disconnect::new(ReasonCode::Success));
    }
    let reason = read_reason(r, ALLOWED)?;
    let properties = if r.is_empty() {
        Properties::default()
    } else {
        properties::decode(r, Context::Disconnect)?
    };
    Ok(Disconnect {
        reason,
        properties: properties.into(),
    })
}

fn is_short(d: &Disconnect) -> bool {
    d.reason == ReasonCode::Success && d.properties.is_empty()
}

pub(crate) fn body_len(d: &Disconnect, version: ProtocolVersion) -> usize {
    if !version.is_v5() || is_short(d) {
        0
    } else {
        1 + properties::block_len(&d.properties)
    }
}

pub(crate) fn write(d: &Disconnect, version: ProtocolVersion, buf: &mut BytesMut) {
    if version.is_v5() && !is_short(d) {
        buf.put_u8(d.reason as u8);
        properties::encode(&d.properties, buf);
    }
}
