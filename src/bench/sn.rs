//! The `snfanin` scenario: P MQTT-SN 1.2 publishers over UDP (the gateway at
//! `--sn-port` on the same host) into one MQTT subscriber over TCP. Each SN publisher
//! CONNECTs, REGISTERs its topic and publishes stamped payloads (QoS 0 or 1; at QoS 1 at
//! most `--inflight` unacknowledged, capped at 32). The subscriber and the credit window
//! are those of the other scenarios, so loss is counted by sequence number: UDP may lose
//! QoS 0 datagrams, and a QoS 1 publish the gateway never acknowledged is `unacked`.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::client::{Client, KEEP_ALIVE};
use super::flow::{subscriber, Shared};
use super::report::{Latency, ScenarioReport};
use super::stats::{Stamp, HEADER_LEN};
use super::sys::CpuMeter;
use super::{run_id, BenchError, BenchOptions};
use crate::mqttsn::codec::{decode, encode, Flags, Message, ReturnCode, SnQos};
use crate::protocol::QoS;

/// The QoS 1 window of one SN publisher (the gateway answers "congestion" past 64).
const MAX_INFLIGHT: usize = 32;
/// A publisher that waited this long for credit assumes datagrams were lost.
const CREDIT_STALL: Duration = Duration::from_secs(1);

fn io(what: &str) -> impl FnOnce(std::io::Error) -> BenchError + '_ {
    move |e| BenchError::Io(what.to_owned(), e)
}

/// Sends `m` and waits (bounded) for the answer of type `want`.
async fn ask(
    sock: &UdpSocket,
    m: &Message,
    want: fn(&Message) -> bool,
) -> Result<Message, BenchError> {
    let mut buf = vec![0u8; 2048];
    for _ in 0..3 {
        sock.send(&encode(m))
            .await
            .map_err(io("send to the gateway"))?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while let Ok(r) = tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
            let n = r.map_err(io("receive from the gateway"))?;
            if let Ok(got) = decode(Bytes::copy_from_slice(&buf[..n])) {
                if want(&got) {
                    return Ok(got);
                }
            }
        }
    }
    Err(BenchError::Protocol(format!(
        "no answer from the MQTT-SN gateway to {m:?}"
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
    let connect = Message::Connect {
        flags: Flags {
            clean_session: true,
            ..Flags::default()
        },
        protocol_id: 1,
        duration: 300,
        client_id: Bytes::from(id.to_owned()),
    };
    match ask(&sock, &connect, |m| matches!(m, Message::ConnAck { .. })).await? {
        Message::ConnAck {
            code: ReturnCode::Accepted,
        } => {}
        other => {
            return Err(BenchError::Protocol(format!(
                "gateway refused CONNECT: {other:?}"
            )))
        }
    }
    let register = Message::Register {
        topic_id: 0,
        msg_id: 1,
        topic_name: Bytes::from(topic.to_owned()),
    };
    match ask(&sock, &register, |m| matches!(m, Message::RegAck { .. })).await? {
        Message::RegAck {
            topic_id,
            code: ReturnCode::Accepted,
            ..
        } => Ok((sock, topic_id)),
        other => Err(BenchError::Protocol(format!(
            "gateway refused REGISTER: {other:?}"
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
    let sn_qos = if qos == QoS::AtMostOnce {
        SnQos::AtMostOnce
    } else {
        SnQos::AtLeastOnce
    };
    let mut body = BytesMut::zeroed(payload.max(HEADER_LEN));
    while Instant::now() < until {
        // Acknowledgements that arrived meanwhile.
        while let Ok(n) = sock.try_recv(&mut buf) {
            if let Ok(Message::PubAck { .. }) = decode(Bytes::copy_from_slice(&buf[..n])) {
                inflight = inflight.saturating_sub(1);
            }
        }
        if sn_qos == SnQos::AtLeastOnce && inflight >= MAX_INFLIGHT {
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
        let m = Message::Publish {
            flags: Flags {
                qos: sn_qos,
                ..Flags::default()
            },
            topic_id,
            msg_id: if sn_qos == SnQos::AtMostOnce {
                0
            } else {
                msg_id
            },
            data: Bytes::copy_from_slice(&body),
        };
        sock.send(&encode(&m))
            .await
            .map_err(io("send to the gateway"))?;
        shared.sent[index].fetch_add(1, Ordering::Relaxed);
        if sn_qos == SnQos::AtLeastOnce {
            inflight += 1;
        }
    }
    let deadline = tokio::time::Instant::now() + drain;
    while inflight > 0 {
        match tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
            Ok(Ok(n)) => {
                if let Ok(Message::PubAck { .. }) = decode(Bytes::copy_from_slice(&buf[..n])) {
                    inflight -= 1;
                }
            }
            _ => break,
        }
    }
    r.unacked = inflight as u64;
    let _ = sock
        .send(&encode(&Message::Disconnect { duration: None }))
        .await;
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
