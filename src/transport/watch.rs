//! Certificates re-read when their files change, without a SIGHUP: every few seconds the
//! TLS files' metadata (through symlinks, so a Kubernetes secret's `..data` swap counts)
//! is compared with the last look, and any change reloads every TLS listener (all or
//! nothing, as SIGHUP does). A half-written pair fails to load, is logged, and is tried
//! again at the next change.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use super::ListenerSet;

/// How often the files are looked at.
pub const POLL: Duration = Duration::from_secs(3);

/// What identifies a file's content cheaply: device, inode, size and modification time of
/// the file a path resolves to; `None` when it cannot be read.
type Stamp = Option<(u64, u64, u64, SystemTime)>;

fn stamps(paths: &[PathBuf]) -> Vec<Stamp> {
    use std::os::unix::fs::MetadataExt;
    paths
        .iter()
        .map(|p| {
            let m = std::fs::metadata(p).ok()?;
            Some((m.dev(), m.ino(), m.len(), m.modified().ok()?))
        })
        .collect()
}

/// Starts watching `set`'s TLS files every `every` (on the current runtime); nothing to do
/// without TLS listeners.
pub fn reload_on_change(set: ListenerSet, every: Duration) {
    let paths = set.tls_files();
    if paths.is_empty() {
        return;
    }
    tokio::spawn(async move {
        let mut seen = stamps(&paths);
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let now = stamps(&paths);
            if now == seen {
                continue;
            }
            seen = now;
            match set.reload() {
                Ok(()) => tracing::info!("certificate files changed: reloaded"),
                Err(e) => tracing::warn!(
                    error = %e,
                    "certificate files changed but do not load; keeping the old ones"
                ),
            }
        }
    });
}
