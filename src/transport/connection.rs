//! Framed MQTT over any byte stream. The read and write halves are separate so a client
//! task can wait on "a packet arrived" and "the socket can take more bytes" in one
//! `select!`; both are cancel-safe because partial data lives in the structs, not in
//! locals of a future.

use bytes::{Buf, BytesMut};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use crate::protocol::{self, DecodeError, Packet, ProtocolVersion};

/// Read sizes adapt between these: a busy connection reads big chunks (few syscalls). A
/// drained buffer is released (decoded payloads keep their own bytes alive), and a
/// connection with nothing buffered waits with no buffer at all: its read lands in the
/// thread's scratch buffer and only the bytes that came are copied out (memory per idle
/// connection).
const READ_MIN: usize = 256;
const READ_MAX: usize = 64 * 1024;

thread_local! {
    static SCRATCH: std::cell::RefCell<Box<[u8]>> =
        std::cell::RefCell::new(vec![0; READ_MAX].into_boxed_slice());
}

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
    /// The next packet; `Ok(None)` on a clean EOF between packets. Cancel-safe.
    pub async fn read_packet(&mut self) -> Result<Option<Packet>, ReadError> {
        loop {
            if let Some(packet) = self.try_decode()? {
                return Ok(Some(packet));
            }
            if !self.fill().await? {
                return Ok(None);
            }
        }
    }

    /// The next packet among the bytes already read, if one is complete.
    pub fn try_decode(&mut self) -> Result<Option<Packet>, DecodeError> {
        let before = self.buf.len();
        let packet = protocol::decode(&mut self.buf, self.version, self.max_packet_size)?;
        if packet.is_some() {
            self.last_size = before - self.buf.len();
            if self.buf.is_empty() {
                self.buf = BytesMut::new();
            }
        }
        Ok(packet)
    }

    /// The next packet's bytes, fixed header included, when all of them are buffered,
    /// without decoding them (a bridge forwards a PUBLISH as it is); `consume` then
    /// drops them. Errors are those `try_decode` would report for the fixed header.
    pub fn peek_frame(&self) -> Result<Option<&[u8]>, DecodeError> {
        let found = protocol::frame_len(&self.buf, self.version, self.max_packet_size)?;
        Ok(found.and_then(|(size, _)| self.buf.get(..size)))
    }

    /// Drop the `n` bytes `peek_frame` returned.
    pub fn consume(&mut self, n: usize) {
        self.buf.advance(n.min(self.buf.len()));
        self.last_size = n;
        if self.buf.is_empty() {
            self.buf = BytesMut::new();
        }
    }

    /// Wait until a whole packet is buffered; `Ok(false)` on a clean EOF between
    /// packets. Cancel-safe.
    pub async fn ready(&mut self) -> Result<bool, ReadError> {
        loop {
            if self.peek_frame()?.is_some() {
                return Ok(true);
            }
            if !self.fill().await? {
                return Ok(false);
            }
        }
    }

    /// Read more bytes (one read); `Ok(false)` on a clean EOF between packets.
    /// Cancel-safe: what was read is in the buffer.
    pub async fn fill(&mut self) -> Result<bool, ReadError> {
        let (n, spare) = if self.buf.is_empty() {
            (
                std::future::poll_fn(|cx| self.poll_read_scratch(cx)).await?,
                self.next_read,
            )
        } else {
            if self.buf.capacity() - self.buf.len() < self.next_read / 2 {
                self.buf.reserve(self.next_read);
            }
            let spare = self.buf.capacity() - self.buf.len();
            (self.inner.read_buf(&mut self.buf).await?, spare)
        };
        if n == 0 {
            return if self.buf.is_empty() {
                Ok(false)
            } else {
                Err(ReadError::EofMidPacket)
            };
        }
        if n == spare {
            self.next_read = (self.next_read * 2).min(READ_MAX);
        } else if n * 4 < self.next_read {
            self.next_read = (self.next_read / 2).max(READ_MIN);
        }
        Ok(true)
    }

    /// A read into the thread's scratch buffer, copied into a buffer of just that size:
    /// nothing is allocated while waiting.
    fn poll_read_scratch(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            let mut rb = ReadBuf::new(&mut scratch[..self.next_read]);
            match Pin::new(&mut self.inner).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) => {
                    let got = rb.filled();
                    self.buf.extend_from_slice(got);
                    Poll::Ready(Ok(got.len()))
                }
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            }
        })
    }

    /// Encoded size of the packet last returned.
    pub fn last_packet_size(&self) -> usize {
        self.last_size
    }
}

impl<R> PacketReader<R> {
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

    /// The byte stream, for discarding what the peer still sends after our last word.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// Bytes read but not yet decoded (a parked connection has none).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

/// The outbound half: packets are encoded into one buffer and written with as few
/// syscalls as possible (many packets per write).
pub struct PacketWriter<W> {
    inner: W,
    buf: BytesMut,
    pub version: ProtocolVersion,
}

impl<W> PacketWriter<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            buf: BytesMut::new(),
            version: ProtocolVersion::V3_1_1,
        }
    }

    /// Encoded bytes not yet written.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The byte stream (parking takes the socket back).
    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: AsyncWrite + Unpin> PacketWriter<W> {
    /// Queue a packet; returns its encoded size.
    pub fn push(&mut self, packet: &Packet) -> usize {
        let before = self.buf.len();
        protocol::encode(packet, self.version, &mut self.buf);
        self.buf.len() - before
    }

    /// Queue a PUBLISH given by parts; returns its encoded size.
    pub fn push_publish(&mut self, p: &protocol::PublishRef<'_>) -> usize {
        let before = self.buf.len();
        p.encode(self.version, &mut self.buf);
        self.buf.len() - before
    }

    /// Queue a packet already encoded for this connection's version (one `peek_frame`
    /// returned); returns its size.
    pub fn push_raw(&mut self, frame: &[u8]) -> usize {
        self.buf.extend_from_slice(frame);
        frame.len()
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
