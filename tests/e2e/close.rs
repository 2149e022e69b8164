//! Graceful close: a client that is still writing when midge says goodbye (a DISCONNECT,
//! a refusing CONNACK) reads the reason code and then a clean EOF, not a reset. The
//! client here is raw bytes on a socket, parsed by hand (independent of our codec).

use std::sync::Arc;
use std::time::Duration;

use midge::broker::Open;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::bytes as b;
use crate::support::{start_broker, start_broker_access, within, WAIT};

/// The client's pace while it keeps writing (a steady publisher, 500 packets/s).
const PACE: Duration = Duration::from_millis(2);
/// How long the client goes on writing after it has read the broker's last word: well
/// past the broker's close on the old code (a few ms), well within its drain time (1 s).
const AFTER: Duration = Duration::from_millis(250);

/// One MQTT control packet as read off the wire: the first byte and the body.
#[derive(Debug)]
struct Raw {
    first: u8,
    body: Vec<u8>,
}

/// The complete packets at the front of `bytes` (section 2.1: fixed header, Remaining
/// Length as a Variable Byte Integer, body).
fn packets(mut bytes: &[u8]) -> Vec<Raw> {
    let mut out = Vec::new();
    while bytes.len() >= 2 {
        let (mut len, mut shift, mut i) = (0usize, 0, 1);
        loop {
            let Some(&byte) = bytes.get(i) else {
                return out;
            };
            len |= usize::from(byte & 0x7f) << shift;
            shift += 7;
            i += 1;
            if byte & 0x80 == 0 {
                break;
            }
        }
        if bytes.len() < i + len {
            return out;
        }
        out.push(Raw {
            first: bytes[0],
            body: bytes[i..i + len].to_vec(),
        });
        bytes = &bytes[i + len..];
    }
    out
}

/// The Receive Maximum (property 0x21) of a v5 CONNACK body, 65,535 when absent
/// (section 3.2.2.3).
fn receive_maximum(connack: &[u8]) -> u16 {
    let mut i = 2; // flags, reason code
    let (mut len, mut shift) = (0usize, 0);
    loop {
        let byte = connack[i];
        len |= usize::from(byte & 0x7f) << shift;
        shift += 7;
        i += 1;
        if byte & 0x80 == 0 {
            break;
        }
    }
    let end = i + len;
    while i < end {
        let id = connack[i];
        i += 1;
        let skip = match id {
            0x21 => return u16::from_be_bytes([connack[i], connack[i + 1]]),
            0x24 | 0x25 | 0x28 | 0x29 | 0x2A => 1,
            0x13 | 0x22 => 2,
            0x11 | 0x27 => 4,
            // Strings and binary data: a two-byte length.
            0x12 | 0x15 | 0x16 | 0x1A | 0x1C | 0x1F => {
                2 + usize::from(u16::from_be_bytes([connack[i], connack[i + 1]]))
            }
            0x26 => {
                let k = usize::from(u16::from_be_bytes([connack[i], connack[i + 1]]));
                let v = usize::from(u16::from_be_bytes([connack[i + 2 + k], connack[i + 3 + k]]));
                4 + k + v
            }
            other => panic!("unexpected CONNACK property {other:#x}"),
        };
        i += skip;
    }
    u16::MAX
}

/// What a client that keeps writing saw.
struct Seen {
    /// Every byte the broker sent, up to its EOF.
    bytes: Vec<u8>,
    /// The writes made after the broker's last word was read (all succeeded).
    writes_after: usize,
}

/// Write `next()` every `PACE` while reading, until `last_word` holds for what was read;
/// go on writing for `AFTER`; then half-close and read to EOF. Fails the test if any
/// write fails or the read ends in an error (a reset) rather than EOF.
async fn keep_writing(
    stream: &mut TcpStream,
    mut next: impl FnMut() -> Vec<u8>,
    last_word: impl Fn(&[Raw]) -> bool,
) -> Seen {
    let mut bytes = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut pace = tokio::time::interval(PACE);
    // Until the last word arrives: write, and take whatever has come.
    within(WAIT.as_secs_f64(), async {
        while !last_word(&packets(&bytes)) {
            tokio::select! {
                _ = pace.tick() => {
                    let res = stream.write_all(&next()).await;
                    assert!(res.is_ok(), "write failed before the broker's last word: {res:?}");
                }
                res = stream.read(&mut chunk) => match res {
                    Ok(0) => panic!("EOF before the broker's last word"),
                    Ok(n) => bytes.extend_from_slice(&chunk[..n]),
                    Err(e) => panic!("read failed before the broker's last word: {e}"),
                }
            }
        }
    })
    .await;
    // The client hasn't noticed yet and goes on writing.
    let mut writes_after = 0;
    let stop = tokio::time::Instant::now() + AFTER;
    while tokio::time::Instant::now() < stop {
        pace.tick().await;
        if let Err(e) = stream.write_all(&next()).await {
            panic!("write {writes_after} after the broker's last word failed: {e}");
        }
        writes_after += 1;
    }
    stream.shutdown().await.expect("half-close");
    within(WAIT.as_secs_f64(), async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) => break,
                Ok(n) => bytes.extend_from_slice(&chunk[..n]),
                Err(e) => panic!("connection reset instead of closed: {e}"),
            }
        }
    })
    .await;
    Seen {
        bytes,
        writes_after,
    }
}

async fn open(addr: std::net::SocketAddr) -> TcpStream {
    let stream = within(5.0, TcpStream::connect(addr))
        .await
        .expect("tcp connect");
    stream.set_nodelay(true).expect("nodelay");
    stream
}

/// Read one packet whole (the CONNACK), by hand.
async fn read_packet(stream: &mut TcpStream) -> Raw {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 1024];
    within(WAIT.as_secs_f64(), async {
        loop {
            if let Some(p) = packets(&bytes).into_iter().next() {
                return p;
            }
            let n = stream.read(&mut chunk).await.expect("read");
            assert!(n > 0, "closed before a whole packet");
            bytes.extend_from_slice(&chunk[..n]);
        }
    })
    .await
}

#[tokio::test]
async fn client_still_writing_reads_disconnect_0x93() {
    let broker = start_broker().await;
    let mut stream = open(broker.addr()).await;
    stream
        .write_all(&b::connect(5, "flood", true, 0, Some(&[0]), None))
        .await
        .expect("write CONNECT");
    let connack = read_packet(&mut stream).await;
    assert_eq!((connack.first, connack.body[1]), (0x20, 0x00), "CONNACK");
    let max = receive_maximum(&connack.body);
    // One more unreleased QoS 2 PUBLISH than the broker's Receive Maximum, at once, and
    // then more, paced, as a publisher that doesn't wait for PUBRECs goes on.
    let mut all = Vec::new();
    for pid in 1..=max.saturating_add(1) {
        all.extend(b::publish("f", 2, pid, false, false, b"x", Some(&[])));
    }
    stream.write_all(&all).await.expect("write the burst");
    let mut pid = max;
    let next = || {
        pid = pid.checked_add(1).unwrap_or(1);
        b::publish("f", 2, pid, false, false, b"x", Some(&[]))
    };
    let seen = keep_writing(&mut stream, next, |ps| ps.iter().any(|p| p.first == 0xE0)).await;
    assert!(seen.writes_after > 0);
    let packets = packets(&seen.bytes);
    // [MQTT-3.3.4-9]: DISCONNECT 0x93, the last thing the broker sent.
    let last = packets.last().expect("a packet");
    assert_eq!(last.first, 0xE0, "last packet: {last:?}");
    assert_eq!(last.body.first(), Some(&0x93), "reason: {last:?}");
    let recs = packets.iter().filter(|p| p.first == 0x50).count();
    assert_eq!(recs, usize::from(max), "PUBRECs");
}

/// A refusing CONNACK, then the client (which pipelined PUBLISHes after its CONNECT)
/// keeps writing: it reads the CONNACK with `reason` and a clean EOF.
async fn refused_connack_is_read(addr: std::net::SocketAddr, connect: &[u8], v5: bool, reason: u8) {
    let mut stream = open(addr).await;
    stream.write_all(connect).await.expect("write CONNECT");
    let next = || {
        let props = v5.then_some(&[][..]);
        b::publish("early", 0, 0, false, false, b"x", props)
    };
    let seen = keep_writing(&mut stream, next, |ps| !ps.is_empty()).await;
    assert!(seen.writes_after > 0);
    let packets = packets(&seen.bytes);
    assert_eq!(packets.len(), 1, "{packets:?}");
    assert_eq!(packets[0].first, 0x20, "CONNACK");
    // Flags, then the reason code (v5) or return code (3.1.1).
    assert_eq!(packets[0].body.get(1), Some(&reason), "{:?}", packets[0]);
}

#[tokio::test]
async fn client_still_writing_reads_a_refusing_connack() {
    let open_to_none = Arc::new(Open {
        allow_anonymous: false,
    });
    let broker = start_broker_access(open_to_none, |_| {}).await;
    // v5, anonymous where nobody is let in: 0x87 Not authorized.
    let connect = b::connect(5, "anon", true, 0, Some(&[0]), None);
    refused_connack_is_read(broker.addr(), &connect, true, 0x87).await;
    // An unknown protocol level: return code 0x01 in the 3.1.1 encoding [MQTT-3.1.2-2].
    let connect = b::connect(6, "six", true, 0, None, None);
    refused_connack_is_read(broker.addr(), &connect, false, 0x01).await;
}
