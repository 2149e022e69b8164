//! Hostile input: empty, short and lying datagrams, unknown types, PUBLISH before
//! CONNECT, a flood of random datagrams from many sockets, a source over its rate. Each
//! is dropped and counted by reason; afterwards SN and TCP clients are still served.

use super::*;
use crate::support::{raw_sub, Raw};
use midge::broker::links::SnDrop;

/// SEARCHGW → GWINFO: every datagram this socket sent before has been handled.
async fn sync(sn: &Sn) {
    sn.send(&[0x03, 0x01, 0x00]).await;
    sn.expect(&[0x03, 0x02, 0x01]).await;
}

#[tokio::test]
async fn malformed_and_unexpected_datagrams_are_dropped_and_counted() {
    let (b, gw) = start_gateway(|_| {}).await;
    let links = b.broker.links();
    let sn = Sn::open(gw).await;
    let malformed: &[&[u8]] = &[
        &[],                             // empty
        &[0x01],                         // 3-octet length cut off
        &[0x01, 0x00],                   //
        &[0x00, 0x17],                   // length 0
        &[0x05, 0x18],                   // says 5, holds 2
        &[0x02, 0x17, 0x00],             // says 2, holds 3
        &[0x02, 0x03],                   // unknown type
        &[0x02, 0x19],                   // unknown type
        &[0x03, 0x0e, 0x00],             // PUBCOMP without its msg id
        &[0x05, 0x18, 0x00, 0x01, 0x02], // DISCONNECT too long
        &[0x01, 0xff, 0xff, 0x0c],       // 3-octet length lying
    ];
    for d in malformed {
        sn.send(d).await;
    }
    sync(&sn).await;
    assert_eq!(links.sn.dropped(SnDrop::Malformed), malformed.len() as u64);
    // Well-formed but not connected: PUBLISH, SUBSCRIBE, REGISTER, PINGREQ.
    sn.send(&publish(0x20, 1, 1, b"x")).await;
    sn.send(&subscribe_name(0x12, 0, 1, "#")).await;
    sn.send(&register(0, 1, "a")).await;
    sn.send(&[0x02, 0x16]).await;
    sync(&sn).await;
    assert_eq!(links.sn.dropped(SnDrop::NotConnected), 4);
    // A forwarder-encapsulated message and a gateway's ADVERTISE are not served.
    sn.send(&[0x03, 0xfe, 0x00, 0x02, 0x16]).await;
    sn.send(&[0x05, 0x00, 0x01, 0x00, 0x3c]).await;
    sync(&sn).await;
    assert_eq!(links.sn.dropped(SnDrop::Unsupported), 2);
    // Nothing was answered but the SEARCHGWs; the socket still serves a client.
    let ok = Sn::connected(gw, "fine", 0x04, 60).await;
    ok.send(&[0x02, 0x16]).await;
    ok.expect(&[0x02, 0x17]).await;
}

/// xorshift64*: deterministic random bytes without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[tokio::test]
async fn a_flood_of_random_datagrams_leaves_sn_and_tcp_clients_served() {
    let (b, gw) = start_gateway(|_| {}).await;
    let links = b.broker.links();
    let mut tcp = raw_sub(b.addr(), "tcp-sub", "after/#", 1).await;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut socks = Vec::new();
    for _ in 0..40 {
        socks.push(Sn::open(gw).await);
    }
    // 40 sockets x 100 datagrams: random lengths and bytes, half of them with a valid
    // length octet and a random type so they get past the framing.
    let mut sent = 0u64;
    for round in 0..100 {
        for s in &socks {
            let len = (rng.next() % 64) as usize;
            let mut d: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            if round % 2 == 0 && len >= 2 {
                d[0] = len as u8;
                d[1] = (rng.next() % 0x20) as u8;
            }
            s.send(&d).await;
            sent += 1;
        }
    }
    // Random bytes are sometimes a valid message that gets an answer (a CONNACK
    // refusing a bad protocol id, …): read past those up to the GWINFO.
    for s in &socks {
        s.send(&[0x03, 0x01, 0x00]).await;
        let mut answers = 0;
        while s.recv().await != [0x03, 0x02, 0x01] {
            answers += 1;
            assert!(answers < 100, "no GWINFO");
        }
    }
    let received = links
        .sn
        .datagrams_in
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(received >= sent, "{received} < {sent}");
    assert!(links.sn.dropped(SnDrop::Malformed) > 1000);
    // An SN client and a TCP client are served as before.
    let sn = Sn::connected(gw, "survivor", 0x04, 60).await;
    let id = sn.register(1, "after/flood").await;
    sn.send(&publish(0x20, id, 2, b"still here")).await;
    sn.expect(&puback(id, 2, 0x00)).await;
    let p = tcp.recv_publish().await;
    assert_eq!(&p.payload[..], b"still here");
    let (mut other, _) = Raw::v4(b.addr(), "tcp-pub", true).await;
    other.publish1("after/tcp", 1, b"tcp").await;
    assert_eq!(&tcp.recv_publish().await.payload[..], b"tcp");
}

#[tokio::test]
async fn a_source_over_its_rate_is_dropped_others_are_not() {
    let (b, gw) = start_gateway(|c| c.mqttsn.max_datagrams_per_sec = 50).await;
    let links = b.broker.links();
    let noisy = Sn::open(gw).await;
    for _ in 0..500 {
        noisy.send(&[0x02, 0xff]).await;
    }
    let calm = Sn::open(gw).await;
    sync(&calm).await;
    until(|| links.sn.dropped(SnDrop::RateLimited) >= 400).await;
    // The calm source is answered while the noisy one is over its rate.
    sync(&calm).await;
}
