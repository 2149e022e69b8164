//! Framed MQTT over any byte stream. The read and write halves are separate so a client
//! task can wait on "a packet arrived" and "the socket can take more bytes" in one
//! `select!`; both are cancel-safe because partial data lives in the structs, not in
//! locals of a future.

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::protocol::{self, DecodeError, Packet, ProtocolVersion};

/// Read sizes adapt between these: an idle connection waits on a small buffer, a busy one
/// reads big chunks (few syscalls). A drained buffer is released; decoded payloads keep
/// their own bytes alive.
const READ_MIN: usize = 256;
const READ_MAX: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("connection closed in the middle of a packet")]
    EofMidPacket,
}

/// The inbound half: bytes from the peer, decoded into packets.
pub struct PacketReader<R> {
    inner: R,
    buf: BytesMut,
    /// The negotiated version (decides v5 vs v3 bodies); CONNECT reads its own.
    pub version: ProtocolVersion,
    /// Largest packet we accept [MQTT-3.1.2-24 is the client's side; ours is announced in
    /// CONNACK as Maximum Packet Size].
    pub max_packet_size: u32,
    last_size: usize,
    /// How much to reserve for the next read.
    next_read: usize,
}

impl<R: AsyncRead + Unpin> PacketReader<R> {
    pub fn new(inner: R, max_packet_size: u32) -> Self {
        Self {
            inner,
            buf: BytesMut::new(),
            version: ProtocolVersion::V3_1_1,
            max_packet_size,
            last_size: 0,
            next_read: READ_MIN,
        }
    }

    /// The next packet; `Ok(None)` on a clean EOF between packets. Cancel-safe.
    pub async fn read_packet(&mut self) -> Result<Option<Packet>, ReadError> {
        loop {
            let before = self.buf.len();
            if let Some(packet) =
                protocol::decode(&mut self.buf, self.version, self.max_packet_size)?
            {
                self.last_size = before - self.buf.len();
                if self.buf.is_empty() {
                    self.buf = BytesMut::new();
                }
                return Ok(Some(packet));
            }
            if self.buf.capacity() - self.buf.len() < self.next_read / 2 {
                self.buf.reserve(self.next_read);
            }
            let spare = self.buf.capacity() - self.buf.len();
            let n = self.inner.read_buf(&mut self.buf).await?;
            if n == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(ReadError::EofMidPacket)
                };
            }
            if n == spare {
                self.next_read = (self.next_read * 2).min(READ_MAX);
            } else if n * 4 < self.next_read {
                self.next_read = (self.next_read / 2).max(READ_MIN);
            }
        }
    }

    /// Encoded size of the packet last returned.
    pub fn last_packet_size(&self) -> usize {
        self.last_size
    }
}

/// The outbound half: packets are encoded into one buffer and written with as few
/// syscalls as possible (many packets per write).
pub struct PacketWriter<W> {
    inner: W,
    buf: BytesMut,
    pub version: ProtocolVersion,
}

impl<W: AsyncWrite + Unpin> PacketWriter<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            buf: BytesMut::new(),
            version: ProtocolVersion::V3_1_1,
        }
    }

    /// Queue a packet; returns its encoded size.
    pub fn push(&mut self, packet: &Packet) -> usize {
        let before = self.buf.len();
        protocol::encode(packet, self.version, &mut self.buf);
        self.buf.len() - before
    }

    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Write some of the pending bytes (one syscall). Cancel-safe: nothing is lost if
    /// dropped before completion.
    pub async fn write_some(&mut self) -> std::io::Result<()> {
        let n = self.inner.write(&self.buf).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        self.buf.advance(n);
        if self.buf.is_empty() {
            // Nothing pending: an idle connection keeps no write buffer.
            self.buf = BytesMut::new();
        }
        Ok(())
    }

    /// Write everything pending and flush.
    pub async fn flush(&mut self) -> std::io::Result<()> {
        while !self.buf.is_empty() {
            self.write_some().await?;
        }
        self.inner.flush().await
    }

    pub async fn shutdown(&mut self) -> std::io::Result<()> {
        self.inner.shutdown().await
    }
}
