//! A ring buffer bounded by entry count and by a byte budget, which remembers that it
//! dropped something (the "truncated" mark shown on screen).

use std::collections::VecDeque;

/// Something whose memory weight the ring can count.
pub trait Weigh {
    /// Approximate heap bytes held by this value.
    fn weight(&self) -> usize;
}

/// A bounded FIFO: pushing past `max_len` entries or `max_bytes` drops the oldest.
#[derive(Debug, Clone)]
pub struct Ring<T> {
    items: VecDeque<T>,
    max_len: usize,
    max_bytes: usize,
    bytes: usize,
    dropped: u64,
}

impl<T: Weigh> Ring<T> {
    #[must_use]
    pub fn new(max_len: usize, max_bytes: usize) -> Self {
        Self {
            items: VecDeque::new(),
            max_len: max_len.max(1),
            max_bytes,
            bytes: 0,
            dropped: 0,
        }
    }

    /// Appends `item`, evicting the oldest entries until both bounds hold again
    /// (the newest entry is always kept, even alone over the byte budget).
    pub fn push(&mut self, item: T) {
        self.bytes += item.weight();
        self.items.push_back(item);
        while self.items.len() > self.max_len
            || (self.bytes > self.max_bytes && self.items.len() > 1)
        {
            if let Some(old) = self.items.pop_front() {
                self.bytes = self.bytes.saturating_sub(old.weight());
                self.dropped += 1;
            }
        }
    }

    pub fn clear(&mut self) {
        self.items.clear();
        self.bytes = 0;
        self.dropped = 0;
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.items.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Bytes held now.
    #[must_use]
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    #[must_use]
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    #[must_use]
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Entries evicted since the last clear.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// True once anything was evicted: older entries are gone.
    #[must_use]
    pub fn truncated(&self) -> bool {
        self.dropped > 0
    }

    /// Oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> + ExactSizeIterator {
        self.items.iter()
    }

    #[must_use]
    pub fn get(&self, i: usize) -> Option<&T> {
        self.items.get(i)
    }

    #[must_use]
    pub fn back(&self) -> Option<&T> {
        self.items.back()
    }
}

impl Weigh for midge_model::Message {
    fn weight(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.topic.len()
            + self.payload.len()
            + self.content_type.as_ref().map_or(0, String::len)
            + self.response_topic.as_ref().map_or(0, String::len)
            + self
                .user_properties
                .iter()
                .map(|(k, v)| k.len() + v.len() + 48)
                .sum::<usize>()
    }
}

impl Weigh for midge_model::LogLine {
    fn weight(&self) -> usize {
        std::mem::size_of::<Self>() + self.target.len() + self.message.len()
    }
}

impl Weigh for midge_model::TraceLine {
    fn weight(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.client_id.len()
            + self.packet.len()
            + self.detail.len()
            + self.reason.as_ref().map_or(0, String::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Weigh for u64 {
        fn weight(&self) -> usize {
            8
        }
    }

    #[test]
    fn evicts_oldest_by_count_and_bytes() {
        let mut r = Ring::new(3, 1000);
        for i in 0..5u64 {
            r.push(i);
        }
        assert_eq!(r.iter().copied().collect::<Vec<_>>(), vec![2, 3, 4]);
        assert!(r.truncated());
        let mut r = Ring::new(100, 16);
        for i in 0..5u64 {
            r.push(i);
        }
        assert_eq!(r.len(), 2);
        assert_eq!(r.bytes(), 16);
    }
}
