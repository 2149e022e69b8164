//! The `midge` binary: command line → config → logging → runtime → broker, then the
//! dashboard, headless serving, or a subcommand. Errors end here as a message and an
//! exit code (2 for a bad flag or config).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use midge::broker::observe::SourceFacts;
use midge::broker::{Access, Broker, FileAccess, Open};
use midge::cli::{Cli, Command};
use midge::config::Config;
use midge::logs::LogLayer;

/// mimalloc: the broker allocates many small, short-lived buffers across threads
/// (messages, store records); glibc's malloc was ~15% of a persistent-QoS 1 profile.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Monitor(ref args)) => {
            return match run_monitor(args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(MonitorError::Ui(e)) => {
                    eprintln!("midge monitor: {e:#}");
                    ExitCode::FAILURE
                }
                Err(MonitorError::Remote(e)) => match e {
                    e @ midge::monitor::remote::RemoteError::Url(_) => {
                        eprintln!("midge monitor: {e}");
                        ExitCode::from(2)
                    }
                    e => {
                        eprintln!("midge monitor: {e}");
                        ExitCode::FAILURE
                    }
                },
            };
        }
        Some(Command::Bench(ref args)) => {
            return match midge::bench::run(args) {
                Ok(_) => ExitCode::SUCCESS,
                Err(e @ midge::bench::BenchError::Usage(_)) => {
                    eprintln!("midge bench: {e}");
                    ExitCode::from(2)
                }
                Err(e) => {
                    eprintln!("midge bench: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Some(Command::Passwd(ref p)) => {
            return match midge::auth::passwd_command(
                &p.file,
                &p.user,
                p.delete,
                false,
                p.password.as_deref(),
            ) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("midge passwd: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Some(Command::CheckConfig(ref a)) => {
            return match check_config(&a.config) {
                Ok(summary) => {
                    println!("{}: OK ({summary})", a.config.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("midge check-config: {e:#}");
                    ExitCode::from(2)
                }
            };
        }
        None => {}
    }
    let config = match Config::from_cli(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("midge: {e}");
            return ExitCode::from(2);
        }
    };
    let result = if cli.headless {
        run_headless(config)
    } else {
        run_dashboard(config)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("midge: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn filter() -> EnvFilter {
    EnvFilter::try_from_env("MIDGE_LOG").unwrap_or_else(|_| EnvFilter::new("info"))
}

fn open_log(path: &Path) -> anyhow::Result<Mutex<std::fs::File>> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening log file {}", path.display()))?;
    Ok(Mutex::new(file))
}

/// The runtime, without tokio's LIFO slot. With it, a worker first runs the task woken
/// last: when one poll of the I/O driver finds two clients' packets, the later one
/// reaches the router first, and a PUBLISH overtook another client's SUBSCRIBE that had
/// arrived before it. Without it, tasks woken together run in the order their sockets
/// became readable. The option needs `--cfg tokio_unstable` (.cargo/config.toml).
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    #[cfg(tokio_unstable)]
    builder.disable_lifo_slot();
    builder.enable_all().build().context("starting the runtime")
}

/// The password and ACL files of `[auth]` (reloadable), or open access when neither is
/// set.
/// The broker's access policy, and the reloadable files behind it when there are any.
type AccessSetup = (Arc<dyn Access>, Option<Arc<FileAccess>>);

fn access_from(config: &Config) -> anyhow::Result<AccessSetup> {
    let a = &config.auth;
    if a.password_file.is_none() && a.acl_file.is_none() {
        return Ok((
            Arc::new(Open {
                allow_anonymous: a.allow_anonymous,
            }),
            None,
        ));
    }
    let files = Arc::new(FileAccess::load(
        a.allow_anonymous,
        a.password_file.clone(),
        a.acl_file.clone(),
    )?);
    Ok((files.clone(), Some(files)))
}

/// Everything start-up would read from `path`, without binding or opening anything:
/// the TOML, each listener's TLS files, the password and ACL files.
fn check_config(path: &std::path::Path) -> anyhow::Result<String> {
    let config = Config::load(path)?;
    for l in &config.listeners {
        if let Some(tls) = &l.tls {
            midge::transport::tls::TlsContext::load(tls)?;
        }
    }
    access_from(&config)?;
    Ok(format!(
        "{} listener(s), storage {}, http {}",
        config.listeners.len(),
        if config.storage.in_memory {
            "in memory".to_owned()
        } else {
            config.data_dir().display().to_string()
        },
        config
            .http
            .map_or_else(|| "off".to_owned(), |a| a.to_string()),
    ))
}

/// SIGHUP re-reads TLS certificates and the password/ACL files; connections stay up.
fn reload_on_sighup(broker: &Broker, files: Option<Arc<FileAccess>>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let listeners = broker.listeners();
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            return;
        };
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                match listeners.reload() {
                    Ok(()) => tracing::info!("SIGHUP: certificates reloaded"),
                    Err(e) => {
                        tracing::error!(error = %e, "SIGHUP: certificates not reloaded, keeping the old ones")
                    }
                }
                if let Some(f) = &files {
                    match f.reload() {
                        Ok(()) => tracing::info!("SIGHUP: password and ACL files reloaded"),
                        Err(e) => {
                            tracing::error!(error = %e, "SIGHUP: auth files not reloaded, keeping the old ones")
                        }
                    }
                }
            }
        });
    }
}

/// Makes a write past `RLIMIT_FSIZE` (`ulimit -f`, `prlimit --fsize`) fail with `EFBIG`
/// instead of killing the process: the kernel sends SIGXFSZ, whose default action
/// terminates. With a handler installed, the store sees the error, latches it and
/// refuses further QoS ≥ 1 publishes to persistent sessions, like on a full disk, while
/// the broker keeps serving everything else. Call before the store opens.
fn survive_file_size_limit() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let raw = rustix::process::Signal::XFSZ.as_raw();
        let Ok(mut xfsz) = signal(SignalKind::from_raw(raw)) else {
            return;
        };
        tokio::spawn(async move {
            if xfsz.recv().await.is_some() {
                tracing::warn!("SIGXFSZ: a write exceeded the file size limit (RLIMIT_FSIZE)");
            }
            // Keep the handler installed, and quiet after the first warning.
            while xfsz.recv().await.is_some() {}
        });
    }
}

/// Every connection is a file descriptor: take the whole hard limit, and say so when
/// it is below `max_connections` (the kernel then refuses connections before midge does).
fn raise_open_file_limit(config: &Config) {
    let limit = midge::os::raise_nofile();
    let want = config.limits.max_connections as u64 + 64;
    match limit {
        Some(n) if n < want => tracing::warn!(
            limit = n,
            max_connections = config.limits.max_connections,
            "the open-file limit is below max_connections; raise the hard limit (ulimit -Hn, LimitNOFILE=)"
        ),
        Some(n) => tracing::info!(limit = n, "open-file limit"),
        None => {}
    }
}

/// Broker only; logs to stderr (and `--log-file`); SIGINT/SIGTERM stop it gracefully.
fn run_headless(config: Config) -> anyhow::Result<()> {
    let file_layer = match &config.log_file {
        Some(p) => Some(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(open_log(p)?),
        ),
        None => None,
    };
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(filter()),
        )
        .with(file_layer.with_filter(filter()))
        .with(midge::logs::ring().layer().with_filter(filter()))
        .init();
    runtime()?.block_on(async {
        survive_file_size_limit();
        raise_open_file_limit(&config);
        let (access, files) = access_from(&config)?;
        let broker = Broker::start(&config, access).await?;
        midge::mqttsn::start(&broker, &config).await?;
        if let Some(addr) = config.http {
            midge::http::start(addr, &broker).await?;
        }
        reload_on_sighup(&broker, files);
        wait_for_signal().await;
        tracing::info!("shutting down");
        broker.shutdown(Duration::from_secs(2)).await;
        Ok(())
    })
}

/// Where the dashboard's logs go when no `--log-file` is given.
fn default_log_file(config: &Config) -> PathBuf {
    config.data_dir().join("midge.log")
}

/// Broker and dashboard in this terminal. Logs go to the Log view and a file, never to
/// the terminal under the dashboard.
fn run_dashboard(config: Config) -> anyhow::Result<()> {
    let log_path = config
        .log_file
        .clone()
        .unwrap_or_else(|| default_log_file(&config));
    let (log_tx, log_rx) = tokio::sync::mpsc::channel(8192);
    let dropped = Arc::new(AtomicU64::new(0));
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(open_log(&log_path)?)
                .with_filter(filter()),
        )
        .with(LogLayer::new(log_tx, dropped.clone()).with_filter(filter()))
        .init();
    let rt = runtime()?;
    let mut broker = rt.block_on(async {
        survive_file_size_limit();
        raise_open_file_limit(&config);
        let (access, files) = access_from(&config)?;
        let broker = Broker::start(&config, access).await?;
        midge::mqttsn::start(&broker, &config).await?;
        if let Some(addr) = config.http {
            midge::http::start(addr, &broker).await?;
        }
        // SIGHUP here means the terminal went away, not "reload"; that is headless only.
        let _ = files;
        exit_on_terminal_signals();
        anyhow::Ok(broker)
    })?;
    let facts = SourceFacts {
        listeners: broker
            .local_addrs()
            .iter()
            .map(|a| format!("mqtt://{a}"))
            .collect(),
        own_client_id: None,
    };
    let link = {
        let _guard = rt.enter();
        midge::monitor::local::start(&mut broker, log_rx, dropped, facts)
    };
    let options = ui_options(
        format!("midge {}", env!("CARGO_PKG_VERSION")),
        Some(log_path),
    );
    let ui = midge_ui::run(link, options);
    tracing::info!("dashboard closed: shutting down");
    rt.block_on(broker.shutdown(Duration::from_secs(2)));
    ui.context("running the dashboard")
}

enum MonitorError {
    Remote(midge::monitor::remote::RemoteError),
    Ui(anyhow::Error),
}

/// `midge monitor URL`: the dashboard attached to another broker.
fn run_monitor(args: &midge::cli::MonitorArgs) -> Result<(), MonitorError> {
    let attached = midge::monitor::remote::attach(args).map_err(MonitorError::Remote)?;
    let options = ui_options(format!("midge {} monitor", env!("CARGO_PKG_VERSION")), None);
    let result = midge_ui::run(attached.link, options);
    attached
        .runtime
        .shutdown_timeout(Duration::from_millis(500));
    result.map_err(|e| MonitorError::Ui(e.into()))
}

/// The dashboard's options; `NO_COLOR` (non-empty) turns colours off.
fn ui_options(title: String, log_file: Option<PathBuf>) -> midge_ui::Options {
    midge_ui::Options {
        title,
        no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
        log_file,
    }
}

/// In dashboard mode, SIGTERM or SIGHUP (the terminal closed) give the terminal back and
/// exit: the durable store keeps what was acknowledged, so no graceful drain is needed.
fn exit_on_terminal_signals() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            return;
        };
        tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM: leaving"),
                _ = hup.recv() => tracing::info!("SIGHUP: the terminal went away, leaving"),
            }
            midge_ui::restore_terminal();
            std::process::exit(0);
        });
    }
}

/// SIGINT or SIGTERM.
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
