//! The gateway's timers on a paused clock (`tokio::time::pause`): keep-alive, sleep and
//! T_retry/N_retry supervision take their full spec durations without the test waiting
//! for them in real time. The broker is in-process; the SN client is a UDP socket.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::net::UdpSocket;

use super::codec::{decode, encode, Flags, Message, ReturnCode, SnQos, SubTopic, TopicIdType};
use crate::broker::links::Links;
use crate::broker::{Broker, Open};
use crate::config::{Config, ListenerConfig, ListenerKind};
use crate::protocol::{
    ByteStr, Connect, Packet, Props, ProtocolVersion, Publish, QoS, QosPid, Subscribe,
    SubscriptionOptions,
};
use crate::transport::connection::{PacketReader, PacketWriter};

async fn gateway() -> (Broker, UdpSocket) {
    let mut config = Config {
        listeners: vec![ListenerConfig {
            kind: ListenerKind::Mqttsn,
            ..ListenerConfig::tcp(([127, 0, 0, 1], 0).into())
        }],
        ..Config::default()
    };
    config.storage.in_memory = true;
    config.sys.interval_secs = 0;
    config.mqttsn.advertise_interval_secs = 0;
    config.mqttsn.retry_secs = 10;
    config.mqttsn.max_retries = 3;
    let access = Arc::new(Open {
        allow_anonymous: true,
    });
    let broker = Broker::start(&config, access).await.expect("broker");
    let gw = super::start(&broker, &config).await.expect("gateway")[0];
    let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    sock.connect(gw).await.expect("connect");
    (broker, sock)
}

async fn send(sock: &UdpSocket, m: Message) {
    sock.send(&encode(&m)).await.expect("send");
}

/// The next datagram; the paused clock may jump at most `secs` while waiting.
async fn recv(sock: &UdpSocket, secs: u64) -> Message {
    let mut buf = [0u8; 2048];
    let n = tokio::time::timeout(Duration::from_secs(secs), sock.recv(&mut buf))
        .await
        .expect("a datagram in time")
        .expect("recv");
    decode(Bytes::copy_from_slice(&buf[..n])).expect("valid")
}

async fn connect(sock: &UdpSocket, id: &str, duration: u16) {
    send(
        sock,
        Message::Connect {
            flags: Flags {
                clean_session: true,
                ..Flags::default()
            },
            protocol_id: 1,
            duration,
            client_id: Bytes::from(id.to_owned()),
        },
    )
    .await;
    let code = ReturnCode::Accepted;
    assert_eq!(recv(sock, 5).await, Message::ConnAck { code });
}

type Reader = PacketReader<tokio::io::ReadHalf<tokio::io::DuplexStream>>;
type Writer = PacketWriter<tokio::io::WriteHalf<tokio::io::DuplexStream>>;

/// An MQTT 5 client on the broker's in-process path, subscribed to `filter`.
async fn watcher(broker: &Broker, filter: &str) -> (Reader, Writer) {
    let (r, w) = tokio::io::split(broker.connect_local("test"));
    let mut reader = PacketReader::new(r, 1 << 20);
    let mut writer = PacketWriter::new(w);
    reader.version = ProtocolVersion::V5;
    writer.version = ProtocolVersion::V5;
    writer.push(&Packet::Connect(Box::new(Connect {
        protocol: ProtocolVersion::V5,
        clean_start: true,
        keep_alive: 0,
        properties: Props::default(),
        client_id: ByteStr::from("watcher"),
        will: None,
        username: None,
        password: None,
        bridge: false,
    })));
    writer.push(&Packet::Subscribe(Subscribe {
        pid: std::num::NonZeroU16::MIN,
        properties: Props::default(),
        filters: vec![(
            ByteStr::from(filter),
            SubscriptionOptions {
                qos: QoS::AtMostOnce,
                ..SubscriptionOptions::default()
            },
        )],
    }));
    writer.flush().await.expect("flush");
    assert!(matches!(
        reader.read_packet().await,
        Ok(Some(Packet::ConnAck(_)))
    ));
    assert!(matches!(
        reader.read_packet().await,
        Ok(Some(Packet::SubAck(_)))
    ));
    (reader, writer)
}

fn clients(links: &Links) -> u64 {
    links.sn.counts().iter().sum()
}

#[tokio::test(start_paused = true)]
async fn a_client_silent_for_1_5_times_its_keep_alive_is_lost() {
    let (broker, sock) = gateway().await;
    connect(&sock, "quiet", 60).await;
    assert_eq!(clients(&broker.links()), 1);
    // At 89 s it is still there; PINGREQ at 60 s resets the clock.
    tokio::time::sleep(Duration::from_secs(60)).await;
    send(&sock, Message::PingReq { client_id: None }).await;
    assert_eq!(recv(&sock, 1).await, Message::PingResp);
    tokio::time::sleep(Duration::from_secs(89)).await;
    assert_eq!(clients(&broker.links()), 1);
    // 1.5 × 60 s after the PINGREQ: lost (MQTT-SN 1.2 §6.10), told so with DISCONNECT.
    tokio::time::sleep(Duration::from_secs(2)).await;
    tokio::task::yield_now().await;
    let links = broker.links();
    for _ in 0..100 {
        if clients(&links) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(clients(&links), 0);
}

#[tokio::test(start_paused = true)]
async fn publish_resent_every_t_retry_n_retry_times_then_lost_with_will() {
    let (broker, sock) = gateway().await;
    let (mut reader, mut writer) = watcher(&broker, "will/#").await;
    send(
        &sock,
        Message::Connect {
            flags: Flags {
                clean_session: true,
                will: true,
                ..Flags::default()
            },
            protocol_id: 1,
            duration: 3600,
            client_id: Bytes::from_static(b"deaf"),
        },
    )
    .await;
    assert_eq!(recv(&sock, 5).await, Message::WillTopicReq);
    let will = (Flags::default(), Bytes::from_static(b"will/deaf"));
    send(&sock, Message::WillTopic(Some(will))).await;
    assert_eq!(recv(&sock, 5).await, Message::WillMsgReq);
    send(&sock, Message::WillMsg(Bytes::from_static(b"gone"))).await;
    let code = ReturnCode::Accepted;
    assert_eq!(recv(&sock, 5).await, Message::ConnAck { code });
    send(
        &sock,
        Message::Subscribe {
            flags: Flags {
                qos: SnQos::AtLeastOnce,
                topic_id_type: TopicIdType::Short,
                ..Flags::default()
            },
            msg_id: 1,
            topic: SubTopic::Short(*b"zz"),
        },
    )
    .await;
    assert!(matches!(recv(&sock, 5).await, Message::SubAck { .. }));
    // A QoS 1 message for it that it never acknowledges.
    writer.push(&Packet::Publish(Publish {
        dup: false,
        qos_pid: QosPid::Level1(std::num::NonZeroU16::MIN),
        retain: false,
        topic: ByteStr::from("zz"),
        properties: Props::default(),
        payload: Bytes::from_static(b"x"),
    }));
    writer.flush().await.expect("flush");
    let start = tokio::time::Instant::now();
    let first = recv(&sock, 5).await;
    let Message::Publish {
        flags,
        topic_id,
        msg_id,
        ..
    } = first
    else {
        panic!("expected PUBLISH, got {first:?}");
    };
    assert!(!flags.dup);
    // T_retry = 10 s, N_retry = 3: three copies with DUP, 10 s apart (§6.13).
    for n in 1..=3u64 {
        let again = recv(&sock, 11).await;
        let Message::Publish {
            flags: f,
            topic_id: t,
            msg_id: m,
            ..
        } = again
        else {
            panic!("expected PUBLISH, got {again:?}");
        };
        assert!(f.dup && t == topic_id && m == msg_id);
        assert_eq!(start.elapsed().as_secs(), 10 * n);
    }
    // Then lost: the will is published.
    let p = loop {
        match tokio::time::timeout(Duration::from_secs(11), reader.read_packet()).await {
            Ok(Ok(Some(Packet::Publish(p)))) if &*p.topic == "will/deaf" => break p,
            Ok(Ok(Some(_))) => continue,
            other => panic!("no will: {other:?}"),
        }
    };
    assert_eq!(&p.payload[..], b"gone");
    assert_eq!(start.elapsed().as_secs(), 40);
}
