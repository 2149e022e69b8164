//! The broker's durable records: how retained messages, sessions, queued/in-flight
//! deliveries and inbound QoS 2 ids are laid out as keys and values in the store, and how
//! they come back at start-up. Messages are stored as MQTT 5 PUBLISH packets (our own
//! codec), so every property round-trips exactly.

use std::num::NonZeroU16;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::protocol::{
    self, Packet, ProtocolVersion, QoS, QosPid, RetainHandling, SubscriptionOptions,
};

use super::clock;
use super::message::Message;

/// First byte of every value: bump when a layout changes.
const RECORD_VERSION: u8 = 1;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordError {
    #[error("record truncated")]
    Truncated,
    #[error("record written by a newer midge (layout {0})")]
    NewerVersion(u8),
    #[error("bad record: {0}")]
    Bad(&'static str),
}

pub use crate::os::unix_ms_now;

/// Wall-clock ms for an `Instant` (past or future), relative to now.
fn instant_to_unix(t: Instant, now: Instant, now_ms: u64) -> u64 {
    if t >= now {
        now_ms + t.duration_since(now).as_millis() as u64
    } else {
        now_ms.saturating_sub(now.duration_since(t).as_millis() as u64)
    }
}

fn unix_to_instant(ms: u64, now: Instant, now_ms: u64) -> Instant {
    if ms >= now_ms {
        now + Duration::from_millis(ms - now_ms)
    } else {
        now.checked_sub(Duration::from_millis(now_ms - ms))
            .unwrap_or(now)
    }
}

fn put_str(b: &mut BytesMut, s: &str) {
    b.put_u16(s.len() as u16);
    b.put_slice(s.as_bytes());
}

fn get_u8(b: &mut Bytes) -> Result<u8, RecordError> {
    if b.remaining() < 1 {
        return Err(RecordError::Truncated);
    }
    Ok(b.get_u8())
}
fn get_u16(b: &mut Bytes) -> Result<u16, RecordError> {
    if b.remaining() < 2 {
        return Err(RecordError::Truncated);
    }
    Ok(b.get_u16())
}
fn get_u32(b: &mut Bytes) -> Result<u32, RecordError> {
    if b.remaining() < 4 {
        return Err(RecordError::Truncated);
    }
    Ok(b.get_u32())
}
fn get_u64(b: &mut Bytes) -> Result<u64, RecordError> {
    if b.remaining() < 8 {
        return Err(RecordError::Truncated);
    }
    Ok(b.get_u64())
}
fn get_str(b: &mut Bytes) -> Result<String, RecordError> {
    let n = usize::from(get_u16(b)?);
    if b.remaining() < n {
        return Err(RecordError::Truncated);
    }
    String::from_utf8(b.split_to(n).to_vec()).map_err(|_| RecordError::Bad("utf-8"))
}
fn check_version(b: &mut Bytes) -> Result<(), RecordError> {
    match get_u8(b)? {
        RECORD_VERSION => Ok(()),
        v if v > RECORD_VERSION => Err(RecordError::NewerVersion(v)),
        _ => Err(RecordError::Bad("unknown layout")),
    }
}

/// A message: expiry (unix ms, 0 = none), publisher, then the PUBLISH packet.
pub fn encode_message(msg: &Message, out: &mut BytesMut) {
    // The clocks are read only for a message that expires (most do not).
    let expires = msg.expires_at.map_or(0, |t| {
        instant_to_unix(t, clock::now(), unix_ms_now()).max(1)
    });
    let publisher = msg.publisher.as_deref().unwrap_or("");
    // Room for all of it up front: the PUBLISH's fixed part and properties are small.
    out.reserve(10 + publisher.len() + 16 + msg.topic.len() + msg.payload.len() + 64);
    out.put_u64(expires);
    put_str(out, publisher);
    let placeholder = NonZeroU16::MIN;
    protocol::PublishRef {
        dup: false,
        qos_pid: QosPid::new(msg.qos, placeholder),
        retain: msg.retain,
        topic: &msg.topic,
        properties: msg.properties(),
        extra: None,
        payload: &msg.payload,
    }
    .encode(ProtocolVersion::V5, out);
}

pub fn decode_message(b: &mut Bytes) -> Result<Message, RecordError> {
    let expires = get_u64(b)?;
    let publisher = get_str(b)?;
    let mut buf = BytesMut::from(&b[..]);
    b.advance(b.remaining());
    let Ok(Some(Packet::Publish(p))) = protocol::decode(&mut buf, ProtocolVersion::V5, u32::MAX)
    else {
        return Err(RecordError::Bad("stored PUBLISH"));
    };
    let now = clock::now();
    Ok(Message {
        topic: p.topic,
        payload: p.payload,
        qos: p.qos_pid.qos(),
        retain: p.retain,
        properties: p.properties,
        expires_at: (expires != 0).then(|| unix_to_instant(expires, now, unix_ms_now())),
        publisher: (!publisher.is_empty()).then(|| Arc::from(publisher)),
        received_at: now,
        origin: std::sync::OnceLock::new(),
    })
}

pub fn retained_value(msg: &Message) -> Vec<u8> {
    let mut b = BytesMut::with_capacity(64 + msg.payload.len());
    b.put_u8(RECORD_VERSION);
    encode_message(msg, &mut b);
    b.to_vec()
}

pub fn decode_retained(value: &[u8]) -> Result<Message, RecordError> {
    let mut b = Bytes::copy_from_slice(value);
    check_version(&mut b)?;
    decode_message(&mut b)
}

/// Key of a queued delivery: client id, 0x00, sequence (big-endian, so keys sort in
/// delivery order). Client ids never contain U+0000 [MQTT-1.5.4-2].
pub fn queue_key(client: &str, seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(client.len() + 9);
    k.extend_from_slice(client.as_bytes());
    k.push(0);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

pub fn split_queue_key(key: &[u8]) -> Option<(&str, u64)> {
    let n = key.len().checked_sub(9)?;
    if key[n] != 0 {
        return None;
    }
    let seq = u64::from_be_bytes(key[n + 1..].try_into().ok()?);
    Some((std::str::from_utf8(&key[..n]).ok()?, seq))
}

/// Inbound QoS 2 id awaiting PUBREL: client id, 0x00, packet id.
pub fn inbound_key(client: &str, pid: u16) -> Vec<u8> {
    let mut k = Vec::with_capacity(client.len() + 3);
    k.extend_from_slice(client.as_bytes());
    k.push(0);
    k.extend_from_slice(&pid.to_be_bytes());
    k
}

pub fn split_inbound_key(key: &[u8]) -> Option<(&str, NonZeroU16)> {
    let n = key.len().checked_sub(3)?;
    if key[n] != 0 {
        return None;
    }
    let pid = u16::from_be_bytes([key[n + 1], key[n + 2]]);
    Some((std::str::from_utf8(&key[..n]).ok()?, NonZeroU16::new(pid)?))
}

/// Where a stored delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueState {
    /// Not sent yet (or sent without a recorded packet id).
    Queued,
    /// QoS 2: PUBREC received, PUBREL sent with this id.
    Released(NonZeroU16),
}

#[derive(Debug)]
pub struct QueueRecord {
    pub state: QueueState,
    pub qos: QoS,
    pub retain: bool,
    pub sub_ids: Vec<u32>,
    pub msg: Message,
}

pub fn queue_value(
    state: QueueState,
    qos: QoS,
    retain: bool,
    sub_ids: &[u32],
    encoded_msg: &[u8],
) -> Vec<u8> {
    // Built in the Vec it is returned as (one allocation, one copy of the message).
    let mut b = Vec::with_capacity(8 + sub_ids.len().min(255) * 4 + encoded_msg.len());
    b.put_u8(RECORD_VERSION);
    match state {
        QueueState::Queued => {
            b.put_u8(0);
            b.put_u16(0);
        }
        QueueState::Released(pid) => {
            b.put_u8(2);
            b.put_u16(pid.get());
        }
    }
    b.put_u8(qos as u8);
    b.put_u8(u8::from(retain));
    b.put_u8(sub_ids.len().min(255) as u8);
    for id in sub_ids.iter().take(255) {
        b.put_u32(*id);
    }
    b.put_slice(encoded_msg);
    b
}

pub fn decode_queue(value: &[u8]) -> Result<QueueRecord, RecordError> {
    let mut b = Bytes::copy_from_slice(value);
    check_version(&mut b)?;
    let state = get_u8(&mut b)?;
    let pid = get_u16(&mut b)?;
    let state = match (state, NonZeroU16::new(pid)) {
        (0, _) => QueueState::Queued,
        (2, Some(pid)) => QueueState::Released(pid),
        _ => return Err(RecordError::Bad("queue state")),
    };
    let qos = QoS::try_from(get_u8(&mut b)?).map_err(|_| RecordError::Bad("qos"))?;
    let retain = get_u8(&mut b)? != 0;
    let n = get_u8(&mut b)?;
    let mut sub_ids = Vec::with_capacity(usize::from(n));
    for _ in 0..n {
        sub_ids.push(get_u32(&mut b)?);
    }
    let msg = decode_message(&mut b)?;
    Ok(QueueRecord {
        state,
        qos,
        retain,
        sub_ids,
        msg,
    })
}

/// A persistent session: expiry, when it went offline, subscriptions, a delayed will.
#[derive(Debug, PartialEq)]
pub struct SessionRecord {
    pub session_expiry: u32,
    /// Unix ms; 0 while online.
    pub disconnected_at_ms: u64,
    pub subscriptions: Vec<(String, SubscriptionOptions, Option<u32>)>,
    /// (fires at unix ms, the will as a message)
    pub will: Option<(u64, Vec<u8>)>,
}

fn options_byte(o: &SubscriptionOptions) -> u8 {
    (o.qos as u8)
        | (u8::from(o.no_local) << 2)
        | (u8::from(o.retain_as_published) << 3)
        | ((o.retain_handling as u8) << 4)
}

fn options_from(b: u8) -> Result<SubscriptionOptions, RecordError> {
    Ok(SubscriptionOptions {
        qos: QoS::try_from(b & 3).map_err(|_| RecordError::Bad("qos"))?,
        no_local: b & 4 != 0,
        retain_as_published: b & 8 != 0,
        retain_handling: match (b >> 4) & 3 {
            0 => RetainHandling::OnSubscribe,
            1 => RetainHandling::OnNewSubscribe,
            2 => RetainHandling::Never,
            _ => return Err(RecordError::Bad("retain handling")),
        },
    })
}

pub fn session_value(r: &SessionRecord) -> Vec<u8> {
    let mut b = BytesMut::with_capacity(64);
    b.put_u8(RECORD_VERSION);
    b.put_u32(r.session_expiry);
    b.put_u64(r.disconnected_at_ms);
    b.put_u32(r.subscriptions.len() as u32);
    for (filter, o, id) in &r.subscriptions {
        put_str(&mut b, filter);
        b.put_u8(options_byte(o));
        b.put_u32(id.unwrap_or(0));
    }
    match &r.will {
        None => b.put_u8(0),
        Some((at, msg)) => {
            b.put_u8(1);
            b.put_u64(*at);
            b.put_u32(msg.len() as u32);
            b.put_slice(msg);
        }
    }
    b.to_vec()
}

pub fn decode_session(value: &[u8]) -> Result<SessionRecord, RecordError> {
    let mut b = Bytes::copy_from_slice(value);
    check_version(&mut b)?;
    let session_expiry = get_u32(&mut b)?;
    let disconnected_at_ms = get_u64(&mut b)?;
    let n = get_u32(&mut b)?;
    let mut subscriptions = Vec::new();
    for _ in 0..n {
        let f = get_str(&mut b)?;
        let o = options_from(get_u8(&mut b)?)?;
        let id = get_u32(&mut b)?;
        subscriptions.push((f, o, (id != 0).then_some(id)));
    }
    let will = match get_u8(&mut b)? {
        0 => None,
        _ => {
            let at = get_u64(&mut b)?;
            let len = get_u32(&mut b)? as usize;
            if b.remaining() < len {
                return Err(RecordError::Truncated);
            }
            Some((at, b.split_to(len).to_vec()))
        }
    };
    Ok(SessionRecord {
        session_expiry,
        disconnected_at_ms,
        subscriptions,
        will,
    })
}

/// A will stored in a session record, as a message.
pub fn will_bytes(msg: &Message) -> Vec<u8> {
    let mut b = BytesMut::new();
    encode_message(msg, &mut b);
    b.to_vec()
}

pub fn will_from_bytes(v: &[u8]) -> Result<Message, RecordError> {
    decode_message(&mut Bytes::copy_from_slice(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Properties;

    fn msg() -> Message {
        let mut m = Message::internal(
            "a/b",
            Bytes::from_static(b"payload"),
            QoS::ExactlyOnce,
            true,
        );
        m.properties = Properties {
            content_type: Some("text/plain".into()),
            user_properties: vec![("k".into(), "v".into())],
            ..Properties::default()
        }
        .into();
        m.expires_at = Some(Instant::now() + Duration::from_secs(60));
        m.publisher = Some(Arc::from("pub-1"));
        m
    }

    #[test]
    fn message_round_trip() {
        let m = msg();
        let back = decode_retained(&retained_value(&m)).expect("decodes");
        assert_eq!(back.topic, m.topic);
        assert_eq!(back.payload, m.payload);
        assert_eq!(back.qos, QoS::ExactlyOnce);
        assert!(back.retain);
        assert_eq!(back.properties, m.properties);
        assert_eq!(back.publisher.as_deref(), Some("pub-1"));
        let left = back.remaining_expiry(Instant::now()).expect("has expiry");
        assert!((58..=60).contains(&left), "{left}");
    }

    #[test]
    fn queue_round_trip_and_keys() {
        let m = msg();
        let mut enc = BytesMut::new();
        encode_message(&m, &mut enc);
        let pid = NonZeroU16::new(9).expect("non-zero");
        let v = queue_value(
            QueueState::Released(pid),
            QoS::AtLeastOnce,
            false,
            &[3, 7],
            &enc,
        );
        let r = decode_queue(&v).expect("decodes");
        assert_eq!(r.state, QueueState::Released(pid));
        assert_eq!(r.qos, QoS::AtLeastOnce);
        assert_eq!(r.sub_ids, vec![3, 7]);
        assert_eq!(r.msg.payload, m.payload);
        assert_eq!(split_queue_key(&queue_key("c/1", 42)), Some(("c/1", 42)));
        assert!(queue_key("a", 1) < queue_key("a", 2));
        assert_eq!(
            split_inbound_key(&inbound_key("c", 5)),
            Some(("c", pid_of(5)))
        );
    }

    fn pid_of(n: u16) -> NonZeroU16 {
        NonZeroU16::new(n).expect("non-zero")
    }

    #[test]
    fn session_round_trip() {
        let r = SessionRecord {
            session_expiry: 300,
            disconnected_at_ms: 1234,
            subscriptions: vec![(
                "$share/g/a/+".into(),
                SubscriptionOptions {
                    qos: QoS::AtLeastOnce,
                    no_local: true,
                    retain_as_published: true,
                    retain_handling: RetainHandling::Never,
                },
                Some(12),
            )],
            will: Some((99, will_bytes(&msg()))),
        };
        assert_eq!(decode_session(&session_value(&r)), Ok(r));
    }

    #[test]
    fn newer_layout_refused() {
        let mut v = retained_value(&msg());
        v[0] = 9;
        assert!(matches!(
            decode_retained(&v),
            Err(RecordError::NewerVersion(9))
        ));
        assert_eq!(decode_session(&[1, 0]), Err(RecordError::Truncated));
    }
}
