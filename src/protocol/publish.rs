//! PUBLISH (section 3.3): fixed header flags (DUP, QoS, RETAIN), topic name, packet id,
//! properties and the payload, which shares the read buffer.

use bytes::{BufMut, BytesMut};

use super::codec::read_pid;
use super::properties::{self, Context};
use super::wire::{bin_len, put_bin, Reader};
use super::{topic, DecodeError, Properties, ProtocolVersion, Publish, QoS, QosPid};

const DUP: u8 = 0b1000;
const RETAIN: u8 = 0b0001;

pub(crate) fn decode(
    r: &mut Reader,
    flags: u8,
    version: ProtocolVersion,
) -> Result<Publish, DecodeError> {
    let dup = flags & DUP != 0;
    let retain = flags & RETAIN != 0;
    let qos = QoS::try_from((flags >> 1) & 0b11)
        .map_err(|_| DecodeError::Malformed("[MQTT-3.3.1-4] PUBLISH with QoS 3"))?;
    if dup && qos == QoS::AtMostOnce {
        return Err(DecodeError::Malformed(
            "[MQTT-3.3.1-2] DUP set on a QoS 0 PUBLISH",
        ));
    }
    let topic = r.string()?;
    if !topic.is_empty() && !topic::valid_topic_name(&topic) {
        return Err(DecodeError::Malformed(
            "[MQTT-3.3.2-2] wildcard in topic name",
        ));
    }
    let qos_pid = match qos {
        QoS::AtMostOnce => QosPid::Level0,
        QoS::AtLeastOnce => QosPid::Level1(read_pid(r)?),
        QoS::ExactlyOnce => QosPid::Level2(read_pid(r)?),
    };
    let properties = if version.is_v5() {
        properties::decode(r, Context::Publish)?
    } else {
        Properties::default()
    };
    if topic.is_empty() {
        // v5: an empty topic stands for the one mapped to the Topic Alias (section 3.3.2.3.4).
        if !version.is_v5() {
            return Err(DecodeError::Malformed("[MQTT-4.7.3-1] empty topic name"));
        }
        if properties.topic_alias.is_none() {
            return Err(DecodeError::Protocol(
                "empty topic name without a Topic Alias",
            ));
        }
    }
    let payload = r.rest();
    Ok(Publish {
        dup,
        qos_pid,
        retain,
        topic,
        properties,
        payload,
    })
}

pub(crate) fn flags(p: &Publish) -> u8 {
    let mut flags = (p.qos_pid.qos() as u8) << 1;
    if p.dup {
        flags |= DUP;
    }
    if p.retain {
        flags |= RETAIN;
    }
    flags
}

pub(crate) fn body_len(p: &Publish, version: ProtocolVersion) -> usize {
    let pid = if p.qos_pid.pid().is_some() { 2 } else { 0 };
    let props = if version.is_v5() {
        properties::block_len(&p.properties)
    } else {
        0
    };
    bin_len(p.topic.as_bytes()) + pid + props + p.payload.len()
}

pub(crate) fn write(p: &Publish, version: ProtocolVersion, buf: &mut BytesMut) {
    put_bin(buf, p.topic.as_bytes());
    if let Some(pid) = p.qos_pid.pid() {
        buf.put_u16(pid.get());
    }
    if version.is_v5() {
        properties::encode(&p.properties, buf);
    }
    buf.put_slice(&p.payload);
}
