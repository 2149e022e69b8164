//! Sources for the dashboard: `local` watches the broker in this process; `client` is the
//! small MQTT client both the embedded dashboard (over an in-process stream) and the
//! remote monitor use for publish/subscribe; `remote` watches any broker over MQTT (and a
//! headless midge over its admin channel).

pub mod client;
pub mod local;
pub mod remote;
pub mod replay;

pub(crate) use crate::os::unix_ms_now as now_ms;
