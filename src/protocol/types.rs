//! The typed packets. Strings are `ByteStr` (validated UTF-8 sharing the read buffer),
//! binary data and payloads are `Bytes`, so decoding copies nothing.

use std::num::NonZeroU16;

use bytes::Bytes;

pub use bytestring::ByteString as ByteStr;

use super::ReasonCode;

/// Packet identifier: never zero [MQTT-2.2.1-3].
pub type PacketId = NonZeroU16;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProtocolVersion {
    /// MQTT 3.1, protocol name "MQIsdp", level 3.
    V3_1,
    /// MQTT 3.1.1, level 4.
    V3_1_1,
    /// MQTT 5.0, level 5.
    V5,
}

impl ProtocolVersion {
    pub fn level(self) -> u8 {
        match self {
            Self::V3_1 => 3,
            Self::V3_1_1 => 4,
            Self::V5 => 5,
        }
    }
    pub fn is_v5(self) -> bool {
        self == Self::V5
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(u8)]
pub enum QoS {
    #[default]
    AtMostOnce = 0,
    AtLeastOnce = 1,
    ExactlyOnce = 2,
}

impl TryFrom<u8> for QoS {
    type Error = u8;
    fn try_from(v: u8) -> Result<Self, u8> {
        match v {
            0 => Ok(Self::AtMostOnce),
            1 => Ok(Self::AtLeastOnce),
            2 => Ok(Self::ExactlyOnce),
            other => Err(other),
        }
    }
}

/// QoS together with the packet id it requires: a QoS 0 publish has none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QosPid {
    Level0,
    Level1(PacketId),
    Level2(PacketId),
}

impl QosPid {
    pub fn qos(self) -> QoS {
        match self {
            Self::Level0 => QoS::AtMostOnce,
            Self::Level1(_) => QoS::AtLeastOnce,
            Self::Level2(_) => QoS::ExactlyOnce,
        }
    }
    pub fn pid(self) -> Option<PacketId> {
        match self {
            Self::Level0 => None,
            Self::Level1(p) | Self::Level2(p) => Some(p),
        }
    }
    /// `pid` is ignored for QoS 0.
    pub fn new(qos: QoS, pid: PacketId) -> Self {
        match qos {
            QoS::AtMostOnce => Self::Level0,
            QoS::AtLeastOnce => Self::Level1(pid),
            QoS::ExactlyOnce => Self::Level2(pid),
        }
    }
}

/// Every MQTT 5 property. Which ones a packet may carry is checked by the decoder
/// (a property not allowed in a packet is a Protocol Error / Malformed Packet); v3 packets
/// always decode to `Properties::default()` and encode none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Properties {
    /// 0x01, PUBLISH / will: 0 = bytes, 1 = UTF-8.
    pub payload_format_indicator: Option<u8>,
    /// 0x02, PUBLISH / will, seconds.
    pub message_expiry_interval: Option<u32>,
    /// 0x03
    pub content_type: Option<ByteStr>,
    /// 0x08
    pub response_topic: Option<ByteStr>,
    /// 0x09
    pub correlation_data: Option<Bytes>,
    /// 0x0B, variable byte integer 1..=268,435,455; SUBSCRIBE carries at most one,
    /// PUBLISH (server → client) one per matching subscription.
    pub subscription_identifiers: Vec<u32>,
    /// 0x11, CONNECT / CONNACK / DISCONNECT, seconds.
    pub session_expiry_interval: Option<u32>,
    /// 0x12, CONNACK.
    pub assigned_client_identifier: Option<ByteStr>,
    /// 0x13, CONNACK.
    pub server_keep_alive: Option<u16>,
    /// 0x15
    pub authentication_method: Option<ByteStr>,
    /// 0x16
    pub authentication_data: Option<Bytes>,
    /// 0x17, CONNECT: 0 or 1.
    pub request_problem_information: Option<u8>,
    /// 0x18, will properties, seconds.
    pub will_delay_interval: Option<u32>,
    /// 0x19, CONNECT: 0 or 1.
    pub request_response_information: Option<u8>,
    /// 0x1A, CONNACK.
    pub response_information: Option<ByteStr>,
    /// 0x1C, CONNACK / DISCONNECT.
    pub server_reference: Option<ByteStr>,
    /// 0x1F
    pub reason_string: Option<ByteStr>,
    /// 0x21, CONNECT / CONNACK, never 0.
    pub receive_maximum: Option<u16>,
    /// 0x22, CONNECT / CONNACK.
    pub topic_alias_maximum: Option<u16>,
    /// 0x23, PUBLISH, never 0.
    pub topic_alias: Option<u16>,
    /// 0x24, CONNACK: 0 or 1.
    pub maximum_qos: Option<u8>,
    /// 0x25, CONNACK.
    pub retain_available: Option<bool>,
    /// 0x26, any packet with properties; order kept, duplicates allowed.
    pub user_properties: Vec<(ByteStr, ByteStr)>,
    /// 0x27, CONNECT / CONNACK, never 0.
    pub maximum_packet_size: Option<u32>,
    /// 0x28, CONNACK.
    pub wildcard_subscription_available: Option<bool>,
    /// 0x29, CONNACK.
    pub subscription_identifier_available: Option<bool>,
    /// 0x2A, CONNACK.
    pub shared_subscription_available: Option<bool>,
}

impl Properties {
    /// No property set. Field by field (it runs for every packet): comparing with
    /// `Properties::default()` built and compared the whole struct each time. The
    /// destructuring names every field, so a new one must be added here.
    pub fn is_empty(&self) -> bool {
        let Self {
            payload_format_indicator,
            message_expiry_interval,
            content_type,
            response_topic,
            correlation_data,
            subscription_identifiers,
            session_expiry_interval,
            assigned_client_identifier,
            server_keep_alive,
            authentication_method,
            authentication_data,
            request_problem_information,
            will_delay_interval,
            request_response_information,
            response_information,
            server_reference,
            reason_string,
            receive_maximum,
            topic_alias_maximum,
            topic_alias,
            maximum_qos,
            retain_available,
            user_properties,
            maximum_packet_size,
            wildcard_subscription_available,
            subscription_identifier_available,
            shared_subscription_available,
        } = self;
        payload_format_indicator.is_none()
            && message_expiry_interval.is_none()
            && content_type.is_none()
            && response_topic.is_none()
            && correlation_data.is_none()
            && subscription_identifiers.is_empty()
            && session_expiry_interval.is_none()
            && assigned_client_identifier.is_none()
            && server_keep_alive.is_none()
            && authentication_method.is_none()
            && authentication_data.is_none()
            && request_problem_information.is_none()
            && will_delay_interval.is_none()
            && request_response_information.is_none()
            && response_information.is_none()
            && server_reference.is_none()
            && reason_string.is_none()
            && receive_maximum.is_none()
            && topic_alias_maximum.is_none()
            && topic_alias.is_none()
            && maximum_qos.is_none()
            && retain_available.is_none()
            && user_properties.is_empty()
            && maximum_packet_size.is_none()
            && wildcard_subscription_available.is_none()
            && subscription_identifier_available.is_none()
            && shared_subscription_available.is_none()
    }
}

/// A packet's properties, on the heap and only when there are some. Most packets carry
/// none, and inline (`Properties` is ~400 bytes) they made every `Packet` 472 bytes,
/// moved several times per decoded PUBLISH (~16% of a broker's time in `memcpy` under a
/// QoS 1 stream). Reads see an empty `Properties` when there are none. There is no
/// `DerefMut`: it would allocate on any write, even one that clears what is absent; a
/// change in place goes through [`Props::present_mut`], a new set through `From`.
#[derive(Clone, Default)]
pub struct Props(Option<Box<Properties>>);

impl Props {
    /// The properties themselves (empty when there are none).
    pub fn into_inner(self) -> Properties {
        self.0.map(|b| *b).unwrap_or_default()
    }

    /// The properties to change in place, when there are some.
    pub fn present_mut(&mut self) -> Option<&mut Properties> {
        self.0.as_deref_mut()
    }

    /// `None` when there are none, without unboxing them.
    pub fn into_box(self) -> Option<Box<Properties>> {
        self.0.filter(|b| !b.is_empty())
    }
}

impl From<Properties> for Props {
    fn from(p: Properties) -> Self {
        Self((!p.is_empty()).then(|| Box::new(p)))
    }
}

impl From<Option<Box<Properties>>> for Props {
    fn from(p: Option<Box<Properties>>) -> Self {
        Self(p)
    }
}

impl std::ops::Deref for Props {
    type Target = Properties;
    fn deref(&self) -> &Properties {
        static NONE: std::sync::LazyLock<Properties> =
            std::sync::LazyLock::new(Properties::default);
        self.0.as_deref().unwrap_or(&NONE)
    }
}

impl PartialEq for Props {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for Props {}

impl std::fmt::Debug for Props {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Packet {
    Connect(Box<Connect>),
    ConnAck(ConnAck),
    Publish(Publish),
    PubAck(Ack),
    PubRec(Ack),
    PubRel(Ack),
    PubComp(Ack),
    Subscribe(Subscribe),
    SubAck(SubAck),
    Unsubscribe(Unsubscribe),
    UnsubAck(UnsubAck),
    PingReq,
    PingResp,
    Disconnect(Disconnect),
    /// v5 only.
    Auth(Auth),
}

impl Packet {
    /// What the receiver of a PUBLISH with `qos_pid` answers first: PUBACK at QoS 1
    /// [MQTT-4.3.2-2], PUBREC at QoS 2 [MQTT-4.3.3-8], nothing at QoS 0.
    pub fn publish_ack(qos_pid: QosPid) -> Option<Packet> {
        match qos_pid {
            QosPid::Level0 => None,
            QosPid::Level1(pid) => Some(Packet::PubAck(Ack::new(pid))),
            QosPid::Level2(pid) => Some(Packet::PubRec(Ack::new(pid))),
        }
    }

    /// Upper-case packet name for logs and traces ("PUBLISH").
    pub fn name(&self) -> &'static str {
        match self {
            Self::Connect(_) => "CONNECT",
            Self::ConnAck(_) => "CONNACK",
            Self::Publish(_) => "PUBLISH",
            Self::PubAck(_) => "PUBACK",
            Self::PubRec(_) => "PUBREC",
            Self::PubRel(_) => "PUBREL",
            Self::PubComp(_) => "PUBCOMP",
            Self::Subscribe(_) => "SUBSCRIBE",
            Self::SubAck(_) => "SUBACK",
            Self::Unsubscribe(_) => "UNSUBSCRIBE",
            Self::UnsubAck(_) => "UNSUBACK",
            Self::PingReq => "PINGREQ",
            Self::PingResp => "PINGRESP",
            Self::Disconnect(_) => "DISCONNECT",
            Self::Auth(_) => "AUTH",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connect {
    pub protocol: ProtocolVersion,
    /// 3.1.1 "Clean Session", 5.0 "Clean Start".
    pub clean_start: bool,
    /// Seconds; 0 = off.
    pub keep_alive: u16,
    pub properties: Props,
    /// May be empty (the server may assign one).
    pub client_id: ByteStr,
    pub will: Option<LastWill>,
    pub username: Option<ByteStr>,
    pub password: Option<Bytes>,
    /// A bridge between brokers (MQTT 3.x only): the protocol level has bit 0x80 set
    /// (Mosquitto's `try_private`), asking not to be sent its own messages back.
    pub bridge: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastWill {
    pub topic: ByteStr,
    pub payload: Bytes,
    pub qos: QoS,
    pub retain: bool,
    /// v5 will properties (will delay, expiry, content type, ...).
    pub properties: Props,
}

/// CONNACK. For 3.1/3.1.1 the reason encodes as the v3 return code:
/// Success→0, UnsupportedProtocolVersion→1, ClientIdentifierNotValid→2,
/// ServerUnavailable (and any other failure)→3, BadUserNameOrPassword→4, NotAuthorized→5.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnAck {
    pub session_present: bool,
    pub reason: ReasonCode,
    pub properties: Props,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Publish {
    pub dup: bool,
    pub qos_pid: QosPid,
    pub retain: bool,
    /// Empty only in v5 when `properties.topic_alias` is set.
    pub topic: ByteStr,
    pub properties: Props,
    pub payload: Bytes,
}

/// PUBACK, PUBREC, PUBREL and PUBCOMP share one shape. v5 encodes the short form
/// (no reason, no properties) when the reason is Success and there are no properties.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ack {
    pub pid: PacketId,
    pub reason: ReasonCode,
    pub properties: Props,
}

impl Ack {
    pub fn new(pid: PacketId) -> Self {
        Self {
            pid,
            reason: ReasonCode::Success,
            properties: Props::default(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum RetainHandling {
    /// 0: send retained messages at the time of the subscribe.
    #[default]
    OnSubscribe = 0,
    /// 1: only if the subscription did not exist before.
    OnNewSubscribe = 1,
    /// 2: never.
    Never = 2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct SubscriptionOptions {
    pub qos: QoS,
    /// v5 only.
    pub no_local: bool,
    /// v5 only.
    pub retain_as_published: bool,
    /// v5 only.
    pub retain_handling: RetainHandling,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscribe {
    pub pid: PacketId,
    pub properties: Props,
    /// At least one [MQTT-3.8.3-3]. Filters are checked as UTF-8 only; their wildcard
    /// syntax is checked by the broker (v5 answers 0x8F per filter).
    pub filters: Vec<(ByteStr, SubscriptionOptions)>,
}

/// SUBACK. v3 encodes GrantedQoS0/1/2 as 0/1/2 and every failure as 0x80.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubAck {
    pub pid: PacketId,
    pub properties: Props,
    pub reasons: Vec<ReasonCode>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsubscribe {
    pub pid: PacketId,
    pub properties: Props,
    /// At least one [MQTT-3.10.3-2].
    pub filters: Vec<ByteStr>,
}

/// UNSUBACK. v3 encodes no payload (the reasons are dropped).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsubAck {
    pub pid: PacketId,
    pub properties: Props,
    pub reasons: Vec<ReasonCode>,
}

/// DISCONNECT. v3 encodes an empty body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disconnect {
    pub reason: ReasonCode,
    pub properties: Props,
}

impl Disconnect {
    pub fn new(reason: ReasonCode) -> Self {
        Self {
            reason,
            properties: Props::default(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Auth {
    pub reason: ReasonCode,
    pub properties: Props,
}
