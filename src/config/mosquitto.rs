//! `midge import-mosquitto`: a `mosquitto.conf` (Mosquitto 2.x semantics) turned into the
//! equivalent midge.toml. A pure function of the text: listeners (with
//! `per_listener_settings`), TLS, the password and ACL files, the `max_*` limits,
//! persistence, `sys_interval` and bridges (the `[[bridge]]` contract of DESIGN.md). Every
//! option it cannot carry becomes a `# not carried: <option> — <why>` comment, so nothing
//! is dropped silently.

use super::{MAX_PACKET_SIZE_LIMIT, MIN_PACKET_SIZE};

/// The generated TOML (comments included) and the options it could not carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    pub toml: String,
    /// One line per option not carried: `<option> — <why> (line N)`; the TOML has each
    /// as a `# not carried:` comment.
    pub not_carried: Vec<String>,
}

/// A listener: `listener PORT [ADDR]`, or the default one (`port`, or listener options
/// before any `listener` line).
#[derive(Default)]
struct Listener {
    /// Where it was declared (0: the default listener).
    line: usize,
    port: Option<u16>,
    addr: Option<String>,
    ws: bool,
    cert: Option<String>,
    key: Option<String>,
    cafile: Option<String>,
    require_certificate: bool,
    identity_as_username: bool,
    max_connections: Option<i64>,
    auth: Auth,
    /// Cannot be served (a Unix socket, a host name): left out, with a note.
    skip: bool,
}

#[derive(Default, Clone, PartialEq, Eq)]
struct Auth {
    password_file: Option<String>,
    acl_file: Option<String>,
    allow_anonymous: Option<bool>,
}

#[derive(Default)]
struct Bridge {
    name: String,
    addresses: Vec<String>,
    topics: Vec<String>,
    protocol: Option<&'static str>,
    client_id: Option<String>,
    username: Option<String>,
    password: Option<String>,
    clean_start: Option<bool>,
    keep_alive: Option<i64>,
    try_private: Option<bool>,
    ca: Option<String>,
    capath: bool,
    cert: Option<String>,
    key: Option<String>,
    insecure: Option<bool>,
}

#[derive(Default)]
struct State {
    per_listener: bool,
    default: Listener,
    listeners: Vec<Listener>,
    /// The last `listener` or `connection` line: which one section options go to.
    in_bridge: bool,
    auth: Auth,
    max_inflight: Option<i64>,
    max_queued: Option<i64>,
    max_packet: Option<i64>,
    max_keepalive: Option<i64>,
    persistence: Option<bool>,
    persistence_location: Option<String>,
    sys_interval: Option<i64>,
    log_file: Option<String>,
    bridges: Vec<Bridge>,
    notes: Vec<String>,
    /// The included file being read; empty in the main file.
    origin: String,
}

/// Converts `text`, a mosquitto.conf; never fails (what it cannot read is a note). An
/// `include_dir` is noted, not followed: see [`import_with`].
pub fn import(text: &str) -> Imported {
    import_with(text, &mut |_| {
        Err(std::io::Error::other(
            "include_dir is followed only when importing a file",
        ))
    })
}

/// [`import`], following `include_dir DIR` lines through `include`, which returns the
/// files to read there as (name, text) in Mosquitto's order (see [`read_include_dir`]).
pub fn import_with(text: &str, include: &mut Include<'_>) -> Imported {
    let mut st = State {
        per_listener: text.lines().any(|l| {
            let mut w = l.split_whitespace();
            w.next() == Some("per_listener_settings") && w.next() == Some("true")
        }),
        ..State::default()
    };
    st.read(text, Some(include));
    st.finish()
}

/// Reads the files of an `include_dir`.
pub type Include<'a> = dyn FnMut(&str) -> std::io::Result<Vec<(String, String)>> + 'a;

/// The `*.conf` files of `dir` as Mosquitto 2 reads them: in alphabetical order of name.
///
/// # Errors
/// The directory or one of the files cannot be read.
pub fn read_include_dir(dir: &str) -> std::io::Result<Vec<(String, String)>> {
    let mut paths: Vec<std::path::PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| Ok((p.display().to_string(), std::fs::read_to_string(&p)?)))
        .collect()
}

impl State {
    /// Every option of one file, in order; `include` is `None` inside an included file
    /// (Mosquitto allows `include_dir` in the main file only).
    fn read(&mut self, text: &str, mut include: Option<&mut Include<'_>>) {
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (option, rest) = line
                .split_once(char::is_whitespace)
                .map_or((line, ""), |(o, r)| (o, r.trim()));
            if option == "include_dir" {
                match include.as_deref_mut().map(|f| f(rest)) {
                    Some(Ok(files)) => {
                        let main = std::mem::take(&mut self.origin);
                        for (name, text) in files {
                            self.origin = name;
                            self.read(&text, None);
                        }
                        self.origin = main;
                    }
                    Some(Err(e)) => self.note(i + 1, option, &format!("{rest}: {e}")),
                    None => self.note(i + 1, option, "only the main file may include others"),
                }
                continue;
            }
            self.option(i + 1, option, rest);
        }
    }
}

fn boolean(v: &str) -> Option<bool> {
    match v {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// A TOML basic string, escaped.
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

impl State {
    /// `line` 0: a note about the configuration as a whole.
    fn note(&mut self, line: usize, option: &str, why: &str) {
        let at = match (line, self.origin.as_str()) {
            (0, _) => String::new(),
            (n, "") => format!(" (line {n})"),
            (n, file) => format!(" ({file} line {n})"),
        };
        self.notes.push(format!("{option} — {why}{at}"));
    }

    fn listener(&mut self) -> &mut Listener {
        self.listeners.last_mut().unwrap_or(&mut self.default)
    }

    /// Where `password_file`, `acl_file` and `allow_anonymous` go.
    fn auth(&mut self) -> &mut Auth {
        if self.per_listener {
            &mut self.listener().auth
        } else {
            &mut self.auth
        }
    }

    fn bridge(&mut self, line: usize, option: &str) -> Option<&mut Bridge> {
        if !self.in_bridge {
            self.note(
                line,
                option,
                "a bridge option outside a `connection` section",
            );
            return None;
        }
        self.bridges.last_mut()
    }

    fn int(&mut self, line: usize, option: &str, v: &str) -> Option<i64> {
        let n = v.parse().ok();
        if n.is_none() {
            self.note(line, option, "not a number");
        }
        n
    }

    fn flag(&mut self, line: usize, option: &str, v: &str) -> Option<bool> {
        let b = boolean(v);
        if b.is_none() {
            self.note(line, option, "not true or false");
        }
        b
    }

    fn option(&mut self, line: usize, option: &str, v: &str) {
        let own = || Some(v.to_owned());
        match option {
            "per_listener_settings" => {}
            "listener" => self.new_listener(line, v),
            "port" => {
                self.default.line = line;
                self.default.port = v.parse().ok();
                if self.default.port.is_none() {
                    self.note(line, option, "not a port number");
                }
            }
            "bind_address" => self.default.addr = own(),
            "protocol" => match v {
                "mqtt" => self.listener().ws = false,
                "websockets" => self.listener().ws = true,
                _ => self.note(line, option, "midge serves mqtt and websockets only"),
            },
            "certfile" => self.listener().cert = own(),
            "keyfile" => self.listener().key = own(),
            "cafile" => self.listener().cafile = own(),
            "require_certificate" => {
                let b = self.flag(line, option, v).unwrap_or(false);
                self.listener().require_certificate = b;
            }
            "use_identity_as_username" => {
                let b = self.flag(line, option, v).unwrap_or(false);
                self.listener().identity_as_username = b;
            }
            "max_connections" => {
                let n = self.int(line, option, v);
                self.listener().max_connections = n;
            }
            "password_file" => self.auth().password_file = own(),
            "acl_file" => self.auth().acl_file = own(),
            "allow_anonymous" => {
                let b = self.flag(line, option, v);
                self.auth().allow_anonymous = b;
            }
            "max_inflight_messages" => self.max_inflight = self.int(line, option, v),
            "max_queued_messages" => self.max_queued = self.int(line, option, v),
            "max_packet_size" => self.max_packet = self.int(line, option, v),
            "max_keepalive" => self.max_keepalive = self.int(line, option, v),
            "persistence" => self.persistence = self.flag(line, option, v),
            "persistence_location" => self.persistence_location = own(),
            "sys_interval" => self.sys_interval = self.int(line, option, v),
            "log_dest" => match v.split_once(char::is_whitespace) {
                Some(("file", path)) => self.log_file = Some(path.trim().to_owned()),
                _ if matches!(v, "stderr" | "stdout") => {}
                _ => self.note(
                    line,
                    option,
                    "midge logs to stderr or one --log-file (no syslog, topic or dlt)",
                ),
            },
            _ if same_as_midge(option, v) => {}
            "connection" => {
                self.in_bridge = true;
                let name: String = v
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
                if name != v {
                    self.note(
                        line,
                        option,
                        &format!(
                            "bridge {v:?} renamed {name:?}: names are letters, digits, '-', '_'"
                        ),
                    );
                }
                self.bridges.push(Bridge {
                    name,
                    ..Bridge::default()
                });
            }
            _ => self.bridge_option(line, option, v),
        }
    }

    fn new_listener(&mut self, line: usize, v: &str) {
        self.in_bridge = false;
        let mut w = v.split_whitespace();
        let port = w.next().and_then(|p| p.parse::<u16>().ok());
        let addr = w.next().map(str::to_owned);
        let mut l = Listener {
            line,
            port,
            addr,
            ..Listener::default()
        };
        if port.is_none() || port == Some(0) {
            l.skip = true;
            self.note(
                line,
                "listener",
                &format!("`listener {v}`: midge listens on TCP ports, not Unix sockets"),
            );
        }
        self.listeners.push(l);
    }

    fn bridge_option(&mut self, line: usize, option: &str, v: &str) {
        if let Some(why) = not_carried(option) {
            return self.note(line, option, why);
        }
        let own = || Some(v.to_owned());
        let flag = boolean(v);
        let num = v.parse::<i64>().ok();
        let Some(b) = self.bridge(line, option) else {
            return;
        };
        let ok = match option {
            "address" | "addresses" => {
                b.addresses.extend(v.split_whitespace().map(str::to_owned));
                true
            }
            "topic" => {
                b.topics.push(v.to_owned());
                true
            }
            "bridge_protocol_version" => {
                b.protocol = match v {
                    "mqttv50" => Some("5"),
                    "mqttv311" => Some("3.1.1"),
                    "mqttv31" => Some("3.1"),
                    _ => None,
                };
                b.protocol.is_some()
            }
            "remote_clientid" | "clientid" => {
                b.client_id = own();
                true
            }
            "remote_username" | "username" => {
                b.username = own();
                true
            }
            "remote_password" | "password" => {
                b.password = own();
                true
            }
            "cleansession" => {
                b.clean_start = flag;
                flag.is_some()
            }
            "keepalive_interval" => {
                b.keep_alive = num;
                num.is_some()
            }
            "try_private" => {
                b.try_private = flag;
                flag.is_some()
            }
            "bridge_cafile" => {
                b.ca = own();
                true
            }
            "bridge_capath" => {
                b.capath = true;
                true
            }
            "bridge_certfile" => {
                b.cert = own();
                true
            }
            "bridge_keyfile" => {
                b.key = own();
                true
            }
            "bridge_insecure" => {
                b.insecure = flag;
                flag.is_some()
            }
            _ => {
                let why = format!("not a mosquitto.conf option midge knows (value {v:?})");
                self.note(line, option, &why);
                return;
            }
        };
        if !ok {
            self.note(line, option, &format!("unexpected value {v:?}"));
        }
    }
}

/// Option values that describe what midge does anyway: carried by saying nothing.
fn same_as_midge(option: &str, v: &str) -> bool {
    matches!(
        (option, v),
        (
            "set_tcp_nodelay" | "retain_available" | "log_timestamp",
            "true"
        ) | ("max_qos", "2")
            | ("upgrade_outgoing_qos", "false")
            | (
                "max_inflight_bytes" | "max_queued_bytes" | "memory_limit" | "message_size_limit",
                "0"
            )
            | ("notifications", "true")
    )
}

/// Options midge has no equivalent for, and why.
fn not_carried(option: &str) -> Option<&'static str> {
    Some(match option {
        "user" => "run midge as the user you want (systemd User=/DynamicUser=, the image's UID)",
        "pid_file" => "no PID file: systemd and containers track the process",
        "log_type"
        | "log_timestamp"
        | "log_timestamp_format"
        | "connection_messages"
        | "websockets_log_level"
        | "log_facility" => {
            "log levels come from MIDGE_LOG (e.g. MIDGE_LOG=info); --log-format json for pipelines"
        }
        "autosave_interval" | "autosave_on_changes" | "persistence_file" => {
            "midge writes every change to its log as it happens ([storage] sync), not snapshots"
        }
        "persistent_client_expiration" => "sessions do not expire by age in midge",
        "capath" | "bridge_capath" => "midge takes one CA file (cafile / bridge_cafile)",
        "tls_version"
        | "ciphers"
        | "ciphers_tls1.3"
        | "dhparamfile"
        | "crlfile"
        | "tls_engine"
        | "tls_engine_kpass_sha1"
        | "tls_keyform"
        | "psk_hint"
        | "psk_file"
        | "bridge_tls_version"
        | "bridge_ciphers"
        | "bridge_ciphers_tls1.3"
        | "bridge_alpn"
        | "bridge_identity"
        | "bridge_psk"
        | "bridge_require_ocsp"
        | "bridge_tls_use_os_certs"
        | "bridge_keyform"
        | "bridge_engine" => {
            "midge's TLS (rustls) offers TLS 1.2/1.3 with safe ciphers, certificates only (no PSK)"
        }
        "use_subject_as_username" | "use_username_as_clientid" => {
            "midge can take the certificate's CN as username (use_identity_as_username) only"
        }
        "mount_point"
        | "http_dir"
        | "socket_domain"
        | "bind_interface"
        | "websockets_headers_size"
        | "max_topic_alias"
        | "accept_protocol_versions" => "no per-listener equivalent in midge",
        "auth_plugin" | "plugin" | "global_plugin" | "auth_opt" | "plugin_opt" => {
            "midge has no plugins: use password_file and acl_file"
        }
        "allow_zero_length_clientid"
        | "auto_id_prefix"
        | "clientid_prefixes"
        | "check_retain_source"
        | "max_inflight_bytes"
        | "max_queued_bytes"
        | "max_qos"
        | "memory_limit"
        | "message_size_limit"
        | "retain_available"
        | "upgrade_outgoing_qos"
        | "queue_qos0_messages"
        | "allow_duplicate_messages"
        | "enable_control_api"
        | "listener_allow_anonymous" => {
            "midge has no such setting (see [limits] in midge.example.toml for what it has)"
        }
        "set_tcp_nodelay" => "midge always sets TCP_NODELAY",
        "notifications" | "notification_topic" | "notifications_local_only" => {
            "midge always keeps the bridge state on $SYS/broker/connection/<client_id>/state"
        }
        "start_type" | "idle_timeout" | "threshold" | "restart_timeout" | "round_robin"
        | "bridge_reload_type" => {
            "a midge bridge connects at start-up and retries with backoff, addresses in order"
        }
        "local_clientid" | "local_username" | "local_password" | "local_cleansession" => {
            "the local side of a midge bridge is an in-process client: no credentials needed"
        }
        "bridge_attempt_unsubscribe"
        | "bridge_outgoing_retain"
        | "bridge_max_packet_size"
        | "bridge_bind_address"
        | "bridge_receive_maximum"
        | "bridge_session_expiry_interval"
        | "bridge_max_topic_alias"
        | "bridge_tcp_keepalive"
        | "bridge_tcp_user_timeout" => "no such [[bridge]] setting in midge",
        _ if option.starts_with("plugin_opt_") || option.starts_with("auth_opt_") => {
            "midge has no plugins: use password_file and acl_file"
        }
        _ => return None,
    })
}

mod emit;
#[cfg(test)]
mod tests;
