//! Arbitrary bytes into the MQTT decoder, for each protocol version. Whatever decodes is
//! encoded again: `encoded_len` must be exact and the encoding must decode to the same packet.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use midge::protocol::{decode, encode, encoded_len, Packet, ProtocolVersion};

const VERSIONS: [ProtocolVersion; 3] = [
    ProtocolVersion::V3_1,
    ProtocolVersion::V3_1_1,
    ProtocolVersion::V5,
];

fuzz_target!(|data: &[u8]| {
    for version in VERSIONS {
        let mut buf = BytesMut::from(data);
        while let Ok(Some(packet)) = decode(&mut buf, version, 1 << 20) {
            let mut out = BytesMut::new();
            encode(&packet, version, &mut out);
            assert_eq!(out.len(), encoded_len(&packet, version));
            // CONNECT is encoded for the version it carries.
            let again_version = match &packet {
                Packet::Connect(c) => c.protocol,
                _ => version,
            };
            let again = decode(&mut out, again_version, u32::MAX);
            assert_eq!(again, Ok(Some(packet)));
            assert!(out.is_empty());
        }
    }
});
