//! The dashboard's whole state (`App`): the shell (view, overlay, editing, clock, the
//! latest snapshot) and one state per view, each owning its selection, scroll and
//! filter (`connections.rs`, `topics.rs`, `pubsub.rs`, `talkers.rs`, `lists.rs`).
//! `update` (in `update.rs`, `actions.rs`) is the only code that changes it; `watch.rs`
//! derives what the source must send; the text fields live in `forms.rs`; `record.rs`
//! encodes recordings and `templates.rs` holds publish templates and history.

mod actions;
mod connections;
mod forms;
mod lists;
mod pubsub;
pub mod record;
mod talkers;
pub mod templates;
pub mod text;
mod topics;
mod update;
mod watch;

use std::sync::Arc;

use midge_model::{Snapshot, Watch};

pub use connections::{ConnectionsState, Table};
pub use forms::{FormField, PublishForm, SubscribeInput};
pub use lists::{
    BridgesState, InflightState, ListState, LogState, OverviewState, SlowState, TraceState,
};
pub use pubsub::{PubSubFocus, PubSubState};
pub use talkers::{Talker, TalkersFocus, TalkersState, TOP_ROWS};
pub use topics::TopicsState;
pub use update::update;

use crate::derive::links::BridgeRates;
use crate::derive::rates::{ClientRates, RateHistory};
use crate::derive::ring::Ring;
use crate::derive::topics::{TopicLimits, TopicTree};
use crate::derive::traffic::ClientTraffic;
use crate::Options;

/// The ten views, in tab order (keys 1–9 and 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum View {
    Overview,
    Connections,
    Topics,
    Inflight,
    PubSub,
    Slow,
    Trace,
    Log,
    TopTalkers,
    Bridges,
}

impl View {
    pub const ALL: [View; 10] = [
        View::Overview,
        View::Connections,
        View::Topics,
        View::Inflight,
        View::PubSub,
        View::Slow,
        View::Trace,
        View::Log,
        View::TopTalkers,
        View::Bridges,
    ];

    /// Position in tab order (0-based).
    #[must_use]
    pub fn index(self) -> usize {
        Self::ALL.iter().position(|v| *v == self).unwrap_or(0)
    }

    #[must_use]
    pub fn title(self) -> &'static str {
        match self {
            View::Overview => "Overview",
            View::Connections => "Connections",
            View::Topics => "Topics",
            View::Inflight => "QoS in flight",
            View::PubSub => "Pub/Sub",
            View::Slow => "Slow consumers",
            View::Trace => "Trace",
            View::Log => "Log",
            View::TopTalkers => "Top talkers",
            View::Bridges => "Bridges",
        }
    }

    #[must_use]
    pub fn next(self) -> Self {
        Self::ALL[(self.index() + 1) % Self::ALL.len()]
    }

    #[must_use]
    pub fn prev(self) -> Self {
        Self::ALL[(self.index() + Self::ALL.len() - 1) % Self::ALL.len()]
    }
}

/// A yes/no question in an overlay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirm {
    Quit { online: usize },
    Kick(String),
    DeleteRetained(String),
}

/// What floats over the current view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    Help,
    Confirm(Confirm),
    /// One delivered message, whole.
    Message(Box<midge_model::Message>),
    /// Publish templates and history, to load into the form.
    Templates,
}

/// Which text field has the keyboard, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Editing {
    /// The current view's filter.
    Filter,
    /// The Topics view's JSON path.
    JsonPath,
    /// The name a publish template is saved under.
    TemplateName,
    Publish,
    Subscribe,
}

/// A command result or error, shown in the status line for a few seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    pub at_ms: u64,
    pub error: bool,
}

/// Chart ranges of the Overview, in ms.
pub const RANGES_MS: [u64; 3] = [60_000, 300_000, 900_000];

/// Memory bounds of the dashboard's lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub topics: TopicLimits,
    pub messages: usize,
    pub messages_bytes: usize,
    pub log_lines: usize,
    pub trace_lines: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            topics: TopicLimits::default(),
            messages: 2_000,
            messages_bytes: 4 << 20,
            log_lines: 5_000,
            trace_lines: 2_000,
        }
    }
}

/// The dashboard's whole state: the shell, the source's data, one state per view.
#[derive(Debug)]
pub struct App {
    pub title: String,
    pub no_color: bool,
    pub log_file: Option<std::path::PathBuf>,
    /// Which decoder each topic's payloads go through.
    pub decoders: crate::decode::Decoders,
    /// Where recordings are written.
    pub record_dir: std::path::PathBuf,
    /// Where publish templates and history are kept, if anywhere.
    pub data_dir: Option<std::path::PathBuf>,
    pub templates: templates::Templates,
    /// The picker's selection.
    pub template_selected: usize,
    /// The name being typed for `s` (save as template), and its cursor.
    pub template_name: String,
    pub template_name_back: usize,

    /// Sparkplug B seq/bdSeq per edge node, from tapped messages.
    pub edge_nodes: crate::decode::sparkplug::EdgeNodes,
    /// The clock (unix ms): the newest snapshot's time or tick, whichever is later.
    pub now_ms: u64,
    /// Terminal size in cells, for mouse hit-testing and the rows the source sends.
    pub size: (u16, u16),
    pub view: View,
    pub overlay: Option<Overlay>,
    pub editing: Option<Editing>,
    /// Characters after the cursor in the filter being edited (0: at the end).
    pub filter_back: usize,
    pub notice: Option<Notice>,
    /// Lines the help overlay (or a whole message) is scrolled by.
    pub help_scroll: u16,
    pub should_quit: bool,

    pub snapshot: Arc<Snapshot>,
    /// Snapshots received; 0 means "waiting for the source".
    pub snapshots_seen: u64,
    pub rates: RateHistory,
    pub client_rates: ClientRates,
    pub bridge_rates: BridgeRates,
    pub client_traffic: ClientTraffic,

    pub overview: OverviewState,
    pub connections: ConnectionsState,
    pub topics: TopicsState,
    pub inflight: InflightState,
    pub pubsub: PubSubState,
    pub slow: SlowState,
    pub trace: TraceState,
    pub log: LogState,
    pub bridges: BridgesState,
    pub talkers: TalkersState,

    /// The last [`Watch`] handed to the source; `None` after a failed send, so the next
    /// sync sends it again. It starts as `Watch::default()`, what a source assumes
    /// before the first: the Overview, which needs no table.
    watch_sent: Option<Watch>,
}

impl App {
    #[must_use]
    pub fn new(options: &Options) -> Self {
        Self::with_limits(options, Limits::default())
    }

    #[must_use]
    pub fn with_limits(options: &Options, limits: Limits) -> Self {
        Self {
            title: options.title.clone(),
            no_color: options.no_color,
            log_file: options.log_file.clone(),
            decoders: crate::decode::Decoders::new(options.decoders.clone()),
            record_dir: options.record_dir.clone().unwrap_or_default(),
            data_dir: options.data_dir.clone(),
            templates: templates::Templates::default(),
            template_selected: 0,
            template_name: String::new(),
            template_name_back: 0,

            edge_nodes: crate::decode::sparkplug::EdgeNodes::default(),
            now_ms: 0,
            size: (80, 24),
            view: View::Overview,
            overlay: None,
            editing: None,
            filter_back: 0,
            notice: None,
            help_scroll: 0,
            should_quit: false,
            snapshot: Arc::new(Snapshot::default()),
            snapshots_seen: 0,
            rates: RateHistory::default(),
            client_rates: ClientRates::default(),
            bridge_rates: BridgeRates::default(),
            client_traffic: ClientTraffic::default(),
            overview: OverviewState::default(),
            connections: ConnectionsState::default(),
            topics: TopicsState::new(TopicTree::new(limits.topics)),
            inflight: InflightState::default(),
            pubsub: PubSubState::new(Ring::new(limits.messages, limits.messages_bytes)),
            slow: SlowState::default(),
            trace: TraceState::new(Ring::new(limits.trace_lines, limits.trace_lines * 512)),
            log: LogState::new(Ring::new(limits.log_lines, limits.log_lines * 512)),
            bridges: BridgesState::default(),
            talkers: TalkersState::default(),
            watch_sent: Some(Watch::default()),
        }
    }

    /// The list of `view` whose selection is a row index (all but the Overview and the
    /// Topics tree, which selects a node).
    #[must_use]
    pub fn list(&self, view: View) -> Option<&ListState> {
        match view {
            View::Overview | View::Topics => None,
            View::Connections => Some(&self.connections.list),
            View::Inflight => Some(&self.inflight.list),
            View::PubSub => Some(&self.pubsub.messages_list),
            View::Slow => Some(&self.slow.list),
            View::Trace => Some(&self.trace.list),
            View::Log => Some(&self.log.list),
            View::Bridges => Some(&self.bridges.list),
            View::TopTalkers => Some(&self.talkers.list),
        }
    }

    fn list_mut(&mut self, view: View) -> Option<&mut ListState> {
        match view {
            View::Overview | View::Topics => None,
            View::Connections => Some(&mut self.connections.list),
            View::Inflight => Some(&mut self.inflight.list),
            View::PubSub => Some(&mut self.pubsub.messages_list),
            View::Slow => Some(&mut self.slow.list),
            View::Trace => Some(&mut self.trace.list),
            View::Log => Some(&mut self.log.list),
            View::Bridges => Some(&mut self.bridges.list),
            View::TopTalkers => Some(&mut self.talkers.list),
        }
    }

    /// The current view's filter text.
    #[must_use]
    pub fn filter(&self) -> &str {
        self.filter_of(self.view)
    }

    #[must_use]
    pub fn filter_of(&self, view: View) -> &str {
        match view {
            View::Topics => &self.topics.filter,
            v => self.list(v).map_or("", |l| l.filter.as_str()),
        }
    }

    fn filter_mut(&mut self, view: View) -> Option<&mut String> {
        match view {
            View::Topics => Some(&mut self.topics.filter),
            v => self.list_mut(v).map(|l| &mut l.filter),
        }
    }

    /// Online clients, the dashboard's own client excluded.
    #[must_use]
    pub fn online_clients(&self) -> usize {
        let own = self.snapshot.source.own_client_id.as_deref();
        match &self.snapshot.connections {
            // A page holds only some sessions: count from the counters.
            Some(_) if self.snapshot.page.is_some() => {
                let online = self.snapshot.counters.clients_online.unwrap_or(0);
                let online = online.saturating_sub(u64::from(own.is_some()));
                usize::try_from(online).unwrap_or(usize::MAX)
            }
            Some(c) => c
                .iter()
                .filter(|c| c.online && Some(c.client_id.as_str()) != own)
                .count(),
            None => usize::try_from(self.snapshot.counters.clients_online.unwrap_or(0))
                .unwrap_or(usize::MAX),
        }
    }

    /// The connections table as it can be shown now: the source's page, or every
    /// session sorted and filtered here.
    #[must_use]
    pub fn connection_table(&self) -> Table<'_> {
        self.connections.table(
            &self.snapshot,
            &self.client_rates,
            self.filter_of(View::Connections),
        )
    }

    /// Clients offered for tracing: the source's page (by client id), or online first
    /// then by id, filtered.
    #[must_use]
    pub fn trace_candidates(&self) -> Table<'_> {
        connections::trace_table(&self.snapshot, self.filter_of(View::Trace))
    }

    /// A session by client id, from whatever rows the snapshot carries.
    #[must_use]
    pub fn client(&self, id: &str) -> Option<&midge_model::ConnectionInfo> {
        self.snapshot
            .connections
            .as_ref()?
            .iter()
            .find(|c| c.client_id == id)
    }

    /// Indices into the snapshot's in-flight list, filtered, oldest first.
    #[must_use]
    pub fn inflight_rows(&self) -> Vec<usize> {
        lists::inflight_rows(&self.snapshot, self.filter_of(View::Inflight))
    }

    /// The longest list of the open client detail (subscriptions, in flight, queue head).
    #[must_use]
    pub fn detail_rows(&self) -> usize {
        let Some(id) = &self.connections.detail else {
            return 0;
        };
        let Some(c) = self.client(id) else { return 0 };
        let inflight = self
            .snapshot
            .inflight
            .as_ref()
            .map_or(0, |l| l.iter().filter(|e| &e.client_id == id).count());
        c.subscriptions
            .len()
            .max(c.queue_preview.len())
            .max(
                c.sn.as_ref()
                    .map_or(0, |sn| sn.topic_ids.len().max(sn.buffered.len())),
            )
            .max(inflight)
    }

    /// Indices into the snapshot's bridges, filtered by name or remote, in config order.
    #[must_use]
    pub fn bridge_rows(&self) -> Vec<usize> {
        lists::bridge_rows(&self.snapshot, self.filter_of(View::Bridges))
    }

    /// Top talkers: the ranked topics.
    #[must_use]
    pub fn top_topics(&self) -> Vec<Talker<(crate::derive::topics::NodeId, String)>> {
        self.talkers.topics(&self.topics.tree, self.now_ms)
    }

    /// Top talkers: the ranked clients.
    #[must_use]
    pub fn top_clients(&self) -> Vec<Talker<String>> {
        self.talkers.clients(&self.client_traffic, self.now_ms)
    }

    /// Shows a notice in the status line.
    pub fn notify(&mut self, text: impl Into<String>, error: bool) {
        self.notice = Some(Notice {
            text: text.into(),
            at_ms: self.now_ms,
            error,
        });
    }
}
