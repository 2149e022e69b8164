//! A SUBSCRIBE applies to the PUBLISHes that arrived after it, even when the router saw
//! them first (client tasks run in parallel).

use std::time::Duration;

use tokio::sync::oneshot;

use super::{msg, Harness};
use crate::broker::clock;
use crate::broker::message::{ClientId, Delivery};
use crate::broker::router::{NewSubscription, RouterMsg};
use crate::protocol::{ByteStr, QoS, SubscriptionOptions};

async fn subscribe_arrived(
    h: &Harness,
    client: &ClientId,
    filter: &str,
    arrived: std::time::Instant,
) -> Vec<Delivery> {
    let (reply, rx) = oneshot::channel();
    h.send(RouterMsg::Subscribe {
        client: client.clone(),
        subs: vec![NewSubscription {
            filter: ByteStr::from(filter),
            options: SubscriptionOptions {
                qos: QoS::AtLeastOnce,
                ..SubscriptionOptions::default()
            },
            sub_id: Some(7),
        }],
        arrived,
        reply,
    })
    .await;
    rx.await.expect("SUBACK")
}

fn payloads(ds: &[Delivery]) -> Vec<&[u8]> {
    ds.iter().map(|d| &d.msg.payload[..]).collect()
}

#[tokio::test(start_paused = true)]
async fn a_publish_that_arrived_after_the_subscribe_is_delivered_by_it() {
    let mut h = Harness::start(16, None);
    let b = h.connect("b", true, 0).await;
    h.publish(msg("req/0", "before", QoS::AtLeastOnce, false))
        .await;
    tokio::time::advance(Duration::from_millis(1)).await;
    // B's SUBSCRIBE is read here, but A's PUBLISHes reach the router first.
    let arrived = clock::now();
    tokio::time::advance(Duration::from_millis(1)).await;
    h.publish(msg("req/1", "after", QoS::AtLeastOnce, false))
        .await;
    h.publish(msg("other/1", "elsewhere", QoS::AtLeastOnce, false))
        .await;
    h.publish(msg("req/2", "after too", QoS::AtMostOnce, false))
        .await;
    let got = subscribe_arrived(&h, &b.id, "req/+", arrived).await;
    assert_eq!(
        payloads(&got),
        [&b"after"[..], b"after too"],
        "oldest first"
    );
    assert_eq!(got[0].qos, QoS::AtLeastOnce);
    assert_eq!(
        got[1].qos,
        QoS::AtMostOnce,
        "min(publish, granted) [MQTT-3.8.4-8]"
    );
    assert!(got.iter().all(|d| !d.retain && d.sub_ids == [7]));
    // Nothing went to B's inbox: B had no subscription when they were routed.
    h.barrier().await;
    assert!(b.take().is_empty());
}

#[tokio::test(start_paused = true)]
async fn what_an_earlier_subscription_delivered_is_not_sent_again() {
    let mut h = Harness::start(16, None);
    let b = h.connect("b", true, 0).await;
    b.subscribe(&h, "req/#", QoS::AtLeastOnce, None).await;
    let arrived = clock::now();
    tokio::time::advance(Duration::from_millis(1)).await;
    h.publish(msg("req/1", "live", QoS::AtLeastOnce, false))
        .await;
    h.barrier().await;
    assert_eq!(b.take().len(), 1, "delivered live by req/#");
    let got = subscribe_arrived(&h, &b.id, "req/+", arrived).await;
    assert!(got.is_empty(), "{got:?}");
    // A retained message comes once, as retained, not again as a late live one.
    let arrived = clock::now();
    tokio::time::advance(Duration::from_millis(1)).await;
    h.publish(msg("kept/1", "retained", QoS::AtLeastOnce, true))
        .await;
    let got = subscribe_arrived(&h, &b.id, "kept/+", arrived).await;
    assert_eq!(payloads(&got), [&b"retained"[..]]);
    assert!(got[0].retain);
}
