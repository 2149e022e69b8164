//! PUBLISH (section 3.3): fixed header flags (DUP, QoS, RETAIN), topic name, packet id,
//! properties and the payload, which shares the read buffer.

use bytes::{BufMut, BytesMut};

use super::codec::read_pid;
use super::properties::{self, Context};
use super::wire::{bin_len, put_bin, put_varint, varint_len, Reader};
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
        properties: properties.into(),
        payload,
    })
}

/// A PUBLISH made of borrowed parts: a broker encodes each subscriber's copy of a shared
/// message from it, without building (and moving) a `Publish` per delivery.
#[derive(Clone, Copy, Debug)]
pub struct PublishRef<'a> {
    pub dup: bool,
    pub qos_pid: QosPid,
    pub retain: bool,
    pub topic: &'a str,
    /// v5 only; ignored for 3.1/3.1.1.
    pub properties: &'a Properties,
    /// v5 only: one more user property after `properties`' own (a bridge's loop guard),
    /// so adding it needs no copy of them.
    pub extra: properties::Extra<'a>,
    pub payload: &'a [u8],
}

impl<'a> From<&'a Publish> for PublishRef<'a> {
    fn from(p: &'a Publish) -> Self {
        PublishRef {
            dup: p.dup,
            qos_pid: p.qos_pid,
            retain: p.retain,
            topic: &p.topic,
            properties: &p.properties,
            extra: None,
            payload: &p.payload,
        }
    }
}

impl PublishRef<'_> {
    /// Append the whole packet (fixed header included) to `buf`.
    pub fn encode(&self, version: ProtocolVersion, buf: &mut BytesMut) {
        let body = self.body_len(version);
        buf.reserve(1 + varint_len(body) + body);
        buf.put_u8(super::codec::PUBLISH << 4 | self.flags());
        put_varint(buf, body);
        self.write(version, buf);
    }

    /// The properties this PUBLISH carries, `extra` among them (for a trace).
    pub fn all_properties(&self) -> Properties {
        let mut props = self.properties.clone();
        if let Some((k, v)) = self.extra {
            props.user_properties.push((k.into(), v.into()));
        }
        props
    }

    /// The exact number of bytes `encode` appends.
    pub fn encoded_len(&self, version: ProtocolVersion) -> usize {
        let body = self.body_len(version);
        1 + varint_len(body) + body
    }

    fn flags(&self) -> u8 {
        let mut flags = (self.qos_pid.qos() as u8) << 1;
        if self.dup {
            flags |= DUP;
        }
        if self.retain {
            flags |= RETAIN;
        }
        flags
    }

    fn body_len(&self, version: ProtocolVersion) -> usize {
        let pid = if self.qos_pid.pid().is_some() { 2 } else { 0 };
        let props = if version.is_v5() {
            properties::block_len_with(self.properties, self.extra)
        } else {
            0
        };
        bin_len(self.topic.as_bytes()) + pid + props + self.payload.len()
    }

    fn write(&self, version: ProtocolVersion, buf: &mut BytesMut) {
        put_bin(buf, self.topic.as_bytes());
        if let Some(pid) = self.qos_pid.pid() {
            buf.put_u16(pid.get());
        }
        if version.is_v5() {
            properties::encode_with(self.properties, self.extra, buf);
        }
        buf.put_slice(self.payload);
    }
}

pub(crate) fn flags(p: &Publish) -> u8 {
    PublishRef::from(p).flags()
}

pub(crate) fn body_len(p: &Publish, version: ProtocolVersion) -> usize {
    PublishRef::from(p).body_len(version)
}

pub(crate) fn write(p: &Publish, version: ProtocolVersion, buf: &mut BytesMut) {
    PublishRef::from(p).write(version, buf);
}
