//! Sources for the dashboard: `local` watches the broker in this process; `client` is the
//! small MQTT client both the embedded dashboard (over an in-process stream) and the
//! remote monitor use for publish/subscribe; `remote` watches any broker over MQTT (and a
//! headless midge over its admin channel).

pub mod client;
pub mod local;
pub mod remote;

use std::time::{SystemTime, UNIX_EPOCH};

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
