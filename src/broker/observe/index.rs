//! The observer's mirror of the session table, kept from the router's change feed and
//! the clients' change list, with the connections table sorted and filtered
//! incrementally: each interval costs what changed (sessions that connected, left or
//! moved traffic), never a walk over every session.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use midge_model::{SortKey, TableQuery};

use crate::broker::inbox::Inbox;
use crate::broker::message::ClientId;
use crate::broker::router::watch::Change;
use crate::broker::stats::{ClientStats, Metrics};
use crate::protocol::ProtocolVersion;

/// Sorted views kept at once (the dashboard's, and a remote monitor's or two).
const MAX_VIEWS: usize = 4;

/// One session as the observer sees it.
pub struct Row {
    pub stats: Arc<ClientStats>,
    /// Set while the client is online.
    pub inbox: Option<Arc<Inbox>>,
    pub subscriptions: u32,
    /// Messages in + out when last rated, and the rate then (messages per second).
    msgs_at_tick: u64,
    pub rate: u64,
}

impl Row {
    pub fn online(&self) -> bool {
        self.inbox.is_some()
    }

    pub fn queued(&self) -> u32 {
        match &self.inbox {
            Some(q) => q.len() as u32,
            None => self.stats.queued_offline.load(Relaxed),
        }
    }

    pub fn inflight(&self) -> u32 {
        self.stats.inflight_out.load(Relaxed) + self.stats.inflight_in.load(Relaxed)
    }

    fn msgs(&self) -> u64 {
        self.stats.messages_in.load(Relaxed) + self.stats.messages_out.load(Relaxed)
    }

    /// The dashboard's filter: a substring of the client id, address (online) or
    /// username, or exactly the protocol label; `filter` is lower-cased.
    fn matches(&self, filter: &str) -> bool {
        if filter.is_empty() {
            return true;
        }
        let info = &self.stats.info;
        let has = |s: &str| s.to_lowercase().contains(filter);
        has(&info.client_id)
            || (self.online() && has(&info.address))
            || info.username.as_deref().is_some_and(has)
            || protocol_label(info.protocol) == filter
    }

    /// Worth showing among the slow consumers.
    fn slow(&self) -> bool {
        self.queued() > 0 || self.stats.dropped.load(Relaxed) > 0
    }
}

/// A sort value: numbers and text in one ordered type (`Num` before `Text`, so an
/// absent address or username sorts first, as the dashboard's `None` does).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Value {
    Num(u64),
    Text(String),
    /// Descending by client id (ascending is the tie-break itself).
    IdDown(std::cmp::Reverse<ClientId>),
}

/// A value in a view's direction: iterated ascending either way, so ties always break on
/// the client id ascending, as the dashboard's own sort does.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Asc(Value),
    Desc(std::cmp::Reverse<Value>),
}

fn value(key: SortKey, descending: bool, r: &Row) -> Value {
    let info = &r.stats.info;
    let s = &r.stats;
    match key {
        // The tie-break orders by client id already: no copy of the id.
        SortKey::ClientId if descending => Value::IdDown(std::cmp::Reverse(info.client_id.clone())),
        SortKey::ClientId => Value::Num(0),
        SortKey::Address if r.online() => Value::Text(info.address.clone()),
        SortKey::Address => Value::Num(0),
        SortKey::Protocol => Value::Num(match info.protocol {
            ProtocolVersion::V3_1 => 3,
            ProtocolVersion::V3_1_1 => 4,
            ProtocolVersion::V5 => 5,
        }),
        SortKey::Username => info.username.clone().map_or(Value::Num(0), Value::Text),
        SortKey::Tls => Value::Num(u64::from(info.tls)),
        SortKey::KeepAlive => Value::Num(u64::from(info.keep_alive)),
        // By age: ascending is the newest connection first.
        SortKey::Since => {
            Value::Num(u64::MAX - crate::broker::stats::unix_ms(info.connected_since))
        }
        SortKey::Subs => Value::Num(u64::from(r.subscriptions)),
        SortKey::MsgsIn => Value::Num(s.messages_in.load(Relaxed)),
        SortKey::MsgsOut => Value::Num(s.messages_out.load(Relaxed)),
        SortKey::Rate => Value::Num(r.rate),
        SortKey::Inflight => Value::Num(u64::from(r.inflight())),
        SortKey::Queued => Value::Num(u64::from(r.queued())),
    }
}

/// The sessions matching one filter, in one column's order and direction.
struct View {
    key: SortKey,
    descending: bool,
    /// Lower-cased filter; empty = all.
    filter: String,
    sorted: BTreeSet<(Key, ClientId)>,
    /// Each member's key in `sorted`, to move it when it changes.
    values: HashMap<ClientId, Key>,
    /// Tick of the last use (the least recently used view goes first).
    used: u64,
}

impl View {
    fn new(q: &TableQuery, filter: String, rows: &HashMap<ClientId, Row>) -> Self {
        let mut v = Self {
            key: q.sort,
            descending: q.descending,
            filter,
            sorted: BTreeSet::new(),
            values: HashMap::with_capacity(rows.len()),
            used: 0,
        };
        // Built in bulk (the set sorts once), not by a million single inserts.
        let keyed: Vec<(Key, ClientId)> = rows
            .iter()
            .filter_map(|(id, r)| Some((v.key_of(r)?, id.clone())))
            .collect();
        for (k, id) in &keyed {
            v.values.insert(id.clone(), k.clone());
        }
        v.sorted = keyed.into_iter().collect();
        v
    }

    /// Where `r` sorts in this view; `None` when the filter hides it.
    fn key_of(&self, r: &Row) -> Option<Key> {
        if !r.matches(&self.filter) {
            return None;
        }
        let v = value(self.key, self.descending, r);
        Some(if self.descending && self.key != SortKey::ClientId {
            Key::Desc(std::cmp::Reverse(v))
        } else {
            Key::Asc(v)
        })
    }

    /// Put `id` where its row sorts now (`None`: the session is gone).
    fn update(&mut self, id: &ClientId, row: Option<&Row>) {
        let now = row.and_then(|r| self.key_of(r));
        if self.values.get(id) == now.as_ref() {
            return;
        }
        if let Some(old) = self.values.remove(id) {
            self.sorted.remove(&(old, id.clone()));
        }
        if let Some(v) = now {
            self.sorted.insert((v.clone(), id.clone()));
            self.values.insert(id.clone(), v);
        }
    }
}

/// A page of the table: matching sessions, and the ids from `offset` on.
pub struct PageIds {
    pub total: u64,
    pub offset: u32,
    pub ids: Vec<ClientId>,
}

#[derive(Default)]
pub struct Index {
    rows: HashMap<ClientId, Row>,
    views: Vec<View>,
    /// Rows with a non-zero rate (re-rated each tick until it falls to zero).
    rated: HashSet<ClientId>,
    /// Rows with a queue or drops, and rows with messages in flight.
    slow: HashSet<ClientId>,
    inflight: HashSet<ClientId>,
    /// When the rates were last computed (ms, the observer's clock).
    last_tick_ms: Option<u64>,
    ticks: u64,
}

impl Index {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn row(&self, id: &str) -> Option<&Row> {
        self.rows.get(id)
    }

    /// Apply one change from the router.
    pub fn apply(&mut self, change: Change) {
        let id = match change {
            Change::Sessions(all) => {
                self.rows.reserve(all.len());
                for s in all {
                    self.apply(s);
                }
                return;
            }
            Change::Session {
                stats,
                inbox,
                subscriptions,
            } => {
                let id = stats.info.client_id.clone();
                // A flag left set while nobody watched would hide its next change.
                stats.clear_dirty();
                let row = Row {
                    msgs_at_tick: stats.messages_in.load(Relaxed)
                        + stats.messages_out.load(Relaxed),
                    rate: 0,
                    stats,
                    inbox,
                    subscriptions,
                };
                self.rows.insert(id.clone(), row);
                id
            }
            Change::Offline { client } => {
                if let Some(r) = self.rows.get_mut(&client) {
                    r.inbox = None;
                }
                client
            }
            Change::Removed { client } => {
                self.rows.remove(&client);
                client
            }
            Change::Subscriptions { client, count } => {
                if let Some(r) = self.rows.get_mut(&client) {
                    r.subscriptions = count;
                }
                client
            }
        };
        self.refresh(&id);
    }

    /// Re-place one session in every view and set.
    fn refresh(&mut self, id: &ClientId) {
        let row = self.rows.get(id);
        for v in &mut self.views {
            v.update(id, row);
        }
        let (slow, inflight) = row.map_or((false, false), |r| (r.slow(), r.inflight() > 0));
        set_member(&mut self.slow, id, slow);
        set_member(&mut self.inflight, id, inflight);
    }

    /// Take the clients' changes since the last tick and re-rate: O(changed + rated).
    pub fn tick(&mut self, metrics: &Metrics, now_ms: u64) {
        let changed = metrics.take_changed();
        let secs = self
            .last_tick_ms
            .map_or(0.0, |t| now_ms.saturating_sub(t) as f64 / 1000.0);
        self.last_tick_ms = Some(now_ms);
        self.ticks += 1;
        let mut todo: Vec<ClientId> = changed;
        todo.extend(self.rated.iter().cloned());
        for id in todo {
            let Some(r) = self.rows.get_mut(&id) else {
                continue;
            };
            r.stats.clear_dirty();
            let msgs = r.msgs();
            r.rate = if secs > 0.0 {
                (msgs.saturating_sub(r.msgs_at_tick) as f64 / secs).round() as u64
            } else {
                0
            };
            r.msgs_at_tick = msgs;
            let rated = r.rate > 0;
            set_member(&mut self.rated, &id, rated);
            self.refresh(&id);
        }
    }

    /// The table page for `q`, from the view kept for its column and filter.
    pub fn page(&mut self, q: &TableQuery) -> PageIds {
        let filter = q.filter.to_lowercase();
        let ticks = self.ticks;
        let i = match self
            .views
            .iter()
            .position(|v| v.key == q.sort && v.descending == q.descending && v.filter == filter)
        {
            Some(i) => i,
            None => {
                if self.views.len() >= MAX_VIEWS {
                    if let Some(lru) = (0..self.views.len()).min_by_key(|&i| self.views[i].used) {
                        self.views.swap_remove(lru);
                    }
                }
                self.views.push(View::new(q, filter, &self.rows));
                self.views.len() - 1
            }
        };
        let v = &mut self.views[i];
        v.used = ticks;
        let total = v.sorted.len() as u64;
        let offset = q.offset.min(total.saturating_sub(1) as u32);
        let take = q.limit as usize;
        let ids = v
            .sorted
            .iter()
            .skip(offset as usize)
            .take(take)
            .map(|(_, id)| id.clone())
            .collect();
        PageIds { total, offset, ids }
    }

    /// Up to `n` slow consumers, fullest queue first.
    pub fn slowest(&self, n: usize) -> Vec<ClientId> {
        let mut v: Vec<(u64, &ClientId)> = self
            .slow
            .iter()
            .filter_map(|id| {
                let r = self.rows.get(id)?;
                Some((u64::from(r.queued()), id))
            })
            .collect();
        v.sort_unstable_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        v.into_iter().take(n).map(|(_, id)| id.clone()).collect()
    }

    /// Online sessions with messages in flight (their detail is in their stats).
    pub fn with_inflight(&self) -> impl Iterator<Item = &Row> {
        self.inflight
            .iter()
            .filter_map(|id| self.rows.get(id))
            .filter(|r| r.online())
    }
}

fn protocol_label(v: ProtocolVersion) -> &'static str {
    match v {
        ProtocolVersion::V3_1 => "3.1",
        ProtocolVersion::V3_1_1 => "3.1.1",
        ProtocolVersion::V5 => "5.0",
    }
}

fn set_member(set: &mut HashSet<ClientId>, id: &ClientId, member: bool) {
    if member {
        if !set.contains(id) {
            set.insert(id.clone());
        }
    } else {
        set.remove(id);
    }
}

#[cfg(test)]
#[path = "index_tests.rs"]
mod tests;
