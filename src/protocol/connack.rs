//! CONNACK (section 3.2): acknowledge flags, the reason (v3: return code) and properties.

use bytes::{BufMut, BytesMut};

use super::codec::read_reason;
use super::properties::{self, Context};
use super::wire::Reader;
use super::{ConnAck, DecodeError, Props, ProtocolVersion, ReasonCode};

/// Reason codes a v5 CONNACK may carry (section 3.2.2.2).
pub(crate) const ALLOWED: &[u8] = &[
    0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97,
    0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F,
];

/// The v3 return codes 0..=5 (3.1.1 section 3.2.2.3).
fn from_return_code(code: u8) -> Result<ReasonCode, DecodeError> {
    Ok(match code {
        0 => ReasonCode::Success,
        1 => ReasonCode::UnsupportedProtocolVersion,
        2 => ReasonCode::ClientIdentifierNotValid,
        3 => ReasonCode::ServerUnavailable,
        4 => ReasonCode::BadUserNameOrPassword,
        5 => ReasonCode::NotAuthorized,
        _ => return Err(DecodeError::Malformed("CONNACK return code above 5")),
    })
}

/// Any failure without a v3 equivalent becomes 3, Server unavailable.
fn to_return_code(reason: ReasonCode) -> u8 {
    match reason {
        ReasonCode::Success => 0,
        ReasonCode::UnsupportedProtocolVersion => 1,
        ReasonCode::ClientIdentifierNotValid => 2,
        ReasonCode::BadUserNameOrPassword => 4,
        ReasonCode::NotAuthorized => 5,
        _ => 3,
    }
}

pub(crate) fn decode(r: &mut Reader, version: ProtocolVersion) -> Result<ConnAck, DecodeError> {
    let flags = r.u8()?;
    if flags & !1 != 0 {
        return Err(DecodeError::Malformed(
            "[MQTT-3.2.2-1] CONNACK reserved flags are not 0",
        ));
    }
    let session_present = flags == 1;
    if version.is_v5() {
        let reason = read_reason(r, ALLOWED)?;
        let properties = properties::decode(r, Context::ConnAck)?;
        Ok(ConnAck {
            session_present,
            reason,
            properties: properties.into(),
        })
    } else {
        let reason = from_return_code(r.u8()?)?;
        Ok(ConnAck {
            session_present,
            reason,
            properties: Props::default(),
        })
    }
}

pub(crate) fn body_len(c: &ConnAck, version: ProtocolVersion) -> usize {
    if version.is_v5() {
        2 + properties::block_len(&c.properties)
    } else {
        2
    }
}

pub(crate) fn write(c: &ConnAck, version: ProtocolVersion, buf: &mut BytesMut) {
    buf.put_u8(u8::from(c.session_present));
    if version.is_v5() {
        buf.put_u8(c.reason as u8);
        properties::encode(&c.properties, buf);
    } else {
        buf.put_u8(to_return_code(c.reason));
    }
}
