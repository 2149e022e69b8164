//! Session flows: QoS 1/2, windows, packet-id wrap, unexpected acks, queue bounds.
use super::*;
use crate::broker::message::Message;
use bytes::Bytes;
use std::sync::Arc;

fn delivery(qos: QoS) -> Delivery {
    Delivery {
        msg: Arc::new(Message::internal("t", Bytes::from_static(b"x"), qos, false)),
        qos,
        retain: false,
        sub_ids: vec![],
        seq: None,
    }
}

fn pid_of(o: &Outgoing) -> PacketId {
    match o {
        Outgoing::Publish { pid: Some(p), .. } | Outgoing::PubRel(p) => *p,
        Outgoing::Publish { pid: None, .. } => panic!("qos 0 has no pid"),
    }
}

fn session() -> Session {
    Session::new(Arc::from("c"), 10, 2)
}

#[test]
fn qos1_flow_and_window() {
    let now = Instant::now();
    let mut s = session();
    let a = s.start(delivery(QoS::AtLeastOnce), now);
    let b = s.start(delivery(QoS::AtLeastOnce), now);
    assert_ne!(pid_of(&a), pid_of(&b));
    assert!(!s.window_open());
    s.on_puback(pid_of(&a)).expect("in flight");
    assert!(s.window_open());
    assert_eq!(
        s.on_puback(pid_of(&a)),
        Err(SessionError::UnknownPacketId(pid_of(&a).get()))
    );
}

#[test]
fn qos2_flow() {
    let now = Instant::now();
    let mut s = session();
    let p = pid_of(&s.start(delivery(QoS::ExactlyOnce), now));
    assert!(matches!(
        s.on_puback(p),
        Err(SessionError::WrongState { .. })
    ));
    assert!(matches!(
        s.on_pubcomp(p),
        Err(SessionError::WrongState { .. })
    ));
    assert_eq!(s.on_pubrec(p, false, now), Ok(PubRecOutcome::PubRel));
    // A repeated PUBREC is answered again.
    assert_eq!(s.on_pubrec(p, false, now), Ok(PubRecOutcome::PubRel));
    s.on_pubcomp(p).expect("awaiting pubcomp");
    assert_eq!(s.inflight_len(), 0);
}

#[test]
fn refused_pubrec_ends_flow() {
    let now = Instant::now();
    let mut s = session();
    let p = pid_of(&s.start(delivery(QoS::ExactlyOnce), now));
    assert_eq!(s.on_pubrec(p, true, now), Ok(PubRecOutcome::Done));
    assert_eq!(s.inflight_len(), 0);
}

#[test]
fn resend_keeps_order_and_sets_dup() {
    let now = Instant::now();
    let mut s = Session::new(Arc::from("c"), 10, 10);
    let p1 = pid_of(&s.start(delivery(QoS::ExactlyOnce), now));
    let p2 = pid_of(&s.start(delivery(QoS::AtLeastOnce), now));
    s.on_pubrec(p1, false, now).expect("in flight");
    let out = s.resend_all(now);
    assert!(matches!(out[0], Outgoing::PubRel(p) if p == p1));
    assert!(matches!(out[1], Outgoing::Publish { pid: Some(p), dup: true, .. } if p == p2));
    assert_eq!(
        s.inflight().map(|e| e.resends).collect::<Vec<_>>(),
        vec![1, 1]
    );
}

#[test]
fn pid_wraps_without_collision() {
    let now = Instant::now();
    let mut s = Session::new(Arc::from("c"), 10, 3);
    let held = pid_of(&s.start(delivery(QoS::AtLeastOnce), now));
    for _ in 0..70_000 {
        let p = pid_of(&s.start(delivery(QoS::AtLeastOnce), now));
        assert_ne!(p, held);
        s.on_puback(p).expect("in flight");
    }
}

#[test]
fn queue_bound_and_qos0_policy() {
    let now = Instant::now();
    let mut s = Session::new(Arc::from("c"), 2, 1);
    s.enqueue(delivery(QoS::AtMostOnce), false)
        .expect("ignored, not an error");
    assert_eq!(s.queued(), 0);
    s.enqueue(delivery(QoS::AtLeastOnce), false).expect("room");
    s.enqueue(delivery(QoS::AtLeastOnce), false).expect("room");
    assert_eq!(
        s.enqueue(delivery(QoS::AtLeastOnce), false),
        Err(DropReason::QueueFull)
    );
    assert_eq!(s.dropped.queue_full, 1);
    let d = s.next_queued(now).expect("window open");
    s.start(d, now);
    assert!(s.next_queued(now).is_none(), "window of 1 is full");
}

#[test]
fn inbound_qos2_dedup() {
    let now = Instant::now();
    let mut s = session();
    let pid = NonZeroU16::new(7).expect("non-zero");
    let topic = crate::protocol::ByteStr::from("t");
    assert!(s.on_inbound_qos2(pid, &topic, now));
    assert!(!s.on_inbound_qos2(pid, &topic, now));
    assert!(s.on_pubrel(pid));
    assert!(!s.on_pubrel(pid));
}

#[test]
fn queued_bytes_follow_the_queue() {
    let now = Instant::now();
    let mut s = session();
    for _ in 0..3 {
        s.enqueue(delivery(QoS::AtLeastOnce), false).expect("room");
    }
    // QoS 0 is not kept for an offline session: no bytes either.
    s.enqueue(delivery(QoS::AtMostOnce), false)
        .expect("ignored");
    assert_eq!((s.queued(), s.queued_bytes()), (3, 3));
    let d = s.next_queued(now).expect("one");
    s.start(d, now);
    assert_eq!((s.queued(), s.queued_bytes()), (2, 2));
    s.restore_queued(delivery(QoS::ExactlyOnce));
    assert_eq!(s.queued_bytes(), 3);
}

/// The bitmap (once built) says exactly which ids the window holds.
fn assert_pids_match(s: &Session) {
    let held: std::collections::HashSet<u16> = s.inflight().map(|e| e.pid.get()).collect();
    assert_eq!(held.len(), s.inflight_len(), "ids in flight are unique");
    for p in 1..=u16::MAX {
        let pid = PacketId::new(p).expect("non-zero");
        if let Some(bit) = s.pids.contains(pid) {
            assert_eq!(bit, held.contains(&p), "id {p}");
        }
    }
}

fn stored(qos: QoS, seq: u64) -> Delivery {
    Delivery {
        seq: Some(seq),
        ..delivery(qos)
    }
}

#[test]
fn pid_set_with_65535_in_flight() {
    let now = Instant::now();
    let mut s = Session::new(Arc::from("c"), 10, u16::MAX);
    let mut seen = std::collections::HashSet::new();
    for seq in 0..65_535u64 {
        // Half are stored (ids derived from the sequence), half are not.
        let d = if seq % 2 == 0 {
            stored(QoS::AtLeastOnce, seq)
        } else {
            delivery(QoS::AtLeastOnce)
        };
        assert!(s.window_open());
        assert!(seen.insert(pid_of(&s.start(d, now))), "an id given twice");
    }
    assert!(s.pids.is_bitmap());
    assert!(!s.window_open());
    assert_pids_match(&s);
    // One id freed is the one id given next.
    let freed = PacketId::new(40_000).expect("non-zero");
    s.on_puback(freed).expect("in flight");
    assert_eq!(pid_of(&s.start(delivery(QoS::AtLeastOnce), now)), freed);
    assert_pids_match(&s);
}

#[test]
fn pid_set_derived_ids_collide_and_wrap() {
    let now = Instant::now();
    let mut s = Session::new(Arc::from("c"), 10, 1000);
    for seq in 0..100 {
        s.start(stored(QoS::AtLeastOnce, seq), now);
    }
    assert!(s.pids.is_bitmap());
    // seq + 65,535 derives the id seq already holds: another one is given.
    let p = pid_of(&s.start(stored(QoS::AtLeastOnce, 65_535 + 7), now));
    assert_ne!(p.get(), 8);
    assert_pids_match(&s);
    // Once that id is free, the derived one is used again.
    s.on_puback(PacketId::new(8).expect("non-zero"))
        .expect("in flight");
    let p = pid_of(&s.start(stored(QoS::AtLeastOnce, 65_535 * 2 + 7), now));
    assert_eq!(p.get(), 8);
    // Plain ids wrap past 65,535 (skipping 0) around the ones held.
    for _ in 0..140_000 {
        let p = pid_of(&s.start(delivery(QoS::AtLeastOnce), now));
        assert!(p.get() > 101, "{p:?} is held");
        s.on_puback(p).expect("in flight");
    }
    assert_pids_match(&s);
}

#[test]
fn pid_set_follows_every_way_out() {
    let now = Instant::now();
    let mut s = Session::new(Arc::from("c"), 10, 500);
    let mut pids = Vec::new();
    for i in 0..300u64 {
        let qos = if i % 3 == 0 {
            QoS::ExactlyOnce
        } else {
            QoS::AtLeastOnce
        };
        pids.push((qos, pid_of(&s.start(stored(qos, i * 11), now))));
    }
    for (i, (qos, p)) in pids.iter().enumerate() {
        match (qos, i % 4) {
            (QoS::AtLeastOnce, 0 | 1) => s.on_puback(*p).expect("in flight"),
            (QoS::ExactlyOnce, 0) => {
                // Refused: the flow ends at PUBREC.
                s.on_pubrec(*p, true, now).expect("in flight");
            }
            (QoS::ExactlyOnce, 1 | 2) => {
                s.on_pubrec(*p, false, now).expect("in flight");
                if i % 4 == 1 {
                    s.on_pubcomp(*p).expect("awaiting pubcomp");
                }
            }
            _ => {}
        }
    }
    assert_pids_match(&s);
    // A resend keeps every id, in order.
    let before: Vec<PacketId> = s.inflight().map(|e| e.pid).collect();
    let out: Vec<PacketId> = s.resend_all(now).iter().map(pid_of).collect();
    assert_eq!(out, before);
    assert_pids_match(&s);
    // New messages never take an id the resend kept.
    for seq in 0..1000u64 {
        if !s.window_open() {
            break;
        }
        let p = pid_of(&s.start(stored(QoS::AtLeastOnce, seq * 11), now));
        assert!(!before.contains(&p));
    }
    assert_pids_match(&s);
}

#[test]
fn pid_set_frees_ids_of_messages_expired_at_resend() {
    let now = Instant::now();
    let mut s = Session::new(Arc::from("c"), 10, 100);
    let mut expiring = Message::internal("t", Bytes::from_static(b"x"), QoS::AtLeastOnce, false);
    expiring.expires_at = Some(now);
    let expiring = Arc::new(expiring);
    let mut gone = Vec::new();
    for i in 0..64 {
        let mut d = delivery(QoS::AtLeastOnce);
        if i % 2 == 0 {
            d.msg = expiring.clone();
        }
        let p = pid_of(&s.start(d, now));
        if i % 2 == 0 {
            gone.push(p);
        }
    }
    assert!(s.pids.is_bitmap());
    let out = s.resend_all(now);
    assert_eq!(out.len(), 32);
    assert_pids_match(&s);
    for p in gone {
        assert_eq!(s.pids.contains(p), Some(false));
    }
}
