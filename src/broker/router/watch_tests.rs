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
