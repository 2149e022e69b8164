//! PUBACK, PUBREC, PUBREL and PUBCOMP (sections 3.4-3.7): a packet id, and in v5 a reason
//! code and properties, both omitted in the short forms.

use bytes::{BufMut, BytesMut};

use super::codec::{read_pid, read_reason};
use super::properties::{self, Context};
use super::wire::Reader;
use super::{Ack, DecodeError, Properties, ProtocolVersion, ReasonCode};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
/// Which of the four acks: PUBACK, PUBREC, PUBREL, PUBCOMP.
pub(crate) enum Kind {
    Ack,
    Rec,
    Rel,
    Comp,
}

impl Kind {
    /// Sections 3.4.2.1 / 3.5.2.1 (PUBACK, PUBREC) and 3.6.2.1 / 3.7.2.1 (PUBREL, PUBCOMP).
    pub(crate) fn allowed(self) -> &'static [u8] {
        match self {
            Self::Ack | Self::Rec => &[0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99],
            Self::Rel | Self::Comp => &[0x00, 0x92],
        }
    }
}

pub(crate) fn decode(
    r: &mut Reader,
    version: ProtocolVersion,
    kind: Kind,
) -> Result<Ack, DecodeError> {
    let pid = read_pid(r)?;
    // Remaining Length 2: Success and no properties; 3: a reason and no properties.
    if !version.is_v5() || r.is_empty() {
        return Ok(Ack::new(pid));
    }
    let reason = read_reason(r, kind.allowed())?;
    let properties = if r.is_empty() {
        Properties::default()
    } else {
        properties::decode(r, Context::Ack)?
    };
    Ok(Ack {
        pid,
        reason,
        properties: properties.into(),
    })
}

fn is_short(a: &Ack) -> bool {
    a.reason == ReasonCode::Success && a.properties.is_empty()
}

pub(crate) fn body_len(a: &Ack, version: ProtocolVersion) -> usize {
    if !version.is_v5() || is_short(a) {
        2
    } else {
        3 + properties::block_len(&a.properties)
    }
}

pub(crate) fn write(a: &Ack, version: ProtocolVersion, buf: &mut BytesMut) {
    buf.put_u16(a.pid.get());
    if version.is_v5() && !is_short(a) {
        buf.put_u8(a.reason as u8);
        properties::encode(&a.properties, buf);
    }
}
