//! TEMPORARY in-memory stand-in with the store's API, so the broker integration compiles
//! while the real engine is written on the `storage` branch. Replaced by that merge.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Keyspace {
    Retained,
    Sessions,
    Queues,
    Inbound,
}

pub enum Op {
    Put {
        ks: Keyspace,
        key: Vec<u8>,
        value: Vec<u8>,
    },
    Delete {
        ks: Keyspace,
        key: Vec<u8>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncPolicy {
    Always,
    Interval(std::time::Duration),
    Never,
}

#[derive(Clone, Debug, thiserror::Error)]
#[error("store error: {0}")]
pub struct Error(pub String);

pub type Done = Box<dyn FnOnce(Result<(), Error>) + Send>;

#[derive(Debug, Default)]
pub struct StoreStats {
    pub bytes_on_disk: AtomicU64,
    pub batches: AtomicU64,
    pub ops: AtomicU64,
    pub fsyncs: AtomicU64,
    pub last_fsync_micros: AtomicU64,
    pub pending_ops: AtomicU64,
    pub pending_bytes: AtomicU64,
    pub last_durable_unix_ms: AtomicU64,
    pub failed: AtomicBool,
}

type Map = BTreeMap<(Keyspace, Vec<u8>), Vec<u8>>;

#[derive(Clone)]
pub struct Store {
    map: Arc<Mutex<Map>>,
    stats: Arc<StoreStats>,
}

impl Store {
    pub fn open(_dir: &Path, _policy: SyncPolicy) -> Result<Store, Error> {
        Ok(Store {
            map: Arc::default(),
            stats: Arc::default(),
        })
    }

    pub fn load(&self, ks: Keyspace) -> Result<Vec<(Vec<u8>, Vec<u8>)>, Error> {
        let map = self.map.lock().map_err(|_| Error("poisoned".into()))?;
        Ok(map
            .iter()
            .filter(|((k, _), _)| *k == ks)
            .map(|((_, key), v)| (key.clone(), v.clone()))
            .collect())
    }

    pub fn submit(&self, ops: Vec<Op>, done: Option<Done>) {
        if let Ok(mut map) = self.map.lock() {
            for op in ops {
                match op {
                    Op::Put { ks, key, value } => {
                        map.insert((ks, key), value);
                    }
                    Op::Delete { ks, key } => {
                        map.remove(&(ks, key));
                    }
                }
            }
        }
        if let Some(d) = done {
            d(Ok(()));
        }
    }

    pub fn sync(&self) -> Result<(), Error> {
        Ok(())
    }

    pub fn stats(&self) -> Arc<StoreStats> {
        self.stats.clone()
    }
}
