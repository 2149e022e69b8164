//! The router's client table: every session's entry in a slab, addressed by a small
//! copyable [`ClientIx`]. The trie's leaves and the per-delivery path hold indices (no
//! hashing, no string compare, no reference count per delivery); the one map from
//! client identifier to index is used only where a client is named: CONNECT, a
//! session's end, the client tasks' SUBSCRIBE/UNSUBSCRIBE/DISCONNECT and observers.

use std::collections::HashMap;

use crate::broker::message::ClientId;

use super::ClientEntry;

/// A client's place in the table. The generation tells a reused slot from the entry an
/// index was taken for: a stale index finds nothing rather than another client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientIx {
    slot: u32,
    generation: u32,
}

#[derive(Default)]
pub(super) struct Table {
    /// `None` while free, and while `connect` rebuilds the entry (the index is kept).
    /// An entry carries its own generation (in `ClientEntry`'s padding): 8 bytes a slot.
    slots: Vec<Option<Box<ClientEntry>>>,
    /// Free slots with the generation their next entry gets, reused last-freed first.
    free: Vec<ClientIx>,
    /// Client identifier → index: SipHash, as client identifiers come off the network.
    by_id: HashMap<ClientId, ClientIx>,
}

impl Table {
    /// Sessions in the table (entries being rebuilt included).
    pub(super) fn len(&self) -> usize {
        self.by_id.len()
    }

    pub(super) fn reserve(&mut self, n: usize) {
        self.by_id.reserve(n);
        self.slots.reserve(n.saturating_sub(self.free.len()));
    }

    /// The index of the session named `id`.
    pub(super) fn ix(&self, id: &str) -> Option<ClientIx> {
        self.by_id.get(id).copied()
    }

    pub(super) fn get(&self, ix: ClientIx) -> Option<&ClientEntry> {
        let e = self.slots.get(ix.slot as usize)?.as_deref()?;
        (e.generation == ix.generation).then_some(e)
    }

    pub(super) fn get_mut(&mut self, ix: ClientIx) -> Option<&mut ClientEntry> {
        let e = self.slots.get_mut(ix.slot as usize)?.as_deref_mut()?;
        (e.generation == ix.generation).then_some(e)
    }

    /// The entry of the session named `id`.
    pub(super) fn by_id(&self, id: &str) -> Option<&ClientEntry> {
        self.get(self.ix(id)?)
    }

    pub(super) fn by_id_mut(&mut self, id: &str) -> Option<&mut ClientEntry> {
        self.get_mut(self.ix(id)?)
    }

    /// `id`'s index with its entry taken out (`None` for a new session), to be put back
    /// with [`Table::put`]. The index stays `id`'s, so the trie's leaves stay valid for a
    /// resumed session; meanwhile lookups find nothing, as for a session that is gone.
    pub(super) fn take(&mut self, id: &ClientId) -> (ClientIx, Option<Box<ClientEntry>>) {
        if let Some(ix) = self.ix(id) {
            let entry = self.slots.get_mut(ix.slot as usize).and_then(Option::take);
            return (ix, entry);
        }
        let ix = self.free.pop().unwrap_or_else(|| {
            let slot = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
            self.slots.push(None);
            ClientIx {
                slot,
                generation: 0,
            }
        });
        self.by_id.insert(id.clone(), ix);
        (ix, None)
    }

    /// Put `entry` (of the client `take` was given) at the index [`Table::take`] gave.
    pub(super) fn put(&mut self, ix: ClientIx, mut entry: Box<ClientEntry>) {
        if let Some(s) = self.slots.get_mut(ix.slot as usize) {
            entry.generation = ix.generation;
            *s = Some(entry);
        }
    }

    /// End `id`'s session: its index is never valid again (its slot gets a new
    /// generation when reused).
    pub(super) fn remove(&mut self, id: &str) -> Option<(ClientIx, Box<ClientEntry>)> {
        let ix = self.by_id.remove(id)?;
        let entry = self.slots.get_mut(ix.slot as usize).and_then(Option::take);
        self.free.push(ClientIx {
            slot: ix.slot,
            generation: ix.generation.wrapping_add(1),
        });
        entry.map(|e| (ix, e))
    }

    /// Every entry with its index, in no particular order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (ClientIx, &ClientEntry)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            let e = s.as_deref()?;
            let ix = ClientIx {
                slot: i as u32,
                generation: e.generation,
            };
            Some((ix, e))
        })
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &ClientEntry> {
        self.iter().map(|(_, e)| e)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::broker::stats::{ClientInfo, ClientStats};

    fn entry(id: &ClientId) -> Box<ClientEntry> {
        Box::new(ClientEntry {
            online: None,
            session: None,
            subscriptions: Default::default(),
            session_expiry: 0,
            expires_at: None,
            will: None,
            pending: None,
            limbo: Vec::new(),
            next_seq: 0,
            generation: 0,
            stats: ClientStats::new(ClientInfo {
                client_id: id.clone(),
                address: String::new(),
                protocol: crate::protocol::ProtocolVersion::V5,
                username: None,
                tls: false,
                keep_alive: 0,
                connected_since: std::time::SystemTime::now(),
                clean_start: true,
                internal: false,
                bridge: false,
            }),
        })
    }

    #[test]
    fn an_index_outlives_a_rebuild_but_not_its_session() {
        let mut t = Table::default();
        let (a, b): (ClientId, ClientId) = (Arc::from("a"), Arc::from("b"));
        let (ia, none) = t.take(&a);
        assert!(none.is_none());
        t.put(ia, entry(&a));
        assert_eq!(t.by_id("a").map(|e| e.id().to_string()), Some("a".into()));

        // A reconnect takes the entry out and puts a new one back at the same index.
        let (again, old) = t.take(&a);
        assert_eq!(again, ia);
        assert!(old.is_some());
        assert!(t.get(ia).is_none(), "nothing to find while rebuilt");
        t.put(ia, entry(&a));
        assert!(t.get(ia).is_some());

        // An ended session's index finds nothing, even once its slot is reused.
        let (gone, _) = t.remove("a").expect("a's session");
        assert_eq!(gone, ia);
        let (ib, _) = t.take(&b);
        t.put(ib, entry(&b));
        assert_ne!(ib, ia);
        assert!(t.get(ia).is_none());
        assert_eq!(t.get(ib).map(|e| e.id().to_string()), Some("b".into()));
        assert_eq!(t.len(), 1);
        assert_eq!(t.iter().map(|(ix, _)| ix).collect::<Vec<_>>(), [ib]);
    }

    /// What a subscription costs in a trie leaf (memory per idle connection).
    #[test]
    fn a_subscriber_is_small() {
        use crate::broker::trie::Subscriber;
        assert!(std::mem::size_of::<Subscriber<ClientIx>>() <= 16);
    }
}
