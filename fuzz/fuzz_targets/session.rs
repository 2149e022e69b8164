//! Whole sessions against a live in-process broker, not only the codec: each input is
//! written to a fresh connection (`Broker::connect_local`, served like a socket) in chunks,
//! optionally after a valid CONNECT, and whatever the broker answers is read until it
//! closes. The broker must never panic, never hang (it closes the connection once our side
//! is shut), and must still serve a fresh client afterwards.
//!
//! Input layout: byte 0 picks the CONNECT prefix (none, 3.1, 3.1.1, 5.0), byte 1 seeds the
//! chunk sizes, the rest is written to the socket.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use midge::broker::{Broker, Open};
use midge::config::{Config, ListenerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

/// How long the broker may take to close a connection after our EOF before it counts as
/// a hang (generous: the machine is shared).
const CLOSE_WITHIN: Duration = Duration::from_secs(10);

struct Harness {
    rt: tokio::runtime::Runtime,
    broker: Broker,
}

/// One broker per fuzzing process, in memory, `$SYS` off.
fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let mut config = Config {
            listeners: vec![ListenerConfig::tcp(
                "127.0.0.1:0".parse().expect("literal address"),
            )],
            ..Config::default()
        };
        config.storage.in_memory = true;
        config.sys.interval_secs = 0;
        // Small enough that oversized packets are exercised without big allocations.
        config.limits.max_packet_size = 64 * 1024;
        let access = Arc::new(Open {
            allow_anonymous: true,
        });
        let broker = rt
            .block_on(Broker::start(&config, access))
            .expect("broker starts");
        Harness { rt, broker }
    })
}

/// A valid CONNECT (clean start, keep-alive 0, client id `id`) for protocol `level`.
fn connect(level: u8, id: &str) -> Vec<u8> {
    let name: &[u8] = if level == 3 { b"MQIsdp" } else { b"MQTT" };
    let mut body = Vec::new();
    body.extend_from_slice(&(name.len() as u16).to_be_bytes());
    body.extend_from_slice(name);
    body.extend_from_slice(&[level, 0x02, 0, 0]);
    if level == 5 {
        body.push(0); // no properties
    }
    body.extend_from_slice(&(id.len() as u16).to_be_bytes());
    body.extend_from_slice(id.as_bytes());
    let mut out = vec![0x10, body.len() as u8];
    out.extend(body);
    out
}

/// Write `data` in chunks whose sizes come from `seed`, then shut our side.
async fn write_chunks(mut w: tokio::io::WriteHalf<DuplexStream>, data: &[u8], seed: u8) {
    let mut state = u32::from(seed) | 1;
    let mut rest = data;
    while !rest.is_empty() {
        // xorshift: sizes 1..=256, so frames split at every possible point.
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = ((state % 256) as usize + 1).min(rest.len());
        let (chunk, tail) = rest.split_at(n);
        if w.write_all(chunk).await.is_err() {
            return; // the broker closed: fine
        }
        rest = tail;
        tokio::task::yield_now().await;
    }
    let _ = w.shutdown().await;
}

/// Read until the broker closes; the bytes are not interpreted.
async fn drain(mut r: tokio::io::ReadHalf<DuplexStream>) {
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n) = r.read(&mut buf).await {
        if n == 0 {
            return;
        }
    }
}

/// A fresh client must still get CONNACK 0.
async fn still_serves(broker: &Broker) {
    let mut s = broker.connect_local("fuzz-check");
    s.write_all(&connect(4, "fuzz-check")).await.expect("write CONNECT");
    let mut ack = [0u8; 4];
    s.read_exact(&mut ack).await.expect("read CONNACK");
    assert_eq!(ack, [0x20, 0x02, 0x00, 0x00], "fresh client refused");
}

fuzz_target!(|data: &[u8]| {
    let h = harness();
    let (prefix, seed, body) = match data {
        [p, s, rest @ ..] => (*p, *s, rest),
        _ => return,
    };
    let mut bytes = match prefix % 4 {
        1 => connect(3, "fuzz"),
        2 => connect(4, "fuzz"),
        3 => connect(5, "fuzz"),
        _ => Vec::new(),
    };
    bytes.extend_from_slice(body);
    h.rt.block_on(async {
        let stream = h.broker.connect_local("fuzz");
        let (r, w) = tokio::io::split(stream);
        let session = async { tokio::join!(write_chunks(w, &bytes, seed), drain(r)) };
        tokio::time::timeout(CLOSE_WITHIN, session)
            .await
            .expect("broker did not close the connection after EOF");
        tokio::time::timeout(CLOSE_WITHIN, still_serves(&h.broker))
            .await
            .expect("fresh client got no CONNACK");
    });
});
