//! Parked connections (idle plain-TCP connections without a task of their own): every
//! behaviour of an online client still holds while parked — deliveries, PINGREQ,
//! acknowledgements, keep-alive expiry with its will, takeover, the peer closing, and
//! shutdown. Each test first waits until the broker reports the connection parked.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use midge::broker::stats::Metrics;
use midge::protocol::{Packet, ProtocolVersion, QoS, ReasonCode};

use crate::bytes::{self as b, Will};
use crate::support::{raw_sub, start_broker, within, Raw, Read};

/// Wait (bounded) until at least `n` connections are parked.
async fn parked(metrics: &Arc<Metrics>, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while metrics.parked.load(Relaxed) < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} connections parked",
            metrics.parked.load(Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_parked_subscriber_gets_each_delivery_and_parks_again() {
    let broker = start_broker().await;
    let metrics = broker.broker.metrics();
    let mut sub = raw_sub(broker.addr(), "sleepy", "park/#", 1).await;
    parked(&metrics, 1).await;
    let (mut publisher, _) = Raw::v4(broker.addr(), "pub", true).await;
    for i in 1..=3u16 {
        // Waits for the PUBACK.
        publisher
            .publish1("park/t", i, format!("m{i}").as_bytes())
            .await;
        let p = sub.recv_publish().await;
        assert_eq!(&p.payload[..], format!("m{i}").as_bytes());
        assert_eq!(p.qos_pid.qos(), QoS::AtLeastOnce);
        // The PUBACK arrives on a socket that may be parked again by now.
        sub.send(&b::puback(p.qos_pid.pid().expect("pid").get()))
            .await;
        parked(&metrics, 2).await;
    }
    assert!(metrics.resumed.load(Relaxed) >= 3, "woken per delivery");
    assert!(sub.quiet().await.is_empty(), "nothing resent");
}

#[tokio::test]
async fn a_parked_connection_answers_pingreq() {
    let broker = start_broker().await;
    let metrics = broker.broker.metrics();
    let (mut c, _) = Raw::v4(broker.addr(), "pinger", true).await;
    parked(&metrics, 1).await;
    let resumed = metrics.resumed.load(Relaxed);
    c.send(&b::pingreq()).await;
    assert!(matches!(c.recv().await, Packet::PingResp));
    assert!(metrics.resumed.load(Relaxed) > resumed);
}

#[tokio::test]
async fn keep_alive_runs_out_while_parked_and_the_will_goes_out() {
    let broker = start_broker().await;
    let metrics = broker.broker.metrics();
    let mut watcher = raw_sub(broker.addr(), "watcher", "wills/#", 0).await;
    let will = Will {
        topic: "wills/silent",
        payload: b"gone",
        qos: 0,
        retain: false,
        props: &[],
    };
    // Keep-alive 1 s: the broker gives up after 1.5 s of silence [MQTT-3.1.2-24].
    let (mut silent, _) = Raw::connect_with(
        broker.addr(),
        ProtocolVersion::V3_1_1,
        &b::connect(4, "silent", true, 1, None, Some(&will)),
    )
    .await;
    let connected = Instant::now();
    parked(&metrics, 2).await;
    let p = within(5.0, watcher.recv_publish()).await;
    assert_eq!(&*p.topic, "wills/silent");
    let waited = connected.elapsed();
    assert!(
        waited >= Duration::from_millis(1400),
        "closed after {waited:?}, before 1.5 × keep-alive"
    );
    assert!(matches!(
        silent.read_within(Duration::from_secs(2)).await,
        Some(Read::Closed)
    ));
}

#[tokio::test]
async fn a_peer_closing_a_parked_connection_publishes_its_will() {
    let broker = start_broker().await;
    let metrics = broker.broker.metrics();
    let mut watcher = raw_sub(broker.addr(), "watcher", "wills/#", 0).await;
    let will = Will {
        topic: "wills/closed",
        payload: b"bye",
        qos: 0,
        retain: false,
        props: &[],
    };
    let (victim, _) = Raw::connect_with(
        broker.addr(),
        ProtocolVersion::V3_1_1,
        &b::connect(4, "victim", true, 0, None, Some(&will)),
    )
    .await;
    parked(&metrics, 2).await;
    drop(victim);
    let p = watcher.recv_publish().await;
    assert_eq!(&*p.topic, "wills/closed");
}

#[tokio::test]
async fn a_takeover_reaches_a_parked_v5_connection() {
    let broker = start_broker().await;
    let metrics = broker.broker.metrics();
    let expiry = b::props(&[b::p_u32(0x11, 60)]);
    let (mut first, _) = Raw::v5(broker.addr(), "twin", true, &expiry).await;
    first.subscribe(1, "twin/t", 1).await;
    parked(&metrics, 1).await;
    let (_second, ack) = Raw::v5(broker.addr(), "twin", false, &expiry).await;
    assert!(ack.session_present, "the session moved over");
    // [MQTT-3.1.4-3]: the old connection is told why, then closed.
    let got = first.expect_closed().await;
    assert!(
        got.iter().any(
            |p| matches!(p, Packet::Disconnect(d) if d.reason == ReasonCode::SessionTakenOver)
        ),
        "got {got:?}"
    );
}

#[tokio::test]
async fn shutdown_reaches_parked_connections() {
    let broker = start_broker().await;
    let metrics = broker.broker.metrics();
    let (mut a, _) = Raw::v5(broker.addr(), "a", true, &b::props(&[])).await;
    let (mut c, _) = Raw::v4(broker.addr(), "c", true).await;
    parked(&metrics, 2).await;
    let started = Instant::now();
    within(5.0, broker.shutdown()).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "every parked connection came back without waiting for the grace period"
    );
    let got = a.expect_closed().await;
    assert!(
        got.iter().any(
            |p| matches!(p, Packet::Disconnect(d) if d.reason == ReasonCode::ServerShuttingDown)
        ),
        "got {got:?}"
    );
    assert!(c.expect_closed().await.is_empty());
    assert_eq!(metrics.parked.load(Relaxed), 0);
}
