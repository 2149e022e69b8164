//! The command line of the `midge` binary: clap derive types, no behaviour.
//!
//! Owns the user-facing contract of flags and subcommands (see DESIGN.md, "Interface
//! contract"). Turning the flags into a [`Config`](crate::config::Config) lives in
//! [`Config::from_cli`](crate::config::Config::from_cli); running anything lives in `main.rs`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// midge: an MQTT 3.1 / 3.1.1 / 5.0 broker with a live terminal dashboard.
///
/// Without a command, runs the broker and shows its dashboard in this terminal.
/// Command-line flags override the values of the config file.
#[derive(Debug, Clone, PartialEq, Eq, Parser)]
#[command(name = "midge", version, about, long_about)]
pub struct Cli {
    /// Run the broker only, without the dashboard [default: off]
    ///
    /// Logs go to stderr (or --log-file); SIGINT or SIGTERM shut it down gracefully.
    #[arg(long)]
    pub headless: bool,

    /// Read the configuration from this TOML file [default: none, built-in defaults]
    ///
    /// Unknown keys are errors. Relative paths inside the file are relative to the file's
    /// directory. Flags override the file's values. See midge.example.toml.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Listen for plain MQTT over TCP on ADDR (IP:PORT); repeatable [default: 127.0.0.1:1883]
    ///
    /// Replaces the [[listener]] tables of the config file. The default applies only when
    /// no listener is configured anywhere.
    #[arg(short = 'l', long = "listen", value_name = "ADDR")]
    pub listen: Vec<SocketAddr>,

    /// Keep the durable store in DIR [default: the platform data dir, e.g. ~/.local/share/midge]
    ///
    /// The store holds persistent sessions, their queues and in-flight messages, and
    /// retained messages. Overrides [storage] dir and in_memory of the config file.
    #[arg(long, value_name = "DIR", conflicts_with = "in_memory")]
    pub data_dir: Option<PathBuf>,

    /// Keep all state in memory only: nothing survives a restart [default: off].
    #[arg(long)]
    pub in_memory: bool,

    /// Accept clients that connect without a username [default: true].
    #[arg(long, value_name = "BOOL", value_parser = clap::value_parser!(bool))]
    pub allow_anonymous: Option<bool>,

    /// Check usernames and passwords against this password file [default: none]
    ///
    /// Mosquitto format; create and edit it with `midge passwd`.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,

    /// Restrict publish/subscribe by topic with this ACL file [default: none, all allowed]
    ///
    /// Mosquitto syntax: `user`, `topic` and `pattern` lines.
    #[arg(long, value_name = "FILE")]
    pub acl_file: Option<PathBuf>,

    /// Append logs to this file [default: stderr when headless, else the dashboard]
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,

    /// Serve GET /metrics (Prometheus text), /healthz and /readyz on ADDR [default: off]
    #[arg(long, value_name = "ADDR")]
    pub http: Option<SocketAddr>,

    /// Headless log lines as `text` or `json` [default: text]
    ///
    /// json: one object per line (stderr and --log-file) with timestamp, level, target,
    /// message, the event's fields beside them, and the current span's fields under "span".
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// How a headless broker writes its log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (tracing's default format).
    #[default]
    Text,
    /// One JSON object per line, for log pipelines.
    Json,
}

/// The subcommands; `None` in [`Cli::command`] means "run the broker".
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Show the dashboard of another MQTT broker (reads its $SYS topics and traffic).
    Monitor(MonitorArgs),
    /// Add, change or delete a user in a Mosquitto-compatible password file.
    Passwd(PasswdArgs),
    /// Generate MQTT load against a broker and report throughput and latency.
    Bench(BenchArgs),
    /// Check a config file (and the TLS, password and ACL files it names) without
    /// starting the broker: exit 0 when it would start, 2 with the file, line and key.
    CheckConfig(CheckConfigArgs),
    /// Print the midge.toml equivalent of a mosquitto.conf, with a `# not carried:`
    /// comment for each option midge cannot take, and why.
    ImportMosquitto(ImportMosquittoArgs),
    /// Publish a recording made in the dashboard (Pub/Sub, R) to a broker.
    Replay(ReplayArgs),
}

/// `midge import-mosquitto FILE`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct ImportMosquittoArgs {
    /// The mosquitto.conf to convert; the TOML goes to stdout.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// `midge replay FILE [URL] [--speed N | --as-fast-as-possible]`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct ReplayArgs {
    /// The recording: JSON Lines, one message a line, as the dashboard writes it.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// The broker: mqtt://[user[:pass]@]host[:port] or mqtts://…
    #[arg(value_name = "URL", default_value = "mqtt://127.0.0.1:1883")]
    pub url: String,

    /// Replay N times faster than recorded (0.5 = half speed)
    #[arg(long, value_name = "N", default_value = "1", value_parser = positive_speed)]
    pub speed: Speed,

    /// Publish without waiting between messages (each QoS 1/2 one still acknowledged).
    #[arg(long, conflicts_with = "speed")]
    pub as_fast_as_possible: bool,

    /// Trust the broker's certificate if it chains to this PEM CA file (mqtts://).
    #[arg(long, value_name = "FILE")]
    pub cafile: Option<PathBuf>,

    /// Do not verify the broker's certificate or host name (testing only).
    #[arg(long)]
    pub insecure: bool,
}

/// A replay speed factor: finite and above 0 (so `Eq` holds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Speed(pub f64);

impl Eq for Speed {}

/// `--speed` is not a number above 0 (0 or less would never finish).
#[derive(Debug, thiserror::Error)]
#[error("not a speed above 0 (e.g. 2, or 0.5 for half speed)")]
pub struct BadSpeed;

fn positive_speed(s: &str) -> Result<Speed, BadSpeed> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(Speed(v)),
        _ => Err(BadSpeed),
    }
}

/// `midge check-config -c FILE`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct CheckConfigArgs {
    /// The TOML config file to check.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: PathBuf,
}

/// `midge monitor URL`: attach the dashboard to a running broker.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct MonitorArgs {
    /// The broker to watch: mqtt://[user[:pass]@]host[:port] (port 1883) or
    /// mqtts://[user[:pass]@]host[:port] (TLS, port 8883).
    #[arg(value_name = "URL")]
    pub url: String,

    /// Trust the broker's certificate if it chains to this PEM CA file
    /// [default: the system's root certificates].
    #[arg(long, value_name = "FILE")]
    pub cafile: Option<PathBuf>,

    /// Present this PEM client certificate (needs --key) [default: none].
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,

    /// The PEM private key of --cert [default: none].
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,

    /// Do not verify the broker's certificate or host name (testing only) [default: off].
    #[arg(long)]
    pub insecure: bool,
}

/// `midge passwd FILE USER`, with `mosquitto_passwd` semantics: the file is created if
/// missing, the user added or their password replaced; the password is prompted for
/// (twice on a terminal) or read from stdin by the auth module.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct PasswdArgs {
    /// Delete USER from FILE instead of setting a password
    #[arg(short = 'D', long, conflicts_with = "batch")]
    pub delete: bool,

    /// Take the password from the command line (PASSWORD) instead of prompting
    ///
    /// The password is then visible in the process list and shell history.
    #[arg(short = 'b', long, requires = "password")]
    pub batch: bool,

    /// The password file (Mosquitto format).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// The username.
    #[arg(value_name = "USER")]
    pub user: String,

    /// The password, with --batch only.
    #[arg(value_name = "PASSWORD", requires = "batch")]
    pub password: Option<String>,
}

/// `midge bench SCENARIO …`: the load generator's options live with it.
pub use crate::bench::BenchArgs;

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("midge").chain(args.iter().copied()))
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_arguments_runs_the_broker_with_defaults() {
        let cli = parse(&[]).expect("empty command line parses");
        assert!(!cli.headless);
        assert!(cli.command.is_none());
        assert!(cli.listen.is_empty());
        assert_eq!(cli.allow_anonymous, None);
        assert!(!cli.in_memory);
    }

    #[test]
    fn all_broker_flags_parse() {
        let cli = parse(&[
            "--headless",
            "-c",
            "midge.toml",
            "-l",
            "127.0.0.1:1883",
            "--listen",
            "[::1]:1884",
            "--data-dir",
            "/var/lib/midge",
            "--allow-anonymous",
            "false",
            "--password-file",
            "passwd",
            "--acl-file",
            "acl",
            "--log-file",
            "midge.log",
        ])
        .expect("valid flags parse");
        assert!(cli.headless);
        assert_eq!(cli.config, Some(PathBuf::from("midge.toml")));
        let expected: Vec<SocketAddr> = vec![
            "127.0.0.1:1883".parse().expect("literal"),
            "[::1]:1884".parse().expect("literal"),
        ];
        assert_eq!(cli.listen, expected);
        assert_eq!(cli.data_dir, Some(PathBuf::from("/var/lib/midge")));
        assert_eq!(cli.allow_anonymous, Some(false));
        assert_eq!(cli.password_file, Some(PathBuf::from("passwd")));
        assert_eq!(cli.acl_file, Some(PathBuf::from("acl")));
        assert_eq!(cli.log_file, Some(PathBuf::from("midge.log")));
    }

    #[test]
    fn bad_flags_are_usage_errors() {
        let unknown = parse(&["--no-such-flag"]).expect_err("unknown flag");
        assert_eq!(unknown.kind(), ErrorKind::UnknownArgument);
        // clap exits with 2 on usage errors; main relies on it.
        assert_eq!(unknown.exit_code(), 2);

        let bad_addr = parse(&["-l", "localhost:1883"]).expect_err("not an IP");
        assert_eq!(bad_addr.kind(), ErrorKind::ValueValidation);
        assert!(bad_addr.to_string().contains("--listen"), "{bad_addr}");

        let bad_bool = parse(&["--allow-anonymous", "maybe"]).expect_err("not a bool");
        assert_eq!(bad_bool.kind(), ErrorKind::InvalidValue);

        let missing = parse(&["--allow-anonymous"]).expect_err("needs a value");
        assert_eq!(missing.exit_code(), 2);
    }

    #[test]
    fn data_dir_and_in_memory_conflict() {
        let err = parse(&["--in-memory", "--data-dir", "d"]).expect_err("conflict");
        assert_eq!(err.kind(), ErrorKind::ArgumentConflict);
    }

    #[test]
    fn monitor_takes_url_and_tls_options() {
        let cli = parse(&[
            "monitor",
            "mqtts://u:p@example.org",
            "--cafile",
            "ca.pem",
            "--cert",
            "c.pem",
            "--key",
            "k.pem",
        ])
        .expect("monitor parses");
        let Some(Command::Monitor(args)) = cli.command else {
            panic!("expected monitor, got {:?}", cli.command);
        };
        assert_eq!(args.url, "mqtts://u:p@example.org");
        assert_eq!(args.cafile, Some(PathBuf::from("ca.pem")));
        assert_eq!(args.cert, Some(PathBuf::from("c.pem")));
        assert_eq!(args.key, Some(PathBuf::from("k.pem")));
        assert!(!args.insecure);

        let err = parse(&["monitor", "mqtt://h", "--cert", "c.pem"]).expect_err("cert w/o key");
        assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument);
        let err = parse(&["monitor"]).expect_err("url required");
        assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument);
    }

    #[test]
    fn passwd_forms() {
        let cli = parse(&["passwd", "pw", "alice"]).expect("set");
        assert_eq!(
            cli.command,
            Some(Command::Passwd(PasswdArgs {
                delete: false,
                batch: false,
                file: PathBuf::from("pw"),
                user: "alice".to_owned(),
                password: None,
            }))
        );

        let cli = parse(&["passwd", "--delete", "pw", "alice"]).expect("delete");
        assert!(matches!(
            cli.command,
            Some(Command::Passwd(PasswdArgs { delete: true, .. }))
        ));
        let cli = parse(&["passwd", "-D", "pw", "alice"]).expect("mosquitto's -D");
        assert!(matches!(
            cli.command,
            Some(Command::Passwd(PasswdArgs { delete: true, .. }))
        ));

        let cli = parse(&["passwd", "-b", "pw", "alice", "s3cret"]).expect("batch");
        let Some(Command::Passwd(args)) = cli.command else {
            panic!("expected passwd");
        };
        assert!(args.batch);
        assert_eq!(args.password.as_deref(), Some("s3cret"));

        // A password only with --batch, and --batch only with a password.
        assert!(parse(&["passwd", "pw", "alice", "s3cret"]).is_err());
        assert!(parse(&["passwd", "-b", "pw", "alice"]).is_err());
        assert!(parse(&["passwd", "pw"]).is_err());
    }

    #[test]
    fn bench_takes_a_scenario() {
        let cli = parse(&["bench", "fanin", "-q", "1", "--json"]).expect("bench");
        let Some(Command::Bench(args)) = cli.command else {
            panic!("expected bench");
        };
        assert_eq!(args.scenario, crate::bench::Scenario::Fanin);
        assert_eq!(args.qos, 1);
        assert!(args.json);
        assert!(parse(&["bench"]).is_err(), "a scenario is required");
        assert!(parse(&["bench", "fanin", "-q", "3"]).is_err());
        assert!(parse(&["bench", "fanin", "--duration", "121"]).is_err());
    }

    #[test]
    fn help_states_defaults() {
        let help = Cli::command().render_long_help().to_string();
        for needle in [
            "127.0.0.1:1883",
            "--allow-anonymous <BOOL>",
            "[default: true]",
        ] {
            assert!(help.contains(needle), "help lacks {needle:?}:\n{help}");
        }
    }
}
