//! Topic ids (MQTT-SN 1.2 §3.2, §6.6–6.7), sans-IO: the gateway's predefined ids and one
//! client's table of registered ids, and how a topic name is sent to a client (predefined
//! id, registered id, short name, or REGISTER first).

use std::collections::HashMap;

use crate::broker::links::TopicIdKind;
use crate::config::PredefinedTopic;

/// Predefined topic ids: those of every client, and per-client ones that override them.
#[derive(Debug, Default)]
pub struct Predefined {
    all: HashMap<u16, String>,
    per_client: HashMap<String, HashMap<u16, String>>,
}

impl Predefined {
    pub fn new(rows: &[PredefinedTopic]) -> Self {
        let mut p = Predefined::default();
        for r in rows {
            let map = match &r.client_id {
                None => &mut p.all,
                Some(c) => p.per_client.entry(c.clone()).or_default(),
            };
            map.insert(r.id, r.topic.clone());
        }
        p
    }

    /// The topic of predefined `id` for `client_id` (`None`: the all-clients ids only).
    pub fn topic(&self, client_id: Option<&str>, id: u16) -> Option<&str> {
        client_id
            .and_then(|c| self.per_client.get(c))
            .and_then(|m| m.get(&id))
            .or_else(|| self.all.get(&id))
            .map(String::as_str)
    }

    /// The ids `client_id` may use: (id, topic), its own first.
    pub fn for_client(&self, client_id: &str) -> HashMap<u16, String> {
        let mut m = self.all.clone();
        if let Some(own) = self.per_client.get(client_id) {
            m.extend(own.iter().map(|(k, v)| (*k, v.clone())));
        }
        m
    }
}

/// How a topic name goes to a client in a PUBLISH.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outgoing {
    Predefined(u16),
    Normal(u16),
    Short(u16),
    /// No id yet: REGISTER first.
    Register,
}

/// The largest number of ids one client may register (REGISTER beyond it: congestion).
pub const MAX_REGISTERED: usize = 4096;

/// One client's topic ids.
#[derive(Debug, Default, Clone)]
pub struct TopicTable {
    by_id: HashMap<u16, String>,
    by_name: HashMap<String, u16>,
    predefined: HashMap<u16, String>,
    predefined_by_name: HashMap<String, u16>,
    next: u16,
}

impl TopicTable {
    pub fn new(predefined: HashMap<u16, String>) -> Self {
        let predefined_by_name = predefined.iter().map(|(k, v)| (v.clone(), *k)).collect();
        TopicTable {
            predefined,
            predefined_by_name,
            ..TopicTable::default()
        }
    }

    /// The id of `name`, registering it if new; `None` when the table is full.
    pub fn register(&mut self, name: &str) -> Option<u16> {
        if let Some(&id) = self.by_name.get(name) {
            return Some(id);
        }
        if self.by_id.len() >= MAX_REGISTERED {
            return None;
        }
        // Ids 0x0000 and 0xFFFF are reserved (§5.3.11).
        loop {
            self.next = self.next.wrapping_add(1);
            if self.next != 0 && self.next != 0xFFFF && !self.by_id.contains_key(&self.next) {
                break;
            }
        }
        self.by_id.insert(self.next, name.to_owned());
        self.by_name.insert(name.to_owned(), self.next);
        Some(self.next)
    }

    /// Puts back a registration (restoring a persistent session).
    pub fn restore(&mut self, id: u16, name: String) {
        self.by_name.insert(name.clone(), id);
        self.by_id.insert(id, name);
        self.next = self.next.max(id);
    }

    /// Forgets `name` (the client refused its REGISTER).
    pub fn forget(&mut self, name: &str) {
        if let Some(id) = self.by_name.remove(name) {
            self.by_id.remove(&id);
        }
    }

    pub fn normal(&self, id: u16) -> Option<&str> {
        self.by_id.get(&id).map(String::as_str)
    }

    pub fn predefined(&self, id: u16) -> Option<&str> {
        self.predefined.get(&id).map(String::as_str)
    }

    /// How `topic` is sent: a predefined id wins, then a registered id, then a short
    /// name (exactly two octets, §3.2), else it must be registered.
    pub fn outgoing(&self, topic: &str) -> Outgoing {
        if let Some(&id) = self.predefined_by_name.get(topic) {
            Outgoing::Predefined(id)
        } else if let Some(&id) = self.by_name.get(topic) {
            Outgoing::Normal(id)
        } else if let &[a, b] = topic.as_bytes() {
            Outgoing::Short(u16::from_be_bytes([a, b]))
        } else {
            Outgoing::Register
        }
    }

    /// The registered ids, sorted (persisted and shown on the dashboard).
    pub fn registered(&self) -> Vec<(u16, String)> {
        let mut v: Vec<_> = self.by_id.iter().map(|(k, n)| (*k, n.clone())).collect();
        v.sort_unstable();
        v
    }

    /// Everything for the dashboard: registered and predefined ids.
    pub fn view(&self) -> Vec<(u16, TopicIdKind, String)> {
        let mut v: Vec<_> = self
            .registered()
            .into_iter()
            .map(|(id, n)| (id, TopicIdKind::Normal, n))
            .collect();
        let mut pre: Vec<_> = self
            .predefined
            .iter()
            .map(|(id, n)| (*id, TopicIdKind::Predefined, n.clone()))
            .collect();
        pre.sort_unstable_by_key(|p| p.0);
        v.extend(pre);
        v
    }
}

/// A short topic name from its two octets, if they are UTF-8.
pub fn short_name(id: u16) -> Option<String> {
    String::from_utf8(id.to_be_bytes().to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pre() -> Predefined {
        Predefined::new(&[
            PredefinedTopic {
                client_id: None,
                id: 1,
                topic: "all/one".into(),
            },
            PredefinedTopic {
                client_id: Some("c".into()),
                id: 1,
                topic: "c/one".into(),
            },
            PredefinedTopic {
                client_id: Some("c".into()),
                id: 2,
                topic: "c/two".into(),
            },
        ])
    }

    #[test]
    fn per_client_predefined_ids_override_the_shared_ones() {
        let p = pre();
        assert_eq!(p.topic(None, 1), Some("all/one"));
        assert_eq!(p.topic(Some("c"), 1), Some("c/one"));
        assert_eq!(p.topic(Some("d"), 1), Some("all/one"));
        assert_eq!(p.topic(Some("d"), 2), None);
        assert_eq!(p.for_client("c").len(), 2);
    }

    #[test]
    fn registration_and_outgoing_choice() {
        let mut t = TopicTable::new(pre().for_client("c"));
        assert_eq!(t.outgoing("c/two"), Outgoing::Predefined(2));
        assert_eq!(t.outgoing("ab"), Outgoing::Short(0x6162));
        assert_eq!(t.outgoing("a/b"), Outgoing::Register);
        assert_eq!(t.register("a/b"), Some(1));
        assert_eq!(t.register("a/c"), Some(2));
        assert_eq!(t.register("a/b"), Some(1));
        assert_eq!(t.outgoing("a/b"), Outgoing::Normal(1));
        assert_eq!(t.normal(2), Some("a/c"));
        t.forget("a/b");
        assert_eq!(t.outgoing("a/b"), Outgoing::Register);
        assert_eq!(t.registered(), [(2, "a/c".to_owned())]);
        let mut r = TopicTable::default();
        r.restore(7, "x/y".into());
        assert_eq!(r.register("z"), Some(8));
        assert_eq!(short_name(0x6162).as_deref(), Some("ab"));
    }

    #[test]
    fn the_table_is_bounded() {
        let mut t = TopicTable::default();
        for i in 0..MAX_REGISTERED {
            assert!(t.register(&format!("t/{i}")).is_some());
        }
        assert_eq!(t.register("one/more"), None);
    }
}
