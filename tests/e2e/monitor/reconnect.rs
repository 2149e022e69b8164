//! The remote source reconnecting when the broker goes away and comes back, with its
//! tap subscription restored.

use std::sync::Arc;
use std::time::{Duration, Instant};

use midge::broker::{Access, Open};
use midge_model::Event;

use super::{start_midge, until_snapshot, v5_client, watch, WAIT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_when_the_broker_comes_back() {
    let open = || -> Arc<dyn Access> {
        Arc::new(Open {
            allow_anonymous: true,
        })
    };
    let broker = start_midge("127.0.0.1:0".parse().expect("addr"), open()).await;
    let addr = broker.local_addrs()[0];
    let mut link = watch(&format!("mqtt://127.0.0.1:{}", addr.port()));
    let mut seen = Vec::new();
    until_snapshot(&mut link, &mut seen, "connected", |s| s.source.connected).await;

    broker.shutdown(Duration::from_secs(2)).await;
    until_snapshot(&mut link, &mut seen, "disconnected", |s| {
        !s.source.connected
    })
    .await;

    let broker = start_midge(addr, open()).await;
    until_snapshot(&mut link, &mut seen, "reconnected", |s| s.source.connected).await;
    // The same link carries traffic again: the tap was re-subscribed.
    let (p, _rx) = v5_client(addr.port(), "after-restart", None);
    let deadline = Instant::now() + WAIT;
    loop {
        p.publish(
            "back/again",
            rumqttc::v5::mqttbytes::QoS::AtMostOnce,
            false,
            "1",
        )
        .await
        .expect("publish");
        match tokio::time::timeout(Duration::from_millis(200), link.events.recv()).await {
            Ok(Some(Event::Tap(m))) if m.topic == "back/again" => break,
            Ok(Some(_)) | Err(_) => {}
            Ok(None) => panic!("events closed"),
        }
        assert!(Instant::now() < deadline, "no tap after the reconnect");
    }
    drop(link);
    broker.shutdown(Duration::from_secs(2)).await;
}
