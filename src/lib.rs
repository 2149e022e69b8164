//! midge: an MQTT 3.1 / 3.1.1 / 5.0 broker with a live terminal dashboard.
//!
//! # Layout
//! - [`protocol`]: packets and codec, sans-IO.
//! - [`transport`]: binding listeners, the TLS/WebSocket handshakes, the framed packet
//!   reader/writer, per-listener connection counts, and the certificate file watch; it
//!   knows nothing of the broker.
//! - [`broker`]: the accept loops (`server`), client tasks, the parking lot where idle
//!   connections wait without a task (`park`), the router (the one owner of broker state),
//!   sessions, subscription trie, retained messages, and the statistics the
//!   core publishes; [`broker::observe`] is everything that watches it (snapshots, `$SYS`,
//!   the admin channel) through the router's narrow `watch` interface.
//! - [`auth`]: Mosquitto-compatible password and ACL files, `midge passwd`.
//! - [`storage`]: the durable store (append-only log, group commit) behind sessions,
//!   queues, in-flight state and retained messages.
//! - [`http`]: the operations endpoint (`/metrics`, `/healthz`, `/readyz`).
//! - [`mqtt`]: midge's MQTT client core (URLs, TCP/TLS, CONNECT with fallback, keep-alive)
//!   shared by the monitor and bridges.
//! - [`monitor`]: sources for the dashboard (this broker, or a remote one over MQTT).
//! - [`config`] / [`cli`]: the TOML config and the command line; `config::mosquitto` turns
//!   a mosquitto.conf into midge.toml (`midge import-mosquitto`).
//! - [`os`]: process limits (open files).
//! - [`logs`]: tracing events as log lines for the dashboard and the admin channel.
//! - [`bridge`]: outgoing bridges to other brokers (a remote client + an in-process local
//!   client each).
//! - [`bench`]: `midge bench`, a load generator for any MQTT broker.
//!
//! # Data flow
//! ```text
//! accept → client task: CONNECT (timeout) → auth → router registers the session
//!   inbound PUBLISH → router: retained, trie match → push into each subscriber's Inbox
//!   client task: Inbox → Session (packet ids, window) → batched writes
//!   idle client task → parking lot (state + bare socket); socket readable, Inbox woken or
//!     keep-alive due → a new client task
//! observer (only while someone watches): router change feed + clients' change list →
//!   session index → the page on screen, described by the router → dashboard / admin reply
//! ```
//!
//! The boundaries between these modules are checked by `tests/boundaries.rs`.

pub mod auth;
pub mod bench;
pub mod bridge;
pub mod broker;
pub mod cli;
pub mod config;
pub mod http;
pub mod logs;
pub mod monitor;
pub mod mqtt;
pub mod mqttsn;
pub mod os;
pub mod protocol;
pub mod storage;
pub mod transport;
