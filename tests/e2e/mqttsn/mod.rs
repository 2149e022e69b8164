//! The MQTT-SN 1.2 gateway (#13) with raw datagrams written by hand from the spec's
//! tables (section 5.4), never with midge's own SN codec, and TCP clients on the other
//! side. `flows`: connect, register, publish, subscribe, will, QoS 2, −1, predefined and
//! short topics; `sleep`: sleeping clients; `hostile`: malformed input and floods;
//! `restart`: a persistent SN session across a restart of the real binary; `python`: the
//! independent PyPI client `mqtt-sn-12`.

mod flows;
mod hostile;
mod python;
mod restart;
mod sleep;

use std::net::SocketAddr;
use std::time::Duration;

use midge::config::{Config, ListenerConfig, ListenerKind, PredefinedTopic};
use tokio::net::UdpSocket;

use crate::support::{start_broker_access, within, TestBroker, QUIET};

/// Message types (MQTT-SN 1.2 section 5.3.2).
pub const CONNACK: u8 = 0x05;
pub const REGISTER: u8 = 0x0a;
pub const PUBLISH: u8 = 0x0c;

/// An SN message: one-octet Length, MsgType, body.
pub fn msg(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![u8::try_from(body.len() + 2).expect("short message"), kind];
    v.extend_from_slice(body);
    v
}

pub fn connect(flags: u8, duration: u16, id: &str) -> Vec<u8> {
    let mut body = vec![flags, 0x01];
    body.extend(duration.to_be_bytes());
    body.extend(id.as_bytes());
    msg(0x04, &body)
}

pub fn register(topic_id: u16, msg_id: u16, name: &str) -> Vec<u8> {
    let mut body = topic_id.to_be_bytes().to_vec();
    body.extend(msg_id.to_be_bytes());
    body.extend(name.as_bytes());
    msg(REGISTER, &body)
}

pub fn publish(flags: u8, topic_id: u16, msg_id: u16, data: &[u8]) -> Vec<u8> {
    let mut body = vec![flags];
    body.extend(topic_id.to_be_bytes());
    body.extend(msg_id.to_be_bytes());
    body.extend(data);
    msg(PUBLISH, &body)
}

/// PUBACK / REGACK: TopicId, MsgId, ReturnCode.
pub fn ack3(kind: u8, topic_id: u16, msg_id: u16, code: u8) -> Vec<u8> {
    let mut body = topic_id.to_be_bytes().to_vec();
    body.extend(msg_id.to_be_bytes());
    body.push(code);
    msg(kind, &body)
}

pub fn puback(topic_id: u16, msg_id: u16, code: u8) -> Vec<u8> {
    ack3(0x0d, topic_id, msg_id, code)
}

pub fn regack(topic_id: u16, msg_id: u16, code: u8) -> Vec<u8> {
    ack3(0x0b, topic_id, msg_id, code)
}

/// SUBSCRIBE (or UNSUBSCRIBE with kind 0x14) by topic name.
pub fn subscribe_name(kind: u8, flags: u8, msg_id: u16, name: &str) -> Vec<u8> {
    let mut body = vec![flags];
    body.extend(msg_id.to_be_bytes());
    body.extend(name.as_bytes());
    msg(kind, &body)
}

/// SUBSCRIBE with a predefined id (flags 0bxx01) or short name (0bxx10).
pub fn subscribe_id(flags: u8, msg_id: u16, id: u16) -> Vec<u8> {
    let mut body = vec![flags];
    body.extend(msg_id.to_be_bytes());
    body.extend(id.to_be_bytes());
    msg(0x12, &body)
}

pub fn suback(flags: u8, topic_id: u16, msg_id: u16, code: u8) -> Vec<u8> {
    let mut body = vec![flags];
    body.extend(topic_id.to_be_bytes());
    body.extend(msg_id.to_be_bytes());
    body.push(code);
    msg(0x13, &body)
}

pub fn msg_id_only(kind: u8, msg_id: u16) -> Vec<u8> {
    msg(kind, &msg_id.to_be_bytes())
}

/// A UDP socket talking to the gateway.
pub struct Sn {
    pub sock: UdpSocket,
}

impl Sn {
    pub async fn open(gw: SocketAddr) -> Sn {
        let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind udp");
        sock.connect(gw).await.expect("connect udp");
        Sn { sock }
    }

    /// Opens a socket and completes a CONNECT (no will): asserts CONNACK accepted.
    pub async fn connected(gw: SocketAddr, id: &str, flags: u8, duration: u16) -> Sn {
        let sn = Sn::open(gw).await;
        sn.send(&connect(flags, duration, id)).await;
        sn.expect(&msg(CONNACK, &[0x00])).await;
        sn
    }

    pub async fn send(&self, bytes: &[u8]) {
        self.sock.send(bytes).await.expect("udp send");
    }

    pub async fn recv(&self) -> Vec<u8> {
        self.recv_within(crate::support::WAIT)
            .await
            .expect("a datagram from the gateway")
    }

    pub async fn recv_within(&self, wait: Duration) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; 65_536];
        match tokio::time::timeout(wait, self.sock.recv(&mut buf)).await {
            Ok(Ok(n)) => Some(buf[..n].to_vec()),
            Ok(Err(e)) => panic!("udp recv: {e}"),
            Err(_) => None,
        }
    }

    pub async fn expect(&self, want: &[u8]) {
        let got = self.recv().await;
        assert_eq!(got, want, "got {got:02x?}, want {want:02x?}");
    }

    /// Nothing arrives for a while.
    pub async fn quiet(&self) {
        if let Some(d) = self.recv_within(QUIET).await {
            panic!("unexpected datagram {d:02x?}");
        }
    }

    /// Registers `name` (msg id `msg_id`) and returns the topic id the gateway gave it.
    pub async fn register(&self, msg_id: u16, name: &str) -> u16 {
        self.send(&register(0, msg_id, name)).await;
        let got = self.recv().await;
        assert_eq!(got.len(), 7, "{got:02x?}");
        assert_eq!(
            (got[1], &got[4..]),
            (0x0b, &[(msg_id >> 8) as u8, msg_id as u8, 0][..])
        );
        u16::from_be_bytes([got[2], got[3]])
    }
}

/// The SN PUBLISH fields of a datagram: (flags, topic id, msg id, data).
pub fn parse_publish(d: &[u8]) -> (u8, u16, u16, Vec<u8>) {
    assert!(
        d.len() >= 7 && d[1] == PUBLISH && usize::from(d[0]) == d.len(),
        "not a PUBLISH: {d:02x?}"
    );
    (
        d[2],
        u16::from_be_bytes([d[3], d[4]]),
        u16::from_be_bytes([d[5], d[6]]),
        d[7..].to_vec(),
    )
}

/// A broker with a TCP listener and an MQTT-SN listener on 127.0.0.1:0, predefined
/// topic 1 = "sensors/temperature", T_retry 1 s; returns it and the gateway's address.
pub async fn start_gateway(tweak: impl FnOnce(&mut Config)) -> (TestBroker, SocketAddr) {
    start_gateway_access(
        std::sync::Arc::new(midge::broker::Open {
            allow_anonymous: true,
        }),
        tweak,
    )
    .await
}

/// [`start_gateway`] with `access` deciding who may connect.
pub async fn start_gateway_access(
    access: std::sync::Arc<dyn midge::broker::Access>,
    tweak: impl FnOnce(&mut Config),
) -> (TestBroker, SocketAddr) {
    let mut config = None;
    let broker = start_broker_access(access, |c| {
        c.listeners.push(ListenerConfig {
            kind: ListenerKind::Mqttsn,
            ..ListenerConfig::tcp("127.0.0.1:0".parse().expect("literal"))
        });
        c.mqttsn.predefined = vec![PredefinedTopic {
            client_id: None,
            id: 1,
            topic: "sensors/temperature".into(),
        }];
        c.mqttsn.retry_secs = 1;
        tweak(c);
        config = Some(c.clone());
    })
    .await;
    let config = config.expect("tweaked");
    let sn = midge::mqttsn::start(&broker.broker, &config)
        .await
        .expect("the gateway binds")[0];
    (broker, sn)
}

/// Waits until `f` holds, checking every 20 ms, for at most 5 s.
pub async fn until(mut f: impl FnMut() -> bool) {
    within(5.0, async {
        while !f() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}
