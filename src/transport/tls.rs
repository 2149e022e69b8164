//! TLS for mqtts and wss, with rustls and its `ring` provider (TLS 1.2 and 1.3). Owns
//! loading the PEM files of a `[listener.tls]`, the server configuration built from them
//! (optionally requiring client certificates from `client_ca`), swapping it on reload,
//! and the server side of a handshake including the certificate identity.

use std::path::Path;
use std::sync::{Arc, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use super::Error;
use crate::config::TlsConfig;

/// The crypto provider, named explicitly: with another provider compiled in (a dependency
/// may enable one) rustls cannot pick a process default on its own.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// One TLS listener's settings and its current server configuration. New handshakes use
/// whatever `current` holds when they start; connections already up keep theirs.
pub struct TlsContext {
    cfg: TlsConfig,
    current: RwLock<Arc<ServerConfig>>,
}

impl std::fmt::Debug for TlsContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsContext")
            .field("cert", &self.cfg.cert)
            .finish_non_exhaustive()
    }
}

impl TlsContext {
    /// Reads the files named in `cfg` and builds the server configuration.
    ///
    /// # Errors
    /// A file that cannot be read or holds no usable certificate, key or CA, or a key
    /// that does not match the certificate; the error names the file.
    pub fn load(cfg: &TlsConfig) -> Result<Self, Error> {
        let config = server_config(cfg)?;
        Ok(Self {
            cfg: cfg.clone(),
            current: RwLock::new(config),
        })
    }

    /// Builds a configuration from the files as they are now, without installing it.
    pub(crate) fn prepare(&self) -> Result<Arc<ServerConfig>, Error> {
        server_config(&self.cfg)
    }

    /// Makes `config` the one new handshakes use.
    /// The files this context reads: certificate, key and client CA.
    pub(crate) fn files(&self) -> impl Iterator<Item = &std::path::Path> {
        [
            Some(&self.cfg.cert),
            Some(&self.cfg.key),
            self.cfg.client_ca.as_ref(),
        ]
        .into_iter()
        .flatten()
        .map(std::path::PathBuf::as_path)
    }

    pub(crate) fn install(&self, config: Arc<ServerConfig>) {
        match self.current.write() {
            Ok(mut g) => *g = config,
            Err(poisoned) => *poisoned.into_inner() = config,
        }
    }

    fn acceptor(&self) -> TlsAcceptor {
        let config = match self.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        TlsAcceptor::from(config)
    }

    /// Runs the server side of a TLS handshake. With `identity_as_username` the verified
    /// client certificate's subject CN is returned (a certificate without a CN fails).
    /// The caller bounds it with the connect timeout.
    pub async fn accept<S>(&self, stream: S) -> std::io::Result<(TlsStream<S>, Option<String>)>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let tls = self.acceptor().accept(stream).await?;
        if !self.cfg.identity_as_username {
            return Ok((tls, None));
        }
        // rustls has verified the chain against `client_ca` before we get here, so the
        // leaf is a well-formed certificate; we only read its subject.
        let cn = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|leaf| super::x509::subject_common_name(leaf.as_ref()));
        match cn {
            Some(cn) => Ok((tls, Some(cn))),
            None => Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "client certificate has no subject CN to use as the username",
            )),
        }
    }
}

fn server_config(cfg: &TlsConfig) -> Result<Arc<ServerConfig>, Error> {
    let certs = load_certs(&cfg.cert)?;
    let key = load_key(&cfg.key)?;
    let provider = provider();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(Error::Tls)?;
    let builder = match &cfg.client_ca {
        Some(path) => {
            let roots = load_roots(path)?;
            // Anonymous clients are not allowed: a certificate is required.
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| Error::ClientCa {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let config = builder
        .with_single_cert(certs, key)
        .map_err(|source| Error::CertKey {
            cert: cfg.cert.clone(),
            key: cfg.key.clone(),
            source,
        })?;
    Ok(Arc::new(config))
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })
}

fn pem_error(path: &Path, e: &pem::Error) -> Error {
    Error::Pem {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

/// Every certificate in a PEM file, in file order (leaf first for a chain).
pub(crate) fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let bytes = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, &e))?;
    if certs.is_empty() {
        return Err(Error::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

/// The first private key in a PEM file (PKCS#8, PKCS#1 or SEC1).
pub(crate) fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, Error> {
    let bytes = read(path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        pem::Error::NoItemsFound => Error::NoKey {
            path: path.to_owned(),
        },
        e => pem_error(path, &e),
    })
}

fn load_roots(path: &Path) -> Result<RootCertStore, Error> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(path)? {
        roots.add(cert).map_err(|e| Error::ClientCa {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn cfg(dir: &Path, cert: &str, key: &str) -> TlsConfig {
        TlsConfig {
            cert: dir.join(cert),
            key: dir.join(key),
            client_ca: None,
            identity_as_username: false,
        }
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write test file");
        p
    }

    #[test]
    fn missing_file_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = TlsContext::load(&cfg(dir.path(), "nope.crt", "nope.key"))
            .expect_err("missing file must fail");
        assert!(matches!(err, Error::Read { ref path, .. } if path.ends_with("nope.crt")));
        assert!(err.to_string().contains("nope.crt"), "{err}");
    }

    #[test]
    fn file_without_certificate_or_key_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "empty.crt", "hello\n");
        let err = load_certs(&dir.path().join("empty.crt")).expect_err("no cert");
        assert!(matches!(err, Error::NoCertificate { .. }), "{err}");
        assert!(err.to_string().contains("empty.crt"));
        let err = load_key(&dir.path().join("empty.crt")).expect_err("no key");
        assert!(matches!(err, Error::NoKey { .. }), "{err}");
        assert!(err.to_string().contains("empty.crt"));
    }

    #[test]
    fn truncated_pem_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "cut.crt", "-----BEGIN CERTIFICATE-----\nMIIB\n");
        let err = load_certs(&dir.path().join("cut.crt")).expect_err("truncated");
        assert!(matches!(err, Error::Pem { .. }), "{err}");
    }

    #[test]
    fn key_not_matching_the_certificate_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert a");
        let b = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert b");
        write(dir.path(), "a.crt", &a.cert.pem());
        write(dir.path(), "b.key", &b.signing_key.serialize_pem());
        let err = TlsContext::load(&cfg(dir.path(), "a.crt", "b.key")).expect_err("mismatch");
        assert!(matches!(err, Error::CertKey { .. }), "{err}");
        write(dir.path(), "a.key", &a.signing_key.serialize_pem());
        TlsContext::load(&cfg(dir.path(), "a.crt", "a.key")).expect("matching pair loads");
    }

    #[test]
    fn bad_client_ca_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
        write(dir.path(), "a.crt", &a.cert.pem());
        write(dir.path(), "a.key", &a.signing_key.serialize_pem());
        write(
            dir.path(),
            "ca.crt",
            "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n",
        );
        let mut c = cfg(dir.path(), "a.crt", "a.key");
        c.client_ca = Some(dir.path().join("ca.crt"));
        let err = TlsContext::load(&c).expect_err("garbage CA");
        assert!(matches!(err, Error::ClientCa { .. }), "{err}");
        assert!(err.to_string().contains("ca.crt"), "{err}");
    }
}
