//! Byte-literal tables: hand-written bytes following the spec's layouts, decoded to the
//! expected struct and encoded back to the same bytes, for every packet and version.

use bytes::Bytes;

use super::super::{
    Ack, Auth, ConnAck, Connect, Disconnect, LastWill, Properties, Props, ProtocolVersion, Publish,
    QoS, QosPid, ReasonCode, RetainHandling, SubAck, Subscribe, SubscriptionOptions, UnsubAck,
    Unsubscribe,
};
use super::{both_ways, dec, enc, pid, s, Packet, V3_1, V4, V5};

fn connect(protocol: ProtocolVersion, client_id: &str) -> Connect {
    Connect {
        protocol,
        clean_start: true,
        keep_alive: 60,
        properties: Props::default(),
        client_id: s(client_id),
        will: None,
        username: None,
        password: None,
        bridge: false,
    }
}

#[test]
fn connect_v3_1_1_minimal() {
    let bytes = [
        0x10, 0x0C, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x3C, 0x00, 0x00,
    ];
    both_ways(&bytes, V4, &Packet::Connect(Box::new(connect(V4, ""))));
    // CONNECT ignores the connection's version.
    assert_eq!(dec(&bytes, V5), dec(&bytes, V4));
}

#[test]
fn connect_v3_1_1_will_username_password() {
    #[rustfmt::skip]
    let bytes = [
        0x10, 0x1F, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04,
        0xEE, // username, password, will retain, will QoS 1, will, clean session
        0x00, 0x0A,
        0x00, 0x03, b'c', b'i', b'd',
        0x00, 0x03, b'w', b'/', b't',
        0x00, 0x02, b'h', b'i',
        0x00, 0x01, b'u',
        0x00, 0x02, 0x01, 0x02,
    ];
    let packet = Connect {
        keep_alive: 10,
        will: Some(LastWill {
            topic: s("w/t"),
            payload: Bytes::from_static(b"hi"),
            qos: QoS::AtLeastOnce,
            retain: true,
            properties: Props::default(),
        }),
        username: Some(s("u")),
        password: Some(Bytes::from_static(&[1, 2])),
        ..connect(V4, "cid")
    };
    both_ways(&bytes, V4, &Packet::Connect(Box::new(packet)));
}

#[test]
fn connect_v3_1() {
    #[rustfmt::skip]
    let bytes = [
        0x10, 0x11, 0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p', 0x03, 0x02, 0x00, 0x3C,
        0x00, 0x03, b'a', b'b', b'c',
    ];
    both_ways(
        &bytes,
        V3_1,
        &Packet::Connect(Box::new(connect(V3_1, "abc"))),
    );
}

#[test]
fn connect_v5_with_will_properties() {
    #[rustfmt::skip]
    let bytes = [
        0x10, 0x1E, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x06, 0x00, 0x3C,
        0x05, 0x11, 0x00, 0x00, 0x00, 0x78, // Session Expiry Interval 120
        0x00, 0x01, b'a',
        0x05, 0x18, 0x00, 0x00, 0x00, 0x05, // Will Delay Interval 5
        0x00, 0x01, b't',
        0x00, 0x00,
    ];
    let packet = Connect {
        properties: Props::from(Properties {
            session_expiry_interval: Some(120),
            ..Properties::default()
        }),
        will: Some(LastWill {
            topic: s("t"),
            payload: Bytes::new(),
            qos: QoS::AtMostOnce,
            retain: false,
            properties: Props::from(Properties {
                will_delay_interval: Some(5),
                ..Properties::default()
            }),
        }),
        ..connect(V5, "a")
    };
    both_ways(&bytes, V4, &Packet::Connect(Box::new(packet)));
}

#[test]
fn connect_v5_password_without_username() {
    #[rustfmt::skip]
    let bytes = [
        0x10, 0x10, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x40, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x01, b'p',
    ];
    let packet = Connect {
        clean_start: false,
        keep_alive: 0,
        password: Some(Bytes::from_static(b"p")),
        ..connect(V5, "")
    };
    both_ways(&bytes, V5, &Packet::Connect(Box::new(packet)));
}

#[test]
fn connack_v3() {
    let ok = ConnAck {
        session_present: true,
        reason: ReasonCode::Success,
        properties: Props::default(),
    };
    both_ways(&[0x20, 0x02, 0x01, 0x00], V4, &Packet::ConnAck(ok.clone()));
    both_ways(&[0x20, 0x02, 0x01, 0x00], V3_1, &Packet::ConnAck(ok));
    let table = [
        (1, ReasonCode::UnsupportedProtocolVersion),
        (2, ReasonCode::ClientIdentifierNotValid),
        (3, ReasonCode::ServerUnavailable),
        (4, ReasonCode::BadUserNameOrPassword),
        (5, ReasonCode::NotAuthorized),
    ];
    for (code, reason) in table {
        let packet = Packet::ConnAck(ConnAck {
            session_present: false,
            reason,
            properties: Props::default(),
        });
        both_ways(&[0x20, 0x02, 0x00, code], V4, &packet);
    }
    // A v5-only failure has no v3 return code: it becomes 3, Server unavailable.
    let banned = Packet::ConnAck(ConnAck {
        session_present: false,
        reason: ReasonCode::Banned,
        properties: Props::default(),
    });
    assert_eq!(enc(&banned, V4), [0x20, 0x02, 0x00, 0x03]);
}

#[test]
fn connack_v5() {
    let packet = Packet::ConnAck(ConnAck {
        session_present: false,
        reason: ReasonCode::Success,
        properties: Props::from(Properties {
            receive_maximum: Some(10),
            ..Properties::default()
        }),
    });
    both_ways(
        &[0x20, 0x06, 0x00, 0x00, 0x03, 0x21, 0x00, 0x0A],
        V5,
        &packet,
    );
    let refused = Packet::ConnAck(ConnAck {
        session_present: false,
        reason: ReasonCode::NotAuthorized,
        properties: Props::default(),
    });
    both_ways(&[0x20, 0x03, 0x00, 0x87, 0x00], V5, &refused);
}

#[test]
fn publish_v3() {
    let qos0 = Publish {
        dup: false,
        qos_pid: QosPid::Level0,
        retain: false,
        topic: s("a/b"),
        properties: Props::default(),
        payload: Bytes::from_static(b"hi"),
    };
    let bytes = [0x30, 0x07, 0x00, 0x03, b'a', b'/', b'b', b'h', b'i'];
    both_ways(&bytes, V4, &Packet::Publish(qos0.clone()));
    both_ways(&bytes, V3_1, &Packet::Publish(qos0.clone()));
    let qos1 = Publish {
        dup: true,
        retain: true,
        qos_pid: QosPid::Level1(pid(10)),
        ..qos0
    };
    let bytes = [
        0x3B, 0x09, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x0A, b'h', b'i',
    ];
    both_ways(&bytes, V4, &Packet::Publish(qos1));
}

#[test]
fn publish_v5_with_properties() {
    #[rustfmt::skip]
    let bytes = [
        0x34, 0x17, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x0B,
        0x0E,
        0x01, 0x01, // Payload Format Indicator 1
        0x0B, 0x07, // Subscription Identifier 7
        0x23, 0x00, 0x05, // Topic Alias 5
        0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v', // User Property k=v
        b'x',
    ];
    let packet = Publish {
        dup: false,
        qos_pid: QosPid::Level2(pid(11)),
        retain: false,
        topic: s("a/b"),
        properties: Props::from(Properties {
            payload_format_indicator: Some(1),
            subscription_identifiers: vec![7],
            topic_alias: Some(5),
            user_properties: vec![(s("k"), s("v"))],
            ..Properties::default()
        }),
        payload: Bytes::from_static(b"x"),
    };
    both_ways(&bytes, V5, &Packet::Publish(packet));
}

#[test]
fn publish_v5_empty_topic_with_alias() {
    let bytes = [0x30, 0x07, 0x00, 0x00, 0x03, 0x23, 0x00, 0x01, b'p'];
    let packet = Publish {
        dup: false,
        qos_pid: QosPid::Level0,
        retain: false,
        topic: s(""),
        properties: Props::from(Properties {
            topic_alias: Some(1),
            ..Properties::default()
        }),
        payload: Bytes::from_static(b"p"),
    };
    both_ways(&bytes, V5, &Packet::Publish(packet));
}

#[test]
fn acks_v3() {
    let a = |n| Ack::new(pid(n));
    both_ways(&[0x40, 0x02, 0x00, 0x01], V4, &Packet::PubAck(a(1)));
    both_ways(&[0x50, 0x02, 0x00, 0x02], V4, &Packet::PubRec(a(2)));
    both_ways(&[0x62, 0x02, 0x00, 0x03], V4, &Packet::PubRel(a(3)));
    both_ways(&[0x70, 0x02, 0x00, 0x04], V3_1, &Packet::PubComp(a(4)));
    // v3 cannot carry a reason: it is dropped.
    let failed = Ack {
        reason: ReasonCode::UnspecifiedError,
        ..a(1)
    };
    assert_eq!(enc(&Packet::PubAck(failed), V4), [0x40, 0x02, 0x00, 0x01]);
}

#[test]
fn acks_v5() {
    // Short form: Success, no properties.
    both_ways(
        &[0x40, 0x02, 0x00, 0x01],
        V5,
        &Packet::PubAck(Ack::new(pid(1))),
    );
    let no_match = Ack {
        reason: ReasonCode::NoMatchingSubscribers,
        ..Ack::new(pid(1))
    };
    // Remaining Length 3: reason without properties.
    assert_eq!(
        dec(&[0x40, 0x03, 0x00, 0x01, 0x10], V5),
        Ok(Packet::PubAck(no_match.clone()))
    );
    both_ways(
        &[0x40, 0x04, 0x00, 0x01, 0x10, 0x00],
        V5,
        &Packet::PubAck(no_match),
    );
    let rec = Ack {
        pid: pid(2),
        reason: ReasonCode::UnspecifiedError,
        properties: Props::from(Properties {
            reason_string: Some(s("x")),
            ..Properties::default()
        }),
    };
    let bytes = [0x50, 0x08, 0x00, 0x02, 0x80, 0x04, 0x1F, 0x00, 0x01, b'x'];
    both_ways(&bytes, V5, &Packet::PubRec(rec));
    let rel = Ack {
        reason: ReasonCode::PacketIdentifierNotFound,
        ..Ack::new(pid(3))
    };
    both_ways(
        &[0x62, 0x04, 0x00, 0x03, 0x92, 0x00],
        V5,
        &Packet::PubRel(rel),
    );
    both_ways(
        &[0x70, 0x02, 0x00, 0x04],
        V5,
        &Packet::PubComp(Ack::new(pid(4))),
    );
}

#[test]
fn subscribe_v3() {
    #[rustfmt::skip]
    let bytes = [
        0x82, 0x0C, 0x00, 0x0A,
        0x00, 0x03, b'a', b'/', b'+', 0x01,
        0x00, 0x01, b'#', 0x02,
    ];
    let opts = |qos| SubscriptionOptions {
        qos,
        ..SubscriptionOptions::default()
    };
    let packet = Subscribe {
        pid: pid(10),
        properties: Props::default(),
        filters: vec![
            (s("a/+"), opts(QoS::AtLeastOnce)),
            (s("#"), opts(QoS::ExactlyOnce)),
        ],
    };
    both_ways(&bytes, V4, &Packet::Subscribe(packet.clone()));
    both_ways(&bytes, V3_1, &Packet::Subscribe(packet));
}

#[test]
fn subscribe_v5() {
    #[rustfmt::skip]
    let bytes = [
        0x82, 0x0B, 0x00, 0x0A,
        0x02, 0x0B, 0x05, // Subscription Identifier 5
        0x00, 0x03, b'a', b'/', b'b',
        0x2D, // Retain Handling 2, Retain As Published, No Local, QoS 1
    ];
    let packet = Subscribe {
        pid: pid(10),
        properties: Props::from(Properties {
            subscription_identifiers: vec![5],
            ..Properties::default()
        }),
        filters: vec![(
            s("a/b"),
            SubscriptionOptions {
                qos: QoS::AtLeastOnce,
                no_local: true,
                retain_as_published: true,
                retain_handling: RetainHandling::Never,
            },
        )],
    };
    both_ways(&bytes, V5, &Packet::Subscribe(packet));
}

#[test]
fn suback() {
    let v3 = SubAck {
        pid: pid(10),
        properties: Props::default(),
        reasons: vec![
            ReasonCode::Success,
            ReasonCode::GrantedQoS2,
            ReasonCode::UnspecifiedError,
        ],
    };
    both_ways(
        &[0x90, 0x05, 0x00, 0x0A, 0x00, 0x02, 0x80],
        V4,
        &Packet::SubAck(v3),
    );
    // v3 has one failure code.
    let denied = SubAck {
        pid: pid(10),
        properties: Props::default(),
        reasons: vec![ReasonCode::NotAuthorized, ReasonCode::GrantedQoS1],
    };
    assert_eq!(
        enc(&Packet::SubAck(denied), V4),
        [0x90, 0x04, 0x00, 0x0A, 0x80, 0x01]
    );
    let v5 = SubAck {
        pid: pid(10),
        properties: Props::default(),
        reasons: vec![
            ReasonCode::GrantedQoS1,
            ReasonCode::TopicFilterInvalid,
            ReasonCode::WildcardSubscriptionsNotSupported,
        ],
    };
    both_ways(
        &[0x90, 0x06, 0x00, 0x0A, 0x00, 0x01, 0x8F, 0xA2],
        V5,
        &Packet::SubAck(v5),
    );
}

#[test]
fn unsubscribe() {
    let packet = Unsubscribe {
        pid: pid(11),
        properties: Props::default(),
        filters: vec![s("a/b")],
    };
    let v3 = [0xA2, 0x07, 0x00, 0x0B, 0x00, 0x03, b'a', b'/', b'b'];
    both_ways(&v3, V4, &Packet::Unsubscribe(packet.clone()));
    let v5 = [0xA2, 0x08, 0x00, 0x0B, 0x00, 0x00, 0x03, b'a', b'/', b'b'];
    both_ways(&v5, V5, &Packet::Unsubscribe(packet));
}

#[test]
fn unsuback() {
    let v3 = UnsubAck {
        pid: pid(11),
        properties: Props::default(),
        reasons: Vec::new(),
    };
    both_ways(&[0xB0, 0x02, 0x00, 0x0B], V4, &Packet::UnsubAck(v3));
    let v5 = UnsubAck {
        pid: pid(11),
        properties: Props::default(),
        reasons: vec![ReasonCode::NoSubscriptionExisted],
    };
    both_ways(
        &[0xB0, 0x04, 0x00, 0x0B, 0x00, 0x11],
        V5,
        &Packet::UnsubAck(v5.clone()),
    );
    // v3 drops the reasons.
    assert_eq!(enc(&Packet::UnsubAck(v5), V4), [0xB0, 0x02, 0x00, 0x0B]);
}

#[test]
fn ping() {
    for v in [V3_1, V4, V5] {
        both_ways(&[0xC0, 0x00], v, &Packet::PingReq);
        both_ways(&[0xD0, 0x00], v, &Packet::PingResp);
    }
}

#[test]
fn disconnect() {
    let normal = Packet::Disconnect(Disconnect::new(ReasonCode::Success));
    both_ways(&[0xE0, 0x00], V4, &normal);
    both_ways(&[0xE0, 0x00], V5, &normal);
    let will = Disconnect {
        reason: ReasonCode::DisconnectWithWillMessage,
        properties: Props::from(Properties {
            session_expiry_interval: Some(0),
            ..Properties::default()
        }),
    };
    let bytes = [0xE0, 0x07, 0x04, 0x05, 0x11, 0x00, 0x00, 0x00, 0x00];
    both_ways(&bytes, V5, &Packet::Disconnect(will.clone()));
    // v3 has no reason.
    assert_eq!(enc(&Packet::Disconnect(will), V4), [0xE0, 0x00]);
    // Remaining Length 1: a reason and no properties.
    let taken = Packet::Disconnect(Disconnect::new(ReasonCode::SessionTakenOver));
    assert_eq!(dec(&[0xE0, 0x01, 0x8E], V5).as_ref(), Ok(&taken));
    both_ways(&[0xE0, 0x02, 0x8E, 0x00], V5, &taken);
}

#[test]
fn auth() {
    let ok = Packet::Auth(Auth {
        reason: ReasonCode::Success,
        properties: Props::default(),
    });
    both_ways(&[0xF0, 0x00], V5, &ok);
    let cont = Auth {
        reason: ReasonCode::ContinueAuthentication,
        properties: Props::from(Properties {
            authentication_method: Some(s("SCRM")),
            ..Properties::default()
        }),
    };
    let bytes = [
        0xF0, 0x09, 0x18, 0x07, 0x15, 0x00, 0x04, b'S', b'C', b'R', b'M',
    ];
    both_ways(&bytes, V5, &Packet::Auth(cont.clone()));
    let reauth = Packet::Auth(Auth {
        reason: ReasonCode::ReAuthenticate,
        ..cont
    });
    assert!(
        matches!(dec(&[0xF0, 0x01, 0x19], V5), Ok(Packet::Auth(a)) if a.reason == ReasonCode::ReAuthenticate)
    );
    assert_eq!(dec(&enc(&reauth, V5), V5), Ok(reauth));
}

#[test]
fn zero_copy_payload_shares_the_read_buffer() {
    let mut buf =
        bytes::BytesMut::from(&[0x30, 0x07, 0x00, 0x03, b'a', b'/', b'b', b'h', b'i'][..]);
    let start = buf.as_ptr() as usize;
    let Ok(Some(Packet::Publish(p))) = super::decode(&mut buf, V4, 100) else {
        panic!("a publish");
    };
    assert_eq!(p.payload.as_ptr() as usize, start + 7);
    assert_eq!(p.topic.as_bytes().as_ptr() as usize, start + 4);
}
