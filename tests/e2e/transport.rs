//! Transports end to end: mqtts with the Mosquitto clients and rumqttc, mutual TLS and
//! `identity_as_username`, MQTT over WebSocket (plain and TLS) with raw MQTT bytes, and
//! the failure paths (plaintext on a TLS port, stalled handshakes, certificate reload).
//! Self-contained: its helpers live in `transport/pki.rs`.

pub(crate) mod pki;
mod ws;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::{have, MOSQUITTO_PUB, MOSQUITTO_SUB, STDBUF};
use midge::auth::{AclFile, Authenticator};
use midge::config::ListenerKind;
use pki::{client_config, listener, open, port_args, run, start, Pki, Sub, T};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// CONNECT, MQTT 3.1.1, clean session, keep-alive 60, client id `id` (short).
fn connect(id: &str) -> Vec<u8> {
    let mut v = vec![
        0x10,
        12 + id.len() as u8,
        0,
        4,
        b'M',
        b'Q',
        b'T',
        b'T',
        4,
        0x02,
        0,
        60,
        0,
    ];
    v.push(id.len() as u8);
    v.extend_from_slice(id.as_bytes());
    v
}
const CONNACK_OK: &[u8] = &[0x20, 2, 0, 0];
const PINGREQ: &[u8] = &[0xC0, 0];
const PINGRESP: &[u8] = &[0xD0, 0];

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| (*x).to_owned()).collect()
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

/// Reads until EOF (or a reset); returns what came. Panics if the peer keeps it open.
async fn read_to_close<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> Vec<u8> {
    let mut got = Vec::new();
    let _ = tokio::time::timeout(T, stream.read_to_end(&mut got))
        .await
        .expect("the server closes the connection");
    got
}

/// CONNECT → CONNACK and PINGREQ → PINGRESP on any byte stream.
async fn mqtt_hello<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    stream: &mut S,
    id: &str,
) {
    stream.write_all(&connect(id)).await.expect("send CONNECT");
    expect_bytes(stream, CONNACK_OK).await;
    ping(stream).await;
}

async fn ping<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(stream: &mut S) {
    stream.write_all(PINGREQ).await.expect("send PINGREQ");
    expect_bytes(stream, PINGRESP).await;
}

async fn expect_bytes<S: tokio::io::AsyncRead + Unpin>(stream: &mut S, want: &[u8]) {
    let mut got = vec![0u8; want.len()];
    tokio::time::timeout(T, stream.read_exact(&mut got))
        .await
        .expect("reply in time")
        .expect("read reply");
    assert_eq!(got, want);
}

async fn tls_connect(
    addr: std::net::SocketAddr,
    config: Arc<rustls::ClientConfig>,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").expect("server name");
    tokio::time::timeout(
        T,
        tokio_rustls::TlsConnector::from(config).connect(name, tcp),
    )
    .await
    .expect("TLS handshake finishes")
}

#[tokio::test]
async fn mqtts_round_trip_with_mosquitto_clients() {
    if !have(&[MOSQUITTO_PUB, MOSQUITTO_SUB, STDBUF]) {
        return;
    }
    let pki = Pki::new();
    let broker = start(
        vec![listener(ListenerKind::Tcp, Some(pki.server("server")))],
        open(),
        10,
    )
    .await;
    let mut args = port_args(broker.local_addrs()[0]);
    args.extend(s(&["--cafile", &p(&pki.ca())]));
    let (mut sub, suback) =
        Sub::start(&[args.clone(), s(&["-t", "tls/t", "-q", "1"])].concat()).await;
    assert!(suback.ends_with(": 1"), "{suback}");
    let out = run(
        "mosquitto_pub",
        &[args, s(&["-t", "tls/t", "-q", "1", "-m", "over-tls"])].concat(),
    )
    .await;
    assert!(out.status.success(), "{out:?}");
    sub.wait_for("over-tls").await;
}

#[tokio::test]
async fn mutual_tls_requires_a_certificate_from_the_client_ca() {
    if !have(&[MOSQUITTO_PUB, MOSQUITTO_SUB, STDBUF]) {
        return;
    }
    let pki = Pki::new();
    let mut tls = pki.server("server");
    tls.client_ca = Some(pki.ca());
    let broker = start(vec![listener(ListenerKind::Tcp, Some(tls))], open(), 10).await;
    let (cert, key) = pki.client("client", "device-1");
    let mut base = port_args(broker.local_addrs()[0]);
    base.extend(s(&["--cafile", &p(&pki.ca())]));
    let with_cert = [base.clone(), s(&["--cert", &p(&cert), "--key", &p(&key)])].concat();

    let (mut sub, _) = Sub::start(&[with_cert.clone(), s(&["-t", "m/t"])].concat()).await;
    let out = run(
        "mosquitto_pub",
        &[with_cert, s(&["-t", "m/t", "-m", "mutual"])].concat(),
    )
    .await;
    assert!(out.status.success(), "with a certificate: {out:?}");
    sub.wait_for("mutual").await;

    let out = run(
        "mosquitto_pub",
        &[base.clone(), s(&["-t", "m/t", "-m", "x"])].concat(),
    )
    .await;
    assert!(!out.status.success(), "without a certificate: {out:?}");

    // A certificate from another CA is refused too.
    let stranger = Pki::new();
    let (cert, key) = stranger.client("client", "device-1");
    let out = run(
        "mosquitto_pub",
        &[
            base,
            s(&[
                "--cert",
                &p(&cert),
                "--key",
                &p(&key),
                "-t",
                "m/t",
                "-m",
                "x",
            ]),
        ]
        .concat(),
    )
    .await;
    assert!(!out.status.success(), "foreign certificate: {out:?}");
}

#[tokio::test]
async fn identity_as_username_uses_the_certificate_cn() {
    if !have(&[MOSQUITTO_PUB, MOSQUITTO_SUB, STDBUF]) {
        return;
    }
    let pki = Pki::new();
    let mut tls = pki.server("server");
    tls.client_ca = Some(pki.ca());
    tls.identity_as_username = true;
    // No anonymous clients and no password file: only the certificate can name the user,
    // and the ACL lets only that name use `cn/#`.
    let acl =
        AclFile::parse("user device-42\ntopic readwrite cn/#\n", Path::new("acl")).expect("acl");
    let access = Arc::new(Authenticator::from_parts(false, None, Some(acl)));
    let broker = start(vec![listener(ListenerKind::Tcp, Some(tls))], access, 10).await;
    let mut base = port_args(broker.local_addrs()[0]);
    base.extend(s(&["--cafile", &p(&pki.ca())]));
    let (cert, key) = pki.client("device", "device-42");
    let device = [base.clone(), s(&["--cert", &p(&cert), "--key", &p(&key)])].concat();

    let (mut sub, suback) = Sub::start(&[device.clone(), s(&["-t", "cn/#"])].concat()).await;
    assert!(suback.ends_with(": 0"), "device-42 may subscribe: {suback}");
    // A username and password on the command line do not matter: the CN is the name.
    let out = run(
        "mosquitto_pub",
        &[
            device,
            s(&["-u", "someone", "-P", "x", "-t", "cn/a", "-m", "from-cn"]),
        ]
        .concat(),
    )
    .await;
    assert!(out.status.success(), "{out:?}");
    sub.wait_for("from-cn").await;

    // Another certificate from the same CA gets in, but as another user.
    let (cert, key) = pki.client("intruder", "intruder");
    let other = [base, s(&["--cert", &p(&cert), "--key", &p(&key)])].concat();
    let (_sub, suback) = Sub::start(&[other, s(&["-t", "cn/#"])].concat()).await;
    assert!(
        suback.ends_with(": 128"),
        "intruder is refused by the ACL: {suback}"
    );

    // A certificate without a CN names nobody: the handshake is refused.
    let (cert, key) = pki.client("nameless", "");
    let out = run(
        "mosquitto_pub",
        &[
            port_args(broker.local_addrs()[0]),
            s(&[
                "--cafile",
                &p(&pki.ca()),
                "--cert",
                &p(&cert),
                "--key",
                &p(&key),
            ]),
            s(&["-t", "cn/a", "-m", "x"]),
        ]
        .concat(),
    )
    .await;
    assert!(!out.status.success(), "no CN: {out:?}");
}

#[tokio::test]
async fn rumqttc_over_tls() {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, TlsConfiguration, Transport};
    let pki = Pki::new();
    let broker = start(
        vec![listener(ListenerKind::Tcp, Some(pki.server("server")))],
        open(),
        10,
    )
    .await;
    let port = broker.local_addrs()[0].port();
    let mut opts = MqttOptions::new("rumqttc-tls", "127.0.0.1", port);
    opts.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
        client_config(&pki.ca(), None),
    )));
    let (client, mut events) = AsyncClient::new(opts, 16);
    client
        .subscribe("r/t", QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    client
        .publish("r/t", QoS::AtLeastOnce, false, b"rumqttc".to_vec())
        .await
        .expect("publish");
    let got = tokio::time::timeout(T, async {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => return p,
                Ok(_) => {}
                Err(e) => panic!("rumqttc: {e}"),
            }
        }
    })
    .await
    .expect("message in time");
    assert_eq!(&got.payload[..], b"rumqttc");
}

#[tokio::test]
async fn plaintext_on_the_tls_port_is_dropped_and_others_are_undisturbed() {
    let pki = Pki::new();
    let broker = start(
        vec![
            listener(ListenerKind::Tcp, Some(pki.server("server"))),
            listener(ListenerKind::Tcp, None),
        ],
        open(),
        10,
    )
    .await;
    let (tls_addr, tcp_addr) = (broker.local_addrs()[0], broker.local_addrs()[1]);
    // A TLS client already connected stays up through all of this.
    let mut tls_client = tls_connect(tls_addr, client_config(&pki.ca(), None))
        .await
        .expect("TLS client");
    mqtt_hello(&mut tls_client, "tls-client").await;

    let mut plain = TcpStream::connect(tls_addr).await.expect("connect");
    plain.write_all(&connect("plain")).await.expect("send");
    let got = read_to_close(&mut plain).await;
    assert!(
        !got.starts_with(&[0x20]),
        "no CONNACK over plaintext: {got:?}"
    );

    let mut tcp = TcpStream::connect(tcp_addr).await.expect("connect");
    mqtt_hello(&mut tcp, "tcp").await;
    ping(&mut tls_client).await;
}

#[tokio::test]
async fn stalled_handshakes_are_closed_after_connect_timeout() {
    let pki = Pki::new();
    let broker = start(
        vec![
            listener(ListenerKind::Tcp, Some(pki.server("server"))),
            listener(ListenerKind::Ws, Some(pki.server("server2"))),
            listener(ListenerKind::Ws, None),
        ],
        open(),
        1,
    )
    .await;
    let started = Instant::now();
    let mut silent = Vec::new();
    for addr in broker.local_addrs() {
        silent.push(TcpStream::connect(addr).await.expect("connect"));
    }
    // Meanwhile a real client completes its handshake: the stalled ones block nobody.
    let mut ok = tls_connect(broker.local_addrs()[0], client_config(&pki.ca(), None))
        .await
        .expect("TLS client");
    mqtt_hello(&mut ok, "ok").await;
    for mut s in silent {
        let got = read_to_close(&mut s).await;
        assert!(got.is_empty(), "nothing but a close: {got:?}");
    }
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "not before the timeout"
    );
}

#[tokio::test]
async fn reload_serves_the_new_certificate_and_keeps_open_connections() {
    let old_ca = Pki::new();
    let tls = old_ca.server("server");
    let broker = start(
        vec![listener(ListenerKind::Tcp, Some(tls.clone()))],
        open(),
        10,
    )
    .await;
    let addr = broker.local_addrs()[0];
    let mut before = tls_connect(addr, client_config(&old_ca.ca(), None))
        .await
        .expect("old certificate");
    mqtt_hello(&mut before, "before").await;

    // A broken file: reload fails, naming it, and the old certificate stays in use.
    std::fs::write(&tls.key, "not a key\n").expect("break key");
    let err = broker.listeners().reload().expect_err("bad key");
    assert!(err.to_string().contains("server.key"), "{err}");
    tls_connect(addr, client_config(&old_ca.ca(), None))
        .await
        .expect("old certificate still served");

    // New certificate from another CA, written over the same files.
    let new_ca = Pki::new();
    let fresh = new_ca.server("server");
    std::fs::copy(&fresh.cert, &tls.cert).expect("copy cert");
    std::fs::copy(&fresh.key, &tls.key).expect("copy key");
    broker.listeners().reload().expect("reload");

    let mut after = tls_connect(addr, client_config(&new_ca.ca(), None))
        .await
        .expect("new certificate");
    mqtt_hello(&mut after, "after").await;
    assert!(
        tls_connect(addr, client_config(&old_ca.ca(), None))
            .await
            .is_err(),
        "the old CA no longer verifies the server"
    );
    ping(&mut before).await;
}
