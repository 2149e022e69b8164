//! [`Message`] → datagram, choosing the one-octet length form up to 255 octets and the
//! three-octet form (`0x01`, then two octets) above (MQTT-SN 1.2 section 5.2.1).

use bytes::{BufMut, Bytes, BytesMut};

use super::{Message, SubTopic, TopicIdType};

/// The datagram for `m`.
#[must_use]
pub fn encode(m: &Message) -> Bytes {
    let mut out = BytesMut::with_capacity(encoded_len(m));
    put(m, &mut out);
    out.freeze()
}

/// Octets [`encode`] produces for `m`.
#[must_use]
pub fn encoded_len(m: &Message) -> usize {
    match m {
        Message::Encapsulated { node_id, inner, .. } => {
            with_header(node_id.len() + 2) + encoded_len(inner)
        }
        _ => with_header(body_len(m) + 1),
    }
}

/// Length of a message whose MsgType and body take `n` octets.
fn with_header(n: usize) -> usize {
    if n < 255 {
        n + 1
    } else {
        n + 3
    }
}

fn put_header(out: &mut BytesMut, n: usize) {
    let total = with_header(n);
    if total <= 255 {
        out.put_u8(total as u8);
    } else {
        out.put_u8(0x01);
        // Larger than a UDP datagram can be; the caller never builds one that big.
        out.put_u16(u16::try_from(total).unwrap_or(u16::MAX));
    }
}

fn sub_topic_len(t: &SubTopic) -> usize {
    match t {
        SubTopic::Name(n) => n.len(),
        _ => 2,
    }
}

fn body_len(m: &Message) -> usize {
    match m {
        Message::Advertise { .. } => 3,
        Message::SearchGw { .. } => 1,
        Message::GwInfo { gw_add, .. } => 1 + gw_add.len(),
        Message::Connect { client_id, .. } => 4 + client_id.len(),
        Message::ConnAck { .. } | Message::WillTopicResp { .. } | Message::WillMsgResp { .. } => 1,
        Message::WillTopicReq | Message::WillMsgReq | Message::PingResp => 0,
        Message::WillTopic(w) | Message::WillTopicUpd(w) => {
            w.as_ref().map_or(0, |(_, t)| 1 + t.len())
        }
        Message::WillMsg(b) | Message::WillMsgUpd(b) => b.len(),
        Message::Register { topic_name, .. } => 4 + topic_name.len(),
        Message::RegAck { .. } | Message::PubAck { .. } => 5,
        Message::Publish { data, .. } => 5 + data.len(),
        Message::PubComp { .. }
        | Message::PubRec { .. }
        | Message::PubRel { .. }
        | Message::UnsubAck { .. } => 2,
        Message::Subscribe { topic, .. } | Message::Unsubscribe { topic, .. } => {
            3 + sub_topic_len(topic)
        }
        Message::SubAck { .. } => 6,
        Message::PingReq { client_id } => client_id.as_ref().map_or(0, Bytes::len),
        Message::Disconnect { duration } => duration.map_or(0, |_| 2),
        Message::Encapsulated { .. } => 0,
    }
}

fn put(m: &Message, out: &mut BytesMut) {
    if let Message::Encapsulated {
        ctrl,
        node_id,
        inner,
    } = m
    {
        put_header(out, node_id.len() + 2);
        out.put_u8(m.msg_type());
        out.put_u8(*ctrl);
        out.put_slice(node_id);
        put(inner, out);
        return;
    }
    put_header(out, body_len(m) + 1);
    out.put_u8(m.msg_type());
    match m {
        Message::Advertise { gw_id, duration } => {
            out.put_u8(*gw_id);
            out.put_u16(*duration);
        }
        Message::SearchGw { radius } => out.put_u8(*radius),
        Message::GwInfo { gw_id, gw_add } => {
            out.put_u8(*gw_id);
            out.put_slice(gw_add);
        }
        Message::Connect {
            flags,
            protocol_id,
            duration,
            client_id,
        } => {
            out.put_u8(flags.to_byte());
            out.put_u8(*protocol_id);
            out.put_u16(*duration);
            out.put_slice(client_id);
        }
        Message::ConnAck { code }
        | Message::WillTopicResp { code }
        | Message::WillMsgResp { code } => out.put_u8(code.to_byte()),
        Message::WillTopicReq | Message::WillMsgReq | Message::PingResp => {}
        Message::WillTopic(w) | Message::WillTopicUpd(w) => {
            if let Some((flags, topic)) = w {
                out.put_u8(flags.to_byte());
                out.put_slice(topic);
            }
        }
        Message::WillMsg(b) | Message::WillMsgUpd(b) => out.put_slice(b),
        Message::Register {
            topic_id,
            msg_id,
            topic_name,
        } => {
            out.put_u16(*topic_id);
            out.put_u16(*msg_id);
            out.put_slice(topic_name);
        }
        Message::RegAck {
            topic_id,
            msg_id,
            code,
        }
        | Message::PubAck {
            topic_id,
            msg_id,
            code,
        } => {
            out.put_u16(*topic_id);
            out.put_u16(*msg_id);
            out.put_u8(code.to_byte());
        }
        Message::Publish {
            flags,
            topic_id,
            msg_id,
            data,
        } => {
            out.put_u8(flags.to_byte());
            out.put_u16(*topic_id);
            out.put_u16(*msg_id);
            out.put_slice(data);
        }
        Message::PubComp { msg_id }
        | Message::PubRec { msg_id }
        | Message::PubRel { msg_id }
        | Message::UnsubAck { msg_id } => out.put_u16(*msg_id),
        Message::Subscribe {
            flags,
            msg_id,
            topic,
        }
        | Message::Unsubscribe {
            flags,
            msg_id,
            topic,
        } => {
            // The TopicIdType bits say how the topic is written, so they follow the topic.
            let mut flags = *flags;
            flags.topic_id_type = match topic {
                SubTopic::Name(_) => TopicIdType::Normal,
                SubTopic::Predefined(_) => TopicIdType::Predefined,
                SubTopic::Short(_) => TopicIdType::Short,
                SubTopic::Reserved(_) => TopicIdType::Reserved,
            };
            out.put_u8(flags.to_byte());
            out.put_u16(*msg_id);
            match topic {
                SubTopic::Name(n) => out.put_slice(n),
                SubTopic::Predefined(id) | SubTopic::Reserved(id) => out.put_u16(*id),
                SubTopic::Short(s) => out.put_slice(s),
            }
        }
        Message::SubAck {
            flags,
            topic_id,
            msg_id,
            code,
        } => {
            out.put_u8(flags.to_byte());
            out.put_u16(*topic_id);
            out.put_u16(*msg_id);
            out.put_u8(code.to_byte());
        }
        Message::PingReq { client_id } => {
            if let Some(id) = client_id {
                out.put_slice(id);
            }
        }
        Message::Disconnect { duration } => {
            if let Some(d) = duration {
                out.put_u16(*d);
            }
        }
        Message::Encapsulated { .. } => {}
    }
}
