//! The importer on small mosquitto.conf texts: what each option becomes, what is noted,
//! and that every output parses as a midge config.

use super::import;

/// `import`, then the output through the real config parser (files it names need not exist:
/// `Config::load` checks syntax and values; check-config checks the files).
fn imported(conf: &str) -> (String, Vec<String>, crate::config::Config) {
    let out = import(conf);
    let config =
        crate::config::file::parse(&out.toml, std::path::Path::new("/etc/midge/midge.toml"))
            .unwrap_or_else(|e| panic!("{e}\n{}", out.toml));
    (out.toml, out.not_carried, config)
}

#[test]
fn no_listener_is_local_only_mode_with_anonymous_clients() {
    let (toml, notes, config) = imported("# nothing\n\n");
    assert!(notes.is_empty(), "{notes:?}");
    assert!(config.listeners.is_empty());
    assert!(config.auth.allow_anonymous);
    // Mosquitto's persistence defaults to off.
    assert!(config.storage.in_memory, "{toml}");
    assert_eq!(config.limits.max_inflight, 20);
    assert_eq!(config.limits.max_queued_messages, 1000);
}

#[test]
fn listeners_tls_and_auth() {
    let conf = "listener 1883\n\
                listener 8883 127.0.0.1\n\
                certfile /c/s.crt\nkeyfile /c/s.key\ncafile /c/ca.crt\n\
                require_certificate true\nuse_identity_as_username true\n\
                listener 9001 ::1\nprotocol websockets\n\
                password_file /m/passwd\nacl_file /m/acl\n";
    let (toml, notes, config) = imported(conf);
    let binds: Vec<String> = config
        .listeners
        .iter()
        .map(|l| l.bind.to_string())
        .collect();
    assert_eq!(binds, ["0.0.0.0:1883", "127.0.0.1:8883", "[::1]:9001"]);
    let tls = config.listeners[1].tls.as_ref().expect("tls");
    assert_eq!(tls.cert, std::path::Path::new("/c/s.crt"));
    assert_eq!(
        tls.client_ca.as_deref(),
        Some(std::path::Path::new("/c/ca.crt"))
    );
    assert!(tls.identity_as_username);
    assert_eq!(config.listeners[2].kind, crate::config::ListenerKind::Ws);
    // Mosquitto 2: with a listener, anonymous clients are refused unless allowed.
    assert!(!config.auth.allow_anonymous, "{toml}");
    assert_eq!(
        config.auth.password_file.as_deref(),
        Some(std::path::Path::new("/m/passwd"))
    );
    assert!(
        notes.iter().any(|n| n.starts_with("protocol websockets")),
        "{notes:?}"
    );
}

#[test]
fn the_default_listener_and_unservable_ones() {
    let conf =
        "port 1884\nbind_address 10.0.0.1\nlistener 0 /run/m.sock\nlistener 1885 broker.lan\n";
    let (toml, notes, config) = imported(conf);
    assert_eq!(config.listeners.len(), 1, "{toml}");
    assert_eq!(config.listeners[0].bind.to_string(), "10.0.0.1:1884");
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(
        toml.contains("# not carried: listener — `listener 0 /run/m.sock`"),
        "{toml}"
    );
    assert!(notes[1].contains("broker.lan"), "{notes:?}");
}

#[test]
fn per_listener_settings_that_differ_are_noted() {
    let conf = "per_listener_settings true\n\
                listener 1883\nallow_anonymous true\n\
                listener 1884\npassword_file /p\nallow_anonymous false\n";
    let (_, notes, config) = imported(conf);
    assert!(config.auth.allow_anonymous);
    assert_eq!(config.auth.password_file, None);
    assert!(
        notes.iter().any(|n| n.starts_with("per_listener_settings")),
        "{notes:?}"
    );

    // The same settings on every listener carry over as they are.
    let conf = "per_listener_settings true\n\
                listener 1883\npassword_file /p\n\
                listener 1884\npassword_file /p\n";
    let (_, notes, config) = imported(conf);
    assert!(notes.is_empty(), "{notes:?}");
    assert!(!config.auth.allow_anonymous);
    assert_eq!(
        config.auth.password_file.as_deref(),
        Some(std::path::Path::new("/p"))
    );
}

#[test]
fn limits_persistence_and_sys() {
    let conf = "max_inflight_messages 0\nmax_queued_messages 0\nmax_packet_size 10\n\
                max_keepalive 300\npersistence true\npersistence_location /var/lib/m/\n\
                sys_interval 0\nlistener 1883\nmax_connections 50\n";
    let (_, notes, config) = imported(conf);
    assert_eq!(config.limits.max_inflight, 65535);
    assert_eq!(config.limits.max_queued_messages, 10_000, "midge's default");
    assert_eq!(config.limits.max_packet_size, 64);
    assert_eq!(config.limits.max_keepalive_secs, 300);
    assert_eq!(config.limits.max_connections, 50);
    assert!(!config.storage.in_memory);
    assert_eq!(
        config.storage.dir.as_deref(),
        Some(std::path::Path::new("/var/lib/m/"))
    );
    assert_eq!(config.sys.interval_secs, 0);
    assert_eq!(notes.len(), 2, "{notes:?}");
}

#[test]
fn every_unknown_or_unsupported_option_is_a_comment_with_a_reason() {
    let conf = "log_type all\nuser mosquitto\nno_such_option 1\nmax_qos 2\nmax_qos 1\n";
    let (toml, notes, _) = imported(conf);
    assert_eq!(notes.len(), 4, "{notes:?}");
    assert!(
        toml.contains("# not carried: log_type — log levels come from MIDGE_LOG"),
        "{toml}"
    );
    assert!(toml.contains("# not carried: no_such_option — "), "{toml}");
    // max_qos 2 is what midge does; max_qos 1 is not.
    assert!(
        toml.contains("# not carried: max_qos — ") && toml.contains("(line 5)"),
        "{toml}"
    );
    assert!(!toml.contains("(line 4)"), "{toml}");
}

#[test]
fn bridges_follow_the_bridge_contract() {
    let conf = "connection cloud\n\
                address broker.example.com:8883\n\
                topic sensors/# out 1\n\
                topic cmd/# in 2 \"\" remote/\n\
                bridge_protocol_version mqttv50\n\
                remote_clientid edge-1\nremote_username u\nremote_password secret\n\
                cleansession true\nkeepalive_interval 30\ntry_private false\n\
                bridge_cafile /c/ca.crt\nbridge_certfile /c/b.crt\nbridge_keyfile /c/b.key\n\
                bridge_insecure true\nstart_type lazy\n\
                connection second\naddresses a:1883 b\ntopic # both 0\n\
                max_queued_messages 5000\n";
    let out = import(conf);
    let doc: toml::Table = out
        .toml
        .parse()
        .unwrap_or_else(|e| panic!("{e}\n{}", out.toml));
    let bridges = doc["bridge"].as_array().expect("[[bridge]]");
    assert_eq!(bridges.len(), 2);
    let b = &bridges[0];
    assert_eq!(b["name"].as_str(), Some("cloud"));
    assert_eq!(
        b["address"].as_str(),
        Some("mqtts://broker.example.com:8883")
    );
    assert_eq!(b["protocol"].as_str(), Some("5"));
    assert_eq!(b["client_id"].as_str(), Some("edge-1"));
    assert_eq!(b["username"].as_str(), Some("u"));
    assert_eq!(b["password"].as_str(), Some("secret"));
    assert_eq!(b["clean_start"].as_bool(), Some(true));
    assert_eq!(b["keep_alive_secs"].as_integer(), Some(30));
    assert_eq!(b["try_private"].as_bool(), Some(false));
    let topics: Vec<&str> = b["topics"]
        .as_array()
        .expect("topics")
        .iter()
        .filter_map(toml::Value::as_str)
        .collect();
    assert_eq!(topics, ["sensors/# out 1", "cmd/# in 2 \"\" remote/"]);
    assert_eq!(b["max_queued_messages"].as_integer(), Some(5000));
    let tls = b["tls"].as_table().expect("[bridge.tls]");
    assert_eq!(tls["ca"].as_str(), Some("/c/ca.crt"));
    assert_eq!(tls["cert"].as_str(), Some("/c/b.crt"));
    assert_eq!(tls["key"].as_str(), Some("/c/b.key"));
    assert_eq!(tls["insecure"].as_bool(), Some(true));
    let b = &bridges[1];
    let addrs: Vec<&str> = b["addresses"]
        .as_array()
        .expect("addresses")
        .iter()
        .filter_map(toml::Value::as_str)
        .collect();
    assert_eq!(addrs, ["mqtt://a:1883", "mqtt://b:1883"]);
    assert!(b.get("tls").is_none());
    assert_eq!(out.not_carried.len(), 1, "{:?}", out.not_carried);
    assert!(out.not_carried[0].starts_with("start_type"));
}

#[test]
fn arbitrary_text_never_panics_and_always_parses_as_toml() {
    for conf in [
        "listener",
        "listener x y z",
        "connection",
        "topic",
        "port 99999",
        "\u{0}\n#\n  \t",
        "connection a\naddress\ntopic",
    ] {
        let out = import(conf);
        assert!(
            out.toml.parse::<toml::Table>().is_ok(),
            "{conf:?}\n{}",
            out.toml
        );
    }
}

#[test]
fn relative_paths_and_orphan_listener_options_are_noted() {
    let (_, notes, _) = imported("certfile s.crt\nkeyfile s.key\npassword_file passwd\n");
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(
        notes[0].starts_with("certfile/protocol/bind_address"),
        "{notes:?}"
    );
    assert!(
        notes[1].starts_with("relative paths — \"passwd\""),
        "{notes:?}"
    );
}

#[test]
fn include_dir_is_followed_in_order_and_its_lines_are_named() {
    let conf = "persistence true\ninclude_dir /etc/mosquitto/conf.d\nsys_interval 5\n";
    let mut asked = Vec::new();
    let out = super::import_with(conf, &mut |dir| {
        asked.push(dir.to_owned());
        Ok(vec![
            (
                "a.conf".to_owned(),
                "listener 1883\nallow_anonymous true\n".to_owned(),
            ),
            (
                "b.conf".to_owned(),
                "log_type all\ninclude_dir /x\n".to_owned(),
            ),
        ])
    });
    assert_eq!(asked, ["/etc/mosquitto/conf.d"]);
    let config = crate::config::file::parse(&out.toml, std::path::Path::new("/m.toml"))
        .unwrap_or_else(|e| panic!("{e}\n{}", out.toml));
    assert_eq!(config.listeners.len(), 1);
    assert!(config.auth.allow_anonymous);
    assert_eq!(config.sys.interval_secs, 5);
    assert_eq!(out.not_carried.len(), 2, "{:?}", out.not_carried);
    assert!(
        out.not_carried[0].ends_with("(b.conf line 1)"),
        "{:?}",
        out.not_carried
    );
    assert!(
        out.not_carried[1].starts_with("include_dir — only the main file"),
        "{:?}",
        out.not_carried
    );

    // Without a reader (the pure `import`), the line is noted.
    let out = import(conf);
    assert!(
        out.not_carried[0].starts_with("include_dir — /etc/mosquitto/conf.d: "),
        "{:?}",
        out.not_carried
    );
}
