//! A subscriber that never reads must not slow the publisher or other subscribers;
//! what it cannot take is dropped and counted.

use std::sync::atomic::Ordering::Relaxed;
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

/// The same flood without pacing: a subscriber reading as fast as it can gets every
/// message while the stuck one drops, because the flooding publisher's task yields the
/// worker in turn. One worker thread: every task shares it (the worst case for
/// starvation), and the OS pausing that thread pauses them all alike, so only the
/// broker's scheduling decides the outcome. (With two workers, a worker descheduled by a
/// busy machine let the other one overflow the reader's queue: QoS 0 drops the broker
/// may make.)
#[tokio::test(flavor = "current_thread")]
async fn unpaced_flood_reaches_a_reading_subscriber() {
    let broker = start_broker_with(|c| {
        c.limits.max_queued_messages = 16;
    })
    .await;
    let addr = broker.addr();
    let stuck = raw_sub(addr, "stuck", "flood", 0).await;
    let mut healthy = raw_sub(addr, "healthy", "flood", 0).await;
    let (mut publ, _) = Raw::v4(addr, "pub", true).await;
    const N: u64 = 3000;
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
    // A neighbour on the same worker measures the most messages the broker takes from the
    // publisher between two of its turns. tokio's budget is 128 units a poll; a client
    // task handling its buffered packets without yielding took 500-700 (before e93e4ad).
    let metrics = broker.broker.metrics();
    let neighbour = tokio::spawn(async move {
        let (mut last, mut burst) = (metrics.messages_received.load(Relaxed), 0);
        for _ in 0..1_000_000 {
            tokio::task::yield_now().await;
            let now = metrics.messages_received.load(Relaxed);
            burst = burst.max(now - last);
            last = now;
            if now >= N {
                break;
            }
        }
        (last, burst)
    });
    for _ in 0..N / 100 {
        within(5.0, publ.send(&one.repeat(100))).await;
    }
    within(2.0, publ.sync()).await;
    within(10.0, reader)
        .await
        .expect("reader")
        .expect("every message");
    let (seen, burst) = within(10.0, neighbour).await.expect("neighbour");
    assert_eq!(seen, N, "the neighbour watched the whole flood");
    assert!(
        burst <= 384,
        "the publisher held the worker for {burst} messages"
    );
    drop(stuck);
}
