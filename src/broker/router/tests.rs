//! Router unit tests. The router task is driven only through `RouterMsg`; each client is
//! a fake that reads the `Inbox` its CONNECT was granted and hands its `Session` back as
//! a client task would. Timing (will delay, session and message expiry) runs under
//! `tokio::time::pause`, so no test waits in real time.

use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio::time::sleep;

use super::{ConnectGranted, ConnectRequest, Disconnected, NewSubscription, Router, RouterMsg};
use crate::broker::message::{ClientId, Delivery, Message};
use crate::broker::session::Session;
use crate::broker::stats::{ClientInfo, ClientStats, Metrics};
use crate::broker::{clock, inbox::Inbox, persist, BrokerOptions, Open};
use crate::config::Config;
use crate::protocol::{
    ByteStr, LastWill, Properties, Props, ProtocolVersion, Publish, QoS, QosPid, ReasonCode,
    RetainHandling, SubscriptionOptions,
};
use crate::storage::{Keyspace, Store, SyncPolicy};

/// A router task and the channel into it.
struct Harness {
    tx: mpsc::Sender<RouterMsg>,
    metrics: Arc<Metrics>,
    next_conn: u64,
}

impl Harness {
    /// A router with `max_queued_messages = max_queued`, no `$SYS`, anyone allowed.
    fn start(max_queued: usize, store: Option<Store>) -> Harness {
        let mut options = BrokerOptions::from_config(
            &Config::default(),
            Arc::new(Open {
                allow_anonymous: true,
            }),
        );
        options.max_queued = max_queued;
        options.sys_interval = None;
        let metrics = Arc::new(Metrics::default());
        let mut router = Router::new(Arc::new(options), metrics.clone());
        // The only router state a test sets directly, as `Broker::start` does.
        router.store = store;
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(router.run(rx));
        Harness {
            tx,
            metrics,
            next_conn: 1,
        }
    }

    async fn send(&self, msg: RouterMsg) {
        self.tx.send(msg).await.expect("the router is running");
    }

    /// Returns once everything sent before is handled: the router takes its messages in
    /// order, and this one has a reply.
    async fn barrier(&self) {
        let (reply, rx) = oneshot::channel();
        let client = ClientId::from("nobody");
        self.send(RouterMsg::Unsubscribe {
            client,
            filters: Vec::new(),
            reply,
        })
        .await;
        rx.await.expect("the router replies");
    }

    /// `barrier` twice: a router timer that fired alongside the first one (the router
    /// picks between ready branches at random) has been handled too.
    async fn settle(&self) {
        self.barrier().await;
        self.barrier().await;
    }

    /// A CONNECT the router has not answered yet.
    async fn request(
        &mut self,
        id: &str,
        clean_start: bool,
        session_expiry: u32,
    ) -> (u64, Arc<ClientStats>, oneshot::Receiver<ConnectGranted>) {
        let conn_id = self.next_conn;
        self.next_conn += 1;
        let client_id = ClientId::from(id);
        let stats = ClientStats::new(ClientInfo {
            client_id: client_id.clone(),
            address: "test".into(),
            protocol: ProtocolVersion::V5,
            username: None,
            tls: false,
            keep_alive: 0,
            connected_since: SystemTime::now(),
            clean_start,
            internal: false,
            bridge: false,
        });
        let (reply, rx) = oneshot::channel();
        let req = ConnectRequest {
            client_id,
            conn_id,
            clean_start,
            session_expiry,
            window: 10,
            max_queued: None,
            stats: stats.clone(),
            reply,
        };
        self.send(RouterMsg::Connect(Box::new(req))).await;
        (conn_id, stats, rx)
    }

    async fn connect(&mut self, id: &str, clean_start: bool, session_expiry: u32) -> Fake {
        let (conn_id, stats, rx) = self.request(id, clean_start, session_expiry).await;
        Fake::granted(id, conn_id, stats, rx.await.expect("CONNECT granted"))
    }

    async fn publish(&self, msg: Message) {
        self.send(RouterMsg::Publish {
            msg: Arc::new(msg),
            durable: None,
        })
        .await;
    }

    /// Publish asking to be told when the stored copies are durable.
    async fn publish_durable(&self, msg: Message) -> oneshot::Receiver<bool> {
        let (tx, rx) = oneshot::channel();
        self.send(RouterMsg::Publish {
            msg: Arc::new(msg),
            durable: Some(tx),
        })
        .await;
        rx
    }
}

/// A connected client as the router sees it: its inbox and (taken back at disconnect)
/// its session.
struct Fake {
    id: ClientId,
    conn_id: u64,
    session: Session,
    present: bool,
    inbox: Arc<Inbox>,
    stats: Arc<ClientStats>,
}

impl Fake {
    fn granted(id: &str, conn_id: u64, stats: Arc<ClientStats>, g: ConnectGranted) -> Fake {
        g.inbox.want_items(true);
        Fake {
            id: ClientId::from(id),
            conn_id,
            session: g.session,
            present: g.session_present,
            inbox: g.inbox,
            stats,
        }
    }

    /// What the router pushed so far.
    fn take(&self) -> Vec<Delivery> {
        let mut out = VecDeque::new();
        self.inbox.pop_into(usize::MAX, &mut out);
        out.into()
    }

    fn payloads(&self) -> Vec<Bytes> {
        self.take()
            .into_iter()
            .map(|d| d.msg.payload.clone())
            .collect()
    }

    async fn subscribe(&self, h: &Harness, filter: &str, qos: QoS, sub_id: Option<u32>) {
        let options = SubscriptionOptions {
            qos,
            ..SubscriptionOptions::default()
        };
        self.subscribe_with(h, filter, options, sub_id).await;
    }

    /// SUBSCRIBE; returns the retained messages the router answered with.
    async fn subscribe_with(
        &self,
        h: &Harness,
        filter: &str,
        options: SubscriptionOptions,
        sub_id: Option<u32>,
    ) -> Vec<Delivery> {
        let (reply, rx) = oneshot::channel();
        let sub = NewSubscription {
            filter: ByteStr::from(filter),
            options,
            sub_id,
        };
        h.send(RouterMsg::Subscribe {
            client: self.id.clone(),
            subs: vec![sub],
            arrived: crate::broker::clock::now(),
            reply,
        })
        .await;
        rx.await.expect("SUBACK")
    }

    /// The connection ends as a client task ends it: what is still in the inbox goes
    /// back into the session, which returns to the router with the will.
    async fn disconnect(mut self, h: &Harness, will: Option<LastWill>, session_expiry: u32) {
        for d in self.inbox.close() {
            let _ = self.session.enqueue(d, false);
        }
        let d = Disconnected {
            client_id: self.id,
            conn_id: self.conn_id,
            session: self.session,
            will: will.map(Box::new),
            session_expiry,
        };
        h.send(RouterMsg::Disconnected(Box::new(d))).await;
    }
}

fn msg(topic: &str, payload: &'static str, qos: QoS, retain: bool) -> Message {
    Message::internal(topic, Bytes::from_static(payload.as_bytes()), qos, retain)
}

/// A client's PUBLISH as the client task hands it over (v5 properties included).
fn publish(topic: &str, payload: &'static str, qos: QoS, props: Properties) -> Message {
    let qos_pid = match qos {
        QoS::AtMostOnce => QosPid::Level0,
        q => QosPid::new(q, std::num::NonZeroU16::MIN),
    };
    let p = Publish {
        dup: false,
        qos_pid,
        retain: false,
        topic: ByteStr::from(topic),
        properties: Props::from(props),
        payload: Bytes::from_static(payload.as_bytes()),
    };
    let now = crate::broker::clock::now();
    let publisher = Some(ClientId::from("publisher"));
    Message::from_publish(p, ByteStr::from(topic), publisher, now)
}

fn will(topic: &str, delay: Option<u32>) -> LastWill {
    LastWill {
        topic: ByteStr::from(topic),
        payload: Bytes::from_static(b"gone"),
        qos: QoS::AtMostOnce,
        retain: false,
        properties: Props::from(Properties {
            will_delay_interval: delay,
            ..Properties::default()
        }),
    }
}

#[tokio::test]
async fn fan_out_shares_one_payload_with_every_subscriber() {
    let mut h = Harness::start(16, None);
    let mut subs = Vec::new();
    for i in 0..50 {
        let c = h.connect(&format!("s{i}"), true, 0).await;
        c.subscribe(&h, "fan/+", QoS::AtLeastOnce, None).await;
        subs.push(c);
    }
    let m = msg("fan/out", "payload", QoS::AtMostOnce, false);
    let payload = m.payload.clone();
    h.publish(m).await;
    h.barrier().await;
    for c in &subs {
        let got = c.take();
        assert_eq!(got.len(), 1, "{}", c.id);
        // Delivered at min(publish QoS, granted QoS) [MQTT-3.8.4-8].
        assert_eq!(got[0].qos, QoS::AtMostOnce);
        // One message, one payload buffer: nothing is copied per subscriber.
        assert_eq!(got[0].msg.payload.as_ptr(), payload.as_ptr());
    }
    assert_eq!(h.metrics.publish_dropped.load(Relaxed), 0);
}

#[tokio::test]
async fn overlapping_subscriptions_deliver_once_with_every_subscription_id() {
    let mut h = Harness::start(16, None);
    let c = h.connect("c", true, 0).await;
    let other = h.connect("other", true, 0).await;
    // Interleaved, so the two clients' matches alternate in the subscription trie.
    c.subscribe(&h, "a/#", QoS::AtMostOnce, Some(1)).await;
    other.subscribe(&h, "a/#", QoS::AtMostOnce, Some(7)).await;
    other.subscribe(&h, "a/+", QoS::AtMostOnce, Some(8)).await;
    c.subscribe(&h, "a/+", QoS::ExactlyOnce, Some(2)).await;
    c.subscribe(&h, "a/b", QoS::AtLeastOnce, None).await;
    other.subscribe(&h, "a/b", QoS::AtMostOnce, None).await;
    h.publish(msg("a/b", "x", QoS::AtLeastOnce, false)).await;
    h.barrier().await;
    let got = c.take();
    assert_eq!(
        got.len(),
        1,
        "one delivery for three matching subscriptions"
    );
    // The highest of min(publish, granted) over the matches.
    assert_eq!(got[0].qos, QoS::AtLeastOnce);
    let mut ids = got[0].sub_ids.clone();
    ids.sort_unstable();
    assert_eq!(ids, [1, 2], "every matching subscription id [MQTT-3.3.4-3]");
    let got = other.take();
    assert_eq!(got.len(), 1);
    let mut ids = got[0].sub_ids.clone();
    ids.sort_unstable();
    assert_eq!((got[0].qos, ids.as_slice()), (QoS::AtMostOnce, &[7, 8][..]));
}

#[tokio::test]
async fn a_full_inbox_drops_for_that_client_only() {
    let mut h = Harness::start(16, None);
    let slow = h.connect("slow", true, 0).await;
    let fast = h.connect("fast", true, 0).await;
    slow.subscribe(&h, "flood", QoS::AtMostOnce, None).await;
    fast.subscribe(&h, "flood", QoS::AtMostOnce, None).await;
    let cap = slow.inbox.capacity();
    let total = cap + 100;
    let mut received = 0;
    for round in 0..total / 100 + 1 {
        for _ in 0..100.min(total - round * 100) {
            h.publish(msg("flood", "m", QoS::AtMostOnce, false)).await;
        }
        // The publisher is never held up by the slow client: the router stays responsive
        // and answers a QoS 1 publisher's durability at once.
        let ack = h
            .publish_durable(msg("other", "q", QoS::AtLeastOnce, false))
            .await;
        assert_eq!(ack.await, Ok(true));
        received += fast.take().len();
    }
    h.barrier().await;
    received += fast.take().len();
    assert_eq!(received, total, "the reading client got every message");
    assert_eq!(slow.inbox.len(), cap, "the slow client's inbox is full");
    let dropped = (total - cap) as u64;
    assert_eq!(slow.stats.dropped.load(Relaxed), dropped);
    assert_eq!(fast.stats.dropped.load(Relaxed), 0);
    assert_eq!(h.metrics.publish_dropped.load(Relaxed), dropped);
}

#[tokio::test]
async fn takeover_disconnects_the_old_connection_and_hands_the_session_over() {
    let mut h = Harness::start(16, None);
    let watcher = h.connect("watcher", true, 0).await;
    watcher.subscribe(&h, "will/#", QoS::AtMostOnce, None).await;
    let old = h.connect("c", false, 3600).await;
    old.subscribe(&h, "t", QoS::AtLeastOnce, None).await;
    h.publish(msg("t", "before", QoS::AtLeastOnce, false)).await;
    let (new_conn, new_stats, mut pending) = h.request("c", false, 3600).await;
    h.barrier().await;
    // The old connection is told to go [MQTT-3.1.4-3]; the new one waits for its session.
    assert!(old.inbox.signalled());
    let reason = old.inbox.take_signals().disconnect;
    assert_eq!(reason, Some(ReasonCode::SessionTakenOver));
    assert_eq!(ReasonCode::SessionTakenOver as u8, 0x8E);
    assert!(pending.try_recv().is_err(), "answered before the hand-over");
    old.disconnect(&h, Some(will("will/c", None)), 3600).await;
    let granted = pending.await.expect("CONNECT granted after the hand-over");
    assert!(granted.session_present);
    assert_eq!(
        granted.session.queued(),
        1,
        "the undelivered message came along"
    );
    assert_eq!(
        watcher.payloads(),
        ["gone"],
        "the old connection's will is sent"
    );
    // The subscription survived: new messages reach the new connection.
    let new = Fake::granted("c", new_conn, new_stats, granted);
    h.publish(msg("t", "after", QoS::AtLeastOnce, false)).await;
    h.barrier().await;
    assert_eq!(new.payloads(), ["after"]);
}

#[tokio::test]
async fn retained_messages_are_stored_replaced_deleted_and_sent_per_retain_handling() {
    let mut h = Harness::start(16, None);
    h.publish(msg("r/a", "1", QoS::AtLeastOnce, true)).await;
    h.publish(msg("r/a", "2", QoS::AtLeastOnce, true)).await;
    h.publish(msg("r/b", "x", QoS::AtMostOnce, true)).await;
    // An empty retained payload deletes [MQTT-3.3.1-10], [MQTT-3.3.1-11].
    h.publish(msg("r/b", "", QoS::AtMostOnce, true)).await;
    let c = h.connect("c", true, 0).await;
    let opts = |retain_handling| SubscriptionOptions {
        qos: QoS::AtMostOnce,
        retain_handling,
        ..SubscriptionOptions::default()
    };
    let got = c
        .subscribe_with(&h, "r/#", opts(RetainHandling::OnNewSubscribe), Some(4))
        .await;
    assert_eq!(got.len(), 1, "only the replaced r/a: {got:?}");
    assert_eq!(&got[0].msg.payload[..], b"2");
    assert!(
        got[0].retain,
        "sent on subscribe with RETAIN set [MQTT-3.3.1-9]"
    );
    assert_eq!(got[0].qos, QoS::AtMostOnce, "min(retained QoS, granted)");
    assert_eq!(got[0].sub_ids, [4]);
    // Retain Handling [MQTT-3.8.4-4]: 1 sends only for a new subscription, 2 never.
    let again = c.subscribe_with(&h, "r/#", opts(RetainHandling::OnNewSubscribe), None);
    assert!(again.await.is_empty());
    let never = c.subscribe_with(&h, "r/+", opts(RetainHandling::Never), None);
    assert!(never.await.is_empty());
    let always = c.subscribe_with(&h, "r/#", opts(RetainHandling::OnSubscribe), None);
    assert_eq!(always.await.len(), 1);
    let shared = c.subscribe_with(&h, "$share/g/r/#", opts(RetainHandling::OnSubscribe), None);
    assert!(shared.await.is_empty(), "none for a shared subscription");
    // A retained message is delivered live like any other, without RETAIN by default.
    h.publish(msg("r/c", "live", QoS::AtMostOnce, true)).await;
    h.barrier().await;
    let live = c.take();
    assert_eq!(
        live.len(),
        1,
        "one delivery for r/#, r/+ and the shared r/#"
    );
    assert!(!live[0].retain, "[MQTT-3.3.1-12]");
}

#[tokio::test]
async fn shared_subscriptions_take_turns() {
    let mut h = Harness::start(16, None);
    let mut members = Vec::new();
    for i in 0..3 {
        let c = h.connect(&format!("m{i}"), true, 0).await;
        c.subscribe(&h, "$share/g/jobs/+", QoS::AtLeastOnce, None)
            .await;
        members.push(c);
    }
    let plain = h.connect("plain", true, 0).await;
    plain.subscribe(&h, "jobs/#", QoS::AtMostOnce, None).await;
    for _ in 0..9 {
        h.publish(msg("jobs/1", "j", QoS::AtLeastOnce, false)).await;
    }
    h.barrier().await;
    for m in &members {
        assert_eq!(m.take().len(), 3, "round robin: {}", m.id);
    }
    assert_eq!(
        plain.take().len(),
        9,
        "a plain subscription gets every message"
    );
    // A member that left is skipped: the others share its turns.
    let gone = members.pop().expect("three members");
    gone.disconnect(&h, None, 0).await;
    for _ in 0..4 {
        h.publish(msg("jobs/1", "j", QoS::AtLeastOnce, false)).await;
    }
    h.barrier().await;
    assert_eq!(members[0].take().len() + members[1].take().len(), 4);
}

#[tokio::test]
async fn a_message_for_an_offline_session_is_stored_before_the_publisher_is_answered() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path(), SyncPolicy::Always).expect("store");
    let mut h = Harness::start(16, Some(store.clone()));
    let c = h.connect("p", false, 3600).await;
    c.subscribe(&h, "d", QoS::AtLeastOnce, None).await;
    c.disconnect(&h, None, 3600).await;
    let durable = h.publish_durable(publish(
        "d",
        "kept",
        QoS::AtLeastOnce,
        Properties::default(),
    ));
    let durable = tokio::time::timeout(Duration::from_secs(5), durable.await);
    assert_eq!(durable.await.ok().and_then(Result::ok), Some(true));
    // The publisher was answered after the copy was written: it is in the store now.
    let queued = store.load(Keyspace::Queues).expect("load");
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].0, persist::queue_key("p", 0));
    let rec = persist::decode_queue(&queued[0].1).expect("a queue record");
    assert_eq!(&rec.msg.payload[..], b"kept");
    let sessions = store.load(Keyspace::Sessions).expect("load");
    assert!(sessions.iter().any(|(k, _)| k == b"p"));
    // QoS 0 is not kept for an offline session, and not counted as a drop.
    h.publish(msg("d", "lost", QoS::AtMostOnce, false)).await;
    let back = h.connect("p", false, 3600).await;
    assert!(back.present);
    let queued: Vec<_> = back.session.queue().map(|d| d.seq).collect();
    assert_eq!(queued, [Some(0)], "the stored copy, by its sequence number");
    assert_eq!(h.metrics.publish_dropped.load(Relaxed), 0);
}

#[tokio::test(start_paused = true)]
async fn a_delayed_will_waits_for_its_delay_and_a_reconnect_cancels_it() {
    let mut h = Harness::start(16, None);
    let watcher = h.connect("watcher", true, 0).await;
    watcher.subscribe(&h, "will/#", QoS::AtMostOnce, None).await;
    let w = h.connect("w", true, 100).await;
    w.disconnect(&h, Some(will("will/w", Some(10))), 100).await;
    let back = h.connect("back", true, 100).await;
    back.disconnect(&h, Some(will("will/back", Some(10))), 100)
        .await;
    // Sent at the earlier of the will delay and the session's end [MQTT-3.1.3-9].
    let short = h.connect("short", true, 3).await;
    short
        .disconnect(&h, Some(will("will/short", Some(10))), 3)
        .await;
    sleep(Duration::from_millis(2500)).await;
    h.settle().await;
    assert!(
        watcher.take().is_empty(),
        "nothing before any delay ran out"
    );
    sleep(Duration::from_millis(1000)).await;
    h.settle().await;
    let got = watcher.take();
    let topics: Vec<&str> = got.iter().map(|d| &*d.msg.topic).collect();
    assert_eq!(topics, ["will/short"], "the short session ended at 3 s");
    sleep(Duration::from_secs(2)).await;
    let _again = h.connect("back", false, 100).await;
    sleep(Duration::from_secs(3)).await;
    h.settle().await;
    assert!(watcher.take().is_empty(), "nothing at 8.5 s");
    sleep(Duration::from_secs(2)).await;
    h.settle().await;
    let got = watcher.take();
    let topics: Vec<&str> = got.iter().map(|d| &*d.msg.topic).collect();
    assert_eq!(
        topics,
        ["will/w"],
        "at 10 s; the reconnect cancelled will/back"
    );
}

#[tokio::test(start_paused = true)]
async fn an_offline_session_ends_when_its_expiry_runs_out() {
    let mut h = Harness::start(16, None);
    for id in ["a", "b"] {
        let c = h.connect(id, false, 5).await;
        c.subscribe(&h, &format!("{id}/t"), QoS::AtLeastOnce, None)
            .await;
        c.disconnect(&h, None, 5).await;
    }
    sleep(Duration::from_millis(4500)).await;
    h.settle().await;
    let a = h.connect("a", false, 5).await;
    assert!(a.present, "kept for 5 s [MQTT-3.1.2-23]");
    sleep(Duration::from_secs(1)).await;
    h.settle().await;
    let b = h.connect("b", false, 5).await;
    assert!(!b.present, "gone after 5 s");
    h.publish(msg("b/t", "x", QoS::AtLeastOnce, false)).await;
    h.barrier().await;
    assert!(b.take().is_empty(), "its subscriptions went with it");
}

#[tokio::test(start_paused = true)]
async fn expired_messages_are_not_delivered() {
    let mut h = Harness::start(16, None);
    let props = Properties {
        message_expiry_interval: Some(2),
        ..Properties::default()
    };
    let mut retained = publish("e/r", "old", QoS::AtLeastOnce, props.clone());
    retained.retain = true;
    h.publish(retained).await;
    let c = h.connect("offline", false, 60).await;
    c.subscribe(&h, "e/q", QoS::AtLeastOnce, None).await;
    c.disconnect(&h, None, 60).await;
    h.publish(publish("e/q", "queued", QoS::AtLeastOnce, props))
        .await;
    sleep(Duration::from_secs(1)).await;
    let reader = h.connect("reader", true, 0).await;
    let got = reader
        .subscribe_with(&h, "e/#", SubscriptionOptions::default(), None)
        .await;
    assert_eq!(got.len(), 1, "still retained after 1 s");
    // What is forwarded is the time left [MQTT-3.3.2-6].
    assert_eq!(got[0].msg.remaining_expiry(clock::now()), Some(1));
    sleep(Duration::from_millis(1500)).await;
    let got = reader
        .subscribe_with(&h, "e/#", SubscriptionOptions::default(), None)
        .await;
    assert!(got.is_empty(), "expired after 2 s [MQTT-3.3.2-5]");
    let mut back = h.connect("offline", false, 60).await;
    assert_eq!(back.session.queued(), 1);
    let next = back.session.next_queued(clock::now());
    assert!(next.is_none(), "the queued copy expired while offline");
}

#[cfg(test)]
#[path = "recent_tests.rs"]
mod recent_tests;

#[path = "watch_tests.rs"]
mod watch_tests;
