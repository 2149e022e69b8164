//! Arrival order between a SUBSCRIBE and other clients' PUBLISHes. Client tasks run in
//! parallel, so a PUBLISH that arrived after a SUBSCRIBE can still reach the router first.
//! The router keeps the last few messages it routed; a SUBSCRIBE then also gets the ones
//! that arrived after it (by the time its client task read it) and that it would have
//! matched, as a publish routed after it would have delivered them. Costs one pointer per
//! publish and, per SUBSCRIBE, a look at the messages routed since it arrived.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use crate::broker::message::{ClientId, Delivery, Message};
use crate::protocol::topic;

use super::{NewSubscription, Router};

/// Messages kept (at most this many, each at most `MAX_BYTES` of payload, so at most a
/// few MiB stay alive a little longer).
const KEEP: usize = 256;
const MAX_BYTES: usize = 64 * 1024;

/// The last messages the router routed, oldest first.
#[derive(Default)]
pub(super) struct Recent(VecDeque<Arc<Message>>);

impl Recent {
    pub(super) fn push(&mut self, msg: &Arc<Message>) {
        if msg.payload.len() > MAX_BYTES {
            return;
        }
        if self.0.len() == KEEP {
            self.0.pop_front();
        }
        self.0.push_back(msg.clone());
    }
}

impl Router {
    /// Deliveries of the routed messages that arrived after `arrived` and match `subs`
    /// but none of the client's subscriptions from before (`before`): those were
    /// delivered already. `sent` are the retained messages the SUBSCRIBE returns anyway.
    pub(super) fn arrived_after(
        &self,
        ix: super::ClientIx,
        client: &ClientId,
        arrived: Instant,
        subs: &[NewSubscription],
        before: &[crate::protocol::ByteStr],
        sent: &[Delivery],
    ) -> Vec<Delivery> {
        let newer = self
            .recent
            .0
            .iter()
            .rev()
            .take_while(|m| m.received_at > arrived);
        let mut out = Vec::new();
        for msg in newer {
            let covered = |f: &str| match topic::parse_shared(f) {
                Ok(Some(_)) => false, // shared subscriptions deliver to one member only
                _ => topic::matches(f, &msg.topic),
            };
            if before.iter().any(|f| covered(f))
                || sent.iter().any(|d| Arc::ptr_eq(&d.msg, msg))
                || !self.readable(ix, msg)
            {
                continue;
            }
            let mut d: Option<Delivery> = None;
            for s in subs.iter().filter(|s| covered(&s.filter)) {
                // No Local [MQTT-3.8.3-3].
                if s.options.no_local && msg.publisher.as_deref() == Some(&**client) {
                    continue;
                }
                let qos = msg.qos.min(s.options.qos);
                let d = d.get_or_insert_with(|| Delivery {
                    msg: msg.clone(),
                    qos,
                    retain: false,
                    sub_ids: Vec::new(),
                    seq: None,
                });
                d.qos = d.qos.max(qos);
                // Retain As Published [MQTT-3.3.1-12].
                d.retain |= s.options.retain_as_published && msg.retain;
                d.sub_ids.extend(s.sub_id);
            }
            out.extend(d);
        }
        out.reverse();
        out
    }
}
