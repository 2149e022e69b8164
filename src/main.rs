//! The `midge` binary: command line → config → logging → runtime → broker, then the
//! dashboard, headless serving, or a subcommand. Errors end here as a message and an
//! exit code (2 for a bad flag or config).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;

use midge::auth::Authenticator;
use midge::broker::{Access, Broker, Open};
use midge::cli::{Cli, Command};
use midge::config::Config;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Bench(args)) => {
            return match midge::bench::run(&args) {
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
        Some(Command::Monitor(_)) | Some(Command::Passwd(_)) => {
            eprintln!("midge: this subcommand is not available yet");
            return ExitCode::from(2);
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
    init_tracing();
    match run_headless(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("midge: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("MIDGE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn run_headless(config: Config) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(async {
        let access = access_from(&config)?;
        let broker = Broker::start(&config, access).await?;
        wait_for_signal().await;
        tracing::info!("shutting down");
        broker.shutdown(Duration::from_secs(2)).await;
        Ok(())
    })
}

/// The password and ACL files of `[auth]`, or open access when neither is set.
fn access_from(config: &Config) -> anyhow::Result<Arc<dyn Access>> {
    let a = &config.auth;
    if a.password_file.is_none() && a.acl_file.is_none() {
        return Ok(Arc::new(Open {
            allow_anonymous: a.allow_anonymous,
        }));
    }
    let auth = Authenticator::new(
        a.allow_anonymous,
        a.password_file.as_deref(),
        a.acl_file.as_deref(),
    )?;
    Ok(Arc::new(auth))
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
