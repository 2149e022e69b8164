//! A client's subscriptions as the router keeps them: filter → options. Most clients
//! have a handful, so they live in a vector (a one-entry hash map costs ~150 bytes more
//! per client); past `SMALL` entries a hash map keeps lookups O(1).

use std::collections::HashMap;

use crate::protocol::{ByteStr, SubscriptionOptions};

/// Options and the v5 Subscription Identifier of one subscription.
pub type SubValue = (SubscriptionOptions, Option<u32>);

const SMALL: usize = 16;

#[derive(Debug)]
pub enum Subscriptions {
    Small(Vec<(ByteStr, SubValue)>),
    Large(HashMap<ByteStr, SubValue>),
}

impl Default for Subscriptions {
    fn default() -> Self {
        Subscriptions::Small(Vec::new())
    }
}

impl Subscriptions {
    /// Add or replace; returns the replaced value.
    pub fn insert(&mut self, filter: ByteStr, value: SubValue) -> Option<SubValue> {
        match self {
            Subscriptions::Small(v) => {
                if let Some(slot) = v.iter_mut().find(|(f, _)| *f == filter) {
                    return Some(std::mem::replace(&mut slot.1, value));
                }
                if v.len() < SMALL {
                    v.reserve_exact(1);
                    v.push((filter, value));
                    return None;
                }
                let mut map: HashMap<_, _> = std::mem::take(v).into_iter().collect();
                map.insert(filter, value);
                *self = Subscriptions::Large(map);
                None
            }
            Subscriptions::Large(m) => m.insert(filter, value),
        }
    }

    pub fn remove(&mut self, filter: &str) -> Option<SubValue> {
        match self {
            Subscriptions::Small(v) => {
                let i = v.iter().position(|(f, _)| &**f == filter)?;
                Some(v.swap_remove(i).1)
            }
            Subscriptions::Large(m) => m.remove(filter),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Subscriptions::Small(v) => v.len(),
            Subscriptions::Large(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// In no particular order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&ByteStr, &SubValue)> + '_> {
        match self {
            Subscriptions::Small(v) => Box::new(v.iter().map(|(f, o)| (f, o))),
            Subscriptions::Large(m) => Box::new(m.iter()),
        }
    }

    pub fn keys(&self) -> impl Iterator<Item = &ByteStr> {
        self.iter().map(|(f, _)| f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_then_large_behave_as_a_map() {
        let mut s = Subscriptions::default();
        let o = SubscriptionOptions::default();
        for i in 0..40u32 {
            assert!(s
                .insert(ByteStr::from(format!("t/{i}")), (o, Some(i)))
                .is_none());
            assert_eq!(s.len(), i as usize + 1);
        }
        assert!(matches!(s, Subscriptions::Large(_)));
        assert_eq!(s.insert("t/3".into(), (o, None)), Some((o, Some(3))));
        assert_eq!(s.remove("t/3"), Some((o, None)));
        assert_eq!(s.remove("t/3"), None);
        assert_eq!(s.len(), 39);
        let mut small = Subscriptions::default();
        small.insert("a".into(), (o, None));
        small.insert("b".into(), (o, Some(2)));
        assert_eq!(small.insert("a".into(), (o, Some(1))), Some((o, None)));
        assert_eq!(small.remove("b"), Some((o, Some(2))));
        assert_eq!(
            small.keys().map(|k| k.to_string()).collect::<Vec<_>>(),
            ["a"]
        );
        assert!(!small.is_empty());
    }
}
