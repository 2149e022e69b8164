//! A small MQTT client for the load generator, built on midge's own codec: one TCP stream,
//! a large read buffer decoded packet by packet, and a write buffer that batches many
//! packets into one `write_all`.

use std::net::SocketAddr;
use std::num::NonZeroU16;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::BenchError;
use crate::protocol::{
    decode, encode, ByteStr, Connect, Packet, PacketId, Properties, Props, ProtocolVersion, QoS,
    ReasonCode, Subscribe, SubscriptionOptions,
};

/// Read this much at least per `read` call, so many packets come in one syscall.
const READ_CHUNK: usize = 256 * 1024;
/// Any packet the bench receives is small; this only stops a broken stream early.
const MAX_PACKET: u32 = 16 * 1024 * 1024;
/// Keep-alive asked for in CONNECT, in seconds: longer than any bounded run (publishing
/// ≤ 120 s plus drain), so no PINGREQ is needed, yet not 0, which some brokers refuse.
pub const KEEP_ALIVE: u16 = 300;
/// Time allowed for CONNECT→CONNACK and SUBSCRIBE→SUBACK.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// One connection to the broker under test.
pub struct Client {
    stream: TcpStream,
    version: ProtocolVersion,
    rbuf: BytesMut,
    /// Packets encoded but not yet written; flushed by [`Client::flush`].
    pub wbuf: BytesMut,
    /// v5 Receive Maximum from the CONNACK: the broker's limit on our unacknowledged
    /// QoS 1/2 publishes [MQTT-3.3.4-7]; 65,535 when absent.
    pub receive_maximum: u16,
}

impl Client {
    /// Opens a TCP connection and completes CONNECT/CONNACK with a clean session.
    pub async fn connect(
        addr: SocketAddr,
        version: ProtocolVersion,
        client_id: &str,
        keep_alive: u16,
    ) -> Result<Self, BenchError> {
        Self::connect_with(addr, version, client_id, keep_alive, false).await
    }

    /// As `connect`; with `persistent`, a session the broker keeps (3.1.1 clean session
    /// 0, v5 Session Expiry Interval 300 s).
    pub async fn connect_with(
        addr: SocketAddr,
        version: ProtocolVersion,
        client_id: &str,
        keep_alive: u16,
        persistent: bool,
    ) -> Result<Self, BenchError> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| BenchError::Io(format!("connect to {addr}"), e))?;
        // Latency matters more than packet count: never wait to coalesce small writes.
        stream
            .set_nodelay(true)
            .map_err(|e| BenchError::Io("set TCP_NODELAY".into(), e))?;
        let mut client = Self {
            stream,
            version,
            rbuf: BytesMut::with_capacity(READ_CHUNK),
            wbuf: BytesMut::with_capacity(64 * 1024),
            receive_maximum: u16::MAX,
        };
        let mut properties = Properties::default();
        if persistent && version == ProtocolVersion::V5 {
            properties.session_expiry_interval = Some(300);
        }
        let connect = Connect {
            protocol: version,
            clean_start: !persistent,
            keep_alive,
            properties: properties.into(),
            client_id: ByteStr::from(client_id),
            will: None,
            username: None,
            password: None,
            bridge: false,
        };
        client.send(&Packet::Connect(Box::new(connect)));
        client.flush().await?;
        let reply = tokio::time::timeout(HANDSHAKE_TIMEOUT, client.next_packet())
            .await
            .map_err(|_| BenchError::Protocol("no CONNACK in time".into()))??;
        match reply {
            Packet::ConnAck(ack) if ack.reason == ReasonCode::Success => {
                if let Some(max) = ack.properties.receive_maximum {
                    client.receive_maximum = max;
                }
                Ok(client)
            }
            Packet::ConnAck(ack) => Err(BenchError::Protocol(format!(
                "connection refused: {:?}",
                ack.reason
            ))),
            other => Err(BenchError::Protocol(format!(
                "expected CONNACK, got {}",
                other.name()
            ))),
        }
    }

    /// Subscribes to `filter` and waits for a SUBACK granting it.
    pub async fn subscribe(&mut self, filter: &str, qos: QoS) -> Result<(), BenchError> {
        let pid = NonZeroU16::MIN;
        let sub = Subscribe {
            pid,
            properties: Props::default(),
            filters: vec![(
                ByteStr::from(filter),
                SubscriptionOptions {
                    qos,
                    ..SubscriptionOptions::default()
                },
            )],
        };
        self.send(&Packet::Subscribe(sub));
        self.flush().await?;
        let reply = tokio::time::timeout(HANDSHAKE_TIMEOUT, self.next_packet())
            .await
            .map_err(|_| BenchError::Protocol(format!("no SUBACK for {filter} in time")))??;
        match reply {
            Packet::SubAck(ack) if ack.pid == pid => match ack.reasons.first() {
                Some(r) if (*r as u8) < 0x80 => Ok(()),
                r => Err(BenchError::Protocol(format!(
                    "subscription to {filter} refused: {r:?}"
                ))),
            },
            other => Err(BenchError::Protocol(format!(
                "expected SUBACK, got {}",
                other.name()
            ))),
        }
    }

    /// Encodes `packet` into the write buffer (no I/O).
    pub fn send(&mut self, packet: &Packet) {
        encode(packet, self.version, &mut self.wbuf);
    }

    /// Writes out everything buffered, in one `write_all`.
    pub async fn flush(&mut self) -> Result<(), BenchError> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        self.stream
            .write_all(&self.wbuf)
            .await
            .map_err(|e| BenchError::Io("write".into(), e))?;
        self.wbuf.clear();
        Ok(())
    }

    /// Reads whatever the socket has (at least one byte) into the read buffer. Cancel-safe:
    /// the bytes stay in the buffer. `Ok(false)` at end of stream.
    pub async fn fill(&mut self) -> Result<bool, BenchError> {
        self.rbuf.reserve(READ_CHUNK);
        let n = self
            .stream
            .read_buf(&mut self.rbuf)
            .await
            .map_err(|e| BenchError::Io("read".into(), e))?;
        Ok(n > 0)
    }

    /// The next complete packet already in the read buffer, if any.
    pub fn try_packet(&mut self) -> Result<Option<Packet>, BenchError> {
        decode(&mut self.rbuf, self.version, MAX_PACKET)
            .map_err(|e| BenchError::Protocol(format!("bad packet from broker: {e}")))
    }

    /// Waits for the next packet.
    pub async fn next_packet(&mut self) -> Result<Packet, BenchError> {
        loop {
            if let Some(p) = self.try_packet()? {
                return Ok(p);
            }
            if !self.fill().await? {
                return Err(BenchError::Protocol("broker closed the connection".into()));
            }
        }
    }

    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// Sends DISCONNECT and closes, ignoring errors (the run is over).
    pub async fn close(mut self) {
        self.send(&Packet::Disconnect(crate::protocol::Disconnect::new(
            ReasonCode::Success,
        )));
        let _ = self.flush().await;
        let _ = self.stream.shutdown().await;
    }
}

/// Packet identifiers for our outgoing QoS 1/2 publishes: a free id is one whose flow has
/// completed (PUBACK, or PUBCOMP for QoS 2) [MQTT-2.2.1-3].
pub struct PidPool {
    in_use: Vec<bool>,
    next: u16,
    used: usize,
}

impl Default for PidPool {
    fn default() -> Self {
        Self {
            in_use: vec![false; 65_536],
            next: 1,
            used: 0,
        }
    }
}

impl PidPool {
    /// A free id, or `None` when all 65,535 are in flight.
    pub fn take(&mut self) -> Option<PacketId> {
        if self.used >= 65_535 {
            return None;
        }
        loop {
            let id = self.next;
            self.next = self.next.checked_add(1).unwrap_or(1);
            if let Some(pid) = NonZeroU16::new(id) {
                let slot = &mut self.in_use[usize::from(id)];
                if !*slot {
                    *slot = true;
                    self.used += 1;
                    return Some(pid);
                }
            }
        }
    }

    /// Frees `pid`; `false` if it was not in use (an unexpected ack).
    pub fn release(&mut self, pid: PacketId) -> bool {
        let slot = &mut self.in_use[usize::from(pid.get())];
        if *slot {
            *slot = false;
            self.used -= 1;
            true
        } else {
            false
        }
    }

    pub fn in_flight(&self) -> usize {
        self.used
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_pool_wraps_and_skips_ids_in_use() {
        let mut pool = PidPool::default();
        let first = pool.take().map(NonZeroU16::get);
        assert_eq!(first, Some(1));
        for _ in 1..65_535 {
            assert!(pool.take().is_some());
        }
        assert_eq!(pool.take(), None, "all ids in flight");
        let seven = NonZeroU16::new(7).expect("non-zero");
        assert!(pool.release(seven));
        assert!(!pool.release(seven), "double release is reported");
        assert_eq!(pool.take(), Some(seven));
        assert_eq!(pool.in_flight(), 65_535);
    }
}
