//! Writing the imported settings as midge.toml: top-level keys, then `[[listener]]`,
//! `[auth]`, `[limits]`, `[storage]`, `[sys]` and `[[bridge]]` tables, with the "not
//! carried" notes at the top where a reviewer sees them first.

use std::fmt::Write as _;
use std::net::IpAddr;

use super::{
    quoted, Auth, Bridge, Imported, Listener, State, MAX_PACKET_SIZE_LIMIT, MIN_PACKET_SIZE,
};

impl State {
    pub(super) fn finish(mut self) -> Imported {
        let mut listeners = Vec::new();
        if self.default.port.is_some() {
            listeners.push(std::mem::take(&mut self.default));
        } else if self.default.cert.is_some() || self.default.ws || self.default.addr.is_some() {
            let why = "listener options before any `listener` line, without `port`: \
                       Mosquitto has no default listener for them either";
            self.note(0, "certfile/protocol/bind_address", why);
        }
        listeners.append(&mut self.listeners);
        self.note_relative_paths(&listeners);
        let mut body = String::new();
        if let Some(path) = self.log_file.take() {
            let _ = writeln!(body, "log_file = {}\n", quoted(&path));
        }
        let mut served = 0;
        for l in &listeners {
            served += usize::from(self.emit_listener(&mut body, l));
        }
        // Mosquitto 2 without a listener serves 127.0.0.1:1883 only and allows anonymous
        // clients ("local only mode"): midge's defaults without [[listener]] are the same.
        let local_only = served == 0;
        if local_only {
            body.push_str("# No listener: midge listens on 127.0.0.1:1883 (as Mosquitto's local only mode).\n\n");
        }
        let auth = self.resolve_auth(&listeners);
        self.emit_auth(&mut body, &auth, local_only);
        self.emit_limits(&mut body, &listeners);
        self.emit_storage(&mut body);
        if let Some(n) = self.sys_interval {
            if n >= 0 {
                let _ = writeln!(body, "[sys]\ninterval_secs = {n}\n");
            } else {
                self.note(0, "sys_interval", "negative");
            }
        }
        let bridges = std::mem::take(&mut self.bridges);
        for b in &bridges {
            self.emit_bridge(&mut body, b);
        }
        let mut toml = String::from(
            "# midge.toml imported from a mosquitto.conf by `midge import-mosquitto`.\n\
             # Check it with `midge check-config -c FILE` before starting midge with it.\n\n",
        );
        if !self.notes.is_empty() {
            toml.push_str("# Options midge does not carry, and why:\n");
            for n in &self.notes {
                // A TOML comment may not hold control characters.
                let n: String = n
                    .chars()
                    .map(|c| if c.is_control() { '\u{fffd}' } else { c })
                    .collect();
                let _ = writeln!(toml, "# not carried: {n}");
            }
            toml.push('\n');
        }
        toml.push_str(body.trim_end());
        toml.push('\n');
        Imported {
            toml,
            not_carried: self.notes,
        }
    }

    /// Mosquitto resolves a relative path against its working directory, midge against
    /// the TOML file's directory: the same text may name another file.
    fn note_relative_paths(&mut self, listeners: &[Listener]) {
        let mut paths: Vec<&String> = Vec::new();
        for l in listeners {
            paths.extend(
                [
                    &l.cert,
                    &l.key,
                    &l.cafile,
                    &l.auth.password_file,
                    &l.auth.acl_file,
                ]
                .into_iter()
                .flatten(),
            );
        }
        paths.extend(
            [
                &self.auth.password_file,
                &self.auth.acl_file,
                &self.persistence_location,
                &self.log_file,
            ]
            .into_iter()
            .flatten(),
        );
        for b in &self.bridges {
            paths.extend([&b.ca, &b.cert, &b.key].into_iter().flatten());
        }
        let relative: Vec<String> = paths
            .into_iter()
            .filter(|p| !p.starts_with('/'))
            .map(|p| format!("{p:?}"))
            .collect();
        if !relative.is_empty() {
            let why = format!(
                "{}: mosquitto.conf reads relative paths from its working directory, \
                 midge.toml from its own directory; make them absolute if they differ",
                relative.join(", ")
            );
            self.note(0, "relative paths", &why);
        }
    }

    /// One `[[listener]]`; false when it cannot be served (noted).
    fn emit_listener(&mut self, out: &mut String, l: &Listener) -> bool {
        let (Some(port), false) = (l.port, l.skip) else {
            return false;
        };
        let ip = match l.addr.as_deref() {
            None => {
                let _ = writeln!(
                    out,
                    "# `listener {port}`: Mosquitto also listens on IPv6; add a [[listener]] with bind = \"[::]:{port}\" if you need it"
                );
                "0.0.0.0".parse().ok()
            }
            Some("localhost") => "127.0.0.1".parse().ok(),
            Some(a) => a.parse::<IpAddr>().ok(),
        };
        let Some(ip) = ip else {
            let why = format!(
                "host name {:?}: midge binds IP addresses; add the listener by hand",
                l.addr.as_deref().unwrap_or("")
            );
            self.note(l.line, "listener", &why);
            return false;
        };
        let tls = match (&l.cert, &l.key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => {
                let why = "certfile and keyfile go together: listener left out";
                self.note(l.line, "listener", why);
                return false;
            }
        };
        let bind = std::net::SocketAddr::new(ip, port);
        let _ = writeln!(out, "[[listener]]\nbind = \"{bind}\"");
        if l.ws {
            out.push_str("kind = \"ws\"\n");
            let why =
                "Mosquitto serves WebSocket on any path, midge on ws_path (default \"/mqtt\")";
            self.note(l.line, "protocol websockets", why);
        } else {
            out.push_str("kind = \"tcp\"\n");
        }
        if let Some((cert, key)) = tls {
            let _ = writeln!(
                out,
                "[listener.tls]\ncert = {}\nkey = {}",
                quoted(cert),
                quoted(key)
            );
            match (&l.cafile, l.require_certificate) {
                (Some(ca), true) => {
                    let _ = writeln!(out, "client_ca = {}", quoted(ca));
                }
                (None, true) => {
                    let why = "require_certificate without cafile: midge needs the CA file";
                    self.note(l.line, "require_certificate", why);
                }
                _ => {}
            }
            if l.identity_as_username {
                out.push_str("identity_as_username = true\n");
            }
        } else if l.require_certificate || l.identity_as_username {
            let why = "client certificates need TLS (certfile, keyfile) on the listener";
            self.note(l.line, "require_certificate", why);
        }
        out.push('\n');
        true
    }

    /// With `per_listener_settings`, each listener has its own; midge has one `[auth]`.
    fn resolve_auth(&mut self, listeners: &[Listener]) -> Auth {
        if !self.per_listener {
            return self.auth.clone();
        }
        let mut served = listeners.iter().filter(|l| !l.skip);
        let Some(first) = served.next() else {
            return self.default.auth.clone();
        };
        for l in served {
            if l.auth != first.auth {
                let why = format!(
                    "per_listener_settings: the listener of line {} has other password_file/acl_file/allow_anonymous; \
                     midge's [auth] covers every listener, so the first listener's (line {}) is used",
                    l.line, first.line
                );
                self.note(l.line, "per_listener_settings", &why);
            }
        }
        first.auth.clone()
    }

    fn emit_auth(&self, out: &mut String, auth: &Auth, local_only: bool) {
        out.push_str("[auth]\n");
        match auth.allow_anonymous {
            Some(b) => {
                let _ = writeln!(out, "allow_anonymous = {b}");
            }
            // Mosquitto 2's default: anonymous only in local only mode.
            None => {
                let _ = writeln!(
                    out,
                    "allow_anonymous = {local_only}   # Mosquitto 2's default{}",
                    if local_only {
                        " (local only mode)"
                    } else {
                        " with a listener"
                    }
                );
            }
        }
        if let Some(p) = &auth.password_file {
            let _ = writeln!(out, "password_file = {}", quoted(p));
        }
        if let Some(p) = &auth.acl_file {
            let _ = writeln!(out, "acl_file = {}", quoted(p));
        }
        out.push('\n');
    }

    fn emit_limits(&mut self, out: &mut String, listeners: &[Listener]) {
        let mut lines = Vec::new();
        let per_listener: Vec<i64> = listeners
            .iter()
            .filter_map(|l| l.max_connections)
            .filter(|&n| n > 0)
            .collect();
        if let Some(&most) = per_listener.iter().max() {
            lines.push(format!("max_connections = {most}"));
            if listeners.len() > 1 {
                let why = "Mosquitto limits each listener; midge's max_connections covers all of them (the largest is used)";
                self.note(0, "max_connections", why);
            }
        }
        match self.max_inflight {
            Some(0) => lines.push("max_inflight = 65535   # Mosquitto's 0 = no limit".to_owned()),
            Some(n @ 1..=65535) => lines.push(format!("max_inflight = {n}")),
            Some(n) => self.note(
                0,
                "max_inflight_messages",
                &format!("{n} is outside 0..=65535"),
            ),
            None => {
                lines.push("max_inflight = 20   # Mosquitto's default (midge's is 100)".to_owned())
            }
        }
        match self.max_queued {
            Some(0) => self.note(
                0,
                "max_queued_messages",
                "0 (no limit): midge bounds every queue; its default 10000 applies",
            ),
            Some(n) if n > 0 => lines.push(format!("max_queued_messages = {n}")),
            Some(n) => self.note(0, "max_queued_messages", &format!("{n} is negative")),
            None => lines.push(
                "max_queued_messages = 1000   # Mosquitto's default (midge's is 10000)".to_owned(),
            ),
        }
        match self.max_packet {
            None | Some(0) => {}
            Some(n) => {
                let clamped = n.clamp(i64::from(MIN_PACKET_SIZE), i64::from(MAX_PACKET_SIZE_LIMIT));
                if clamped != n {
                    let why = format!("{n} is outside midge's {MIN_PACKET_SIZE}..={MAX_PACKET_SIZE_LIMIT}: {clamped} is used");
                    self.note(0, "max_packet_size", &why);
                }
                lines.push(format!("max_packet_size = {clamped}"));
            }
        }
        match self.max_keepalive {
            None => {}
            Some(n @ 1..=65535) => lines.push(format!("max_keepalive_secs = {n}")),
            Some(n) => self.note(0, "max_keepalive", &format!("{n} is outside 1..=65535")),
        }
        if !lines.is_empty() {
            let _ = writeln!(out, "[limits]\n{}\n", lines.join("\n"));
        }
    }

    fn emit_storage(&mut self, out: &mut String) {
        if self.persistence == Some(true) {
            match &self.persistence_location {
                Some(dir) => {
                    let _ = writeln!(out, "[storage]\ndir = {}\n", quoted(dir));
                }
                None => out.push_str("# persistence true: midge's store in its default data dir (--data-dir to move it)\n\n"),
            }
        } else {
            out.push_str(
                "[storage]\n\
                 # Mosquitto had persistence off (its default): nothing survives a restart. Remove\n\
                 # this line to keep sessions, queued and retained messages in midge's store.\n\
                 in_memory = true\n\n",
            );
        }
    }

    fn emit_bridge(&mut self, out: &mut String, b: &Bridge) {
        if b.addresses.is_empty() || b.topics.is_empty() {
            let why = format!(
                "bridge {:?} has no address or no topic line: left out",
                b.name
            );
            self.note(0, "connection", &why);
            return;
        }
        let tls = b.ca.is_some() || b.capath || b.cert.is_some();
        let scheme = if tls { "mqtts" } else { "mqtt" };
        let urls: Vec<String> = b
            .addresses
            .iter()
            .map(|a| {
                let a = if a.contains(':') {
                    a.clone()
                } else {
                    format!("{a}:1883")
                };
                quoted(&format!("{scheme}://{a}"))
            })
            .collect();
        let _ = writeln!(out, "[[bridge]]\nname = {}", quoted(&b.name));
        if let [one] = urls.as_slice() {
            let _ = writeln!(out, "address = {one}");
        } else {
            let _ = writeln!(out, "addresses = [{}]", urls.join(", "));
        }
        if let Some(p) = b.protocol {
            let _ = writeln!(out, "protocol = \"{p}\"");
        }
        if let Some(id) = &b.client_id {
            let _ = writeln!(out, "client_id = {}", quoted(id));
        }
        if let Some(u) = &b.username {
            let _ = writeln!(out, "username = {}", quoted(u));
        }
        if let Some(p) = &b.password {
            let _ = writeln!(out, "password = {}", quoted(p));
        }
        if let Some(c) = b.clean_start {
            let _ = writeln!(out, "clean_start = {c}");
        }
        if let Some(k) = b.keep_alive {
            let _ = writeln!(out, "keep_alive_secs = {k}");
        }
        if let Some(t) = b.try_private {
            let _ = writeln!(out, "try_private = {t}");
        }
        let topics: Vec<String> = b.topics.iter().map(|t| quoted(t)).collect();
        let _ = writeln!(out, "topics = [{}]", topics.join(", "));
        if let Some(n) = self.max_queued.filter(|&n| n > 0) {
            let _ = writeln!(out, "max_queued_messages = {n}");
        }
        if tls {
            out.push_str("[bridge.tls]\n");
            if let Some(ca) = &b.ca {
                let _ = writeln!(out, "ca = {}", quoted(ca));
            }
            if let Some(c) = &b.cert {
                let _ = writeln!(out, "cert = {}", quoted(c));
            }
            if let Some(k) = &b.key {
                let _ = writeln!(out, "key = {}", quoted(k));
            }
            if let Some(i) = b.insecure {
                let _ = writeln!(out, "insecure = {i}");
            }
        }
        out.push('\n');
    }
}
