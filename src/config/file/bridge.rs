//! `[[bridge]]` tables: their serde shape and validation into [`BridgeConfig`]. The
//! topic lines use Mosquitto's `topic` syntax so a Mosquitto user copies theirs:
//! `pattern [out|in|both [qos [local-prefix remote-prefix]]]`, `""` = no prefix.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use super::Cx;
use crate::config::url::BrokerUrl;
use crate::config::ConfigError;
use crate::protocol::{topic, ProtocolVersion, QoS};

/// One `[[bridge]]`: a remote broker this broker connects to as a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeConfig {
    /// Unique; letters, digits, `-`, `_`.
    pub name: String,
    /// Tried in order (failover); at least one.
    pub addresses: Vec<BrokerUrl>,
    /// Default 3.1.1 (as Mosquitto).
    pub protocol: ProtocolVersion,
    /// Default `<name>.<hostname>`.
    pub client_id: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Default false: the remote keeps the bridge's session and subscriptions.
    pub clean_start: bool,
    /// Default 60.
    pub keep_alive_secs: u16,
    /// Default true: v3 level | 0x80; v5 subscribes with No Local + Retain As Published.
    pub try_private: bool,
    pub topics: Vec<BridgeTopic>,
    /// Messages waiting for the remote; default 100000.
    pub max_queued_messages: usize,
    pub tls: Option<BridgeTls>,
}

impl BridgeConfig {
    pub const DEFAULT_MAX_QUEUED: usize = 100_000;
    pub const DEFAULT_KEEP_ALIVE: u16 = 60;

    /// `$SYS/broker/connection/<client_id>/state` (Mosquitto's name).
    pub fn state_topic(&self) -> String {
        format!("$SYS/broker/connection/{}/state", self.client_id)
    }
}

/// Which way a topic line forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Out,
    In,
    Both,
}

impl Direction {
    pub fn out(self) -> bool {
        matches!(self, Self::Out | Self::Both)
    }
    pub fn inbound(self) -> bool {
        matches!(self, Self::In | Self::Both)
    }
}

/// One topic line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeTopic {
    pub pattern: String,
    pub direction: Direction,
    pub qos: QoS,
    pub local_prefix: String,
    pub remote_prefix: String,
}

impl BridgeTopic {
    pub fn local_filter(&self) -> String {
        format!("{}{}", self.local_prefix, self.pattern)
    }
    pub fn remote_filter(&self) -> String {
        format!("{}{}", self.remote_prefix, self.pattern)
    }
}

/// `[bridge.tls]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BridgeTls {
    /// PEM CA; the system's roots when unset.
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Skip only the host-name check (Mosquitto's `bridge_insecure`).
    pub insecure: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBridge {
    name: Spanned<String>,
    address: Option<Spanned<String>>,
    addresses: Option<Spanned<Vec<Spanned<String>>>>,
    protocol: Option<Spanned<String>>,
    client_id: Option<Spanned<String>>,
    username: Option<String>,
    password: Option<String>,
    clean_start: Option<bool>,
    keep_alive_secs: Option<Spanned<i64>>,
    try_private: Option<bool>,
    #[serde(default)]
    topics: Vec<Spanned<String>>,
    max_queued_messages: Option<Spanned<i64>>,
    tls: Option<RawBridgeTls>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBridgeTls {
    ca: Option<Spanned<String>>,
    cert: Option<Spanned<String>>,
    key: Option<Spanned<String>>,
    insecure: Option<bool>,
}

impl Cx<'_> {
    pub(super) fn bridges(&self, raw: Vec<RawBridge>) -> Result<Vec<BridgeConfig>, ConfigError> {
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut out = Vec::with_capacity(raw.len());
        for b in raw {
            let name = b.name.get_ref().clone();
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(self.invalid(
                    "[[bridge]] name",
                    b.name.span(),
                    "must be letters, digits, '-' or '_'",
                ));
            }
            let line = self.line(b.name.span().start);
            if let Some(first) = seen.insert(name.clone(), line) {
                return Err(self.invalid(
                    "[[bridge]] name",
                    b.name.span(),
                    format!("already used by the [[bridge]] at line {first}"),
                ));
            }
            let addresses = self.addresses(&b)?;
            let protocol = match &b.protocol {
                None => ProtocolVersion::V3_1_1,
                Some(p) => match p.get_ref().as_str() {
                    "3.1" => ProtocolVersion::V3_1,
                    "3.1.1" => ProtocolVersion::V3_1_1,
                    "5" | "5.0" => ProtocolVersion::V5,
                    _ => {
                        return Err(self.invalid(
                            "[[bridge]] protocol",
                            p.span(),
                            "must be \"3.1\", \"3.1.1\" or \"5\"",
                        ))
                    }
                },
            };
            let client_id = match &b.client_id {
                Some(c) if c.get_ref().is_empty() || c.get_ref().len() > 65_535 => {
                    return Err(self.invalid("[[bridge]] client_id", c.span(), "must not be empty"))
                }
                Some(c) => c.get_ref().clone(),
                None => format!("{name}.{}", hostname()),
            };
            if b.password.is_some() && b.username.is_none() {
                return Err(self.invalid("[[bridge]] password", b.name.span(), "needs username"));
            }
            let topics = b
                .topics
                .iter()
                .map(|t| {
                    parse_topic(t.get_ref())
                        .map_err(|why| self.invalid("[[bridge]] topics", t.span(), why.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let tls = b.tls.as_ref().map(|t| self.bridge_tls(t)).transpose()?;
            out.push(BridgeConfig {
                name,
                addresses,
                protocol,
                client_id,
                username: b.username,
                password: b.password,
                clean_start: b.clean_start.unwrap_or(false),
                keep_alive_secs: self
                    .int(
                        "[[bridge]] keep_alive_secs",
                        b.keep_alive_secs.as_ref(),
                        1,
                        i64::from(u16::MAX),
                    )?
                    .unwrap_or(BridgeConfig::DEFAULT_KEEP_ALIVE),
                try_private: b.try_private.unwrap_or(true),
                topics,
                max_queued_messages: self
                    .int(
                        "[[bridge]] max_queued_messages",
                        b.max_queued_messages.as_ref(),
                        0,
                        i64::MAX,
                    )?
                    .unwrap_or(BridgeConfig::DEFAULT_MAX_QUEUED),
                tls,
            });
        }
        Ok(out)
    }

    fn addresses(&self, b: &RawBridge) -> Result<Vec<BrokerUrl>, ConfigError> {
        let list: Vec<&Spanned<String>> = match (&b.address, &b.addresses) {
            (Some(_), Some(a)) => {
                return Err(self.invalid(
                    "[[bridge]] addresses",
                    a.span(),
                    "give address or addresses, not both",
                ))
            }
            (Some(a), None) => vec![a],
            (None, Some(a)) => a.get_ref().iter().collect(),
            (None, None) => Vec::new(),
        };
        if list.is_empty() {
            return Err(self.invalid(
                "[[bridge]] address",
                b.name.span(),
                "a bridge needs address = \"mqtt://host:port\" (or addresses = [...])",
            ));
        }
        let key = if b.address.is_some() {
            "[[bridge]] address"
        } else {
            "[[bridge]] addresses"
        };
        list.into_iter()
            .map(|a| {
                let url =
                    BrokerUrl::parse(a.get_ref()).map_err(|e| self.invalid(key, a.span(), e))?;
                if url.username.is_some() {
                    return Err(self.invalid(
                        key,
                        a.span(),
                        "put credentials in username/password, not the URL",
                    ));
                }
                Ok(url)
            })
            .collect()
    }

    fn bridge_tls(&self, t: &RawBridgeTls) -> Result<BridgeTls, ConfigError> {
        let file = |key: &str, v: &Option<Spanned<String>>| {
            v.as_ref().map(|v| self.named_file(key, v)).transpose()
        };
        let cert = file("[bridge.tls] cert", &t.cert)?;
        let key = file("[bridge.tls] key", &t.key)?;
        if let (Some(c), None) | (None, Some(c)) = (&t.cert, &t.key) {
            return Err(self.invalid("[bridge.tls] cert", c.span(), "cert and key go together"));
        }
        Ok(BridgeTls {
            ca: file("[bridge.tls] ca", &t.ca)?,
            cert,
            key,
            insecure: t.insecure.unwrap_or(false),
        })
    }
}

/// Why a `topic` line is not one (the message is for the config's reader).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicLineError {
    #[error("expected: pattern [out|in|both [qos [local-prefix remote-prefix]]]")]
    Shape,
    #[error("unknown direction {0:?}: out, in or both")]
    Direction(String),
    #[error("QoS {0:?} out of range: 0, 1 or 2")]
    Qos(String),
    #[error("prefix {0:?} must not contain wildcards")]
    WildcardPrefix(String),
    #[error("an empty pattern needs a prefix")]
    EmptyPattern,
    #[error("{0:?} is not a valid topic filter")]
    Filter(String),
}

/// A Mosquitto `topic` line: `pattern [out|in|both [qos [local-prefix remote-prefix]]]`.
///
/// # Errors
/// What is wrong with the line.
pub fn parse_topic(line: &str) -> Result<BridgeTopic, TopicLineError> {
    let words: Vec<&str> = line
        .split_whitespace()
        .map(|w| if w == "\"\"" { "" } else { w })
        .collect();
    if words.is_empty() || words.len() > 5 || words.len() == 4 {
        return Err(TopicLineError::Shape);
    }
    let direction = match words.get(1).copied() {
        None | Some("out") => Direction::Out,
        Some("in") => Direction::In,
        Some("both") => Direction::Both,
        Some(other) => return Err(TopicLineError::Direction(other.to_owned())),
    };
    let qos = match words.get(2) {
        None => QoS::AtMostOnce,
        Some(q) => q
            .parse::<u8>()
            .ok()
            .and_then(|q| QoS::try_from(q).ok())
            .ok_or_else(|| TopicLineError::Qos((*q).to_owned()))?,
    };
    let (local_prefix, remote_prefix) = (
        words.get(3).copied().unwrap_or_default(),
        words.get(4).copied().unwrap_or_default(),
    );
    for p in [local_prefix, remote_prefix] {
        if p.contains(['#', '+']) {
            return Err(TopicLineError::WildcardPrefix(p.to_owned()));
        }
    }
    let pattern = words[0].to_owned();
    if pattern.is_empty() && local_prefix.is_empty() && remote_prefix.is_empty() {
        return Err(TopicLineError::EmptyPattern);
    }
    let t = BridgeTopic {
        pattern,
        direction,
        qos,
        local_prefix: local_prefix.to_owned(),
        remote_prefix: remote_prefix.to_owned(),
    };
    for f in [t.local_filter(), t.remote_filter()] {
        if !topic::valid_filter(&f) {
            return Err(TopicLineError::Filter(f));
        }
    }
    Ok(t)
}

/// This machine's name, for the default client id.
fn hostname() -> String {
    #[cfg(unix)]
    {
        let name = rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned();
        if !name.is_empty() {
            return name;
        }
    }
    std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mosquitto_topic_lines() {
        let t = parse_topic("sensors/# out 1").ok();
        assert_eq!(
            t,
            Some(BridgeTopic {
                pattern: "sensors/#".into(),
                direction: Direction::Out,
                qos: QoS::AtLeastOnce,
                local_prefix: String::new(),
                remote_prefix: String::new(),
            })
        );
        let t = parse_topic("cmd/# in 2 local/ remote/").ok();
        assert_eq!(
            t.as_ref().map(BridgeTopic::local_filter).as_deref(),
            Some("local/cmd/#")
        );
        assert_eq!(
            t.as_ref().map(BridgeTopic::remote_filter).as_deref(),
            Some("remote/cmd/#")
        );
        let t = parse_topic("# both 0 \"\" site1/").ok();
        assert_eq!(t.as_ref().map(|t| t.direction), Some(Direction::Both));
        assert_eq!(
            t.as_ref().map(BridgeTopic::local_filter).as_deref(),
            Some("#")
        );
        assert_eq!(t.map(|t| t.remote_filter()).as_deref(), Some("site1/#"));
        assert_eq!(parse_topic("a").map(|t| t.qos), Ok(QoS::AtMostOnce));
        assert!(parse_topic("a sideways").is_err_and(|e| e.to_string().contains("direction")));
        assert!(parse_topic("a out 3").is_err_and(|e| e.to_string().contains("QoS")));
        assert!(parse_topic("a out 1 x/").is_err());
        assert!(parse_topic("a/#/b").is_err());
        assert!(parse_topic("a out 1 x/# y/").is_err());
        assert!(parse_topic("").is_err());
    }

    fn parse(text: &str) -> Result<crate::config::Config, ConfigError> {
        super::super::Config::from_toml_str(text, std::path::Path::new("b/midge.toml"))
    }

    /// The error for `text`: file, line and key, as the user sees it.
    fn refused(text: &str, line: usize, key: &str) -> String {
        let msg = parse(text).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            msg.starts_with(&format!("b/midge.toml:{line}: {key} = ")),
            "{msg}"
        );
        msg
    }

    #[test]
    fn a_full_bridge_table_and_its_defaults() {
        let c = parse(
            r#"
[[bridge]]
name = "cloud"
addresses = ["mqtt://a:1883", "mqtts://b"]
protocol = "5"
username = "u"
password = "p"
topics = ["sensors/# out 1", "cmd/# in 2 local/ remote/"]
max_queued_messages = 5
[bridge.tls]
ca = "ca.crt"
insecure = true

[[bridge]]
name = "edge_2"
address = "mqtt://127.0.0.1:1884"
"#,
        );
        let c = c.ok();
        let b = c.as_ref().map(|c| c.bridges.clone()).unwrap_or_default();
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].addresses.len(), 2);
        assert_eq!(b[0].addresses[1].port, 8883);
        assert_eq!(b[0].protocol, ProtocolVersion::V5);
        assert_eq!(b[0].topics.len(), 2);
        assert_eq!(b[0].max_queued_messages, 5);
        let tls = b[0].tls.clone().unwrap_or_default();
        assert_eq!(tls.ca, Some(PathBuf::from("b/ca.crt")));
        assert!(tls.insecure);
        assert_eq!(b[1].protocol, ProtocolVersion::V3_1_1);
        assert!(b[1].client_id.starts_with("edge_2."), "{}", b[1].client_id);
        assert!(!b[1].clean_start);
        assert!(b[1].try_private);
        assert_eq!(b[1].keep_alive_secs, 60);
        assert_eq!(b[1].max_queued_messages, 100_000);
        assert_eq!(
            b[1].state_topic(),
            format!("$SYS/broker/connection/{}/state", b[1].client_id)
        );
    }

    #[test]
    fn bad_bridges_name_file_line_and_key() {
        let m = refused(
            "[[bridge]]\nname = \"a\"\naddress = \"mqtt://h\"\ntopics = [\"x sideways\"]\n",
            4,
            "[[bridge]] topics",
        );
        assert!(m.contains("unknown direction"), "{m}");
        let m = refused(
            "[[bridge]]\nname = \"a\"\naddress = \"mqtt://h\"\ntopics = [\"x\",\n \"x out 3\"]\n",
            5,
            "[[bridge]] topics",
        );
        assert!(m.contains("QoS"), "{m}");
        let m = refused(
            "[[bridge]]\nname = \"a\"\naddress = \"http://h\"\n",
            3,
            "[[bridge]] address",
        );
        assert!(m.contains("mqtt://"), "{m}");
        let m = refused(
            "[[bridge]]\nname = \"a\"\naddress = \"mqtt://h\"\n[[bridge]]\nname = \"a\"\naddress = \"mqtt://g\"\n",
            5,
            "[[bridge]] name",
        );
        assert!(m.contains("line 2"), "{m}");
        refused(
            "[[bridge]]\nname = \"a b\"\naddress = \"mqtt://h\"\n",
            2,
            "[[bridge]] name",
        );
        refused("[[bridge]]\nname = \"a\"\n", 2, "[[bridge]] address");
        refused(
            "[[bridge]]\nname = \"a\"\naddress = \"mqtt://h\"\nprotocol = \"4\"\n",
            4,
            "[[bridge]] protocol",
        );
        refused(
            "[[bridge]]\nname = \"a\"\naddress = \"mqtt://h\"\nkeep_alive_secs = 0\n",
            4,
            "[[bridge]] keep_alive_secs",
        );
        refused(
            "[[bridge]]\nname = \"a\"\naddress = \"mqtt://h\"\n[bridge.tls]\ncert = \"c.pem\"\n",
            5,
            "[bridge.tls] cert",
        );
    }
}
