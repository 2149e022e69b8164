//! Topic registrations of persistent SN sessions (clean session false), kept across
//! restarts in `<data dir>/mqttsn-topics.json` (a small file beside the durable store,
//! rewritten whole and renamed into place; registrations change rarely). Paho's gateway
//! loses them on restart (paho.mqtt-sn.embedded-c #134); a client then publishes to ids
//! the gateway no longer knows.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};

/// Client id → its registered (topic id, topic name) pairs.
type Table = BTreeMap<String, Vec<(u16, String)>>;

#[derive(Debug, Default)]
pub struct Registry {
    /// `None`: in memory only (`--in-memory`).
    path: Option<PathBuf>,
    table: Mutex<Table>,
    generation: AtomicU64,
    /// The generation last written, under the writers' lock.
    written: Arc<Mutex<u64>>,
}

impl Registry {
    /// Loads `path` if it exists; an unreadable file is logged and ignored (clients
    /// then register again, as with any gateway that lost its table).
    pub fn open(path: Option<PathBuf>) -> Self {
        let table = path
            .as_ref()
            .and_then(|p| match std::fs::read(p) {
                Ok(bytes) => serde_json::from_slice::<Table>(&bytes)
                    .map_err(|e| tracing::warn!(file = %p.display(), error = %e, "ignoring MQTT-SN registrations"))
                    .ok(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => {
                    tracing::warn!(file = %p.display(), error = %e, "cannot read MQTT-SN registrations");
                    None
                }
            })
            .unwrap_or_default();
        Registry {
            path,
            table: Mutex::new(table),
            ..Registry::default()
        }
    }

    /// The saved registrations of `client_id`.
    pub fn get(&self, client_id: &str) -> Vec<(u16, String)> {
        let t = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        t.get(client_id).cloned().unwrap_or_default()
    }

    /// Replaces `client_id`'s registrations (empty: forgets the client) and writes the
    /// file off the async threads.
    pub fn set(&self, client_id: &str, regs: Vec<(u16, String)>) {
        let json = {
            let mut t = self.table.lock().unwrap_or_else(PoisonError::into_inner);
            let changed = if regs.is_empty() {
                t.remove(client_id).is_some()
            } else {
                t.insert(client_id.to_owned(), regs.clone()).as_ref() != Some(&regs)
            };
            if !changed || self.path.is_none() {
                return;
            }
            serde_json::to_vec(&*t)
        };
        let (Some(path), Ok(json)) = (self.path.clone(), json) else {
            return;
        };
        let generation = self.generation.fetch_add(1, Relaxed) + 1;
        let written = self.written.clone();
        tokio::task::spawn_blocking(move || {
            let mut last = written.lock().unwrap_or_else(PoisonError::into_inner);
            // A later table was written already: this one is stale.
            if *last >= generation {
                return;
            }
            let tmp = path.with_extension("json.tmp");
            let res = std::fs::write(&tmp, &json)
                .and_then(|()| std::fs::File::open(&tmp)?.sync_all())
                .and_then(|()| std::fs::rename(&tmp, &path));
            match res {
                Ok(()) => *last = generation,
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "cannot save MQTT-SN registrations")
                }
            }
        });
    }
}
