//! Which messages were dropped for whom and why: a bounded aggregate for the dashboard's
//! slow-consumer view. Only touched on the drop path.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Instant;

use crate::protocol::ByteStr;

use super::message::ClientId;
use super::session::DropReason;

/// Distinct (client, topic, reason) rows kept; the oldest row goes first.
const MAX_ROWS: usize = 1024;

#[derive(Clone, Debug)]
pub struct DropStat {
    pub count: u64,
    pub last: Instant,
}

type Key = (ClientId, ByteStr, DropReason);

/// Shared by the router (queue full, ACL) and the client tasks (expired, too large).
/// Recording a known row allocates nothing: ids and topics are shared strings.
#[derive(Debug, Default)]
pub struct DropLog {
    rows: Mutex<HashMap<Key, DropStat>>,
    /// Every drop ever recorded, by reason (the rows forget old ones).
    totals: [AtomicU64; DropReason::ALL.len()],
}

impl DropLog {
    /// Drops since start, for each reason.
    pub fn totals(&self) -> [(DropReason, u64); DropReason::ALL.len()] {
        DropReason::ALL.map(|r| (r, self.totals[r as usize].load(Relaxed)))
    }

    pub fn record(&self, client: &ClientId, topic: &ByteStr, reason: DropReason) {
        self.totals[reason as usize].fetch_add(1, Relaxed);
        let now = Instant::now();
        let mut rows = self
            .rows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (client.clone(), topic.clone(), reason);
        if let Some(stat) = rows.get_mut(&key) {
            stat.count += 1;
            stat.last = now;
            return;
        }
        if rows.len() >= MAX_ROWS {
            if let Some(oldest) = rows
                .iter()
                .min_by_key(|(_, s)| s.last)
                .map(|(k, _)| k.clone())
            {
                rows.remove(&oldest);
            }
        }
        rows.insert(
            key,
            DropStat {
                count: 1,
                last: now,
            },
        );
    }

    /// A copy of every row, for a snapshot.
    pub fn rows(&self) -> Vec<(Key, DropStat)> {
        let rows = self
            .rows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        rows.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn rows_aggregate_by_client_topic_and_reason() {
        let log = DropLog::default();
        let c: ClientId = Arc::from("c");
        let t = ByteStr::from("a/b");
        log.record(&c, &t, DropReason::QueueFull);
        log.record(&c, &t, DropReason::QueueFull);
        log.record(&c, &t, DropReason::TooLarge);
        let mut rows: Vec<_> = log
            .rows()
            .into_iter()
            .map(|((_, _, r), s)| (r as u8, s.count))
            .collect();
        rows.sort_unstable();
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().any(|&(_, n)| n == 2));
        assert!(rows.iter().any(|&(_, n)| n == 1));
    }
}
