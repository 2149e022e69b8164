//! The client task's side of parking: when an idle plain-TCP connection may park, how its
//! state becomes plain data (a [`Sleeper`]: the `Client` without its socket halves) and
//! how it is served again. The parking lot itself is `broker::park`.

use std::io;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf, ReadHalf, WriteHalf};
use tokio::sync::OwnedSemaphorePermit;

use super::{Client, End, Error};
use crate::broker::park::Dormant;
use crate::transport::{Parkable, Socket};
use std::os::fd::{AsRawFd, RawFd};

/// Quiet time after which a fresh connection parks: short, because a broker's idle
/// devices are most of its connections, and each one's task and buffers free up for the
/// next connection.
pub(super) const PARK_MIN: Duration = Duration::from_millis(50);
/// Longest quiet time before parking: a connection woken soon after each time it parks
/// (traffic every second or so) backs off to this, so it stops paying the round trip.
const PARK_MAX: Duration = Duration::from_secs(2);
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

/// A parked connection: the client without its socket task, its bare socket and its
/// `max_connections` slot.
struct Sleeper<S> {
    client: Client<NoSocket, NoSocket>,
    socket: Socket,
    permit: OwnedSemaphorePermit,
    since: tokio::time::Instant,
    stream: PhantomData<fn() -> S>,
}

impl<R, W> Client<R, W> {
    /// The same client over other socket halves; `f` turns the old halves into the new
    /// ones plus anything else it wants to give back.
    fn map_io<R2, W2, T>(self, f: impl FnOnce(R, W) -> (R2, W2, T)) -> (Client<R2, W2>, T) {
        let (reader, r) = self.reader.swap_inner(());
        let (writer, w) = self.writer.swap_inner(());
        let (r2, w2, out) = f(r, w);
        let client = Client {
            ctx: self.ctx,
            reader: reader.swap_inner(r2).0,
            writer: writer.swap_inner(w2).0,
            version: self.version,
            client_id: self.client_id,
            conn_id: self.conn_id,
            stats: self.stats,
            session: self.session,
            inbox: self.inbox,
            batch: self.batch,
            clock: self.clock,
            will: self.will,
            session_expiry: self.session_expiry,
            keep_alive: self.keep_alive,
            aliases: self.aliases,
            alias_out_max: self.alias_out_max,
            max_out: self.max_out,
            pending_acks: self.pending_acks,
            store_failed: self.store_failed,
            rate: self.rate,
            detail_generation: self.detail_generation,
            read_at: self.read_at,
            last_rx: self.last_rx,
            park_after: self.park_after,
        };
        (client, out)
    }

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
    let Some(lot) = client.ctx.parking.as_ref() else {
        return Err(Unparked::Again(client, permit));
    };
    let waker = lot.waker();
    if !client.inbox.park(waker.clone()) {
        return Err(Unparked::Again(client, permit));
    }
    let (client, stream) = (*client).map_io(|r, w| (NoSocket, NoSocket, r.unsplit(w)));
    let socket = match stream.into_socket() {
        Ok(s) => s,
        Err(e) => {
            client.inbox.unpark();
            Box::pin(Box::new(client).finish(End::Abnormal(Error::Read(e.into())))).await;
            drop(permit);
            return Err(Unparked::Closed);
        }
    };
    let deadline = client.keep_alive.map(|k| client.last_rx + k);
    let ctx = client.ctx.clone();
    let sleeper: Box<dyn Dormant> = Box::new(Sleeper::<S> {
        client,
        socket,
        permit,
        since: tokio::time::Instant::now(),
        stream: PhantomData,
    });
    let parking = ctx.parking.as_ref();
    if let Some(Err((e, sleeper))) = parking.map(|l| l.park(&waker, sleeper, deadline)) {
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

    fn resume(self: Box<Self>) {
        let Sleeper {
            mut client,
            socket,
            permit,
            since,
            ..
        } = *self;
        client.inbox.unpark();
        client.park_after = if since.elapsed() < SOON {
            (client.park_after * 2).min(PARK_MAX)
        } else {
            (client.park_after / 2).max(PARK_MIN)
        };
        match S::from_socket(socket) {
            Ok(stream) => {
                let (client, ()) = client.map_io(|_, _| {
                    let (r, w) = tokio::io::split(stream);
                    (r, w, ())
                });
                tokio::spawn(Box::new(client).run(permit, false));
            }
            Err(e) => {
                tokio::spawn(async move {
                    Box::pin(Box::new(client).finish(End::Abnormal(Error::Read(e.into())))).await;
                    drop(permit);
                });
            }
        }
    }
}
