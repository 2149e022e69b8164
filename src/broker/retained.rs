//! Retained messages: the last retained message per topic, delivered to new subscribers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use crate::protocol::{topic, ByteStr};

use super::message::Message;

#[derive(Debug, Default)]
pub struct RetainedStore {
    by_topic: HashMap<ByteStr, Arc<Message>>,
}

impl RetainedStore {
    /// Store `msg` as its topic's retained message, or clear the topic when the payload
    /// is empty [MQTT-3.3.1-10], [MQTT-3.3.1-11].
    pub fn set(&mut self, msg: Arc<Message>) {
        if msg.payload.is_empty() {
            self.by_topic.remove(&msg.topic);
        } else {
            self.by_topic.insert(msg.topic.clone(), msg);
        }
    }

    pub fn len(&self) -> usize {
        self.by_topic.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_topic.is_empty()
    }

    /// Retained messages matching `filter`, skipping expired ones [MQTT-3.3.2-5].
    pub fn matching(&self, filter: &str, now: Instant) -> Vec<Arc<Message>> {
        if !filter.contains(['+', '#']) {
            return self
                .by_topic
                .get(filter)
                .filter(|m| !m.is_expired(now))
                .cloned()
                .into_iter()
                .collect();
        }
        let mut v: Vec<Arc<Message>> = self
            .by_topic
            .values()
            .filter(|m| !m.is_expired(now) && topic::matches(filter, &m.topic))
            .cloned()
            .collect();
        v.sort_by(|a, b| a.topic.cmp(&b.topic));
        v
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Message>> {
        self.by_topic.values()
    }
}
