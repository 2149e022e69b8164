//! The subscription trie: topic filters by level, plain and shared subscriptions, and the
//! match of a topic name against all of them. Subscribers are whatever small copyable
//! key the owner gives (the router's client index): a match copies keys, never hashes
//! or compares client identifiers.

/// Seeded per map (per process run), so levels chosen by clients cannot be aimed at
/// one bucket ahead of time.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
use std::num::NonZeroU32;
use std::sync::Arc;

use crate::protocol::SubscriptionOptions;

/// One subscription in a leaf: 16 bytes with the router's index (memory per subscription).
#[derive(Clone, Copy, Debug)]
pub struct Subscriber<K> {
    pub client: K,
    pub options: SubscriptionOptions,
    /// v5 Subscription Identifier given with this subscription (never 0: a protocol
    /// error the decoder refuses).
    pub sub_id: Option<NonZeroU32>,
}

/// One `$share/{group}/{filter}`: its members and the round-robin cursor.
#[derive(Debug)]
struct SharedGroup<K> {
    name: Arc<str>,
    members: Vec<Subscriber<K>>,
    next: usize,
}

/// A node's children are stored inline in its parent's map, so a node is kept small
/// (40 bytes): most nodes are leaves (a device's own topic) with no children and no shared
/// groups, and an empty map (48 bytes) or vector in every leaf, times the map's spare
/// capacity, was most of a subscription's memory.
#[derive(Debug)]
#[expect(
    clippy::box_collection,
    reason = "a boxed map or vector is 8 bytes in every leaf, an empty one 48 or 24"
)]
pub(crate) struct Node<K> {
    children: Option<Box<HashMap<Box<str>, Node<K>>>>,
    subscribers: Vec<Subscriber<K>>,
    /// A node has few groups, if any: a vector is smaller than a map.
    shared: Option<Box<Vec<SharedGroup<K>>>>,
}

impl<K> Default for Node<K> {
    fn default() -> Self {
        Self {
            children: None,
            subscribers: Vec::new(),
            shared: None,
        }
    }
}

impl<K> Node<K> {
    fn is_empty(&self) -> bool {
        self.children.is_none() && self.subscribers.is_empty() && self.shared.is_none()
    }

    fn child_mut(&mut self, level: &str) -> Option<&mut Node<K>> {
        self.children.as_mut()?.get_mut(level)
    }

    fn groups(&self) -> &[SharedGroup<K>] {
        self.shared.as_deref().map_or(&[], Vec::as_slice)
    }
}

/// A subscriber selected by a match.
#[derive(Clone, Copy, Debug)]
pub struct Matched<K> {
    pub client: K,
    pub options: SubscriptionOptions,
    pub sub_id: Option<NonZeroU32>,
    pub shared: bool,
}

#[derive(Debug)]
pub struct Trie<K> {
    root: Node<K>,
    count: usize,
}

impl<K> Default for Trie<K> {
    fn default() -> Self {
        Self {
            root: Node::default(),
            count: 0,
        }
    }
}

impl<K: Copy + Eq> Trie<K> {
    /// Number of subscriptions (plain and shared members).
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Add or replace `client`'s subscription to `filter` (in `group` if shared). Returns
    /// true if it replaced an existing one [MQTT-3.8.4-3].
    pub fn insert(&mut self, filter: &str, group: Option<&str>, sub: Subscriber<K>) -> bool {
        let mut node = &mut self.root;
        for level in filter.split('/') {
            node = node
                .children
                .get_or_insert_with(Box::default)
                .entry(level.into())
                .or_default();
        }
        let list = match group {
            None => &mut node.subscribers,
            Some(g) => {
                let groups = node.shared.get_or_insert_with(Box::default);
                let i = match groups.iter().position(|sg| &*sg.name == g) {
                    Some(i) => i,
                    None => {
                        groups.push(SharedGroup {
                            name: Arc::from(g),
                            members: Vec::new(),
                            next: 0,
                        });
                        groups.len() - 1
                    }
                };
                &mut groups[i].members
            }
        };
        if let Some(existing) = list.iter_mut().find(|s| s.client == sub.client) {
            *existing = sub;
            true
        } else {
            // Most filters have one subscriber: grow by one, not to four.
            list.reserve_exact(1);
            list.push(sub);
            self.count += 1;
            false
        }
    }

    /// Remove `client`'s subscription; true if there was one.
    pub fn remove(&mut self, filter: &str, group: Option<&str>, client: K) -> bool {
        let levels: Vec<&str> = filter.split('/').collect();
        let removed = remove_at(&mut self.root, &levels, group, client);
        if removed {
            self.count -= 1;
        }
        removed
    }

    /// Every subscription matching `topic`: all plain subscribers, and one member per
    /// matching shared group, chosen round-robin among those `online` says are connected
    /// (any member when none is). Returns whether a client may appear more than once
    /// (matches came from more than one filter or group): only then must the caller
    /// merge a client's overlapping subscriptions.
    pub fn matches(
        &mut self,
        topic: &str,
        online: &dyn Fn(K) -> bool,
        out: &mut Vec<Matched<K>>,
    ) -> bool {
        let levels: Vec<&str> = topic.split('/').collect();
        // [MQTT-4.7.2-1] a leading wildcard does not match a `$` topic.
        let dollar = topic.starts_with('$');
        let mut lists = 0;
        visit(&mut self.root, &levels, 0, dollar, online, out, &mut lists);
        lists > 1
    }
}

fn remove_at<K: Copy + Eq>(
    node: &mut Node<K>,
    levels: &[&str],
    group: Option<&str>,
    client: K,
) -> bool {
    let Some((first, rest)) = levels.split_first() else {
        return match group {
            None => {
                let before = node.subscribers.len();
                node.subscribers.retain(|s| s.client != client);
                before != node.subscribers.len()
            }
            Some(g) => {
                let Some(groups) = node.shared.as_mut() else {
                    return false;
                };
                let Some(i) = groups.iter().position(|sg| &*sg.name == g) else {
                    return false;
                };
                let sg = &mut groups[i];
                let before = sg.members.len();
                sg.members.retain(|s| s.client != client);
                let removed = before != sg.members.len();
                if sg.members.is_empty() {
                    groups.swap_remove(i);
                    if groups.is_empty() {
                        node.shared = None;
                    }
                }
                removed
            }
        };
    };
    let Some(child) = node.child_mut(first) else {
        return false;
    };
    let removed = remove_at(child, rest, group, client);
    if child.is_empty() {
        if let Some(children) = node.children.as_mut() {
            children.remove(*first);
            if children.is_empty() {
                node.children = None;
            }
        }
    }
    removed
}

/// `lists` counts the lists matches came from: a client is in each at most once.
fn collect<K: Copy>(
    node: &mut Node<K>,
    online: &dyn Fn(K) -> bool,
    out: &mut Vec<Matched<K>>,
    lists: &mut usize,
) {
    *lists += usize::from(!node.subscribers.is_empty()) + node.groups().len();
    out.extend(node.subscribers.iter().map(|s| Matched {
        client: s.client,
        options: s.options,
        sub_id: s.sub_id,
        shared: false,
    }));
    for group in node.shared.iter_mut().flat_map(|g| g.iter_mut()) {
        let n = group.members.len();
        if n == 0 {
            continue;
        }
        let start = group.next % n;
        let pick = (0..n)
            .map(|i| (start + i) % n)
            .find(|&i| online(group.members[i].client))
            .unwrap_or(start);
        group.next = pick + 1;
        let s = &group.members[pick];
        out.push(Matched {
            client: s.client,
            options: s.options,
            sub_id: s.sub_id,
            shared: true,
        });
    }
}

fn visit<K: Copy>(
    node: &mut Node<K>,
    levels: &[&str],
    depth: usize,
    dollar: bool,
    online: &dyn Fn(K) -> bool,
    out: &mut Vec<Matched<K>>,
    lists: &mut usize,
) {
    let wild_ok = !(dollar && depth == 0);
    if wild_ok {
        // `#` matches the parent level too: "a/#" matches "a" [MQTT-4.7.1-2].
        if let Some(hash) = node.child_mut("#") {
            collect(hash, online, out, lists);
        }
    }
    let Some(level) = levels.get(depth) else {
        collect(node, online, out, lists);
        return;
    };
    if wild_ok {
        if let Some(plus) = node.child_mut("+") {
            visit(plus, levels, depth + 1, dollar, online, out, lists);
        }
    }
    if *level != "+" && *level != "#" {
        if let Some(child) = node.child_mut(level) {
            visit(child, levels, depth + 1, dollar, online, out, lists);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{topic, QoS};

    fn sub(c: &'static str) -> Subscriber<&'static str> {
        Subscriber {
            client: c,
            options: SubscriptionOptions {
                qos: QoS::AtLeastOnce,
                ..Default::default()
            },
            sub_id: None,
        }
    }

    fn clients(t: &mut Trie<&'static str>, topic: &str) -> Vec<String> {
        let mut out = vec![];
        t.matches(topic, &|_| true, &mut out);
        let mut v: Vec<String> = out.into_iter().map(|m| m.client.to_string()).collect();
        v.sort();
        v
    }

    #[test]
    fn agrees_with_topic_matches() {
        let filters = [
            "#", "+", "a/#", "a/+", "a/b", "+/b", "a/+/c", "$SYS/#", "+/+", "/+", "a/b/#", "$SYS/+",
        ];
        let topics = [
            "a", "a/b", "a/b/c", "b", "/x", "$SYS/x", "$SYS", "a/x/c", "x/b", "a/",
        ];
        let mut t = Trie::default();
        for f in filters {
            t.insert(f, None, sub(f));
        }
        for topic_name in topics {
            let mut want: Vec<String> = filters
                .iter()
                .filter(|f| topic::matches(f, topic_name))
                .map(|f| f.to_string())
                .collect();
            want.sort();
            assert_eq!(clients(&mut t, topic_name), want, "topic {topic_name}");
        }
    }

    #[test]
    fn replace_and_remove() {
        let mut t = Trie::default();
        assert!(!t.insert("a/+", None, sub("c1")));
        assert!(t.insert("a/+", None, sub("c1")));
        assert_eq!(t.len(), 1);
        assert!(t.remove("a/+", None, "c1"));
        assert!(!t.remove("a/+", None, "c1"));
        assert!(t.is_empty());
        assert!(t.root.is_empty(), "empty nodes are pruned");
    }

    #[test]
    fn shared_round_robin_prefers_online() {
        let mut t = Trie::default();
        for c in ["s1", "s2", "s3"] {
            t.insert("job/+", Some("g"), sub(c));
        }
        t.insert("job/+", None, sub("plain"));
        let mut picks = vec![];
        for _ in 0..6 {
            let mut out = vec![];
            t.matches("job/1", &|c| c != "s2", &mut out);
            assert_eq!(out.iter().filter(|m| !m.shared).count(), 1);
            let shared: Vec<_> = out.iter().filter(|m| m.shared).collect();
            assert_eq!(shared.len(), 1, "one member per group");
            picks.push(shared[0].client.to_string());
        }
        assert_eq!(picks, ["s1", "s3", "s1", "s3", "s1", "s3"]);
    }
}
