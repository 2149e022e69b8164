//! The remote source against a real Mosquitto process: `$SYS` counters, taps (retained,
//! live, `$SYS`), the dashboard rendered from what the link delivered, and `mqtts://`
//! with `--cafile`, `--insecure` and an untrusted certificate.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use midge::monitor::remote::{self, BrokerUrl, RemoteOptions};
use midge_model::Event;
use midge_ui::{update, App, Key, Msg, Options};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use super::{until_event, until_snapshot, watch};
use crate::support::{free_port, have, until_listening, MOSQUITTO, MOSQUITTO_PUB, OPENSSL};

fn tap_on(topic: &'static str) -> impl Fn(&Event) -> bool {
    move |e| matches!(e, Event::Tap(m) if m.topic == topic)
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
        Self::start_in(dir, "allow_anonymous true\nsys_interval 1\n").await
    }

    /// Mosquitto listening on a free 127.0.0.1 port, with `conf` after the listener line;
    /// `dir` holds the config (and whatever files `conf` names) for the process's life.
    async fn start_in(dir: tempfile::TempDir, conf: &str) -> Self {
        let port = free_port();
        let path = dir.path().join("m.conf");
        std::fs::write(&path, format!("listener {port} 127.0.0.1\n{conf}"))
            .expect("write mosquitto.conf");
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto runs (scripts/test-deps installs it)");
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

fn render(app: &App) -> String {
    let mut t = Terminal::new(TestBackend::new(120, 32)).expect("test backend");
    t.draw(|f| midge_ui::view(app, f)).expect("draw");
    t.backend().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_sys_counters_taps_and_render() {
    if !have(&[MOSQUITTO, MOSQUITTO_PUB]) {
        return;
    }
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
    if !have(&[MOSQUITTO, OPENSSL]) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    make_certs(dir.path());
    let conf = format!(
        "allow_anonymous true\ncafile {d}/ca.pem\ncertfile {d}/server.pem\nkeyfile {d}/server.key\n",
        d = dir.path().display()
    );
    let m = Mosquitto::start_in(dir, &conf).await;
    let port = m.port;
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
