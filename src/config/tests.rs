//! Tests of the config file, its errors, and the command-line overrides.

use super::*;
use clap::Parser;

const ORIGIN: &str = "conf/midge.toml";

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml_str(text, Path::new(ORIGIN))
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test literal is an address")
}

fn cli(args: &[&str]) -> Cli {
    Cli::try_parse_from(std::iter::once("midge").chain(args.iter().copied()))
        .expect("test command line parses")
}

/// Asserts `text` fails semantic validation at `line` on `key`, and returns the message.
fn invalid(text: &str, want_line: usize, want_key: &str) -> String {
    let err = parse(text).expect_err("config should be rejected");
    let msg = err.to_string();
    match &err {
        ConfigError::Invalid {
            file, line, key, ..
        } => {
            assert_eq!(file, Path::new(ORIGIN), "{msg}");
            assert_eq!(*line, want_line, "{msg}");
            assert_eq!(key, want_key, "{msg}");
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert!(
        msg.starts_with(&format!("{ORIGIN}:{want_line}: {want_key} = ")),
        "{msg}"
    );
    msg
}

/// Asserts `text` fails to deserialize at `line`, and returns the message.
fn syntax(text: &str, want_line: usize) -> String {
    let err = parse(text).expect_err("config should be rejected");
    let msg = err.to_string();
    match &err {
        ConfigError::Syntax { file, line, .. } => {
            assert_eq!(file, Path::new(ORIGIN), "{msg}");
            assert_eq!(*line, want_line, "{msg}");
        }
        other => panic!("expected Syntax, got {other:?}"),
    }
    assert!(msg.starts_with(&format!("{ORIGIN}:{want_line}:")), "{msg}");
    msg
}

#[test]
fn defaults_are_the_documented_ones() {
    let c = Config::default();
    assert!(c.listeners.is_empty());
    assert!(c.auth.allow_anonymous);
    assert_eq!(c.auth.password_file, None);
    assert_eq!(c.auth.acl_file, None);
    assert_eq!(
        c.limits,
        Limits {
            max_connections: 100_000,
            max_packet_size: 268_435_455,
            max_inflight: 100,
            max_queued_messages: 10_000,
            connect_timeout_secs: 10,
            max_keepalive_secs: 65_535,
            max_topic_levels: 128,
            max_topic_length: 65_535,
            max_publish_rate: 0,
        }
    );
    assert_eq!(c.storage.dir, None);
    assert!(!c.storage.in_memory);
    assert_eq!(c.storage.sync, SyncMode::Always);
    assert_eq!(c.storage.sync_interval_ms, 1000);
    assert_eq!(c.sys.interval_secs, 10);
    assert_eq!(c.log_file, None);
}

#[test]
fn empty_file_gives_defaults() {
    assert_eq!(parse("").expect("empty config"), Config::default());
    assert_eq!(
        parse("# only a comment\n").expect("comment"),
        Config::default()
    );
}

#[test]
fn example_config_parses() {
    let text = include_str!("../../midge.example.toml");
    let c = parse(text).expect("midge.example.toml is valid");
    let base = Path::new("conf");
    assert_eq!(
        c.listeners,
        vec![
            ListenerConfig {
                bind: addr("127.0.0.1:1883"),
                kind: ListenerKind::Tcp,
                ws_path: "/mqtt".to_owned(),
                tls: Some(TlsConfig {
                    cert: base.join("server.crt"),
                    key: base.join("server.key"),
                    client_ca: Some(base.join("ca.crt")),
                    identity_as_username: false,
                }),
            },
            ListenerConfig {
                bind: addr("127.0.0.1:8080"),
                kind: ListenerKind::Ws,
                ws_path: "/mqtt".to_owned(),
                tls: None,
            },
        ]
    );
    assert_eq!(
        c.auth,
        AuthConfig {
            allow_anonymous: true,
            password_file: Some(base.join("passwd")),
            acl_file: Some(base.join("acl")),
        }
    );
    assert_eq!(c.limits, Limits::default());
    assert_eq!(c.storage.dir, Some(base.join("data")));
    assert_eq!(c.storage.sync, SyncMode::Always);
    assert_eq!(c.sys, SysConfig::default());
}

#[test]
fn design_md_example_without_placeholder_parses() {
    // The snippet of DESIGN.md's interface contract, with its "…" dir made concrete.
    let text = r#"
[[listener]]
bind = "127.0.0.1:1883"
kind = "tcp"
[listener.tls]
cert = "server.crt"
key = "server.key"
client_ca = "ca.crt"
identity_as_username = false

[auth]
allow_anonymous = true
password_file = "passwd"
acl_file = "acl"

[limits]
max_connections = 100000
max_packet_size = 268435455
max_inflight = 100
max_queued_messages = 10000
connect_timeout_secs = 10
max_keepalive_secs = 65535

[storage]
dir = "/var/lib/midge"
sync = "always"

[sys]
interval_secs = 10

[http]
bind = "127.0.0.1:9883"
"#;
    let c = parse(text).expect("DESIGN.md example");
    assert_eq!(c.http, Some(addr("127.0.0.1:9883")));
    assert_eq!(c.listeners.len(), 1);
    assert_eq!(c.storage.dir, Some(PathBuf::from("/var/lib/midge")));
}

#[test]
fn values_are_read() {
    let text = r#"
log_file = "/var/log/midge.log"
[[listener]]
bind = "[::]:9001"
kind = "ws"
ws_path = "/ws"
[listener.tls]
cert = "/etc/c.pem"
key = "k.pem"
client_ca = "ca.pem"
identity_as_username = true
[auth]
allow_anonymous = false
[limits]
max_connections = 5
max_packet_size = 64
max_inflight = 65535
max_queued_messages = 0
connect_timeout_secs = 3
max_keepalive_secs = 60
max_topic_levels = 4
max_topic_length = 100
[storage]
in_memory = true
sync = "interval"
sync_interval_ms = 250
[sys]
interval_secs = 0
"#;
    let c = parse(text).expect("valid config");
    assert_eq!(c.log_file, Some(PathBuf::from("/var/log/midge.log")));
    let l = &c.listeners[0];
    assert_eq!(l.bind, addr("[::]:9001"));
    assert_eq!(l.kind, ListenerKind::Ws);
    assert_eq!(l.ws_path, "/ws");
    let tls = l.tls.as_ref().expect("tls");
    assert_eq!(tls.cert, PathBuf::from("/etc/c.pem"), "absolute paths stay");
    assert_eq!(tls.key, Path::new("conf").join("k.pem"));
    assert!(tls.identity_as_username);
    assert!(!c.auth.allow_anonymous);
    assert_eq!(
        c.limits,
        Limits {
            max_connections: 5,
            max_packet_size: 64,
            max_inflight: 65_535,
            max_queued_messages: 0,
            connect_timeout_secs: 3,
            max_keepalive_secs: 60,
            max_topic_levels: 4,
            max_topic_length: 100,
            max_publish_rate: 0,
        }
    );
    assert!(c.storage.in_memory);
    assert_eq!(c.storage.sync, SyncMode::Interval);
    assert_eq!(c.storage.sync_interval_ms, 250);
    assert_eq!(c.sys.interval_secs, 0);
}

#[test]
fn range_errors_name_key_and_line() {
    let msg = invalid(
        "\n\n[limits]\nmax_inflight = 0\n",
        4,
        "[limits] max_inflight",
    );
    assert_eq!(
        msg,
        "conf/midge.toml:4: [limits] max_inflight = 0: must be between 1 and 65535"
    );
    // Out of the type's range gets the same message, not serde's "expected u16".
    invalid("[limits]\nmax_inflight = 70000", 2, "[limits] max_inflight");
    invalid(
        "[limits]\nmax_connections = 0",
        2,
        "[limits] max_connections",
    );
    let msg = invalid(
        "[limits]\nmax_packet_size = 63",
        2,
        "[limits] max_packet_size",
    );
    assert!(msg.ends_with("must be between 64 and 268435455"), "{msg}");
    invalid(
        "[limits]\nmax_packet_size = 268435456",
        2,
        "[limits] max_packet_size",
    );
    invalid(
        "[limits]\nmax_queued_messages = -1",
        2,
        "[limits] max_queued_messages",
    );
    invalid(
        "[limits]\nconnect_timeout_secs = 0",
        2,
        "[limits] connect_timeout_secs",
    );
    invalid(
        "[limits]\nmax_keepalive_secs = 0",
        2,
        "[limits] max_keepalive_secs",
    );
    invalid(
        "[limits]\nmax_topic_levels = 0",
        2,
        "[limits] max_topic_levels",
    );
    invalid(
        "[limits]\nmax_topic_length = 65536",
        2,
        "[limits] max_topic_length",
    );
    invalid(
        "[storage]\nsync_interval_ms = 0",
        2,
        "[storage] sync_interval_ms",
    );
    invalid("[sys]\ninterval_secs = -5", 2, "[sys] interval_secs");
    invalid("[http]\nbind = \"localhost:9883\"", 2, "[http] bind");
}

#[test]
fn listener_errors_name_key_and_line() {
    let msg = invalid(
        "[[listener]]\nbind = \"localhost:1883\"\n",
        2,
        "[[listener]] bind",
    );
    assert!(
        msg.contains("= \"localhost:1883\": not an IP:PORT"),
        "{msg}"
    );

    invalid(
        "[[listener]]\nbind = \"0.0.0.0:1883\"\nkind = \"ws\"\nws_path = \"mqtt\"\n",
        4,
        "[[listener]] ws_path",
    );
    let msg = invalid(
        "[[listener]]\nbind = \"0.0.0.0:1883\"\nws_path = \"/mqtt\"\n",
        3,
        "[[listener]] ws_path",
    );
    assert!(msg.contains("only applies to kind = \"ws\""), "{msg}");

    let msg = invalid(
        "[[listener]]\nbind = \"0.0.0.0:1883\"\n[[listener]]\nbind = \"0.0.0.0:1883\"\n",
        4,
        "[[listener]] bind",
    );
    assert!(
        msg.ends_with("already used by the [[listener]] at line 2"),
        "{msg}"
    );
    // Port 0 never collides: each bind gets a fresh port.
    parse("[[listener]]\nbind = \"127.0.0.1:0\"\n[[listener]]\nbind = \"127.0.0.1:0\"\n")
        .expect("two ephemeral listeners");
}

#[test]
fn tls_errors_name_key_and_line() {
    let head = "[[listener]]\nbind = \"0.0.0.0:8883\"\n[listener.tls]\n";
    invalid(
        &format!("{head}cert = \"\"\nkey = \"k.pem\"\n"),
        4,
        "[listener.tls] cert",
    );
    invalid(
        &format!("{head}cert = \"c.pem\"\nkey = \" \"\n"),
        5,
        "[listener.tls] key",
    );
    let msg = invalid(
        &format!("{head}cert = \"c.pem\"\nkey = \"k.pem\"\nidentity_as_username = true\n"),
        6,
        "[listener.tls] identity_as_username",
    );
    assert!(msg.contains("needs client_ca"), "{msg}");
    // A missing file key is a deserialize error pointing into the tls table.
    let msg = syntax(&format!("{head}cert = \"c.pem\"\n"), 3);
    assert!(msg.contains("missing field `key`"), "{msg}");
}

#[test]
fn storage_contradiction_is_rejected() {
    invalid(
        "[storage]\ndir = \"d\"\nin_memory = true\n",
        3,
        "[storage] in_memory",
    );
}

#[test]
fn unknown_keys_name_key_and_line() {
    let msg = syntax("[limits]\nmax_inflight = 5\nmax_inflght = 5 # typo\n", 3);
    assert!(
        msg.starts_with(
            "conf/midge.toml:3:1: [limits] max_inflght = 5: unknown field `max_inflght`"
        ),
        "{msg}"
    );
    let msg = syntax("\n[limitz]\n", 2);
    assert!(msg.contains("[limitz]: unknown field `limitz`"), "{msg}");
    let msg = syntax("[[listener]]\nbind = \"127.0.0.1:1\"\nport = 3\n", 3);
    assert!(
        msg.contains("[[listener]] port = 3: unknown field `port`"),
        "{msg}"
    );
}

#[test]
fn type_and_enum_errors_name_key_and_line() {
    let msg = syntax("[limits]\n\nmax_inflight = \"many\"\n", 3);
    assert!(msg.contains("[limits] max_inflight = \"many\": "), "{msg}");
    let msg = syntax("[storage]\nsync = \"sometimes\" # nope\n", 2);
    assert!(
        msg.contains("[storage] sync = \"sometimes\": unknown variant"),
        "{msg}"
    );
    let msg = syntax("[[listener]]\nbind = \"0.0.0.0:1\"\nkind = \"udp\"\n", 3);
    assert!(msg.contains("unknown variant `udp`"), "{msg}");
    let msg = syntax("[auth]\nallow_anonymous = \"yes\"\n", 2);
    assert!(msg.contains("[auth] allow_anonymous = \"yes\""), "{msg}");
}

#[test]
fn toml_syntax_errors_name_line_and_column() {
    let err = parse("[limits]\nmax_inflight = = 3\n").expect_err("bad toml");
    let ConfigError::Syntax { line, column, .. } = err else {
        panic!("expected Syntax, got {err:?}");
    };
    assert_eq!((line, column), (2, 16));
    syntax("[limits\n", 1);
}

#[test]
fn position_counts_lines_and_chars() {
    let text = "a\nbé=1\n";
    assert_eq!(file::position(text, 0), (1, 1));
    assert_eq!(file::position(text, 2), (2, 1));
    assert_eq!(file::position(text, 5), (2, 3), "é is one column");
    assert_eq!(file::position(text, 4), (2, 2), "inside é: backs off");
    assert_eq!(file::position(text, 999), (3, 1), "clamped to the end");
}

#[test]
fn load_reports_missing_file() {
    let err = Config::load(Path::new("/nonexistent/midge.toml")).expect_err("no file");
    assert!(matches!(err, ConfigError::Read { .. }));
    assert!(err.to_string().contains("/nonexistent/midge.toml"), "{err}");
}

#[test]
fn load_reads_a_file() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("midge.toml");
    std::fs::write(
        &path,
        "[auth]\nacl_file = \"acl\"\n[limits]\nmax_inflight = 0\n",
    )?;
    let err = Config::load(&path).expect_err("invalid value");
    assert!(
        err.to_string()
            .starts_with(&format!("{}:4: ", path.display())),
        "{err}"
    );
    std::fs::write(&path, "[auth]\nacl_file = \"acl\"\n")?;
    let c = Config::load(&path)?;
    assert_eq!(c.auth.acl_file, Some(dir.path().join("acl")));
    Ok(())
}

#[test]
fn default_listener_only_when_none_configured() {
    let c = Config::from_cli(&cli(&[])).expect("no file");
    assert_eq!(c.listeners, vec![ListenerConfig::tcp(DEFAULT_LISTEN)]);
    assert_eq!(DEFAULT_LISTEN, addr("127.0.0.1:1883"));
}

#[test]
fn repeated_listen_gives_two_listeners() {
    let c = Config::from_cli(&cli(&["-l", "127.0.0.1:1883", "-l", "[::1]:1884"])).expect("ok");
    assert_eq!(
        c.listeners,
        vec![
            ListenerConfig::tcp(addr("127.0.0.1:1883")),
            ListenerConfig::tcp(addr("[::1]:1884")),
        ]
    );
}

#[test]
fn flags_override_file_values() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("midge.toml");
    std::fs::write(
        &path,
        r#"
[[listener]]
bind = "0.0.0.0:1883"
kind = "ws"
[auth]
allow_anonymous = true
password_file = "file-passwd"
[storage]
in_memory = true
[limits]
max_inflight = 7
"#,
    )?;
    let file = path.to_str().ok_or("temp path is not UTF-8")?;

    // Without flags the file's values stand, and its listener suppresses the default.
    let c = Config::from_cli(&cli(&["-c", file]))?;
    assert_eq!(c.listeners.len(), 1);
    assert_eq!(c.listeners[0].kind, ListenerKind::Ws);
    assert_eq!(c.auth.password_file, Some(dir.path().join("file-passwd")));

    let c = Config::from_cli(&cli(&[
        "-c",
        file,
        "-l",
        "127.0.0.1:2883",
        "--allow-anonymous",
        "false",
        "--password-file",
        "flag-passwd",
        "--acl-file",
        "flag-acl",
        "--data-dir",
        "flag-data",
        "--log-file",
        "flag.log",
    ]))?;
    assert_eq!(
        c.listeners,
        vec![ListenerConfig::tcp(addr("127.0.0.1:2883"))]
    );
    assert!(!c.auth.allow_anonymous);
    assert_eq!(c.auth.password_file, Some(PathBuf::from("flag-passwd")));
    assert_eq!(c.auth.acl_file, Some(PathBuf::from("flag-acl")));
    assert_eq!(c.storage.dir, Some(PathBuf::from("flag-data")));
    assert!(
        !c.storage.in_memory,
        "--data-dir turns the file's in_memory off"
    );
    assert_eq!(c.data_dir(), PathBuf::from("flag-data"));
    assert_eq!(c.log_file, Some(PathBuf::from("flag.log")));
    assert_eq!(c.limits.max_inflight, 7, "values without a flag stay");
    Ok(())
}

#[test]
fn in_memory_flag() {
    let c = Config::from_cli(&cli(&["--in-memory"])).expect("ok");
    assert!(c.storage.in_memory);
    let c = Config::from_cli(&cli(&[])).expect("ok");
    assert!(!c.storage.in_memory);
}

#[test]
fn bad_config_file_fails_from_cli() {
    let err = Config::from_cli(&cli(&["-c", "/nonexistent/midge.toml"])).expect_err("missing");
    assert!(matches!(err, ConfigError::Read { .. }));
}

#[test]
fn data_dir_defaults_to_a_platform_dir() {
    let c = Config::default();
    let dir = c.data_dir();
    assert!(dir.ends_with("midge") || dir.ends_with("data") || dir == Path::new("midge-data"));
    let c = parse("[storage]\ndir = \"/srv/midge\"\n").expect("ok");
    assert_eq!(c.data_dir(), PathBuf::from("/srv/midge"));
}

#[test]
fn toml_messages_are_one_line_in_user_terms() {
    let msg = syntax("[limits]\nmax_inflight = 1.5\n", 2);
    assert!(msg.ends_with("expected an integer"), "{msg}");
    let msg = syntax("[limits]\nmax_inflight = = 3\n", 2);
    assert!(!msg.contains('\n'), "{msg}");
}

#[test]
fn ui_decoders_map_filters() {
    let c = parse(
        "[ui.decoders]\n\"spBv1.0/#\" = \"sparkplug\"\n\"factory/+/json\" = \"json\"\n\"raw/#\" = \"hex\"\n",
    )
    .expect("ok");
    assert_eq!(
        c.ui_decoders,
        vec![
            ("factory/+/json".to_owned(), PayloadDecoder::Json),
            ("raw/#".to_owned(), PayloadDecoder::Hex),
            ("spBv1.0/#".to_owned(), PayloadDecoder::Sparkplug),
        ]
    );
    assert!(parse("").expect("ok").ui_decoders.is_empty());
    invalid(
        "[ui.decoders]\n\"a/#/b\" = \"json\"\n",
        2,
        "[ui.decoders] \"a/#/b\"",
    );
    let msg = syntax("[ui.decoders]\n\"a/#\" = \"protobuf\"\n", 2);
    assert!(msg.contains("protobuf"), "{msg}");
}
