//! Property-based tests: encode → decode is the identity, `encoded_len` is exact, and no
//! input (random or a mutated valid packet) makes the decoder panic.

use bytes::BytesMut;
use proptest::collection::vec;
use proptest::prelude::*;

use super::super::{decode, encode, encoded_len, ProtocolVersion};
use super::arb::packet;
use super::{V3_1, V4, V5};

fn version() -> impl Strategy<Value = ProtocolVersion> {
    prop_oneof![Just(V3_1), Just(V4), Just(V5)]
}

/// Decodes until the buffer is exhausted or an error; re-encodes what decodes, which must
/// decode to the same packet again.
fn drain(bytes: &[u8], v: ProtocolVersion) {
    let mut buf = BytesMut::from(bytes);
    while let Ok(Some(p)) = decode(&mut buf, v, 1 << 20) {
        let mut again = BytesMut::new();
        encode(&p, v, &mut again);
        assert_eq!(again.len(), encoded_len(&p, v));
        let v2 = match &p {
            super::Packet::Connect(c) => c.protocol,
            _ => v,
        };
        assert_eq!(decode(&mut again, v2, 1 << 20), Ok(Some(p)));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn v5_round_trip(p in packet(V5)) {
        let mut buf = BytesMut::new();
        encode(&p, V5, &mut buf);
        prop_assert_eq!(buf.len(), encoded_len(&p, V5));
        prop_assert_eq!(decode(&mut buf, V5, u32::MAX), Ok(Some(p)));
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn v3_1_1_round_trip(p in packet(V4)) {
        let mut buf = BytesMut::new();
        encode(&p, V4, &mut buf);
        prop_assert_eq!(buf.len(), encoded_len(&p, V4));
        prop_assert_eq!(decode(&mut buf, V4, u32::MAX), Ok(Some(p)));
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn v3_1_round_trip(p in packet(V3_1)) {
        let mut buf = BytesMut::new();
        encode(&p, V3_1, &mut buf);
        prop_assert_eq!(buf.len(), encoded_len(&p, V3_1));
        prop_assert_eq!(decode(&mut buf, V3_1, u32::MAX), Ok(Some(p)));
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..256), v in version()) {
        drain(&bytes, v);
    }

    #[test]
    fn mutated_packets_never_panic(
        p in packet(V5),
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        v in version(),
    ) {
        let mut buf = BytesMut::new();
        encode(&p, V5, &mut buf);
        for (at, byte) in edits {
            let i = at.index(buf.len());
            buf[i] = byte;
        }
        drain(&buf, v);
    }
}
