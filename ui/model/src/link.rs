//! The channels between a source and the dashboard: a `watch` of whole snapshots
//! (latest wins, so a slow UI never backs up the broker), a bounded stream of events
//! and a bounded stream of commands.

use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use crate::{Command, Event, Snapshot};

/// The dashboard's end of the link to a source.
#[derive(Debug)]
pub struct MonitorLink {
    /// Latest whole snapshot, published every ~250 ms while someone watches; latest wins.
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    /// Bounded; the source drops (and counts in the snapshot) when full.
    pub events: mpsc::Receiver<Event>,
    /// Bounded; the UI uses try_send and shows an error notice when full.
    pub commands: mpsc::Sender<Command>,
}

/// The source's end of the link: what the broker (or a remote monitor) holds.
#[derive(Debug)]
pub struct SourceLink {
    /// Publish a new snapshot with `send_replace`; it never blocks.
    pub snapshots: watch::Sender<Arc<Snapshot>>,
    /// Use `try_send`; count a full channel into [`Snapshot::events_dropped`].
    pub events: mpsc::Sender<Event>,
    /// Commands from the dashboard, to execute and answer with [`Event::Notice`].
    pub commands: mpsc::Receiver<Command>,
}

/// Creates both ends of a link, starting from `initial`, with bounded event and
/// command channels (capacities are clamped to at least 1).
#[must_use]
pub fn link(
    initial: Snapshot,
    event_capacity: usize,
    command_capacity: usize,
) -> (SourceLink, MonitorLink) {
    let (snap_tx, snap_rx) = watch::channel(Arc::new(initial));
    let (ev_tx, ev_rx) = mpsc::channel(event_capacity.max(1));
    let (cmd_tx, cmd_rx) = mpsc::channel(command_capacity.max(1));
    (
        SourceLink {
            snapshots: snap_tx,
            events: ev_tx,
            commands: cmd_rx,
        },
        MonitorLink {
            snapshots: snap_rx,
            events: ev_rx,
            commands: cmd_tx,
        },
    )
}
