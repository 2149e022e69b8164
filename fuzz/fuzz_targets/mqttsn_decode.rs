//! Fuzzes the MQTT-SN codec: any datagram decodes or fails with a typed error, never
//! panics; whatever decodes encodes back to a datagram that decodes to the same message.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use midge::mqttsn::codec::{decode, encode};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = decode(Bytes::copy_from_slice(data)) {
        let again = decode(encode(&m)).expect("an encoded message decodes");
        assert_eq!(again, m);
    }
});
