//! MQTT control packets and their codec, sans-IO: bytes in, typed packets out, and back.
//!
//! Owns the wire format of MQTT 3.1 (`MQIsdp`, level 3), 3.1.1 (level 4) and 5.0 (level 5):
//! every packet type, every v5 property and reason code, topic name/filter validation and
//! matching. No I/O and no broker policy live here.
//!
//! Entry points: [`decode`] (incremental, from a growing `BytesMut`) and [`encode`].
//!
//! Layout: `codec` (fixed header, size limit, dispatch), `wire` (integers, varints, strings),
//! `properties` (every v5 property, allowed sets, duplicates), one file per packet (`connect`,
//! `connack`, `publish`, `ack` for PUBACK/PUBREC/PUBREL/PUBCOMP, `subscribe`, `suback`,
//! `unsubscribe`, `unsuback`, `disconnect`, `auth`), `tests/` (byte tables, rejected inputs,
//! partial input, proptest round trips). `fuzz/` at the repository root fuzzes [`decode`].

mod ack;
mod auth;
mod codec;
mod connack;
mod connect;
mod disconnect;
mod error;
mod properties;
mod publish;
mod reason;
mod suback;
mod subscribe;
pub mod topic;
mod types;
mod unsuback;
mod unsubscribe;
mod wire;

pub use codec::{decode, encode, encoded_len, frame_len};
pub use error::DecodeError;
pub use publish::PublishRef;
pub use reason::ReasonCode;
pub use types::*;

#[cfg(test)]
mod tests;
