//! The states of the simpler views: a selectable, filterable list each (in flight, slow
//! consumers, trace, log), and the Overview's chart range.

use midge_model::{Level, LogLine, Snapshot, TraceLine};

use crate::derive::ring::Ring;

/// A list's selected row and its typed filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListState {
    pub selected: usize,
    pub filter: String,
}

/// The Overview: which chart range is shown (an index into [`super::RANGES_MS`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OverviewState {
    pub range: usize,
}

/// Bridges: the configured bridges (the selected one's detail below the table).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BridgesState {
    pub list: ListState,
}

/// QoS in flight: the list of exchanges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InflightState {
    pub list: ListState,
}

/// Slow consumers: the ranking.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlowState {
    pub list: ListState,
}

/// Trace: the client list, the traced client and its packets.
#[derive(Debug)]
pub struct TraceState {
    /// The client list (its selection and filter).
    pub list: ListState,
    pub lines: Ring<TraceLine>,
    /// The client being traced (tracing runs only while the Trace view is open).
    pub client: Option<String>,
}

impl TraceState {
    #[must_use]
    pub fn new(lines: Ring<TraceLine>) -> Self {
        Self {
            list: ListState::default(),
            lines,
            client: None,
        }
    }

    /// Trace lines of the traced client, newest first.
    #[must_use]
    pub fn rows(&self) -> Vec<&TraceLine> {
        let Some(id) = &self.client else {
            return Vec::new();
        };
        self.lines
            .iter()
            .rev()
            .filter(|t| &t.client_id == id)
            .collect()
    }
}

/// Log: the broker's log lines and the most verbose level shown.
#[derive(Debug)]
pub struct LogState {
    pub list: ListState,
    pub lines: Ring<LogLine>,
    pub level: Level,
}

impl LogState {
    #[must_use]
    pub fn new(lines: Ring<LogLine>) -> Self {
        Self {
            list: ListState::default(),
            lines,
            level: Level::Debug,
        }
    }

    /// Log lines shown, newest first.
    #[must_use]
    pub fn rows(&self) -> Vec<&LogLine> {
        let f = self.list.filter.to_lowercase();
        self.lines
            .iter()
            .rev()
            .filter(|l| l.level <= self.level)
            .filter(|l| {
                f.is_empty()
                    || l.message.to_lowercase().contains(&f)
                    || l.target.to_lowercase().contains(&f)
            })
            .collect()
    }

    /// One level more (`more`) or less verbose; the selection goes back to the top.
    pub fn step_level(&mut self, more: bool) {
        let i = Level::ALL
            .iter()
            .position(|l| *l == self.level)
            .unwrap_or(2);
        let j = if more {
            (i + 1).min(Level::ALL.len() - 1)
        } else {
            i.saturating_sub(1)
        };
        self.level = Level::ALL[j];
        self.list.selected = 0;
    }
}

/// Indices into the snapshot's in-flight list, filtered, oldest first.
#[must_use]
pub fn inflight_rows(snapshot: &Snapshot, filter: &str) -> Vec<usize> {
    let Some(list) = &snapshot.inflight else {
        return Vec::new();
    };
    let f = filter.to_lowercase();
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

/// Indices into the snapshot's bridges whose name or remote contains `filter`.
#[must_use]
pub fn bridge_rows(snapshot: &Snapshot, filter: &str) -> Vec<usize> {
    let Some(list) = &snapshot.bridges else {
        return Vec::new();
    };
    let f = filter.to_lowercase();
    (0..list.len())
        .filter(|&i| {
            f.is_empty()
                || list[i].name.to_lowercase().contains(&f)
                || list[i]
                    .remote
                    .as_deref()
                    .is_some_and(|r| r.to_lowercase().contains(&f))
        })
        .collect()
}
