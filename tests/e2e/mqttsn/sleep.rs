//! Sleeping clients (MQTT-SN 1.2 section 6.14): DISCONNECT with a duration, messages
//! buffered while asleep, PINGREQ with the client id delivers them (REGISTER first where
//! needed) and then PINGRESP, a new CONNECT makes the client active, and a client that
//! oversleeps is lost and its will published.

use super::*;
use crate::support::Raw;
use midge::broker::links::SnClientState;

fn pingreq(id: &str) -> Vec<u8> {
    msg(0x16, id.as_bytes())
}

#[tokio::test]
async fn buffered_while_asleep_then_delivered_on_pingreq_then_pingresp() {
    let (b, gw) = start_gateway(|_| {}).await;
    let sn = Sn::connected(gw, "sleepy", 0x04, 60).await;
    sn.send(&subscribe_name(0x12, 0x20, 1, "s/1")).await;
    sn.expect(&suback(0x20, 1, 1, 0x00)).await;
    sn.send(&subscribe_name(0x12, 0x00, 2, "w/#")).await;
    sn.expect(&suback(0x00, 0, 2, 0x00)).await;
    sn.send(&msg(0x18, &60u16.to_be_bytes())).await; // DISCONNECT, sleep 60 s
    sn.expect(&[0x02, 0x18]).await;
    let links = b.broker.links();
    let view = links.sn.client("sleepy").expect("a view");
    assert_eq!(view.state, SnClientState::Asleep);

    let (mut tcp, _) = Raw::v4(b.addr(), "tcp-pub", true).await;
    tcp.publish1("s/1", 1, b"one").await;
    tcp.publish1("s/1", 2, b"two").await;
    tcp.publish0("w/x", b"three").await;
    sn.quiet().await;
    until(|| {
        links
            .sn
            .client("sleepy")
            .is_some_and(|v| v.buffered_total == 3)
    })
    .await;

    // Awake: the buffered messages in order, REGISTER before the wildcard's topic,
    // then PINGRESP.
    sn.send(&pingreq("sleepy")).await;
    for want in [&b"one"[..], b"two"] {
        let (flags, topic_id, msg_id, data) = parse_publish(&sn.recv().await);
        assert_eq!((flags, topic_id, data.as_slice()), (0x20, 1, want));
        sn.send(&puback(1, msg_id, 0x00)).await;
    }
    let reg = sn.recv().await;
    assert_eq!((reg[1], &reg[6..]), (REGISTER, &b"w/x"[..]), "{reg:02x?}");
    let topic_id = u16::from_be_bytes([reg[2], reg[3]]);
    sn.send(&regack(
        topic_id,
        u16::from_be_bytes([reg[4], reg[5]]),
        0x00,
    ))
    .await;
    assert_eq!(
        parse_publish(&sn.recv().await),
        (0x00, topic_id, 0, b"three".to_vec())
    );
    sn.expect(&[0x02, 0x17]).await; // PINGRESP
                                    // Asleep again: new messages wait for the next PINGREQ.
    until(|| {
        links
            .sn
            .client("sleepy")
            .is_some_and(|v| v.state == SnClientState::Asleep)
    })
    .await;
    tcp.publish1("s/1", 3, b"four").await;
    sn.quiet().await;
    // From a new address (the device's address may change while it sleeps).
    let moved = Sn::open(gw).await;
    moved.send(&pingreq("sleepy")).await;
    let (_, _, msg_id, data) = parse_publish(&moved.recv().await);
    assert_eq!(data, b"four");
    moved.send(&puback(1, msg_id, 0x00)).await;
    moved.expect(&[0x02, 0x17]).await;
    // With nothing buffered, PINGREQ gets PINGRESP at once.
    moved.send(&pingreq("sleepy")).await;
    moved.expect(&[0x02, 0x17]).await;
    // CONNECT (not clean) makes it active: messages flow without PINGREQ.
    moved.send(&connect(0x00, 60, "sleepy")).await;
    moved.expect(&msg(CONNACK, &[0x00])).await;
    tcp.publish1("s/1", 4, b"five").await;
    let (_, _, _, data) = parse_publish(&moved.recv().await);
    assert_eq!(data, b"five");
    assert_eq!(
        links.sn.client("sleepy").map(|v| v.state),
        Some(SnClientState::Active)
    );
}

#[tokio::test]
async fn oversleeping_client_is_lost_and_its_will_published() {
    let (b, gw) = start_gateway(|_| {}).await;
    let mut tcp = crate::support::raw_sub(b.addr(), "tcp-sub", "will/#", 0).await;
    let sn = Sn::open(gw).await;
    sn.send(&connect(0x0c, 60, "dozer")).await;
    sn.expect(&[0x02, 0x06]).await;
    sn.send(&msg(0x07, b"\x00will/dozer")).await;
    sn.expect(&[0x02, 0x08]).await;
    sn.send(&msg(0x09, b"overslept")).await;
    sn.expect(&msg(CONNACK, &[0x00])).await;
    sn.send(&msg(0x18, &1u16.to_be_bytes())).await; // sleep 1 s
    sn.expect(&[0x02, 0x18]).await;
    // No PINGREQ within 1.5 x 1 s: lost.
    let p = within(5.0, tcp.recv_publish()).await;
    assert_eq!(
        (&*p.topic, &p.payload[..]),
        ("will/dozer", &b"overslept"[..])
    );
}

#[tokio::test]
async fn a_lost_persistent_client_is_shown_lost_until_it_connects_again() {
    let (b, gw) = start_gateway(|_| {}).await;
    let links = b.broker.links();
    let sn = Sn::connected(gw, "napper", 0x00, 60).await; // clean session false
    sn.send(&msg(0x18, &1u16.to_be_bytes())).await; // sleep 1 s, never wake
    sn.expect(&[0x02, 0x18]).await;
    until(|| {
        links
            .sn
            .client("napper")
            .is_some_and(|v| v.state == SnClientState::Lost)
    })
    .await;
    assert_eq!(links.sn.counts(), [0, 0, 0, 1]);
    let sn = Sn::connected(gw, "napper", 0x00, 60).await;
    sn.send(&[0x02, 0x16]).await;
    sn.expect(&[0x02, 0x17]).await;
    assert_eq!(
        links.sn.client("napper").map(|v| v.state),
        Some(SnClientState::Active)
    );
}
