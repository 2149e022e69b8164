//! The client task's writes to the durable store: what its session changed about stored
//! deliveries (completed, dropped, released QoS 2 flows), and the PUBRELs that wait for
//! a released state to be durable.

use tokio::io::{AsyncRead, AsyncWrite};

use super::Client;
use crate::broker::persist;
use crate::broker::session::StoreChange;
use crate::storage::{Keyspace, Op};

impl<R, W> Client<R, W>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    /// Write what the session changed about stored deliveries (completed, dropped,
    /// released).
    pub(super) fn write_store_changes(&mut self) {
        let changes = self.session.take_store_changes();
        let Some(store) = &self.ctx.store else { return };
        if changes.is_empty() {
            return;
        }
        let mut release = Vec::new();
        let ops = changes
            .into_iter()
            .map(|c| match c {
                StoreChange::Delete(seq) => Op::Delete {
                    ks: Keyspace::Queues,
                    key: persist::queue_key(&self.client_id, seq),
                },
                StoreChange::Released { seq, pid, delivery } => {
                    release.push(pid);
                    let mut msg = bytes::BytesMut::new();
                    persist::encode_message(&delivery.msg, &mut msg);
                    let state = persist::QueueState::Released(pid);
                    let value = persist::queue_value(
                        state,
                        delivery.qos,
                        delivery.retain,
                        &delivery.sub_ids,
                        &msg,
                    );
                    Op::Put {
                        ks: Keyspace::Queues,
                        key: persist::queue_key(&self.client_id, seq),
                        value,
                    }
                }
            })
            .collect();
        let done: Option<crate::storage::Done> = (!release.is_empty()).then(|| {
            let inbox = self.inbox.clone();
            Box::new(move |r: Result<(), crate::storage::Error>| {
                // On a store failure the PUBREL is held back: the flow resumes (from
                // PUBREC) when the client reconnects.
                if r.is_ok() {
                    inbox.release(release);
                }
            }) as crate::storage::Done
        });
        store.submit(ops, done);
    }
}
