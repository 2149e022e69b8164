//! The dashboard's tools for people who leave it open, with the real binary in tmux:
//! a flooding publisher tops Top talkers; a Sparkplug B message (protobuf bytes written
//! here by hand, independently of midge's prost structs) shows its metrics; `R` records
//! what a subscription delivers and `midge replay` publishes the file to a
//! `mosquitto_sub`; a publish template saved with `s` survives a restart.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::dashboard::{line_with, quit_and_check, wait_exit, Reap, Tmux};
use crate::support::free_port;
use crate::support::{have, MOSQUITTO_PUB, MOSQUITTO_SUB, TMUX};

/// The dashboard on `port`, run from `dir` (where `R` writes), its data in `dir/data`.
fn start(tmux: &Tmux, port: u16, dir: &Path) {
    tmux.start(
        160,
        48,
        &format!(
            "cd '{}' && '{}' -l 127.0.0.1:{port} --data-dir '{}' --log-file '{}'",
            dir.display(),
            env!("CARGO_BIN_EXE_midge"),
            dir.join("data").display(),
            dir.join("midge.log").display()
        ),
    );
    tmux.wait_for("the dashboard", |s| {
        s.contains("Overview") && s.contains("UTC")
    });
}

// ---- a minimal protobuf writer (varints and length-delimited fields) ----------------

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn field_varint(tag: u32, v: u64, out: &mut Vec<u8>) {
    varint(u64::from(tag << 3), out);
    varint(v, out);
}

fn field_bytes(tag: u32, b: &[u8], out: &mut Vec<u8>) {
    varint(u64::from(tag << 3 | 2), out);
    varint(b.len() as u64, out);
    out.extend_from_slice(b);
}

/// A Sparkplug B DDATA payload (sparkplug_b.proto field numbers): seq 1 and two metrics.
fn sparkplug_ddata() -> Vec<u8> {
    let mut temp = Vec::new();
    field_bytes(1, b"Press/Temperature", &mut temp); // name
    field_varint(2, 1, &mut temp); // alias
    field_varint(4, 9, &mut temp); // datatype Float
    varint(u64::from(12u32 << 3 | 5), &mut temp); // float_value, fixed32
    temp.extend_from_slice(&71.25f32.to_le_bytes());
    let mut running = Vec::new();
    field_bytes(1, b"Press/Running", &mut running);
    field_varint(2, 2, &mut running);
    field_varint(4, 11, &mut running); // datatype Boolean
    field_varint(14, 1, &mut running); // boolean_value
    let mut p = Vec::new();
    field_varint(1, 1_749_988_800_000, &mut p); // timestamp
    field_bytes(2, &temp, &mut p);
    field_bytes(2, &running, &mut p);
    field_varint(3, 1, &mut p); // seq
    p
}

fn mosquitto_pub(port: u16, args: &[&str]) {
    let out = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .expect("run mosquitto_pub");
    assert!(out.status.success(), "mosquitto_pub {args:?}: {out:?}");
}

/// The one `midge-*.jsonl` recording in `dir`.
fn recording(dir: &Path) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    assert_eq!(
        files.len(),
        1,
        "one recording in {}: {files:?}",
        dir.display()
    );
    files[0].clone()
}

#[test]
fn top_talkers_sparkplug_record_replay_and_templates() {
    if !have(&[TMUX, MOSQUITTO_PUB, MOSQUITTO_SUB]) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let p = port.to_string();
    let tmux = Tmux::new();
    start(&tmux, port, dir.path());

    // A flooding publisher (bounded: it stops when the test is done or after 60 s) and
    // a quiet one.
    let mut flood = Reap(
        Command::new("mosquitto_pub")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &p,
                "-i",
                "e2e-flood",
                "-t",
                "flood/x",
                "-l",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn mosquitto_pub"),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let mut stdin = flood.0.stdin.take().expect("stdin");
    let flooding = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let start = Instant::now();
            while !stop.load(Ordering::Relaxed) && start.elapsed() < Duration::from_secs(60) {
                for i in 0..50 {
                    if writeln!(stdin, "reading {i}").is_err() {
                        return;
                    }
                }
                let _ = stdin.flush();
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    mosquitto_pub(port, &["-i", "e2e-quiet", "-t", "quiet/x", "-m", "1"]);

    // Top talkers: the flood is the first topic and its publisher the first client.
    tmux.keys(&["9"]);
    tmux.wait_for("flood/x first in Top topics", |s| {
        line_with(s, " 1 flood/x").is_some()
    });
    tmux.keys(&["l"]);
    tmux.wait_for("e2e-flood first in Top clients", |s| {
        line_with(s, " 1 e2e-flood").is_some()
    });
    stop.store(true, Ordering::Relaxed);
    let _ = flooding.join();
    drop(flood);

    // Sparkplug B under spBv1.0/: decoded by default, metrics by name with values.
    let sp = dir.path().join("ddata.bin");
    std::fs::write(&sp, sparkplug_ddata()).expect("write payload");
    mosquitto_pub(
        port,
        &[
            "-t",
            "spBv1.0/plant/DDATA/edge1/press",
            "-f",
            &sp.display().to_string(),
        ],
    );
    tmux.keys(&["3", "/"]);
    tmux.type_text("DDATA");
    tmux.keys(&["Enter", "G"]);
    let screen = tmux.wait_for("the decoded Sparkplug metrics", |s| {
        s.contains("sparkplug") && s.contains("Press/Temperature")
    });
    let temp = line_with(&screen, "Press/Temperature").unwrap_or_default();
    assert!(temp.contains("Float") && temp.contains("71.25"), "{temp}");
    let running = line_with(&screen, "Press/Running").unwrap_or_default();
    assert!(
        running.contains("Boolean") && running.contains("true"),
        "{running}"
    );
    tmux.keys(&["Escape"]);

    // Record what a subscription delivers, then stop.
    tmux.keys(&["5", "a"]);
    tmux.type_text("rec/#");
    tmux.keys(&["Tab", "Enter"]);
    tmux.wait_for("the subscription", |s| {
        s.contains("rec/#") && s.contains("QoS 1")
    });
    tmux.keys(&["R"]);
    tmux.wait_for("recording", |s| s.contains("● REC"));
    for (topic, payload) in [("rec/a", "one"), ("rec/b", "two"), ("rec/c", "three")] {
        mosquitto_pub(port, &["-q", "1", "-t", topic, "-m", payload]);
    }
    tmux.wait_for("three messages recorded", |s| {
        line_with(s, "● REC").is_some_and(|l| l.contains(".jsonl 3 "))
    });
    tmux.keys(&["R"]);
    tmux.wait_for("the recording's notice", |s| {
        s.contains("recorded 3 messages")
    });
    let file = recording(dir.path());

    // midge replay publishes it to a mosquitto_sub.
    let sub = Command::new("mosquitto_sub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &p,
            "-i",
            "e2e-replay-sub",
            "-t",
            "rec/#",
            "-v",
        ])
        .args(["-q", "1", "-C", "3", "-W", "20"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn mosquitto_sub");
    let mut sub = Reap(sub);
    // Wait for its subscription to be in place: it shows in Connections.
    tmux.keys(&["2"]);
    tmux.wait_for("the replay subscriber", |s| s.contains("● e2e-replay-sub"));
    let replay = Command::new(env!("CARGO_BIN_EXE_midge"))
        .args([
            "replay",
            &file.display().to_string(),
            &format!("mqtt://127.0.0.1:{port}"),
        ])
        .arg("--as-fast-as-possible")
        .output()
        .expect("run midge replay");
    assert!(replay.status.success(), "midge replay: {replay:?}");
    let status = wait_exit(&mut sub.0, "mosquitto_sub");
    assert!(status.success(), "mosquitto_sub: {status}");
    let mut out = String::new();
    if let Some(mut so) = sub.0.stdout.take() {
        std::io::Read::read_to_string(&mut so, &mut out).expect("read mosquitto_sub");
    }
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["rec/a one", "rec/b two", "rec/c three"]
    );

    // A template saved with `s`, then a restart.
    tmux.keys(&["5", "p"]);
    tmux.wait_for("the publish form", |s| s.contains("Enter sends"));
    tmux.type_text("tpl/x");
    tmux.keys(&["Tab"]);
    tmux.type_text("from-a-template");
    // Escape alone (an Escape followed at once by `s` would read as Alt-s).
    tmux.keys(&["Escape"]);
    tmux.wait_for("the form left", |s| s.contains("p edits, s saves"));
    tmux.keys(&["s"]);
    tmux.wait_for("the name prompt", |s| s.contains("Save as template"));
    tmux.keys(&["C-u"]);
    tmux.type_text("my-template");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the saved notice", |s| {
        s.contains("saved template my-template")
    });
    quit_and_check(&tmux);
    drop(tmux);

    let tmux = Tmux::new();
    start(&tmux, port, dir.path());
    let mut sub = Reap(
        Command::new("mosquitto_sub")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &p,
                "-i",
                "e2e-tpl-sub",
                "-t",
                "tpl/x",
            ])
            .args(["-C", "1", "-W", "20"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn mosquitto_sub"),
    );
    tmux.keys(&["2"]);
    tmux.wait_for("the template subscriber", |s| s.contains("● e2e-tpl-sub"));
    tmux.keys(&["5", "t"]);
    tmux.wait_for("the template after a restart", |s| {
        line_with(s, "my-template").is_some_and(|l| l.contains("tpl/x"))
    });
    tmux.keys(&["Enter"]);
    tmux.wait_for("the form filled from it", |s| s.contains("from-a-template"));
    tmux.keys(&["Enter"]);
    tmux.wait_for("the publish notice", |s| s.contains("published to tpl/x"));
    let status = wait_exit(&mut sub.0, "mosquitto_sub");
    assert!(status.success(), "mosquitto_sub: {status}");
    let mut out = String::new();
    if let Some(mut so) = sub.0.stdout.take() {
        std::io::Read::read_to_string(&mut so, &mut out).expect("read mosquitto_sub");
    }
    assert_eq!(out.trim(), "from-a-template");
    quit_and_check(&tmux);
}
