//! The `midge monitor` URL: `mqtt://[user[:pass]@]host[:port]` (port 1883) or
//! `mqtts://…` (TLS, port 8883). User and password are percent-decoded; an IPv6 host is
//! written in brackets (`mqtt://[::1]:1883`).

use std::fmt;

/// A parsed broker address with optional credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    pub tls: bool,
    /// Host name or address, without IPv6 brackets.
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlError {
    #[error("the URL must start with mqtt:// or mqtts://")]
    Scheme,
    #[error("the URL has no host")]
    NoHost,
    #[error("bad port {0:?}")]
    Port(String),
    #[error("bad percent-encoding in the user or password")]
    Percent,
    #[error("unexpected path {0:?}: the URL is mqtt://[user[:pass]@]host[:port]")]
    Path(String),
}

impl BrokerUrl {
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let (tls, rest) = if let Some(r) = strip_prefix_ci(url, "mqtts://") {
            (true, r)
        } else if let Some(r) = strip_prefix_ci(url, "mqtt://") {
            (false, r)
        } else {
            return Err(UrlError::Scheme);
        };
        // A trailing "/" is harmless; anything after it is not ours.
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        if !path.is_empty() {
            return Err(UrlError::Path(path.to_owned()));
        }
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (username, password) = match userinfo {
            None => (None, None),
            Some(u) => match u.split_once(':') {
                Some((n, p)) => (Some(decode(n)?), Some(decode(p)?)),
                None => (Some(decode(u)?), None),
            },
        };
        let (host, port) = split_host_port(hostport)?;
        if host.is_empty() {
            return Err(UrlError::NoHost);
        }
        let port = match port {
            None => {
                if tls {
                    8883
                } else {
                    1883
                }
            }
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| UrlError::Port(p.to_owned()))?,
        };
        Ok(Self {
            tls,
            host: host.to_owned(),
            port,
            username,
            password,
        })
    }

    /// `host:port` for connecting (IPv6 in brackets).
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Shown in the dashboard: never the password.
impl fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        match &self.username {
            Some(u) => write!(f, "{scheme}://{u}@{}", self.authority()),
            None => write!(f, "{scheme}://{}", self.authority()),
        }
    }
}

impl fmt::Debug for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BrokerUrl({self})")
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn split_host_port(s: &str) -> Result<(&str, Option<&str>), UrlError> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or(UrlError::NoHost)?;
        return match after {
            "" => Ok((host, None)),
            a => match a.strip_prefix(':') {
                Some(p) => Ok((host, Some(p))),
                None => Err(UrlError::Port(a.to_owned())),
            },
        };
    }
    Ok(match s.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    })
}

/// Percent-decoding of the user-info part (RFC 3986 §2.1); the result must be UTF-8.
fn decode(s: &str) -> Result<String, UrlError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or(UrlError::Percent)?;
            let b = u8::from_str_radix(hex, 16).map_err(|_| UrlError::Percent)?;
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| UrlError::Percent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> BrokerUrl {
        BrokerUrl::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn defaults_and_credentials() {
        let u = ok("mqtt://localhost");
        assert_eq!((u.tls, u.host.as_str(), u.port), (false, "localhost", 1883));
        assert_eq!((u.username, u.password), (None, None));
        let u = ok("mqtts://broker.example:8884/");
        assert_eq!((u.tls, u.port), (true, 8884));
        assert_eq!(ok("MQTTS://h").port, 8883);
        let u = ok("mqtt://al%40ice:p%3Ass@word@10.0.0.1:1884");
        assert_eq!(u.username.as_deref(), Some("al@ice"));
        assert_eq!(u.password.as_deref(), Some("p:ss@word"));
        assert_eq!(u.authority(), "10.0.0.1:1884");
        let u = ok("mqtt://bob@h");
        assert_eq!((u.username.as_deref(), u.password), (Some("bob"), None));
        let u = ok("mqtt://[::1]:1999");
        assert_eq!((u.host.as_str(), u.port), ("::1", 1999));
        assert_eq!(u.authority(), "[::1]:1999");
    }

    #[test]
    fn display_hides_the_password() {
        let u = ok("mqtt://admin:secret@h:1");
        assert_eq!(u.to_string(), "mqtt://admin@h:1");
        assert!(!format!("{u:?}").contains("secret"));
    }

    #[test]
    fn errors() {
        assert_eq!(BrokerUrl::parse("http://h"), Err(UrlError::Scheme));
        assert_eq!(BrokerUrl::parse("mqtt://"), Err(UrlError::NoHost));
        assert_eq!(BrokerUrl::parse("mqtt://u@:1"), Err(UrlError::NoHost));
        assert_eq!(
            BrokerUrl::parse("mqtt://h:99999"),
            Err(UrlError::Port("99999".into()))
        );
        assert_eq!(
            BrokerUrl::parse("mqtt://h:0"),
            Err(UrlError::Port("0".into()))
        );
        assert_eq!(BrokerUrl::parse("mqtt://a%zz@h"), Err(UrlError::Percent));
        assert_eq!(BrokerUrl::parse("mqtt://a%2@h"), Err(UrlError::Percent));
        assert_eq!(BrokerUrl::parse("mqtt://%ff@h"), Err(UrlError::Percent));
        assert!(matches!(
            BrokerUrl::parse("mqtt://h/x"),
            Err(UrlError::Path(_))
        ));
    }
}
