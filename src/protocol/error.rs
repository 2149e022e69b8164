//! Decode errors: small, `Copy`, each naming the rule it enforces, mapped to the v5 reason
//! code the broker sends in its DISCONNECT (or CONNACK) through one function.

use super::ReasonCode;

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The fixed header announces more than the receiver's maximum packet size; raised as
    /// soon as the Remaining Length is read, before the body is buffered.
    #[error("packet of {size} bytes exceeds the maximum packet size {max}")]
    PacketTooLarge { size: usize, max: u32 },
    /// CONNECT with a protocol level this broker does not speak (CONNACK 0x01 / 0x84).
    #[error("unsupported protocol level {0}")]
    UnsupportedProtocolVersion(u8),
    /// A structural violation; the string names the rule, e.g. "[MQTT-3.3.1-4] QoS 3".
    #[error("malformed packet: {0}")]
    Malformed(&'static str),
    /// Well-formed but not allowed here, e.g. a property a packet may not carry.
    #[error("protocol error: {0}")]
    Protocol(&'static str),
    /// A Topic Alias of 0 [MQTT-3.3.2-8]: answered with 0x94, as any invalid alias.
    #[error("topic alias invalid: {0}")]
    TopicAliasInvalid(&'static str),
}

impl DecodeError {
    /// The v5 reason code for the DISCONNECT (or CONNACK) that answers this error.
    pub fn reason_code(self) -> ReasonCode {
        match self {
            Self::PacketTooLarge { .. } => ReasonCode::PacketTooLarge,
            Self::UnsupportedProtocolVersion(_) => ReasonCode::UnsupportedProtocolVersion,
            Self::Malformed(_) => ReasonCode::MalformedPacket,
            Self::Protocol(_) => ReasonCode::ProtocolError,
            Self::TopicAliasInvalid(_) => ReasonCode::TopicAliasInvalid,
        }
    }
}
