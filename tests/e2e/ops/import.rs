//! `midge import-mosquitto`: the example config Debian ships with Mosquitto (as shipped,
//! and with every option line that has a value uncommented) and the one it installs in
//! /etc/mosquitto (with its `include_dir`) import into files that `midge check-config`
//! accepts; and a config written here, with two listeners (one TLS),
//! a password file made by `mosquitto_passwd` and an ACL, round-trips: midge started
//! from the imported TOML refuses anonymous clients, lets the user in on both listeners,
//! and applies the ACL.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::Command;

use crate::bytes as b;
use crate::support::{
    free_port, have, within, Raw, MOSQUITTO, MOSQUITTO_PASSWD, MOSQUITTO_PUB, MOSQUITTO_SUB,
};
use crate::transport::pki::{run, Pki};

fn midge() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_midge"));
    c.stdin(Stdio::null()).kill_on_drop(true);
    c
}

/// `midge import-mosquitto conf` → `dir/midge.toml`; returns its path and text.
async fn import(conf: &Path, dir: &Path) -> (PathBuf, String) {
    let out = within(10.0, midge().arg("import-mosquitto").arg(conf).output())
        .await
        .expect("midge runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let toml = String::from_utf8(out.stdout).expect("utf-8");
    let path = dir.join("midge.toml");
    std::fs::write(&path, &toml).expect("write midge.toml");
    (path, toml)
}

async fn check_config(path: &Path, toml: &str) {
    let out = within(
        10.0,
        midge().arg("check-config").arg("-c").arg(path).output(),
    )
    .await
    .expect("midge runs");
    assert!(
        out.status.success(),
        "check-config refused the imported file: {}\n{toml}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Debian's example, as text (it may be gzipped in some releases).
fn debian_example() -> Option<String> {
    let dir = Path::new("/usr/share/doc/mosquitto/examples");
    if let Ok(text) = std::fs::read_to_string(dir.join("mosquitto.conf")) {
        return Some(text);
    }
    let gz = dir.join("mosquitto.conf.gz");
    let out = std::process::Command::new("gzip")
        .arg("-dc")
        .arg(&gz)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test]
async fn the_debian_example_config_imports_and_checks() {
    if !have(&[MOSQUITTO]) {
        return;
    }
    let Some(example) = debian_example() else {
        let why = "/usr/share/doc/mosquitto/examples/mosquitto.conf(.gz) is missing; \
                   scripts/test-deps reinstalls the mosquitto package";
        assert!(std::env::var("CI").is_err(), "{why}");
        eprintln!("SKIPPED: {why}");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let shipped = dir.path().join("shipped.conf");
    std::fs::write(&shipped, &example).expect("write");
    let (path, toml) = import(&shipped, dir.path()).await;
    check_config(&path, &toml).await;

    // Every `#option value` line of the example (the documented defaults) switched on.
    let on: String = example
        .lines()
        .filter_map(|l| {
            let l = l.strip_prefix('#')?;
            let (opt, value) = l.split_once(' ')?;
            let plain = opt.chars().all(|c| c.is_ascii_lowercase() || c == '_');
            (plain && !opt.is_empty() && !value.contains(['<', '[', '|']) && !value.is_empty())
                .then(|| format!("{l}\n"))
        })
        .collect();
    assert!(on.lines().count() > 30, "{on}");
    let uncommented = dir.path().join("uncommented.conf");
    std::fs::write(&uncommented, &on).expect("write");
    let (path, toml) = import(&uncommented, dir.path()).await;
    check_config(&path, &toml).await;
    // Each option midge cannot take is named, with a reason.
    for option in ["autosave_interval", "log_type", "user", "max_qos"] {
        let noted = toml.contains(&format!("# not carried: {option} — "));
        // max_qos 2 is what midge does: nothing to say.
        assert_eq!(noted, option != "max_qos", "{option}:\n{toml}");
    }
    assert!(toml.contains("max_inflight = 20"), "{toml}");

    // The config the package installs (persistence on, include_dir conf.d), if present.
    let installed = Path::new("/etc/mosquitto/mosquitto.conf");
    if installed.exists() {
        let (path, toml) = import(installed, dir.path()).await;
        check_config(&path, &toml).await;
        assert!(
            !toml.contains("include_dir"),
            "conf.d is read, not noted:\n{toml}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mosquitto_config_round_trips_through_midge() {
    if !have(&[MOSQUITTO, MOSQUITTO_PASSWD, MOSQUITTO_PUB, MOSQUITTO_SUB]) {
        return;
    }
    // The bridge's far end: a real Mosquitto.
    let remote = crate::bridge::Mosquitto::start("").await;
    let pki = Pki::new();
    let tls = pki.server("server");
    let dir = pki.dir.path();
    let passwd = dir.join("passwd");
    let made = run(
        "mosquitto_passwd",
        &[
            "-c".into(),
            "-b".into(),
            passwd.display().to_string(),
            "alice".into(),
            "s3cret".into(),
        ],
    )
    .await;
    assert!(made.status.success(), "{made:?}");
    let acl = dir.join("acl");
    // The bridge's local side has no username: the anonymous section lets it read sensors/#.
    std::fs::write(
        &acl,
        "topic read sensors/#\nuser alice\ntopic readwrite sensors/#\n",
    )
    .expect("write acl");
    let (plain, secure) = (free_port(), free_port());
    let conf = format!(
        "# written by the e2e test\n\
         per_listener_settings false\n\
         listener {plain} 127.0.0.1\n\
         listener {secure} 127.0.0.1\n\
         certfile {}\nkeyfile {}\n\
         password_file {}\nacl_file {}\n\
         allow_anonymous false\n\
         max_inflight_messages 10\n\
         persistence true\npersistence_location {}/data/\n\
         sys_interval 0\n\
         log_type all\n\
         connection cloud\naddress 127.0.0.1:{}\nremote_clientid site.cloud\n\
         topic sensors/# out 1\n",
        tls.cert.display(),
        tls.key.display(),
        passwd.display(),
        acl.display(),
        dir.display(),
        remote.port,
    );
    let conf_path = dir.join("mosquitto.conf");
    std::fs::write(&conf_path, conf).expect("write conf");
    let (path, toml) = import(&conf_path, dir).await;
    check_config(&path, &toml).await;

    let path = path.to_str().expect("utf-8 path");
    let (_midge, addrs, _) = super::spawn(&["-c", path], 2).await;
    assert_eq!(addrs[0].port(), plain, "{toml}");
    assert_eq!(addrs[1].port(), secure, "{toml}");

    // allow_anonymous false carried: 3.1.1 CONNACK 0x05 (not authorized).
    let (_raw, ack) = Raw::connect_with(
        addrs[0],
        midge::protocol::ProtocolVersion::V3_1_1,
        &b::connect(4, "anon", true, 0, None, None),
    )
    .await;
    assert!(ack.reason.is_error(), "{ack:?}");

    // The password file carried: alice publishes a retained message on the plain listener…
    let user = [
        "-u".to_owned(),
        "alice".into(),
        "-P".into(),
        "s3cret".into(),
    ];
    let mut args = vec![
        "-h".to_owned(),
        "127.0.0.1".into(),
        "-p".into(),
        plain.to_string(),
    ];
    args.extend(user.iter().cloned());
    args.extend(["-t", "sensors/1", "-m", "hello", "-r", "-q", "1"].map(String::from));
    let out = run("mosquitto_pub", &args).await;
    assert!(out.status.success(), "{out:?}");
    // …and reads it back over TLS on the other; the ACL carried: outside sensors/# she
    // gets nothing (a retained message there is refused silently).
    let mut args = vec![
        "-h".to_owned(),
        "127.0.0.1".into(),
        "-p".into(),
        secure.to_string(),
    ];
    args.extend(["--cafile".to_owned(), pki.ca().display().to_string()]);
    args.extend(user.iter().cloned());
    args.extend(["-t", "sensors/#", "-C", "1", "-W", "10"].map(String::from));
    let out = run("mosquitto_sub", &args).await;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hello");
    // The `connection` carried as a [[bridge]]: the retained message reaches the remote.
    let args = [
        "-h",
        "127.0.0.1",
        "-p",
        &remote.port.to_string(),
        "-t",
        "sensors/#",
        "-C",
        "1",
        "-W",
        "10",
    ]
    .map(String::from)
    .to_vec();
    let out = run("mosquitto_sub", &args).await;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "hello",
        "{toml}"
    );
    let mut args = vec![
        "-h".to_owned(),
        "127.0.0.1".into(),
        "-p".into(),
        plain.to_string(),
    ];
    args.extend(user.iter().cloned());
    args.extend(["-t", "other/1", "-m", "no", "-r", "-q", "1"].map(String::from));
    let _ = run("mosquitto_pub", &args).await;
    let mut args = vec![
        "-h".to_owned(),
        "127.0.0.1".into(),
        "-p".into(),
        plain.to_string(),
    ];
    args.extend(user.iter().cloned());
    args.extend(["-t", "other/#", "-C", "1", "-W", "1"].map(String::from));
    let out = run("mosquitto_sub", &args).await;
    assert!(
        String::from_utf8_lossy(&out.stdout).trim().is_empty(),
        "{out:?}"
    );
}
