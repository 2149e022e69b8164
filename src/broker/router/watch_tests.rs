//! The observer's questions: subscriber counts per topic.

use tokio::sync::oneshot;

use super::Harness;
use crate::broker::router::watch::Query;
use crate::broker::router::RouterMsg;
use crate::protocol::QoS;

#[tokio::test]
async fn subscribers_count_each_session_once() {
    let mut h = Harness::start(100, None);
    let a = h.connect("a", true, 0).await;
    let b = h.connect("b", false, 600).await;
    a.subscribe(&h, "home/#", QoS::AtMostOnce, None).await;
    // Two matching filters of one session count it once.
    a.subscribe(&h, "home/+/lamp", QoS::AtMostOnce, None).await;
    b.subscribe(&h, "home/kitchen/lamp", QoS::AtLeastOnce, None)
        .await;
    let (reply, rx) = oneshot::channel();
    h.send(RouterMsg::Observe(Query::Subscribers {
        topics: vec![
            "home/kitchen/lamp".into(),
            "home/garage".into(),
            "other".into(),
        ],
        reply,
    }))
    .await;
    let counts = rx.await.expect("answered");
    assert_eq!(
        counts,
        [
            ("home/kitchen/lamp".to_owned(), 2),
            ("home/garage".to_owned(), 1),
            ("other".to_owned(), 0),
        ]
    );
}

/// An admin reply goes to the connection that asked, not to one that took its client id
/// over since (that one would read another connection's answer).
#[tokio::test]
async fn a_reply_reaches_only_the_connection_that_asked() {
    use crate::broker::message::Delivery;
    let mut h = Harness::start(100, None);
    let first = h.connect("mon", true, 0).await;
    let asked = first.conn_id;
    let reply = |payload: &'static str| {
        let m = super::msg(
            "$CONTROL/midge/v1/reply/mon",
            payload,
            QoS::AtMostOnce,
            false,
        );
        Delivery {
            msg: std::sync::Arc::new(m),
            qos: QoS::AtMostOnce,
            retain: false,
            sub_ids: Vec::new(),
            seq: None,
        }
    };
    let deliver = |conn_id, payload| RouterMsg::DeliverTo {
        client: "mon".into(),
        conn_id,
        delivery: reply(payload),
    };
    h.send(deliver(asked, "to the asker")).await;
    h.settle().await;
    assert_eq!(first.payloads(), ["to the asker"]);
    // The client id comes back on another connection: the first one's replies are dropped.
    first.disconnect(&h, None, 0).await;
    let second = h.connect("mon", true, 0).await;
    h.send(deliver(asked, "stale")).await;
    h.send(deliver(second.conn_id, "fresh")).await;
    h.settle().await;
    assert_eq!(second.payloads(), ["fresh"]);
}
