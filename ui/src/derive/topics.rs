//! The live topic tree, built from tapped messages and bounded by design: at most
//! `max_topics` nodes (later topics are counted but not kept, with a visible note), a
//! per-topic payload history ring, payloads clipped, and a global history byte budget.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use midge_model::Message;

/// Index of a node in the tree; the root is 0.
pub type NodeId = usize;

/// Memory bounds of the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicLimits {
    /// Nodes kept (topic levels, including intermediate ones).
    pub max_topics: usize,
    /// Payloads kept per topic (the last one included).
    pub history_per_topic: usize,
    /// Payloads are clipped to this many bytes when stored.
    pub payload_clip: usize,
    /// Bytes of history across all topics; past it a topic keeps only its last payload.
    pub history_budget: usize,
}

impl Default for TopicLimits {
    fn default() -> Self {
        Self {
            max_topics: 10_000,
            history_per_topic: 64,
            payload_clip: 4096,
            history_budget: 8 << 20,
        }
    }
}

/// One stored payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub at_ms: u64,
    /// The payload, clipped to the tree's `payload_clip`.
    pub payload: Bytes,
    /// The payload's real length.
    pub full_len: usize,
    pub qos: u8,
    pub retain: bool,
}

impl HistoryEntry {
    #[must_use]
    pub fn clipped(&self) -> bool {
        self.payload.len() < self.full_len
    }
}

/// What is known about a topic that messages were published to.
#[derive(Debug, Clone, Default)]
pub struct TopicData {
    pub count: u64,
    pub last_ms: u64,
    /// A non-empty retained message was seen last (an empty one clears it).
    pub retained: bool,
    /// Oldest first; never empty once the topic has data.
    pub history: VecDeque<HistoryEntry>,
    /// Payloads evicted from `history` (the truncated mark).
    pub history_dropped: u64,
    /// Messages per second of the last [`RATE_SECONDS`] seconds, a ring indexed by
    /// unix second; `newest_sec` is the second of the newest message.
    per_second: [u32; RATE_SECONDS],
    newest_sec: u64,
    /// Messages and bytes over the last 5 min, for Top talkers.
    pub traffic: super::traffic::Traffic,
}

/// The topic rate is a sliding average over this many one-second buckets: it rises on
/// the first message and falls to zero 10 s after the last.
const RATE_SECONDS: usize = 10;

impl TopicData {
    /// Messages per second over the last 10 s, sliding by the second.
    #[must_use]
    pub fn rate(&self, now_ms: u64) -> f64 {
        let now = now_ms / 1000;
        let window = RATE_SECONDS as u64;
        // The seconds both in the window ending now and still held by the ring.
        let first = now
            .saturating_sub(window - 1)
            .max(self.newest_sec.saturating_sub(window - 1));
        let last = now.min(self.newest_sec);
        let total: u64 = (first..=last)
            .map(|sec| u64::from(self.per_second[(sec % window) as usize]))
            .sum();
        total as f64 / window as f64
    }

    fn count_rate(&mut self, at_ms: u64) {
        let sec = at_ms / 1000;
        let window = RATE_SECONDS as u64;
        if sec > self.newest_sec {
            // Zero the seconds skipped since the newest message (all if 10 s or more).
            let gap = (sec - self.newest_sec).min(window);
            for s in (sec + 1 - gap)..=sec {
                self.per_second[(s % window) as usize] = 0;
            }
            self.newest_sec = sec;
        } else if sec + window <= self.newest_sec {
            return; // older than the window (a clock step back)
        }
        let slot = &mut self.per_second[(sec % window) as usize];
        *slot = slot.saturating_add(1);
    }
}

/// One level of the tree.
#[derive(Debug, Clone, Default)]
pub struct Node {
    pub name: String,
    pub parent: Option<NodeId>,
    pub children: BTreeMap<String, NodeId>,
    pub depth: usize,
    pub expanded: bool,
    /// Messages to this node and everything below it.
    pub subtree_count: u64,
    pub data: Option<TopicData>,
}

/// A row of the flattened, visible tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    pub id: NodeId,
    /// Indentation level (0 for top-level nodes and filter results).
    pub depth: usize,
}

/// The bounded topic tree.
#[derive(Debug, Clone)]
pub struct TopicTree {
    nodes: Vec<Node>,
    limits: TopicLimits,
    history_bytes: usize,
    /// Messages whose topic could not be kept because the node cap was reached.
    capped_messages: u64,
    total_messages: u64,
    /// Every tapped message, kept or not: the total a topic's share is of.
    pub traffic: super::traffic::Traffic,
}

impl Default for TopicTree {
    fn default() -> Self {
        Self::new(TopicLimits::default())
    }
}

impl TopicTree {
    #[must_use]
    pub fn new(limits: TopicLimits) -> Self {
        Self {
            nodes: vec![Node {
                expanded: true,
                ..Node::default()
            }],
            limits,
            history_bytes: 0,
            capped_messages: 0,
            total_messages: 0,
            traffic: super::traffic::Traffic::default(),
        }
    }

    #[must_use]
    pub fn limits(&self) -> TopicLimits {
        self.limits
    }

    /// Nodes kept, the root excluded.
    #[must_use]
    pub fn len(&self) -> usize {
        self.nodes.len() - 1
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.nodes.len() == 1
    }

    /// True once a topic was refused because of the node cap.
    #[must_use]
    pub fn capped(&self) -> bool {
        self.capped_messages > 0
    }

    #[must_use]
    pub fn capped_messages(&self) -> u64 {
        self.capped_messages
    }

    #[must_use]
    pub fn total_messages(&self) -> u64 {
        self.total_messages
    }

    #[must_use]
    pub fn history_bytes(&self) -> usize {
        self.history_bytes
    }

    #[must_use]
    pub fn node(&self, id: NodeId) -> Option<&Node> {
        self.nodes.get(id)
    }

    /// Every topic that had messages, with its data.
    pub fn topics(&self) -> impl Iterator<Item = (NodeId, &TopicData)> {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| Some((i, n.data.as_ref()?)))
    }

    /// The full topic name of a node.
    #[must_use]
    pub fn path(&self, id: NodeId) -> String {
        let mut parts = Vec::new();
        let mut cur = Some(id);
        while let Some(i) = cur {
            let Some(n) = self.nodes.get(i) else { break };
            if n.parent.is_none() {
                break;
            }
            parts.push(n.name.as_str());
            cur = n.parent;
        }
        parts.reverse();
        parts.join("/")
    }

    /// The node of an exact topic name, if kept.
    #[must_use]
    pub fn find(&self, topic: &str) -> Option<NodeId> {
        let mut cur = 0;
        for level in topic.split('/') {
            cur = *self.nodes.get(cur)?.children.get(level)?;
        }
        Some(cur)
    }

    /// Records one message.
    pub fn insert(&mut self, msg: &Message) {
        self.total_messages += 1;
        self.traffic.add(msg.at_ms, 1, msg.payload.len() as u64);
        let Some(id) = self.ensure(&msg.topic) else {
            self.capped_messages += 1;
            return;
        };
        let mut cur = Some(id);
        while let Some(i) = cur {
            let Some(n) = self.nodes.get_mut(i) else {
                break;
            };
            n.subtree_count += 1;
            cur = n.parent;
        }
        let limits = self.limits;
        let clip = msg.payload.len().min(limits.payload_clip);
        let entry = HistoryEntry {
            at_ms: msg.at_ms,
            payload: msg.payload.slice(..clip),
            full_len: msg.payload.len(),
            qos: msg.qos,
            retain: msg.retain,
        };
        let Some(data) = self
            .nodes
            .get_mut(id)
            .map(|n| n.data.get_or_insert_with(TopicData::default))
        else {
            return;
        };
        data.count += 1;
        data.last_ms = msg.at_ms;
        data.count_rate(msg.at_ms);
        data.traffic.add(msg.at_ms, 1, msg.payload.len() as u64);
        if msg.retain {
            data.retained = !msg.payload.is_empty();
        }
        self.history_bytes += entry.payload.len();
        data.history.push_back(entry);
        // Keep within the per-topic ring and the global budget, but always keep the last.
        while data.history.len() > 1
            && (data.history.len() > limits.history_per_topic
                || self.history_bytes > limits.history_budget)
        {
            if let Some(old) = data.history.pop_front() {
                self.history_bytes = self.history_bytes.saturating_sub(old.payload.len());
                data.history_dropped += 1;
            }
        }
    }

    /// Finds or creates the node of `topic`; `None` if that would pass the cap.
    fn ensure(&mut self, topic: &str) -> Option<NodeId> {
        let mut cur = 0;
        for level in topic.split('/') {
            let existing = self.nodes.get(cur)?.children.get(level).copied();
            cur = match existing {
                Some(i) => i,
                None => {
                    if self.nodes.len() > self.limits.max_topics {
                        return None;
                    }
                    let depth = self.nodes.get(cur).map_or(0, |n| n.depth + 1);
                    let id = self.nodes.len();
                    // `$SYS` and other `$` trees start collapsed so user topics show
                    // first; they are broker internals [MQTT-4.7.2-1].
                    let expanded = !(cur == 0 && level.starts_with('$'));
                    self.nodes.push(Node {
                        name: level.to_owned(),
                        parent: Some(cur),
                        depth,
                        expanded,
                        ..Node::default()
                    });
                    if let Some(p) = self.nodes.get_mut(cur) {
                        p.children.insert(level.to_owned(), id);
                    }
                    id
                }
            };
        }
        Some(cur)
    }

    /// Topics with messages in the subtree of `id` (itself included).
    #[must_use]
    pub fn topics_below(&self, id: NodeId) -> usize {
        let mut stack = vec![id];
        let mut n = 0;
        while let Some(i) = stack.pop() {
            let Some(node) = self.nodes.get(i) else {
                continue;
            };
            n += usize::from(node.data.is_some());
            stack.extend(node.children.values().copied());
        }
        n
    }

    /// Expands or collapses a node with children.
    pub fn toggle(&mut self, id: NodeId) {
        if let Some(n) = self.nodes.get_mut(id) {
            if !n.children.is_empty() {
                n.expanded = !n.expanded;
            }
        }
    }

    pub fn set_expanded(&mut self, id: NodeId, expanded: bool) {
        if let Some(n) = self.nodes.get_mut(id) {
            n.expanded = expanded;
        }
    }

    /// Expands every ancestor of `id`, so its row shows.
    pub fn reveal(&mut self, id: NodeId) {
        let mut cur = self.nodes.get(id).and_then(|n| n.parent);
        while let Some(p) = cur {
            let Some(n) = self.nodes.get_mut(p) else {
                break;
            };
            n.expanded = true;
            cur = n.parent;
        }
    }

    pub fn set_all_expanded(&mut self, expanded: bool) {
        for n in self.nodes.iter_mut().skip(1) {
            n.expanded = expanded;
        }
    }

    /// The visible rows: the expanded tree, or with a non-empty `filter` the flat list
    /// of topics whose name contains it (case-insensitive).
    #[must_use]
    pub fn rows(&self, filter: &str) -> Vec<Row> {
        let mut out = Vec::new();
        if filter.is_empty() {
            let mut stack: Vec<NodeId> = self
                .nodes
                .first()
                .map(|r| r.children.values().rev().copied().collect())
                .unwrap_or_default();
            while let Some(id) = stack.pop() {
                let Some(n) = self.nodes.get(id) else {
                    continue;
                };
                out.push(Row { id, depth: n.depth });
                if n.expanded {
                    stack.extend(n.children.values().rev().copied());
                }
            }
        } else {
            let needle = filter.to_lowercase();
            for id in 1..self.nodes.len() {
                if self.nodes[id].data.is_some() && self.path(id).to_lowercase().contains(&needle) {
                    out.push(Row { id, depth: 0 });
                }
            }
            out.sort_by_cached_key(|r| self.path(r.id));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(topic: &str, payload: &'static str) -> Message {
        Message::new(1000, topic, payload, 0, false)
    }

    #[test]
    fn builds_and_flattens() {
        let mut t = TopicTree::default();
        t.insert(&m("a/b/c", "1"));
        t.insert(&m("a/b/d", "2"));
        t.insert(&m("x", "3"));
        let rows: Vec<String> = t.rows("").iter().map(|r| t.path(r.id)).collect();
        assert_eq!(rows, ["a", "a/b", "a/b/c", "a/b/d", "x"]);
        let b = t.find("a/b").unwrap_or_default();
        assert_eq!(t.node(b).map(|n| n.subtree_count), Some(2));
        t.toggle(b);
        assert_eq!(t.rows("").len(), 3);
        let rows: Vec<String> = t.rows("D").iter().map(|r| t.path(r.id)).collect();
        assert_eq!(rows, ["a/b/d"]);
    }

    #[test]
    fn rate_slides_by_the_second() {
        let mut t = TopicTree::default();
        for i in 0..20 {
            // 2 messages per second from t = 100 s to 110 s.
            t.insert(&Message::new(100_000 + i * 500, "r", "x", 0, false));
        }
        let data = t
            .find("r")
            .and_then(|id| t.node(id))
            .and_then(|n| n.data.clone())
            .unwrap_or_default();
        assert!(
            (data.rate(109_999) - 2.0).abs() < 1e-9,
            "{}",
            data.rate(109_999)
        );
        assert!(
            (data.rate(114_000) - 1.0).abs() < 1e-9,
            "half the window left"
        );
        assert!(
            data.rate(120_000).abs() < 1e-9,
            "10 s after the last message"
        );
        let mut young = TopicTree::default();
        young.insert(&Message::new(5_000, "y", "x", 0, false));
        let d = young
            .find("y")
            .and_then(|id| young.node(id))
            .and_then(|n| n.data.clone());
        assert!(
            d.is_some_and(|d| (d.rate(5_100) - 0.1).abs() < 1e-9),
            "rises at once"
        );
    }

    #[test]
    fn dollar_topics_start_collapsed() {
        let mut t = TopicTree::default();
        t.insert(&m("$SYS/broker/uptime", "1"));
        t.insert(&m("home/kitchen", "2"));
        let rows: Vec<String> = t.rows("").iter().map(|r| t.path(r.id)).collect();
        assert_eq!(rows, ["$SYS", "home", "home/kitchen"]);
        assert_eq!(t.find("$SYS").map(|id| t.topics_below(id)), Some(1));
    }

    #[test]
    fn retained_cleared_by_empty_payload() {
        let mut t = TopicTree::default();
        t.insert(&Message::new(1, "r", "on", 1, true));
        let id = t.find("r").unwrap_or_default();
        assert!(t
            .node(id)
            .and_then(|n| n.data.as_ref())
            .is_some_and(|d| d.retained));
        t.insert(&Message::new(2, "r", "", 1, true));
        assert!(!t
            .node(id)
            .and_then(|n| n.data.as_ref())
            .is_some_and(|d| d.retained));
    }
}
