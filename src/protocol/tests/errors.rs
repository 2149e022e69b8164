//! Every malformed or forbidden input the decoder rejects, with the exact error.

use bytes::BytesMut;

use super::super::decode;
use super::{err, DecodeError, V3_1, V4, V5};
use DecodeError::{Malformed, Protocol, UnsupportedProtocolVersion};

const FLAGS: DecodeError = Malformed("[MQTT-2.2.2-2] invalid fixed header flags");
const PID0: DecodeError = Protocol("[MQTT-2.2.1-3] packet identifier 0");
const PAST_END: DecodeError = Malformed("a field runs past the end of the packet");
const TRAILING: DecodeError = Malformed("Remaining Length longer than the packet's fields");

#[test]
fn packet_too_large_from_the_fixed_header_alone() {
    let mut buf = BytesMut::from(&[0x30, 0xFF, 0xFF, 0xFF, 0x7F][..]);
    assert_eq!(
        decode(&mut buf, V4, 1000),
        Err(DecodeError::PacketTooLarge {
            size: 1 + 4 + 268_435_455,
            max: 1000
        })
    );
    // The limit counts the fixed header: a 10-byte packet fits 10, not 9.
    let publish = [0x30, 0x08, 0x00, 0x01, b'a', 1, 2, 3, 4, 5];
    assert!(decode(&mut BytesMut::from(&publish[..]), V4, 10).is_ok());
    assert_eq!(
        decode(&mut BytesMut::from(&publish[..]), V4, 9),
        Err(DecodeError::PacketTooLarge { size: 10, max: 9 })
    );
}

#[test]
fn remaining_length_longer_than_four_bytes() {
    assert_eq!(
        err(&[0x30, 0x80, 0x80, 0x80, 0x80, 0x01], V4),
        Malformed("Variable Byte Integer longer than four bytes (section 1.5.5)")
    );
}

#[test]
fn packet_types_and_fixed_header_flags() {
    assert_eq!(err(&[0x00, 0x00], V4), Malformed("reserved packet type 0"));
    assert_eq!(
        err(&[0xF0, 0x00], V4),
        Malformed("packet type 15 (AUTH) before MQTT 5")
    );
    assert_eq!(
        err(&[0xF0, 0x00], V3_1),
        Malformed("packet type 15 (AUTH) before MQTT 5")
    );
    // PUBREL, SUBSCRIBE and UNSUBSCRIBE need 0b0010; everything else but PUBLISH needs 0.
    for first in [
        0x60, 0x63, 0x80, 0xA0, 0xA3, 0x11, 0x21, 0x42, 0x58, 0x72, 0x92, 0xB1, 0xC1, 0xD8, 0xE2,
        0xF1,
    ] {
        assert_eq!(err(&[first, 0x02, 0x00, 0x01], V5), FLAGS, "{first:#04X}");
    }
}

#[test]
fn publish_flags() {
    assert_eq!(
        err(&[0x36, 0x05, 0x00, 0x01, b'a', 0x00, 0x01], V4),
        Malformed("[MQTT-3.3.1-4] PUBLISH with QoS 3")
    );
    assert_eq!(
        err(&[0x38, 0x03, 0x00, 0x01, b'a'], V4),
        Malformed("[MQTT-3.3.1-2] DUP set on a QoS 0 PUBLISH")
    );
}

#[test]
fn packet_id_zero() {
    assert_eq!(err(&[0x32, 0x05, 0x00, 0x01, b'a', 0x00, 0x00], V4), PID0);
    assert_eq!(err(&[0x40, 0x02, 0x00, 0x00], V4), PID0);
    assert_eq!(err(&[0x62, 0x02, 0x00, 0x00], V5), PID0);
    assert_eq!(
        err(&[0x82, 0x06, 0x00, 0x00, 0x00, 0x01, b'a', 0x00], V4),
        PID0
    );
    assert_eq!(err(&[0xA2, 0x05, 0x00, 0x00, 0x00, 0x01, b'a'], V4), PID0);
    assert_eq!(err(&[0x90, 0x03, 0x00, 0x00, 0x00], V4), PID0);
    assert_eq!(err(&[0xB0, 0x02, 0x00, 0x00], V4), PID0);
}

#[test]
fn topic_names() {
    let wildcard = Malformed("[MQTT-3.3.2-2] wildcard in topic name");
    assert_eq!(
        err(&[0x30, 0x05, 0x00, 0x03, b'a', b'/', b'+'], V4),
        wildcard
    );
    assert_eq!(err(&[0x30, 0x04, 0x00, 0x01, b'#', 0x00], V5), wildcard);
    assert_eq!(
        err(&[0x30, 0x02, 0x00, 0x00], V4),
        Malformed("[MQTT-4.7.3-1] empty topic name")
    );
    assert_eq!(
        err(&[0x30, 0x03, 0x00, 0x00, 0x00], V5),
        Protocol("empty topic name without a Topic Alias")
    );
    assert_eq!(
        err(&[0x30, 0x04, 0x00, 0x02, b'a', 0x00], V4),
        Malformed("[MQTT-1.5.4-2] U+0000 in a UTF-8 string")
    );
    assert_eq!(
        err(&[0x30, 0x04, 0x00, 0x02, 0xC3, 0x28], V4),
        Malformed("[MQTT-1.5.4-1] ill-formed UTF-8 string")
    );
}

/// A v3.1.1 CONNECT with `flags` and the fields they announce (each one byte long).
fn connect_with_flags(flags: u8, fields: &[u8]) -> Vec<u8> {
    let mut body = vec![
        0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, flags, 0x00, 0x00, 0x00, 0x00,
    ];
    body.extend_from_slice(fields);
    let mut packet = vec![0x10, u8::try_from(body.len()).expect("short")];
    packet.extend(body);
    packet
}

#[test]
fn connect_flags() {
    assert_eq!(
        err(&connect_with_flags(0x01, &[]), V4),
        Malformed("[MQTT-3.1.2-3] CONNECT reserved flag is not 0")
    );
    assert_eq!(
        err(&connect_with_flags(0x08, &[]), V4),
        Malformed("[MQTT-3.1.2-13] Will QoS must be 0 without a will")
    );
    assert_eq!(
        err(&connect_with_flags(0x20, &[]), V4),
        Malformed("[MQTT-3.1.2-15] Will Retain must be 0 without a will")
    );
    assert_eq!(
        err(&connect_with_flags(0x1C, &[0, 1, b't', 0, 0]), V4),
        Malformed("[MQTT-3.1.2-14] Will QoS 3")
    );
    assert_eq!(
        err(&connect_with_flags(0x40, &[0, 1, b'p']), V4),
        Malformed("[MQTT-3.1.2-22] password flag without username flag")
    );
    assert_eq!(
        err(&connect_with_flags(0x04, &[0, 1, b'+', 0, 0]), V4),
        Malformed("will topic is not a valid topic name [MQTT-4.7.3-1]")
    );
    // The username flag announces a field that is not there.
    assert_eq!(err(&connect_with_flags(0x80, &[]), V4), PAST_END);
    assert_eq!(err(&connect_with_flags(0x00, &[0xFF]), V4), TRAILING);
}

#[test]
fn connect_protocol_name_and_level() {
    let connect = |name: &[u8], level: u8| {
        let mut body = vec![0x00, u8::try_from(name.len()).expect("short")];
        body.extend_from_slice(name);
        body.extend_from_slice(&[level, 0x02, 0x00, 0x00, 0x00, 0x00]);
        let mut packet = vec![0x10, u8::try_from(body.len()).expect("short")];
        packet.extend(body);
        packet
    };
    assert_eq!(err(&connect(b"MQTT", 3), V4), UnsupportedProtocolVersion(3));
    assert_eq!(err(&connect(b"MQTT", 6), V4), UnsupportedProtocolVersion(6));
    assert_eq!(
        err(&connect(b"MQIsdp", 4), V4),
        UnsupportedProtocolVersion(4)
    );
    assert_eq!(
        err(&connect(b"MQTX", 4), V4),
        Protocol("[MQTT-3.1.2-1] unknown protocol name")
    );
    assert_eq!(
        UnsupportedProtocolVersion(6).reason_code(),
        super::super::ReasonCode::UnsupportedProtocolVersion
    );
}

#[test]
fn subscribe_payload() {
    let none = Protocol("[MQTT-3.8.3-3] SUBSCRIBE without topic filters");
    assert_eq!(err(&[0x82, 0x02, 0x00, 0x01], V4), none);
    assert_eq!(err(&[0x82, 0x03, 0x00, 0x01, 0x00], V5), none);
    let sub = |opts: u8| [0x82, 0x06, 0x00, 0x01, 0x00, 0x01, b'a', opts];
    assert_eq!(
        err(&sub(0x04), V4),
        Malformed("[MQTT-3-8.3-4] reserved bits set in the requested QoS byte")
    );
    assert_eq!(
        err(&sub(0x03), V4),
        Malformed("[MQTT-3-8.3-4] requested QoS 3")
    );
    let sub5 = |opts: u8| [0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, b'a', opts];
    assert_eq!(
        err(&sub5(0x40), V5),
        Malformed("[MQTT-3.8.3-5] reserved bits set in subscription options")
    );
    assert_eq!(
        err(&sub5(0x30), V5),
        Protocol("Retain Handling 3 (section 3.8.3.1)")
    );
    assert_eq!(
        err(&sub5(0x03), V5),
        Protocol("[MQTT-3-8.3-4] Maximum QoS 3")
    );
    // v5 options are not v3 options: No Local (0x04) is fine in v5.
    assert!(super::dec(&sub5(0x04), V5).is_ok());
    // A filter without its options byte.
    assert_eq!(
        err(&[0x82, 0x05, 0x00, 0x01, 0x00, 0x01, b'a'], V4),
        PAST_END
    );
}

#[test]
fn unsubscribe_payload() {
    let none = Protocol("[MQTT-3.10.3-2] UNSUBSCRIBE without topic filters");
    assert_eq!(err(&[0xA2, 0x02, 0x00, 0x01], V4), none);
    assert_eq!(err(&[0xA2, 0x03, 0x00, 0x01, 0x00], V5), none);
}

#[test]
fn remaining_length_inconsistent_with_body() {
    assert_eq!(err(&[0xC0, 0x01, 0x00], V4), TRAILING);
    assert_eq!(err(&[0xD0, 0x01, 0x00], V5), TRAILING);
    assert_eq!(err(&[0x40, 0x03, 0x00, 0x01, 0x00], V4), TRAILING);
    assert_eq!(err(&[0xE0, 0x01, 0x00], V4), TRAILING);
    assert_eq!(err(&[0xB0, 0x03, 0x00, 0x01, 0x00], V4), TRAILING);
    assert_eq!(err(&[0x20, 0x03, 0x00, 0x00, 0x00], V4), TRAILING);
    assert_eq!(err(&[0x30, 0x02, 0x00, 0x05], V4), PAST_END);
    assert_eq!(err(&[0x40, 0x01, 0x00], V4), PAST_END);
    assert_eq!(err(&[0x20, 0x01, 0x00], V4), PAST_END);
    // v5 CONNACK must carry its property length.
    assert_eq!(err(&[0x20, 0x02, 0x00, 0x00], V5), PAST_END);
}

#[test]
fn reason_codes() {
    let not_allowed = Malformed("reason code not allowed in this packet");
    // 0x05 is no reason code at all; 0x92 belongs to PUBREL/PUBCOMP, 0x10 to PUBACK/PUBREC.
    assert_eq!(err(&[0x40, 0x03, 0x00, 0x01, 0x05], V5), not_allowed);
    assert_eq!(err(&[0x40, 0x03, 0x00, 0x01, 0x92], V5), not_allowed);
    assert_eq!(err(&[0x62, 0x03, 0x00, 0x01, 0x10], V5), not_allowed);
    assert_eq!(err(&[0x20, 0x03, 0x00, 0x04, 0x00], V5), not_allowed);
    assert_eq!(err(&[0x90, 0x04, 0x00, 0x01, 0x00, 0x11], V5), not_allowed);
    assert_eq!(err(&[0xB0, 0x04, 0x00, 0x01, 0x00, 0x01], V5), not_allowed);
    assert_eq!(err(&[0xE0, 0x01, 0x01], V5), not_allowed);
    assert_eq!(err(&[0xF0, 0x01, 0x80], V5), not_allowed);
    // v3 CONNACK return codes stop at 5; v3 SUBACK knows 0, 1, 2 and 0x80.
    assert_eq!(
        err(&[0x20, 0x02, 0x00, 0x06], V4),
        Malformed("CONNACK return code above 5")
    );
    assert_eq!(err(&[0x90, 0x03, 0x00, 0x01, 0x87], V4), not_allowed);
    assert_eq!(
        err(&[0x20, 0x02, 0x02, 0x00], V4),
        Malformed("[MQTT-3.2.2-1] CONNACK reserved flags are not 0")
    );
}
