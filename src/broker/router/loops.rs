//! The bridge loop guard: which messages this broker has already seen, by their
//! [`Origin`]. A message that comes back to the broker that first accepted it, or reaches
//! a broker a second time by another bridge path, is not routed again. One window of
//! recent sequence numbers per origin broker, a bounded number of brokers.

use std::collections::HashMap;

use crate::broker::message::Origin;

/// Sequence numbers remembered per origin broker: a message later than this many
/// behind the newest seen from its broker is taken as new (a backlog that long after a
/// duplicate path is rare; delivering twice is safer than losing it).
const WINDOW: u64 = 1 << 16;
const WORDS: usize = (WINDOW / 64) as usize;
/// Origin brokers remembered at most; the least recently heard is forgotten first.
const BROKERS: usize = 256;

pub struct LoopGuard {
    own: u64,
    seen: HashMap<u64, Window>,
    /// Bumped on each message; orders brokers by when they were last heard.
    tick: u64,
}

struct Window {
    newest: u64,
    bits: Box<[u64; WORDS]>,
    heard: u64,
}

impl Window {
    fn bit(seq: u64) -> (usize, u64) {
        let i = seq % WINDOW;
        ((i / 64) as usize, 1 << (i % 64))
    }

    /// Marks `seq`; `false` if it was marked already.
    fn first_sight(&mut self, seq: u64) -> bool {
        if seq > self.newest {
            if seq - self.newest >= WINDOW {
                self.bits.fill(0);
            } else {
                // Including `seq`'s own slot, which held `seq - WINDOW`.
                for s in self.newest + 1..=seq {
                    let (w, b) = Self::bit(s);
                    self.bits[w] &= !b;
                }
            }
            self.newest = seq;
        } else if self.newest - seq >= WINDOW {
            return true;
        }
        let (w, b) = Self::bit(seq);
        let new = self.bits[w] & b == 0;
        self.bits[w] |= b;
        new
    }
}

impl LoopGuard {
    pub fn new(own: u64) -> Self {
        Self {
            own,
            seen: HashMap::new(),
            tick: 0,
        }
    }

    /// Whether a message with this origin should be routed: not when it started here
    /// (it went round a loop) and not when it was seen before (a second path).
    pub fn first_sight(&mut self, o: Origin) -> bool {
        if o.broker == self.own {
            return false;
        }
        self.tick += 1;
        if !self.seen.contains_key(&o.broker) && self.seen.len() >= BROKERS {
            if let Some(oldest) = self
                .seen
                .iter()
                .min_by_key(|(_, w)| w.heard)
                .map(|(k, _)| *k)
            {
                self.seen.remove(&oldest);
            }
        }
        let w = self.seen.entry(o.broker).or_insert_with(|| Window {
            newest: 0,
            bits: Box::new([0; WORDS]),
            heard: 0,
        });
        w.heard = self.tick;
        w.first_sight(o.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(broker: u64, seq: u64) -> Origin {
        Origin { broker, seq }
    }

    #[test]
    fn own_messages_never_come_back() {
        let mut g = LoopGuard::new(7);
        assert!(!g.first_sight(o(7, 1)));
        assert!(g.first_sight(o(8, 1)));
    }

    #[test]
    fn a_second_path_is_dropped_in_any_order() {
        let mut g = LoopGuard::new(1);
        for seq in [5, 3, 9, 4] {
            assert!(g.first_sight(o(2, seq)), "{seq} is new");
        }
        for seq in [3, 4, 5, 9] {
            assert!(!g.first_sight(o(2, seq)), "{seq} seen");
        }
        assert!(g.first_sight(o(2, 6)));
        // Another broker's numbers are its own.
        assert!(g.first_sight(o(3, 5)));
    }

    #[test]
    fn the_window_slides_and_forgets() {
        let mut g = LoopGuard::new(1);
        assert!(g.first_sight(o(2, 10)));
        assert!(g.first_sight(o(2, 10 + WINDOW)));
        // Bits reused by the slide were cleared: 10 + WINDOW's slot was 10's.
        assert!(!g.first_sight(o(2, 10 + WINDOW)));
        assert!(g.first_sight(o(2, 11 + WINDOW)));
        // Too old to know: taken as new rather than lost.
        assert!(g.first_sight(o(2, 5)));
    }

    #[test]
    fn brokers_are_bounded() {
        let mut g = LoopGuard::new(0);
        for b in 1..=(BROKERS as u64 + 10) {
            assert!(g.first_sight(o(b, 1)));
        }
        assert_eq!(g.seen.len(), BROKERS);
        // The first ones were forgotten; the latest still known.
        assert!(!g.first_sight(o(BROKERS as u64 + 10, 1)));
    }
}
