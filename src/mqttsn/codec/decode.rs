//! Datagram → [`Message`]. A datagram holds exactly one message (MQTT-SN 1.2 section 5.2);
//! anything short, lying about its length, of an unknown type or with bytes left over is a
//! [`DecodeError`], never a panic.

use bytes::Bytes;

use super::{msg_type as t, Flags, Message, ReturnCode, SubTopic, TopicIdType};

/// Why a datagram is not an MQTT-SN message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("empty datagram")]
    Empty,
    /// The Length field itself is cut off (a `0x01` with fewer than two octets after it).
    #[error("length field cut off")]
    ShortHeader,
    /// The Length field is smaller than its own header and MsgType.
    #[error("length {0} is smaller than the message header")]
    BadLength(usize),
    /// The Length field promises more octets than the datagram holds.
    #[error("length {declared} but the datagram holds {actual} octets")]
    Truncated { declared: usize, actual: usize },
    /// The datagram holds more octets than the Length field says.
    #[error("length {declared} but the datagram holds {actual} octets")]
    Trailing { declared: usize, actual: usize },
    #[error("unknown message type 0x{0:02x}")]
    UnknownType(u8),
    /// The body is shorter than the message type needs.
    #[error("message type 0x{0:02x}: body too short")]
    TooShort(u8),
    /// A fixed-size body with octets left over.
    #[error("message type 0x{0:02x}: body too long")]
    TooLong(u8),
    /// An encapsulated message inside an encapsulated message.
    #[error("nested encapsulation")]
    Nested,
}

/// Decodes one datagram. Payloads and names are slices of `datagram` (no copy).
///
/// # Errors
/// Every malformed case, as a [`DecodeError`].
pub fn decode(datagram: Bytes) -> Result<Message, DecodeError> {
    decode_at(datagram, false)
}

fn decode_at(datagram: Bytes, inner: bool) -> Result<Message, DecodeError> {
    let (declared, header) = match datagram.first() {
        None => return Err(DecodeError::Empty),
        // Section 5.2.1: 0x01 means the next two octets hold the length.
        Some(0x01) => match datagram.get(1..3) {
            Some(&[hi, lo]) => (usize::from(u16::from_be_bytes([hi, lo])), 3),
            _ => return Err(DecodeError::ShortHeader),
        },
        Some(&n) => (usize::from(n), 1),
    };
    if declared < header + 1 {
        return Err(DecodeError::BadLength(declared));
    }
    let actual = datagram.len();
    if declared > actual {
        return Err(DecodeError::Truncated { declared, actual });
    }
    let kind = datagram[header];
    if kind == t::ENCAPSULATED {
        // Section 5.5: Length covers the encapsulation header; the message follows it.
        if inner {
            return Err(DecodeError::Nested);
        }
        let ctrl = *datagram
            .get(header + 1)
            .ok_or(DecodeError::TooShort(kind))?;
        if declared < header + 2 {
            return Err(DecodeError::TooShort(kind));
        }
        let node_id = datagram.slice(header + 2..declared);
        let inner = decode_at(datagram.slice(declared..), true)?;
        return Ok(Message::Encapsulated {
            ctrl,
            node_id,
            inner: Box::new(inner),
        });
    }
    if declared < actual {
        return Err(DecodeError::Trailing { declared, actual });
    }
    body(kind, datagram.slice(header + 1..declared))
}

/// Reads a body front to back.
struct Body {
    kind: u8,
    b: Bytes,
}

impl Body {
    fn u8(&mut self) -> Result<u8, DecodeError> {
        let Some(&v) = self.b.first() else {
            return Err(DecodeError::TooShort(self.kind));
        };
        self.b = self.b.slice(1..);
        Ok(v)
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        let v = match self.b.get(..2) {
            Some(&[hi, lo]) => u16::from_be_bytes([hi, lo]),
            _ => return Err(DecodeError::TooShort(self.kind)),
        };
        self.b = self.b.slice(2..);
        Ok(v)
    }

    fn rest(&mut self) -> Bytes {
        std::mem::take(&mut self.b)
    }

    fn flags(&mut self) -> Result<Flags, DecodeError> {
        self.u8().map(Flags::from_byte)
    }

    fn code(&mut self) -> Result<ReturnCode, DecodeError> {
        self.u8().map(ReturnCode::from_byte)
    }

    /// The body must be used up.
    fn end<T>(self, v: T) -> Result<T, DecodeError> {
        if self.b.is_empty() {
            Ok(v)
        } else {
            Err(DecodeError::TooLong(self.kind))
        }
    }
}

fn body(kind: u8, b: Bytes) -> Result<Message, DecodeError> {
    let mut r = Body { kind, b };
    let m = match kind {
        t::ADVERTISE => Message::Advertise {
            gw_id: r.u8()?,
            duration: r.u16()?,
        },
        t::SEARCHGW => Message::SearchGw { radius: r.u8()? },
        t::GWINFO => Message::GwInfo {
            gw_id: r.u8()?,
            gw_add: r.rest(),
        },
        t::CONNECT => Message::Connect {
            flags: r.flags()?,
            protocol_id: r.u8()?,
            duration: r.u16()?,
            client_id: r.rest(),
        },
        t::CONNACK => Message::ConnAck { code: r.code()? },
        t::WILLTOPICREQ => Message::WillTopicReq,
        t::WILLTOPIC => Message::WillTopic(will_topic(&mut r)?),
        t::WILLMSGREQ => Message::WillMsgReq,
        t::WILLMSG => Message::WillMsg(r.rest()),
        t::REGISTER => Message::Register {
            topic_id: r.u16()?,
            msg_id: r.u16()?,
            topic_name: r.rest(),
        },
        t::REGACK => Message::RegAck {
            topic_id: r.u16()?,
            msg_id: r.u16()?,
            code: r.code()?,
        },
        t::PUBLISH => Message::Publish {
            flags: r.flags()?,
            topic_id: r.u16()?,
            msg_id: r.u16()?,
            data: r.rest(),
        },
        t::PUBACK => Message::PubAck {
            topic_id: r.u16()?,
            msg_id: r.u16()?,
            code: r.code()?,
        },
        t::PUBCOMP => Message::PubComp { msg_id: r.u16()? },
        t::PUBREC => Message::PubRec { msg_id: r.u16()? },
        t::PUBREL => Message::PubRel { msg_id: r.u16()? },
        t::SUBSCRIBE | t::UNSUBSCRIBE => {
            let flags = r.flags()?;
            let msg_id = r.u16()?;
            let topic = match flags.topic_id_type {
                TopicIdType::Normal => SubTopic::Name(r.rest()),
                TopicIdType::Predefined => SubTopic::Predefined(r.u16()?),
                TopicIdType::Short => SubTopic::Short(r.u16()?.to_be_bytes()),
                TopicIdType::Reserved => SubTopic::Reserved(r.u16()?),
            };
            if kind == t::SUBSCRIBE {
                Message::Subscribe {
                    flags,
                    msg_id,
                    topic,
                }
            } else {
                Message::Unsubscribe {
                    flags,
                    msg_id,
                    topic,
                }
            }
        }
        t::SUBACK => Message::SubAck {
            flags: r.flags()?,
            topic_id: r.u16()?,
            msg_id: r.u16()?,
            code: r.code()?,
        },
        t::UNSUBACK => Message::UnsubAck { msg_id: r.u16()? },
        t::PINGREQ => {
            let id = r.rest();
            Message::PingReq {
                client_id: (!id.is_empty()).then_some(id),
            }
        }
        t::PINGRESP => Message::PingResp,
        t::DISCONNECT => Message::Disconnect {
            duration: if r.b.is_empty() { None } else { Some(r.u16()?) },
        },
        t::WILLTOPICUPD => Message::WillTopicUpd(will_topic(&mut r)?),
        t::WILLTOPICRESP => Message::WillTopicResp { code: r.code()? },
        t::WILLMSGUPD => Message::WillMsgUpd(r.rest()),
        t::WILLMSGRESP => Message::WillMsgResp { code: r.code()? },
        other => return Err(DecodeError::UnknownType(other)),
    };
    r.end(m)
}

/// WILLTOPIC / WILLTOPICUPD: an empty body deletes the will (section 6.3, 6.4).
fn will_topic(r: &mut Body) -> Result<Option<(Flags, Bytes)>, DecodeError> {
    if r.b.is_empty() {
        return Ok(None);
    }
    let flags = r.flags()?;
    Ok(Some((flags, r.rest())))
}
