//! AUTH (section 3.15, MQTT 5 only): a reason code and properties, both omitted when the
//! Remaining Length is 0 (Success). The fixed-header check rejects AUTH before v5.

use bytes::{BufMut, BytesMut};

use super::codec::read_reason;
use super::properties::{self, Context};
use super::wire::Reader;
use super::{Auth, DecodeError, Properties, Props, ReasonCode};

/// Section 3.15.2.1.
pub(crate) const ALLOWED: &[u8] = &[0x00, 0x18, 0x19];

pub(crate) fn decode(r: &mut Reader) -> Result<Auth, DecodeError> {
    if r.is_empty() {
        return Ok(Auth {
            reason: ReasonCode::Success,
            properties: Props::default(),
        });
    }
    let reason = read_reason(r, ALLOWED)?;
    let properties = if r.is_empty() {
        Properties::default()
    } else {
        properties::decode(r, Context::Auth)?
    };
    Ok(Auth {
        reason,
        properties: properties.into(),
    })
}

fn is_short(a: &Auth) -> bool {
    a.reason == ReasonCode::Success && a.properties.is_empty()
}

/// AUTH has one layout: v3 peers never receive it, so `version` plays no part.
pub(crate) fn body_len(a: &Auth) -> usize {
    if is_short(a) {
        0
    } else {
        1 + properties::block_len(&a.properties)
    }
}

pub(crate) fn write(a: &Auth, buf: &mut BytesMut) {
    if !is_short(a) {
        buf.put_u8(a.reason as u8);
        properties::encode(&a.properties, buf);
    }
}
