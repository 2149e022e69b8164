//! The Topics view's state: the bounded topic tree built from tapped messages, the
//! selected node, the filter and how far the payload history is scrolled.

use crate::derive::topics::{NodeId, Row, TopicTree};

/// The Topics view's state.
#[derive(Debug)]
pub struct TopicsState {
    pub tree: TopicTree,
    /// The selected node; `None` selects the first visible row.
    pub selected: Option<NodeId>,
    pub filter: String,
    /// How many history entries back from the newest the payload history is scrolled.
    pub history_scroll: usize,
    /// Narrows JSON payloads (topics whose decoder is `json`), e.g. `a.b[0]`.
    pub json_path: String,
    /// Characters after the cursor in the JSON path being edited.
    pub path_back: usize,
}

impl TopicsState {
    #[must_use]
    pub fn new(tree: TopicTree) -> Self {
        Self {
            tree,
            selected: None,
            filter: String::new(),
            history_scroll: 0,
            json_path: String::new(),
            path_back: 0,
        }
    }

    /// Visible tree rows.
    #[must_use]
    pub fn rows(&self) -> Vec<Row> {
        self.tree.rows(&self.filter)
    }

    /// Position of the selected node among `rows` (0 if none).
    #[must_use]
    pub fn position(&self, rows: &[Row]) -> usize {
        self.selected
            .and_then(|id| rows.iter().position(|r| r.id == id))
            .unwrap_or(0)
    }

    /// The node shown selected: the selection, or the first row.
    #[must_use]
    pub fn current(&self) -> Option<NodeId> {
        let rows = self.rows();
        rows.get(self.position(&rows)).map(|r| r.id)
    }

    /// The full name of the selected topic when it has messages (the one whose
    /// subscribers the detail counts).
    #[must_use]
    pub fn current_topic(&self) -> Option<String> {
        let id = self.current()?;
        self.tree.node(id)?.data.as_ref()?;
        Some(self.tree.path(id))
    }

    /// Moves the selection to row `f(position, last)`, clamped; the history scrolls back
    /// to the newest.
    pub fn select(&mut self, f: impl Fn(usize, usize) -> usize) {
        let rows = self.rows();
        let last = rows.len().saturating_sub(1);
        let pos = self.position(&rows);
        self.selected = rows.get(f(pos, last).min(last)).map(|r| r.id);
        self.history_scroll = 0;
    }

    /// Left/right: collapse or go to the parent, expand.
    pub fn horizontal(&mut self, right: bool) {
        let Some(id) = self.current() else { return };
        let Some(node) = self.tree.node(id) else {
            return;
        };
        let (branch, expanded, parent) = (!node.children.is_empty(), node.expanded, node.parent);
        if right {
            if branch && !expanded {
                self.tree.set_expanded(id, true);
            }
        } else if expanded && branch {
            self.tree.set_expanded(id, false);
        } else if let Some(p) = parent.filter(|p| *p != 0) {
            self.selected = Some(p);
        }
    }

    /// Enter: select the current row and expand or collapse it.
    pub fn toggle(&mut self) {
        if let Some(id) = self.current() {
            self.selected = Some(id);
            self.tree.toggle(id);
        }
    }

    pub fn collapse_all(&mut self) {
        self.tree.set_all_expanded(false);
        self.selected = None;
    }
}
