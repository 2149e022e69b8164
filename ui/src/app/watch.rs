//! What the dashboard shows, as the [`Watch`] a source builds its snapshots for. Like
//! Elm's `subscriptions`, it is a function of the state; the loop asks for it with
//! `Msg::SyncWatch` and `update` returns it as a command only when it changed since the
//! last one sent (a failed send, `Msg::WatchNotSent`, makes the next sync send it again).

use midge_model::{Command, ConnectionInfo, Watch};

use super::connections::trace_query;
use super::{App, View};
use crate::derive::connections::matches_filter;
use crate::view::layout::visible_rows;

impl App {
    /// What the dashboard needs from the source now: the table's sort, filter and the
    /// rows around the screen when a view lists sessions; the clients whose detail is
    /// open or traced; the selected topic whose subscribers the Topics view counts.
    #[must_use]
    pub fn watch(&self) -> Watch {
        let visible = visible_rows(self.size, self.view);
        let (table, clients) = match self.view {
            // The table stays watched while a detail is open, so Esc shows it at once.
            View::Connections => {
                let filter = self.filter_of(View::Connections);
                let total = self.rows_matching(|c| matches_filter(c, filter));
                (
                    Some(self.connections.query(filter, total, visible)),
                    self.connections.detail.iter().cloned().collect(),
                )
            }
            View::Trace => {
                let f = self.filter_of(View::Trace).to_lowercase();
                let total = self.rows_matching(|c| c.client_id.to_lowercase().contains(&f));
                let q = trace_query(
                    self.trace.list.selected,
                    self.filter_of(View::Trace),
                    total,
                    visible,
                );
                (Some(q), self.trace.client.iter().cloned().collect())
            }
            View::TopTalkers => (Some(super::TalkersState::query()), Vec::new()),
            _ => (None, Vec::new()),
        };
        let topic = if self.view == View::Topics {
            self.topics.current_topic()
        } else {
            None
        };
        // Top talkers' topic rows, in name order (their ranks change every turn; the set
        // changes far less, and only a change is sent).
        let mut topics: Vec<String> = if self.view == View::TopTalkers {
            self.top_topics().into_iter().map(|t| t.key.1).collect()
        } else {
            Vec::new()
        };
        topics.sort_unstable();
        Watch {
            table,
            clients,
            topic,
            topics,
        }
    }

    /// A table's row count: the page's total, or the sessions matching its filter when
    /// the snapshot carries them all (counted, not sorted: this runs every turn);
    /// unknown before the first snapshot.
    fn rows_matching(&self, keep: impl Fn(&ConnectionInfo) -> bool) -> Option<usize> {
        let conns = self.snapshot.connections.as_ref()?;
        Some(match &self.snapshot.page {
            Some(p) => usize::try_from(p.total).unwrap_or(usize::MAX),
            None => conns.iter().filter(|c| keep(c)).count(),
        })
    }

    /// `Command::Watch` when what the dashboard shows differs from the last one sent.
    pub(super) fn watch_changed(&mut self) -> Option<Command> {
        let w = self.watch();
        if self.watch_sent.as_ref() == Some(&w) {
            return None;
        }
        self.watch_sent = Some(w.clone());
        Some(Command::Watch(w))
    }
}
