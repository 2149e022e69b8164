//! The client task: one per connection. Reads CONNECT within the connect timeout,
//! authenticates, registers with the router, then loops over inbound packets, deliveries
//! from the router, writable socket, keep-alive and control messages. It owns the
//! connection's `Session` while the client is online and hands it back when it ends.

mod close;
mod error;
mod handshake;
mod inbound;
mod outbound;
mod park;
mod store;
#[cfg(test)]
mod tests;

use error::Error;
use park::Unparked;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadHalf, WriteHalf};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit};
use tracing::Instrument;

use crate::protocol::{ByteStr, Disconnect, LastWill, Packet, ProtocolVersion, ReasonCode};
use crate::transport::connection::{PacketReader, PacketWriter};
use crate::transport::Parkable;

use super::message::{ClientId, Delivery};
use super::router::{Disconnected, RouterMsg};
use super::session::Session;
use super::stats::{ClientStats, InflightDetail, Stage};
use super::Context;

/// Inbound QoS 2 messages we accept before PUBREL; announced as Receive Maximum.
pub const RECEIVE_MAXIMUM: u16 = 1024;
/// Topic aliases a v5 client may use towards us; announced as Topic Alias Maximum.
pub const TOPIC_ALIAS_MAXIMUM: u16 = 64;
/// Encoded bytes waiting for the socket beyond which we stop taking deliveries: the
/// router's queue holds the rest, and overflows there are counted.
const WRITE_HIGH_WATER: usize = 256 * 1024;
/// Encoded bytes waiting for the socket beyond which we stop reading the client's packets:
/// each can produce an answer (PUBACK, SUBACK, a SUBSCRIBE's retained messages), so a
/// client that sends but never reads would otherwise grow this buffer without bound.
const READ_PAUSE: usize = 1024 * 1024;
/// Deliveries encoded per wake-up before the buffer is written: one syscall for many.
const BATCH: usize = 64;

/// How a connection ended, for the will and the log.
#[derive(Debug)]
enum End {
    /// The client sent DISCONNECT (v5 0x04 asks for the will).
    Normal { publish_will: bool },
    /// Socket closed, keep-alive expired, protocol error: the will is published.
    Abnormal(Error),
    /// The router asked us to go.
    Control(ReasonCode),
}

/// What an inbound packet needs after its synchronous handling.
enum Next {
    Done,
    /// The client ended the connection (DISCONNECT).
    End(End),
    /// A message for the router (a PUBLISH).
    Route(RouterMsg),
    /// SUBSCRIBE / UNSUBSCRIBE: they wait for the router's answer.
    Router(Box<Packet>),
}

/// Who is on the other end, as the transport saw it.
#[derive(Clone, Debug, Default)]
pub struct Peer {
    /// "ip:port" for sockets, a label for in-process connections.
    pub address: String,
    pub tls: bool,
    /// With `identity_as_username`: the client certificate's CN, used as the username
    /// (no password is asked).
    pub cert_identity: Option<String>,
    /// The broker's own in-process client (the dashboard): trusted, not authenticated,
    /// not subject to the ACL.
    pub internal: bool,
    /// The local side of one of this broker's bridges (in-process): not authenticated
    /// (the operator configured it), but subject to the ACL under its client id.
    pub bridge: bool,
    /// This client's session queue bound instead of `[limits] max_queued_messages` (a
    /// bridge's `max_queued_messages`).
    pub max_queued: Option<usize>,
}

/// `[limits] max_publish_rate` for one client: a token bucket. Over the rate, the client
/// task stops reading the socket until the bucket refills, so TCP slows the client down
/// and nothing is dropped.
#[derive(Debug, Default)]
struct RateLimit {
    tokens: f64,
    last: Option<tokio::time::Instant>,
    /// Reading resumes at this time.
    resume_at: Option<tokio::time::Instant>,
}

impl RateLimit {
    /// Account one PUBLISH at `rate` per second (0 = unlimited).
    fn take(&mut self, rate: u32) {
        if rate == 0 {
            return;
        }
        let rate = f64::from(rate);
        let now = tokio::time::Instant::now();
        let elapsed = self
            .last
            .map_or(1.0, |t| now.duration_since(t).as_secs_f64());
        self.last = Some(now);
        // A burst of up to one second's worth is allowed.
        self.tokens = (self.tokens + elapsed * rate).min(rate) - 1.0;
        if self.tokens < 0.0 {
            self.resume_at = Some(now + Duration::from_secs_f64(-self.tokens / rate));
        }
    }
}

/// A v5 connection's topic aliases.
#[derive(Debug, Default)]
struct Aliases {
    /// Client → server [MQTT-3.3.2-12].
    inbound: HashMap<u16, ByteStr>,
    /// Server → client, up to the client's Topic Alias Maximum.
    outbound: HashMap<ByteStr, u16>,
}

/// An acknowledgement owed to the client.
struct PendingAck {
    pid: crate::protocol::PacketId,
    qos2: bool,
    reason: ReasonCode,
    /// `Some` until the router says the message's stored copies are durable.
    wait: Option<tokio::sync::oneshot::Receiver<bool>>,
    /// Whether they are (meaningful once `wait` is `None`).
    durable: bool,
}

/// A connection past CONNECT.
struct Client<R, W> {
    ctx: Arc<Context>,
    reader: PacketReader<R>,
    writer: PacketWriter<W>,
    version: ProtocolVersion,
    client_id: ClientId,
    conn_id: u64,
    stats: Arc<ClientStats>,
    session: Session,
    inbox: Arc<super::inbox::Inbox>,
    /// Deliveries taken from the queue in one go, sent as the window allows.
    batch: VecDeque<Delivery>,
    /// `now()`'s reading for the current batch; cleared when a batch starts.
    clock: Option<std::time::Instant>,
    /// Boxed: most clients have none, and a will is large (v5 properties).
    will: Option<Box<LastWill>>,
    session_expiry: u32,
    /// 1.5 × keep-alive [MQTT-3.1.2-24]; `None` when keep-alive is 0.
    keep_alive: Option<Duration>,
    /// v5 topic aliases, once the first is used (most clients use none).
    aliases: Option<Box<Aliases>>,
    alias_out_max: u16,
    /// The client's Maximum Packet Size [MQTT-3.1.2-24]: nothing larger is sent.
    max_out: u32,
    /// PUBACK/PUBREC owed to the client, in order, each waiting for durability.
    pending_acks: VecDeque<PendingAck>,
    /// The store refused a v3 client's message: the connection is closed (v3 has no
    /// failure acknowledgement) and the client resends later.
    store_failed: bool,
    rate: RateLimit,
    /// The session generation last published to `stats.detail`.
    detail_generation: u64,
    /// When the bytes being handled were read: where a SUBSCRIBE or PUBLISH stands
    /// among other clients' packets (the router orders them by it).
    read_at: std::time::Instant,
    /// When the last packet came (keep-alive counts from it, across parking).
    last_rx: tokio::time::Instant,
    /// Quiet time after which the connection parks (adapts to how soon it is woken).
    park_after: Duration,
}

/// Serve one accepted byte stream: the CONNECT handshake runs here; the connection then
/// lives on in a task of its own, which holds `permit` (a `max_connections` slot) until
/// it ends. That task's future is only the event loop's state — no handshake, no
/// per-connection log span — because idle connections are most of a broker's memory.
pub async fn serve<S>(stream: S, peer: Peer, permit: OwnedSemaphorePermit, ctx: Arc<Context>)
where
    S: AsyncRead + AsyncWrite + Parkable + Unpin + Send + 'static,
{
    let span =
        tracing::info_span!("conn", address = %peer.address, client_id = tracing::field::Empty);
    let connected = Box::pin(handshake::connect(stream, peer, ctx))
        .instrument(span)
        .await;
    if let Some(client) = connected {
        tokio::spawn(Box::new(client).run(permit, true));
    }
}

impl<S> Client<ReadHalf<S>, WriteHalf<S>>
where
    S: AsyncRead + AsyncWrite + Parkable + Unpin + Send + 'static,
{
    /// The connection's life after CONNECT (`fresh`), or after parking. `self` is boxed
    /// so this future holds a pointer, not a second copy of the client (async fn
    /// arguments are stored apart from the body's state); the ending is boxed too — only
    /// the event loop's state stays with a busy connection, and an idle one parks
    /// without a task at all.
    async fn run(mut self: Box<Self>, mut permit: OwnedSemaphorePermit, mut fresh: bool) {
        let end = loop {
            match self.event_loop(fresh, S::PARKABLE).await {
                Ok(Some(end)) => break end,
                Err(e) => break End::Abnormal(e),
                Ok(None) => match Box::pin(park::park(self, permit)).await {
                    Ok(()) | Err(Unparked::Closed) => return,
                    // Something came in meanwhile: go on serving.
                    Err(Unparked::Again(client, p)) => (self, permit, fresh) = (client, p, false),
                },
            }
        };
        Box::pin(self.finish(end)).await;
        drop(permit);
    }
}

impl<R, W> Client<R, W>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    /// Queue the DISCONNECT that says why the broker ends the connection (v5 only: v3
    /// has none from the server); returns whether one was queued.
    fn say_goodbye(&mut self, end: &End) -> bool {
        let reason = match end {
            End::Normal { .. } => None,
            End::Abnormal(e) => e.reason_code(),
            End::Control(reason) => Some(*reason),
        };
        match reason {
            Some(reason) if self.version.is_v5() => {
                self.writer
                    .push(&Packet::Disconnect(Disconnect::new(reason)));
                true
            }
            _ => false,
        }
    }

    /// Log the end, say why (DISCONNECT), hand the session (and the will) back to the
    /// router, close gracefully.
    async fn finish(mut self: Box<Self>, end: End) {
        let said = self.say_goodbye(&end);
        let will = match &end {
            End::Normal { publish_will } => self.will.take().filter(|_| *publish_will),
            End::Control(ReasonCode::ServerShuttingDown) => None,
            End::Control(_) | End::Abnormal(_) => self.will.take(),
        };
        let id = &self.client_id;
        match &end {
            End::Normal { .. } => tracing::info!(client_id = %id, "client disconnected"),
            End::Control(r) => {
                tracing::info!(client_id = %id, reason = ?r, "client disconnected by the broker");
            }
            End::Abnormal(why) => {
                let address = &self.stats.info.address;
                tracing::info!(client_id = %id, %address, %why, "connection closed");
            }
        }
        // Deliveries still queued for us go back with the session (QoS 1/2 only).
        let left: Vec<Delivery> = self.batch.drain(..).chain(self.inbox.close()).collect();
        for d in left {
            let _ = self.session.enqueue(d, false);
        }
        self.write_store_changes();
        close::shut_write(&mut self.writer).await;
        self.stats.inflight_out.store(0, Relaxed);
        let client = *self;
        let msg = Disconnected {
            client_id: client.client_id,
            conn_id: client.conn_id,
            session: client.session,
            will,
            session_expiry: client.session_expiry,
        };
        let _ = client
            .ctx
            .router
            .send(RouterMsg::Disconnected(Box::new(msg)))
            .await;
        // After the router has the session (a takeover or the will need not wait): let
        // the client read our reason before the socket closes.
        if said {
            close::drain(client.reader.into_inner()).await;
        }
    }

    /// Whether inbound packets are taken now: not while the client doesn't read our
    /// answers, nor while its publish rate is over the limit.
    fn reading(&self) -> bool {
        self.writer.pending() < READ_PAUSE && self.rate.resume_at.is_none()
    }

    /// Serve the connection until it ends (`Some`) or has been idle for `PARK_AFTER`
    /// and may park (`None`, only when `parkable`). `fresh`: just connected (the
    /// session's unacknowledged messages go out first), else resumed from parking.
    async fn event_loop(&mut self, fresh: bool, parkable: bool) -> Result<Option<End>, Error> {
        // One timer for keep-alive, the rate limit's pause and parking, re-armed only
        // when it fires: a packet just records the time, so a busy connection costs no
        // timer operations.
        let keep_alive = self.keep_alive.unwrap_or(Duration::from_secs(86_400 * 365));
        let mut last_rx = self.last_rx;
        let first = if parkable {
            (last_rx + keep_alive).min(tokio::time::Instant::now() + self.park_after)
        } else {
            last_rx + keep_alive
        };
        let timer = tokio::time::sleep_until(first);
        tokio::pin!(timer);
        if fresh {
            self.resume();
        }
        // Packets that came with the CONNECT; after that, each wake-up handles what it read
        // (several packets may come in one read) at the end of the iteration.
        if let Some(end) = self.handle_buffered(&mut last_rx).await? {
            return Ok(Some(end));
        }
        // Nothing but the timer happened since it last fired.
        let mut quiet = false;
        loop {
            if let Some(t) = self.rate.resume_at {
                if t < timer.deadline() {
                    timer.as_mut().reset(t);
                }
            }
            let mut can_take = self.writer.pending() < WRITE_HIGH_WATER
                && self.session.queued() == 0
                && self.session.window_open();
            if can_take {
                // Whatever the router queued meanwhile goes out before we wait again: a
                // wake-up is only sent per push, not per item left behind.
                self.take_deliveries();
                can_take = self.batch.is_empty()
                    && self.session.window_open()
                    && self.writer.pending() < WRITE_HIGH_WATER;
            }
            if let Some(end) = self.on_signals() {
                return Ok(Some(end));
            }
            // Deliveries wake us only while we can take them; signals always do.
            if self.inbox.want_items(can_take) && can_take {
                quiet = false;
                continue;
            }
            tokio::select! {
                biased;
                res = self.reader.fill(), if self.reading() => {
                    quiet = false;
                    match res {
                        Ok(true) => self.read_at = crate::broker::clock::now(),
                        Ok(false) => return Err(Error::Closed),
                        Err(e) => return Err(Error::Read(e)),
                    }
                }
                _ = wait_front(&mut self.pending_acks), if self.pending_acks.front().is_some_and(|a| a.wait.is_some()) => {
                    quiet = false;
                    self.release_acks();
                    if self.store_failed {
                        return Err(Error::StoreRefused);
                    }
                }
                res = self.writer.write_some(), if self.writer.pending() > 0 => {
                    quiet = false;
                    res.map_err(Error::Write)?;
                    if self.writer.pending() >= READ_PAUSE {
                        // We are not reading, so its PINGREQs can't count: a client that
                        // takes our bytes is alive for keep-alive [MQTT-3.1.2-24].
                        last_rx = tokio::time::Instant::now();
                    }
                }
                () = self.inbox.ready() => {
                    quiet = false;
                    if let Some(end) = self.on_signals() {
                        return Ok(Some(end));
                    }
                    if can_take {
                        self.take_deliveries();
                    }
                }
                () = &mut timer, if parkable || self.keep_alive.is_some() || self.rate.resume_at.is_some() => {
                    let now = tokio::time::Instant::now();
                    if self.rate.resume_at.is_some_and(|t| t <= now) {
                        self.rate.resume_at = None;
                    }
                    let due = last_rx + keep_alive;
                    if self.keep_alive.is_some() && now >= due {
                        // [MQTT-3.1.2-24]: nothing within 1.5 × keep-alive.
                        return Err(Error::KeepAlive(keep_alive));
                    }
                    let mut next = self.rate.resume_at.map_or(due, |t| t.min(due));
                    if parkable {
                        if quiet && self.may_park() {
                            self.last_rx = last_rx;
                            return Ok(None);
                        }
                        quiet = true;
                        next = next.min(now + self.park_after);
                    }
                    timer.as_mut().reset(next);
                }
            }
            if let Some(end) = self.handle_buffered(&mut last_rx).await? {
                return Ok(Some(end));
            }
            self.drain_queue();
            self.write_store_changes();
            self.publish_stats();
        }
    }

    /// Decode and handle the complete packets in the read buffer while reading is allowed;
    /// `Some` ends the connection normally.
    async fn handle_buffered(
        &mut self,
        last_rx: &mut tokio::time::Instant,
    ) -> Result<Option<End>, Error> {
        let mut stamped = false;
        while self.reading() {
            // The packet lives only in this block: nothing packet-sized is held across
            // the awaits below.
            let next = {
                let packet = match self.reader.try_decode() {
                    Ok(Some(p)) => p,
                    Ok(None) => return Ok(None),
                    Err(e) => {
                        self.ctx.metrics.protocol_errors.fetch_add(1, Relaxed);
                        let id = &self.client_id;
                        tracing::info!(client_id = %id, error = %e, "malformed packet: closing");
                        return Err(Error::Decode(e));
                    }
                };
                if !stamped {
                    *last_rx = tokio::time::Instant::now();
                    stamped = true;
                }
                self.account_inbound(&packet);
                self.on_packet(packet)?
            };
            match next {
                Next::Done => {}
                Next::End(end) => return Ok(Some(end)),
                Next::Route(m) => self.send_to_router(m).await?,
                Next::Router(p) => Box::pin(self.on_router_packet(*p)).await?,
            }
            // Each packet is a unit of tokio's cooperative budget (as an awaited channel
            // send would be): a publisher whose buffer is always full yields the worker
            // in turn, so the subscribers' tasks keep up and their queues don't overflow.
            tokio::task::coop::consume_budget().await;
        }
        Ok(None)
    }

    /// Act on what other tasks asked: close the connection, or send the PUBRELs whose
    /// released state is durable.
    fn on_signals(&mut self) -> Option<End> {
        if !self.inbox.signalled() {
            return None;
        }
        let signals = self.inbox.take_signals();
        if let Some(reason) = signals.disconnect {
            return Some(End::Control(reason));
        }
        for pid in signals.released {
            self.push(&Packet::PubRel(crate::protocol::Ack::new(pid)));
        }
        None
    }

    /// The time, read once per wake-up: a batch of deliveries shares one clock read.
    fn now(&mut self) -> std::time::Instant {
        *self.clock.get_or_insert_with(std::time::Instant::now)
    }

    /// Take a batch from the router's queue and send what the window allows; the rest
    /// waits in `batch`, ahead of anything newer.
    fn take_deliveries(&mut self) {
        self.clock = None;
        if self.batch.is_empty() {
            self.inbox.pop_into(BATCH, &mut self.batch);
        }
        while self.session.window_open() && self.writer.pending() < WRITE_HIGH_WATER {
            let Some(d) = self.batch.pop_front() else {
                break;
            };
            self.send_delivery(d);
        }
    }

    fn publish_stats(&mut self) {
        // A turn of the loop means traffic: a watching observer re-reads this client.
        self.stats.touch(&self.ctx.metrics);
        self.stats
            .inflight_out
            .store(self.session.inflight_len() as u32, Relaxed);
        self.stats
            .inflight_in
            .store(self.session.inbound_pending() as u32, Relaxed);
        // While someone watches, publish the in-flight detail whenever it changed: an
        // idle client's last state is then never stale.
        if self.ctx.metrics.watched.load(Relaxed)
            && self.session.generation() != self.detail_generation
        {
            self.detail_generation = self.session.generation();
            self.refresh_detail();
        }
    }

    fn refresh_detail(&self) {
        use super::session::OutState;
        let mut v: Vec<InflightDetail> = self
            .session
            .inflight()
            .map(|e| InflightDetail {
                outgoing: true,
                packet_id: e.pid.get(),
                topic: e.delivery.msg.topic.clone(),
                qos: e.delivery.qos,
                state: match e.state {
                    OutState::AwaitPubAck => Stage::PubAck,
                    OutState::AwaitPubRec => Stage::PubRec,
                    OutState::AwaitPubComp => Stage::PubComp,
                },
                since: e.since,
                resends: e.resends,
            })
            .collect();
        v.extend(self.session.inbound().iter().map(|e| InflightDetail {
            outgoing: false,
            packet_id: e.pid.get(),
            topic: e.topic.clone(),
            qos: crate::protocol::QoS::ExactlyOnce,
            state: Stage::PubRel,
            since: e.since,
            resends: 0,
        }));
        if let Ok(mut d) = self.stats.detail.lock() {
            *d = v;
        }
    }
}

/// Why the router gave no answer to `ask`.
enum Unanswered {
    /// Its channel is closed: the broker is shutting down.
    RouterGone,
    /// It dropped the reply sender without answering.
    Dropped,
}

impl From<Unanswered> for Error {
    fn from(_: Unanswered) -> Self {
        Self::Shutdown
    }
}

/// Send the router the request `make` builds around a reply channel, and wait for the
/// answer.
async fn ask<T>(
    router: &mpsc::Sender<RouterMsg>,
    make: impl FnOnce(oneshot::Sender<T>) -> RouterMsg,
) -> Result<T, Unanswered> {
    let (tx, rx) = oneshot::channel();
    router
        .send(make(tx))
        .await
        .map_err(|_| Unanswered::RouterGone)?;
    rx.await.map_err(|_| Unanswered::Dropped)
}

/// Waits for the oldest pending acknowledgement's durability and records it.
async fn wait_front(acks: &mut VecDeque<PendingAck>) {
    if let Some(front) = acks.front_mut() {
        if let Some(rx) = front.wait.as_mut() {
            front.durable = rx.await.unwrap_or(false);
            front.wait = None;
        }
    }
}
