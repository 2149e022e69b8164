//! v5 property blocks: allowed sets per packet, duplicates, value ranges, lengths.

use super::super::{Packet, Properties, Props};
use super::{dec, err, s, DecodeError, V5};
use DecodeError::{Malformed, Protocol};

const NOT_ALLOWED: DecodeError = Protocol("property not allowed in this packet");
const DUPLICATE: DecodeError = Protocol("property included more than once");

/// A v5 PUBLISH QoS 0 to "t" with the given property bytes and no payload.
fn publish(props: &[u8]) -> Vec<u8> {
    let mut body = vec![0x00, 0x01, b't', u8::try_from(props.len()).expect("short")];
    body.extend_from_slice(props);
    let mut packet = vec![0x30, u8::try_from(body.len()).expect("short")];
    packet.extend(body);
    packet
}

/// A v5 PUBACK for id 1 with reason 0x10 and the given property bytes.
fn puback(props: &[u8]) -> Vec<u8> {
    let mut body = vec![0x00, 0x01, 0x10, u8::try_from(props.len()).expect("short")];
    body.extend_from_slice(props);
    let mut packet = vec![0x40, u8::try_from(body.len()).expect("short")];
    packet.extend(body);
    packet
}

/// A v5 CONNACK (success) with the given property bytes.
fn connack(props: &[u8]) -> Vec<u8> {
    let mut body = vec![0x00, 0x00, u8::try_from(props.len()).expect("short")];
    body.extend_from_slice(props);
    let mut packet = vec![0x20, u8::try_from(body.len()).expect("short")];
    packet.extend(body);
    packet
}

#[test]
fn not_allowed_in_packet() {
    assert_eq!(err(&puback(&[0x23, 0x00, 0x01]), V5), NOT_ALLOWED);
    assert_eq!(err(&publish(&[0x11, 0, 0, 0, 1]), V5), NOT_ALLOWED);
    assert_eq!(err(&publish(&[0x18, 0, 0, 0, 1]), V5), NOT_ALLOWED);
    assert_eq!(err(&connack(&[0x23, 0x00, 0x01]), V5), NOT_ALLOWED);
    // UNSUBSCRIBE allows only User Property.
    let unsub = [0xA2, 0x08, 0x00, 0x01, 0x02, 0x0B, 0x01, 0x00, 0x01, b'a'];
    assert_eq!(err(&unsub, V5), NOT_ALLOWED);
}

#[test]
fn will_properties_are_their_own_set() {
    #[rustfmt::skip]
    let connect = |will_props: &[u8]| {
        let mut body = vec![0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00];
        body.push(u8::try_from(will_props.len()).expect("short"));
        body.extend_from_slice(will_props);
        body.extend_from_slice(&[0x00, 0x01, b't', 0x00, 0x00]);
        let mut packet = vec![0x10, u8::try_from(body.len()).expect("short")];
        packet.extend(body);
        packet
    };
    let Ok(Packet::Connect(c)) = dec(&connect(&[0x18, 0, 0, 0, 9]), V5) else {
        panic!("a CONNECT");
    };
    assert_eq!(
        c.will.map(|w| w.properties.will_delay_interval),
        Some(Some(9))
    );
    // Session Expiry belongs to CONNECT, not to the will.
    assert_eq!(err(&connect(&[0x11, 0, 0, 0, 9]), V5), NOT_ALLOWED);
}

#[test]
fn duplicates() {
    assert_eq!(
        err(&publish(&[0x02, 0, 0, 0, 1, 0x02, 0, 0, 0, 2]), V5),
        DUPLICATE
    );
    assert_eq!(
        err(&puback(&[0x1F, 0, 1, b'a', 0x1F, 0, 1, b'b']), V5),
        DUPLICATE
    );
    assert_eq!(err(&connack(&[0x25, 1, 0x25, 1]), V5), DUPLICATE);
    // SUBSCRIBE carries at most one Subscription Identifier.
    let sub = [
        0x82, 0x0A, 0x00, 0x01, 0x04, 0x0B, 0x01, 0x0B, 0x02, 0x00, 0x01, b'a', 0x00,
    ];
    assert_eq!(err(&sub, V5), DUPLICATE);
}

#[test]
fn repeatable_properties_keep_their_order() {
    #[rustfmt::skip]
    let props = [
        0x26, 0, 1, b'k', 0, 1, b'1',
        0x0B, 0x02,
        0x26, 0, 1, b'k', 0, 1, b'2',
        0x0B, 0x80, 0x01, // 128, two bytes
    ];
    let Ok(Packet::Publish(p)) = dec(&publish(&props), V5) else {
        panic!("a PUBLISH");
    };
    assert_eq!(p.properties.subscription_identifiers, vec![2, 128]);
    assert_eq!(
        p.properties.user_properties,
        vec![(s("k"), s("1")), (s("k"), s("2"))]
    );
}

#[test]
fn values_out_of_range() {
    assert_eq!(
        err(&publish(&[0x0B, 0x00]), V5),
        Protocol("Subscription Identifier of 0")
    );
    assert_eq!(
        err(&publish(&[0x23, 0, 0]), V5),
        DecodeError::TopicAliasInvalid("[MQTT-3.3.2-8] Topic Alias of 0")
    );
    assert_eq!(
        err(&publish(&[0x01, 2]), V5),
        Protocol("Payload Format Indicator must be 0 or 1")
    );
    assert_eq!(
        err(&publish(&[0x08, 0, 1, b'#']), V5),
        Protocol("[MQTT-3.3.2-14] invalid Response Topic")
    );
    assert_eq!(
        err(&connack(&[0x21, 0, 0]), V5),
        Protocol("Receive Maximum of 0")
    );
    assert_eq!(
        err(&connack(&[0x27, 0, 0, 0, 0]), V5),
        Protocol("Maximum Packet Size of 0")
    );
    assert_eq!(
        err(&connack(&[0x24, 2]), V5),
        Protocol("Maximum QoS must be 0 or 1")
    );
    assert_eq!(
        err(&connack(&[0x25, 2]), V5),
        Protocol("Retain Available must be 0 or 1")
    );
    assert_eq!(
        err(&connack(&[0x28, 2]), V5),
        Protocol("Wildcard Subscription Available must be 0 or 1")
    );
    assert_eq!(
        err(&connack(&[0x29, 2]), V5),
        Protocol("Subscription Identifier Available must be 0 or 1")
    );
    assert_eq!(
        err(&connack(&[0x2A, 2]), V5),
        Protocol("Shared Subscription Available must be 0 or 1")
    );
    #[rustfmt::skip]
    let connect = |props: &[u8]| {
        let mut body = vec![0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x02, 0x00, 0x00];
        body.push(u8::try_from(props.len()).expect("short"));
        body.extend_from_slice(props);
        body.extend_from_slice(&[0x00, 0x00]);
        let mut packet = vec![0x10, u8::try_from(body.len()).expect("short")];
        packet.extend(body);
        packet
    };
    assert_eq!(
        err(&connect(&[0x17, 2]), V5),
        Protocol("Request Problem Information must be 0 or 1")
    );
    assert_eq!(
        err(&connect(&[0x19, 2]), V5),
        Protocol("Request Response Information must be 0 or 1")
    );
    assert_eq!(
        err(&connect(&[0x21, 0, 0]), V5),
        Protocol("Receive Maximum of 0")
    );
}

#[test]
fn lengths_and_identifiers() {
    // Property length 5 in a packet with 2 bytes left.
    assert_eq!(
        err(&[0x40, 0x06, 0x00, 0x01, 0x10, 0x05, 0x1F, 0x00], V5),
        Malformed("property length runs past the end of the packet")
    );
    // A value that runs past the property block.
    assert_eq!(
        err(&puback(&[0x1F, 0x00, 0x05, b'a']), V5),
        Malformed("a field runs past the end of the packet")
    );
    assert_eq!(
        err(&publish(&[0x05, 0x00]), V5),
        Malformed("unknown property identifier")
    );
    assert_eq!(
        err(&publish(&[0x14, 0x00]), V5),
        Malformed("unknown property identifier")
    );
}

#[test]
fn every_connack_property_decodes() {
    #[rustfmt::skip]
    let props = [
        0x11, 0, 0, 0, 10,
        0x12, 0, 1, b'c',
        0x13, 0, 30,
        0x15, 0, 1, b'm',
        0x16, 0, 1, 7,
        0x1A, 0, 1, b'r',
        0x1C, 0, 1, b's',
        0x1F, 0, 1, b'w',
        0x21, 0, 5,
        0x22, 0, 6,
        0x24, 1,
        0x25, 0,
        0x27, 0, 0, 1, 0,
        0x28, 1,
        0x29, 0,
        0x2A, 1,
    ];
    let Ok(Packet::ConnAck(c)) = dec(&connack(&props), V5) else {
        panic!("a CONNACK");
    };
    let want = Properties {
        session_expiry_interval: Some(10),
        assigned_client_identifier: Some(s("c")),
        server_keep_alive: Some(30),
        authentication_method: Some(s("m")),
        authentication_data: Some(bytes::Bytes::from_static(&[7])),
        response_information: Some(s("r")),
        server_reference: Some(s("s")),
        reason_string: Some(s("w")),
        receive_maximum: Some(5),
        topic_alias_maximum: Some(6),
        maximum_qos: Some(1),
        retain_available: Some(false),
        maximum_packet_size: Some(256),
        wildcard_subscription_available: Some(true),
        subscription_identifier_available: Some(false),
        shared_subscription_available: Some(true),
        ..Properties::default()
    };
    assert_eq!(c.properties, Props::from(want));
    assert_eq!(super::enc(&Packet::ConnAck(c), V5), connack(&props));
}

/// Packets are moved several times between the socket and the router: properties live
/// behind `Props` so a packet stays small (it was 472 bytes with them inline).
#[test]
fn packets_stay_small_and_empty_properties_allocate_nothing() {
    assert!(std::mem::size_of::<Packet>() <= 96, "Packet");
    assert_eq!(std::mem::size_of::<Props>(), 8);
    // Reading an absent property allocates nothing; `from` an empty set keeps none.
    let p = Props::from(Properties::default());
    assert_eq!(p.topic_alias, None);
    assert!(p.into_box().is_none());
    // Equal whether empty ones are absent or allocated.
    let allocated = Props::from(Some(Box::<Properties>::default()));
    assert_eq!(allocated, Props::default());
}
