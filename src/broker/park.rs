//! The parking lot: idle connections without a task of their own. A client task whose
//! connection has been quiet for a while hands its state and its bare socket (a
//! [`Dormant`]) here and ends. One task owns every parked connection and resumes one, as a
//! new client task, when its socket becomes readable (a packet, or the peer closing: a
//! thread waits on an epoll set of parked sockets and tells the task), when someone wakes
//! it through its inbox (a delivery, a takeover, shutdown), or when its keep-alive runs
//! out. An idle connection
//! then costs its state as plain data: no task, no timer, no runtime registration
//! (memory per idle connection, issue 15).

use std::collections::HashMap;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token};
use tokio::sync::mpsc;

use super::stats::Metrics;
use tokio::time::Instant;

/// A parked connection: its state and its socket (the client task's part).
pub trait Dormant: Send {
    /// The socket, to watch.
    fn fd(&self) -> RawFd;
    /// When its keep-alive runs out (1.5 × keep-alive after its last packet).
    fn deadline(&self) -> Option<Instant>;
    /// Start serving the connection again (spawns its task).
    fn resume(self: Box<Self>);
}

type Parked = Box<dyn Dormant>;

enum Cmd {
    Park { token: u64, parked: Parked },
    Wake(u64),
}

/// What a parked connection's inbox keeps to wake it.
#[derive(Debug, Clone)]
pub struct Waker {
    tx: mpsc::UnboundedSender<Cmd>,
    token: u64,
}

impl Waker {
    pub fn wake(self) {
        let _ = self.tx.send(Cmd::Wake(self.token));
    }
}

/// Why a connection could not park (it goes on with its task).
#[derive(Debug, thiserror::Error)]
pub enum ParkError {
    #[error("the parking lot is not running")]
    Closed,
    #[error("watching the socket: {0}")]
    Register(#[source] std::io::Error),
}

/// The handle client tasks park through (in the broker's context).
#[derive(Debug)]
pub struct ParkingLot {
    tx: mpsc::UnboundedSender<Cmd>,
    /// The lot's epoll set, shared: a parking task adds its own socket before handing it
    /// over, so readiness that arrives meanwhile is not missed.
    registry: Registry,
    next_token: AtomicU64,
}

impl ParkingLot {
    /// Start the lot on the current runtime: its task, and a thread that waits on the
    /// epoll set and reports ready sockets to the task. `None` if epoll is unavailable
    /// (then nothing parks).
    pub fn start(metrics: Arc<Metrics>) -> Option<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        let started = Poll::new().and_then(|poll| {
            let registry = poll.registry().try_clone()?;
            let waker = mio::Waker::new(poll.registry(), WAKER)?;
            let stop = Arc::new(AtomicBool::new(false));
            let watch = {
                let (tx, stop) = (tx.clone(), stop.clone());
                std::thread::Builder::new()
                    .name("midge-parking".into())
                    .spawn(move || watch_sockets(poll, &tx, &stop))?
            };
            drop(watch);
            Ok((registry, Stopper { waker, stop }))
        });
        let (registry, stopper) = match started {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "no parking lot: idle connections keep their tasks");
                return None;
            }
        };
        let lot = Lot {
            parked: HashMap::new(),
            early: HashMap::new(),
            registry: registry.try_clone().ok()?,
            metrics,
            _stopper: stopper,
        };
        tokio::spawn(run(lot, rx));
        Some(Self {
            tx,
            registry,
            next_token: AtomicU64::new(0),
        })
    }

    /// A token and the waker that goes with it, for a connection about to park: its
    /// inbox holds the waker before the socket is handed over, so a delivery in between
    /// is never lost (the lot remembers a wake that comes before the connection).
    pub fn waker(&self) -> Waker {
        Waker {
            tx: self.tx.clone(),
            token: self.next_token.fetch_add(1, Relaxed),
        }
    }

    /// Hand a connection over; `waker` from [`Self::waker`]. When the lot can't take it,
    /// it comes back.
    pub fn park(&self, waker: &Waker, parked: Parked) -> Result<(), (ParkError, Parked)> {
        if self.tx.is_closed() {
            return Err((ParkError::Closed, parked));
        }
        let token = Token(waker.token as usize);
        if let Err(e) =
            self.registry
                .register(&mut SourceFd(&parked.fd()), token, Interest::READABLE)
        {
            return Err((ParkError::Register(e), parked));
        }
        let cmd = Cmd::Park {
            token: waker.token,
            parked,
        };
        // Fails only while the runtime shuts down, when every task's connection is
        // dropped too.
        let _ = self.tx.send(cmd);
        Ok(())
    }
}

/// The epoll set's own token: the lot's task asks the thread to stop.
const WAKER: Token = Token(usize::MAX);

/// Stops the socket-watching thread when the lot's task ends (its runtime shuts down).
struct Stopper {
    waker: mio::Waker,
    stop: Arc<AtomicBool>,
}

impl Drop for Stopper {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
        let _ = self.waker.wake();
    }
}

/// The thread: wait for parked sockets to become readable and tell the lot's task.
fn watch_sockets(mut poll: Poll, tx: &mpsc::UnboundedSender<Cmd>, stop: &AtomicBool) {
    let mut events = Events::with_capacity(1024);
    while !stop.load(Relaxed) {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            tracing::error!(error = %e, "parking lot: epoll failed; parked connections wake only when needed");
            return;
        }
        for e in events.iter().filter(|e| e.token() != WAKER) {
            if tx.send(Cmd::Wake(e.token().0 as u64)).is_err() {
                return;
            }
        }
    }
}

/// The lot's state, owned by its task.
struct Lot {
    parked: HashMap<u64, Parked>,
    /// Wakes that came before their connection's Park (a delivery or readiness between
    /// the waker's handing out and the Park), and when.
    early: HashMap<u64, Instant>,
    /// To take resumed sockets out of the epoll set.
    registry: Registry,
    metrics: Arc<Metrics>,
    _stopper: Stopper,
}

/// Early wakes are matched within microseconds; one older than this was for a connection
/// that was resumed by another wake meanwhile, and is forgotten.
const EARLY_TTL: Duration = Duration::from_secs(5);

/// How often parked connections' keep-alive deadlines are checked: a sweep over all of
/// them (a few nanoseconds each) costs less memory than a timer or a heap entry per
/// connection, and a broker may close a silent connection this much late.
const SWEEP: Duration = Duration::from_secs(1);

async fn run(mut lot: Lot, mut rx: mpsc::UnboundedReceiver<Cmd>) {
    let mut sweep = tokio::time::interval(SWEEP);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            cmd = rx.recv() => match cmd {
                Some(Cmd::Park { token, parked }) => lot.park(token, parked),
                Some(Cmd::Wake(token)) => lot.wake(token),
                None => return,
            },
            _ = sweep.tick(), if !lot.parked.is_empty() => lot.expire(Instant::now()),
        }
    }
}

impl Lot {
    fn park(&mut self, token: u64, parked: Parked) {
        tracing::trace!(token, "parked");
        if self.early.remove(&token).is_some() {
            return self.resume(parked);
        }
        self.parked.insert(token, parked);
        self.metrics.parked.fetch_add(1, Relaxed);
    }

    fn wake(&mut self, token: u64) {
        match self.parked.remove(&token) {
            Some(p) => self.resume_parked(p),
            None => {
                let now = Instant::now();
                if self.early.len() >= 1024 {
                    self.early.retain(|_, t| now.duration_since(*t) < EARLY_TTL);
                }
                self.early.insert(token, now);
            }
        }
    }

    /// Resume the connections whose keep-alive ran out: their task ends them.
    fn expire(&mut self, now: Instant) {
        let due: Vec<u64> = self
            .parked
            .iter()
            .filter(|(_, p)| p.deadline().is_some_and(|d| d <= now))
            .map(|(&token, _)| token)
            .collect();
        for token in due {
            if let Some(p) = self.parked.remove(&token) {
                self.resume_parked(p);
            }
        }
    }

    /// Resume one taken out of `parked`.
    fn resume_parked(&self, p: Parked) {
        self.metrics.parked.fetch_sub(1, Relaxed);
        self.resume(p);
    }

    fn resume(&self, p: Parked) {
        self.metrics.resumed.fetch_add(1, Relaxed);
        // Before the runtime registers it again; an error only means it is gone already.
        let _ = self.registry.deregister(&mut SourceFd(&p.fd()));
        p.resume();
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;
    use std::sync::atomic::Ordering::Relaxed;

    use super::*;

    /// A parked "connection": a UDP socket (readable when a datagram arrives) that
    /// reports its resumption.
    struct Fake {
        socket: std::net::UdpSocket,
        name: &'static str,
        deadline: Option<Instant>,
        resumed: mpsc::UnboundedSender<&'static str>,
    }

    impl Dormant for Fake {
        fn fd(&self) -> RawFd {
            self.socket.as_raw_fd()
        }
        fn deadline(&self) -> Option<Instant> {
            self.deadline
        }
        fn resume(self: Box<Self>) {
            let _ = self.resumed.send(self.name);
        }
    }

    fn fake(name: &'static str, resumed: &mpsc::UnboundedSender<&'static str>) -> Box<Fake> {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket.set_nonblocking(true).expect("nonblocking");
        Box::new(Fake {
            socket,
            name,
            deadline: None,
            resumed: resumed.clone(),
        })
    }

    fn lot() -> (ParkingLot, Arc<Metrics>) {
        let metrics = Arc::new(Metrics::default());
        let lot = ParkingLot::start(metrics.clone()).expect("epoll");
        (lot, metrics)
    }

    #[tokio::test(start_paused = true)]
    async fn a_wake_resumes_and_a_wake_before_the_park_is_kept() {
        let (lot, metrics) = lot();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let w = lot.waker();
        lot.park(&w, fake("a", &tx))
            .map_err(|e| e.0)
            .expect("parks");
        tokio::task::yield_now().await;
        assert!(rx.try_recv().is_err(), "nothing woke it yet");
        w.clone().wake();
        assert_eq!(rx.recv().await, Some("a"));
        // A delivery can wake a connection between taking its waker and its Park.
        let early = lot.waker();
        early.clone().wake();
        lot.park(&early, fake("b", &tx))
            .map_err(|e| e.0)
            .expect("parks");
        assert_eq!(rx.recv().await, Some("b"));
        assert_eq!(metrics.parked.load(Relaxed), 0);
        assert_eq!(metrics.resumed.load(Relaxed), 2);
        // A stale wake (its connection resumed already) resumes nobody.
        w.wake();
        tokio::task::yield_now().await;
        assert!(rx.try_recv().is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn the_keep_alive_deadline_resumes_a_silent_connection() {
        let (lot, metrics) = lot();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let deadline = Instant::now() + Duration::from_secs(90);
        let mut silent = fake("silent", &tx);
        silent.deadline = Some(deadline);
        lot.park(&lot.waker(), silent)
            .map_err(|e| e.0)
            .expect("parks");
        tokio::time::sleep(Duration::from_secs(89)).await;
        let mut other = fake("later", &tx);
        other.deadline = Some(deadline + Duration::from_secs(60));
        lot.park(&lot.waker(), other)
            .map_err(|e| e.0)
            .expect("parks");
        assert!(rx.try_recv().is_err(), "not before its deadline");
        assert_eq!(metrics.parked.load(Relaxed), 1);
        assert_eq!(rx.recv().await, Some("silent"));
        let late = Instant::now() - deadline;
        assert!(late <= SWEEP, "resumed {late:?} after its deadline");
        assert_eq!(metrics.parked.load(Relaxed), 1, "the other one waits");
    }

    #[tokio::test]
    async fn a_readable_socket_resumes_only_its_connection() {
        let (lot, _) = lot();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let quiet = fake("quiet", &tx);
        let busy = fake("busy", &tx);
        let busy_addr = busy.socket.local_addr().expect("addr");
        lot.park(&lot.waker(), quiet)
            .map_err(|e| e.0)
            .expect("parks");
        lot.park(&lot.waker(), busy)
            .map_err(|e| e.0)
            .expect("parks");
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        sender.send_to(b"x", busy_addr).expect("send");
        let got = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
        assert_eq!(got.expect("resumed within 5 s"), Some("busy"));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(rx.try_recv().is_err(), "the quiet one stays parked");
    }
}
