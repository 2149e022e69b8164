//! Codec tests: byte tables from the spec's layouts, every rejected input, partial input,
//! and property-based round trips.

mod arb;
mod errors;
mod partial;
mod props;
mod roundtrip;
mod tables;

use bytes::BytesMut;

use super::{decode, encode, encoded_len, ByteStr, DecodeError, Packet, PacketId, ProtocolVersion};

pub(super) const V3_1: ProtocolVersion = ProtocolVersion::V3_1;
pub(super) const V4: ProtocolVersion = ProtocolVersion::V3_1_1;
pub(super) const V5: ProtocolVersion = ProtocolVersion::V5;

pub(super) fn s(text: &str) -> ByteStr {
    ByteStr::from(text)
}

pub(super) fn pid(n: u16) -> PacketId {
    PacketId::new(n).expect("test ids are non-zero")
}

/// Decodes one whole packet and checks that exactly its bytes were consumed.
pub(super) fn dec(bytes: &[u8], v: ProtocolVersion) -> Result<Packet, DecodeError> {
    let mut buf = BytesMut::from(bytes);
    let packet = decode(&mut buf, v, 1 << 20)?.expect("a whole packet");
    assert!(buf.is_empty(), "{} bytes left over", buf.len());
    Ok(packet)
}

pub(super) fn err(bytes: &[u8], v: ProtocolVersion) -> DecodeError {
    let mut buf = BytesMut::from(bytes);
    match decode(&mut buf, v, 1 << 20) {
        Err(e) => e,
        Ok(p) => panic!("expected an error, decoded {p:?}"),
    }
}

pub(super) fn enc(packet: &Packet, v: ProtocolVersion) -> Vec<u8> {
    let mut buf = BytesMut::new();
    encode(packet, v, &mut buf);
    assert_eq!(
        buf.len(),
        encoded_len(packet, v),
        "encoded_len of {packet:?}"
    );
    buf.to_vec()
}

/// The bytes decode to `packet` and `packet` encodes to the same bytes.
pub(super) fn both_ways(bytes: &[u8], v: ProtocolVersion, packet: &Packet) {
    assert_eq!(dec(bytes, v).as_ref(), Ok(packet), "decode {bytes:02X?}");
    assert_eq!(enc(packet, v), bytes, "encode {packet:?}");
}
