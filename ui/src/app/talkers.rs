//! The Top talkers view's state and rankings: topics (from the tapped messages' topic
//! tree) and, separately, clients (from the sessions' counters in successive snapshots),
//! ranked by messages/s or bytes/s over 10 s, 1 min or 5 min.

use midge_model::{SortKey, TableQuery};

use super::ListState;
use crate::derive::topics::{NodeId, TopicTree};
use crate::derive::traffic::{ClientTraffic, Traffic, Window};

/// Which list has the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TalkersFocus {
    #[default]
    Topics,
    Clients,
}

/// Top talkers: the window, the ranking metric, and a selection per list (the filter
/// lives in `list`, whose `selected` is the topics list's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TalkersState {
    pub list: ListState,
    pub clients_selected: usize,
    pub focus: TalkersFocus,
    pub window: Window,
    /// Rank by bytes/s instead of messages/s.
    pub by_bytes: bool,
}

/// One ranked row.
#[derive(Debug, Clone, PartialEq)]
pub struct Talker<K> {
    pub key: K,
    pub msgs: f64,
    pub bytes: f64,
    /// Of the total over the same window, 0..=1; `None` when the total is unknown.
    pub share: Option<f64>,
    pub spark: Vec<u64>,
}

/// Rows kept in a ranking (and clients asked of a paging source).
pub const TOP_ROWS: usize = 50;

impl TalkersState {
    /// The busiest `items` over the window, at most [`TOP_ROWS`], busiest first; ties in
    /// the order of `items`.
    fn rank<'t, K>(
        &self,
        items: impl Iterator<Item = (K, &'t Traffic)>,
        total: &Traffic,
        now_ms: u64,
    ) -> Vec<Talker<K>> {
        let (tm, tb) = total.rate(now_ms, self.window);
        let mut rows: Vec<Talker<K>> = items
            .filter_map(|(key, t)| {
                let (msgs, bytes) = t.rate(now_ms, self.window);
                if msgs == 0.0 && bytes == 0.0 {
                    return None;
                }
                let (v, of) = if self.by_bytes {
                    (bytes, tb)
                } else {
                    (msgs, tm)
                };
                Some(Talker {
                    key,
                    msgs,
                    bytes,
                    share: (of > 0.0).then(|| (v / of).min(1.0)),
                    spark: t.spark(now_ms, self.window, self.by_bytes),
                })
            })
            .collect();
        let by_bytes = self.by_bytes;
        let metric = move |t: &Talker<K>| if by_bytes { t.bytes } else { t.msgs };
        // Stable: equal rates keep the order of `items`.
        rows.sort_by(|a, b| metric(b).total_cmp(&metric(a)));
        rows.truncate(TOP_ROWS);
        rows
    }

    /// Topics with traffic in the window, busiest first (ties: by name), filtered.
    #[must_use]
    pub fn topics(&self, tree: &TopicTree, now_ms: u64) -> Vec<Talker<(NodeId, String)>> {
        let f = self.list.filter.to_lowercase();
        // Names are built only for the rows kept (and for the filter when one is typed):
        // this runs on every redraw over up to `max_topics` topics.
        let items = tree
            .topics()
            .filter(|(id, _)| f.is_empty() || tree.path(*id).to_lowercase().contains(&f))
            .map(|(id, d)| (id, &d.traffic));
        let mut rows: Vec<Talker<(NodeId, String)>> = self
            .rank(items, &tree.traffic, now_ms)
            .into_iter()
            .map(|t| Talker {
                key: (t.key, tree.path(t.key)),
                msgs: t.msgs,
                bytes: t.bytes,
                share: t.share,
                spark: t.spark,
            })
            .collect();
        // Equal rates read best by name.
        let by_bytes = self.by_bytes;
        rows.sort_by(|a, b| {
            let (x, y) = if by_bytes {
                (a.bytes, b.bytes)
            } else {
                (a.msgs, b.msgs)
            };
            y.total_cmp(&x).then_with(|| a.key.1.cmp(&b.key.1))
        });
        rows
    }

    /// Clients with traffic in the window, busiest first (ties: by id), filtered.
    #[must_use]
    pub fn clients(&self, traffic: &ClientTraffic, now_ms: u64) -> Vec<Talker<String>> {
        let f = self.list.filter.to_lowercase();
        let mut items: Vec<(&str, &Traffic)> = traffic
            .iter()
            .filter(|(id, _)| f.is_empty() || id.to_lowercase().contains(&f))
            .collect();
        items.sort_by(|a, b| a.0.cmp(b.0));
        self.rank(items.into_iter(), &traffic.broker, now_ms)
            .into_iter()
            .map(|t| Talker {
                key: t.key.to_owned(),
                msgs: t.msgs,
                bytes: t.bytes,
                share: t.share,
                spark: t.spark,
            })
            .collect()
    }

    /// What a paging source sends while the view is open: the busiest sessions by its
    /// own rate (messages in + out per second), so only the top ones travel.
    #[must_use]
    pub fn query() -> TableQuery {
        TableQuery {
            sort: SortKey::Rate,
            descending: true,
            filter: String::new(),
            offset: 0,
            limit: u32::try_from(TOP_ROWS).unwrap_or(u32::MAX),
        }
    }
}
