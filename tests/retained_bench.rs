//! A wildcard SUBSCRIBE with 1,000,000 retained messages: how long do publishers stall?
//! Benchmarks, run by hand in release mode:
//!
//! ```sh
//! cargo test --release -p midge --test retained_bench -- --ignored --nocapture --test-threads 1
//! MIDGE_BIN=/path/to/other/midge cargo test ...   # the same against another build
//! ```
//!
//! Each fills a store in a temp dir with 1,000,000 retained messages `r/<i/10>/<i%10>`
//! (64-byte payloads, as the broker writes them), starts the real binary on it, and runs
//! a probe: a QoS 1 publisher to `probe`, one publish per millisecond, each waiting for
//! its PUBACK (with a store, the PUBACK comes after the router handled the message), and
//! a QoS 0 subscriber of `probe`. Then another client subscribes to a wildcard filter and
//! reads every retained message it matches. Reported: the probe's PUBACK round trip and
//! delivery latency before and while the wildcard subscription is served (the longest is
//! the publishers' stall), and when the SUBACK and the last retained message arrived.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use midge::broker::message::Message;
use midge::broker::persist;
use midge::protocol::QoS;
use midge::storage::{Keyspace, Op, Store, SyncPolicy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

const N: u64 = 1_000_000;
const BATCH: u64 = 10_000;
/// Time every step may take before the benchmark gives up.
const LIMIT: Duration = Duration::from_secs(120);

fn topic(i: u64) -> String {
    format!("r/{}/{}", i / 10, i % 10)
}

fn fill(dir: &Path) {
    let store = Store::open(dir, SyncPolicy::Never).expect("open store");
    let mut i = 0;
    while i < N {
        let end = (i + BATCH).min(N);
        let ops = (i..end)
            .map(|i| {
                let t = topic(i);
                let msg = Message::internal(&t, Bytes::from(vec![b'x'; 64]), QoS::AtMostOnce, true);
                Op::Put {
                    ks: Keyspace::Retained,
                    key: t.into_bytes(),
                    value: persist::retained_value(&msg),
                }
            })
            .collect();
        store.submit(ops, None);
        i = end;
    }
    store.sync().expect("sync");
}

fn status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The broker on `dir`, and the address it listens on, once it does.
fn start(dir: &Path) -> (Child, SocketAddr) {
    let bin = std::env::var("MIDGE_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_midge").into());
    let t = Instant::now();
    let mut child = Command::new(&bin)
        .args(["--headless", "-l", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("NO_COLOR", "1")
        .env("MIDGE_LOG", "warn,midge::transport=info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("midge runs");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines.next().expect("listening line").expect("stderr");
        if let Some(rest) = line.split("listening address=").nth(1) {
            let a = rest.split_whitespace().next().unwrap_or("");
            break a.parse().expect("an address");
        }
    };
    // Keep draining the log so the broker never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    println!(
        "{bin}: 1M retained, spawn → listening {:.2} s, RSS {:.0} MiB",
        t.elapsed().as_secs_f64(),
        status_kb(child.id(), "VmRSS") as f64 / 1024.0
    );
    (child, addr)
}

fn string(buf: &mut BytesMut, s: &str) {
    buf.put_u16(s.len() as u16);
    buf.put_slice(s.as_bytes());
}

fn packet(first: u8, body: &[u8]) -> BytesMut {
    let mut out = BytesMut::new();
    out.put_u8(first);
    let mut n = body.len();
    loop {
        let b = (n % 128) as u8;
        n /= 128;
        out.put_u8(if n > 0 { b | 0x80 } else { b });
        if n == 0 {
            break;
        }
    }
    out.put_slice(body);
    out
}

/// Reads whole packets: (first byte, body).
struct Reader {
    rd: OwnedReadHalf,
    buf: BytesMut,
}

impl Reader {
    async fn next(&mut self) -> (u8, Bytes) {
        loop {
            if let Some((len, hdr)) = header(&self.buf) {
                if self.buf.len() >= hdr + len {
                    let first = self.buf[0];
                    self.buf.advance(hdr);
                    return (first, self.buf.split_to(len).freeze());
                }
            }
            self.buf.reserve(256 * 1024);
            let n = self.rd.read_buf(&mut self.buf).await.expect("read");
            assert!(n > 0, "broker closed the connection");
        }
    }
}

/// Body length and header length of the packet at the front, once complete.
fn header(b: &[u8]) -> Option<(usize, usize)> {
    let mut len = 0usize;
    for i in 1..5 {
        let byte = *b.get(i)?;
        len |= usize::from(byte & 0x7F) << (7 * (i - 1));
        if byte & 0x80 == 0 {
            return Some((len, i + 1));
        }
    }
    None
}

async fn connect(addr: SocketAddr, id: &str) -> (Reader, OwnedWriteHalf) {
    let s = TcpStream::connect(addr).await.expect("connect");
    s.set_nodelay(true).expect("nodelay");
    let (rd, mut wr) = s.into_split();
    let mut body = BytesMut::new();
    string(&mut body, "MQTT");
    body.put_slice(&[4, 0x02, 0, 0]);
    string(&mut body, id);
    wr.write_all(&packet(0x10, &body)).await.expect("write");
    let mut r = Reader {
        rd,
        buf: BytesMut::new(),
    };
    let (first, ack) = r.next().await;
    assert_eq!((first, ack[1]), (0x20, 0), "CONNACK");
    (r, wr)
}

fn subscribe(filter: &str, qos: u8) -> BytesMut {
    let mut body = BytesMut::new();
    body.put_u16(1);
    string(&mut body, filter);
    body.put_u8(qos);
    packet(0x82, &body)
}

fn max_ms(v: &[Duration]) -> f64 {
    v.iter().max().copied().unwrap_or_default().as_secs_f64() * 1e3
}

fn p50_ms(v: &mut [Duration]) -> f64 {
    v.sort();
    v.get(v.len() / 2)
        .copied()
        .unwrap_or_default()
        .as_secs_f64()
        * 1e3
}

/// Probe, subscribe to `filter`, read the `expect` retained messages, probe on briefly.
async fn stall(addr: SocketAddr, filter: &str, expect: u64) {
    let base = Instant::now();
    let (mut sub_r, mut sub_w) = connect(addr, "probe-sub").await;
    sub_w
        .write_all(&subscribe("probe", 0))
        .await
        .expect("write");
    assert_eq!(sub_r.next().await.0, 0x90, "SUBACK");
    // Delivery latency: the payload carries the send time.
    let deliveries = tokio::spawn(async move {
        let mut out = Vec::new();
        loop {
            let (first, body) = sub_r.next().await;
            if first >> 4 == 3 {
                let tlen = usize::from(u16::from_be_bytes([body[0], body[1]]));
                let p = &body[2 + tlen..];
                if p.len() < 8 {
                    return out;
                }
                let sent = u64::from_be_bytes(p[..8].try_into().expect("8 bytes"));
                out.push((sent, base.elapsed() - Duration::from_nanos(sent)));
            }
        }
    });
    let (mut pub_r, mut pub_w) = connect(addr, "probe-pub").await;
    let (mut wild_r, mut wild_w) = connect(addr, "wild").await;

    let mut rtts: Vec<(Duration, Duration)> = Vec::new();
    let mut pid: u16 = 0;
    let mut probe = async |until: &dyn Fn() -> bool, rtts: &mut Vec<(Duration, Duration)>| {
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        while !until() {
            tick.tick().await;
            pid = pid % 65535 + 1;
            let sent = base.elapsed();
            let mut body = BytesMut::new();
            string(&mut body, "probe");
            body.put_u16(pid);
            body.put_u64(sent.as_nanos() as u64);
            pub_w.write_all(&packet(0x32, &body)).await.expect("write");
            let (first, _) = pub_r.next().await;
            assert_eq!(first, 0x40, "PUBACK");
            rtts.push((sent, base.elapsed() - sent));
        }
    };
    // Before: a quiet baseline.
    let warm = Instant::now() + Duration::from_millis(300);
    probe(&|| Instant::now() >= warm, &mut rtts).await;
    let before = rtts.len();

    let t_sub = base.elapsed();
    wild_w
        .write_all(&subscribe(filter, 0))
        .await
        .expect("write");
    let reader = tokio::spawn(async move {
        let (first, _) = wild_r.next().await;
        assert_eq!(first, 0x90, "SUBACK first [MQTT-3.8.4-1]");
        let suback = base.elapsed();
        let mut n = 0u64;
        while n < expect {
            let (first, _) = wild_r.next().await;
            if first >> 4 == 3 {
                n += 1;
            }
        }
        (suback, base.elapsed())
    });
    let done = std::sync::atomic::AtomicU64::new(0);
    let (probe_done, read) = tokio::join!(
        async {
            let until = || {
                let d = done.load(std::sync::atomic::Ordering::Relaxed);
                d > 0 && base.elapsed() > Duration::from_nanos(d) + Duration::from_millis(300)
            };
            tokio::time::timeout(LIMIT, probe(&until, &mut rtts)).await
        },
        async {
            let r = tokio::time::timeout(LIMIT, reader).await;
            done.store(
                base.elapsed().as_nanos() as u64,
                std::sync::atomic::Ordering::Relaxed,
            );
            r
        }
    );
    probe_done.expect("probe within the limit");
    let (suback, last) = read.expect("retained within the limit").expect("reader");
    // A last probe message without a timestamp ends the delivery reader.
    let mut body = BytesMut::new();
    string(&mut body, "probe");
    pub_w.write_all(&packet(0x30, &body)).await.expect("write");
    let lat = deliveries.await.expect("deliveries");

    let mut base_rtt: Vec<Duration> = rtts[..before].iter().map(|r| r.1).collect();
    let during: Vec<Duration> = rtts[before..].iter().map(|r| r.1).collect();
    let mut base_lat: Vec<Duration> = lat
        .iter()
        .filter(|l| Duration::from_nanos(l.0) < t_sub)
        .map(|l| l.1)
        .collect();
    let during_lat: Vec<Duration> = lat
        .iter()
        .filter(|l| Duration::from_nanos(l.0) >= t_sub)
        .map(|l| l.1)
        .collect();
    println!(
        "SUBSCRIBE {filter:>12} ({expect} retained): SUBACK after {:.1} ms, last retained \
         after {:.1} ms | probe PUBACK RTT p50 {:.2} ms before, max {:.1} ms during | \
         delivery p50 {:.2} ms before, max {:.1} ms during ({} probes during)",
        (suback - t_sub).as_secs_f64() * 1e3,
        (last - t_sub).as_secs_f64() * 1e3,
        p50_ms(&mut base_rtt),
        max_ms(&during),
        p50_ms(&mut base_lat),
        max_ms(&during_lat),
        during.len(),
    );
}

fn bench(filter: &str, expect: u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    fill(dir.path());
    let (mut child, addr) = start(dir.path());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(stall(addr, filter, expect));
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
#[ignore = "benchmark: run by hand"]
fn wildcard_subscribe_10_of_1m_retained() {
    bench("r/4242/+", 10);
}

#[test]
#[ignore = "benchmark: run by hand"]
fn wildcard_subscribe_all_1m_retained() {
    bench("#", N);
}
