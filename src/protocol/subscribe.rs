//! SUBSCRIBE (section 3.8): packet id, properties, and topic filters with their
//! subscription options. Filter wildcard syntax is the broker's to check (v5 answers 0x8F).

use bytes::{BufMut, BytesMut};

use super::codec::read_pid;
use super::properties::{self, Context};
use super::wire::{bin_len, put_bin, Reader};
use super::{
    DecodeError, Properties, ProtocolVersion, QoS, RetainHandling, Subscribe, SubscriptionOptions,
};

const NO_LOCAL: u8 = 0b0000_0100;
const RETAIN_AS_PUBLISHED: u8 = 0b0000_1000;
const RETAIN_HANDLING_SHIFT: u8 = 4;

pub(crate) fn decode(r: &mut Reader, version: ProtocolVersion) -> Result<Subscribe, DecodeError> {
    let pid = read_pid(r)?;
    let properties = if version.is_v5() {
        properties::decode(r, Context::Subscribe)?
    } else {
        Properties::default()
    };
    let mut filters = Vec::new();
    while !r.is_empty() {
        let filter = r.string()?;
        let options = read_options(r.u8()?, version)?;
        filters.push((filter, options));
    }
    if filters.is_empty() {
        return Err(DecodeError::Protocol(
            "[MQTT-3.8.3-3] SUBSCRIBE without topic filters",
        ));
    }
    Ok(Subscribe {
        pid,
        properties: properties.into(),
        filters,
    })
}

fn read_options(byte: u8, version: ProtocolVersion) -> Result<SubscriptionOptions, DecodeError> {
    if !version.is_v5() {
        // 3.1.1: bits 7-2 are reserved, QoS 3 is malformed [MQTT-3-8.3-4].
        if byte & 0b1111_1100 != 0 {
            return Err(DecodeError::Malformed(
                "[MQTT-3-8.3-4] reserved bits set in the requested QoS byte",
            ));
        }
        let qos = QoS::try_from(byte)
            .map_err(|_| DecodeError::Malformed("[MQTT-3-8.3-4] requested QoS 3"))?;
        return Ok(SubscriptionOptions {
            qos,
            ..SubscriptionOptions::default()
        });
    }
    if byte & 0b1100_0000 != 0 {
        return Err(DecodeError::Malformed(
            "[MQTT-3.8.3-5] reserved bits set in subscription options",
        ));
    }
    let qos = QoS::try_from(byte & 0b11)
        .map_err(|_| DecodeError::Protocol("[MQTT-3-8.3-4] Maximum QoS 3"))?;
    let retain_handling = match (byte >> RETAIN_HANDLING_SHIFT) & 0b11 {
        0 => RetainHandling::OnSubscribe,
        1 => RetainHandling::OnNewSubscribe,
        2 => RetainHandling::Never,
        _ => return Err(DecodeError::Protocol("Retain Handling 3 (section 3.8.3.1)")),
    };
    Ok(SubscriptionOptions {
        qos,
        no_local: byte & NO_LOCAL != 0,
        retain_as_published: byte & RETAIN_AS_PUBLISHED != 0,
        retain_handling,
    })
}

fn options_byte(o: SubscriptionOptions, version: ProtocolVersion) -> u8 {
    let mut byte = o.qos as u8;
    if version.is_v5() {
        if o.no_local {
            byte |= NO_LOCAL;
        }
        if o.retain_as_published {
            byte |= RETAIN_AS_PUBLISHED;
        }
        byte |= (o.retain_handling as u8) << RETAIN_HANDLING_SHIFT;
    }
    byte
}

pub(crate) fn body_len(s: &Subscribe, version: ProtocolVersion) -> usize {
    let props = if version.is_v5() {
        properties::block_len(&s.properties)
    } else {
        0
    };
    2 + props
        + s.filters
            .iter()
            .map(|(f, _)| bin_len(f.as_bytes()) + 1)
            .sum::<usize>()
}

pub(crate) fn write(s: &Subscribe, version: ProtocolVersion, buf: &mut BytesMut) {
    buf.put_u16(s.pid.get());
    if version.is_v5() {
        properties::encode(&s.properties, buf);
    }
    for (filter, options) in &s.filters {
        put_bin(buf, filter.as_bytes());
        buf.put_u8(options_byte(*options, version));
    }
}
