//! `midge monitor URL`: the dashboard's source for a broker reached over MQTT.
//!
//! One MQTT 5 client ([`super::client`]) subscribes `#` and `$SYS/#` as taps (the topic
//! tree) and serves the dashboard's publish/subscribe commands. The Overview comes from
//! `$SYS/broker/…` where the broker publishes it ([`sys`]), or from what the client sees.
//! When the broker is a midge that lets this user in on its admin channel
//! ([`crate::broker::observe::admin`]), sessions, in-flight messages, drops and the log come from
//! there: asked every 250 ms while replies come, probed every few seconds otherwise.
//!
//! The link to the dashboard outlives connections: when the broker goes away the
//! snapshot says `connected: false`, the client reconnects with exponential backoff
//! (100 ms doubling to 5 s), re-subscribes the dashboard's subscriptions, and the UI keeps
//! its topic tree. A broker that refuses MQTT 5 is asked again at once with 3.1.1 (no
//! admin channel then: the Overview comes from `$SYS`).

pub mod sys;
pub use crate::mqtt::{tls, url};

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use midge_model::{Command, Event, MonitorLink, Snapshot, SourceInfo, SourceKind, SourceLink};
use tokio::sync::mpsc;

use crate::broker::observe::admin::{self, Reply, Request};
use crate::mqtt::OpenError;
use crate::protocol::{ByteStr, Properties, Props, ProtocolVersion, Publish, QosPid};

use super::client::{self, ClientOptions, Hooks};
use super::now_ms;

pub use tls::TlsOptions;
pub use url::{BrokerUrl, UrlError};

/// How often the dashboard gets a snapshot, and a watching midge is asked for one.
/// A connection closed this soon after connecting was closed for its `$SYS/#` tap.
const SYS_REFUSED_WITHIN: Duration = Duration::from_secs(2);
const TICK: Duration = Duration::from_millis(250);
/// How often a broker that has not answered on the admin channel is asked again.
const PROBE_EVERY: Duration = Duration::from_secs(5);
/// An admin snapshot older than this no longer stands for the broker.
const ADMIN_STALE_MS: u64 = 3_000;
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error(transparent)]
    Url(#[from] UrlError),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl From<OpenError> for RemoteError {
    fn from(e: OpenError) -> Self {
        match e {
            OpenError::Io(e) => Self::Io(e),
            OpenError::Tls(e) => Self::Tls(e),
        }
    }
}

/// What to watch and how to reach it.
#[derive(Clone, Debug)]
pub struct RemoteOptions {
    pub url: BrokerUrl,
    /// TLS settings; used when the URL is `mqtts://`.
    pub tls: TlsOptions,
    pub client_id: String,
    /// MQTT 5 first; 3.1.1 once the broker refused 5.
    pub protocol: ProtocolVersion,
    /// Tap `$SYS/#` too; off once the broker dropped the connection for it (rumqttd 0.20).
    pub sys_tap: bool,
}

impl RemoteOptions {
    /// Options for `url` with a fresh client id and default TLS settings.
    pub fn new(url: BrokerUrl) -> Self {
        // Random, not the pid and the time: two monitors started in the same
        // millisecond by one process (a test, a dashboard opening two sources) shared an
        // id, took each other's session over, and each got the other's admin replies.
        let client_id = format!("midge-monitor-{:012x}", crate::os::random_u64() >> 16);
        Self {
            url,
            tls: TlsOptions::default(),
            client_id,
            protocol: ProtocolVersion::V5,
            sys_tap: true,
        }
    }
}

/// A remote source ready for the dashboard: its runtime (keep it until the dashboard
/// quits) and the dashboard's end of the link.
pub struct Attached {
    pub runtime: tokio::runtime::Runtime,
    pub link: MonitorLink,
}

/// `midge monitor URL`: parse, start a runtime and the source; `main` runs the dashboard.
pub fn attach(args: &crate::cli::MonitorArgs) -> Result<Attached, RemoteError> {
    let url = BrokerUrl::parse(&args.url)?;
    let mut opts = RemoteOptions::new(url);
    opts.tls = TlsOptions {
        cafile: args.cafile.clone(),
        cert: args.cert.clone(),
        key: args.key.clone(),
        insecure: args.insecure,
        skip_name_check: false,
    };
    // Fail on bad certificate files now, not on every reconnect.
    if opts.url.tls {
        tls::connector(&opts.tls)?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (source, link) = midge_model::link(initial_snapshot(&opts), 8192, 256);
    {
        let _guard = runtime.enter();
        start(opts, source);
    }
    Ok(Attached { runtime, link })
}

/// What the dashboard shows before the first connection.
pub fn initial_snapshot(opts: &RemoteOptions) -> Snapshot {
    Snapshot {
        taken_at_ms: now_ms(),
        source: source_info(opts, false, None, None),
        ..Snapshot::default()
    }
}

fn source_info(
    opts: &RemoteOptions,
    connected: bool,
    version: Option<String>,
    started_at_ms: Option<u64>,
) -> SourceInfo {
    SourceInfo {
        kind: SourceKind::Remote {
            url: opts.url.to_string(),
        },
        version,
        listeners: vec![opts.url.to_string()],
        started_at_ms,
        connected,
        own_client_id: Some(opts.client_id.clone()),
    }
}

/// What the connection learns and the snapshot ticker reads.
#[derive(Default)]
struct Shared {
    connected: bool,
    sys: sys::SysState,
    /// The latest admin reply's snapshot and when it came (unix ms).
    admin: Option<(Snapshot, u64)>,
    /// The highest log sequence number received on the admin channel.
    log_seq: u64,
    /// What the dashboard shows, for the admin channel's requests.
    watch: Option<midge_model::Watch>,
    /// Kicks to send with the next admin request.
    kicks: Vec<String>,
    /// The client to trace over the admin channel, once the dashboard asked for one.
    trace: Option<Option<String>>,
    /// The highest trace sequence number received.
    trace_seq: u64,
}

/// Wire `link` to the broker at `opts.url`. Spawns on the current runtime; everything
/// ends when the dashboard drops its end of the link.
pub fn start(opts: RemoteOptions, link: SourceLink) {
    let SourceLink {
        snapshots,
        events,
        commands,
    } = link;
    let shared = Arc::new(Mutex::new(Shared::default()));
    let dropped = Arc::new(AtomicU64::new(0));

    // Snapshots, every tick, connected or not.
    let snap_shared = shared.clone();
    let snap_opts = opts.clone();
    let snap_dropped = dropped.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = snapshots.closed() => return,
            }
            let snap = match snap_shared.lock() {
                Ok(mut s) => build_snapshot(&snap_opts, &mut s, snap_dropped.load(Relaxed)),
                Err(_) => return,
            };
            snapshots.send_replace(Arc::new(snap));
        }
    });

    tokio::spawn(connection_loop(opts, shared, events, commands, dropped));
}

/// The snapshot for the dashboard: the admin channel's when fresh, else `$SYS`.
fn build_snapshot(opts: &RemoteOptions, s: &mut Shared, dropped: u64) -> Snapshot {
    let now = now_ms();
    if let Some((snap, at)) = &s.admin {
        if now.saturating_sub(*at) <= ADMIN_STALE_MS || !s.connected {
            let mut snap = snap.clone();
            let version = snap.source.version.take();
            let started = snap.source.started_at_ms;
            snap.source = source_info(opts, s.connected, version, started);
            snap.events_dropped += dropped;
            snap.taken_at_ms = now;
            return snap;
        }
    }
    let (counters, counters_at_ms) = s.sys.sampled(now);
    Snapshot {
        taken_at_ms: now,
        source: source_info(
            opts,
            s.connected,
            s.sys.version.clone(),
            s.sys.started_at_ms(),
        ),
        counters,
        counters_at_ms,
        connections: None,
        page: None,
        subscribers: Vec::new(),
        inflight: None,
        drops: None,
        events_dropped: dropped,
        store: None,
        bridges: None,
    }
}

/// Connect, serve, and reconnect with backoff until the dashboard goes away.
async fn connection_loop(
    mut opts: RemoteOptions,
    shared: Arc<Mutex<Shared>>,
    events: mpsc::Sender<Event>,
    mut commands: mpsc::Receiver<Command>,
    dropped: Arc<AtomicU64>,
) {
    // The dashboard's own subscriptions, restored after a reconnect.
    let mut subscriptions: BTreeMap<String, u8> = BTreeMap::new();
    let mut backoff = BACKOFF_MIN;
    let notice = |text: String| {
        let _ = events.try_send(Event::Notice(text));
    };
    let connector = if opts.url.tls {
        match tls::connector(&opts.tls) {
            Ok(c) => Some(c),
            Err(e) => {
                notice(format!("cannot connect: {e}"));
                wait_closed(&mut commands, &notice).await;
                return;
            }
        }
    } else {
        None
    };
    loop {
        let attempt = async {
            let io =
                tokio::time::timeout(CONNECT_TIMEOUT, tls::open(&opts.url, connector.as_ref()))
                    .await
                    .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
            Ok::<_, RemoteError>(io)
        };
        let io = tokio::select! {
            r = attempt => r,
            () = wait_closed(&mut commands, &notice) => return,
        };
        match io {
            Ok(io) => {
                let began = tokio::time::Instant::now();
                let went = serve(
                    io,
                    &opts,
                    &shared,
                    &events,
                    &mut commands,
                    &dropped,
                    &mut subscriptions,
                )
                .await;
                let was_up = set_connected(&shared, false);
                match went {
                    Served::UiGone => return,
                    Served::Ended(e) => {
                        if was_up && opts.sys_tap && began.elapsed() < SYS_REFUSED_WITHIN {
                            opts.sys_tap = false;
                            notice(format!(
                                "{} closed the connection after the $SYS/# subscription; \
                                 watching without $SYS",
                                opts.url
                            ));
                            continue;
                        }
                        if !was_up && opts.protocol.is_v5() && e.suggests_v3() {
                            opts.protocol = ProtocolVersion::V3_1_1;
                            notice(format!("{} refused MQTT 5 ({e}); trying 3.1.1", opts.url));
                            continue;
                        }
                        if was_up {
                            backoff = BACKOFF_MIN;
                            notice(format!("lost {}: {e}; reconnecting", opts.url));
                        }
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "connecting to {}", opts.url),
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = wait_closed(&mut commands, &notice) => return,
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// While disconnected: answer commands, return when the dashboard is gone.
async fn wait_closed(commands: &mut mpsc::Receiver<Command>, notice: &impl Fn(String)) {
    while commands.recv().await.is_some() {
        notice("not connected to the broker".to_owned());
    }
}

fn set_connected(shared: &Mutex<Shared>, up: bool) -> bool {
    shared
        .lock()
        .is_ok_and(|mut s| std::mem::replace(&mut s.connected, up))
}

enum Served {
    UiGone,
    Ended(client::ClientError),
}

pub use crate::mqtt::Io;

/// One connection: the client, the dashboard's commands, and admin requests.
async fn serve(
    io: Box<dyn Io>,
    opts: &RemoteOptions,
    shared: &Arc<Mutex<Shared>>,
    events: &mpsc::Sender<Event>,
    commands: &mut mpsc::Receiver<Command>,
    dropped: &Arc<AtomicU64>,
    subscriptions: &mut BTreeMap<String, u8>,
) -> Served {
    let (cmd_tx, cmd_rx) = mpsc::channel(256);
    for (filter, qos) in subscriptions.iter() {
        let _ = cmd_tx.try_send(Command::Subscribe {
            filter: filter.clone(),
            qos: *qos,
        });
    }
    let (admin_tx, admin_rx) = mpsc::channel(4);
    let reply_topic = format!("{}{}", admin::REPLY_PREFIX, opts.client_id);
    let hooks = Hooks {
        inspect: Some(inspector(
            shared.clone(),
            events.clone(),
            dropped.clone(),
            reply_topic.clone(),
        )),
        outbound: Some(admin_rx),
        on_connected: Some({
            let shared = shared.clone();
            Box::new(move || {
                set_connected(&shared, true);
            })
        }),
    };
    let client_opts = ClientOptions {
        client_id: opts.client_id.clone(),
        username: opts.url.username.clone(),
        password: opts.url.password.clone().map(Bytes::from),
        keep_alive_secs: 30,
        protocol: opts.protocol,
        tap_filters: if opts.sys_tap {
            vec!["#".to_owned(), "$SYS/#".to_owned()]
        } else {
            vec!["#".to_owned()]
        },
    };
    let drive = client::drive_with(
        io,
        client_opts,
        cmd_rx,
        events.clone(),
        dropped.clone(),
        hooks,
    );
    tokio::pin!(drive);
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut since_probe = PROBE_EVERY;
    let mut correlation: u64 = 0;
    loop {
        tokio::select! {
            r = &mut drive => {
                return Served::Ended(match r {
                    Ok(()) => client::ClientError::Closed,
                    Err(e) => e,
                });
            }
            cmd = commands.recv() => {
                let Some(cmd) = cmd else { return Served::UiGone };
                match &cmd {
                    Command::Subscribe { filter, qos } => {
                        subscriptions.insert(filter.clone(), *qos);
                    }
                    Command::Unsubscribe { filter } => {
                        subscriptions.remove(filter);
                    }
                    Command::Watch(w) => {
                        if let Ok(mut s) = shared.lock() {
                            s.watch = Some(w.clone());
                        }
                        continue;
                    }
                    // A headless midge answers these on its admin channel (under its
                    // ACL); any other broker cannot, and the client says so.
                    Command::Kick { client_id } if admin_fresh(shared) => {
                        if let Ok(mut s) = shared.lock() {
                            s.kicks.push(client_id.clone());
                        }
                        continue;
                    }
                    Command::Trace { client_id } if admin_fresh(shared) => {
                        if let Ok(mut s) = shared.lock() {
                            s.trace = Some(client_id.clone());
                        }
                        continue;
                    }
                    _ => {}
                }
                if cmd_tx.try_send(cmd).is_err() {
                    let _ = events.try_send(Event::Notice("the client is busy".to_owned()));
                }
            }
            _ = tick.tick() => {
                let fresh = admin_fresh(shared);
                let (up, request) = match shared.lock() {
                    Ok(mut s) => (
                        s.connected,
                        Request {
                            log_after: s.log_seq,
                            watch: s.watch.clone(),
                            kick: if fresh { s.kicks.pop() } else { None },
                            trace: s.trace.clone().map(|client_id| admin::TraceAsk { client_id }),
                            trace_after: s.trace_seq,
                        },
                    ),
                    Err(_) => return Served::UiGone,
                };
                since_probe += TICK;
                if up && (fresh || since_probe >= PROBE_EVERY) {
                    since_probe = Duration::ZERO;
                    correlation += 1;
                    // A full channel means the last requests are still queued: skip one.
                    let _ = admin_tx.try_send(admin_request(&reply_topic, correlation, &request));
                }
            }
        }
    }
}

/// An admin snapshot request (QoS 0: a lost one is simply asked again next tick).
fn admin_request(reply_topic: &str, correlation: u64, request: &Request) -> Publish {
    let payload = serde_json::to_vec(request).unwrap_or_default();
    Publish {
        dup: false,
        qos_pid: QosPid::Level0,
        retain: false,
        topic: ByteStr::from(admin::SNAPSHOT_TOPIC),
        properties: Props::from(Properties {
            response_topic: Some(ByteStr::from(reply_topic)),
            correlation_data: Some(Bytes::copy_from_slice(&correlation.to_be_bytes())),
            ..Properties::default()
        }),
        payload: Bytes::from(payload),
    }
}

/// The look at every inbound PUBLISH: `$SYS` counters, counts of the tap, and admin
/// replies (which never reach the dashboard as messages).
fn inspector(
    shared: Arc<Mutex<Shared>>,
    events: mpsc::Sender<Event>,
    dropped: Arc<AtomicU64>,
    reply_topic: String,
) -> client::Inspect {
    Box::new(move |p: &Publish| {
        let topic: &str = &p.topic;
        if !topic.starts_with('$') {
            if let Ok(mut s) = shared.lock() {
                s.sys.count(p.payload.len());
            }
            return true;
        }
        if topic == reply_topic {
            on_admin_reply(&shared, &events, &dropped, &p.payload);
            return false;
        }
        if let Ok(mut s) = shared.lock() {
            s.sys.apply(topic, &p.payload, now_ms());
        }
        true
    })
}

fn on_admin_reply(
    shared: &Mutex<Shared>,
    events: &mpsc::Sender<Event>,
    dropped: &AtomicU64,
    payload: &[u8],
) {
    let Ok(reply) = serde_json::from_slice::<Reply>(payload) else {
        tracing::debug!("unreadable admin reply");
        return;
    };
    let Ok(mut s) = shared.lock() else { return };
    if reply.log_next <= s.log_seq {
        // The broker restarted and numbers its lines afresh.
        s.log_seq = 0;
    }
    let mut last = s.log_seq;
    for (seq, line) in reply.log {
        if seq <= last {
            continue;
        }
        last = seq;
        if events.try_send(Event::Log(line)).is_err() {
            dropped.fetch_add(1, Relaxed);
        }
    }
    s.log_seq = last;
    for n in reply.notices {
        let _ = events.try_send(Event::Notice(n));
    }
    let mut last = s.trace_seq;
    for (seq, line) in reply.trace {
        if seq <= last {
            continue;
        }
        last = seq;
        if events.try_send(Event::Trace(line)).is_err() {
            dropped.fetch_add(1, Relaxed);
        }
    }
    s.trace_seq = last;
    s.admin = Some((reply.snapshot, now_ms()));
}

/// Whether a headless midge answered the admin channel lately.
fn admin_fresh(shared: &Mutex<Shared>) -> bool {
    shared.lock().is_ok_and(|s| {
        s.admin
            .as_ref()
            .is_some_and(|(_, at)| now_ms().saturating_sub(*at) <= ADMIN_STALE_MS)
    })
}

#[cfg(test)]
mod tests {
    /// Two sources opened at once get their own sessions (ids from the pid and the
    /// millisecond collided, and each monitor got the other's admin replies).
    #[test]
    fn each_source_gets_its_own_client_id() {
        let url = super::BrokerUrl::parse("mqtt://127.0.0.1:1883").expect("url");
        let a = super::RemoteOptions::new(url.clone()).client_id;
        let b = super::RemoteOptions::new(url).client_id;
        assert_ne!(a, b);
        assert!(a.starts_with("midge-monitor-") && a.len() == 26, "{a}");
    }
}
