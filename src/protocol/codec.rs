//! Placeholder: the codec is being written (see the protocol helper's brief).
use bytes::BytesMut;

use super::{DecodeError, Packet, ProtocolVersion};

/// Decode one packet from the front of `buf`. `Ok(None)`: not enough bytes yet (nothing is
/// consumed). `version` is the connection's negotiated version; CONNECT reads its own.
/// `max_size` bounds the whole packet (fixed header included) and is checked on the fixed
/// header, before the body arrives.
pub fn decode(
    buf: &mut BytesMut,
    version: ProtocolVersion,
    max_size: u32,
) -> Result<Option<Packet>, DecodeError> {
    let _ = (buf, version, max_size);
    todo!()
}

/// Append the encoding of `packet` for `version` to `buf`.
pub fn encode(packet: &Packet, version: ProtocolVersion, buf: &mut BytesMut) {
    let _ = (packet, version, buf);
    todo!()
}

/// The exact number of bytes `encode` would append.
pub fn encoded_len(packet: &Packet, version: ProtocolVersion) -> usize {
    let _ = (packet, version);
    todo!()
}
