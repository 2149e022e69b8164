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
