//! Certificates re-read with no signal when a mounted secret changes the way Kubernetes
//! changes it: `tls.crt -> ..data/tls.crt`, `..data -> ..v1`, and an update points `..data`
//! at `..v2` with one rename. The real binary serves the new certificate within a few
//! seconds (the container test does the same through podman).

use std::path::Path;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

use crate::support::within;
use crate::transport::pki::{client_config, Pki};

/// Points `dir/..data` at `..version`, holding `cert` and `key`, atomically.
fn publish(dir: &Path, version: &str, cert: &Path, key: &Path) {
    let v = dir.join(format!("..{version}"));
    std::fs::create_dir_all(&v).expect("version dir");
    std::fs::copy(cert, v.join("tls.crt")).expect("copy cert");
    std::fs::copy(key, v.join("tls.key")).expect("copy key");
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(format!("..{version}"), &tmp).expect("symlink");
    std::fs::rename(&tmp, dir.join("..data")).expect("swap ..data");
}

/// The DER of the certificate the listener at `addr` presents.
async fn served(addr: std::net::SocketAddr, pki: &Pki) -> Vec<u8> {
    let tcp = within(5.0, TcpStream::connect(addr))
        .await
        .expect("connect");
    let name = ServerName::try_from("localhost").expect("server name");
    let tls = within(
        5.0,
        tokio_rustls::TlsConnector::from(client_config(&pki.ca(), None)).connect(name, tcp),
    )
    .await
    .expect("handshake");
    let (_, conn) = tls.get_ref();
    conn.peer_certificates().expect("a certificate")[0].to_vec()
}

fn der(pem: &Path) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::from_pem_file(pem)
        .expect("a PEM certificate")
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_swapped_by_symlink_is_served_without_a_signal() {
    let pki = Pki::new();
    let (one, two) = (pki.server("one"), pki.server("two"));
    let secret = pki.path("secret");
    std::fs::create_dir_all(&secret).expect("secret dir");
    publish(&secret, "v1", &one.cert, &one.key);
    std::os::unix::fs::symlink("..data/tls.crt", secret.join("tls.crt")).expect("symlink");
    std::os::unix::fs::symlink("..data/tls.key", secret.join("tls.key")).expect("symlink");
    let config = pki.path("midge.toml");
    std::fs::write(
        &config,
        format!(
            "[[listener]]\nbind = \"127.0.0.1:0\"\n[listener.tls]\ncert = {:?}\nkey = {:?}\n",
            secret.join("tls.crt"),
            secret.join("tls.key")
        ),
    )
    .expect("write config");
    let config = config.to_str().expect("utf-8 path");
    let (_midge, addrs, _) = super::spawn(&["--in-memory", "-c", config], 1).await;
    assert_eq!(served(addrs[0], &pki).await, der(&one.cert));

    publish(&secret, "v2", &two.cert, &two.key);
    within(10.0, async {
        while served(addrs[0], &pki).await != der(&two.cert) {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
}
