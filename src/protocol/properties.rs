//! MQTT 5 properties (section 2.2.2): one decoder and one encoder for every packet. Which
//! properties a packet may carry comes from the tables in sections 3.x.2.3; duplicates and
//! out-of-range values are rejected here, in one place.

use bytes::{BufMut, BytesMut};

use super::wire::{bin_len, put_bin, put_varint, varint_len, Reader};
use super::{DecodeError, Properties};

/// Which packet (or the will) a property block belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Context {
    Connect,
    Will,
    ConnAck,
    Publish,
    /// PUBACK, PUBREC, PUBREL, PUBCOMP.
    Ack,
    Subscribe,
    SubAck,
    Unsubscribe,
    UnsubAck,
    Disconnect,
    Auth,
}

const PAYLOAD_FORMAT_INDICATOR: u32 = 0x01;
const MESSAGE_EXPIRY_INTERVAL: u32 = 0x02;
const CONTENT_TYPE: u32 = 0x03;
const RESPONSE_TOPIC: u32 = 0x08;
const CORRELATION_DATA: u32 = 0x09;
const SUBSCRIPTION_IDENTIFIER: u32 = 0x0B;
const SESSION_EXPIRY_INTERVAL: u32 = 0x11;
const ASSIGNED_CLIENT_IDENTIFIER: u32 = 0x12;
const SERVER_KEEP_ALIVE: u32 = 0x13;
const AUTHENTICATION_METHOD: u32 = 0x15;
const AUTHENTICATION_DATA: u32 = 0x16;
const REQUEST_PROBLEM_INFORMATION: u32 = 0x17;
const WILL_DELAY_INTERVAL: u32 = 0x18;
const REQUEST_RESPONSE_INFORMATION: u32 = 0x19;
const RESPONSE_INFORMATION: u32 = 0x1A;
const SERVER_REFERENCE: u32 = 0x1C;
const REASON_STRING: u32 = 0x1F;
const RECEIVE_MAXIMUM: u32 = 0x21;
const TOPIC_ALIAS_MAXIMUM: u32 = 0x22;
const TOPIC_ALIAS: u32 = 0x23;
const MAXIMUM_QOS: u32 = 0x24;
const RETAIN_AVAILABLE: u32 = 0x25;
const USER_PROPERTY: u32 = 0x26;
const MAXIMUM_PACKET_SIZE: u32 = 0x27;
const WILDCARD_SUBSCRIPTION_AVAILABLE: u32 = 0x28;
const SUBSCRIPTION_IDENTIFIER_AVAILABLE: u32 = 0x29;
const SHARED_SUBSCRIPTION_AVAILABLE: u32 = 0x2A;

/// May a packet of kind `ctx` carry property `id`? (Tables of sections 3.1.2.11, 3.1.3.2,
/// 3.2.2.3, 3.3.2.3, 3.4-3.7.2.2, 3.8.2.1, 3.9.2.1, 3.10.2.1, 3.11.2.1, 3.14.2.2, 3.15.2.2.)
pub(crate) fn allowed(ctx: Context, id: u32) -> bool {
    use Context::*;
    if id == USER_PROPERTY {
        return true;
    }
    match ctx {
        Connect => matches!(
            id,
            SESSION_EXPIRY_INTERVAL
                | RECEIVE_MAXIMUM
                | MAXIMUM_PACKET_SIZE
                | TOPIC_ALIAS_MAXIMUM
                | REQUEST_RESPONSE_INFORMATION
                | REQUEST_PROBLEM_INFORMATION
                | AUTHENTICATION_METHOD
                | AUTHENTICATION_DATA
        ),
        Will => matches!(
            id,
            WILL_DELAY_INTERVAL
                | PAYLOAD_FORMAT_INDICATOR
                | MESSAGE_EXPIRY_INTERVAL
                | CONTENT_TYPE
                | RESPONSE_TOPIC
                | CORRELATION_DATA
        ),
        ConnAck => matches!(
            id,
            SESSION_EXPIRY_INTERVAL
                | RECEIVE_MAXIMUM
                | MAXIMUM_QOS
                | RETAIN_AVAILABLE
                | MAXIMUM_PACKET_SIZE
                | ASSIGNED_CLIENT_IDENTIFIER
                | TOPIC_ALIAS_MAXIMUM
                | REASON_STRING
                | WILDCARD_SUBSCRIPTION_AVAILABLE
                | SUBSCRIPTION_IDENTIFIER_AVAILABLE
                | SHARED_SUBSCRIPTION_AVAILABLE
                | SERVER_KEEP_ALIVE
                | RESPONSE_INFORMATION
                | SERVER_REFERENCE
                | AUTHENTICATION_METHOD
                | AUTHENTICATION_DATA
        ),
        Publish => matches!(
            id,
            PAYLOAD_FORMAT_INDICATOR
                | MESSAGE_EXPIRY_INTERVAL
                | TOPIC_ALIAS
                | RESPONSE_TOPIC
                | CORRELATION_DATA
                | SUBSCRIPTION_IDENTIFIER
                | CONTENT_TYPE
        ),
        Ack | SubAck | UnsubAck => id == REASON_STRING,
        Subscribe => id == SUBSCRIPTION_IDENTIFIER,
        Unsubscribe => false,
        Disconnect => matches!(
            id,
            SESSION_EXPIRY_INTERVAL | REASON_STRING | SERVER_REFERENCE
        ),
        Auth => matches!(
            id,
            AUTHENTICATION_METHOD | AUTHENTICATION_DATA | REASON_STRING
        ),
    }
}

const NOT_ALLOWED: DecodeError = DecodeError::Protocol("property not allowed in this packet");
const DUPLICATE: DecodeError = DecodeError::Protocol("property included more than once");

/// Stores `value` in an `Option` slot, rejecting a second occurrence.
fn set_once<T>(slot: &mut Option<T>, value: T) -> Result<(), DecodeError> {
    if slot.is_some() {
        return Err(DUPLICATE);
    }
    *slot = Some(value);
    Ok(())
}

/// A one-byte property that may only be 0 or 1.
fn flag(r: &mut Reader, rule: &'static str) -> Result<u8, DecodeError> {
    match r.u8()? {
        v @ (0 | 1) => Ok(v),
        _ => Err(DecodeError::Protocol(rule)),
    }
}

fn non_zero_u16(r: &mut Reader, rule: &'static str) -> Result<u16, DecodeError> {
    match r.u16()? {
        0 => Err(DecodeError::Protocol(rule)),
        v => Ok(v),
    }
}

/// Reads a property block (length, then properties) for a packet of kind `ctx`.
pub(crate) fn decode(r: &mut Reader, ctx: Context) -> Result<Properties, DecodeError> {
    let len = r.varint()?;
    let len = usize::try_from(len)
        .map_err(|_| DecodeError::Malformed("property length runs past the end of the packet"))?;
    if len > r.remaining() {
        return Err(DecodeError::Malformed(
            "property length runs past the end of the packet",
        ));
    }
    let mut r = Reader::new(r.take(len)?);
    let mut p = Properties::default();
    while !r.is_empty() {
        let id = r.varint()?;
        if !known(id) {
            return Err(DecodeError::Malformed("unknown property identifier"));
        }
        if !allowed(ctx, id) {
            return Err(NOT_ALLOWED);
        }
        read_one(&mut r, ctx, id, &mut p)?;
    }
    Ok(p)
}

fn known(id: u32) -> bool {
    matches!(
        id,
        0x01..=0x03 | 0x08 | 0x09 | 0x0B | 0x11..=0x13 | 0x15..=0x1A | 0x1C | 0x1F | 0x21..=0x2A
    )
}

fn read_one(r: &mut Reader, ctx: Context, id: u32, p: &mut Properties) -> Result<(), DecodeError> {
    match id {
        PAYLOAD_FORMAT_INDICATOR => set_once(
            &mut p.payload_format_indicator,
            flag(r, "Payload Format Indicator must be 0 or 1")?,
        ),
        MESSAGE_EXPIRY_INTERVAL => set_once(&mut p.message_expiry_interval, r.u32()?),
        CONTENT_TYPE => set_once(&mut p.content_type, r.string()?),
        RESPONSE_TOPIC => {
            let topic = r.string()?;
            // The Response Topic is a Topic Name: no wildcards [MQTT-3.3.2-14].
            if !super::topic::valid_topic_name(&topic) {
                return Err(DecodeError::Protocol(
                    "[MQTT-3.3.2-14] invalid Response Topic",
                ));
            }
            set_once(&mut p.response_topic, topic)
        }
        CORRELATION_DATA => set_once(&mut p.correlation_data, r.binary()?),
        SUBSCRIPTION_IDENTIFIER => {
            let v = r.varint()?;
            if v == 0 {
                return Err(DecodeError::Protocol("Subscription Identifier of 0"));
            }
            // SUBSCRIBE carries at most one (section 3.8.2.1.2); PUBLISH one per match.
            if ctx == Context::Subscribe && !p.subscription_identifiers.is_empty() {
                return Err(DUPLICATE);
            }
            p.subscription_identifiers.push(v);
            Ok(())
        }
        SESSION_EXPIRY_INTERVAL => set_once(&mut p.session_expiry_interval, r.u32()?),
        ASSIGNED_CLIENT_IDENTIFIER => set_once(&mut p.assigned_client_identifier, r.string()?),
        SERVER_KEEP_ALIVE => set_once(&mut p.server_keep_alive, r.u16()?),
        AUTHENTICATION_METHOD => set_once(&mut p.authentication_method, r.string()?),
        AUTHENTICATION_DATA => set_once(&mut p.authentication_data, r.binary()?),
        REQUEST_PROBLEM_INFORMATION => set_once(
            &mut p.request_problem_information,
            flag(r, "Request Problem Information must be 0 or 1")?,
        ),
        WILL_DELAY_INTERVAL => set_once(&mut p.will_delay_interval, r.u32()?),
        REQUEST_RESPONSE_INFORMATION => set_once(
            &mut p.request_response_information,
            flag(r, "Request Response Information must be 0 or 1")?,
        ),
        RESPONSE_INFORMATION => set_once(&mut p.response_information, r.string()?),
        SERVER_REFERENCE => set_once(&mut p.server_reference, r.string()?),
        REASON_STRING => set_once(&mut p.reason_string, r.string()?),
        RECEIVE_MAXIMUM => set_once(
            &mut p.receive_maximum,
            non_zero_u16(r, "Receive Maximum of 0")?,
        ),
        TOPIC_ALIAS_MAXIMUM => set_once(&mut p.topic_alias_maximum, r.u16()?),
        TOPIC_ALIAS => set_once(
            &mut p.topic_alias,
            match r.u16()? {
                0 => {
                    return Err(DecodeError::TopicAliasInvalid(
                        "[MQTT-3.3.2-8] Topic Alias of 0",
                    ))
                }
                v => v,
            },
        ),
        MAXIMUM_QOS => set_once(&mut p.maximum_qos, flag(r, "Maximum QoS must be 0 or 1")?),
        RETAIN_AVAILABLE => set_once(
            &mut p.retain_available,
            flag(r, "Retain Available must be 0 or 1")? == 1,
        ),
        USER_PROPERTY => {
            let key = r.string()?;
            let value = r.string()?;
            p.user_properties.push((key, value));
            Ok(())
        }
        MAXIMUM_PACKET_SIZE => match r.u32()? {
            0 => Err(DecodeError::Protocol("Maximum Packet Size of 0")),
            v => set_once(&mut p.maximum_packet_size, v),
        },
        WILDCARD_SUBSCRIPTION_AVAILABLE => set_once(
            &mut p.wildcard_subscription_available,
            flag(r, "Wildcard Subscription Available must be 0 or 1")? == 1,
        ),
        SUBSCRIPTION_IDENTIFIER_AVAILABLE => set_once(
            &mut p.subscription_identifier_available,
            flag(r, "Subscription Identifier Available must be 0 or 1")? == 1,
        ),
        SHARED_SUBSCRIPTION_AVAILABLE => set_once(
            &mut p.shared_subscription_available,
            flag(r, "Shared Subscription Available must be 0 or 1")? == 1,
        ),
        _ => Err(DecodeError::Malformed("unknown property identifier")),
    }
}

/// Bytes of the properties themselves, without the length prefix.
pub(crate) fn content_len(p: &Properties) -> usize {
    let s = |v: &Option<super::ByteStr>| v.as_ref().map_or(0, |s| 1 + bin_len(s.as_bytes()));
    let b = |v: &Option<bytes::Bytes>| v.as_ref().map_or(0, |d| 1 + bin_len(d));
    let byte = |present: bool| if present { 2 } else { 0 };
    let two = |present: bool| if present { 3 } else { 0 };
    let four = |present: bool| if present { 5 } else { 0 };
    byte(p.payload_format_indicator.is_some())
        + four(p.message_expiry_interval.is_some())
        + s(&p.content_type)
        + s(&p.response_topic)
        + b(&p.correlation_data)
        + p.subscription_identifiers
            .iter()
            .map(|&id| 1 + varint_len(id as usize))
            .sum::<usize>()
        + four(p.session_expiry_interval.is_some())
        + s(&p.assigned_client_identifier)
        + two(p.server_keep_alive.is_some())
        + s(&p.authentication_method)
        + b(&p.authentication_data)
        + byte(p.request_problem_information.is_some())
        + four(p.will_delay_interval.is_some())
        + byte(p.request_response_information.is_some())
        + s(&p.response_information)
        + s(&p.server_reference)
        + s(&p.reason_string)
        + two(p.receive_maximum.is_some())
        + two(p.topic_alias_maximum.is_some())
        + two(p.topic_alias.is_some())
        + byte(p.maximum_qos.is_some())
        + byte(p.retain_available.is_some())
        + p.user_properties
            .iter()
            .map(|(k, v)| 1 + bin_len(k.as_bytes()) + bin_len(v.as_bytes()))
            .sum::<usize>()
        + four(p.maximum_packet_size.is_some())
        + byte(p.wildcard_subscription_available.is_some())
        + byte(p.subscription_identifier_available.is_some())
        + byte(p.shared_subscription_available.is_some())
}

/// Bytes of the whole block: the length prefix and the properties.
pub(crate) fn block_len(p: &Properties) -> usize {
    block_len_with(p, None)
}

/// [`block_len`] with `extra` as one more property.
pub(crate) fn block_len_with(p: &Properties, extra: Extra<'_>) -> usize {
    let n = content_len(p) + extra_len(extra);
    varint_len(n) + n
}

/// Writes the property block (length prefix, then properties in identifier order).
pub(crate) fn encode(p: &Properties, buf: &mut BytesMut) {
    encode_with(p, None, buf);
}

/// One user property appended after `p`'s own (their order kept [MQTT-3.3.2-18]).
pub(crate) type Extra<'a> = Option<(&'a str, &'a str)>;

/// Bytes of `extra` as a property.
pub(crate) fn extra_len(extra: Extra<'_>) -> usize {
    extra.map_or(0, |(k, v)| {
        1 + bin_len(k.as_bytes()) + bin_len(v.as_bytes())
    })
}

/// [`encode`], plus `extra` as the block's last user property.
pub(crate) fn encode_with(p: &Properties, extra: Extra<'_>, buf: &mut BytesMut) {
    put_varint(buf, content_len(p) + extra_len(extra));
    #[expect(
        clippy::cast_possible_truncation,
        reason = "identifiers are below 0x80"
    )]
    let id = |buf: &mut BytesMut, id: u32| buf.put_u8(id as u8);
    let put_u8 = |buf: &mut BytesMut, i: u32, v: Option<u8>| {
        if let Some(v) = v {
            id(buf, i);
            buf.put_u8(v);
        }
    };
    let put_u16 = |buf: &mut BytesMut, i: u32, v: Option<u16>| {
        if let Some(v) = v {
            id(buf, i);
            buf.put_u16(v);
        }
    };
    let put_u32 = |buf: &mut BytesMut, i: u32, v: Option<u32>| {
        if let Some(v) = v {
            id(buf, i);
            buf.put_u32(v);
        }
    };
    let put_b = |buf: &mut BytesMut, i: u32, v: Option<&[u8]>| {
        if let Some(v) = v {
            id(buf, i);
            put_bin(buf, v);
        }
    };
    fn s(v: &Option<super::ByteStr>) -> Option<&[u8]> {
        v.as_ref().map(|s| s.as_bytes().as_ref())
    }
    let flag = |v: Option<bool>| v.map(u8::from);

    put_u8(buf, PAYLOAD_FORMAT_INDICATOR, p.payload_format_indicator);
    put_u32(buf, MESSAGE_EXPIRY_INTERVAL, p.message_expiry_interval);
    put_b(buf, CONTENT_TYPE, s(&p.content_type));
    put_b(buf, RESPONSE_TOPIC, s(&p.response_topic));
    put_b(buf, CORRELATION_DATA, p.correlation_data.as_deref());
    for &sub in &p.subscription_identifiers {
        id(buf, SUBSCRIPTION_IDENTIFIER);
        put_varint(buf, sub as usize);
    }
    put_u32(buf, SESSION_EXPIRY_INTERVAL, p.session_expiry_interval);
    put_b(
        buf,
        ASSIGNED_CLIENT_IDENTIFIER,
        s(&p.assigned_client_identifier),
    );
    put_u16(buf, SERVER_KEEP_ALIVE, p.server_keep_alive);
    put_b(buf, AUTHENTICATION_METHOD, s(&p.authentication_method));
    put_b(buf, AUTHENTICATION_DATA, p.authentication_data.as_deref());
    put_u8(
        buf,
        REQUEST_PROBLEM_INFORMATION,
        p.request_problem_information,
    );
    put_u32(buf, WILL_DELAY_INTERVAL, p.will_delay_interval);
    put_u8(
        buf,
        REQUEST_RESPONSE_INFORMATION,
        p.request_response_information,
    );
    put_b(buf, RESPONSE_INFORMATION, s(&p.response_information));
    put_b(buf, SERVER_REFERENCE, s(&p.server_reference));
    put_b(buf, REASON_STRING, s(&p.reason_string));
    put_u16(buf, RECEIVE_MAXIMUM, p.receive_maximum);
    put_u16(buf, TOPIC_ALIAS_MAXIMUM, p.topic_alias_maximum);
    put_u16(buf, TOPIC_ALIAS, p.topic_alias);
    put_u8(buf, MAXIMUM_QOS, p.maximum_qos);
    put_u8(buf, RETAIN_AVAILABLE, flag(p.retain_available));
    for (k, v) in &p.user_properties {
        id(buf, USER_PROPERTY);
        put_bin(buf, k.as_bytes());
        put_bin(buf, v.as_bytes());
    }
    put_u32(buf, MAXIMUM_PACKET_SIZE, p.maximum_packet_size);
    put_u8(
        buf,
        WILDCARD_SUBSCRIPTION_AVAILABLE,
        flag(p.wildcard_subscription_available),
    );
    put_u8(
        buf,
        SUBSCRIPTION_IDENTIFIER_AVAILABLE,
        flag(p.subscription_identifier_available),
    );
    put_u8(
        buf,
        SHARED_SUBSCRIPTION_AVAILABLE,
        flag(p.shared_subscription_available),
    );
    if let Some((k, v)) = extra {
        id(buf, USER_PROPERTY);
        put_bin(buf, k.as_bytes());
        put_bin(buf, v.as_bytes());
    }
}
