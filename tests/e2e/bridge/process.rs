//! Bridges in the real binary: kill -9 with the remote down loses nothing acknowledged,
//! SIGHUP adds and removes bridges, and a bad `[[bridge]]` is refused with exit 2.

use std::path::PathBuf;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, IsCa, KeyPair,
    KeyUsagePurpose,
};

use super::{no_more, take, topics_payloads, until_state, Mosquitto};
use crate::bytes as b;
use crate::durability::Midge;
use crate::support::{have, raw_sub, within, Raw, MOSQUITTO};

/// A CA and a server certificate for 127.0.0.1, as files.
pub struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "bridge test CA");
        params.distinguished_name = dn;
        let ca =
            CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("ca");
        let server = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("params");
        let key = KeyPair::generate().expect("key");
        let cert = server.signed_by(&key, &*ca).expect("sign");
        let pki = Pki { dir };
        std::fs::write(pki.ca(), ca.pem()).expect("write");
        std::fs::write(pki.server_cert(), cert.pem()).expect("write");
        std::fs::write(pki.server_key(), key.serialize_pem()).expect("write");
        pki
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }
    pub fn server_cert(&self) -> PathBuf {
        self.dir.path().join("server.crt")
    }
    pub fn server_key(&self) -> PathBuf {
        self.dir.path().join("server.key")
    }
}

fn midge_config(bridges: &str) -> String {
    format!("[storage]\nsync = \"always\"\n[sys]\ninterval_secs = 0\n{bridges}")
}

/// kill -9 of midge while the remote is down: every QoS 1 message midge acknowledged
/// arrives, once and in order, after midge restarts and the remote returns.
#[tokio::test]
async fn kill9_with_the_remote_down_loses_nothing_acknowledged() {
    if !have(&[MOSQUITTO]) {
        return;
    }
    let mut m =
        Mosquitto::start("persistence true\npersistence_location {dir}/\nautosave_interval 0\n")
            .await;
    let (mut rsub, _) = Raw::v4(m.addr(), "rsub", false).await;
    assert_eq!(rsub.subscribe(1, "k/#", 1).await, [1]);
    rsub.send(&b::disconnect(None)).await;
    m.stop().await;

    let dir = tempfile::tempdir().expect("tempdir");
    let config = midge_config(&format!(
        "[[bridge]]\nname = \"k\"\nclient_id = \"k.test\"\naddress = \"mqtt://{}\"\ntopics = [\"k/# out 1\"]\n",
        m.addr()
    ));
    let midge = Midge::start_with(dir.path(), &config, None).await;
    until_state(midge.addr, "k.test", "0").await;
    let (mut p, _) = Raw::v4(midge.addr, "lpub", true).await;
    for i in 0..50u16 {
        p.publish1(&format!("k/{i}"), i + 1, format!("m{i}").as_bytes())
            .await;
    }
    midge.kill9().await;

    let midge = Midge::start_with(dir.path(), &config, None).await;
    m.restart().await;
    until_state(midge.addr, "k.test", "1").await;
    let (mut rsub, ack) = Raw::v4(m.addr(), "rsub", false).await;
    assert!(ack.session_present);
    let got = take(&mut rsub, 50).await;
    let want: Vec<(String, String)> = (0..50)
        .map(|i| (format!("k/{i}"), format!("m{i}")))
        .collect();
    assert_eq!(topics_payloads(&got), want);
    no_more(&mut rsub).await;
    midge.kill9().await;
}

/// SIGHUP re-reads `[[bridge]]`: an added bridge starts, a changed one reconnects with
/// its new topics (the old `out` filter is dropped from its kept session), a removed one
/// stops ("0").
#[tokio::test]
async fn sighup_adds_changes_and_removes_bridges() {
    if !have(&[MOSQUITTO]) {
        return;
    }
    let m = Mosquitto::start("").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut midge = Midge::start_with(dir.path(), &midge_config(""), None).await;
    let mut rsub = raw_sub(m.addr(), "rsub", "#", 1).await;
    let with = |topic: &str| {
        midge_config(&format!(
            "[[bridge]]\nname = \"h\"\nclient_id = \"h.test\"\naddress = \"mqtt://{}\"\ntopics = [\"{topic} out 1\"]\n",
            m.addr()
        ))
    };
    let reload = async |midge: &mut Midge, config: String| {
        std::fs::write(dir.path().join("midge.toml"), config).expect("write");
        std::process::Command::new("kill")
            .args(["-HUP", &midge.pid().to_string()])
            .status()
            .expect("kill runs");
        midge
            .log_line(20.0, |l| l.contains("bridges reloaded"))
            .await;
    };
    reload(&mut midge, with("h/#")).await;
    until_state(midge.addr, "h.test", "1").await;
    let (mut p, _) = Raw::v4(midge.addr, "lpub", true).await;
    p.publish1("h/1", 1, b"one").await;
    assert_eq!(
        topics_payloads(&take(&mut rsub, 1).await),
        [("h/1".into(), "one".into())]
    );

    reload(&mut midge, with("g/#")).await;
    until_state(midge.addr, "h.test", "1").await;
    p.publish1("h/2", 2, b"old").await;
    p.publish1("g/1", 3, b"new").await;
    assert_eq!(
        topics_payloads(&take(&mut rsub, 1).await),
        [("g/1".into(), "new".into())]
    );

    reload(&mut midge, midge_config("")).await;
    until_state(midge.addr, "h.test", "0").await;
    p.publish1("g/2", 4, b"gone").await;
    no_more(&mut rsub).await;
    midge.kill9().await;
}

/// A bad `[[bridge]]` is refused at start-up and by check-config: exit 2, naming the
/// file, the line and the key.
#[tokio::test]
async fn bad_bridge_configuration_exits_2_naming_file_line_and_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        (
            "[[bridge]]\nname = \"x\"\naddress = \"mqtt://h\"\ntopics = [\"a/# sideways\"]\n",
            ":4: [[bridge]] topics",
            "unknown direction",
        ),
        (
            "[[bridge]]\nname = \"x\"\naddress = \"mqtt://h\"\ntopics = [\"a/# out 3\"]\n",
            ":4: [[bridge]] topics",
            "QoS",
        ),
        (
            "[[bridge]]\nname = \"x\"\naddress = \"tcp://h\"\n",
            ":3: [[bridge]] address",
            "mqtt://",
        ),
        (
            "[[bridge]]\nname = \"x\"\naddress = \"mqtt://h\"\n\n[[bridge]]\nname = \"x\"\naddress = \"mqtt://g\"\n",
            ":6: [[bridge]] name",
            "already used",
        ),
    ];
    for (text, at, why) in cases {
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, text).expect("write");
        for args in [
            vec![
                "--headless".to_owned(),
                "--in-memory".to_owned(),
                "-c".to_owned(),
                path.display().to_string(),
            ],
            vec![
                "check-config".to_owned(),
                "-c".to_owned(),
                path.display().to_string(),
            ],
        ] {
            let out = within(
                10.0,
                tokio::process::Command::new(env!("CARGO_BIN_EXE_midge"))
                    .args(&args)
                    .output(),
            )
            .await
            .expect("midge runs");
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
            assert!(err.contains(&format!("bad.toml{at}")), "{err}");
            assert!(err.contains(why), "{err}");
        }
    }
    // check-config loads the bridge's CA file.
    let path = dir.path().join("tls.toml");
    std::fs::write(
        &path,
        "[[bridge]]\nname = \"t\"\naddress = \"mqtts://h\"\n[bridge.tls]\nca = \"missing-ca.crt\"\n",
    )
    .expect("write");
    let out = within(
        10.0,
        tokio::process::Command::new(env!("CARGO_BIN_EXE_midge"))
            .args(["check-config", "-c"])
            .arg(&path)
            .output(),
    )
    .await
    .expect("midge runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("missing-ca.crt"), "{err}");
}
