//! UNSUBSCRIBE (section 3.10): packet id, properties and at least one topic filter.

use bytes::{BufMut, BytesMut};

use super::codec::read_pid;
use super::properties::{self, Context};
use super::wire::{bin_len, put_bin, Reader};
use super::{DecodeError, Properties, ProtocolVersion, Unsubscribe};

pub(crate) fn decode(r: &mut Reader, version: ProtocolVersion) -> Result<Unsubscribe, DecodeError> {
    let pid = read_pid(r)?;
    let properties = if version.is_v5() {
        properties::decode(r, Context::Unsubscribe)?
    } else {
        Properties::default()
    };
    let mut filters = Vec::new();
    while !r.is_empty() {
        filters.push(r.string()?);
    }
    if filters.is_empty() {
        return Err(DecodeError::Protocol(
            "[MQTT-3.10.3-2] UNSUBSCRIBE without topic filters",
        ));
    }
    Ok(Unsubscribe {
        pid,
        properties: properties.into(),
        filters,
    })
}

pub(crate) fn body_len(u: &Unsubscribe, version: ProtocolVersion) -> usize {
    let props = if version.is_v5() {
        properties::block_len(&u.properties)
    } else {
        0
    };
    2 + props
        + u.filters
            .iter()
            .map(|f| bin_len(f.as_bytes()))
            .sum::<usize>()
}

pub(crate) fn write(u: &Unsubscribe, version: ProtocolVersion, buf: &mut BytesMut) {
    buf.put_u16(u.pid.get());
    if version.is_v5() {
        properties::encode(&u.properties, buf);
    }
    for filter in &u.filters {
        put_bin(buf, filter.as_bytes());
    }
}
