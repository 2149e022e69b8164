//! The monitoring model shared by a midge source (the embedded broker, or a remote
//! broker watched over MQTT) and the dashboard: plain data and the channels that
//! carry it. No ratatui, no broker types.
//!
//! Layout:
//! - `snapshot` — the whole-state [`Snapshot`] published every ~250 ms (counters, sessions,
//!   in-flight messages, drops); fields a source cannot know are `Option`.
//! - `event` — the streamed [`Event`]s (messages, log lines, packet traces, notices) and the
//!   [`Command`]s the dashboard sends back.
//! - `watch` — what the dashboard looks at ([`Watch`]), so a source builds only that and
//!   pages the connections table ([`Page`]).
//! - `links` — bridges and MQTT-SN clients ([`BridgeInfo`], [`SnClientInfo`]).
//! - `link` — [`MonitorLink`] (the UI end) and [`SourceLink`] (the source end).
//! - `fixtures` (feature `fixtures`) — a realistic busy broker with a fixed clock, for tests.

mod event;
mod link;
mod links;
mod snapshot;
mod watch;

#[cfg(feature = "fixtures")]
pub mod fixtures;

pub use event::{Command, Event, Level, LogLine, Message, TraceLine};
pub use link::{link, MonitorLink, SourceLink};
pub use links::{BridgeInfo, BridgeState, SnClientInfo, SnState};
pub use snapshot::{
    ConnectionInfo, Counters, Direction, DropInfo, DropReason, InflightInfo, InflightState,
    ProtocolLabel, QueuedInfo, Snapshot, SourceInfo, SourceKind, StoreInfo, SubscriptionInfo,
};
pub use watch::{Page, SortKey, TableQuery, Watch};
