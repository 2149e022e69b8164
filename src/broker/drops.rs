//! Which messages were dropped for whom and why: a bounded aggregate for the dashboard's
//! slow-consumer view. Only touched on the drop path.

use std::collections::HashMap;
use std::time::Instant;

use super::message::ClientId;
use super::session::DropReason;

/// Distinct (client, topic, reason) rows kept; the oldest row goes first.
const MAX_ROWS: usize = 1024;

#[derive(Clone, Debug)]
pub struct DropStat {
    pub count: u64,
    pub last: Instant,
}

#[derive(Debug, Default)]
pub struct DropLog {
    rows: HashMap<(ClientId, String, DropReason), DropStat>,
}

impl DropLog {
    pub fn record(&mut self, client: &ClientId, topic: &str, reason: DropReason) {
        let now = Instant::now();
        if let Some(stat) = self
            .rows
            .get_mut(&(client.clone(), topic.to_owned(), reason))
        {
            stat.count += 1;
            stat.last = now;
            return;
        }
        if self.rows.len() >= MAX_ROWS {
            if let Some(oldest) = self
                .rows
                .iter()
                .min_by_key(|(_, s)| s.last)
                .map(|(k, _)| k.clone())
            {
                self.rows.remove(&oldest);
            }
        }
        self.rows.insert(
            (client.clone(), topic.to_owned(), reason),
            DropStat {
                count: 1,
                last: now,
            },
        );
    }

    pub fn iter(&self) -> impl Iterator<Item = (&(ClientId, String, DropReason), &DropStat)> {
        self.rows.iter()
    }
}
