//! Slow consumers: sessions ranked by queue fill and drop rate, with what was dropped
//! for them and why; from whatever rows the snapshot carries (a paging source adds
//! the slowest consumers to its page).

use midge_model::{DropInfo, Snapshot};

use super::rates::ClientRates;

/// One ranked session.
#[derive(Debug, Clone, PartialEq)]
pub struct SlowRow<'a> {
    pub client_id: &'a str,
    pub online: bool,
    pub queued: u32,
    pub capacity: u32,
    /// Queue fill in 0..=1.
    pub fill: f64,
    pub dropped: u64,
    pub drop_rate: Option<f64>,
    /// Its drops, most frequent first.
    pub drops: Vec<&'a DropInfo>,
}

/// Sessions with a non-empty queue or any drop, worst first.
#[must_use]
pub fn rank<'a>(snapshot: &'a Snapshot, rates: &ClientRates) -> Vec<SlowRow<'a>> {
    let Some(conns) = &snapshot.connections else {
        return Vec::new();
    };
    let all_drops: &[DropInfo] = snapshot.drops.as_deref().unwrap_or(&[]);
    // A paging source sends its page and then other rows; a client is ranked once.
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<SlowRow<'a>> = conns
        .iter()
        .filter(|c| {
            c.queued > 0 || c.dropped > 0 || all_drops.iter().any(|d| d.client_id == c.client_id)
        })
        .filter(|c| seen.insert(c.client_id.as_str()))
        .map(|c| {
            let mut drops: Vec<&DropInfo> = all_drops
                .iter()
                .filter(|d| d.client_id == c.client_id)
                .collect();
            drops.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.topic.cmp(&b.topic)));
            SlowRow {
                client_id: &c.client_id,
                online: c.online,
                queued: c.queued,
                capacity: c.queue_capacity,
                fill: if c.queue_capacity == 0 {
                    0.0
                } else {
                    (f64::from(c.queued) / f64::from(c.queue_capacity)).min(1.0)
                },
                dropped: c.dropped,
                drop_rate: rates.drop_rate(&c.client_id),
                drops,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.fill
            .total_cmp(&a.fill)
            .then_with(|| {
                b.drop_rate
                    .unwrap_or(0.0)
                    .total_cmp(&a.drop_rate.unwrap_or(0.0))
            })
            .then_with(|| b.dropped.cmp(&a.dropped))
            .then_with(|| a.client_id.cmp(b.client_id))
    });
    out
}
