//! `midge monitor URL` end to end: the remote source against a real Mosquitto (`$SYS`
//! counters, taps, a dashboard render), against a headless midge over the admin channel
//! (sessions and in-flight state for an allowed user; nothing for anyone else), and
//! reconnecting when the broker goes away. Self-contained: its own helpers below.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use midge::auth::Authenticator;
use midge::broker::{Access, Broker, Open};
use midge::config::{Config, ListenerConfig};
use midge::monitor::remote::{self, BrokerUrl, RemoteOptions};
use midge_model::{Event, InflightState, MonitorLink, Snapshot};
use midge_ui::{update, App, Key, Msg, Options};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

/// The longest any expected event may take.
const WAIT: Duration = Duration::from_secs(10);

// ---- helpers -------------------------------------------------------------------------

/// Start the remote source for `url`; returns the dashboard's end.
fn watch(url: &str) -> MonitorLink {
    let opts = RemoteOptions::new(BrokerUrl::parse(url).expect("test URL parses"));
    let (source, link) = midge_model::link(remote::initial_snapshot(&opts), 8192, 64);
    remote::start(opts, source);
    link
}

/// Wait until the latest snapshot satisfies `pred`, collecting events meanwhile.
async fn until_snapshot(
    link: &mut MonitorLink,
    seen: &mut Vec<Event>,
    what: &str,
    pred: impl Fn(&Snapshot) -> bool,
) -> Arc<Snapshot> {
    let deadline = Instant::now() + WAIT;
    loop {
        while let Ok(e) = link.events.try_recv() {
            seen.push(e);
        }
        let s = link.snapshots.borrow_and_update().clone();
        if pred(&s) {
            return s;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "timed out waiting for {what}; last: {s:#?}"
        );
        let _ = tokio::time::timeout(left, link.snapshots.changed()).await;
    }
}

/// Wait until an event satisfies `pred` (events before it are kept in `seen`).
async fn until_event(
    link: &mut MonitorLink,
    seen: &mut Vec<Event>,
    what: &str,
    pred: impl Fn(&Event) -> bool,
) {
    if seen.iter().any(&pred) {
        return;
    }
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, link.events.recv()).await {
            Ok(Some(e)) => {
                let hit = pred(&e);
                seen.push(e);
                if hit {
                    return;
                }
            }
            Ok(None) => panic!("the source closed its events while waiting for {what}"),
            Err(_) => panic!("timed out waiting for {what}; saw {} events", seen.len()),
        }
    }
}

fn tap_on(topic: &'static str) -> impl Fn(&Event) -> bool {
    move |e| matches!(e, Event::Tap(m) if m.topic == topic)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Poll until something accepts TCP on `port` (the broker process is starting).
async fn until_listening(port: u16) {
    let deadline = Instant::now() + WAIT;
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A Mosquitto process on 127.0.0.1, killed on drop.
struct Mosquitto {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Mosquitto {
    async fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let conf = dir.path().join("m.conf");
        std::fs::write(
            &conf,
            format!("listener {port} 127.0.0.1\nallow_anonymous true\nsys_interval 1\n"),
        )
        .expect("write mosquitto.conf");
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto is installed (.ci/run installs it)");
        until_listening(port).await;
        Self {
            child,
            port,
            _dir: dir,
        }
    }

    fn publish(&self, topic: &str, payload: &str, retain: bool) {
        let mut cmd = Command::new("mosquitto_pub");
        cmd.args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-t", topic, "-m", payload]);
        if retain {
            cmd.arg("-r");
        }
        let status = cmd.status().expect("mosquitto_pub runs");
        assert!(status.success(), "mosquitto_pub failed");
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_midge(bind: SocketAddr, access: Arc<dyn Access>) -> Broker {
    let mut config = Config {
        listeners: vec![ListenerConfig::tcp(bind)],
        ..Config::default()
    };
    config.storage.in_memory = true;
    config.sys.interval_secs = 0;
    tokio::time::timeout(WAIT, Broker::start(&config, access))
        .await
        .expect("broker starts in time")
        .expect("broker starts")
}

/// The ACL of the admin tests: anonymous and `eve` may use ordinary topics (and `eve` may
/// read the reply namespace, to prove replies are not routed); only `admin` may write the
/// admin request topic.
fn acl_access(dir: &Path) -> Arc<dyn Access> {
    let acl = dir.join("acl");
    std::fs::write(
        &acl,
        "topic readwrite #\n\
         \n\
         user admin\n\
         topic readwrite #\n\
         topic readwrite $CONTROL/midge/v1/#\n\
         \n\
         user eve\n\
         topic readwrite #\n\
         topic read $CONTROL/#\n",
    )
    .expect("write acl");
    Arc::new(Authenticator::new(true, None, Some(&acl)).expect("acl loads"))
}

fn render(app: &App) -> String {
    let mut t = Terminal::new(TestBackend::new(120, 32)).expect("test backend");
    t.draw(|f| midge_ui::view(app, f)).expect("draw");
    t.backend().to_string()
}

/// An MQTT 5 client (rumqttc, an independent implementation) with its event loop
/// polled in the background; every PUBLISH it receives goes to the returned channel.
fn v5_client(
    port: u16,
    id: &str,
    user: Option<&str>,
) -> (
    rumqttc::v5::AsyncClient,
    tokio::sync::mpsc::UnboundedReceiver<(String, bytes::Bytes)>,
) {
    let mut o = rumqttc::v5::MqttOptions::new(id, "127.0.0.1", port);
    if let Some(u) = user {
        o.set_credentials(u, "");
    }
    let (client, mut ev) = rumqttc::v5::AsyncClient::new(o, 64);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(e) = ev.poll().await {
            if let rumqttc::v5::Event::Incoming(rumqttc::v5::mqttbytes::v5::Packet::Publish(p)) = e
            {
                let topic = String::from_utf8_lossy(&p.topic).into_owned();
                if tx.send((topic, p.payload)).is_err() {
                    return;
                }
            }
        }
    });
    (client, rx)
}

// ---- tests ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_sys_counters_taps_and_render() {
    let m = Mosquitto::start().await;
    m.publish("plant/line1/temp", "21.5", true);
    let mut link = watch(&format!("mqtt://127.0.0.1:{}", m.port));
    let mut seen = Vec::new();

    // Counters and facts from $SYS (sys_interval 1).
    let snap = until_snapshot(&mut link, &mut seen, "$SYS counters", |s| {
        s.source.connected
            && s.source.version.is_some()
            && s.counters.clients_online >= Some(1)
            && s.counters.messages_sent.is_some()
            && s.source.started_at_ms.is_some()
    })
    .await;
    assert!(
        snap.source
            .version
            .as_deref()
            .unwrap_or("")
            .contains("mosquitto"),
        "{:?}",
        snap.source.version
    );
    assert!(snap.counters.subscriptions >= Some(2), "our # and $SYS/#");
    assert!(snap.counters.bytes_received.is_some());
    // Mosquitto shows no sessions: the view must say so, not show an empty table.
    assert_eq!(snap.connections, None);
    assert_eq!(snap.inflight, None);

    // The retained message arrives as a tap on subscribe; live traffic too.
    until_event(
        &mut link,
        &mut seen,
        "retained tap",
        tap_on("plant/line1/temp"),
    )
    .await;
    m.publish("plant/line2/pressure", "1.01", false);
    until_event(
        &mut link,
        &mut seen,
        "live tap",
        tap_on("plant/line2/pressure"),
    )
    .await;
    until_event(
        &mut link,
        &mut seen,
        "$SYS tap",
        |e| matches!(e, Event::Tap(t) if t.topic.starts_with("$SYS/broker/")),
    )
    .await;

    // The same dashboard over what the link delivered.
    let snap = until_snapshot(&mut link, &mut seen, "a newer snapshot", |s| {
        s.taken_at_ms > snap.taken_at_ms
    })
    .await;
    let mut app = App::new(&Options {
        title: "midge monitor".to_owned(),
        ..Options::default()
    });
    update(
        &mut app,
        Msg::Resize {
            width: 120,
            height: 32,
        },
    );
    update(&mut app, Msg::Snapshot(snap));
    for e in seen {
        update(&mut app, Msg::Event(e));
    }
    update(&mut app, Msg::Key(Key::Char('1')));
    let overview = render(&app);
    assert!(overview.contains("mosquitto version"), "{overview}");
    assert!(
        overview.contains(&format!("127.0.0.1:{}", m.port)),
        "{overview}"
    );
    update(&mut app, Msg::Key(Key::Char('2')));
    let sessions = render(&app);
    assert!(sessions.contains("n/a from this source"), "{sessions}");
    update(&mut app, Msg::Key(Key::Char('3')));
    let topics = render(&app);
    assert!(topics.contains("$SYS"), "{topics}");
    // The plant topics sort below `$SYS`: filter to them.
    update(&mut app, Msg::Key(Key::Char('/')));
    for c in "plant".chars() {
        update(&mut app, Msg::Key(Key::Char(c)));
    }
    update(&mut app, Msg::Key(Key::Enter));
    let topics = render(&app);
    assert!(topics.contains("temp"), "{topics}");
    assert!(topics.contains("pressure"), "{topics}");
}

/// A self-signed CA and a server certificate for `localhost`, made with `openssl`.
fn make_certs(dir: &Path) {
    let run = |args: &[&str]| {
        let ok = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl runs")
            .success();
        assert!(ok, "openssl {args:?}");
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=test-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    std::fs::write(dir.join("ext"), "subjectAltName=DNS:localhost\n").expect("write ext");
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "ext",
        "-out",
        "server.pem",
    ]);
    // Mosquitto started as root reads the key after dropping to its own user.
    use std::os::unix::fs::PermissionsExt;
    for (p, mode) in [(dir.to_path_buf(), 0o755), (dir.join("server.key"), 0o644)] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtts_with_cafile_and_insecure() {
    let dir = tempfile::tempdir().expect("tempdir");
    make_certs(dir.path());
    let port = free_port();
    let conf = dir.path().join("m.conf");
    std::fs::write(
        &conf,
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\ncafile {d}/ca.pem\n\
             certfile {d}/server.pem\nkeyfile {d}/server.key\n",
            d = dir.path().display()
        ),
    )
    .expect("write conf");
    let child = Command::new("mosquitto")
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto runs");
    let m = Mosquitto {
        child,
        port,
        _dir: dir,
    };
    until_listening(port).await;
    let ca = m._dir.path().join("ca.pem");
    let start_tls = |tls: remote::TlsOptions| {
        let mut opts = RemoteOptions::new(
            BrokerUrl::parse(&format!("mqtts://localhost:{port}")).expect("url"),
        );
        opts.tls = tls;
        let (source, link) = midge_model::link(remote::initial_snapshot(&opts), 64, 8);
        remote::start(opts, source);
        link
    };
    let mut seen = Vec::new();
    let mut trusted = start_tls(remote::TlsOptions {
        cafile: Some(ca),
        ..remote::TlsOptions::default()
    });
    until_snapshot(&mut trusted, &mut seen, "TLS with --cafile", |s| {
        s.source.connected
    })
    .await;
    let mut insecure = start_tls(remote::TlsOptions {
        insecure: true,
        ..remote::TlsOptions::default()
    });
    until_snapshot(&mut insecure, &mut seen, "TLS with --insecure", |s| {
        s.source.connected
    })
    .await;
    // Without the CA the certificate is not trusted: never connected.
    let mut untrusted = start_tls(remote::TlsOptions::default());
    let deadline = Instant::now() + Duration::from_millis(1000);
    while Instant::now() < deadline {
        assert!(!untrusted.snapshots.borrow_and_update().source.connected);
        let _ =
            tokio::time::timeout(Duration::from_millis(250), untrusted.snapshots.changed()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_midge_admin_channel_is_for_admins_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = start_midge("127.0.0.1:0".parse().expect("addr"), acl_access(dir.path())).await;
    let port = broker.local_addrs()[0].port();

    // A bystander on `#` and an unauthorised user reading the whole `$CONTROL` tree.
    let (anon, mut anon_rx) = v5_client(port, "bystander", None);
    anon.subscribe("#", rumqttc::v5::mqttbytes::QoS::AtMostOnce)
        .await
        .expect("subscribe #");
    let (eve, mut eve_rx) = v5_client(port, "eve-client", Some("eve"));
    eve.subscribe("$CONTROL/#", rumqttc::v5::mqttbytes::QoS::AtMostOnce)
        .await
        .expect("subscribe $CONTROL/#");

    // A subscriber that never acknowledges: QoS 1 deliveries to it stay in flight.
    let (slow, _slow_rx) = v5_client(port, "slowpoke", None);
    slow.subscribe("work/#", rumqttc::v5::mqttbytes::QoS::AtLeastOnce)
        .await
        .expect("subscribe work/#");

    // rumqttc acknowledges everything, so in-flight state needs a raw, silent subscriber.
    // (Connected early: a client task refreshes its in-flight detail at most every
    // 250 ms, when it wakes up.)
    let silent = RawSilent::subscribe(port, "silent", "work/#").await;

    let mut admin = watch(&format!("mqtt://admin@127.0.0.1:{port}"));
    let mut admin_seen = Vec::new();
    let mut eve_link = watch(&format!("mqtt://eve:pw@127.0.0.1:{port}"));
    let mut eve_seen = Vec::new();

    let snap = until_snapshot(
        &mut admin,
        &mut admin_seen,
        "sessions over the admin channel",
        |s| {
            s.source.connected
                && s.connections
                    .as_ref()
                    .is_some_and(|c| c.iter().any(|c| c.client_id == "slowpoke" && c.online))
        },
    )
    .await;
    assert!(snap
        .source
        .version
        .as_deref()
        .unwrap_or("")
        .starts_with("midge"));
    assert!(snap.counters.connections_total.is_some());
    let slowpoke = snap
        .connections
        .as_ref()
        .and_then(|c| c.iter().find(|c| c.client_id == "slowpoke"))
        .expect("slowpoke listed");
    assert_eq!(slowpoke.subscriptions[0].filter, "work/#");

    let (publisher, _p_rx) = v5_client(port, "publisher", None);
    publisher
        .publish(
            "work/job",
            rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
            false,
            "do it",
        )
        .await
        .expect("publish");
    let snap = until_snapshot(
        &mut admin,
        &mut admin_seen,
        "in-flight to the silent client",
        |s| {
            s.inflight.as_ref().is_some_and(|v| {
                v.iter().any(|i| {
                    i.client_id == "silent"
                        && i.topic == "work/job"
                        && i.state == InflightState::AwaitingPubAck
                })
            })
        },
    )
    .await;
    let silent_info = snap
        .connections
        .as_ref()
        .and_then(|c| c.iter().find(|c| c.client_id == "silent"))
        .expect("silent listed");
    assert_eq!(silent_info.inflight_out, 1);
    drop(silent);

    // eve's monitor connected and probed the admin channel: no sessions, no logs.
    let eve_snap = until_snapshot(&mut eve_link, &mut eve_seen, "eve connected", |s| {
        s.source.connected
    })
    .await;
    // Give eve's probe (sent on its first tick) time to be answered if it were.
    let deadline = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < deadline {
        let s = eve_link.snapshots.borrow_and_update().clone();
        assert_eq!(s.connections, None, "eve must not see sessions");
        assert_eq!(s.inflight, None, "eve must not see in-flight messages");
        let _ =
            tokio::time::timeout(Duration::from_millis(300), eve_link.snapshots.changed()).await;
    }
    assert!(eve_snap.source.connected);
    while let Ok(e) = eve_link.events.try_recv() {
        assert!(
            !matches!(&e, Event::Log(_)),
            "eve must not get broker logs: {e:?}"
        );
    }

    // eve asking by hand, with a reply topic she may read: no reply, and the request is
    // not routed to her `$CONTROL/#` subscription either.
    let props = rumqttc::v5::mqttbytes::v5::PublishProperties {
        response_topic: Some("$CONTROL/midge/v1/reply/eve".to_owned()),
        correlation_data: Some(bytes::Bytes::from_static(b"1")),
        ..Default::default()
    };
    eve.publish_with_properties(
        "$CONTROL/midge/v1/snapshot",
        rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
        false,
        "",
        props,
    )
    .await
    .expect("publish request");
    // A marker published after the request, to know the broker handled it.
    publisher
        .publish(
            "work/marker",
            rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
            false,
            "m",
        )
        .await
        .expect("publish marker");
    let saw_marker = tokio::time::timeout(WAIT, async {
        while let Some((topic, _)) = anon_rx.recv().await {
            assert!(
                !topic.starts_with("$CONTROL"),
                "the bystander on # saw {topic}"
            );
            if topic == "work/marker" {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(saw_marker, Ok(true));
    // eve's own subscription sees no admin traffic at all (requests or replies).
    let quiet = tokio::time::timeout(Duration::from_millis(500), eve_rx.recv()).await;
    assert!(quiet.is_err(), "eve received {quiet:?}");
    let anon_late = tokio::time::timeout(Duration::from_millis(300), async {
        while let Some((topic, _)) = anon_rx.recv().await {
            if topic.starts_with("$CONTROL") {
                return topic;
            }
        }
        String::new()
    })
    .await;
    assert!(anon_late.is_err(), "the bystander saw {anon_late:?}");

    drop((admin, eve_link));
    broker.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_acl_the_admin_channel_is_off() {
    let broker = start_midge(
        "127.0.0.1:0".parse().expect("addr"),
        Arc::new(Open {
            allow_anonymous: true,
        }),
    )
    .await;
    let port = broker.local_addrs()[0].port();
    let mut link = watch(&format!("mqtt://admin@127.0.0.1:{port}"));
    let mut seen = Vec::new();
    until_snapshot(&mut link, &mut seen, "connected", |s| s.source.connected).await;
    let deadline = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < deadline {
        let s = link.snapshots.borrow_and_update().clone();
        assert_eq!(s.connections, None);
        let _ = tokio::time::timeout(Duration::from_millis(300), link.snapshots.changed()).await;
    }
    drop(link);
    broker.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_when_the_broker_comes_back() {
    let open = || -> Arc<dyn Access> {
        Arc::new(Open {
            allow_anonymous: true,
        })
    };
    let broker = start_midge("127.0.0.1:0".parse().expect("addr"), open()).await;
    let addr = broker.local_addrs()[0];
    let mut link = watch(&format!("mqtt://127.0.0.1:{}", addr.port()));
    let mut seen = Vec::new();
    until_snapshot(&mut link, &mut seen, "connected", |s| s.source.connected).await;

    broker.shutdown(Duration::from_secs(2)).await;
    until_snapshot(&mut link, &mut seen, "disconnected", |s| {
        !s.source.connected
    })
    .await;

    let broker = start_midge(addr, open()).await;
    until_snapshot(&mut link, &mut seen, "reconnected", |s| s.source.connected).await;
    // The same link carries traffic again: the tap was re-subscribed.
    let (p, _rx) = v5_client(addr.port(), "after-restart", None);
    let deadline = Instant::now() + WAIT;
    loop {
        p.publish(
            "back/again",
            rumqttc::v5::mqttbytes::QoS::AtMostOnce,
            false,
            "1",
        )
        .await
        .expect("publish");
        match tokio::time::timeout(Duration::from_millis(200), link.events.recv()).await {
            Ok(Some(Event::Tap(m))) if m.topic == "back/again" => break,
            Ok(Some(_)) | Err(_) => {}
            Ok(None) => panic!("events closed"),
        }
        assert!(Instant::now() < deadline, "no tap after the reconnect");
    }
    drop(link);
    broker.shutdown(Duration::from_secs(2)).await;
}

/// A v3.1.1 subscriber written as raw bytes that never acknowledges anything.
struct RawSilent {
    _stream: tokio::net::TcpStream,
}

impl RawSilent {
    async fn subscribe(port: u16, id: &str, filter: &str) -> Self {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        // CONNECT v3.1.1, clean session, keep-alive 0.
        let mut connect = vec![0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x00];
        connect.extend_from_slice(&u16::try_from(id.len()).expect("short id").to_be_bytes());
        connect.extend_from_slice(id.as_bytes());
        let mut pkt = vec![0x10, u8::try_from(connect.len()).expect("short connect")];
        pkt.extend_from_slice(&connect);
        // SUBSCRIBE pid 1, QoS 1.
        let mut sub = vec![0x00, 0x01];
        sub.extend_from_slice(&u16::try_from(filter.len()).expect("short").to_be_bytes());
        sub.extend_from_slice(filter.as_bytes());
        sub.push(0x01);
        pkt.push(0x82);
        pkt.push(u8::try_from(sub.len()).expect("short subscribe"));
        pkt.extend_from_slice(&sub);
        s.write_all(&pkt).await.expect("write");
        // CONNACK (4 bytes) and SUBACK (5 bytes).
        let mut buf = [0u8; 9];
        tokio::time::timeout(WAIT, s.read_exact(&mut buf))
            .await
            .expect("acks in time")
            .expect("read acks");
        assert_eq!(buf[..4], [0x20, 0x02, 0x00, 0x00], "CONNACK accepted");
        assert_eq!(buf[4..], [0x90, 0x03, 0x00, 0x01, 0x01], "SUBACK QoS 1");
        Self { _stream: s }
    }
}
