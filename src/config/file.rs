//! The config file layer: the serde shape of the TOML (with source spans on every value that
//! gets a semantic check), its validation into [`Config`], and turning byte offsets into
//! `file:line` messages.

use std::collections::HashMap;
use std::fmt::Display;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::{
    AuthConfig, Config, ConfigError, Limits, ListenerConfig, ListenerKind, StorageConfig, SyncMode,
    SysConfig, TlsConfig, MAX_PACKET_SIZE_LIMIT, MIN_PACKET_SIZE,
};

const U16_MAX: i64 = u16::MAX as i64;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    log_file: Option<PathBuf>,
    #[serde(default)]
    listener: Vec<RawListener>,
    #[serde(default)]
    auth: RawAuth,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    storage: RawStorage,
    #[serde(default)]
    sys: RawSys,
    #[serde(default)]
    http: RawHttp,
    #[serde(default)]
    bridge: Vec<super::bridge::RawBridge>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    bind: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawListener {
    bind: Spanned<String>,
    #[serde(default)]
    kind: ListenerKind,
    ws_path: Option<Spanned<String>>,
    tls: Option<RawTls>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: Spanned<String>,
    key: Spanned<String>,
    client_ca: Option<Spanned<String>>,
    identity_as_username: Option<Spanned<bool>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    allow_anonymous: Option<bool>,
    password_file: Option<PathBuf>,
    acl_file: Option<PathBuf>,
}

// Integers are read as i64 (TOML's integer type) so that an out-of-range value gets the same
// "must be between" message as any other range error, instead of serde's "expected u16".
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_connections: Option<Spanned<i64>>,
    max_packet_size: Option<Spanned<i64>>,
    max_inflight: Option<Spanned<i64>>,
    max_queued_messages: Option<Spanned<i64>>,
    connect_timeout_secs: Option<Spanned<i64>>,
    max_keepalive_secs: Option<Spanned<i64>>,
    max_topic_levels: Option<Spanned<i64>>,
    max_publish_rate: Option<Spanned<i64>>,
    max_topic_length: Option<Spanned<i64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawStorage {
    dir: Option<PathBuf>,
    in_memory: Option<Spanned<bool>>,
    sync: Option<SyncMode>,
    sync_interval_ms: Option<Spanned<i64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSys {
    interval_secs: Option<Spanned<i64>>,
}

/// Parses and validates `text`, which came from `origin`.
pub(super) fn parse(text: &str, origin: &Path) -> Result<Config, ConfigError> {
    let raw: RawConfig = toml::from_str(text).map_err(|e| syntax_error(text, origin, &e))?;
    let cx = Cx {
        text,
        origin,
        base: origin.parent().map(Path::to_owned).unwrap_or_default(),
    };
    let listeners = cx.listeners(raw.listener)?;
    let bridges = cx.bridges(raw.bridge)?;
    Ok(Config {
        bridges,
        listeners,
        auth: AuthConfig {
            allow_anonymous: raw.auth.allow_anonymous.unwrap_or(true),
            password_file: raw.auth.password_file.map(|p| cx.path(p)),
            acl_file: raw.auth.acl_file.map(|p| cx.path(p)),
        },
        limits: cx.limits(&raw.limits)?,
        storage: cx.storage(raw.storage)?,
        sys: SysConfig {
            interval_secs: cx
                .int(
                    "[sys] interval_secs",
                    raw.sys.interval_secs.as_ref(),
                    0,
                    i64::MAX,
                )?
                .unwrap_or(SysConfig::default().interval_secs),
        },
        log_file: raw.log_file.map(|p| cx.path(p)),
        http: raw
            .http
            .bind
            .map(|b| {
                b.get_ref().parse().map_err(|_| {
                    cx.invalid(
                        "[http] bind",
                        b.span(),
                        "not an IP:PORT address (e.g. \"127.0.0.1:9883\")",
                    )
                })
            })
            .transpose()?,
    })
}

/// Validation context: the source text (for line numbers and values as written) and the
/// directory relative paths are resolved against.
pub(super) struct Cx<'a> {
    text: &'a str,
    origin: &'a Path,
    base: PathBuf,
}

impl Cx<'_> {
    pub(super) fn invalid(
        &self,
        key: &str,
        span: Range<usize>,
        reason: impl Display,
    ) -> ConfigError {
        let (line, _) = position(self.text, span.start);
        ConfigError::Invalid {
            file: self.origin.to_owned(),
            line,
            key: key.to_owned(),
            value: self.text.get(span).unwrap_or("?").to_owned(),
            reason: reason.to_string(),
        }
    }

    /// The 1-based line of byte `offset`.
    pub(super) fn line(&self, offset: usize) -> usize {
        position(self.text, offset).0
    }

    /// A path from the file, relative to the file's directory.
    fn path(&self, path: PathBuf) -> PathBuf {
        if path.is_relative() {
            self.base.join(path)
        } else {
            path
        }
    }

    /// A path that must not be empty (TLS files).
    pub(super) fn named_file(
        &self,
        key: &str,
        value: &Spanned<String>,
    ) -> Result<PathBuf, ConfigError> {
        if value.get_ref().trim().is_empty() {
            return Err(self.invalid(key, value.span(), "must name a PEM file"));
        }
        Ok(self.path(PathBuf::from(value.get_ref())))
    }

    /// An integer in `min..=max`, or `None` if the key is absent. `max == i64::MAX` means
    /// "no upper bound" (the u64/usize limits).
    pub(super) fn int<T: TryFrom<i64>>(
        &self,
        key: &str,
        value: Option<&Spanned<i64>>,
        min: i64,
        max: i64,
    ) -> Result<Option<T>, ConfigError> {
        let Some(value) = value else { return Ok(None) };
        let reason = if max == i64::MAX {
            format!("must be at least {min}")
        } else {
            format!("must be between {min} and {max}")
        };
        let n = *value.get_ref();
        if n < min || n > max {
            return Err(self.invalid(key, value.span(), reason));
        }
        // Only fails for usize on a 32-bit target.
        T::try_from(n)
            .map(Some)
            .map_err(|_| self.invalid(key, value.span(), "too large for this platform"))
    }

    fn listeners(&self, raw: Vec<RawListener>) -> Result<Vec<ListenerConfig>, ConfigError> {
        let mut seen: HashMap<SocketAddr, usize> = HashMap::new();
        let mut listeners = Vec::with_capacity(raw.len());
        for listener in raw {
            let bind_key = "[[listener]] bind";
            let bind: SocketAddr = listener.bind.get_ref().parse().map_err(|_| {
                self.invalid(
                    bind_key,
                    listener.bind.span(),
                    "not an IP:PORT address (e.g. \"0.0.0.0:1883\" or \"[::]:1883\"; \
                     host names are not resolved)",
                )
            })?;
            let (line, _) = position(self.text, listener.bind.span().start);
            // Port 0 asks the OS for a fresh port each time, so it never collides.
            if bind.port() != 0 {
                if let Some(first) = seen.insert(bind, line) {
                    return Err(self.invalid(
                        bind_key,
                        listener.bind.span(),
                        format!("already used by the [[listener]] at line {first}"),
                    ));
                }
            }
            let ws_path = match listener.ws_path {
                None => ListenerConfig::DEFAULT_WS_PATH.to_owned(),
                Some(path) => {
                    let key = "[[listener]] ws_path";
                    if listener.kind != ListenerKind::Ws {
                        return Err(self.invalid(
                            key,
                            path.span(),
                            "only applies to kind = \"ws\"",
                        ));
                    }
                    if !path.get_ref().starts_with('/') {
                        return Err(self.invalid(key, path.span(), "must start with '/'"));
                    }
                    path.into_inner()
                }
            };
            let tls = listener.tls.map(|tls| self.tls(&tls)).transpose()?;
            listeners.push(ListenerConfig {
                bind,
                kind: listener.kind,
                ws_path,
                tls,
            });
        }
        Ok(listeners)
    }

    fn tls(&self, raw: &RawTls) -> Result<TlsConfig, ConfigError> {
        let cert = self.named_file("[listener.tls] cert", &raw.cert)?;
        let key = self.named_file("[listener.tls] key", &raw.key)?;
        let client_ca = raw
            .client_ca
            .as_ref()
            .map(|ca| self.named_file("[listener.tls] client_ca", ca))
            .transpose()?;
        let identity_as_username = match &raw.identity_as_username {
            Some(flag) if *flag.get_ref() && client_ca.is_none() => {
                return Err(self.invalid(
                    "[listener.tls] identity_as_username",
                    flag.span(),
                    "needs client_ca: without client certificates there is no identity",
                ));
            }
            Some(flag) => *flag.get_ref(),
            None => false,
        };
        Ok(TlsConfig {
            cert,
            key,
            client_ca,
            identity_as_username,
        })
    }

    fn limits(&self, raw: &RawLimits) -> Result<Limits, ConfigError> {
        let d = Limits::default();
        Ok(Limits {
            max_connections: self
                .int(
                    "[limits] max_connections",
                    raw.max_connections.as_ref(),
                    1,
                    i64::MAX,
                )?
                .unwrap_or(d.max_connections),
            max_packet_size: self
                .int(
                    "[limits] max_packet_size",
                    raw.max_packet_size.as_ref(),
                    i64::from(MIN_PACKET_SIZE),
                    i64::from(MAX_PACKET_SIZE_LIMIT),
                )?
                .unwrap_or(d.max_packet_size),
            max_inflight: self
                .int(
                    "[limits] max_inflight",
                    raw.max_inflight.as_ref(),
                    1,
                    U16_MAX,
                )?
                .unwrap_or(d.max_inflight),
            max_queued_messages: self
                .int(
                    "[limits] max_queued_messages",
                    raw.max_queued_messages.as_ref(),
                    0,
                    i64::MAX,
                )?
                .unwrap_or(d.max_queued_messages),
            connect_timeout_secs: self
                .int(
                    "[limits] connect_timeout_secs",
                    raw.connect_timeout_secs.as_ref(),
                    1,
                    i64::MAX,
                )?
                .unwrap_or(d.connect_timeout_secs),
            max_keepalive_secs: self
                .int(
                    "[limits] max_keepalive_secs",
                    raw.max_keepalive_secs.as_ref(),
                    1,
                    U16_MAX,
                )?
                .unwrap_or(d.max_keepalive_secs),
            max_topic_levels: self
                .int(
                    "[limits] max_topic_levels",
                    raw.max_topic_levels.as_ref(),
                    1,
                    i64::MAX,
                )?
                .unwrap_or(d.max_topic_levels),
            // Topic names and filters are UTF-8 strings with a two-byte length
            // (MQTT 3.1.1 §1.5.3, MQTT 5.0 §1.5.4), so 65535 is the protocol's own bound.
            max_topic_length: self
                .int(
                    "[limits] max_topic_length",
                    raw.max_topic_length.as_ref(),
                    1,
                    U16_MAX,
                )?
                .unwrap_or(d.max_topic_length),
            max_publish_rate: self
                .int(
                    "[limits] max_publish_rate",
                    raw.max_publish_rate.as_ref(),
                    0,
                    i64::from(u32::MAX),
                )?
                .unwrap_or(d.max_publish_rate),
        })
    }

    fn storage(&self, raw: RawStorage) -> Result<StorageConfig, ConfigError> {
        let d = StorageConfig::default();
        let in_memory = raw.in_memory.as_ref().is_some_and(|f| *f.get_ref());
        if let (Some(flag), Some(_)) = (&raw.in_memory, &raw.dir) {
            if in_memory {
                return Err(self.invalid(
                    "[storage] in_memory",
                    flag.span(),
                    "contradicts [storage] dir: an in-memory broker has no store directory",
                ));
            }
        }
        Ok(StorageConfig {
            dir: raw.dir.map(|p| self.path(p)),
            in_memory,
            sync: raw.sync.unwrap_or(d.sync),
            sync_interval_ms: self
                .int(
                    "[storage] sync_interval_ms",
                    raw.sync_interval_ms.as_ref(),
                    1,
                    i64::MAX,
                )?
                .unwrap_or(d.sync_interval_ms),
        })
    }
}

/// Turns a toml parse or deserialize error into a message with file, line and the offending
/// line, in the same shape as our own validation errors.
fn syntax_error(text: &str, origin: &Path, err: &toml::de::Error) -> ConfigError {
    // toml's messages can span lines ("invalid string\nexpected ..."), and our integers are
    // read as i64, which users know as "an integer".
    let message = err
        .message()
        .trim_end()
        .lines()
        .collect::<Vec<_>>()
        .join("; ")
        .replace("expected i64", "expected an integer");
    let Some(span) = err.span() else {
        return ConfigError::Unlocated {
            file: origin.to_owned(),
            message,
        };
    };
    let (line, column) = position(text, span.start);
    ConfigError::Syntax {
        file: origin.to_owned(),
        line,
        column,
        context: context(text, line),
        message,
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub(super) fn position(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// What the user wrote at `line`, prefixed by the table it is in: `[limits] max_inflight = x`.
fn context(text: &str, line: usize) -> String {
    let lines: Vec<&str> = text.lines().map(strip_comment).collect();
    let Some(here) = line.checked_sub(1).and_then(|i| lines.get(i)) else {
        return String::new();
    };
    if is_header(here) {
        return (*here).to_owned();
    }
    let header = lines[..line - 1].iter().rev().find(|l| is_header(l));
    match header {
        Some(h) if !here.is_empty() => format!("{h} {here}"),
        Some(h) => (*h).to_owned(),
        None => (*here).to_owned(),
    }
}

/// `context` followed by ": ", or nothing when there is no context.
pub(super) fn prefix(context: &str) -> String {
    if context.is_empty() {
        String::new()
    } else {
        format!("{context}: ")
    }
}

fn is_header(line: &str) -> bool {
    line.starts_with('[') && line.ends_with(']') && !line.contains('=')
}

/// The line without its `#` comment and surrounding blanks; `#` inside strings is kept.
fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match quote {
            Some('"') if escaped => escaped = false,
            Some('"') if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' => return line[..i].trim(),
            None => {}
        }
    }
    line.trim()
}
