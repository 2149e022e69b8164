//! Connect, discovery, topic ids, publish and subscribe in both directions, will, QoS 2
//! and −1, with exact datagrams, ids and return codes.

use super::*;
use crate::support::{raw_sub, Raw};
use midge::protocol::{Packet, QosPid};

#[tokio::test]
async fn searchgw_is_answered_with_gwinfo_to_the_sender() {
    let (_b, gw) = start_gateway(|c| c.mqttsn.gateway_id = 7).await;
    let sn = Sn::open(gw).await;
    sn.send(&msg(0x01, &[0x00])).await; // SEARCHGW radius 0
    sn.expect(&[0x03, 0x02, 0x07]).await; // GWINFO gw id 7
}

#[tokio::test]
async fn register_then_publish_qos1_reaches_a_tcp_subscriber() {
    let (b, gw) = start_gateway(|_| {}).await;
    let mut tcp = raw_sub(b.addr(), "tcp-sub", "sn/#", 1).await;
    let sn = Sn::connected(gw, "sensor-1", 0x04, 60).await;
    sn.send(&register(0, 1, "sn/temp")).await;
    sn.expect(&regack(1, 1, 0x00)).await;
    sn.send(&publish(0x20, 1, 2, b"21.5")).await;
    // PUBACK echoes the topic id and msg id, return code accepted.
    sn.expect(&puback(1, 2, 0x00)).await;
    let p = tcp.recv_publish().await;
    assert_eq!((&*p.topic, &p.payload[..]), ("sn/temp", &b"21.5"[..]));
    assert_eq!(p.qos_pid.qos() as u8, 1);
    // The same name registered again keeps its id; a second name gets the next.
    sn.send(&register(0, 3, "sn/temp")).await;
    sn.expect(&regack(1, 3, 0x00)).await;
    sn.send(&register(0, 4, "sn/hum")).await;
    sn.expect(&regack(2, 4, 0x00)).await;
    // QoS 0: no answer, still delivered.
    sn.send(&publish(0x00, 2, 0, b"40")).await;
    let p = tcp.recv_publish().await;
    assert_eq!((&*p.topic, &p.payload[..]), ("sn/hum", &b"40"[..]));
    sn.quiet().await;
}

#[tokio::test]
async fn unknown_topic_ids_are_rejected_with_0x02() {
    let (_b, gw) = start_gateway(|_| {}).await;
    let sn = Sn::connected(gw, "c", 0x04, 60).await;
    sn.send(&publish(0x20, 0x0042, 5, b"x")).await;
    sn.expect(&puback(0x0042, 5, 0x02)).await;
    // Also at QoS 0 (MQTT-SN 1.2 section 6.5), and for an unknown predefined id.
    sn.send(&publish(0x00, 0x0043, 0, b"x")).await;
    sn.expect(&puback(0x0043, 0, 0x02)).await;
    sn.send(&publish(0x21, 0x0099, 6, b"x")).await;
    sn.expect(&puback(0x0099, 6, 0x02)).await;
    // Wildcards cannot be registered.
    sn.send(&register(0, 7, "a/#")).await;
    sn.expect(&regack(0, 7, 0x03)).await;
    // CONNECT without a client id, or for another protocol id: refused with 0x03.
    let other = Sn::open(gw).await;
    other.send(&connect(0x04, 60, "")).await;
    other.expect(&msg(CONNACK, &[0x03])).await;
    let mut bad = connect(0x04, 60, "x");
    bad[3] = 0x02;
    other.send(&bad).await;
    other.expect(&msg(CONNACK, &[0x03])).await;
}

#[tokio::test]
async fn subscribe_by_name_gets_an_id_and_wildcards_get_register_first() {
    let (b, gw) = start_gateway(|_| {}).await;
    let sn = Sn::connected(gw, "sub", 0x04, 60).await;
    // By name, QoS 1: SUBACK carries the granted QoS and the topic id for the name.
    sn.send(&subscribe_name(0x12, 0x20, 1, "cmd/led")).await;
    sn.expect(&suback(0x20, 1, 1, 0x00)).await;
    let (mut tcp, _) = Raw::v4(b.addr(), "tcp-pub", true).await;
    tcp.publish1("cmd/led", 1, b"on").await;
    let (flags, topic_id, msg_id, data) = parse_publish(&sn.recv().await);
    assert_eq!((flags, topic_id, data.as_slice()), (0x20, 1, &b"on"[..]));
    assert_ne!(msg_id, 0);
    sn.send(&puback(topic_id, msg_id, 0x00)).await;
    // A wildcard: SUBACK with topic id 0, then REGISTER before the first PUBLISH.
    sn.send(&subscribe_name(0x12, 0x20, 2, "dev/+/state")).await;
    sn.expect(&suback(0x20, 0, 2, 0x00)).await;
    tcp.publish1("dev/a/state", 2, b"up").await;
    let reg = sn.recv().await;
    assert_eq!(&reg[..4], &[0x11, REGISTER, 0x00, 0x02], "{reg:02x?}");
    assert_eq!(&reg[6..], b"dev/a/state");
    let reg_msg_id = u16::from_be_bytes([reg[4], reg[5]]);
    sn.quiet().await; // nothing until the REGACK
    sn.send(&regack(2, reg_msg_id, 0x00)).await;
    let (flags, topic_id, msg_id, data) = parse_publish(&sn.recv().await);
    assert_eq!((flags, topic_id, data.as_slice()), (0x20, 2, &b"up"[..]));
    sn.send(&puback(2, msg_id, 0x00)).await;
    // The second message on that topic needs no REGISTER.
    tcp.publish1("dev/a/state", 3, b"down").await;
    let (_, topic_id, msg_id, data) = parse_publish(&sn.recv().await);
    assert_eq!((topic_id, data.as_slice()), (2, &b"down"[..]));
    sn.send(&puback(2, msg_id, 0x00)).await;
    // QoS 0 to the client carries msg id 0; UNSUBSCRIBE by name stops delivery.
    tcp.publish0("cmd/led", b"off").await;
    assert_eq!(
        parse_publish(&sn.recv().await),
        (0x00, 1, 0, b"off".to_vec())
    );
    sn.send(&subscribe_name(0x14, 0x00, 3, "cmd/led")).await;
    sn.expect(&msg_id_only(0x15, 3)).await;
    tcp.publish0("cmd/led", b"again").await;
    sn.quiet().await;
}

#[tokio::test]
async fn retain_flag_only_on_retained_messages_sent_on_subscribe() {
    let (b, gw) = start_gateway(|_| {}).await;
    let (mut tcp, _) = Raw::v4(b.addr(), "tcp-pub", true).await;
    tcp.send(&crate::bytes::publish(
        "r/t", 0, 0, false, true, b"kept", None,
    ))
    .await;
    tcp.sync().await;
    let sn = Sn::connected(gw, "r", 0x04, 60).await;
    sn.send(&subscribe_name(0x12, 0x00, 1, "r/t")).await;
    sn.expect(&suback(0x00, 1, 1, 0x00)).await;
    // Retained on subscribe: retain flag (0x10) set.
    assert_eq!(
        parse_publish(&sn.recv().await),
        (0x10, 1, 0, b"kept".to_vec())
    );
    // A live retained publish to an existing subscriber: no retain flag.
    tcp.send(&crate::bytes::publish(
        "r/t", 0, 0, false, true, b"new", None,
    ))
    .await;
    assert_eq!(
        parse_publish(&sn.recv().await),
        (0x00, 1, 0, b"new".to_vec())
    );
}

#[tokio::test]
async fn predefined_and_short_topics_both_ways() {
    let (b, gw) = start_gateway(|_| {}).await;
    let mut tcp = raw_sub(b.addr(), "tcp-sub", "#", 0).await;
    let sn = Sn::connected(gw, "p", 0x04, 60).await;
    // PUBLISH to predefined id 1 (flags 0bxx01), QoS 1: PUBACK echoes id 1.
    sn.send(&publish(0x21, 1, 9, b"22")).await;
    sn.expect(&puback(1, 9, 0x00)).await;
    let p = tcp.recv_publish().await;
    assert_eq!(
        (&*p.topic, &p.payload[..]),
        ("sensors/temperature", &b"22"[..])
    );
    // A short topic name (flags 0bxx10): the two octets are the name.
    sn.send(&publish(0x22, u16::from_be_bytes(*b"ab"), 10, b"s"))
        .await;
    sn.expect(&puback(0x6162, 10, 0x00)).await;
    let p = tcp.recv_publish().await;
    assert_eq!(&*p.topic, "ab");
    // SUBSCRIBE by predefined id and by short name; deliveries use the same form.
    sn.send(&subscribe_id(0x21, 11, 1)).await;
    sn.expect(&suback(0x20, 1, 11, 0x00)).await;
    sn.send(&subscribe_id(0x02, 12, 0x7879)).await; // "xy"
    sn.expect(&suback(0x00, 0x7879, 12, 0x00)).await;
    let (mut pubr, _) = Raw::v4(b.addr(), "tcp-pub", true).await;
    pubr.publish0("xy", b"short").await;
    assert_eq!(
        parse_publish(&sn.recv().await),
        (0x02, 0x7879, 0, b"short".to_vec())
    );
    pubr.publish1("sensors/temperature", 1, b"23").await;
    let (flags, topic_id, msg_id, data) = parse_publish(&sn.recv().await);
    assert_eq!((flags, topic_id, data.as_slice()), (0x21, 1, &b"23"[..]));
    sn.send(&puback(1, msg_id, 0x00)).await;
    // An unknown predefined id in SUBSCRIBE: 0x02.
    sn.send(&subscribe_id(0x01, 13, 77)).await;
    sn.expect(&suback(0x00, 77, 13, 0x02)).await;
}

#[tokio::test]
async fn per_client_predefined_topics() {
    let (b, gw) = start_gateway(|c| {
        c.mqttsn.predefined.push(PredefinedTopic {
            client_id: Some("special".into()),
            id: 5,
            topic: "special/five".into(),
        });
    })
    .await;
    let mut tcp = raw_sub(b.addr(), "tcp-sub", "#", 0).await;
    let other = Sn::connected(gw, "other", 0x04, 60).await;
    other.send(&publish(0x21, 5, 1, b"x")).await;
    other.expect(&puback(5, 1, 0x02)).await;
    let special = Sn::connected(gw, "special", 0x04, 60).await;
    special.send(&publish(0x21, 5, 1, b"y")).await;
    special.expect(&puback(5, 1, 0x00)).await;
    assert_eq!(&*tcp.recv_publish().await.topic, "special/five");
}

#[tokio::test]
async fn qos_minus_one_without_a_connection() {
    let (b, gw) = start_gateway(|_| {}).await;
    let mut tcp = raw_sub(b.addr(), "tcp-sub", "#", 0).await;
    let sn = Sn::open(gw).await;
    // QoS -1 = 0b11 in bits 6-5: flags 0x61 predefined, 0x62 short.
    sn.send(&publish(0x61, 1, 0, b"m1")).await;
    let p = tcp.recv_publish().await;
    assert_eq!(
        (&*p.topic, &p.payload[..]),
        ("sensors/temperature", &b"m1"[..])
    );
    sn.send(&publish(0x62, 0x7a7a, 0, b"m2")).await;
    let p = tcp.recv_publish().await;
    assert_eq!((&*p.topic, &p.payload[..]), ("zz", &b"m2"[..]));
    // A normal topic id cannot be used without a connection: dropped, no answer.
    sn.send(&publish(0x60, 1, 0, b"m3")).await;
    sn.quiet().await;
    assert!(tcp.quiet().await.is_empty());
}

#[tokio::test]
async fn qos2_both_ways() {
    let (b, gw) = start_gateway(|_| {}).await;
    let mut tcp = raw_sub(b.addr(), "tcp-sub", "q2/#", 2).await;
    let sn = Sn::connected(gw, "q2", 0x04, 60).await;
    let id = sn.register(1, "q2/up").await;
    sn.send(&publish(0x40, id, 2, b"once")).await;
    sn.expect(&msg_id_only(0x0f, 2)).await; // PUBREC
    sn.send(&msg_id_only(0x10, 2)).await; // PUBREL
    sn.expect(&msg_id_only(0x0e, 2)).await; // PUBCOMP
    let p = tcp.recv_publish().await;
    assert_eq!((&*p.topic, &p.payload[..]), ("q2/up", &b"once"[..]));
    if let QosPid::Level2(pid) = p.qos_pid {
        tcp.send(&crate::bytes::pubrec(pid.get())).await;
        assert!(matches!(tcp.recv().await, Packet::PubRel(_)));
        tcp.send(&crate::bytes::pubcomp(pid.get())).await;
    } else {
        panic!("expected QoS 2, got {:?}", p.qos_pid);
    }
    // Broker → SN at QoS 2.
    sn.send(&subscribe_name(0x12, 0x40, 3, "q2/down")).await;
    sn.expect(&suback(0x40, 2, 3, 0x00)).await;
    let (mut pubr, _) = Raw::v4(b.addr(), "tcp-pub", true).await;
    pubr.send(&crate::bytes::publish(
        "q2/down", 2, 1, false, false, b"two", None,
    ))
    .await;
    let (flags, topic_id, msg_id, data) = parse_publish(&sn.recv().await);
    assert_eq!((flags, topic_id, data.as_slice()), (0x40, 2, &b"two"[..]));
    sn.send(&msg_id_only(0x0f, msg_id)).await; // PUBREC
    sn.expect(&msg_id_only(0x10, msg_id)).await; // PUBREL
    sn.send(&msg_id_only(0x0e, msg_id)).await; // PUBCOMP
    assert!(matches!(pubr.recv().await, Packet::PubRec(_)));
}

/// §6.5 / PUBACK return code 0x01: a client with 64 QoS 2 publishes still open (no PUBREL
/// yet) gets "rejected: congestion" for the next; once one completes, it is taken again.
#[tokio::test]
async fn too_many_open_publishes_are_rejected_with_congestion() {
    let (_b, gw) = start_gateway(|_| {}).await;
    let sn = Sn::connected(gw, "busy", 0x04, 60).await;
    let id = sn.register(1, "busy/up").await;
    for msg_id in 10..74 {
        sn.send(&publish(0x40, id, msg_id, b"x")).await;
        sn.expect(&msg_id_only(0x0f, msg_id)).await; // PUBREC, then no PUBREL yet
    }
    sn.send(&publish(0x40, id, 74, b"x")).await;
    sn.expect(&puback(id, 74, 0x01)).await;
    sn.send(&msg_id_only(0x10, 10)).await; // PUBREL
    sn.expect(&msg_id_only(0x0e, 10)).await; // PUBCOMP
    sn.send(&publish(0x40, id, 74, b"x")).await;
    sn.expect(&msg_id_only(0x0f, 74)).await;
}

#[tokio::test]
async fn unanswered_publish_is_retransmitted_with_dup_then_the_client_is_lost() {
    let (b, gw) = start_gateway(|c| c.mqttsn.max_retries = 2).await;
    let sn = Sn::connected(gw, "deaf", 0x04, 600).await;
    sn.send(&subscribe_id(0x22, 1, 0x6464)).await; // "dd" at QoS 1
    sn.expect(&suback(0x20, 0x6464, 1, 0x00)).await;
    let (mut tcp, _) = Raw::v4(b.addr(), "tcp-pub", true).await;
    tcp.publish1("dd", 1, b"r").await;
    let first = parse_publish(&sn.recv().await);
    assert_eq!(first.0, 0x22);
    // T_retry = 1 s: the same message again with DUP (0x80), N_retry = 2 times.
    for _ in 0..2 {
        let again = parse_publish(
            &sn.recv_within(Duration::from_secs(3))
                .await
                .expect("resent"),
        );
        assert_eq!(again, (0xa2, first.1, first.2, first.3.clone()));
    }
    // Then the client is lost: its broker session closes.
    until(|| b.broker.links().sn.counts() == [0, 0, 0, 0]).await;
}

#[tokio::test]
async fn will_flow_and_will_published_when_the_keep_alive_lapses() {
    let (b, gw) = start_gateway(|_| {}).await;
    let mut tcp = raw_sub(b.addr(), "tcp-sub", "will/#", 0).await;
    let sn = Sn::open(gw).await;
    sn.send(&connect(0x0c, 1, "mortal")).await; // Will + CleanSession, keep-alive 1 s
    sn.expect(&[0x02, 0x06]).await; // WILLTOPICREQ
    let mut wt = vec![0x00];
    wt.extend(b"will/mortal");
    sn.send(&msg(0x07, &wt)).await;
    sn.expect(&[0x02, 0x08]).await; // WILLMSGREQ
    sn.send(&msg(0x09, b"gone")).await;
    sn.expect(&msg(CONNACK, &[0x00])).await;
    // WILLTOPICUPD / WILLMSGUPD change it.
    let mut upd = vec![0x00];
    upd.extend(b"will/updated");
    sn.send(&msg(0x1a, &upd)).await;
    sn.expect(&[0x03, 0x1b, 0x00]).await;
    sn.send(&msg(0x1c, b"bye")).await;
    sn.expect(&[0x03, 0x1d, 0x00]).await;
    // Silent for 1.5 x 1 s: lost, will published.
    let p = within(5.0, tcp.recv_publish()).await;
    assert_eq!((&*p.topic, &p.payload[..]), ("will/updated", &b"bye"[..]));
}

#[tokio::test]
async fn empty_willtopic_means_no_will_and_disconnect_publishes_none() {
    let (b, gw) = start_gateway(|_| {}).await;
    let mut tcp = raw_sub(b.addr(), "tcp-sub", "#", 0).await;
    let sn = Sn::open(gw).await;
    sn.send(&connect(0x0c, 60, "w2")).await;
    sn.expect(&[0x02, 0x06]).await;
    sn.send(&[0x02, 0x07]).await; // empty WILLTOPIC
    sn.expect(&msg(CONNACK, &[0x00])).await;
    // A will set later and then deleted by an empty WILLTOPICUPD.
    sn.send(&msg(0x1a, b"\x00will/x")).await;
    sn.expect(&[0x03, 0x1b, 0x00]).await;
    sn.send(&[0x02, 0x1a]).await;
    sn.expect(&[0x03, 0x1b, 0x00]).await;
    sn.send(&[0x02, 0x18]).await; // DISCONNECT
    sn.expect(&[0x02, 0x18]).await;
    assert!(tcp.quiet().await.is_empty());
}

#[tokio::test]
async fn pingreq_is_answered_and_a_second_connect_replaces_the_session() {
    let (_b, gw) = start_gateway(|_| {}).await;
    let sn = Sn::connected(gw, "pinger", 0x04, 60).await;
    sn.send(&[0x02, 0x16]).await;
    sn.expect(&[0x02, 0x17]).await;
    let id = sn.register(1, "a/b").await;
    // A clean CONNECT again: the old registrations are gone.
    sn.send(&connect(0x04, 60, "pinger")).await;
    sn.expect(&msg(CONNACK, &[0x00])).await;
    sn.send(&publish(0x00, id, 0, b"x")).await;
    sn.expect(&puback(id, 0, 0x02)).await;
}

#[tokio::test]
async fn anonymous_refused_unless_mapped_to_a_user() {
    let access = std::sync::Arc::new(midge::broker::Open {
        allow_anonymous: false,
    });
    let (_b, gw) = start_gateway_access(access, |c| {
        c.mqttsn.users.insert("known".into(), "alice".into());
    })
    .await;
    // MQTT-SN has no credentials: an unmapped client is anonymous, refused (0x03).
    let sn = Sn::open(gw).await;
    sn.send(&connect(0x04, 60, "stranger")).await;
    sn.expect(&msg(CONNACK, &[0x03])).await;
    let sn = Sn::open(gw).await;
    sn.send(&connect(0x04, 60, "known")).await;
    sn.expect(&msg(CONNACK, &[0x00])).await;
}

#[tokio::test]
async fn three_hundred_clients_with_a_qos1_message_in_flight_get_no_congestion() {
    let (b, gw) = start_gateway(|c| c.mqttsn.max_datagrams_per_sec = 0).await;
    let mut tcp = raw_sub(b.addr(), "tcp-sub", "many/#", 1).await;
    let mut clients = Vec::new();
    for i in 0..300u16 {
        let sn = Sn::open(gw).await;
        sn.send(&connect(0x04, 60, &format!("many-{i}"))).await;
        clients.push(sn);
    }
    for sn in &clients {
        sn.expect(&msg(CONNACK, &[0x00])).await;
    }
    for sn in &clients {
        sn.send(&publish(0x22, u16::from_be_bytes(*b"mm"), 7, b"x"))
            .await;
    }
    for sn in &clients {
        sn.expect(&puback(0x6d6d, 7, 0x00)).await;
    }
    drop(tcp.quiet().await);
}

#[tokio::test]
async fn advertise_every_interval_to_the_advertise_address() {
    let listener = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let to = listener.local_addr().expect("addr");
    let (_b, gw) = start_gateway(|c| {
        c.mqttsn.gateway_id = 9;
        c.mqttsn.advertise_interval_secs = 1;
        c.mqttsn.advertise_address = Some(to);
    })
    .await;
    let mut buf = [0u8; 64];
    // At start-up, then every interval: ADVERTISE gw id 9, duration 1 s.
    for _ in 0..2 {
        let n = within(3.0, listener.recv(&mut buf)).await.expect("recv");
        assert_eq!(&buf[..n], &[0x05, 0x00, 0x09, 0x00, 0x01]);
    }
    // SEARCHGW: GWINFO to the sender and to the broadcast address.
    let sn = Sn::open(gw).await;
    sn.send(&[0x03, 0x01, 0x00]).await;
    sn.expect(&[0x03, 0x02, 0x09]).await;
    loop {
        let n = within(3.0, listener.recv(&mut buf)).await.expect("recv");
        if buf[..n] == [0x03, 0x02, 0x09] {
            break;
        }
        assert_eq!(&buf[..n], &[0x05, 0x00, 0x09, 0x00, 0x01]);
    }
}
