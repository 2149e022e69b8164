//! The client task's side of parking: when an idle plain-TCP connection may park, how its
//! state becomes plain data (a [`Sleeper`]: the `Client` without its socket halves) and
//! how it is served again. The parking lot itself is `broker::park`.

use std::io;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf, ReadHalf, WriteHalf};
use tokio::sync::OwnedSemaphorePermit;

use super::{Client, End, Error};
use crate::broker::inbox::Inbox;
use crate::broker::park::Dormant;
use crate::broker::session::Session;
use crate::broker::stats::ClientStats;
use crate::protocol::{LastWill, ProtocolVersion};
use crate::transport::connection::{PacketReader, PacketWriter};
use crate::transport::{Parkable, Socket};
use std::os::fd::{AsRawFd, RawFd};

/// Quiet time after which a fresh connection parks: short, because a broker's idle
/// devices are most of its connections, and each one's task and buffers free up for the
/// next connection.
pub(super) const PARK_MIN: Duration = Duration::from_millis(PARK_MIN_MS as u64);
const PARK_MIN_MS: u16 = 50;
/// Longest quiet time before parking: a connection woken soon after each time it parks
/// (traffic every second or so) backs off to this, so it stops paying the round trip.
const PARK_MAX_MS: u16 = 2000;
/// Woken within this of parking counts as woken soon.
const SOON: Duration = Duration::from_secs(4);

/// Why a connection did not park.
pub(super) enum Unparked<S> {
    /// It stays with its task.
    Again(Box<Client<ReadHalf<S>, WriteHalf<S>>>, OwnedSemaphorePermit),
    /// The socket was lost on the way; the connection has ended.
    Closed,
}

/// The socket halves of a parked client: none. Reads see EOF and writes fail, which is
/// only ever exercised if the socket is lost while parking and the client ends.
pub(super) struct NoSocket;

impl AsyncRead for NoSocket {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for NoSocket {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, _: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(io::ErrorKind::NotConnected.into()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A parked connection: what of its client outlives a quiet spell (no buffers, no
/// batch, no pending acknowledgements: parking waits until there are none), its bare
/// socket and its `max_connections` slot.
struct Sleeper<S> {
    client: Asleep,
    socket: Socket,
    permit: OwnedSemaphorePermit,
    since: tokio::time::Instant,
    stream: PhantomData<fn() -> S>,
}

/// The size of a parked connection's state (for the size guard).
#[cfg(test)]
pub(super) fn sleeper_size() -> usize {
    std::mem::size_of::<Sleeper<tokio::net::TcpStream>>()
}

/// The fields of [`Client`] a parked connection keeps.
struct Asleep {
    ctx: Arc<crate::broker::Context>,
    version: ProtocolVersion,
    max_packet_size: u32,
    conn_id: u64,
    stats: Arc<ClientStats>,
    session: Session,
    inbox: Arc<Inbox>,
    will: Option<Box<LastWill>>,
    session_expiry: u32,
    keep_alive: Option<Duration>,
    aliases: Option<Box<super::Aliases>>,
    alias_out_max: u16,
    max_out: u32,
    /// The publish-rate bucket (never paused while parked).
    rate_tokens: f64,
    rate_last: Option<tokio::time::Instant>,
    detail_generation: u64,
    last_rx: tokio::time::Instant,
    park_after_ms: u16,
}

impl<R, W> Client<R, W> {
    /// Put the client to sleep: its socket halves come back apart.
    fn into_asleep(self) -> (Asleep, R, W) {
        let asleep = Asleep {
            ctx: self.ctx,
            version: self.version,
            max_packet_size: self.reader.max_packet_size,
            conn_id: self.conn_id,
            stats: self.stats,
            session: self.session,
            inbox: self.inbox,
            will: self.will,
            session_expiry: self.session_expiry,
            keep_alive: self.keep_alive,
            aliases: self.aliases,
            alias_out_max: self.alias_out_max,
            max_out: self.max_out,
            rate_tokens: self.rate.tokens,
            rate_last: self.rate.last,
            detail_generation: self.detail_generation,
            last_rx: self.last_rx,
            park_after_ms: u16::try_from(self.park_after.as_millis()).unwrap_or(u16::MAX),
        };
        (asleep, self.reader.into_inner(), self.writer.into_inner())
    }
}

impl Asleep {
    /// The client again, over `r` and `w`.
    fn wake<R, W>(self, r: R, w: W) -> Client<R, W> {
        let mut reader = PacketReader::new(r, self.max_packet_size);
        reader.version = self.version;
        let mut writer = PacketWriter::new(w);
        writer.version = self.version;
        Client {
            ctx: self.ctx,
            reader,
            writer,
            version: self.version,
            // The session's own (the same id, kept once while parked).
            client_id: self.session.client_id.clone(),
            conn_id: self.conn_id,
            stats: self.stats,
            session: self.session,
            inbox: self.inbox,
            batch: Default::default(),
            clock: None,
            will: self.will,
            session_expiry: self.session_expiry,
            keep_alive: self.keep_alive,
            aliases: self.aliases,
            alias_out_max: self.alias_out_max,
            max_out: self.max_out,
            pending_acks: Default::default(),
            store_failed: false,
            rate: super::RateLimit {
                tokens: self.rate_tokens,
                last: self.rate_last,
                resume_at: None,
            },
            detail_generation: self.detail_generation,
            read_at: crate::broker::clock::now(),
            last_rx: self.last_rx,
            park_after: Duration::from_millis(self.park_after_ms.into()),
        }
    }
}

impl<R, W> Client<R, W> {
    /// Nothing is in progress: no bytes half read or unwritten, no deliveries in hand, no
    /// acknowledgement waiting for the store, reading not paused. (Unacknowledged
    /// deliveries may be in flight: their acknowledgements arrive on the socket, which
    /// resumes the connection.)
    pub(super) fn may_park(&self) -> bool {
        self.reader.buffered() == 0
            && self.writer.pending() == 0
            && self.batch.is_empty()
            && self.pending_acks.is_empty()
            && self.rate.resume_at.is_none()
            && !self.store_failed
    }
}

/// Park an idle connection: its task ends, and the parking lot serves it again when it
/// is needed.
pub(super) async fn park<S>(
    client: Box<Client<ReadHalf<S>, WriteHalf<S>>>,
    permit: OwnedSemaphorePermit,
) -> Result<(), Unparked<S>>
where
    S: AsyncRead + AsyncWrite + Parkable + Unpin + Send + 'static,
{
    let ctx = client.ctx.clone();
    let Some(lot) = ctx.parking.as_ref() else {
        return Err(Unparked::Again(client, permit));
    };
    let waker = lot.waker();
    if !client.inbox.park(waker.clone()) {
        return Err(Unparked::Again(client, permit));
    }
    let (client, r, w) = (*client).into_asleep();
    let socket = match r.unsplit(w).into_socket() {
        Ok(s) => s,
        Err(e) => {
            client.inbox.unpark();
            let client = client.wake(NoSocket, NoSocket);
            Box::pin(Box::new(client).finish(End::Abnormal(Error::Read(e.into())))).await;
            drop(permit);
            return Err(Unparked::Closed);
        }
    };
    let sleeper: Box<dyn Dormant> = Box::new(Sleeper::<S> {
        client,
        socket,
        permit,
        since: tokio::time::Instant::now(),
        stream: PhantomData,
    });
    if let Err((e, sleeper)) = lot.park(&waker, sleeper) {
        tracing::debug!(error = %e, "could not park an idle connection");
        sleeper.resume();
    }
    Ok(())
}

impl<S> Dormant for Sleeper<S>
where
    S: AsyncRead + AsyncWrite + Parkable + Unpin + Send + 'static,
{
    fn fd(&self) -> RawFd {
        self.socket.tcp.as_raw_fd()
    }

    fn deadline(&self) -> Option<tokio::time::Instant> {
        self.client.keep_alive.map(|k| self.client.last_rx + k)
    }

    fn resume(self: Box<Self>) {
        let Sleeper {
            mut client,
            socket,
            permit,
            since,
            ..
        } = *self;
        client.inbox.unpark();
        let ms = client.park_after_ms;
        client.park_after_ms = if since.elapsed() < SOON {
            ms.saturating_mul(2).min(PARK_MAX_MS)
        } else {
            (ms / 2).max(PARK_MIN_MS)
        };
        match S::from_socket(socket) {
            Ok(stream) => {
                let (r, w) = tokio::io::split(stream);
                tokio::spawn(Box::new(client.wake(r, w)).run(permit, false));
            }
            Err(e) => {
                let client = client.wake(NoSocket, NoSocket);
                tokio::spawn(async move {
                    Box::pin(Box::new(client).finish(End::Abnormal(Error::Read(e.into())))).await;
                    drop(permit);
                });
            }
        }
    }
}
