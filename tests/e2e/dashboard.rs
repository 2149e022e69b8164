//! The dashboard as a person sees it: the real `midge` binary in a detached tmux
//! session, real MQTT traffic from the Debian `mosquitto_pub` / `mosquitto_sub`, keys
//! sent with `tmux send-keys`, the screen read back with `tmux capture-pane`.
//! Blocking code of its own (no async support code); the tools are checked with
//! `support::have`.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::{free_port, have, MOSQUITTO_PUB, MOSQUITTO_SUB, TMUX};

/// Upper bound for anything the screen or a process should show.
pub(crate) const WAIT: Duration = Duration::from_secs(10);
/// How often the pane is read while waiting.
const POLL: Duration = Duration::from_millis(100);

static SESSIONS: AtomicUsize = AtomicUsize::new(0);

/// A tmux server of our own (`-L midge-test-<pid>-<n>`), killed on drop.
pub(crate) struct Tmux {
    socket: String,
}

impl Tmux {
    pub(crate) fn new() -> Self {
        let n = SESSIONS.fetch_add(1, Ordering::Relaxed);
        Self {
            socket: format!("midge-test-{}-{n}", std::process::id()),
        }
    }

    fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux")
    }

    pub(crate) fn ok(&self, args: &[&str]) {
        let out = self.cmd(args);
        assert!(
            out.status.success(),
            "tmux {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts `shell_cmd` under `sh -c` in a detached session of the given size; when
    /// it ends, the pane prints its exit status and keeps a shell open.
    pub(crate) fn start(&self, width: u16, height: u16, shell_cmd: &str) {
        let script = format!("{shell_cmd}; echo \"midge exited with $?\"; exec sh");
        self.ok(&[
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            "sh",
            "-c",
            &script,
        ]);
    }

    pub(crate) fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        self.ok(&args);
    }

    /// Types text literally (no key-name lookup).
    pub(crate) fn type_text(&self, text: &str) {
        self.ok(&["send-keys", "-t", "t", "-l", text]);
    }

    pub(crate) fn capture(&self, escapes: bool) -> String {
        let mut args = vec!["capture-pane", "-p", "-t", "t"];
        if escapes {
            args.push("-e");
        }
        String::from_utf8_lossy(&self.cmd(&args).stdout).into_owned()
    }

    /// Polls the pane until `pred` holds; panics with the last screen after [`WAIT`].
    pub(crate) fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.capture(false);
            if pred(&screen) {
                return screen;
            }
            assert!(
                start.elapsed() < WAIT,
                "timed out waiting for {what}; screen:\n{screen}"
            );
            std::thread::sleep(POLL);
        }
    }

    fn alternate_screen(&self) -> bool {
        let out = self.cmd(&["display-message", "-p", "-t", "t", "#{alternate_on}"]);
        String::from_utf8_lossy(&out.stdout).trim() == "1"
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

/// Kills a helper process if the test ends early.
pub(crate) struct Reap(pub(crate) Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits (bounded) for a child to exit.
pub(crate) fn wait_exit(child: &mut Child, what: &str) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        assert!(start.elapsed() < WAIT, "{what} did not exit in time");
        std::thread::sleep(POLL);
    }
}

/// The shell command that runs the dashboard on `port`, logging into `dir`.
fn midge_cmd(port: u16, dir: &Path, env: &str) -> String {
    format!(
        "{env} '{}' -l 127.0.0.1:{port} --in-memory --log-file '{}'",
        env!("CARGO_BIN_EXE_midge"),
        dir.join("midge.log").display()
    )
}

/// The line of the screen that contains `needle`.
pub(crate) fn line_with<'a>(screen: &'a str, needle: &str) -> Option<&'a str> {
    screen.lines().find(|l| l.contains(needle))
}

/// Quits with `q` (confirming with `y` when asked) and checks the exit status and that
/// the terminal is back to the shell.
pub(crate) fn quit_and_check(tmux: &Tmux) {
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("the quit question or the shell", |s| {
        s.contains("Quit?") || s.contains("midge exited with")
    });
    if screen.contains("Quit?") {
        tmux.keys(&["y"]);
    }
    let screen = tmux.wait_for("midge to exit", |s| s.contains("midge exited with"));
    assert!(
        screen.contains("midge exited with 0"),
        "non-zero exit:\n{screen}"
    );
    assert!(!tmux.alternate_screen(), "the alternate screen is still on");
    assert!(
        !screen.contains('┌') && !screen.contains("Overview │"),
        "a dashboard frame is left on the screen:\n{screen}"
    );
}

#[test]
fn dashboard_shows_traffic_publishes_and_quits_cleanly() {
    if !have(&[TMUX, MOSQUITTO_PUB, MOSQUITTO_SUB]) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let tmux = Tmux::new();
    tmux.start(120, 36, &midge_cmd(port, dir.path(), "env -u NO_COLOR"));
    tmux.wait_for("the dashboard", |s| {
        s.contains("Overview") && s.contains("UTC")
    });
    let p = port.to_string();

    // A publisher that stays connected: `-l` sends one message per stdin line.
    let mut publisher = Reap(
        Command::new("mosquitto_pub")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &p,
                "-i",
                "e2e-pub",
                "-t",
                "e2e/topic",
            ])
            .args(["-q", "1", "-l"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn mosquitto_pub"),
    );
    {
        let stdin = publisher.0.stdin.as_mut().expect("publisher stdin");
        for line in ["{\"temp\":21.5}", "hello", "42"] {
            writeln!(stdin, "{line}").expect("write to mosquitto_pub");
        }
        stdin.flush().expect("flush");
    }
    let mut subscriber = Reap(
        Command::new("mosquitto_sub")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &p,
                "-i",
                "e2e-sub",
                "-t",
                "e2e/typed",
            ])
            .args(["-C", "1", "-W", "20"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn mosquitto_sub"),
    );

    // Connections: both clients are listed as connected.
    tmux.keys(&["2"]);
    let screen = tmux.wait_for("e2e-pub and e2e-sub in Connections", |s| {
        s.contains("Connections") && s.contains("● e2e-pub") && s.contains("● e2e-sub")
    });
    let row = line_with(&screen, "e2e-pub").unwrap_or_default();
    assert!(row.contains("127.0.0.1:"), "no peer address: {row}");

    // Topics: the user tree is visible ($SYS starts collapsed) with the message count.
    tmux.keys(&["3"]);
    let screen = tmux.wait_for("e2e/topic in Topics", |s| {
        line_with(s, "▾ e2e").is_some() && line_with(s, " topic ").is_some_and(|l| l.contains('3'))
    });
    assert!(
        line_with(&screen, "▸ $SYS").is_some() || !screen.contains("$SYS"),
        "$SYS is not collapsed:\n{screen}"
    );

    // Pub/Sub: fill the form and publish (retained, so the subscriber gets it even if
    // its SUBSCRIBE lands after the publish).
    tmux.keys(&["5", "p"]);
    tmux.wait_for("the publish form", |s| s.contains("Enter sends"));
    tmux.type_text("e2e/typed");
    tmux.keys(&["Tab"]);
    tmux.type_text("hello-from-dashboard");
    tmux.keys(&["Tab", "Tab", "Space", "Enter"]);
    tmux.wait_for("the publish notice", |s| {
        s.contains("published to e2e/typed")
    });
    let status = wait_exit(&mut subscriber.0, "mosquitto_sub");
    assert!(status.success(), "mosquitto_sub failed: {status}");
    let mut out = String::new();
    if let Some(mut so) = subscriber.0.stdout.take() {
        std::io::Read::read_to_string(&mut so, &mut out).expect("read mosquitto_sub");
    }
    assert_eq!(out.trim(), "hello-from-dashboard");

    // The colour test's counterpart: without NO_COLOR the screen has SGR colours.
    assert!(tmux.capture(true).contains("\x1b["), "no colour escapes");

    // e2e-pub is still connected, so quitting asks first.
    quit_and_check(&tmux);
    drop(publisher);
}

#[test]
fn no_color_draws_without_colour_escapes() {
    if !have(&[TMUX]) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let tmux = Tmux::new();
    tmux.start(120, 36, &midge_cmd(port, dir.path(), "env NO_COLOR=1"));
    tmux.wait_for("the dashboard", |s| {
        s.contains("Overview") && s.contains("UTC")
    });
    for view in ["1", "2", "3", "5"] {
        tmux.keys(&[view]);
        // Wait for a redraw of that view, then look at the escapes of the whole pane.
        let title = match view {
            "1" => "Broker",
            "2" => "Connections",
            "3" => "Topics",
            _ => "Publish",
        };
        tmux.wait_for(title, |s| s.contains(&format!("┌ {title}")));
        let raw = tmux.capture(true);
        for (i, _) in raw.match_indices("\x1b[") {
            let sgr: String = raw[i + 2..]
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == ';')
                .collect();
            // Foreground/background colours: 30–38, 40–48, 90–97, 100–107.
            let colour = sgr
                .split(';')
                .filter_map(|p| p.parse::<u16>().ok())
                .any(|n| matches!(n, 30..=38 | 40..=48 | 90..=97 | 100..=107));
            assert!(!colour, "colour escape \\e[{sgr}m in view {view}:\n{raw}");
        }
    }
    quit_and_check(&tmux);
}

#[test]
fn closing_the_terminal_ends_the_dashboard_and_frees_its_port() {
    if !have(&[TMUX]) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let tmux = Tmux::new();
    tmux.start(100, 30, &midge_cmd(port, dir.path(), ""));
    tmux.wait_for("the dashboard", |s| s.contains("Overview"));
    // The terminal goes away (SIGHUP): midge must not stay behind, spinning on a dead tty.
    tmux.ok(&["kill-server"]);
    let start = Instant::now();
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            break;
        }
        assert!(
            start.elapsed() < WAIT,
            "midge still serves after its terminal closed"
        );
        std::thread::sleep(POLL);
    }
    let log = std::fs::read_to_string(dir.path().join("midge.log")).expect("log file");
    assert!(log.contains("SIGHUP"), "the exit was logged: {log}");
}
