//! What the dashboard shows, as the [`Watch`] a source builds its snapshots for. Like
//! Elm's `subscriptions`, it is a function of the state; the loop asks for it with
//! `Msg::SyncWatch` and `update` returns it as a command only when it changed since the
//! last one sent (a failed send, `Msg::WatchNotSent`, makes the next sync send it again).

use midge_model::{Command, Watch};

use super::connections::trace_query;
use super::{App, View};
use crate::view::layout::visible_rows;

impl App {
    /// What the dashboard needs from the source now: the table's sort, filter and the
    /// rows around the screen when a view lists sessions; the clients whose detail is
    /// open or traced; the selected topic whose subscribers the Topics view counts.
    #[must_use]
    pub fn watch(&self) -> Watch {
        let visible = visible_rows(self.size, self.view);
        let (table, clients) = match self.view {
            View::Connections => {
                let total = self.known_total(self.connection_table().total());
                let filter = self.filter_of(View::Connections);
                (
                    Some(self.connections.query(filter, total, visible)),
                    self.connections.detail.iter().cloned().collect(),
                )
            }
            View::Trace => {
                let total = self.known_total(self.trace_candidates().total());
                let q = trace_query(
                    self.trace.list.selected,
                    self.filter_of(View::Trace),
                    total,
                    visible,
                );
                (Some(q), self.trace.client.iter().cloned().collect())
            }
            _ => (None, Vec::new()),
        };
        let topic = if self.view == View::Topics {
            self.topics.current_topic()
        } else {
            None
        };
        Watch {
            table,
            clients,
            topic,
        }
    }

    /// A table's row count, when the snapshot carries one to trust (a page, or every
    /// session); before the first snapshot it is unknown.
    fn known_total(&self, total: usize) -> Option<usize> {
        self.snapshot.connections.is_some().then_some(total)
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
