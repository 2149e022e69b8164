//! The `snfanin` scenario: P MQTT-SN 1.2 publishers over UDP (the gateway at
//! `--sn-port` on the same host) into one MQTT subscriber over TCP. Each SN publisher
//! CONNECTs, REGISTERs its topic and publishes stamped payloads (QoS 0 or 1; at QoS 1 at
//! most `--inflight` unacknowledged, capped at 32). The subscriber and the credit window
//! are those of the other scenarios, so loss is counted by sequence number: UDP may lose
//! QoS 0 datagrams, and a QoS 1 publish the gateway never acknowledged is `unacked`.
//!
//! The few SN messages it needs are written here from the spec's tables (MQTT-SN 1.2
//! section 5.4), not with `crate::mqttsn`: the load generator stays independent of the
//! gateway it measures (and of the broker it lives in).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::client::{Client, KEEP_ALIVE};
use super::flow::{subscriber, Shared};
use super::report::{Latency, ScenarioReport};
use super::stats::{Stamp, HEADER_LEN};
use super::sys::CpuMeter;
use super::{run_id, BenchError, BenchOptions};
use crate::protocol::QoS;

/// The QoS 1 window of one SN publisher (the gateway answers "congestion" past 64).
const MAX_INFLIGHT: usize = 32;
/// A publisher that waited this long for credit assumes datagrams were lost.
const CREDIT_STALL: Duration = Duration::from_secs(1);

fn io(what: &str) -> impl FnOnce(std::io::Error) -> BenchError + '_ {
    move |e| BenchError::Io(what.to_owned(), e)
}

const CONNECT: u8 = 0x04;
const CONNACK: u8 = 0x05;
const REGISTER: u8 = 0x0a;
const REGACK: u8 = 0x0b;
const PUBLISH: u8 = 0x0c;
const PUBACK: u8 = 0x0d;
const DISCONNECT: u8 = 0x18;

/// One SN message: Length (one octet, or 0x01 and two), MsgType, body.
fn sn(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(body.len() + 4);
    match u8::try_from(body.len() + 2) {
        Ok(n) if n != 1 => v.push(n),
        _ => {
            v.push(0x01);
            v.extend(
                u16::try_from(body.len() + 4)
                    .unwrap_or(u16::MAX)
                    .to_be_bytes(),
            );
        }
    }
    v.push(kind);
    v.extend_from_slice(body);
    v
}

/// The MsgType and body of a datagram, if its length field is right.
fn parse(d: &[u8]) -> Option<(u8, &[u8])> {
    let (len, header) = match d.first()? {
        0x01 => (usize::from(u16::from_be_bytes([*d.get(1)?, *d.get(2)?])), 3),
        &n => (usize::from(n), 1),
    };
    (len == d.len() && len > header).then(|| (d[header], &d[header + 1..]))
}

/// Sends `m` and waits (bounded) for an answer of type `want`; returns its body.
async fn ask(sock: &UdpSocket, m: &[u8], want: u8) -> Result<Vec<u8>, BenchError> {
    let mut buf = vec![0u8; 2048];
    for _ in 0..3 {
        sock.send(m).await.map_err(io("send to the gateway"))?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while let Ok(r) = tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
            let n = r.map_err(io("receive from the gateway"))?;
            if let Some((kind, body)) = parse(&buf[..n]) {
                if kind == want {
                    return Ok(body.to_vec());
                }
            }
        }
    }
    Err(BenchError::Protocol(format!(
        "no answer 0x{want:02x} from the MQTT-SN gateway"
    )))
}

/// A connected SN publisher and the id of its registered topic.
async fn sn_connect(gw: SocketAddr, id: &str, topic: &str) -> Result<(UdpSocket, u16), BenchError> {
    let local: SocketAddr = if gw.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let sock = UdpSocket::bind(local)
        .await
        .map_err(io("bind a UDP socket"))?;
    sock.connect(gw)
        .await
        .map_err(io("connect the UDP socket"))?;
    // Flags: clean session; protocol id 1; duration 300 s.
    let mut body = vec![0x04, 0x01, 0x01, 0x2c];
    body.extend_from_slice(id.as_bytes());
    let ack = ask(&sock, &sn(CONNECT, &body), CONNACK).await?;
    if ack != [0x00] {
        return Err(BenchError::Protocol(format!(
            "gateway refused CONNECT: {ack:02x?}"
        )));
    }
    let mut body = vec![0x00, 0x00, 0x00, 0x01];
    body.extend_from_slice(topic.as_bytes());
    match ask(&sock, &sn(REGISTER, &body), REGACK).await?[..] {
        [hi, lo, _, _, 0x00] => Ok((sock, u16::from_be_bytes([hi, lo]))),
        ref other => Err(BenchError::Protocol(format!(
            "gateway refused REGISTER: {other:02x?}"
        ))),
    }
}

#[derive(Default)]
struct SnPubResult {
    unacked: u64,
    stalls: u64,
}

#[expect(
    clippy::too_many_arguments,
    reason = "one call site; a plan struct would only rename them"
)]
async fn sn_publisher(
    sock: UdpSocket,
    index: usize,
    topic_id: u16,
    qos: QoS,
    payload: usize,
    until: Instant,
    drain: Duration,
    shared: Arc<Shared>,
) -> Result<SnPubResult, BenchError> {
    let mut r = SnPubResult::default();
    let mut buf = vec![0u8; 2048];
    let mut inflight = 0usize;
    let mut msg_id = 1u16;
    let qos1 = qos != QoS::AtMostOnce;
    let mut body = BytesMut::zeroed(payload.max(HEADER_LEN));
    while Instant::now() < until {
        // Acknowledgements that arrived meanwhile.
        while let Ok(n) = sock.try_recv(&mut buf) {
            if parse(&buf[..n]).is_some_and(|(k, _)| k == PUBACK) {
                inflight = inflight.saturating_sub(1);
            }
        }
        if qos1 && inflight >= MAX_INFLIGHT {
            let _ = tokio::time::timeout(Duration::from_millis(50), sock.readable()).await;
            continue;
        }
        match tokio::time::timeout(CREDIT_STALL, shared.credits[index].acquire()).await {
            Ok(Ok(permit)) => permit.forget(),
            Ok(Err(_)) => break,
            Err(_) => {
                r.stalls += 1;
                shared.credits[index].add_permits(shared.credit_window);
                continue;
            }
        }
        let seq = shared.sent[index].load(Ordering::Relaxed);
        Stamp {
            seq,
            publisher: index as u64,
            sent_ns: shared.now_ns(),
        }
        .write(&mut body);
        msg_id = msg_id.wrapping_add(1).max(2);
        // Flags: QoS 0 or 1 (bits 6-5), topic id type normal.
        let mut m = vec![if qos1 { 0x20 } else { 0x00 }];
        m.extend(topic_id.to_be_bytes());
        m.extend(if qos1 { msg_id } else { 0 }.to_be_bytes());
        m.extend_from_slice(&body);
        sock.send(&sn(PUBLISH, &m))
            .await
            .map_err(io("send to the gateway"))?;
        shared.sent[index].fetch_add(1, Ordering::Relaxed);
        if qos1 {
            inflight += 1;
        }
    }
    let deadline = tokio::time::Instant::now() + drain;
    while inflight > 0 {
        match tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
            Ok(Ok(n)) => {
                if parse(&buf[..n]).is_some_and(|(k, _)| k == PUBACK) {
                    inflight -= 1;
                }
            }
            _ => break,
        }
    }
    r.unacked = inflight as u64;
    let _ = sock.send(&sn(DISCONNECT, &[])).await;
    Ok(r)
}

pub async fn run(o: &BenchOptions) -> Result<ScenarioReport, BenchError> {
    if o.qos == QoS::ExactlyOnce {
        return Err(BenchError::Usage("snfanin runs at QoS 0 or 1".into()));
    }
    let run = run_id();
    let base = format!("midge-bench/{run}/sn");
    let gw = SocketAddr::new(o.addr.ip(), o.sn_port);
    let publishers = o.publishers.max(1);
    let shared = Arc::new(Shared::new(publishers, (o.window / publishers).max(1)));
    let mut sub = Client::connect(o.addr, o.protocol, &format!("mb-{run}-s0"), KEEP_ALIVE).await?;
    sub.subscribe(&format!("{base}/+"), o.qos).await?;
    let mut pubs = Vec::with_capacity(publishers);
    for i in 0..publishers {
        pubs.push(sn_connect(gw, &format!("mb-{run}-sn{i}"), &format!("{base}/{i}")).await?);
    }
    let (done_tx, done_rx) = watch::channel(false);
    let (stop_tx, stop_rx) = watch::channel(false);
    let cpu = CpuMeter::start(o.broker_pid);
    let sub_task = tokio::spawn(subscriber(
        sub,
        (0..publishers).collect(),
        shared.clone(),
        done_rx,
        stop_rx,
    ));
    let started = Instant::now();
    let until = started + o.duration;
    let mut tasks = JoinSet::new();
    for (i, (sock, topic_id)) in pubs.into_iter().enumerate() {
        tasks.spawn(sn_publisher(
            sock,
            i,
            topic_id,
            o.qos,
            o.payload,
            until,
            o.drain,
            shared.clone(),
        ));
    }
    let (mut unacked, mut stalls) = (0, 0);
    while let Some(j) = tasks.join_next().await {
        let r = j.map_err(|e| BenchError::Task(e.to_string()))??;
        unacked += r.unacked;
        stalls += r.stalls;
    }
    let seconds = started.elapsed().as_secs_f64().max(1e-3);
    let _ = done_tx.send(true);
    let stopper = tokio::spawn({
        let drain = o.drain;
        async move {
            tokio::time::sleep(drain).await;
            let _ = stop_tx.send(true);
        }
    });
    let sub = sub_task
        .await
        .map_err(|e| BenchError::Task(e.to_string()))??;
    stopper.abort();
    let (own_cpu, broker_cpu) = cpu.stop();
    let sent = shared.total_sent();
    let unique: u64 = sub.trackers.iter().map(|t| t.unique).sum();
    #[expect(clippy::cast_precision_loss, reason = "message counts")]
    let per_sec = |n: u64| n as f64 / seconds;
    Ok(ScenarioReport {
        scenario: o.scenario,
        broker: o.label.clone(),
        protocol: "mqtt-sn 1.2 → ".to_owned() + if o.protocol.is_v5() { "5" } else { "3.1.1" },
        qos: o.qos as u8,
        payload: o.payload,
        publishers,
        subscribers: 1,
        seconds,
        sent,
        expected: sent,
        received: sub.received,
        losses: sent.saturating_sub(unique),
        dups: sub.trackers.iter().map(|t| t.dups).sum(),
        reordered: sub.trackers.iter().map(|t| t.reordered).sum(),
        foreign: sub.foreign,
        stalls,
        unacked,
        sent_per_sec: per_sec(sent),
        received_per_sec: per_sec(unique),
        latency_us: Latency::from_histogram(&sub.latency),
        generator_cpu_pct: own_cpu,
        broker_cpu_pct: broker_cpu,
        ..ScenarioReport::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_as_the_spec_writes_them() {
        assert_eq!(sn(PUBACK, &[0, 1, 0, 2, 0]), [7, 0x0d, 0, 1, 0, 2, 0]);
        let long = sn(PUBLISH, &[0u8; 300]);
        assert_eq!(
            (&long[..4], long.len()),
            (&[0x01, 0x01, 0x30, 0x0c][..], 304)
        );
        assert_eq!(
            parse(&long).map(|(k, b)| (k, b.len())),
            Some((PUBLISH, 300))
        );
        assert_eq!(parse(&[3, CONNACK, 0]), Some((CONNACK, &[0u8][..])));
        assert_eq!(parse(&[4, CONNACK, 0]), None);
        assert_eq!(parse(&[]), None);
    }
}
