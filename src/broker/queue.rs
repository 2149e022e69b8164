//! The hand-off from the router to one online client: a bounded queue the router pushes
//! to without ever waiting, and the client task drains in batches. Unlike a channel it
//! can be looked into (the dashboard shows its head) and costs nothing while empty.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use tokio::sync::Notify;

use super::message::Delivery;

#[derive(Debug)]
pub struct DeliveryQueue {
    inner: Mutex<Inner>,
    /// Wakes the client task; a notification sent while nobody waits is kept, so a push
    /// between "queue empty" and "wait" is never lost.
    ready: Notify,
    capacity: usize,
}

#[derive(Debug, Default)]
struct Inner {
    items: VecDeque<Delivery>,
    /// The client task has ended: pushes are refused (the router keeps them in limbo).
    closed: bool,
}

/// Why `try_push` refused; the delivery comes back.
#[derive(Debug)]
pub enum PushError {
    Full(Delivery),
    Closed(Delivery),
}

impl DeliveryQueue {
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::default(),
            ready: Notify::new(),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the queue inconsistent (pushes
        // and pops are single VecDeque calls), so a poisoned lock is still usable.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Push without waiting; never blocks the router.
    pub fn try_push(&self, d: Delivery) -> Result<(), PushError> {
        {
            let mut q = self.lock();
            if q.closed {
                return Err(PushError::Closed(d));
            }
            if q.items.len() >= self.capacity {
                return Err(PushError::Full(d));
            }
            q.items.push_back(d);
        }
        self.ready.notify_one();
        Ok(())
    }

    /// Room for one more, or closed (then a push goes to limbo, not counted as a drop).
    pub fn accepts(&self) -> bool {
        let q = self.lock();
        q.closed || q.items.len() < self.capacity
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.lock().items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().items.is_empty()
    }

    /// Move up to `max` deliveries into `out`.
    pub fn pop_into(&self, max: usize, out: &mut VecDeque<Delivery>) {
        let mut q = self.lock();
        let n = max.min(q.items.len());
        out.extend(q.items.drain(..n));
    }

    /// Wait until something may have been pushed.
    pub async fn ready(&self) {
        self.ready.notified().await;
    }

    /// The client task ends: refuse further pushes and return what is left.
    pub fn close(&self) -> VecDeque<Delivery> {
        let mut q = self.lock();
        q.closed = true;
        std::mem::take(&mut q.items)
    }

    /// The first `n` entries, for the dashboard.
    pub fn head<T>(&self, n: usize, f: impl Fn(&Delivery) -> T) -> Vec<T> {
        self.lock().items.iter().take(n).map(f).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::message::Message;
    use crate::protocol::QoS;
    use bytes::Bytes;
    use std::sync::Arc;

    fn d(n: u8) -> Delivery {
        let msg = Arc::new(Message::internal(
            "t",
            Bytes::from(vec![n]),
            QoS::AtLeastOnce,
            false,
        ));
        Delivery {
            msg,
            qos: QoS::AtLeastOnce,
            retain: false,
            sub_ids: vec![],
            seq: None,
        }
    }

    #[tokio::test]
    async fn bounded_ordered_and_closable() {
        let q = DeliveryQueue::new(2);
        q.try_push(d(1)).expect("room");
        q.try_push(d(2)).expect("room");
        assert!(matches!(q.try_push(d(3)), Err(PushError::Full(_))));
        assert!(!q.accepts());
        // A push before anyone waits is not lost.
        q.ready().await;
        let mut out = VecDeque::new();
        q.pop_into(8, &mut out);
        assert_eq!(
            out.iter().map(|x| x.msg.payload[0]).collect::<Vec<_>>(),
            vec![1, 2]
        );
        q.try_push(d(4)).expect("room again");
        assert_eq!(q.head(5, |x| x.msg.payload[0]), vec![4]);
        let left = q.close();
        assert_eq!(left.len(), 1);
        assert!(matches!(q.try_push(d(5)), Err(PushError::Closed(_))));
        assert!(
            q.accepts(),
            "closed: pushes go to limbo, not counted as drops"
        );
    }
}
