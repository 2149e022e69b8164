//! Hostile clients: nothing a client sends crashes the broker, leaks without bound, or
//! stalls another client. In every test a healthy publisher/subscriber pair, connected
//! first, must keep exchanging messages promptly during and after the attack, and the
//! broker's connection and subscription counts return to their baseline afterwards.
//! (A client that never reads is covered in `slow.rs`.)

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use midge::broker::router::watch::Query;
use midge::broker::RouterMsg;
use midge::protocol::{Packet, ProtocolVersion, ReasonCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::bytes as b;
use crate::support::{raw_sub, start_broker_with, sys_until, within, Raw, TestBroker};

/// The witnesses: a QoS 0 subscriber on `healthy` and a publisher.
struct Pair {
    publ: Raw,
    sub: Raw,
    n: u32,
}

impl Pair {
    async fn new(broker: &TestBroker) -> Pair {
        let sub = raw_sub(broker.addr(), "healthy-sub", "healthy", 0).await;
        let (publ, _) = Raw::v4(broker.addr(), "healthy-pub", true).await;
        Pair { publ, sub, n: 0 }
    }

    /// One message through, promptly (1 s, on a shared machine).
    async fn check(&mut self) {
        self.n += 1;
        let payload = self.n.to_be_bytes();
        let pid = u16::try_from(self.n % 60_000 + 1).expect("small");
        within(1.0, self.publ.publish1("healthy", pid, &payload)).await;
        let p = within(1.0, self.sub.recv_publish()).await;
        assert_eq!(
            &p.payload[..],
            &payload[..],
            "the healthy pair lost a message"
        );
    }
}

/// Ask the router one of its observer questions.
async fn ask<T>(
    broker: &TestBroker,
    q: impl FnOnce(tokio::sync::oneshot::Sender<T>) -> Query,
) -> T {
    let (tx, rx) = tokio::sync::oneshot::channel();
    within(5.0, broker.broker.router().send(RouterMsg::Observe(q(tx))))
        .await
        .unwrap_or_else(|_| panic!("router gone"));
    within(5.0, rx).await.expect("router answered")
}

/// The router's gauges once it has handled everything sent before this call.
async fn gauges(broker: &TestBroker) -> (u64, u64, u64) {
    ask(broker, |reply| Query::Describe {
        clients: Vec::new(),
        inflight: 0,
        reply,
    })
    .await;
    let m = broker.broker.metrics();
    (
        m.sessions.load(Relaxed),
        m.subscriptions.load(Relaxed),
        m.retained.load(Relaxed),
    )
}

/// Open connections (permits in use), clients online, sessions, subscriptions.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
struct Counts {
    sockets: usize,
    online: u64,
    sessions: usize,
    subscriptions: usize,
}

async fn counts(broker: &TestBroker) -> Counts {
    // The router first: once it answers, every CONNECT it received is fully counted.
    let (sessions, subscriptions, _) = gauges(broker).await;
    let (sessions, subscriptions) = (sessions as usize, subscriptions as usize);
    let ctx = broker.broker.context();
    let sockets = ctx.options.max_connections - ctx.connections.available_permits();
    let online = broker.broker.metrics().clients_connected.load(Relaxed);
    Counts {
        sockets,
        online,
        sessions,
        subscriptions,
    }
}

/// Wait (bounded) until the counts are back to `baseline`: closing sockets is
/// asynchronous, so poll the gauges until they settle.
async fn back_to(broker: &TestBroker, baseline: Counts) {
    let start = Instant::now();
    loop {
        let now = counts(broker).await;
        if now == baseline {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "counts stuck at {now:?}, baseline {baseline:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Deterministic noise (xorshift64*).
struct Noise(u64);

impl Noise {
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| {
                self.0 ^= self.0 >> 12;
                self.0 ^= self.0 << 25;
                self.0 ^= self.0 >> 27;
                (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
            })
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_before_and_after_connect() {
    let broker = start_broker_with(|c| c.limits.max_packet_size = 1 << 20).await;
    let mut pair = Pair::new(&broker).await;
    let baseline = counts(&broker).await;
    let mut noise = Noise(0x5EED_1234_ABCD_0001);
    for round in 0..60u32 {
        let mut raw = match round % 3 {
            0 => Raw::open(broker.addr()).await,
            1 => Raw::v4(broker.addr(), &format!("g{round}"), true).await.0,
            _ => {
                let (mut r, _) = Raw::v5(broker.addr(), &format!("g{round}"), true, &[0]).await;
                r.version = ProtocolVersion::V5;
                r
            }
        };
        let len = 1 + (round as usize * 997) % 8192;
        raw.send(&noise.bytes(len)).await;
        // Noise can look like the start of a long packet: EOF ends it either way.
        raw.shutdown_write().await;
        raw.read_all_until_close().await;
        if round % 10 == 0 {
            pair.check().await;
        }
    }
    pair.check().await;
    back_to(&broker, baseline).await;
    pair.check().await;
}

#[tokio::test]
async fn oversized_packets_are_refused_from_the_header() {
    let broker = start_broker_with(|c| c.limits.max_packet_size = 1 << 20).await;
    let mut pair = Pair::new(&broker).await;
    let baseline = counts(&broker).await;
    // A 10 MB PUBLISH against a 1 MB limit: only the header and 1 KB are sent, so the close
    // proves the broker refused it before reading (or buffering) the body.
    let mut big = vec![0x30];
    big.extend(b::varint(10 * 1024 * 1024));
    big.extend(b::s("t"));
    big.extend(vec![0u8; 1024]);
    for level in [0u8, 4, 5] {
        let mut raw = match level {
            0 => Raw::open(broker.addr()).await,
            4 => Raw::v4(broker.addr(), "big4", true).await.0,
            _ => {
                let (mut r, _) = Raw::v5(broker.addr(), "big5", true, &[0]).await;
                r.version = ProtocolVersion::V5;
                r
            }
        };
        raw.send(&big).await;
        let seen = raw.expect_closed().await;
        if level == 5 {
            assert!(
                matches!(&seen[..], [Packet::Disconnect(d)] if d.reason == ReasonCode::PacketTooLarge),
                "{seen:?}"
            );
        } else {
            assert!(seen.is_empty(), "{seen:?}");
        }
        pair.check().await;
    }
    // A Remaining Length of five bytes is malformed whatever the limit.
    let (mut raw, _) = Raw::v4(broker.addr(), "varint", true).await;
    raw.send(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]).await;
    assert!(raw.expect_closed().await.is_empty());
    pair.check().await;
    back_to(&broker, baseline).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_a_packet_then_silence_is_closed_by_the_timers() {
    let broker = start_broker_with(|c| c.limits.connect_timeout_secs = 1).await;
    let mut pair = Pair::new(&broker).await;
    let baseline = counts(&broker).await;
    // Before CONNECT: half a CONNECT, then nothing; the connect timeout (1 s) closes it.
    let connect = b::connect(4, "half", true, 1, None, None);
    let mut early = Raw::open(broker.addr()).await;
    early.send(&connect[..connect.len() / 2]).await;
    // After CONNECT with keep-alive 1 s: half a PUBLISH, then nothing; 1.5 × keep-alive.
    let (mut late, _) = Raw::connect_with(broker.addr(), ProtocolVersion::V3_1_1, &connect).await;
    let publish = b::publish("t", 0, 0, false, false, &[7u8; 100], None);
    late.send(&publish[..50]).await;
    let t0 = Instant::now();
    pair.check().await;
    let (early_closed, late_closed) = tokio::join!(
        async {
            early.expect_closed().await;
            t0.elapsed()
        },
        async {
            late.expect_closed().await;
            t0.elapsed()
        }
    );
    assert!(
        early_closed >= Duration::from_millis(800),
        "{early_closed:?}"
    );
    assert!(
        early_closed <= Duration::from_millis(3000),
        "{early_closed:?}"
    );
    assert!(
        late_closed >= Duration::from_millis(1200),
        "{late_closed:?}"
    );
    assert!(
        late_closed <= Duration::from_millis(3500),
        "{late_closed:?}"
    );
    pair.check().await;
    back_to(&broker, baseline).await;
}

/// One storm socket: connect, send CONNECT; `Some` if a CONNACK came, `None` if closed.
async fn storm_client(addr: std::net::SocketAddr, i: usize) -> Option<TcpStream> {
    let mut s = TcpStream::connect(addr).await.ok()?;
    s.write_all(&b::connect(4, &format!("storm-{i}"), true, 0, None, None))
        .await
        .ok()?;
    let mut ack = [0u8; 4];
    match s.read_exact(&mut ack).await {
        Ok(_) if ack == [0x20, 0x02, 0x00, 0x00] => Some(s),
        Ok(_) => panic!("unexpected answer {ack:?}"),
        Err(_) => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_storm_is_capped_and_released() {
    const LIMIT: usize = 1000;
    const STORM: usize = 2000;
    let broker = start_broker_with(|c| {
        c.limits.max_connections = LIMIT;
        c.sys.interval_secs = 1;
    })
    .await;
    let mut pair = Pair::new(&broker).await;
    let baseline = counts(&broker).await;
    let addr = broker.addr();
    let mut open = Vec::new();
    let mut refused = 0;
    within(20.0, async {
        // Waves of 250 sockets at once, all kept open until the end.
        for wave in 0..STORM / 250 {
            let mut set = tokio::task::JoinSet::new();
            for i in 0..250 {
                set.spawn(storm_client(addr, wave * 250 + i));
            }
            while let Some(r) = set.join_next().await {
                match r.expect("storm task") {
                    Some(s) => open.push(s),
                    None => refused += 1,
                }
            }
            pair.check().await;
        }
    })
    .await;
    // The pair holds two of the permits; everyone beyond the limit was closed.
    assert_eq!(open.len(), LIMIT - 2);
    assert_eq!(refused, STORM - (LIMIT - 2));
    let full = counts(&broker).await;
    assert_eq!(full.sockets, LIMIT);
    assert_eq!(full.online, LIMIT as u64);
    pair.check().await;
    drop(open);
    back_to(&broker, baseline).await;
    pair.check().await;
    // `$SYS` agrees once the storm is gone: the pair and the `$SYS` reader.
    sys_until(addr, "$SYS/broker/clients/connected", |v| v == "3").await;
    pair.check().await;
}

/// SUBSCRIBE / UNSUBSCRIBE many filters in one packet each; asserts every code.
async fn subscribe_batch(raw: &mut Raw, pid: u16, filters: &[String]) {
    let list: Vec<(&str, u8)> = filters.iter().map(|f| (f.as_str(), 0)).collect();
    raw.send(&b::subscribe(pid, &list, None)).await;
    match raw.recv().await {
        Packet::SubAck(s) => {
            assert_eq!(s.pid.get(), pid);
            assert_eq!(s.reasons.len(), filters.len());
            assert!(s.reasons.iter().all(|r| *r == ReasonCode::Success));
        }
        other => panic!("expected SUBACK, got {other:?}"),
    }
}

async fn unsubscribe_batch(raw: &mut Raw, pid: u16, filters: &[String]) {
    let list: Vec<&str> = filters.iter().map(String::as_str).collect();
    raw.send(&b::unsubscribe(pid, &list, false)).await;
    match raw.recv().await {
        Packet::UnsubAck(u) => assert_eq!(u.pid.get(), pid),
        other => panic!("expected UNSUBACK, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_and_topic_storm_leaves_nothing_behind() {
    const FILTERS: usize = 20_000;
    const TOPICS: usize = 50_000;
    const BATCH: usize = 500;
    let broker = start_broker_with(|_| {}).await;
    let mut pair = Pair::new(&broker).await;
    let baseline = counts(&broker).await;
    let (mut storm, _) = Raw::v4(broker.addr(), "storm-subs", true).await;
    let filters: Vec<String> = (0..FILTERS)
        .map(|i| match i % 3 {
            0 => format!("storm/{i}"),
            1 => format!("storm/{i}/+/x"),
            _ => format!("storm/+/{i}/#"),
        })
        .collect();
    within(15.0, async {
        for (n, chunk) in filters.chunks(BATCH).enumerate() {
            subscribe_batch(&mut storm, n as u16 + 1, chunk).await;
        }
    })
    .await;
    pair.check().await;
    let subscribed = counts(&broker).await;
    assert_eq!(subscribed.subscriptions, baseline.subscriptions + FILTERS);
    // 50,000 distinct topics, once each, that match none of the storm's filters; the
    // healthy pair is checked between bursts.
    let (mut flood, _) = Raw::v4(broker.addr(), "storm-pub", true).await;
    within(15.0, async {
        let mut burst = Vec::new();
        for i in 0..TOPICS {
            burst.extend(b::publish(
                &format!("flood/{i}/t"),
                0,
                0,
                false,
                false,
                b"x",
                None,
            ));
            if burst.len() > 64 * 1024 {
                flood.send(&burst).await;
                burst.clear();
            }
            if i % 10_000 == 0 {
                pair.check().await;
            }
        }
        flood.send(&burst).await;
        assert!(flood.sync().await.is_empty());
    })
    .await;
    assert!(
        storm.sync().await.is_empty(),
        "the storm client got a message"
    );
    pair.check().await;
    // Half unsubscribed explicitly, the rest go with the (clean) session.
    within(10.0, async {
        for (n, chunk) in filters[..FILTERS / 2].chunks(BATCH).enumerate() {
            unsubscribe_batch(&mut storm, n as u16 + 1, chunk).await;
        }
    })
    .await;
    assert_eq!(
        counts(&broker).await.subscriptions,
        baseline.subscriptions + FILTERS / 2
    );
    storm.send(&b::disconnect(None)).await;
    storm.expect_closed().await;
    flood.send(&b::disconnect(None)).await;
    flood.expect_closed().await;
    back_to(&broker, baseline).await;
    // Non-retained messages leave nothing stored.
    assert_eq!(gauges(&broker).await.2, 0);
    pair.check().await;
}

#[tokio::test]
async fn deep_and_long_topics_are_refused() {
    let broker = start_broker_with(|c| {
        c.limits.max_topic_levels = 8;
        c.limits.max_topic_length = 64;
    })
    .await;
    let mut pair = Pair::new(&broker).await;
    let baseline = counts(&broker).await;
    let deep = ["l"; 9].join("/");
    let long = "x".repeat(65);
    let ok_deep = ["l"; 8].join("/");
    let ok_long = "x".repeat(64);
    // SUBSCRIBE: 5.0 0x8F Topic Filter invalid, 3.1.1 0x80; the connection stays.
    let (mut v5, _) = Raw::v5(broker.addr(), "deep5", true, &[0]).await;
    v5.version = ProtocolVersion::V5;
    let (mut v4, _) = Raw::v4(broker.addr(), "deep4", true).await;
    for (filter, ok) in [
        (&deep, false),
        (&long, false),
        (&ok_deep, true),
        (&ok_long, true),
    ] {
        let (want5, want4) = if ok { (0, 0) } else { (0x8F, 0x80) };
        assert_eq!(v5.subscribe(1, filter, 0).await, vec![want5], "{filter}");
        assert_eq!(v4.subscribe(1, filter, 0).await, vec![want4], "{filter}");
    }
    // A deep filter made of wildcards is refused the same way.
    assert_eq!(v5.subscribe(2, &["+"; 9].join("/"), 0).await, vec![0x8F]);
    // PUBLISH within the limits is delivered.
    v5.publish0(&ok_deep, b"fine").await;
    let p = v5.recv_publish().await;
    assert_eq!(&*p.topic, ok_deep);
    pair.check().await;
    // PUBLISH beyond them: 5.0 DISCONNECT 0x90 Topic Name invalid; 3.1.1 closed.
    for topic in [&deep, &long] {
        let (mut c5, _) = Raw::v5(broker.addr(), "pub5", true, &[0]).await;
        c5.version = ProtocolVersion::V5;
        c5.publish0(topic, b"no").await;
        let seen = c5.expect_closed().await;
        assert!(
            matches!(&seen[..], [Packet::Disconnect(d)] if d.reason == ReasonCode::TopicNameInvalid),
            "{seen:?}"
        );
        let (mut c4, _) = Raw::v4(broker.addr(), "pub4", true).await;
        c4.publish0(topic, b"no").await;
        assert!(c4.expect_closed().await.is_empty());
        pair.check().await;
    }
    drop((v4, v5));
    back_to(&broker, baseline).await;
    pair.check().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_cannot_make_the_broker_buffer_without_bound() {
    const RETAINED: usize = 100;
    const SUBSCRIBES: usize = 300;
    let broker = start_broker_with(|_| {}).await;
    let mut pair = Pair::new(&broker).await;
    // 100 retained messages of 8 KB: each SUBSCRIBE to `#` (11 bytes) asks for 800 KB.
    let (mut retainer, _) = Raw::v4(broker.addr(), "retainer", true).await;
    let payload = vec![b'r'; 8 * 1024];
    for i in 0..RETAINED {
        let topic = format!("big/{i}");
        retainer
            .send(&b::publish(&topic, 0, 0, false, true, &payload, None))
            .await;
    }
    assert!(retainer.sync().await.is_empty());
    let baseline = counts(&broker).await;
    // The attacker never reads; 300 SUBSCRIBEs would be 240 MB if answered in full.
    let (mut attacker, _) = Raw::v4(broker.addr(), "attacker", true).await;
    let mut burst = Vec::new();
    for i in 0..SUBSCRIBES {
        burst.extend(b::subscribe(i as u16 + 1, &[("#", 0)], None));
    }
    attacker.send(&burst).await;
    let pushed = || async {
        ask(&broker, |reply| Query::Stats {
            client: "attacker".into(),
            reply,
        })
        .await
        .map_or(0, |s| s.bytes_out.load(Relaxed))
    };
    // Something that must not happen: watch for a while (the pair keeps working).
    for _ in 0..5 {
        pair.check().await;
        tokio::time::sleep(crate::support::QUIET / 3).await;
    }
    let bytes = pushed().await;
    assert!(
        bytes < 32 << 20,
        "the broker buffered {} MB for a client that reads nothing",
        bytes >> 20
    );
    pair.check().await;
    // Once it goes, everything it held is released.
    drop(attacker);
    back_to(&broker, baseline).await;
    pair.check().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn takeover_storm_on_one_client_id_settles() {
    let broker = start_broker_with(|_| {}).await;
    let mut pair = Pair::new(&broker).await;
    let baseline = counts(&broker).await;
    let addr = broker.addr();
    // 200 connections race for the same client id; each new one takes the session over.
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..200 {
        set.spawn(async move {
            let mut s = TcpStream::connect(addr).await.ok()?;
            s.write_all(&b::connect(4, "contested", false, 0, None, None))
                .await
                .ok()?;
            let mut ack = [0u8; 4];
            s.read_exact(&mut ack).await.ok()?;
            Some((s, ack))
        });
    }
    let mut open = Vec::new();
    within(15.0, async {
        while let Some(r) = set.join_next().await {
            if let Some((s, ack)) = r.expect("task") {
                assert_eq!(ack[0], 0x20, "{ack:?}");
                open.push(s);
            }
        }
    })
    .await;
    pair.check().await;
    // One of them holds the session now; the persistent session outlives everyone.
    let settled = Counts {
        sockets: baseline.sockets + 1,
        online: baseline.online + 1,
        sessions: baseline.sessions + 1,
        subscriptions: baseline.subscriptions,
    };
    back_to(&broker, settled).await;
    drop(open);
    let offline = Counts {
        sockets: baseline.sockets,
        online: baseline.online,
        ..settled
    };
    back_to(&broker, offline).await;
    pair.check().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_publisher_is_slowed_to_max_publish_rate_and_loses_nothing() {
    let broker = start_broker_with(|c| c.limits.max_publish_rate = 20).await;
    let mut sub = raw_sub(broker.addr(), "rate-sub", "rate/#", 0).await;
    let (mut flood, _) = Raw::v4(broker.addr(), "rate-pub", true).await;
    let started = Instant::now();
    // 60 messages in one burst: 20 pass at once (one second's burst), the rest at 20/s.
    for i in 0..60u32 {
        flood.publish0("rate/x", &i.to_be_bytes()).await;
    }
    let mut got = Vec::new();
    while got.len() < 60 {
        let p = within(10.0, sub.recv_publish()).await;
        got.push(u32::from_be_bytes(
            p.payload[..4].try_into().expect("4 bytes"),
        ));
    }
    assert_eq!(got, (0..60).collect::<Vec<_>>(), "all delivered, in order");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1500),
        "the flood was not slowed: {took:?}"
    );
    // Other clients are not slowed by it.
    let (mut other, _) = Raw::v4(broker.addr(), "rate-other", true).await;
    let t = Instant::now();
    for i in 0..10u32 {
        other.publish0("rate/y", &i.to_be_bytes()).await;
    }
    for _ in 0..10 {
        within(5.0, sub.recv_publish()).await;
    }
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "a client under its own limit is not slowed"
    );
    broker.shutdown().await;
}
