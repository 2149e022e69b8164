//! A subscriber that never reads must not slow the publisher or other subscribers;
//! what it cannot take is dropped and counted.

use std::time::{Duration, Instant};

use crate::bytes as b;
use crate::support::{raw_sub, start_broker_with, sys_until, within, Raw};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_does_not_block_anyone() {
    let broker = start_broker_with(|c| {
        c.limits.max_queued_messages = 16;
        c.sys.interval_secs = 1;
    })
    .await;
    let addr = broker.addr();
    let stuck = raw_sub(addr, "stuck", "flood", 0).await; // never read again
    let mut healthy = raw_sub(addr, "healthy", "flood", 0).await;
    let (mut publ, _) = Raw::v4(addr, "pub", true).await;

    // 24 MB: far more than the stuck subscriber's socket buffers and queue can hold.
    // The healthy subscriber keeps up: the publisher sends in chunks of 8 (half its queue)
    // and the healthy one reads each chunk; nobody waits for the stuck one.
    const N: usize = 3000;
    const CHUNK: usize = 8;
    let size = 8 * 1024;
    let one = b::publish("flood", 0, 0, false, false, &vec![b'x'; size], None);
    let chunk = one.repeat(CHUNK);
    let start = Instant::now();
    for round in 0..N / CHUNK {
        within(5.0, publ.send(&chunk)).await;
        for i in 0..CHUNK {
            let p = healthy.recv_publish().await;
            assert_eq!(p.payload.len(), size, "round {round} message {i}");
        }
    }
    // The publisher's own connection is still served promptly.
    within(2.0, publ.sync()).await;
    let elapsed = start.elapsed();
    assert!(elapsed < Duration::from_secs(15), "{elapsed:?}");
    assert!(healthy.quiet().await.is_empty());
    let dropped = sys_until(addr, "$SYS/broker/publish/messages/dropped", |v| {
        v.parse::<u64>().is_ok_and(|n| n > 0)
    })
    .await;
    assert!(dropped.parse::<usize>().is_ok_and(|n| n < N), "{dropped}");
    drop(stuck);
}

/// The same flood without pacing: a subscriber reading as fast as it can should still
/// get every message while the stuck one drops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpaced_flood_reaches_a_reading_subscriber() {
    let broker = start_broker_with(|c| {
        c.limits.max_queued_messages = 16;
    })
    .await;
    let addr = broker.addr();
    let stuck = raw_sub(addr, "stuck", "flood", 0).await;
    let mut healthy = raw_sub(addr, "healthy", "flood", 0).await;
    let (mut publ, _) = Raw::v4(addr, "pub", true).await;
    const N: usize = 3000;
    let size = 8 * 1024;
    let one = b::publish("flood", 0, 0, false, false, &vec![b'x'; size], None);
    let reader = tokio::spawn(async move {
        for i in 0..N {
            match healthy.read_within(Duration::from_secs(2)).await {
                Some(crate::support::Read::Packet(midge::protocol::Packet::Publish(_))) => {}
                other => return Err(format!("got {i} of {N}, then {other:?}")),
            }
        }
        Ok(())
    });
    for _ in 0..N / 100 {
        within(5.0, publ.send(&one.repeat(100))).await;
    }
    within(2.0, publ.sync()).await;
    within(10.0, reader)
        .await
        .expect("reader")
        .expect("every message");
    drop(stuck);
}
