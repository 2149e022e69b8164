//! Retained messages: the last retained message per topic, delivered to new subscribers.
//!
//! Kept as a tree of topic levels, so a subscription walks only the branches its filter
//! can match: an exact filter follows one path, `+` visits one level's children and `#`
//! one subtree. A wildcard SUBSCRIBE costs what it matches, not what is stored.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use super::message::Message;

/// Up to this many children a node keeps them in a sorted vector (small and without a
/// map's fixed overhead: most topic levels have one or a few children); beyond, a B-tree.
const FEW: usize = 16;

#[derive(Debug, Default)]
pub struct RetainedStore {
    root: Node,
    len: usize,
}

#[derive(Debug, Default)]
struct Node {
    msg: Option<Arc<Message>>,
    children: Children,
}

impl Node {
    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.msg.is_none() && self.children.is_empty()
    }
}

/// Level names up to this many bytes are stored inline.
const INLINE: usize = 22;

/// A level name, ordered by its bytes (as `str` orders). Most levels are short and then
/// cost no allocation of their own: at a million topics, a boxed name per level was
/// the largest part of the tree.
#[derive(Debug)]
enum Level {
    Inline(u8, [u8; INLINE]),
    Boxed(Box<[u8]>),
}

impl Level {
    fn new(name: &str) -> Self {
        let b = name.as_bytes();
        match u8::try_from(b.len()) {
            Ok(n) if b.len() <= INLINE => {
                let mut buf = [0; INLINE];
                buf[..b.len()].copy_from_slice(b);
                Level::Inline(n, buf)
            }
            _ => Level::Boxed(b.into()),
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Level::Inline(n, buf) => &buf[..usize::from(*n)],
            Level::Boxed(b) => b,
        }
    }
}

impl Borrow<[u8]> for Level {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PartialEq for Level {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Level {}

impl PartialOrd for Level {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Level {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

/// A node's children by level name, in level order either way, so walks come out in a
/// stable order without sorting.
#[derive(Debug)]
enum Children {
    Few(Vec<(Level, Node)>),
    /// Boxed: the enum is then no larger than the vector (memory per node).
    #[expect(
        clippy::box_collection,
        reason = "8 bytes less per node; few nodes have a map"
    )]
    Many(Box<BTreeMap<Level, Node>>),
}

/// Position of `level` in a sorted vector of children.
fn find(v: &[(Level, Node)], level: &str) -> Result<usize, usize> {
    v.binary_search_by(|(k, _)| k.as_bytes().cmp(level.as_bytes()))
}

impl Default for Children {
    fn default() -> Self {
        Children::Few(Vec::new())
    }
}

impl Children {
    fn is_empty(&self) -> bool {
        match self {
            Children::Few(v) => v.is_empty(),
            Children::Many(m) => m.is_empty(),
        }
    }

    fn len(&self) -> usize {
        match self {
            Children::Few(v) => v.len(),
            Children::Many(m) => m.len(),
        }
    }

    fn get(&self, level: &str) -> Option<&Node> {
        match self {
            Children::Few(v) => find(v, level).ok().map(|i| &v[i].1),
            Children::Many(m) => m.get(level.as_bytes()),
        }
    }

    fn get_mut(&mut self, level: &str) -> Option<&mut Node> {
        match self {
            Children::Few(v) => match find(v, level) {
                Ok(i) => Some(&mut v[i].1),
                Err(_) => None,
            },
            Children::Many(m) => m.get_mut(level.as_bytes()),
        }
    }

    fn get_or_insert(&mut self, level: &str) -> &mut Node {
        if let Children::Few(v) = self {
            if v.len() >= FEW && find(v, level).is_err() {
                *self = Children::Many(Box::new(std::mem::take(v).into_iter().collect()));
            }
        }
        match self {
            Children::Few(v) => {
                let i = match find(v, level) {
                    Ok(i) => i,
                    Err(i) => {
                        // Grow by one: the vector stays as small as its children.
                        v.reserve_exact(1);
                        v.insert(i, (Level::new(level), Node::default()));
                        i
                    }
                };
                &mut v[i].1
            }
            Children::Many(m) => m.entry(Level::new(level)).or_default(),
        }
    }

    fn remove(&mut self, level: &str) -> Option<Node> {
        match self {
            Children::Few(v) => {
                let i = find(v, level).ok()?;
                let (_, n) = v.remove(i);
                if v.is_empty() {
                    *v = Vec::new();
                }
                Some(n)
            }
            Children::Many(m) => m.remove(level.as_bytes()),
        }
    }

    /// Children in level order, reversed: pushed on a stack, they pop in order.
    fn push_rev<'a>(&'a self, mut f: impl FnMut(&'a [u8], &'a Node)) {
        match self {
            Children::Few(v) => v.iter().rev().for_each(|(k, n)| f(k.as_bytes(), n)),
            Children::Many(m) => m.iter().rev().for_each(|(k, n)| f(k.as_bytes(), n)),
        }
    }
}

/// A step of a match: the rest of the filter from level `.1` at a node, or a whole
/// subtree (`#`).
enum Visit<'a> {
    Match(&'a Node, usize),
    All(&'a Node),
}

impl RetainedStore {
    /// Store `msg` as its topic's retained message, or clear the topic when the payload
    /// is empty [MQTT-3.3.1-10], [MQTT-3.3.1-11].
    pub fn set(&mut self, msg: Arc<Message>) {
        if msg.payload.is_empty() {
            self.remove(&msg.topic);
            return;
        }
        let mut node = &mut self.root;
        for level in msg.topic.split('/') {
            node = node.children.get_or_insert(level);
        }
        if node.msg.replace(msg).is_none() {
            self.len += 1;
        }
    }

    /// Clear `topic`, pruning the branch that held only it.
    fn remove(&mut self, topic: &str) {
        // Find the message, and how many of its levels must stay: up to the deepest node
        // on the path that holds another message or another branch.
        let mut node = &self.root;
        let mut keep = 0;
        for (depth, level) in topic.split('/').enumerate() {
            if node.msg.is_some() || node.children.len() > 1 {
                keep = depth;
            }
            match node.children.get(level) {
                Some(n) => node = n,
                None => return,
            }
        }
        if node.msg.is_none() {
            return;
        }
        self.len -= 1;
        let prune = node.children.is_empty();
        let mut levels = topic.split('/');
        let mut node = &mut self.root;
        if prune {
            for level in levels.by_ref().take(keep) {
                match node.children.get_mut(level) {
                    Some(n) => node = n,
                    None => return,
                }
            }
            if let Some(gone) = levels.next().and_then(|l| node.children.remove(l)) {
                dismantle(gone);
            }
        } else {
            for level in levels {
                match node.children.get_mut(level) {
                    Some(n) => node = n,
                    None => return,
                }
            }
            node.msg = None;
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Retained messages matching `filter` (a valid filter, without `$share/`), in topic
    /// level order, skipping expired ones [MQTT-3.3.2-5].
    pub fn matching(&self, filter: &str, now: Instant) -> Vec<Arc<Message>> {
        let levels: Vec<&str> = filter.split('/').collect();
        let mut out = Vec::new();
        let mut keep = |node: &Node| {
            if let Some(m) = &node.msg {
                if !m.is_expired(now) {
                    out.push(m.clone());
                }
            }
        };
        // Depth-first with an explicit stack: topics may be deeper than the call stack.
        let mut stack = vec![Visit::Match(&self.root, 0)];
        while let Some(visit) = stack.pop() {
            match visit {
                Visit::All(node) => {
                    keep(node);
                    node.children.push_rev(|_, n| stack.push(Visit::All(n)));
                }
                Visit::Match(node, i) => {
                    // Wildcards in the first level don't match topics starting with `$`
                    // [MQTT-4.7.2-1].
                    let visible = |level: &[u8]| i > 0 || !level.starts_with(b"$");
                    match levels.get(i).copied() {
                        None => keep(node),
                        Some("#") => {
                            // `a/#` matches `a` too [MQTT-4.7.1-2].
                            keep(node);
                            node.children.push_rev(|level, n| {
                                if visible(level) {
                                    stack.push(Visit::All(n));
                                }
                            });
                        }
                        Some("+") => node.children.push_rev(|level, n| {
                            if visible(level) {
                                stack.push(Visit::Match(n, i + 1));
                            }
                        }),
                        Some(level) => {
                            if let Some(n) = node.children.get(level) {
                                stack.push(Visit::Match(n, i + 1));
                            }
                        }
                    }
                }
            }
        }
        out
    }

    /// Every retained message, in topic level order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Message>> {
        let mut stack = vec![&self.root];
        std::iter::from_fn(move || {
            while let Some(node) = stack.pop() {
                node.children.push_rev(|_, n| stack.push(n));
                if let Some(m) = &node.msg {
                    return Some(m);
                }
            }
            None
        })
    }
}

impl Drop for RetainedStore {
    fn drop(&mut self) {
        dismantle(std::mem::take(&mut self.root));
    }
}

/// Drop a branch with a stack: the derived drop recurses once per level, and topics may
/// be deeper than the call stack.
fn dismantle(node: Node) {
    let mut stack = vec![node];
    while let Some(mut node) = stack.pop() {
        match std::mem::take(&mut node.children) {
            Children::Few(v) => stack.extend(v.into_iter().map(|(_, n)| n)),
            Children::Many(m) => stack.extend((*m).into_values()),
        }
    }
}

#[cfg(test)]
#[path = "retained_tests.rs"]
mod tests;
