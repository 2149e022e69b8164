//! Test certificates and the helpers the transport tests share: a CA made with rcgen, a
//! server certificate for 127.0.0.1/localhost, client certificates with a CN, all written
//! as PEM into a temporary directory; an in-process broker; rustls client configs;
//! Mosquitto client processes under timeouts.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use midge::broker::{Access, Broker};
use midge::config::{ListenerConfig, ListenerKind, TlsConfig};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// Bound on every await in these tests.
pub const T: Duration = Duration::from_secs(15);

/// A CA and what it signed, as files.
pub struct Pki {
    pub dir: tempfile::TempDir,
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "midge test CA");
        params.distinguished_name = dn;
        let key = KeyPair::generate().expect("ca key");
        let ca = CertifiedIssuer::self_signed(params, key).expect("ca cert");
        let pki = Pki { dir, ca };
        std::fs::write(pki.path("ca.crt"), pki.ca.pem()).expect("write ca");
        pki
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn ca(&self) -> PathBuf {
        self.path("ca.crt")
    }

    /// Signs a certificate and writes `<name>.crt` / `<name>.key`; returns both paths.
    fn issue(
        &self,
        name: &str,
        sans: &[&str],
        cn: &str,
        usage: ExtendedKeyUsagePurpose,
    ) -> (PathBuf, PathBuf) {
        let sans: Vec<String> = sans.iter().map(|s| (*s).to_owned()).collect();
        let mut params = CertificateParams::new(sans).expect("params");
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "midge tests");
        if !cn.is_empty() {
            dn.push(DnType::CommonName, cn);
        }
        params.distinguished_name = dn;
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &*self.ca).expect("sign");
        let (c, k) = (
            self.path(&format!("{name}.crt")),
            self.path(&format!("{name}.key")),
        );
        std::fs::write(&c, cert.pem()).expect("write cert");
        std::fs::write(&k, key.serialize_pem()).expect("write key");
        (c, k)
    }

    /// `server.crt` / `server.key` for 127.0.0.1 and localhost.
    pub fn server(&self, name: &str) -> TlsConfig {
        let (cert, key) = self.issue(
            name,
            &["localhost", "127.0.0.1"],
            "localhost",
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        TlsConfig {
            cert,
            key,
            client_ca: None,
            identity_as_username: false,
        }
    }

    /// A client certificate with subject CN `cn` (none if empty).
    pub fn client(&self, name: &str, cn: &str) -> (PathBuf, PathBuf) {
        self.issue(name, &[], cn, ExtendedKeyUsagePurpose::ClientAuth)
    }
}

pub fn listener(kind: ListenerKind, tls: Option<TlsConfig>) -> ListenerConfig {
    let mut l = ListenerConfig::tcp(([127, 0, 0, 1], 0).into());
    l.kind = kind;
    l.tls = tls;
    l
}

pub async fn start(
    listeners: Vec<ListenerConfig>,
    access: Arc<dyn Access>,
    connect_timeout_secs: u64,
) -> Broker {
    crate::support::start_broker_access(access, |c| {
        c.listeners = listeners;
        c.limits.connect_timeout_secs = connect_timeout_secs;
    })
    .await
    .broker
}

pub fn open() -> Arc<dyn Access> {
    Arc::new(midge::broker::Open {
        allow_anonymous: true,
    })
}

fn certs(path: &Path) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(path)
        .expect("open pem")
        .collect::<Result<Vec<_>, _>>()
        .expect("parse pem")
}

/// A rustls client trusting `ca`, optionally presenting a client certificate.
pub fn client_config(ca: &Path, cert: Option<(&Path, &Path)>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for c in certs(ca) {
        roots.add(c).expect("add root");
    }
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots);
    let config = match cert {
        Some((c, k)) => builder
            .with_client_auth_cert(certs(c), PrivateKeyDer::from_pem_file(k).expect("key"))
            .expect("client cert"),
        None => builder.with_no_client_auth(),
    };
    Arc::new(config)
}

/// `host:port` pieces for the Mosquitto clients.
pub fn port_args(addr: std::net::SocketAddr) -> Vec<String> {
    vec![
        "-h".into(),
        "127.0.0.1".into(),
        "-p".into(),
        addr.port().to_string(),
    ]
}

/// Runs a Mosquitto client to completion.
pub async fn run(program: &str, args: &[String]) -> Output {
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(T, child)
        .await
        .unwrap_or_else(|_| panic!("{program} did not finish"))
        .unwrap_or_else(|e| panic!("{program}: {e}"))
}

/// A running `mosquitto_sub -d`, read line by line.
pub struct Sub {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Sub {
    /// Starts it and waits for its SUBACK line (`Subscribed (mid: 1): <code>`); returns
    /// the subscriber and that line.
    pub async fn start(args: &[String]) -> (Sub, String) {
        // stdbuf: line-buffered stdout, so the SUBACK line is seen before we publish.
        let mut child = Command::new("stdbuf")
            .args(["-oL", "mosquitto_sub", "-d"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn mosquitto_sub");
        let stdout = child.stdout.take().expect("stdout");
        let mut sub = Sub {
            child,
            lines: BufReader::new(stdout).lines(),
        };
        let line = sub.wait_for("Subscribed (mid").await;
        (sub, line)
    }

    /// The next line containing `needle`; panics at EOF or after `T`.
    pub async fn wait_for(&mut self, needle: &str) -> String {
        let lines = &mut self.lines;
        let found = tokio::time::timeout(T, async {
            while let Some(line) = lines.next_line().await.expect("read stdout") {
                if line.contains(needle) {
                    return Some(line);
                }
            }
            None
        })
        .await
        .ok()
        .flatten();
        match found {
            Some(line) => line,
            None => panic!(
                "mosquitto_sub: no line with {needle:?}; stderr: {}",
                self.stderr().await
            ),
        }
    }

    async fn stderr(&mut self) -> String {
        use tokio::io::AsyncReadExt;
        let _ = self.child.start_kill();
        let mut text = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = tokio::time::timeout(T, e.read_to_string(&mut text)).await;
        }
        text
    }
}
