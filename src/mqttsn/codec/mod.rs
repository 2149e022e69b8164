//! The MQTT-SN 1.2 wire format, sans-IO: one datagram in, one typed [`Message`] out, and
//! back. Owns every message type of the specification (section 5.4), both length forms
//! (section 5.2.1: one octet, or `0x01` followed by two) and the Flags octet (5.3.4).
//! No I/O, no clock, no gateway policy; depends on `bytes` and `thiserror` only.
//!
//! Layout: this file (types), `decode` (datagram → message, every malformed case a typed
//! [`DecodeError`]), `encode` (message → datagram), `tests` (byte tables per type,
//! malformed inputs, proptest round trips). `fuzz/` fuzzes [`decode`].

mod decode;
mod encode;
#[cfg(test)]
mod tests;

use bytes::Bytes;

pub use decode::{decode, DecodeError};
pub use encode::{encode, encoded_len};

/// Quality of service of an SN PUBLISH, including −1 (0b11, section 6.8): a publish
/// without a connection, to a predefined topic id or short topic name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SnQos {
    AtMostOnce,
    AtLeastOnce,
    ExactlyOnce,
    /// QoS −1.
    NoConnect,
}

impl SnQos {
    fn bits(self) -> u8 {
        match self {
            SnQos::AtMostOnce => 0b00,
            SnQos::AtLeastOnce => 0b01,
            SnQos::ExactlyOnce => 0b10,
            SnQos::NoConnect => 0b11,
        }
    }

    fn from_bits(b: u8) -> Self {
        match b & 0b11 {
            0b00 => SnQos::AtMostOnce,
            0b01 => SnQos::AtLeastOnce,
            0b10 => SnQos::ExactlyOnce,
            _ => SnQos::NoConnect,
        }
    }

    /// As an MQTT QoS level; −1 is delivered as 0.
    #[must_use]
    pub fn level(self) -> u8 {
        match self {
            SnQos::AtMostOnce | SnQos::NoConnect => 0,
            SnQos::AtLeastOnce => 1,
            SnQos::ExactlyOnce => 2,
        }
    }

    /// From an MQTT QoS level (0..=2; more is treated as 2).
    #[must_use]
    pub fn from_level(level: u8) -> Self {
        match level {
            0 => SnQos::AtMostOnce,
            1 => SnQos::AtLeastOnce,
            _ => SnQos::ExactlyOnce,
        }
    }
}

/// The TopicIdType field (section 5.3.4): how the two topic octets are to be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TopicIdType {
    /// 0b00: an id registered with REGISTER (or, in SUBSCRIBE, a topic name follows).
    Normal,
    /// 0b01: a predefined topic id.
    Predefined,
    /// 0b10: a two-character short topic name.
    Short,
    /// 0b11: reserved; kept so a gateway can answer "not supported".
    Reserved,
}

impl TopicIdType {
    fn bits(self) -> u8 {
        match self {
            TopicIdType::Normal => 0b00,
            TopicIdType::Predefined => 0b01,
            TopicIdType::Short => 0b10,
            TopicIdType::Reserved => 0b11,
        }
    }

    fn from_bits(b: u8) -> Self {
        match b & 0b11 {
            0b00 => TopicIdType::Normal,
            0b01 => TopicIdType::Predefined,
            0b10 => TopicIdType::Short,
            _ => TopicIdType::Reserved,
        }
    }
}

/// The Flags octet (section 5.3.4). Which fields a message uses depends on its type; the
/// others are carried as read so that encode(decode(x)) == x.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Flags {
    pub dup: bool,
    pub qos: SnQos,
    pub retain: bool,
    pub will: bool,
    pub clean_session: bool,
    pub topic_id_type: TopicIdType,
}

impl Default for Flags {
    fn default() -> Self {
        Flags {
            dup: false,
            qos: SnQos::AtMostOnce,
            retain: false,
            will: false,
            clean_session: false,
            topic_id_type: TopicIdType::Normal,
        }
    }
}

impl Flags {
    #[must_use]
    pub fn to_byte(self) -> u8 {
        (u8::from(self.dup) << 7)
            | (self.qos.bits() << 5)
            | (u8::from(self.retain) << 4)
            | (u8::from(self.will) << 3)
            | (u8::from(self.clean_session) << 2)
            | self.topic_id_type.bits()
    }

    #[must_use]
    pub fn from_byte(b: u8) -> Self {
        Flags {
            dup: b & 0x80 != 0,
            qos: SnQos::from_bits(b >> 5),
            retain: b & 0x10 != 0,
            will: b & 0x08 != 0,
            clean_session: b & 0x04 != 0,
            topic_id_type: TopicIdType::from_bits(b),
        }
    }
}

/// The ReturnCode field (section 5.3.10).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReturnCode {
    Accepted,
    Congestion,
    InvalidTopicId,
    NotSupported,
    /// 0x04..=0xFF are reserved; kept as read.
    Reserved(u8),
}

impl ReturnCode {
    #[must_use]
    pub fn to_byte(self) -> u8 {
        match self {
            ReturnCode::Accepted => 0x00,
            ReturnCode::Congestion => 0x01,
            ReturnCode::InvalidTopicId => 0x02,
            ReturnCode::NotSupported => 0x03,
            ReturnCode::Reserved(b) => b,
        }
    }

    #[must_use]
    pub fn from_byte(b: u8) -> Self {
        match b {
            0x00 => ReturnCode::Accepted,
            0x01 => ReturnCode::Congestion,
            0x02 => ReturnCode::InvalidTopicId,
            0x03 => ReturnCode::NotSupported,
            b => ReturnCode::Reserved(b),
        }
    }
}

/// The topic of a SUBSCRIBE / UNSUBSCRIBE: a name (TopicIdType normal) or two octets.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SubTopic {
    /// A topic name or filter (wildcards allowed).
    Name(Bytes),
    /// A predefined topic id.
    Predefined(u16),
    /// A two-character short topic name.
    Short([u8; 2]),
    /// TopicIdType 0b11 with its two octets.
    Reserved(u16),
}

/// One MQTT-SN 1.2 message (section 5.4), named as in the specification.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Message {
    Advertise {
        gw_id: u8,
        duration: u16,
    },
    SearchGw {
        radius: u8,
    },
    /// `gw_add` is present only when a client answers on a gateway's behalf.
    GwInfo {
        gw_id: u8,
        gw_add: Bytes,
    },
    Connect {
        flags: Flags,
        protocol_id: u8,
        duration: u16,
        client_id: Bytes,
    },
    ConnAck {
        code: ReturnCode,
    },
    WillTopicReq,
    /// `None` is the empty WILLTOPIC (no flags, no topic): delete the will.
    WillTopic(Option<(Flags, Bytes)>),
    WillMsgReq,
    WillMsg(Bytes),
    Register {
        topic_id: u16,
        msg_id: u16,
        topic_name: Bytes,
    },
    RegAck {
        topic_id: u16,
        msg_id: u16,
        code: ReturnCode,
    },
    Publish {
        flags: Flags,
        topic_id: u16,
        msg_id: u16,
        data: Bytes,
    },
    PubAck {
        topic_id: u16,
        msg_id: u16,
        code: ReturnCode,
    },
    PubComp {
        msg_id: u16,
    },
    PubRec {
        msg_id: u16,
    },
    PubRel {
        msg_id: u16,
    },
    Subscribe {
        flags: Flags,
        msg_id: u16,
        topic: SubTopic,
    },
    SubAck {
        flags: Flags,
        topic_id: u16,
        msg_id: u16,
        code: ReturnCode,
    },
    Unsubscribe {
        flags: Flags,
        msg_id: u16,
        topic: SubTopic,
    },
    UnsubAck {
        msg_id: u16,
    },
    /// A client id is present when a sleeping client wakes up (section 6.14).
    PingReq {
        client_id: Option<Bytes>,
    },
    PingResp,
    /// A duration is present when a client goes to sleep (section 6.14).
    Disconnect {
        duration: Option<u16>,
    },
    /// `None` is the empty WILLTOPICUPD: delete the will.
    WillTopicUpd(Option<(Flags, Bytes)>),
    WillTopicResp {
        code: ReturnCode,
    },
    WillMsgUpd(Bytes),
    WillMsgResp {
        code: ReturnCode,
    },
    /// Forwarder encapsulation (section 5.5): a message relayed by a forwarder.
    Encapsulated {
        ctrl: u8,
        node_id: Bytes,
        inner: Box<Message>,
    },
}

/// MsgType values (section 5.3.2).
pub mod msg_type {
    pub const ADVERTISE: u8 = 0x00;
    pub const SEARCHGW: u8 = 0x01;
    pub const GWINFO: u8 = 0x02;
    pub const CONNECT: u8 = 0x04;
    pub const CONNACK: u8 = 0x05;
    pub const WILLTOPICREQ: u8 = 0x06;
    pub const WILLTOPIC: u8 = 0x07;
    pub const WILLMSGREQ: u8 = 0x08;
    pub const WILLMSG: u8 = 0x09;
    pub const REGISTER: u8 = 0x0A;
    pub const REGACK: u8 = 0x0B;
    pub const PUBLISH: u8 = 0x0C;
    pub const PUBACK: u8 = 0x0D;
    pub const PUBCOMP: u8 = 0x0E;
    pub const PUBREC: u8 = 0x0F;
    pub const PUBREL: u8 = 0x10;
    pub const SUBSCRIBE: u8 = 0x12;
    pub const SUBACK: u8 = 0x13;
    pub const UNSUBSCRIBE: u8 = 0x14;
    pub const UNSUBACK: u8 = 0x15;
    pub const PINGREQ: u8 = 0x16;
    pub const PINGRESP: u8 = 0x17;
    pub const DISCONNECT: u8 = 0x18;
    pub const WILLTOPICUPD: u8 = 0x1A;
    pub const WILLTOPICRESP: u8 = 0x1B;
    pub const WILLMSGUPD: u8 = 0x1C;
    pub const WILLMSGRESP: u8 = 0x1D;
    pub const ENCAPSULATED: u8 = 0xFE;
}

impl Message {
    /// The MsgType octet of this message.
    #[must_use]
    pub fn msg_type(&self) -> u8 {
        use msg_type as t;
        match self {
            Message::Advertise { .. } => t::ADVERTISE,
            Message::SearchGw { .. } => t::SEARCHGW,
            Message::GwInfo { .. } => t::GWINFO,
            Message::Connect { .. } => t::CONNECT,
            Message::ConnAck { .. } => t::CONNACK,
            Message::WillTopicReq => t::WILLTOPICREQ,
            Message::WillTopic(_) => t::WILLTOPIC,
            Message::WillMsgReq => t::WILLMSGREQ,
            Message::WillMsg(_) => t::WILLMSG,
            Message::Register { .. } => t::REGISTER,
            Message::RegAck { .. } => t::REGACK,
            Message::Publish { .. } => t::PUBLISH,
            Message::PubAck { .. } => t::PUBACK,
            Message::PubComp { .. } => t::PUBCOMP,
            Message::PubRec { .. } => t::PUBREC,
            Message::PubRel { .. } => t::PUBREL,
            Message::Subscribe { .. } => t::SUBSCRIBE,
            Message::SubAck { .. } => t::SUBACK,
            Message::Unsubscribe { .. } => t::UNSUBSCRIBE,
            Message::UnsubAck { .. } => t::UNSUBACK,
            Message::PingReq { .. } => t::PINGREQ,
            Message::PingResp => t::PINGRESP,
            Message::Disconnect { .. } => t::DISCONNECT,
            Message::WillTopicUpd(_) => t::WILLTOPICUPD,
            Message::WillTopicResp { .. } => t::WILLTOPICRESP,
            Message::WillMsgUpd(_) => t::WILLMSGUPD,
            Message::WillMsgResp { .. } => t::WILLMSGRESP,
            Message::Encapsulated { .. } => t::ENCAPSULATED,
        }
    }
}
