//! CONNECT (section 3.1): protocol name and level, connect flags, keep alive, properties,
//! and the payload (client id, will, username, password).

use bytes::{BufMut, BytesMut};

use super::properties::{self, Context};
use super::wire::{bin_len, put_bin, Reader};
use super::{topic, Connect, DecodeError, LastWill, Properties, ProtocolVersion, QoS};

const USERNAME: u8 = 0x80;
const PASSWORD: u8 = 0x40;
const WILL_RETAIN: u8 = 0x20;
const WILL_QOS_SHIFT: u8 = 3;
const WILL: u8 = 0x04;
const CLEAN_START: u8 = 0x02;
const RESERVED: u8 = 0x01;

/// Bit 7 of a 3.x protocol level marks a bridge (Mosquitto's `try_private`): 0x83, 0x84.
const BRIDGE_LEVEL: u8 = 0x80;

/// Protocol name and level → (version, bridge). A known name with another level is
/// answered with CONNACK 0x01 / 0x84 by the broker, so it gets its own error.
fn read_protocol(r: &mut Reader) -> Result<(ProtocolVersion, bool), DecodeError> {
    let name = r.binary()?;
    let level = r.u8()?;
    let bridge = level == 4 | BRIDGE_LEVEL || level == 3 | BRIDGE_LEVEL;
    match (&name[..], level & !BRIDGE_LEVEL) {
        (b"MQTT", 4) => Ok((ProtocolVersion::V3_1_1, bridge)),
        (b"MQTT", 5) if !bridge => Ok((ProtocolVersion::V5, false)),
        (b"MQIsdp", 3) => Ok((ProtocolVersion::V3_1, bridge)),
        (b"MQTT" | b"MQIsdp", _) => Err(DecodeError::UnsupportedProtocolVersion(level)),
        _ => Err(DecodeError::Protocol(
            "[MQTT-3.1.2-1] unknown protocol name",
        )),
    }
}

pub(crate) fn decode(r: &mut Reader) -> Result<Connect, DecodeError> {
    let (protocol, bridge) = read_protocol(r)?;
    let v5 = protocol.is_v5();
    let flags = r.u8()?;
    if flags & RESERVED != 0 {
        return Err(DecodeError::Malformed(
            "[MQTT-3.1.2-3] CONNECT reserved flag is not 0",
        ));
    }
    let will_flag = flags & WILL != 0;
    let will_qos = (flags >> WILL_QOS_SHIFT) & 0b11;
    let will_retain = flags & WILL_RETAIN != 0;
    if !will_flag && will_qos != 0 {
        return Err(DecodeError::Malformed(
            "[MQTT-3.1.2-13] Will QoS must be 0 without a will",
        ));
    }
    if !will_flag && will_retain {
        return Err(DecodeError::Malformed(
            "[MQTT-3.1.2-15] Will Retain must be 0 without a will",
        ));
    }
    let will_qos = QoS::try_from(will_qos)
        .map_err(|_| DecodeError::Malformed("[MQTT-3.1.2-14] Will QoS 3"))?;
    let has_username = flags & USERNAME != 0;
    let has_password = flags & PASSWORD != 0;
    // 3.1 and 3.1.1 need a username for a password; MQTT 5 allows a password alone.
    if !v5 && has_password && !has_username {
        return Err(DecodeError::Malformed(
            "[MQTT-3.1.2-22] password flag without username flag",
        ));
    }
    let keep_alive = r.u16()?;
    let properties = read_props(r, v5, Context::Connect)?;
    let client_id = r.string()?;
    let will = if will_flag {
        let properties = read_props(r, v5, Context::Will)?;
        let topic = r.string()?;
        if !topic::valid_topic_name(&topic) {
            return Err(DecodeError::Malformed(
                "will topic is not a valid topic name [MQTT-4.7.3-1]",
            ));
        }
        let payload = r.binary()?;
        Some(LastWill {
            topic,
            payload,
            qos: will_qos,
            retain: will_retain,
            properties: properties.into(),
        })
    } else {
        None
    };
    let username = if has_username {
        Some(r.string()?)
    } else {
        None
    };
    let password = if has_password {
        Some(r.binary()?)
    } else {
        None
    };
    Ok(Connect {
        protocol,
        clean_start: flags & CLEAN_START != 0,
        keep_alive,
        properties: properties.into(),
        client_id,
        will,
        username,
        password,
        bridge,
    })
}

fn read_props(r: &mut Reader, v5: bool, ctx: Context) -> Result<Properties, DecodeError> {
    if v5 {
        properties::decode(r, ctx)
    } else {
        Ok(Properties::default())
    }
}

fn protocol_name(v: ProtocolVersion) -> &'static [u8] {
    match v {
        ProtocolVersion::V3_1 => b"MQIsdp",
        ProtocolVersion::V3_1_1 | ProtocolVersion::V5 => b"MQTT",
    }
}

pub(crate) fn body_len(c: &Connect) -> usize {
    let v5 = c.protocol.is_v5();
    let props = |p: &Properties| if v5 { properties::block_len(p) } else { 0 };
    let mut n = bin_len(protocol_name(c.protocol)) + 1 + 1 + 2;
    n += props(&c.properties);
    n += bin_len(c.client_id.as_bytes());
    if let Some(w) = &c.will {
        n += props(&w.properties) + bin_len(w.topic.as_bytes()) + bin_len(&w.payload);
    }
    n += c.username.as_ref().map_or(0, |u| bin_len(u.as_bytes()));
    n += c.password.as_ref().map_or(0, |p| bin_len(p));
    n
}

pub(crate) fn write(c: &Connect, buf: &mut BytesMut) {
    let v5 = c.protocol.is_v5();
    put_bin(buf, protocol_name(c.protocol));
    let bridge = if c.bridge && !v5 { BRIDGE_LEVEL } else { 0 };
    buf.put_u8(c.protocol.level() | bridge);
    let mut flags = 0;
    if c.clean_start {
        flags |= CLEAN_START;
    }
    if let Some(w) = &c.will {
        flags |= WILL | (w.qos as u8) << WILL_QOS_SHIFT;
        if w.retain {
            flags |= WILL_RETAIN;
        }
    }
    if c.username.is_some() {
        flags |= USERNAME;
    }
    if c.password.is_some() {
        flags |= PASSWORD;
    }
    buf.put_u8(flags);
    buf.put_u16(c.keep_alive);
    if v5 {
        properties::encode(&c.properties, buf);
    }
    put_bin(buf, c.client_id.as_bytes());
    if let Some(w) = &c.will {
        if v5 {
            properties::encode(&w.properties, buf);
        }
        put_bin(buf, w.topic.as_bytes());
        put_bin(buf, &w.payload);
    }
    if let Some(u) = &c.username {
        put_bin(buf, u.as_bytes());
    }
    if let Some(p) = &c.password {
        put_bin(buf, p);
    }
}
