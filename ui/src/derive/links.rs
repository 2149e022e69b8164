//! Rates of the bridges' forwarded totals, derived from successive snapshots like the
//! broker's and the clients' rates (a bridge's counters restart with the broker).

use std::collections::HashMap;

use midge_model::Snapshot;

/// Rates span at least this long, to smooth the 250 ms snapshot jitter.
const WINDOW_MS: u64 = 1000;

#[derive(Debug, Clone, Copy)]
struct Sample {
    base_ms: u64,
    base_in: u64,
    base_out: u64,
    rate_in: Option<f64>,
    rate_out: Option<f64>,
}

/// Forwarded messages per second in each direction, per bridge name.
#[derive(Debug, Clone, Default)]
pub struct BridgeRates {
    bridges: HashMap<String, Sample>,
}

impl BridgeRates {
    pub fn update(&mut self, snapshot: &Snapshot) {
        let now = snapshot.taken_at_ms;
        let Some(list) = &snapshot.bridges else {
            self.bridges.clear();
            return;
        };
        let mut next = HashMap::with_capacity(list.len());
        for b in list {
            let fresh = Sample {
                base_ms: now,
                base_in: b.forwarded_in,
                base_out: b.forwarded_out,
                rate_in: None,
                rate_out: None,
            };
            let entry = match self.bridges.remove(&b.name) {
                Some(s)
                    if b.forwarded_in >= s.base_in
                        && b.forwarded_out >= s.base_out
                        && now >= s.base_ms =>
                {
                    if now - s.base_ms >= WINDOW_MS {
                        let per_s = |d: u64| d as f64 * 1000.0 / (now - s.base_ms) as f64;
                        Sample {
                            rate_in: Some(per_s(b.forwarded_in - s.base_in)),
                            rate_out: Some(per_s(b.forwarded_out - s.base_out)),
                            ..fresh
                        }
                    } else {
                        s
                    }
                }
                // New, or its counters went back (a restart): start over.
                _ => fresh,
            };
            next.insert(b.name.clone(), entry);
        }
        self.bridges = next;
    }

    /// (in, out) forwarded messages per second, once two samples a second apart were seen.
    #[must_use]
    pub fn rates(&self, name: &str) -> (Option<f64>, Option<f64>) {
        self.bridges
            .get(name)
            .map_or((None, None), |s| (s.rate_in, s.rate_out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use midge_model::fixtures::linked_series;

    #[test]
    fn rates_from_forwarded_totals() {
        let mut r = BridgeRates::default();
        for s in linked_series(9) {
            r.update(&s);
        }
        // 6 out and 0.5 in per 250 ms step.
        assert_eq!(r.rates("cloud"), (Some(2.0), Some(24.0)));
        assert_eq!(r.rates("plant-b"), (Some(0.0), Some(0.0)));
        assert_eq!(r.rates("nope"), (None, None));
    }
}
