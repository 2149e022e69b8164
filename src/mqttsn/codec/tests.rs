//! Byte tables for every message type (written from the MQTT-SN 1.2 tables of section 5.4,
//! not from the encoder), malformed datagrams, and proptest round trips.

use bytes::Bytes;
use proptest::prelude::*;

use super::*;

fn b(s: &'static [u8]) -> Bytes {
    Bytes::from_static(s)
}

fn flags(byte: u8) -> Flags {
    Flags::from_byte(byte)
}

/// (wire bytes, message): decode(wire) == message and encode(message) == wire.
fn table() -> Vec<(&'static [u8], Message)> {
    use Message as M;
    vec![
        (
            &[0x05, 0x00, 0x07, 0x03, 0x84],
            M::Advertise {
                gw_id: 7,
                duration: 900,
            },
        ),
        (&[0x03, 0x01, 0x00], M::SearchGw { radius: 0 }),
        (
            &[0x03, 0x02, 0x01],
            M::GwInfo {
                gw_id: 1,
                gw_add: Bytes::new(),
            },
        ),
        (
            &[0x05, 0x02, 0x01, 0x0a, 0x0b],
            M::GwInfo {
                gw_id: 1,
                gw_add: b(&[0x0a, 0x0b]),
            },
        ),
        (
            &[0x08, 0x04, 0x0c, 0x01, 0x00, 0x3c, b'a', b'b'],
            M::Connect {
                flags: flags(0x0c),
                protocol_id: 1,
                duration: 60,
                client_id: b(b"ab"),
            },
        ),
        (
            &[0x03, 0x05, 0x00],
            M::ConnAck {
                code: ReturnCode::Accepted,
            },
        ),
        (
            &[0x03, 0x05, 0x03],
            M::ConnAck {
                code: ReturnCode::NotSupported,
            },
        ),
        (&[0x02, 0x06], M::WillTopicReq),
        (
            &[0x06, 0x07, 0x30, b'w', b'/', b't'],
            M::WillTopic(Some((flags(0x30), b(b"w/t")))),
        ),
        (&[0x02, 0x07], M::WillTopic(None)),
        (&[0x02, 0x08], M::WillMsgReq),
        (&[0x05, 0x09, b'b', b'y', b'e'], M::WillMsg(b(b"bye"))),
        (
            &[0x09, 0x0a, 0x00, 0x00, 0x00, 0x05, b'a', b'/', b'b'],
            M::Register {
                topic_id: 0,
                msg_id: 5,
                topic_name: b(b"a/b"),
            },
        ),
        (
            &[0x07, 0x0b, 0x00, 0x01, 0x00, 0x05, 0x00],
            M::RegAck {
                topic_id: 1,
                msg_id: 5,
                code: ReturnCode::Accepted,
            },
        ),
        (
            &[0x09, 0x0c, 0x20, 0x00, 0x01, 0x12, 0x34, b'h', b'i'],
            M::Publish {
                flags: flags(0x20),
                topic_id: 1,
                msg_id: 0x1234,
                data: b(b"hi"),
            },
        ),
        (
            &[0x07, 0x0c, 0x62, b't', b'p', 0x00, 0x00],
            M::Publish {
                flags: flags(0x62),
                topic_id: 0x7470,
                msg_id: 0,
                data: Bytes::new(),
            },
        ),
        (
            &[0x07, 0x0d, 0x00, 0x01, 0x00, 0x09, 0x02],
            M::PubAck {
                topic_id: 1,
                msg_id: 9,
                code: ReturnCode::InvalidTopicId,
            },
        ),
        (&[0x04, 0x0e, 0x00, 0x09], M::PubComp { msg_id: 9 }),
        (&[0x04, 0x0f, 0x00, 0x09], M::PubRec { msg_id: 9 }),
        (&[0x04, 0x10, 0x00, 0x09], M::PubRel { msg_id: 9 }),
        (
            &[0x08, 0x12, 0x20, 0x00, 0x02, b'a', b'/', b'#'],
            M::Subscribe {
                flags: flags(0x20),
                msg_id: 2,
                topic: SubTopic::Name(b(b"a/#")),
            },
        ),
        (
            &[0x07, 0x12, 0x01, 0x00, 0x02, 0x00, 0x07],
            M::Subscribe {
                flags: flags(0x01),
                msg_id: 2,
                topic: SubTopic::Predefined(7),
            },
        ),
        (
            &[0x07, 0x12, 0x02, 0x00, 0x02, b'a', b'b'],
            M::Subscribe {
                flags: flags(0x02),
                msg_id: 2,
                topic: SubTopic::Short(*b"ab"),
            },
        ),
        (
            &[0x08, 0x13, 0x20, 0x00, 0x00, 0x00, 0x02, 0x00],
            M::SubAck {
                flags: flags(0x20),
                topic_id: 0,
                msg_id: 2,
                code: ReturnCode::Accepted,
            },
        ),
        (
            &[0x06, 0x14, 0x00, 0x00, 0x03, b'x'],
            M::Unsubscribe {
                flags: flags(0),
                msg_id: 3,
                topic: SubTopic::Name(b(b"x")),
            },
        ),
        (&[0x04, 0x15, 0x00, 0x03], M::UnsubAck { msg_id: 3 }),
        (&[0x02, 0x16], M::PingReq { client_id: None }),
        (
            &[0x04, 0x16, b'c', b'1'],
            M::PingReq {
                client_id: Some(b(b"c1")),
            },
        ),
        (&[0x02, 0x17], M::PingResp),
        (&[0x02, 0x18], M::Disconnect { duration: None }),
        (
            &[0x04, 0x18, 0x00, 0x3c],
            M::Disconnect { duration: Some(60) },
        ),
        (
            &[0x04, 0x1a, 0x20, b't'],
            M::WillTopicUpd(Some((flags(0x20), b(b"t")))),
        ),
        (&[0x02, 0x1a], M::WillTopicUpd(None)),
        (
            &[0x03, 0x1b, 0x00],
            M::WillTopicResp {
                code: ReturnCode::Accepted,
            },
        ),
        (&[0x04, 0x1c, b'h', b'i'], M::WillMsgUpd(b(b"hi"))),
        (
            &[0x03, 0x1d, 0x00],
            M::WillMsgResp {
                code: ReturnCode::Accepted,
            },
        ),
        (
            &[0x04, 0xfe, 0x01, 0x42, 0x02, 0x17],
            M::Encapsulated {
                ctrl: 1,
                node_id: b(&[0x42]),
                inner: Box::new(M::PingResp),
            },
        ),
    ]
}

#[test]
fn every_type_matches_its_byte_table() {
    for (wire, msg) in table() {
        assert_eq!(
            decode(Bytes::from_static(wire)).as_ref(),
            Ok(&msg),
            "{wire:02x?}"
        );
        assert_eq!(&encode(&msg)[..], wire, "{msg:?}");
        assert_eq!(encoded_len(&msg), wire.len(), "{msg:?}");
    }
}

#[test]
fn flags_octet_fields() {
    let f = Flags::from_byte(0b1111_0110);
    assert!(f.dup && f.retain && !f.will && f.clean_session);
    assert_eq!(f.qos, SnQos::NoConnect);
    assert_eq!(f.topic_id_type, TopicIdType::Short);
    for byte in 0..=255u8 {
        assert_eq!(Flags::from_byte(byte).to_byte(), byte);
    }
}

#[test]
fn three_octet_length_form() {
    let data = Bytes::from(vec![7u8; 300]);
    let msg = Message::Publish {
        flags: flags(0),
        topic_id: 1,
        msg_id: 0,
        data,
    };
    let wire = encode(&msg);
    assert_eq!(&wire[..3], &[0x01, 0x01, 0x35]); // 3 + 1 + 5 + 300 = 309 = 0x135
    assert_eq!(wire.len(), 309);
    assert_eq!(decode(wire), Ok(msg));
    // The long form may also be used for a short message.
    assert_eq!(decode(b(&[0x01, 0x00, 0x04, 0x17])), Ok(Message::PingResp));
    // 254 octets of type + body still fit the short form; 255 do not.
    let m = Message::WillMsg(Bytes::from(vec![0u8; 253]));
    assert_eq!(encode(&m)[0], 255);
    let m = Message::WillMsg(Bytes::from(vec![0u8; 254]));
    assert_eq!(&encode(&m)[..3], &[0x01, 0x01, 0x02]);
}

#[test]
fn malformed_datagrams_are_typed_errors() {
    use DecodeError as E;
    let cases: &[(&[u8], DecodeError)] = &[
        (&[], E::Empty),
        (&[0x01], E::ShortHeader),
        (&[0x01, 0x00], E::ShortHeader),
        (&[0x00, 0x17], E::BadLength(0)),
        (&[0x01, 0x00, 0x03, 0x17], E::BadLength(3)),
        (
            &[0x05, 0x18],
            E::Truncated {
                declared: 5,
                actual: 2,
            },
        ),
        (
            &[0x02, 0x17, 0x00],
            E::Trailing {
                declared: 2,
                actual: 3,
            },
        ),
        (&[0x02, 0x03], E::UnknownType(0x03)),
        (&[0x02, 0x11], E::UnknownType(0x11)),
        (&[0x02, 0x19], E::UnknownType(0x19)),
        (&[0x02, 0xff], E::UnknownType(0xff)),
        (&[0x04, 0x00, 0x01, 0x00], E::TooShort(0x00)),
        (&[0x02, 0x05], E::TooShort(0x05)),
        (&[0x06, 0x0c, 0x00, 0x00, 0x01, 0x00], E::TooShort(0x0c)),
        (&[0x03, 0x18, 0x00], E::TooShort(0x18)),
        (&[0x05, 0x18, 0x00, 0x01, 0x02], E::TooLong(0x18)),
        (&[0x03, 0x17, 0x00], E::TooLong(0x17)),
        (&[0x03, 0x0e, 0x00], E::TooShort(0x0e)),
        (&[0x05, 0x12, 0x01, 0x00, 0x01], E::TooShort(0x12)),
        (
            &[0x08, 0x12, 0x01, 0x00, 0x01, 0x00, 0x01, 0x00],
            E::TooLong(0x12),
        ),
        (&[0x02, 0xfe], E::TooShort(0xfe)),
        (&[0x03, 0xfe, 0x00], E::Empty),
        (&[0x03, 0xfe, 0x00, 0x03, 0xfe, 0x00, 0x02, 0x17], E::Nested),
    ];
    for (wire, want) in cases {
        assert_eq!(
            decode(Bytes::copy_from_slice(wire)).as_ref(),
            Err(want),
            "{wire:02x?}"
        );
    }
}

fn any_bytes(max: usize) -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

fn any_code() -> impl Strategy<Value = ReturnCode> {
    any::<u8>().prop_map(ReturnCode::from_byte)
}

fn any_flags() -> impl Strategy<Value = Flags> {
    any::<u8>().prop_map(Flags::from_byte)
}

fn any_sub() -> impl Strategy<Value = (Flags, SubTopic)> {
    let topic = prop_oneof![
        any_bytes(300).prop_map(SubTopic::Name),
        any::<u16>().prop_map(SubTopic::Predefined),
        any::<[u8; 2]>().prop_map(SubTopic::Short),
        any::<u16>().prop_map(SubTopic::Reserved),
    ];
    (any_flags(), topic).prop_map(|(mut f, t)| {
        f.topic_id_type = match t {
            SubTopic::Name(_) => TopicIdType::Normal,
            SubTopic::Predefined(_) => TopicIdType::Predefined,
            SubTopic::Short(_) => TopicIdType::Short,
            SubTopic::Reserved(_) => TopicIdType::Reserved,
        };
        (f, t)
    })
}

fn any_plain() -> impl Strategy<Value = Message> {
    use Message as M;
    let will = || proptest::option::of((any_flags(), any_bytes(40)));
    prop_oneof![
        (any::<u8>(), any::<u16>()).prop_map(|(gw_id, duration)| M::Advertise { gw_id, duration }),
        any::<u8>().prop_map(|radius| M::SearchGw { radius }),
        (any::<u8>(), any_bytes(8)).prop_map(|(gw_id, gw_add)| M::GwInfo { gw_id, gw_add }),
        (any_flags(), any::<u8>(), any::<u16>(), any_bytes(30)).prop_map(
            |(flags, protocol_id, duration, client_id)| {
                M::Connect {
                    flags,
                    protocol_id,
                    duration,
                    client_id,
                }
            }
        ),
        any_code().prop_map(|code| M::ConnAck { code }),
        Just(M::WillTopicReq),
        will().prop_map(M::WillTopic),
        Just(M::WillMsgReq),
        any_bytes(300).prop_map(M::WillMsg),
        (any::<u16>(), any::<u16>(), any_bytes(300)).prop_map(|(topic_id, msg_id, topic_name)| {
            M::Register {
                topic_id,
                msg_id,
                topic_name,
            }
        }),
        (any::<u16>(), any::<u16>(), any_code()).prop_map(|(topic_id, msg_id, code)| M::RegAck {
            topic_id,
            msg_id,
            code
        }),
        (any_flags(), any::<u16>(), any::<u16>(), any_bytes(600)).prop_map(
            |(flags, topic_id, msg_id, data)| {
                M::Publish {
                    flags,
                    topic_id,
                    msg_id,
                    data,
                }
            }
        ),
        (any::<u16>(), any::<u16>(), any_code()).prop_map(|(topic_id, msg_id, code)| M::PubAck {
            topic_id,
            msg_id,
            code
        }),
        any::<u16>().prop_map(|msg_id| M::PubComp { msg_id }),
        any::<u16>().prop_map(|msg_id| M::PubRec { msg_id }),
        any::<u16>().prop_map(|msg_id| M::PubRel { msg_id }),
        (any_sub(), any::<u16>()).prop_map(|((flags, topic), msg_id)| M::Subscribe {
            flags,
            msg_id,
            topic
        }),
        (any_flags(), any::<u16>(), any::<u16>(), any_code()).prop_map(
            |(flags, topic_id, msg_id, code)| {
                M::SubAck {
                    flags,
                    topic_id,
                    msg_id,
                    code,
                }
            }
        ),
        (any_sub(), any::<u16>()).prop_map(|((flags, topic), msg_id)| M::Unsubscribe {
            flags,
            msg_id,
            topic
        }),
        any::<u16>().prop_map(|msg_id| M::UnsubAck { msg_id }),
        proptest::option::of(any_bytes(30).prop_filter("non-empty", |b| !b.is_empty()))
            .prop_map(|client_id| M::PingReq { client_id }),
        Just(M::PingResp),
        proptest::option::of(any::<u16>()).prop_map(|duration| M::Disconnect { duration }),
        will().prop_map(M::WillTopicUpd),
        any_code().prop_map(|code| M::WillTopicResp { code }),
        any_bytes(300).prop_map(M::WillMsgUpd),
        any_code().prop_map(|code| M::WillMsgResp { code }),
    ]
}

fn any_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        4 => any_plain(),
        1 => (any::<u8>(), any_bytes(300), any_plain()).prop_map(|(ctrl, node_id, inner)| {
            Message::Encapsulated { ctrl, node_id, inner: Box::new(inner) }
        }),
    ]
}

proptest! {
    #[test]
    fn round_trip(m in any_message()) {
        let wire = encode(&m);
        prop_assert_eq!(wire.len(), encoded_len(&m));
        prop_assert_eq!(decode(wire), Ok(m));
    }

    #[test]
    fn arbitrary_bytes_never_panic(wire in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = decode(Bytes::from(wire));
    }

    #[test]
    fn cut_datagrams_are_errors(m in any_plain(), cut in 1usize..600) {
        let wire = encode(&m);
        let cut = cut.min(wire.len());
        // A datagram cut short never decodes: the Length field no longer matches.
        prop_assert!(decode(wire.slice(..wire.len() - cut)).is_err());
    }
}
