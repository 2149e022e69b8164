//! The dashboard's whole state (`App`) and the views it can show. `update` (in
//! `update.rs`) is the only code that changes it; the text fields live in `forms.rs`.

mod forms;
pub mod text;
mod update;

use std::collections::BTreeMap;
use std::sync::Arc;

use midge_model::{Level, LogLine, Message, Snapshot, TraceLine};

pub use forms::{FormField, PublishForm, SubscribeInput};
pub use update::update;

use crate::derive::connections::Column;
use crate::derive::rates::{ClientRates, RateHistory};
use crate::derive::ring::Ring;
use crate::derive::topics::{NodeId, TopicLimits, TopicTree};
use crate::Options;

/// The eight views, in tab order.
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
}

impl View {
    pub const ALL: [View; 8] = [
        View::Overview,
        View::Connections,
        View::Topics,
        View::Inflight,
        View::PubSub,
        View::Slow,
        View::Trace,
        View::Log,
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
    Message(Box<Message>),
}

/// Which text field has the keyboard, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Editing {
    /// The current view's filter.
    Filter,
    Publish,
    Subscribe,
}

/// Which list of the Publish / Subscribe view moves with j/k.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PubSubFocus {
    Subscriptions,
    Messages,
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

/// The dashboard's whole state.
#[derive(Debug)]
pub struct App {
    pub title: String,
    pub no_color: bool,
    pub log_file: Option<std::path::PathBuf>,
    /// The clock (unix ms): the newest snapshot's time or tick, whichever is later.
    pub now_ms: u64,
    /// Terminal size in cells, for mouse hit-testing.
    pub size: (u16, u16),
    pub view: View,
    pub snapshot: Arc<Snapshot>,
    /// Snapshots received; 0 means "waiting for the source".
    pub snapshots_seen: u64,
    pub rates: RateHistory,
    pub client_rates: ClientRates,
    pub range: usize,
    pub overlay: Option<Overlay>,
    pub editing: Option<Editing>,
    /// Filter text per view (indexed by `View::index`).
    pub filters: [String; 8],
    /// Characters after the cursor in the filter being edited (0: at the end).
    pub filter_back: usize,
    /// Selected row per view (indexed by `View::index`); Topics uses `topic_selected`.
    pub selected: [usize; 8],
    pub sort: Column,
    pub sort_desc: bool,
    /// The client whose detail is open in the Connections view.
    pub detail: Option<String>,
    /// Rows the open client detail's lists are scrolled by (j/k while it is open).
    pub detail_scroll: usize,
    pub topics: TopicTree,
    pub topic_selected: Option<NodeId>,
    /// How many history entries back from the newest the payload history is scrolled.
    pub history_scroll: usize,
    pub publish: PublishForm,
    pub subscribe: SubscribeInput,
    /// The dashboard's own subscriptions (filter → QoS), as asked.
    pub subscriptions: BTreeMap<String, u8>,
    pub pubsub_focus: PubSubFocus,
    pub sub_selected: usize,
    pub messages: Ring<Message>,
    pub paused: bool,
    pub skipped_while_paused: u64,
    pub log: Ring<LogLine>,
    /// The most verbose level shown.
    pub log_level: Level,
    pub trace: Ring<TraceLine>,
    /// The client being traced (tracing runs only while the Trace view is open).
    pub trace_client: Option<String>,
    pub notice: Option<Notice>,
    /// Lines the help overlay is scrolled by.
    pub help_scroll: u16,
    pub should_quit: bool,
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
            now_ms: 0,
            size: (80, 24),
            view: View::Overview,
            snapshot: Arc::new(Snapshot::default()),
            snapshots_seen: 0,
            rates: RateHistory::default(),
            client_rates: ClientRates::default(),
            range: 0,
            overlay: None,
            editing: None,
            filters: Default::default(),
            filter_back: 0,
            selected: [0; 8],
            sort: Column::ClientId,
            sort_desc: false,
            detail: None,
            detail_scroll: 0,
            topics: TopicTree::new(limits.topics),
            topic_selected: None,
            history_scroll: 0,
            publish: PublishForm::default(),
            subscribe: SubscribeInput::default(),
            subscriptions: BTreeMap::new(),
            pubsub_focus: PubSubFocus::Messages,
            sub_selected: 0,
            messages: Ring::new(limits.messages, limits.messages_bytes),
            paused: false,
            skipped_while_paused: 0,
            log: Ring::new(limits.log_lines, limits.log_lines * 512),
            log_level: Level::Debug,
            trace: Ring::new(limits.trace_lines, limits.trace_lines * 512),
            trace_client: None,
            notice: None,
            help_scroll: 0,
            should_quit: false,
        }
    }

    /// The current view's filter text.
    #[must_use]
    pub fn filter(&self) -> &str {
        &self.filters[self.view.index()]
    }

    #[must_use]
    pub fn filter_of(&self, view: View) -> &str {
        &self.filters[view.index()]
    }

    /// Online clients, the dashboard's own client excluded.
    #[must_use]
    pub fn online_clients(&self) -> usize {
        let own = self.snapshot.source.own_client_id.as_deref();
        match &self.snapshot.connections {
            Some(c) => c
                .iter()
                .filter(|c| c.online && Some(c.client_id.as_str()) != own)
                .count(),
            None => usize::try_from(self.snapshot.counters.clients_online.unwrap_or(0))
                .unwrap_or(usize::MAX),
        }
    }

    /// Rows of the connections table: indices into the snapshot's connections.
    #[must_use]
    pub fn connection_rows(&self) -> Vec<usize> {
        let Some(conns) = &self.snapshot.connections else {
            return Vec::new();
        };
        crate::derive::connections::rows(
            conns,
            &self.client_rates,
            self.sort,
            self.sort_desc,
            self.filter_of(View::Connections),
        )
    }

    /// Indices into the snapshot's in-flight list, filtered, oldest first.
    #[must_use]
    pub fn inflight_rows(&self) -> Vec<usize> {
        let Some(list) = &self.snapshot.inflight else {
            return Vec::new();
        };
        let f = self.filter_of(View::Inflight).to_lowercase();
        let mut idx: Vec<usize> = (0..list.len())
            .filter(|&i| {
                f.is_empty()
                    || list[i].client_id.to_lowercase().contains(&f)
                    || list[i].topic.to_lowercase().contains(&f)
            })
            .collect();
        idx.sort_by(|&a, &b| {
            list[a]
                .since_ms
                .cmp(&list[b].since_ms)
                .then_with(|| list[a].client_id.cmp(&list[b].client_id))
        });
        idx
    }

    /// Delivered messages shown, newest first, filtered by topic or payload text.
    #[must_use]
    pub fn message_rows(&self) -> Vec<&Message> {
        let f = self.filter_of(View::PubSub).to_lowercase();
        self.messages
            .iter()
            .rev()
            .filter(|m| {
                f.is_empty()
                    || m.topic.to_lowercase().contains(&f)
                    || String::from_utf8_lossy(&m.payload)
                        .to_lowercase()
                        .contains(&f)
            })
            .collect()
    }

    /// Log lines shown, newest first.
    #[must_use]
    pub fn log_rows(&self) -> Vec<&LogLine> {
        let f = self.filter_of(View::Log).to_lowercase();
        self.log
            .iter()
            .rev()
            .filter(|l| l.level <= self.log_level)
            .filter(|l| {
                f.is_empty()
                    || l.message.to_lowercase().contains(&f)
                    || l.target.to_lowercase().contains(&f)
            })
            .collect()
    }

    /// Client ids offered for tracing: online first, then by id, filtered.
    #[must_use]
    pub fn trace_candidates(&self) -> Vec<&str> {
        let Some(conns) = &self.snapshot.connections else {
            return Vec::new();
        };
        let f = self.filter_of(View::Trace).to_lowercase();
        let mut v: Vec<(&str, bool)> = conns
            .iter()
            .filter(|c| f.is_empty() || c.client_id.to_lowercase().contains(&f))
            .map(|c| (c.client_id.as_str(), c.online))
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        v.into_iter().map(|(id, _)| id).collect()
    }

    /// Trace lines of the traced client, newest first.
    #[must_use]
    pub fn trace_rows(&self) -> Vec<&TraceLine> {
        let Some(id) = &self.trace_client else {
            return Vec::new();
        };
        self.trace
            .iter()
            .rev()
            .filter(|t| &t.client_id == id)
            .collect()
    }

    /// The longest list of the open client detail (subscriptions, in flight, queue head).
    #[must_use]
    pub fn detail_rows(&self) -> usize {
        let Some(id) = &self.detail else { return 0 };
        let Some(c) = self
            .snapshot
            .connections
            .as_ref()
            .and_then(|cs| cs.iter().find(|c| &c.client_id == id))
        else {
            return 0;
        };
        let inflight = self
            .snapshot
            .inflight
            .as_ref()
            .map_or(0, |l| l.iter().filter(|e| &e.client_id == id).count());
        c.subscriptions
            .len()
            .max(c.queue_preview.len())
            .max(inflight)
    }

    /// Visible topic tree rows.
    #[must_use]
    pub fn topic_rows(&self) -> Vec<crate::derive::topics::Row> {
        self.topics.rows(self.filter_of(View::Topics))
    }

    /// Position of the selected topic among the visible rows (0 if none).
    #[must_use]
    pub fn topic_position(&self, rows: &[crate::derive::topics::Row]) -> usize {
        self.topic_selected
            .and_then(|id| rows.iter().position(|r| r.id == id))
            .unwrap_or(0)
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
