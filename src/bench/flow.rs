//! The publisher and subscriber tasks of the throughput and latency scenarios.
//!
//! Flow control is credit-based: each publisher holds a semaphore of "deliveries not yet
//! seen by a subscriber"; a publish takes one credit per subscriber it will reach, and a
//! subscriber returns the credit (to the publisher named in the payload) when it reads the
//! message. That measures sustainable throughput without unbounded broker queues, so
//! nothing is dropped for being fast.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{watch, Semaphore};

use super::client::{Client, PidPool};
use super::stats::{Histogram, SeqTracker, Stamp, HEADER_LEN};
use super::BenchError;
use crate::protocol::{Ack, ByteStr, Packet, Props, Publish, QoS, QosPid};

/// A publisher that waited this long for credit assumes deliveries were lost (QoS 0) and
/// refills its window, so a lossy broker slows the run instead of stalling it.
const CREDIT_STALL: Duration = Duration::from_secs(1);

/// State shared by every task of one run.
pub struct Shared {
    /// Time zero for the payload timestamps.
    pub epoch: Instant,
    /// Per publisher: deliveries it may still cause before subscribers catch up.
    pub credits: Vec<Semaphore>,
    /// Per publisher: the full window, in deliveries (for refills after a stall).
    pub credit_window: usize,
    /// Per publisher: messages published so far (final once the publisher returns).
    pub sent: Vec<AtomicU64>,
    /// Deliveries read by all subscribers (progress line).
    pub received: AtomicU64,
}

impl Shared {
    pub fn new(publishers: usize, credit_window: usize) -> Self {
        Self {
            epoch: Instant::now(),
            credits: (0..publishers)
                .map(|_| Semaphore::new(credit_window))
                .collect(),
            credit_window,
            sent: (0..publishers).map(|_| AtomicU64::new(0)).collect(),
            received: AtomicU64::new(0),
        }
    }

    /// Nanoseconds since [`Shared::epoch`], the clock of the payload timestamps.
    pub fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    pub fn total_sent(&self) -> u64 {
        self.sent.iter().map(|s| s.load(Ordering::Relaxed)).sum()
    }
}

/// How one publisher publishes.
#[derive(Clone, Debug)]
pub struct PubPlan {
    pub index: usize,
    pub topic: String,
    pub qos: QoS,
    pub payload: usize,
    /// Credits one message costs: the number of subscribers it reaches.
    pub fanout: usize,
    pub batch: usize,
    pub inflight: u16,
    /// `Some(rate)`: paced at this many messages per second.
    pub rate: Option<u32>,
    /// Stop publishing at this instant.
    pub until: Instant,
    /// Give up waiting for outstanding acks after this long past `until`.
    pub drain: Duration,
}

/// What a publisher did.
#[derive(Clone, Debug, Default)]
pub struct PubResult {
    pub sent: u64,
    /// Times the credit window was refilled after a stall.
    pub stalls: u64,
    /// QoS 1/2 publishes never acknowledged.
    pub unacked: u64,
}

/// Publishes until `plan.until`, then waits (bounded) for the outstanding acks.
pub async fn publisher(
    mut c: Client,
    plan: PubPlan,
    shared: Arc<Shared>,
) -> Result<PubResult, BenchError> {
    let credits = shared
        .credits
        .get(plan.index)
        .ok_or_else(|| BenchError::Task("publisher index out of range".into()))?;
    let cost = u32::try_from(plan.fanout.max(1)).unwrap_or(u32::MAX);
    let mut template = vec![0u8; plan.payload.max(HEADER_LEN)];
    template.fill(b'm');
    let mut msg = Publish {
        dup: false,
        qos_pid: QosPid::Level0,
        retain: false,
        topic: ByteStr::from(plan.topic.as_str()),
        properties: Props::default(),
        payload: Bytes::from(template),
    };
    let max_inflight = usize::from(plan.inflight.min(c.receive_maximum).max(1));
    let mut pids = PidPool::default();
    let mut result = PubResult::default();
    let start = Instant::now();
    let publisher_id = plan.index as u64;
    let mut seq: u64 = 0;
    loop {
        let now = Instant::now();
        if now >= plan.until {
            break;
        }
        let room = if plan.qos == QoS::AtMostOnce {
            plan.batch
        } else {
            max_inflight
                .saturating_sub(pids.in_flight())
                .min(plan.batch)
        };
        let due = match plan.rate {
            None => room,
            Some(rate) => {
                let elapsed = now.duration_since(start).as_secs_f64();
                #[expect(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "a message count within the run"
                )]
                let target = (elapsed * f64::from(rate)) as u64 + 1;
                room.min(usize::try_from(target.saturating_sub(seq)).unwrap_or(usize::MAX))
            }
        };
        let mut n = take_credits(credits, cost, due);
        if n == 0 {
            // Paced and ahead of schedule: sleep until the next message is due. Otherwise
            // wait for acks, credit, or the end.
            let wake = match plan.rate {
                #[expect(clippy::cast_precision_loss, reason = "seconds within the run")]
                Some(rate) if due == 0 && room > 0 => {
                    start + Duration::from_secs_f64(seq as f64 / f64::from(rate))
                }
                _ => plan.until,
            };
            tokio::select! {
                biased;
                r = c.fill() => {
                    if !r? {
                        return Err(BenchError::Protocol("broker closed a publisher".into()));
                    }
                }
                p = credits.acquire_many(cost), if due > 0 => {
                    if let Ok(p) = p {
                        p.forget();
                        n = 1 + take_credits(credits, cost, due - 1);
                    }
                }
                () = tokio::time::sleep_until(wake.into()) => {}
                () = tokio::time::sleep(CREDIT_STALL), if due > 0 => {
                    // Deliveries were lost (QoS 0) or the broker is stuck: start afresh.
                    result.stalls += 1;
                    let missing = shared.credit_window.saturating_sub(credits.available_permits());
                    credits.add_permits(missing);
                }
            }
        }
        handle_acks(&mut c, &mut pids)?;
        if n > 0 {
            let sent_ns = shared.now_ns();
            for _ in 0..n {
                msg.qos_pid = match plan.qos {
                    QoS::AtMostOnce => QosPid::Level0,
                    q => {
                        let pid = pids
                            .take()
                            .ok_or_else(|| BenchError::Task("no free packet id".into()))?;
                        QosPid::new(q, pid)
                    }
                };
                c.send(&Packet::Publish(msg.clone()));
                let end = c.wbuf.len();
                let stamp = Stamp {
                    seq,
                    publisher: publisher_id,
                    sent_ns,
                };
                // The payload is the tail of what was just encoded: stamp it in place.
                if let Some(payload) = c.wbuf.get_mut(end - msg.payload.len()..end) {
                    stamp.write(payload);
                }
                seq += 1;
            }
            shared.sent[plan.index].store(seq, Ordering::Relaxed);
        }
        c.flush().await?;
    }
    result.sent = seq;
    // Collect the acks still due, within the drain time.
    let deadline = tokio::time::Instant::now() + plan.drain;
    while pids.in_flight() > 0 {
        match tokio::time::timeout_at(deadline, c.fill()).await {
            Ok(Ok(true)) => {
                handle_acks(&mut c, &mut pids)?;
                c.flush().await?;
            }
            Ok(Ok(false)) | Err(_) => break,
            Ok(Err(e)) => return Err(e),
        }
    }
    result.unacked = pids.in_flight() as u64;
    c.close().await;
    Ok(result)
}

/// Up to `want` messages' worth of credit, without waiting.
fn take_credits(credits: &Semaphore, cost: u32, want: usize) -> usize {
    if want == 0 {
        return 0;
    }
    let per = cost as usize;
    let n = (credits.available_permits() / per).min(want);
    if n == 0 {
        return 0;
    }
    match u32::try_from(n * per)
        .ok()
        .and_then(|k| credits.try_acquire_many(k).ok())
    {
        Some(p) => {
            p.forget();
            n
        }
        None => 0,
    }
}

/// Completes the QoS flows of our publishes from what the broker sent.
fn handle_acks(c: &mut Client, pids: &mut PidPool) -> Result<(), BenchError> {
    while let Some(p) = c.try_packet()? {
        match p {
            Packet::PubAck(a) | Packet::PubComp(a) => {
                pids.release(a.pid);
            }
            // QoS 2: the id stays in use until PUBCOMP [MQTT-4.3.3-5].
            Packet::PubRec(a) => c.send(&Packet::PubRel(Ack::new(a.pid))),
            Packet::Disconnect(d) => {
                return Err(BenchError::Protocol(format!(
                    "broker disconnected a publisher: {:?}",
                    d.reason
                )))
            }
            _ => {}
        }
    }
    Ok(())
}

/// What a subscriber saw.
#[derive(Clone, Debug, Default)]
pub struct SubResult {
    /// Indexed by publisher.
    pub trackers: Vec<SeqTracker>,
    pub latency: Histogram,
    /// Deliveries read (including duplicates).
    pub received: u64,
    /// Payloads without our header or from an unknown publisher.
    pub foreign: u64,
    /// When the last delivery was read, in ns since the epoch.
    pub last_ns: u64,
}

/// Reads deliveries until it has everything `done` says was sent by `sources`, or `stop`.
pub async fn subscriber(
    mut c: Client,
    sources: Vec<usize>,
    shared: Arc<Shared>,
    mut done: watch::Receiver<bool>,
    mut stop: watch::Receiver<bool>,
) -> Result<SubResult, BenchError> {
    let publishers = shared.sent.len();
    let mut r = SubResult {
        trackers: vec![SeqTracker::default(); publishers],
        ..SubResult::default()
    };
    let mut returned = vec![0usize; publishers];
    let mut touched: Vec<usize> = Vec::new();
    let mut unique: u64 = 0;
    loop {
        if *done.borrow() {
            let expected: u64 = sources
                .iter()
                .map(|&p| shared.sent[p].load(Ordering::Relaxed))
                .sum();
            if unique >= expected {
                break;
            }
        }
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            changed = done.changed() => {
                if changed.is_err() {
                    break;
                }
                continue;
            }
            res = c.fill() => {
                if !res? {
                    return Err(BenchError::Protocol("broker closed a subscriber".into()));
                }
            }
        }
        let now = shared.now_ns();
        let mut batch = 0u64;
        while let Some(p) = c.try_packet()? {
            match p {
                Packet::Publish(p) => {
                    batch += 1;
                    if let Some(ack) = Packet::publish_ack(p.qos_pid) {
                        c.send(&ack);
                    }
                    let Some(stamp) = Stamp::read(&p.payload) else {
                        r.foreign += 1;
                        continue;
                    };
                    let Some(src) = usize::try_from(stamp.publisher)
                        .ok()
                        .filter(|&i| i < publishers)
                    else {
                        r.foreign += 1;
                        continue;
                    };
                    let before = r.trackers[src].unique;
                    r.trackers[src].record(stamp.seq);
                    unique += r.trackers[src].unique - before;
                    r.latency.record(now.saturating_sub(stamp.sent_ns));
                    if returned[src] == 0 {
                        touched.push(src);
                    }
                    returned[src] += 1;
                }
                Packet::PubRel(a) => c.send(&Packet::PubComp(Ack::new(a.pid))),
                Packet::Disconnect(d) => {
                    return Err(BenchError::Protocol(format!(
                        "broker disconnected a subscriber: {:?}",
                        d.reason
                    )))
                }
                _ => {}
            }
        }
        for src in touched.drain(..) {
            shared.credits[src].add_permits(returned[src]);
            returned[src] = 0;
        }
        if batch > 0 {
            r.received += batch;
            r.last_ns = now;
            shared.received.fetch_add(batch, Ordering::Relaxed);
        }
        c.flush().await?;
    }
    c.close().await;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credits_are_taken_whole_messages_at_a_time() {
        let credits = Semaphore::new(10);
        // A fanout message to 4 subscribers costs 4: two fit in 10, leaving 2.
        assert_eq!(take_credits(&credits, 4, 5), 2);
        assert_eq!(credits.available_permits(), 2);
        assert_eq!(take_credits(&credits, 4, 5), 0, "not enough for one more");
        credits.add_permits(6);
        assert_eq!(take_credits(&credits, 1, 3), 3, "capped by what is due");
        assert_eq!(take_credits(&credits, 1, 0), 0);
        assert_eq!(credits.available_permits(), 5);
    }
}
