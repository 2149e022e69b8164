//! Hand-written MQTT packets, straight from the spec's byte layouts and independent of
//! midge's encoder, so a shared misreading of the spec cannot hide on both sides.

/// Remaining Length / Variable Byte Integer (section 1.5.5).
pub fn varint(mut n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let mut byte = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if n == 0 {
            return out;
        }
    }
}

/// UTF-8 string / binary data with a two-byte length prefix.
pub fn s(text: impl AsRef<[u8]>) -> Vec<u8> {
    let t = text.as_ref();
    let mut out = u16::try_from(t.len())
        .expect("short string")
        .to_be_bytes()
        .to_vec();
    out.extend_from_slice(t);
    out
}

/// Fixed header + body.
pub fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    out.extend(varint(body.len()));
    out.extend_from_slice(body);
    out
}

/// A v5 property list: length prefix + the concatenated properties.
pub fn props(list: &[Vec<u8>]) -> Vec<u8> {
    let body: Vec<u8> = list.concat();
    let mut out = varint(body.len());
    out.extend(body);
    out
}

pub fn p_u8(id: u8, v: u8) -> Vec<u8> {
    vec![id, v]
}
pub fn p_u16(id: u8, v: u16) -> Vec<u8> {
    let mut out = vec![id];
    out.extend(v.to_be_bytes());
    out
}
pub fn p_u32(id: u8, v: u32) -> Vec<u8> {
    let mut out = vec![id];
    out.extend(v.to_be_bytes());
    out
}
pub fn p_var(id: u8, v: usize) -> Vec<u8> {
    let mut out = vec![id];
    out.extend(varint(v));
    out
}
pub fn p_str(id: u8, v: impl AsRef<[u8]>) -> Vec<u8> {
    let mut out = vec![id];
    out.extend(s(v));
    out
}
pub fn p_pair(k: &str, v: &str) -> Vec<u8> {
    let mut out = vec![0x26];
    out.extend(s(k));
    out.extend(s(v));
    out
}

// Property identifiers (section 2.2.2.2).
pub const PAYLOAD_FORMAT: u8 = 0x01;
pub const MESSAGE_EXPIRY: u8 = 0x02;
pub const CONTENT_TYPE: u8 = 0x03;
pub const RESPONSE_TOPIC: u8 = 0x08;
pub const CORRELATION_DATA: u8 = 0x09;
pub const SUBSCRIPTION_ID: u8 = 0x0B;
pub const SESSION_EXPIRY: u8 = 0x11;
pub const WILL_DELAY: u8 = 0x18;
pub const TOPIC_ALIAS_MAXIMUM: u8 = 0x22;
pub const TOPIC_ALIAS: u8 = 0x23;
pub const MAXIMUM_PACKET_SIZE: u8 = 0x27;

/// A will for `connect`: topic, payload, QoS, retain, v5 will properties.
pub struct Will<'a> {
    pub topic: &'a str,
    pub payload: &'a [u8],
    pub qos: u8,
    pub retain: bool,
    pub props: &'a [u8],
}

/// CONNECT (section 3.1). `level` 3 uses the name "MQIsdp"; `props` is the encoded v5
/// property list (`None` for v3).
pub fn connect(
    level: u8,
    id: &str,
    clean: bool,
    keep_alive: u16,
    props: Option<&[u8]>,
    will: Option<&Will>,
) -> Vec<u8> {
    connect_named(
        if level == 3 { "MQIsdp" } else { "MQTT" },
        level,
        id,
        clean,
        keep_alive,
        props,
        will,
    )
}

pub fn connect_named(
    name: &str,
    level: u8,
    id: &str,
    clean: bool,
    keep_alive: u16,
    props: Option<&[u8]>,
    will: Option<&Will>,
) -> Vec<u8> {
    let mut flags = 0u8;
    if clean {
        flags |= 0x02;
    }
    if let Some(w) = will {
        flags |= 0x04 | (w.qos << 3);
        if w.retain {
            flags |= 0x20;
        }
    }
    let mut body = s(name);
    body.push(level);
    body.push(flags);
    body.extend(keep_alive.to_be_bytes());
    if level == 5 {
        body.extend_from_slice(props.unwrap_or(&[0]));
    }
    body.extend(s(id));
    if let Some(w) = will {
        if level == 5 {
            body.extend_from_slice(if w.props.is_empty() { &[0] } else { w.props });
        }
        body.extend(s(w.topic));
        body.extend(s(w.payload));
    }
    packet(0x10, &body)
}

/// PUBLISH (section 3.3). `props` is `Some` for v5.
pub fn publish(
    topic: &str,
    qos: u8,
    pid: u16,
    dup: bool,
    retain: bool,
    payload: &[u8],
    props: Option<&[u8]>,
) -> Vec<u8> {
    let mut first = 0x30 | (qos << 1);
    if dup {
        first |= 0x08;
    }
    if retain {
        first |= 0x01;
    }
    let mut body = s(topic);
    if qos > 0 {
        body.extend(pid.to_be_bytes());
    }
    if let Some(p) = props {
        body.extend_from_slice(if p.is_empty() { &[0] } else { p });
    }
    body.extend_from_slice(payload);
    packet(first, &body)
}

/// SUBSCRIBE (section 3.8): each filter with its options byte.
pub fn subscribe(pid: u16, filters: &[(&str, u8)], props: Option<&[u8]>) -> Vec<u8> {
    let mut body = pid.to_be_bytes().to_vec();
    if let Some(p) = props {
        body.extend_from_slice(if p.is_empty() { &[0] } else { p });
    }
    for (f, o) in filters {
        body.extend(s(f));
        body.push(*o);
    }
    packet(0x82, &body)
}

/// UNSUBSCRIBE (section 3.10).
pub fn unsubscribe(pid: u16, filters: &[&str], v5: bool) -> Vec<u8> {
    let mut body = pid.to_be_bytes().to_vec();
    if v5 {
        body.push(0);
    }
    for f in filters {
        body.extend(s(f));
    }
    packet(0xA2, &body)
}

pub fn puback(pid: u16) -> Vec<u8> {
    packet(0x40, &pid.to_be_bytes())
}
pub fn pubrec(pid: u16) -> Vec<u8> {
    packet(0x50, &pid.to_be_bytes())
}
pub fn pubrel(pid: u16) -> Vec<u8> {
    packet(0x62, &pid.to_be_bytes())
}
pub fn pubcomp(pid: u16) -> Vec<u8> {
    packet(0x70, &pid.to_be_bytes())
}
pub fn pingreq() -> Vec<u8> {
    vec![0xC0, 0x00]
}
/// DISCONNECT: v3 (`None`) has an empty body; v5 carries a reason code.
pub fn disconnect(reason: Option<u8>) -> Vec<u8> {
    match reason {
        None => vec![0xE0, 0x00],
        Some(r) => vec![0xE0, 0x02, r, 0x00],
    }
}
