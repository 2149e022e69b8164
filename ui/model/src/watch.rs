//! What the dashboard is looking at, so a source builds only that: the connections table's
//! sort, filter and the rows on screen, the clients whose detail is open, the topic whose
//! subscribers are counted. A source with 100,000 sessions then sends the 40 rows on
//! screen instead of every session, and its cost follows what changed, not what exists.

/// A sortable column of the connections table (every column sorts). Ties break on the
/// client id, ascending, whatever the direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum SortKey {
    #[default]
    ClientId,
    Address,
    Protocol,
    Username,
    Tls,
    KeepAlive,
    /// By connection age: ascending is the newest connection first (larger
    /// `connected_since_ms` first), as the column shows ages.
    Since,
    Subs,
    MsgsIn,
    MsgsOut,
    /// Messages in + out per second, as the source measures it.
    Rate,
    Inflight,
    Queued,
}

/// The connections table as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default))]
pub struct TableQuery {
    pub sort: SortKey,
    pub descending: bool,
    /// Case-insensitive substring of the client id, address or username, or exactly a
    /// protocol label (`3.1`, `3.1.1`, `5.0`), as the dashboard filters; empty = all.
    pub filter: String,
    /// Index of the first row wanted in the sorted, filtered order.
    pub offset: u32,
    /// Rows wanted (the table's height, plus a margin for scrolling).
    pub limit: u32,
}

/// What the dashboard needs from a source; sent as [`crate::Command::Watch`] whenever
/// it changes. Sources that cannot page ignore it and send every session. Until the
/// first one arrives a source assumes `Watch::default()` (the Overview: no table, no
/// clients, no topic); the dashboard does not send that one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default))]
pub struct Watch {
    /// The connections table; `None` when no view shows it.
    pub table: Option<TableQuery>,
    /// Clients whose full rows are needed (an open detail, the traced client).
    pub clients: Vec<String>,
    /// The topic whose subscriber count the Topics view shows.
    pub topic: Option<String>,
    /// More topics whose subscriber counts a view shows (Top talkers' rows).
    pub topics: Vec<String>,
}

/// How a paging source answered [`Watch::table`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Page {
    /// Sessions matching the filter (all sessions with an empty filter).
    pub total: u64,
    /// Index of `Snapshot::connections[0]` in the sorted, filtered order.
    pub offset: u32,
    /// The first `len` entries of `Snapshot::connections` are the page, in table order;
    /// the entries after them are other rows the source sent (watched clients, the
    /// slowest consumers, offline sessions with queued messages), in no order.
    pub len: u32,
    /// The query this page answers: until a page for the dashboard's current sort and
    /// filter arrives, its rows are someone else's order and must not be acted on.
    #[cfg_attr(feature = "serde", serde(default))]
    pub answers: TableQuery,
}

impl Page {
    /// Whether this page is in the order of `sort`, `descending` and `filter`.
    #[must_use]
    pub fn answers(&self, sort: SortKey, descending: bool, filter: &str) -> bool {
        self.answers.sort == sort
            && self.answers.descending == descending
            && self.answers.filter == filter
    }
}
