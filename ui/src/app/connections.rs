//! The Connections view's state (selection, filter, sort, the open client detail) and
//! the table it shows: the source's page when the source pages (`Snapshot::page`), or
//! every session sorted and filtered here. Selection and scrolling count in global row
//! indices either way, so a table of 100,000 rows scrolls like one of 12.

use midge_model::{ConnectionInfo, Page, Snapshot, SortKey, TableQuery};

use super::lists::ListState;
use crate::derive::connections::{rows, Column};
use crate::derive::rates::ClientRates;

/// The Connections view's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionsState {
    /// The selected row (a global index in the sorted, filtered table) and the filter.
    pub list: ListState,
    pub sort: Column,
    pub descending: bool,
    /// The client whose detail is open.
    pub detail: Option<String>,
    /// Rows the open detail's lists are scrolled by (j/k while it is open).
    pub detail_scroll: usize,
}

impl Default for ConnectionsState {
    fn default() -> Self {
        Self {
            list: ListState::default(),
            sort: Column::ClientId,
            descending: false,
            detail: None,
            detail_scroll: 0,
        }
    }
}

impl ConnectionsState {
    /// The table as it can be shown now.
    #[must_use]
    pub fn table<'a>(&self, s: &'a Snapshot, rates: &ClientRates, filter: &str) -> Table<'a> {
        if let Some(t) = Table::paged(s, self.sort, self.descending, filter) {
            return t;
        }
        let conns = s.connections.as_deref().unwrap_or(&[]);
        let idx = rows(conns, rates, self.sort, self.descending, filter);
        Table::local(idx.into_iter().filter_map(|i| conns.get(i)).collect())
    }

    /// The rows to ask the source for: the sort, the filter, and a window around the
    /// rows on screen (see [`window`]).
    #[must_use]
    pub fn query(&self, filter: &str, total: Option<usize>, visible: usize) -> TableQuery {
        let (offset, limit) = window(self.list.selected, total, visible);
        TableQuery {
            sort: self.sort,
            descending: self.descending,
            filter: filter.to_owned(),
            offset,
            limit,
        }
    }
}

/// The rows of a table that are present, placed in its global order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table<'a> {
    rows: Vec<&'a ConnectionInfo>,
    offset: usize,
    total: usize,
    paged: bool,
}

impl<'a> Table<'a> {
    /// Every row, present (sorted and filtered here).
    fn local(rows: Vec<&'a ConnectionInfo>) -> Self {
        Self {
            total: rows.len(),
            rows,
            offset: 0,
            paged: false,
        }
    }

    /// The page a paging source sent, if it sent one; its rows only when it answers this
    /// sort and filter (an older page's rows are in another order: shown as absent).
    fn paged(s: &'a Snapshot, sort: SortKey, descending: bool, filter: &str) -> Option<Self> {
        let page: &Page = s.page.as_ref()?;
        let (total, offset) = (page.total, page.offset);
        let conns = s.connections.as_deref().unwrap_or(&[]);
        let len = if page.answers(sort, descending, filter) {
            page.len
        } else {
            0
        };
        let len = usize::try_from(len).unwrap_or(usize::MAX).min(conns.len());
        Some(Self {
            rows: conns[..len].iter().collect(),
            offset: usize::try_from(offset).unwrap_or(usize::MAX),
            total: usize::try_from(total).unwrap_or(usize::MAX),
            paged: true,
        })
    }

    /// Rows in the whole table (most of them absent when paged).
    #[must_use]
    pub fn total(&self) -> usize {
        self.total
    }

    /// Whether the source paged the table (`Snapshot::page`).
    #[must_use]
    pub fn is_paged(&self) -> bool {
        self.paged
    }

    /// The row at global index `i`, if present.
    #[must_use]
    pub fn get(&self, i: usize) -> Option<&'a ConnectionInfo> {
        self.rows.get(i.checked_sub(self.offset)?).copied()
    }

    /// The present rows in table order, with their global indices.
    pub fn present(&self) -> impl Iterator<Item = (usize, &'a ConnectionInfo)> + '_ {
        self.rows
            .iter()
            .enumerate()
            .map(move |(i, c)| (self.offset + i, *c))
    }
}

/// The Trace view's client list: the source's page (it sorts by client id for this
/// view), or every session here, online first then by id, filtered by id.
#[must_use]
pub fn trace_table<'a>(s: &'a Snapshot, filter: &str) -> Table<'a> {
    if let Some(t) = Table::paged(s, SortKey::ClientId, false, filter) {
        return t;
    }
    let f = filter.to_lowercase();
    let mut v: Vec<&ConnectionInfo> = s
        .connections
        .iter()
        .flatten()
        .filter(|c| f.is_empty() || c.client_id.to_lowercase().contains(&f))
        .collect();
    v.sort_by(|a, b| {
        b.online
            .cmp(&a.online)
            .then_with(|| a.client_id.cmp(&b.client_id))
    });
    Table::local(v)
}

/// The Trace view's query: the client list by id, filtered, around the rows on screen.
#[must_use]
pub fn trace_query(
    selected: usize,
    filter: &str,
    total: Option<usize>,
    visible: usize,
) -> TableQuery {
    let (offset, limit) = window(selected, total, visible);
    TableQuery {
        sort: SortKey::ClientId,
        descending: false,
        filter: filter.to_owned(),
        offset,
        limit,
    }
}

/// The rows to ask for so that the rows on screen, and a screenful either side, are
/// present: `offset` moves in steps of a screen, so scrolling row by row asks again
/// only once a screen, and the page already held covers the screen until the answer
/// comes. The selection is clamped to `total` when it is known.
#[must_use]
pub fn window(selected: usize, total: Option<usize>, visible: usize) -> (u32, u32) {
    let visible = visible.max(1);
    let selected = total.map_or(selected, |t| selected.min(t.saturating_sub(1)));
    // The first row on screen, as drawing scrolls (the selection at the bottom).
    let first = crate::view::layout::offset(selected, visible);
    let start = (first / visible * visible).saturating_sub(visible);
    let clip = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    (clip(start), clip(3 * visible))
}

#[cfg(test)]
mod tests {
    use super::window;

    #[test]
    fn the_window_covers_the_screen_and_moves_a_screen_at_a_time() {
        // 10 rows on screen: the first screens ask from 0.
        assert_eq!(window(0, None, 10), (0, 30));
        assert_eq!(window(18, None, 10), (0, 30));
        // Scrolled by 10 (selection 19 shows rows 10..20): still from 0, a screen before.
        assert_eq!(window(19, None, 10), (0, 30));
        assert_eq!(window(28, None, 10), (0, 30));
        assert_eq!(window(29, None, 10), (10, 30));
        // Every screen is inside its window, and inside the previous window too.
        for sel in 0..500usize {
            let first = sel.saturating_sub(9);
            let (o, l) = window(sel, None, 10);
            let (o, l) = (o as usize, l as usize);
            assert!(o <= first && first + 10 <= o + l, "sel {sel}");
            let (po, pl) = window(sel.saturating_sub(1), None, 10);
            assert!(po as usize <= first && first + 10 <= (po + pl) as usize);
            let (no, nl) = window(sel + 1, None, 10);
            assert!(no as usize <= first && first + 10 <= (no + nl) as usize);
        }
        // A selection past the end (the table shrank) asks for the last rows.
        assert_eq!(window(1_000, Some(25), 10), window(24, None, 10));
    }
}
