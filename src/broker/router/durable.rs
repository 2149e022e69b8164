//! The router's side of durability: session records written when a persistent session
//! starts, changes its subscriptions, goes offline or ends, and the state rebuilt from
//! the store at start-up.

use super::Subscriptions;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::broker::clock;
use crate::broker::message::{ClientId, Delivery};
use crate::broker::persist::{self, QueueState, SessionRecord};
use crate::broker::session::{OutState, Session};
use crate::broker::stats::{ClientInfo, ClientStats};
use crate::broker::trie::Subscriber;
use crate::protocol::{topic, ByteStr, ProtocolVersion};
use crate::storage::{Keyspace, Op, Store};

use super::{ClientEntry, Router};

/// Why the state could not be rebuilt from the store.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// A stored record: which kind, and what is wrong with it.
    #[error("{what}: {source}")]
    Record {
        what: &'static str,
        source: persist::RecordError,
    },
    #[error(transparent)]
    Store(#[from] crate::storage::Error),
}

impl Router {
    /// Write `client`'s session record (persistent sessions only).
    pub(super) fn store_session(&self, client: &ClientId) {
        let (Some(store), Some(e)) = (&self.store, self.clients.by_id(client)) else {
            return;
        };
        if e.session_expiry == 0 {
            return;
        }
        let record = SessionRecord {
            session_expiry: e.session_expiry,
            disconnected_at_ms: if e.online.is_some() {
                0
            } else {
                persist::unix_ms_now()
            },
            subscriptions: e
                .subscriptions
                .iter()
                .map(|(f, (o, id))| (f.to_string(), *o, *id))
                .collect(),
            will: e.will.as_deref().map(|(at, w)| {
                let now = clock::now();
                let fire =
                    persist::unix_ms_now() + at.saturating_duration_since(now).as_millis() as u64;
                let msg = crate::broker::message::Message::from_will((**w).clone());
                (fire, persist::will_bytes(&msg))
            }),
        };
        let key = client.as_bytes().to_vec();
        store.submit(
            vec![Op::Put {
                ks: Keyspace::Sessions,
                key,
                value: persist::session_value(&record),
            }],
            None,
        );
    }

    /// Delete everything stored for a session that ended.
    pub(super) fn forget_session(&self, client: &str, session: Option<&Session>) {
        let Some(store) = &self.store else { return };
        let mut ops = vec![Op::Delete {
            ks: Keyspace::Sessions,
            key: client.as_bytes().to_vec(),
        }];
        if let Some(s) = session {
            let seqs = s
                .inflight()
                .filter_map(|f| f.delivery.seq)
                .chain(s.queue().filter_map(|d| d.seq));
            ops.extend(seqs.map(|seq| Op::Delete {
                ks: Keyspace::Queues,
                key: persist::queue_key(client, seq),
            }));
            ops.extend(s.inbound().iter().map(|i| Op::Delete {
                ks: Keyspace::Inbound,
                key: persist::inbound_key(client, i.pid.get()),
            }));
        }
        store.submit(ops, None);
    }

    /// Rebuild retained messages and offline sessions from the store. Time spent down
    /// counts against session and message expiry.
    pub fn restore(&mut self, store: &Store) -> Result<RestoreCounts, RestoreError> {
        let mut counts = RestoreCounts::default();
        let now = clock::now();
        let now_ms = persist::unix_ms_now();
        let bad = |what: &'static str, source: persist::RecordError| RestoreError::Record {
            what,
            source,
        };
        for (_, v) in store.load(Keyspace::Retained)? {
            let msg = persist::decode_retained(&v).map_err(|e| bad("retained message", e))?;
            if !msg.is_expired(now) {
                self.retained.set(Arc::new(msg));
                counts.retained += 1;
            }
        }
        let mut queues: HashMap<String, Vec<(u64, persist::QueueRecord)>> = HashMap::new();
        for (k, v) in store.load(Keyspace::Queues)? {
            let Some((client, seq)) = persist::split_queue_key(&k) else {
                return Err(bad(
                    "queued message",
                    persist::RecordError::Bad("queue key"),
                ));
            };
            let r = persist::decode_queue(&v).map_err(|e| bad("queued message", e))?;
            queues.entry(client.to_owned()).or_default().push((seq, r));
        }
        let mut inbound: HashMap<String, Vec<std::num::NonZeroU16>> = HashMap::new();
        for (k, _) in store.load(Keyspace::Inbound)? {
            if let Some((client, pid)) = persist::split_inbound_key(&k) {
                inbound.entry(client.to_owned()).or_default().push(pid);
            }
        }
        let mut stale = Vec::new();
        let sessions = store.load(Keyspace::Sessions)?;
        // Sized once: growing a table of millions doubles it several times over.
        self.clients.reserve(sessions.len());
        for (k, v) in sessions {
            let client = String::from_utf8(k)
                .map_err(|_| bad("session", persist::RecordError::Bad("session key")))?;
            let r = persist::decode_session(&v).map_err(|e| bad("session", e))?;
            let went_down = if r.disconnected_at_ms == 0 {
                now_ms
            } else {
                r.disconnected_at_ms
            };
            let elapsed = Duration::from_millis(now_ms.saturating_sub(went_down));
            let left = u64::from(r.session_expiry).saturating_sub(elapsed.as_secs());
            let mut queue = queues.remove(&client).unwrap_or_default();
            if r.session_expiry != u32::MAX && left == 0 {
                inbound.remove(&client);
                stale.push((client, queue));
                continue;
            }
            queue.sort_by_key(|(seq, _)| *seq);
            let id: ClientId = Arc::from(client.as_str());
            // The index first: the trie's leaves name it.
            let (ix, _) = self.clients.take(&id);
            let next_seq = queue.last().map_or(0, |(s, _)| s + 1);
            let mut session = Session::new(
                id.clone(),
                self.options.max_queued,
                self.options.max_inflight,
            );
            for (seq, rec) in queue {
                let d = Delivery {
                    msg: Arc::new(rec.msg),
                    qos: rec.qos,
                    retain: rec.retain,
                    sub_ids: rec.sub_ids,
                    seq: Some(seq),
                };
                match rec.state {
                    QueueState::Queued => session.restore_queued(d),
                    QueueState::Released(pid) => {
                        session.restore_inflight(pid, d, OutState::AwaitPubComp, now)
                    }
                }
                counts.messages += 1;
            }
            for pid in inbound.remove(&client).unwrap_or_default() {
                session.on_inbound_qos2(pid, &ByteStr::new(), now);
            }
            let mut subscriptions = Subscriptions::default();
            for (filter, options, sub_id) in r.subscriptions {
                let f = ByteStr::from(filter.as_str());
                let (group, plain) = match topic::parse_shared(&filter) {
                    Ok(Some(sf)) => (Some(sf.group), sf.filter),
                    _ => (None, filter.as_str()),
                };
                self.trie.insert(
                    plain,
                    group,
                    Subscriber {
                        client: ix,
                        options,
                        sub_id: sub_id.and_then(std::num::NonZeroU32::new),
                    },
                );
                subscriptions.insert(f, (options, sub_id));
            }
            let will = match r.will {
                Some((at, bytes)) => {
                    let msg = persist::will_from_bytes(&bytes).map_err(|e| bad("will", e))?;
                    let fire = now + Duration::from_millis(at.saturating_sub(now_ms));
                    Some(Box::new((fire, Box::new(will_of(msg)))))
                }
                None => None,
            };
            let stats = ClientStats::new(ClientInfo {
                client_id: id.clone(),
                address: String::new(),
                protocol: ProtocolVersion::V3_1_1,
                username: None,
                tls: false,
                keep_alive: 0,
                connected_since: SystemTime::now() - elapsed,
                clean_start: false,
                internal: false,
                bridge: false,
            });
            let expires_at =
                (r.session_expiry != u32::MAX).then(|| now + Duration::from_secs(left));
            stats.queued_offline.store(
                session.queued() as u32,
                std::sync::atomic::Ordering::Relaxed,
            );
            if session.inflight_len() > 0 {
                self.inflight_offline.insert(id.clone());
            }
            self.clients.put(
                ix,
                Box::new(ClientEntry {
                    online: None,
                    session: Some(Box::new(session)),
                    subscriptions,
                    session_expiry: r.session_expiry,
                    expires_at,
                    will,
                    pending: None,
                    limbo: Vec::new(),
                    next_seq,
                    generation: 0,
                    stats,
                }),
            );
            self.timed.insert(id);
            counts.sessions += 1;
        }
        // Queues whose session record is gone (ended while the delete was in flight).
        for (client, q) in queues {
            let ops = q.into_iter().map(|(seq, _)| Op::Delete {
                ks: Keyspace::Queues,
                key: persist::queue_key(&client, seq),
            });
            store.submit(ops.collect(), None);
        }
        for (client, q) in stale {
            let mut ops: Vec<Op> = q
                .into_iter()
                .map(|(seq, _)| Op::Delete {
                    ks: Keyspace::Queues,
                    key: persist::queue_key(&client, seq),
                })
                .collect();
            ops.push(Op::Delete {
                ks: Keyspace::Sessions,
                key: client.into_bytes(),
            });
            store.submit(ops, None);
        }
        Ok(counts)
    }
}

/// A stored will back as a `LastWill` for the router's will timer.
fn will_of(msg: crate::broker::message::Message) -> crate::protocol::LastWill {
    let mut properties = msg.properties.into_inner();
    if let Some(t) = msg.expires_at {
        properties.message_expiry_interval =
            Some(t.saturating_duration_since(clock::now()).as_secs() as u32);
    }
    crate::protocol::LastWill {
        topic: msg.topic,
        payload: msg.payload,
        qos: msg.qos,
        retain: msg.retain,
        properties: properties.into(),
    }
}

/// What `restore` brought back.
#[derive(Clone, Copy, Debug, Default)]
pub struct RestoreCounts {
    pub retained: usize,
    pub sessions: usize,
    pub messages: usize,
}
