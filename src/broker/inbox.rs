//! A client task's inbox: what other tasks hand one online client. A bounded queue of
//! deliveries the router pushes to without ever waiting and the client drains in
//! batches, plus the few signals others send it (disconnect; PUBRELs whose released state
//! the store made durable). Unlike channels it can be looked into (the dashboard shows
//! its head), costs nothing while empty, and is one small allocation with one wake-up
//! source per connection (memory per idle connection).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use tokio::sync::Notify;

use super::message::Delivery;
use super::park;
use crate::protocol::{PacketId, ReasonCode};

#[derive(Debug)]
pub struct Inbox {
    inner: Mutex<Inner>,
    /// Wakes the client task; a notification sent while nobody waits is kept, so a push
    /// between "queue empty" and "wait" is never lost.
    ready: Notify,
    /// A signal waits in `Inner`: the client checks this cheap flag on every turn, so a
    /// busy connection still sees a disconnect at once.
    signalled: AtomicBool,
    capacity: usize,
}

#[derive(Debug, Default)]
struct Inner {
    items: VecDeque<Delivery>,
    /// The client task has ended: pushes are refused (the router keeps them in limbo).
    closed: bool,
    /// The client task waits for deliveries: a push wakes it. While its window is shut it
    /// doesn't, and pushes then cost no wake-up.
    wants_items: bool,
    /// Close the connection (first reason wins).
    disconnect: Option<ReasonCode>,
    /// QoS 2 ids whose PUBREL may go out: their released state is durable.
    released: Vec<PacketId>,
    /// The connection is parked (no task): what would wake the task wakes it instead.
    parked: Option<park::Waker>,
}

/// What other tasks asked of the client since it last looked.
#[derive(Debug, Default)]
pub struct Signals {
    pub disconnect: Option<ReasonCode>,
    pub released: Vec<PacketId>,
}

/// Why `try_push` refused; the delivery comes back.
#[derive(Debug)]
pub enum PushError {
    Full(Delivery),
    Closed(Delivery),
}

impl Inbox {
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::default(),
            ready: Notify::new(),
            signalled: AtomicBool::new(false),
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
        let wake = {
            let mut q = self.lock();
            if q.closed {
                return Err(PushError::Closed(d));
            }
            if q.items.len() >= self.capacity {
                return Err(PushError::Full(d));
            }
            q.items.push_back(d);
            // Only the first item needs a wake-up: the client re-checks the queue under
            // this lock before it waits again, so later ones are found with it.
            if q.wants_items && q.items.len() == 1 {
                Some(q.parked.take())
            } else {
                None
            }
        };
        match wake {
            Some(Some(parked)) => parked.wake(),
            Some(None) => self.ready.notify_one(),
            None => {}
        }
        Ok(())
    }

    /// The client task is about to park: from now on a wake-up goes through `waker`.
    /// Refused (`false`) when something already waits for the task.
    pub fn park(&self, waker: park::Waker) -> bool {
        let mut q = self.lock();
        if !q.items.is_empty() || self.signalled() || q.closed {
            return false;
        }
        q.parked = Some(waker);
        true
    }

    /// The connection has a task again (woken or not: a socket event resumes it too).
    pub fn unpark(&self) {
        self.lock().parked = None;
    }

    /// Whether pushes should wake the client task; returns whether items wait already
    /// (checked under the same lock, so a push in between is never missed).
    pub fn want_items(&self, yes: bool) -> bool {
        let mut q = self.lock();
        q.wants_items = yes;
        !q.items.is_empty()
    }

    /// Ask the client task to close the connection with `reason`.
    pub fn disconnect(&self, reason: ReasonCode) {
        self.lock().disconnect.get_or_insert(reason);
        self.signal();
    }

    /// Let the client send PUBREL for these ids (called from the store's thread).
    pub fn release(&self, pids: Vec<PacketId>) {
        {
            let mut q = self.lock();
            if q.released.is_empty() {
                q.released = pids;
            } else {
                q.released.extend(pids);
            }
        }
        self.signal();
    }

    /// A signal was stored: flag it and wake the client whatever it waits for.
    fn signal(&self) {
        self.signalled.store(true, Ordering::Release);
        let parked = self.lock().parked.take();
        match parked {
            Some(parked) => parked.wake(),
            None => self.ready.notify_one(),
        }
    }

    /// Whether `take_signals` has something.
    pub fn signalled(&self) -> bool {
        self.signalled.load(Ordering::Acquire)
    }

    /// Take what other tasks asked for since the last call.
    pub fn take_signals(&self) -> Signals {
        let mut q = self.lock();
        self.signalled.store(false, Ordering::Relaxed);
        Signals {
            disconnect: q.disconnect.take(),
            released: std::mem::take(&mut q.released),
        }
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

    /// Wait until something may have been pushed (if wanted) or signalled.
    pub async fn ready(&self) {
        self.ready.notified().await;
    }

    /// The client task ends: refuse further pushes and return what is left.
    pub fn close(&self) -> VecDeque<Delivery> {
        let mut q = self.lock();
        q.closed = true;
        std::mem::take(&mut q.items)
    }

    /// Payload bytes waiting (walks the inbox: for a few sessions a second, not per message).
    pub fn bytes(&self) -> u64 {
        self.lock()
            .items
            .iter()
            .map(|d| d.msg.payload.len() as u64)
            .sum()
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
        let q = Inbox::new(2);
        assert!(!q.want_items(true), "empty");
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

    #[tokio::test]
    async fn signals_wake_even_when_items_are_not_wanted() {
        let q = Inbox::new(4);
        assert!(!q.want_items(false));
        q.try_push(d(1)).expect("room");
        assert!(!q.signalled());
        // The item is kept, and the window reopening finds it without a wake-up.
        assert!(q.want_items(true));
        q.release(vec![std::num::NonZeroU16::MIN]);
        q.disconnect(ReasonCode::AdministrativeAction);
        q.disconnect(ReasonCode::ServerShuttingDown);
        q.ready().await;
        assert!(q.signalled());
        let s = q.take_signals();
        assert_eq!(
            s.disconnect,
            Some(ReasonCode::AdministrativeAction),
            "first wins"
        );
        assert_eq!(s.released.len(), 1);
        assert!(!q.signalled());
        assert!(q.take_signals().disconnect.is_none());
    }
}
