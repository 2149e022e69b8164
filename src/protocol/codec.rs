//! The codec's entry points: the fixed header (section 2.1), the maximum packet size check,
//! dispatch to one module per packet, and the helpers those modules share (packet ids and
//! reason codes).

use bytes::{Buf, BufMut, BytesMut};

use super::wire::{put_varint, read_varint, varint_len, Reader};
use super::{
    ack, auth, connack, connect, disconnect, publish, suback, subscribe, unsuback, unsubscribe,
};
use super::{DecodeError, Packet, PacketId, ProtocolVersion, ReasonCode};

const CONNECT: u8 = 1;
const CONNACK: u8 = 2;
pub(crate) const PUBLISH: u8 = 3;
const PUBACK: u8 = 4;
const PUBREC: u8 = 5;
const PUBREL: u8 = 6;
const PUBCOMP: u8 = 7;
const SUBSCRIBE: u8 = 8;
const SUBACK: u8 = 9;
const UNSUBSCRIBE: u8 = 10;
const UNSUBACK: u8 = 11;
const PINGREQ: u8 = 12;
const PINGRESP: u8 = 13;
const DISCONNECT: u8 = 14;
const AUTH: u8 = 15;

/// Decode one packet from the front of `buf`. `Ok(None)`: not enough bytes yet (nothing is
/// consumed). `version` is the connection's negotiated version; CONNECT reads its own.
/// `max_size` bounds the whole packet (fixed header included) and is checked on the fixed
/// header, before the body arrives.
pub fn decode(
    buf: &mut BytesMut,
    version: ProtocolVersion,
    max_size: u32,
) -> Result<Option<Packet>, DecodeError> {
    let Some((size, n)) = frame_len(buf, version, max_size)? else {
        return Ok(None);
    };
    let first = buf[0];
    let (kind, flags) = (first >> 4, first & 0x0F);
    let mut bytes = buf.split_to(size).freeze();
    bytes.advance(1 + n);
    let mut r = Reader::new(bytes);
    let packet = match kind {
        CONNECT => Packet::Connect(Box::new(connect::decode(&mut r)?)),
        CONNACK => Packet::ConnAck(connack::decode(&mut r, version)?),
        PUBLISH => Packet::Publish(publish::decode(&mut r, flags, version)?),
        PUBACK => Packet::PubAck(ack::decode(&mut r, version, ack::Kind::Ack)?),
        PUBREC => Packet::PubRec(ack::decode(&mut r, version, ack::Kind::Rec)?),
        PUBREL => Packet::PubRel(ack::decode(&mut r, version, ack::Kind::Rel)?),
        PUBCOMP => Packet::PubComp(ack::decode(&mut r, version, ack::Kind::Comp)?),
        SUBSCRIBE => Packet::Subscribe(subscribe::decode(&mut r, version)?),
        SUBACK => Packet::SubAck(suback::decode(&mut r, version)?),
        UNSUBSCRIBE => Packet::Unsubscribe(unsubscribe::decode(&mut r, version)?),
        UNSUBACK => Packet::UnsubAck(unsuback::decode(&mut r, version)?),
        PINGREQ => Packet::PingReq,
        PINGRESP => Packet::PingResp,
        DISCONNECT => Packet::Disconnect(disconnect::decode(&mut r, version)?),
        AUTH => Packet::Auth(auth::decode(&mut r)?),
        _ => return Err(DecodeError::Malformed("reserved packet type")),
    };
    r.finish()?;
    Ok(Some(packet))
}

/// The size of the packet at the front of `buf` (fixed header included) and of its
/// Remaining Length field, once all of it is in `buf`; the fixed header checks of
/// `decode`. A bridge forwards some packets without decoding them.
pub fn frame_len(
    buf: &[u8],
    version: ProtocolVersion,
    max_size: u32,
) -> Result<Option<(usize, usize)>, DecodeError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    check_fixed_header(first >> 4, first & 0x0F, version)?;
    let Some((remaining, n)) = read_varint(&buf[1..])? else {
        return Ok(None);
    };
    let size = 1 + n + remaining as usize;
    if size > usize::try_from(max_size).unwrap_or(usize::MAX) {
        return Err(DecodeError::PacketTooLarge {
            size,
            max: max_size,
        });
    }
    Ok((buf.len() >= size).then_some((size, n)))
}

/// Packet type and flags are known from the first byte alone, so garbage is rejected before
/// any length is trusted. Flags marked Reserved must be as listed [MQTT-2.2.2-1], and a
/// receiver closes the connection on any other value [MQTT-2.2.2-2].
fn check_fixed_header(kind: u8, flags: u8, version: ProtocolVersion) -> Result<(), DecodeError> {
    let want = match kind {
        0 => return Err(DecodeError::Malformed("reserved packet type 0")),
        AUTH if !version.is_v5() => {
            return Err(DecodeError::Malformed(
                "packet type 15 (AUTH) before MQTT 5",
            ))
        }
        PUBLISH => return Ok(()),
        PUBREL | SUBSCRIBE | UNSUBSCRIBE => 0b0010,
        _ => 0,
    };
    if flags == want {
        Ok(())
    } else {
        Err(DecodeError::Malformed(
            "[MQTT-2.2.2-2] invalid fixed header flags",
        ))
    }
}

/// Append the encoding of `packet` for `version` to `buf`.
///
/// CONNECT is encoded for its own `protocol`, not `version`. Fields the type allows but the
/// wire cannot carry (strings over 65,535 bytes, packets over 268,435,455 bytes) are the
/// caller's to prevent; the encoder keeps its output framed but truncates them.
pub fn encode(packet: &Packet, version: ProtocolVersion, buf: &mut BytesMut) {
    let body = body_len(packet, version);
    buf.reserve(1 + varint_len(body) + body);
    buf.put_u8(first_byte(packet));
    put_varint(buf, body);
    match packet {
        Packet::Connect(c) => connect::write(c, buf),
        Packet::ConnAck(c) => connack::write(c, version, buf),
        Packet::Publish(p) => publish::write(p, version, buf),
        Packet::PubAck(a) | Packet::PubRec(a) | Packet::PubRel(a) | Packet::PubComp(a) => {
            ack::write(a, version, buf);
        }
        Packet::Subscribe(s) => subscribe::write(s, version, buf),
        Packet::SubAck(s) => suback::write(s, version, buf),
        Packet::Unsubscribe(u) => unsubscribe::write(u, version, buf),
        Packet::UnsubAck(u) => unsuback::write(u, version, buf),
        Packet::PingReq | Packet::PingResp => {}
        Packet::Disconnect(d) => disconnect::write(d, version, buf),
        Packet::Auth(a) => auth::write(a, buf),
    }
}

/// The exact number of bytes `encode` would append.
pub fn encoded_len(packet: &Packet, version: ProtocolVersion) -> usize {
    let body = body_len(packet, version);
    1 + varint_len(body) + body
}

/// The Remaining Length: everything after the fixed header.
fn body_len(packet: &Packet, version: ProtocolVersion) -> usize {
    match packet {
        Packet::Connect(c) => connect::body_len(c),
        Packet::ConnAck(c) => connack::body_len(c, version),
        Packet::Publish(p) => publish::body_len(p, version),
        Packet::PubAck(a) | Packet::PubRec(a) | Packet::PubRel(a) | Packet::PubComp(a) => {
            ack::body_len(a, version)
        }
        Packet::Subscribe(s) => subscribe::body_len(s, version),
        Packet::SubAck(s) => suback::body_len(s, version),
        Packet::Unsubscribe(u) => unsubscribe::body_len(u, version),
        Packet::UnsubAck(u) => unsuback::body_len(u, version),
        Packet::PingReq | Packet::PingResp => 0,
        Packet::Disconnect(d) => disconnect::body_len(d, version),
        Packet::Auth(a) => auth::body_len(a),
    }
}

fn first_byte(packet: &Packet) -> u8 {
    let (kind, flags) = match packet {
        Packet::Connect(_) => (CONNECT, 0),
        Packet::ConnAck(_) => (CONNACK, 0),
        Packet::Publish(p) => (PUBLISH, publish::flags(p)),
        Packet::PubAck(_) => (PUBACK, 0),
        Packet::PubRec(_) => (PUBREC, 0),
        Packet::PubRel(_) => (PUBREL, 0b0010),
        Packet::PubComp(_) => (PUBCOMP, 0),
        Packet::Subscribe(_) => (SUBSCRIBE, 0b0010),
        Packet::SubAck(_) => (SUBACK, 0),
        Packet::Unsubscribe(_) => (UNSUBSCRIBE, 0b0010),
        Packet::UnsubAck(_) => (UNSUBACK, 0),
        Packet::PingReq => (PINGREQ, 0),
        Packet::PingResp => (PINGRESP, 0),
        Packet::Disconnect(_) => (DISCONNECT, 0),
        Packet::Auth(_) => (AUTH, 0),
    };
    kind << 4 | flags
}

/// A Packet Identifier: never 0 [MQTT-2.2.1-3].
pub(crate) fn read_pid(r: &mut Reader) -> Result<PacketId, DecodeError> {
    PacketId::new(r.u16()?).ok_or(DecodeError::Protocol("[MQTT-2.2.1-3] packet identifier 0"))
}

/// A v5 reason code that must be one of `allowed` (the table of section 3.x.2.1 for the
/// packet); anything else is a Malformed Packet.
pub(crate) fn read_reason(r: &mut Reader, allowed: &[u8]) -> Result<ReasonCode, DecodeError> {
    let byte = r.u8()?;
    if !allowed.contains(&byte) {
        return Err(DecodeError::Malformed(
            "reason code not allowed in this packet",
        ));
    }
    ReasonCode::try_from(byte).map_err(|_| DecodeError::Malformed("unknown reason code"))
}
