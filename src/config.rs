//! The broker's configuration: the TOML file, the command-line overrides, and the defaults.
//!
//! Owns [`Config`] and everything in it (listeners, auth files, [`Limits`], storage, `$SYS`,
//! bridges),
//! the documented default of every value, and the validation of a config file. Every error
//! names the file, the key and the line, because a user has to find and fix it. The
//! annotated example is `midge.example.toml` at the repository root.
//!
//! Precedence: built-in defaults < the `-c FILE` TOML file < command-line flags; when no
//! listener is configured anywhere, the broker listens on [`DEFAULT_LISTEN`].

mod file;
pub mod mosquitto;
pub mod sn;
#[cfg(test)]
mod tests;
pub mod url;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::cli::Cli;
pub use sn::{MqttSnConfig, PredefinedTopic};

pub use file::bridge::{
    parse_topic, BridgeConfig, BridgeTls, BridgeTopic, Direction, TopicLineError,
};

/// Where the broker listens when neither the config file nor `-l` names a listener.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1883));

/// The largest packet MQTT can express: the Remaining Length is a Variable Byte Integer of at
/// most four bytes (MQTT 3.1.1 §2.2.3, MQTT 5.0 §1.5.5).
pub const MAX_PACKET_SIZE_LIMIT: u32 = 268_435_455;

/// The smallest `max_packet_size` accepted: below this a typical CONNECT no longer fits.
pub const MIN_PACKET_SIZE: u32 = 64;

/// Everything the broker needs to start. Run mode (headless or dashboard) is not here: it is
/// a property of the process, chosen in `main.rs`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    /// The sockets to accept clients on; never empty after [`Config::from_cli`].
    pub listeners: Vec<ListenerConfig>,
    pub auth: AuthConfig,
    pub limits: Limits,
    pub storage: StorageConfig,
    pub sys: SysConfig,
    /// Append logs to this file instead of stderr / the dashboard; `None` by default.
    pub log_file: Option<PathBuf>,
    /// `[http] bind` / `--http`: the operations endpoint (`/metrics`, `/healthz`,
    /// `/readyz`); off when `None`.
    pub http: Option<SocketAddr>,
    /// `[[bridge]]`: outgoing bridges to other brokers; none by default.
    pub bridges: Vec<BridgeConfig>,
    /// `[mqttsn]`: the MQTT-SN gateway on the `kind = "mqttsn"` listeners.
    pub mqttsn: MqttSnConfig,
    /// `[ui.decoders]`: topic filter → how the dashboard decodes those payloads.
    pub ui_decoders: Vec<(String, PayloadDecoder)>,
}

/// A payload decoder of the dashboard, as `[ui.decoders]` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PayloadDecoder {
    Json,
    Sparkplug,
    Text,
    Hex,
}

/// One `[[listener]]`: a socket address and the protocol stack on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    /// IP address and port; port 0 picks a free port (tests).
    pub bind: SocketAddr,
    pub kind: ListenerKind,
    /// The HTTP path WebSocket clients connect to; only used by `kind = "ws"`. Default `/mqtt`.
    pub ws_path: String,
    /// TLS on top: `tcp` becomes mqtts, `ws` becomes wss. `None` by default.
    pub tls: Option<TlsConfig>,
}

impl ListenerConfig {
    /// The default WebSocket path, the one most MQTT-over-WebSocket clients use.
    pub const DEFAULT_WS_PATH: &'static str = "/mqtt";

    /// A plain MQTT-over-TCP listener, as `-l ADDR` makes.
    #[must_use]
    pub fn tcp(bind: SocketAddr) -> Self {
        ListenerConfig {
            bind,
            kind: ListenerKind::Tcp,
            ws_path: Self::DEFAULT_WS_PATH.to_owned(),
            tls: None,
        }
    }
}

/// The transport of a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ListenerKind {
    /// MQTT directly on TCP (default).
    #[default]
    Tcp,
    /// MQTT inside WebSocket binary frames (subprotocol `mqtt`).
    Ws,
    /// MQTT-SN 1.2 over UDP: the built-in gateway (`[mqttsn]`).
    Mqttsn,
}

/// `[listener.tls]`: the server certificate and, optionally, client-certificate checking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key of the leaf certificate.
    pub key: PathBuf,
    /// When set, clients must present a certificate signed by this PEM CA.
    pub client_ca: Option<PathBuf>,
    /// Use the client certificate's subject CN as the MQTT username (needs `client_ca`).
    pub identity_as_username: bool,
}

/// `[auth]`: who may connect and what they may touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// Accept CONNECTs without a username. Default `true`.
    pub allow_anonymous: bool,
    /// Mosquitto-format password file; `None` (default) means no password checks.
    pub password_file: Option<PathBuf>,
    /// Mosquitto-syntax ACL file; `None` (default) means every client may use every topic.
    pub acl_file: Option<PathBuf>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            allow_anonymous: true,
            password_file: None,
            acl_file: None,
        }
    }
}

/// `[limits]`: the resource bounds that keep one client (or many) from exhausting the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Simultaneous client connections, all listeners together. Default 100000. At the limit
    /// a new connection is accepted and closed at once (logged), as Mosquitto does.
    pub max_connections: usize,
    /// Largest packet accepted from a client, in bytes (checked on the fixed header, before
    /// the body is read). Default and maximum 268435455, minimum 64. A larger packet closes
    /// the connection (v5: DISCONNECT 0x95 Packet too large); v5 clients are told it in
    /// CONNACK's Maximum Packet Size.
    pub max_packet_size: u32,
    /// Outgoing QoS 1/2 messages in flight (sent, not yet acknowledged) per client. Default
    /// 100, at least 1. At the limit further messages wait in the session queue; a v5 client's
    /// own smaller Receive Maximum wins.
    pub max_inflight: u16,
    /// Messages queued per session beyond the in-flight window (also while a persistent
    /// session is offline). Default 10000; 0 queues nothing. At the limit new messages for
    /// that session are dropped and counted.
    pub max_queued_messages: usize,
    /// Seconds a new connection has to send CONNECT. Default 10, at least 1. After that it is
    /// closed.
    pub connect_timeout_secs: u64,
    /// Largest keep-alive granted, in seconds. Default 65535, at least 1. A v5 client asking
    /// for more gets Server Keep Alive = this in CONNACK (MQTT 5.0 §3.2.2.3.14); v3 clients
    /// keep theirs.
    pub max_keepalive_secs: u16,
    /// Most `/`-separated levels in a topic name or filter. Default 128, at least 1. A longer
    /// topic is rejected like an invalid one (PUBLISH: disconnect; SUBSCRIBE: failure code).
    pub max_topic_levels: usize,
    /// Longest topic name or filter in bytes. Default 65535 (the protocol's maximum for a
    /// UTF-8 string), at least 1. A longer topic is rejected like an invalid one.
    pub max_topic_length: usize,
    /// Per-client receive rate limit in PUBLISH packets per second; 0 (default) = off. A
    /// client above it is slowed down: midge stops reading its socket until the rate is
    /// back under the limit (TCP back-pressure), nothing is dropped.
    pub max_publish_rate: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 100_000,
            max_packet_size: MAX_PACKET_SIZE_LIMIT,
            max_inflight: 100,
            max_queued_messages: 10_000,
            connect_timeout_secs: 10,
            max_keepalive_secs: u16::MAX,
            max_topic_levels: 128,
            max_topic_length: 65_535,
            max_publish_rate: 0,
        }
    }
}

/// `[storage]`: where durable state (persistent sessions, their queues and in-flight
/// messages, retained messages) lives and how hard it is pushed to disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageConfig {
    /// Directory of the durable store; `None` (default) means the platform data dir, see
    /// [`Config::data_dir`].
    pub dir: Option<PathBuf>,
    /// Keep everything in memory: nothing survives a restart. Default `false`.
    pub in_memory: bool,
    /// When writes are flushed to disk. Default [`SyncMode::Always`].
    pub sync: SyncMode,
    /// Flush period for [`SyncMode::Interval`], in milliseconds. Default 1000, at least 1;
    /// ignored by the other modes.
    pub sync_interval_ms: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            dir: None,
            in_memory: false,
            sync: SyncMode::Always,
            sync_interval_ms: 1000,
        }
    }
}

/// How durable an acknowledged message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    /// fsync before acknowledging: nothing acknowledged is lost on power failure (default).
    #[default]
    Always,
    /// fsync every `sync_interval_ms`: a crash loses at most that much.
    Interval,
    /// Leave flushing to the OS: fastest; a machine crash may lose recent messages.
    Never,
}

/// `[sys]`: the broker's own `$SYS/#` statistics topics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysConfig {
    /// Seconds between `$SYS` publications. Default 10; 0 turns `$SYS` off.
    pub interval_secs: u64,
}

impl Default for SysConfig {
    fn default() -> Self {
        SysConfig { interval_secs: 10 }
    }
}

/// Why a configuration could not be loaded. `Display` is the message for the user; `main`
/// prints it and exits with status 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// TOML syntax, an unknown key, a missing key or a value of the wrong type. `context` is
    /// the table and the offending line, e.g. `[limits] max_inflight = "many"`.
    #[error("{}:{line}:{column}: {}{message}", file.display(), file::prefix(context))]
    Syntax {
        file: PathBuf,
        line: usize,
        column: usize,
        context: String,
        message: String,
    },
    /// A TOML error without a position (rare: toml reports a span for nearly everything).
    #[error("{}: {message}", file.display())]
    Unlocated { file: PathBuf, message: String },
    /// A well-typed value outside its allowed range or contradicting another value.
    #[error("{}:{line}: {key} = {value}: {reason}", file.display())]
    Invalid {
        file: PathBuf,
        line: usize,
        /// The table and key, e.g. `[limits] max_inflight`.
        key: String,
        /// The value as written in the file.
        value: String,
        reason: String,
    },
}

impl Config {
    /// Parses and validates config `text`. `origin` is the file it came from: it names the
    /// file in errors, and relative paths in the text are resolved against its directory.
    ///
    /// # Errors
    /// [`ConfigError::Syntax`] / [`ConfigError::Invalid`], naming the key and its line.
    pub fn from_toml_str(text: &str, origin: &Path) -> Result<Config, ConfigError> {
        file::parse(text, origin)
    }

    /// Reads and validates the TOML file at `path`.
    ///
    /// # Errors
    /// [`ConfigError::Read`] when the file cannot be read, else as [`Config::from_toml_str`].
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml_str(&text, path)
    }

    /// Loads `-c FILE` if given, then applies the flags (flags win), then adds the default
    /// listener [`DEFAULT_LISTEN`] if no listener is configured anywhere.
    ///
    /// `-l` replaces the file's listeners; `--data-dir` sets the store directory and turns
    /// `in_memory` off; `--in-memory` turns it on. Paths from flags stay relative to the
    /// working directory.
    ///
    /// # Errors
    /// As [`Config::load`].
    pub fn from_cli(cli: &Cli) -> Result<Config, ConfigError> {
        let mut config = match &cli.config {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        if !cli.listen.is_empty() {
            config.listeners = cli
                .listen
                .iter()
                .copied()
                .map(ListenerConfig::tcp)
                .collect();
        }
        if let Some(dir) = &cli.data_dir {
            config.storage.dir = Some(dir.clone());
            config.storage.in_memory = false;
        }
        if cli.in_memory {
            config.storage.in_memory = true;
        }
        if let Some(allow) = cli.allow_anonymous {
            config.auth.allow_anonymous = allow;
        }
        if let Some(path) = &cli.password_file {
            config.auth.password_file = Some(path.clone());
        }
        if let Some(path) = &cli.acl_file {
            config.auth.acl_file = Some(path.clone());
        }
        if let Some(path) = &cli.log_file {
            config.log_file = Some(path.clone());
        }
        if let Some(addr) = cli.http {
            config.http = Some(addr);
        }
        if config.listeners.is_empty() {
            config.listeners.push(ListenerConfig::tcp(DEFAULT_LISTEN));
        }
        Ok(config)
    }

    /// The directory of the durable store: `--data-dir` / `[storage] dir` if set, else the
    /// platform data dir (`$XDG_DATA_HOME/midge` or `~/.local/share/midge` on Linux,
    /// `~/Library/Application Support/midge` on macOS, `%APPDATA%\midge\data` on Windows),
    /// else `./midge-data` when the home directory is unknown. Meaningless when
    /// `storage.in_memory` is set.
    #[must_use]
    pub fn data_dir(&self) -> PathBuf {
        if let Some(dir) = &self.storage.dir {
            return dir.clone();
        }
        directories::ProjectDirs::from("", "", "midge")
            .map_or_else(|| PathBuf::from("midge-data"), |d| d.data_dir().to_owned())
    }
}
