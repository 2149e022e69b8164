//! Why a connection ends (`Error`) or is refused at CONNECT (`Refusal`): each variant
//! carries its context and the rule it enforces, and maps to the reason code midge sends
//! (DISCONNECT or CONNACK) through one function, as `protocol::DecodeError` does.

use std::time::Duration;

use crate::broker::session::SessionError;
use crate::protocol::{DecodeError, ReasonCode};
use crate::transport::connection::ReadError;

/// Why the client task ended a connection past CONNECT.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// EOF between packets: the client went away without DISCONNECT.
    #[error("closed by the client")]
    Closed,
    /// The socket failed, or ended in the middle of a packet.
    #[error("read: {0}")]
    Read(#[source] ReadError),
    #[error("write: {0}")]
    Write(#[source] std::io::Error),
    /// A packet the decoder rejected.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// Nothing from the client within 1.5 × keep-alive [MQTT-3.1.2-24].
    #[error("keep-alive timeout: nothing within {0:?}")]
    KeepAlive(Duration),
    /// More unreleased QoS 2 messages than our Receive Maximum [MQTT-3.3.4-9].
    #[error("receive maximum {0} exceeded")]
    ReceiveMaximum(u16),
    /// [MQTT-3.3.2-8], [MQTT-3.3.2-9]: 0 or above the Topic Alias Maximum we announced.
    #[error("topic alias {alias} out of range 1..={max}")]
    TopicAliasOutOfRange { alias: u16, max: u16 },
    /// An empty topic with an alias never set on this connection.
    #[error("unknown topic alias {0}")]
    UnknownTopicAlias(u16),
    /// `max_topic_length` / `max_topic_levels` of the configuration.
    #[error("topic of {len} bytes exceeds the configured limits")]
    TopicTooLong { len: usize },
    /// [MQTT-3.3.4-6]: only the server sends Subscription Identifiers.
    #[error("subscription identifier from a client [MQTT-3.3.4-6]")]
    SubscriptionIdFromClient,
    /// [MQTT-3.8.3-4]
    #[error("No Local on a shared subscription [MQTT-3.8.3-4]")]
    NoLocalOnShared,
    /// A session that was to end at disconnect can't be extended there [MQTT-3.14.2-2].
    #[error("session expiry set on DISCONNECT after 0 at CONNECT [MQTT-3.14.2-2]")]
    SessionExpiryOnDisconnect,
    /// No authentication method was agreed at CONNECT [MQTT-4.12.0-1].
    #[error("AUTH without an authentication method [MQTT-4.12.0-1]")]
    AuthWithoutMethod,
    /// A second CONNECT [MQTT-3.1.0-2] or a server-to-client packet.
    #[error("unexpected {0} from a client")]
    UnexpectedPacket(&'static str),
    /// An acknowledgement out of order for our delivery's state.
    #[error(transparent)]
    Session(SessionError),
    /// The store refused a v3 client's message: v3 has no failure acknowledgement, so the
    /// connection is closed and the client resends later.
    #[error("the store refused a message")]
    StoreRefused,
    /// The router is gone.
    #[error("broker shutting down")]
    Shutdown,
}

impl Error {
    /// The v5 reason code of the DISCONNECT that answers this error; `None` when the
    /// connection is already gone (or broken) and nothing is sent.
    pub fn reason_code(&self) -> Option<ReasonCode> {
        Some(match self {
            Self::Closed | Self::Write(_) => return None,
            Self::Read(ReadError::Decode(e)) | Self::Decode(e) => e.reason_code(),
            Self::Read(_) => return None,
            Self::KeepAlive(_) => ReasonCode::KeepAliveTimeout,
            Self::ReceiveMaximum(_) => ReasonCode::ReceiveMaximumExceeded,
            Self::TopicAliasOutOfRange { .. } => ReasonCode::TopicAliasInvalid,
            Self::TopicTooLong { .. } => ReasonCode::TopicNameInvalid,
            Self::UnknownTopicAlias(_)
            | Self::SubscriptionIdFromClient
            | Self::NoLocalOnShared
            | Self::SessionExpiryOnDisconnect
            | Self::AuthWithoutMethod
            | Self::UnexpectedPacket(_)
            | Self::Session(_) => ReasonCode::ProtocolError,
            // Only v3 clients get here, and v3 has no DISCONNECT from the server.
            Self::StoreRefused => ReasonCode::QuotaExceeded,
            Self::Shutdown => ReasonCode::ServerShuttingDown,
        })
    }
}

/// Why a CONNECT was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("no CONNECT within the connect timeout")]
    ConnectTimeout,
    /// [MQTT-3.1.0-1]
    #[error("first packet is {0}, not CONNECT [MQTT-3.1.0-1]")]
    NotConnect(&'static str),
    #[error("closed before CONNECT")]
    Closed,
    #[error("bad CONNECT: {0}")]
    BadConnect(#[source] ReadError),
    /// [MQTT-3.1.2-2]
    #[error("unsupported protocol level {0} [MQTT-3.1.2-2]")]
    UnsupportedVersion(u8),
    /// An empty identifier without a clean session [MQTT-3.1.3-8].
    #[error("empty client identifier without clean session [MQTT-3.1.3-8]")]
    EmptyClientId,
    /// Enhanced authentication is not offered [MQTT-4.12.0-1].
    #[error("authentication method {0:?} is not supported [MQTT-4.12.0-1]")]
    AuthMethod(String),
    /// The password file (or anonymous access) said no.
    #[error("authentication failed for {username:?}: {reason:?}")]
    Authentication {
        username: Option<String>,
        reason: ReasonCode,
    },
    /// The will topic is reserved for the broker or denied by the ACL.
    #[error("will topic {0:?} not allowed")]
    WillTopic(String),
    /// A v3 client asking for more keep-alive than the maximum (as Mosquitto refuses).
    #[error("keep-alive {asked} s above the maximum {max} s")]
    KeepAlive { asked: u16, max: u16 },
    /// No randomness for an assigned client identifier.
    #[error("no random identifier: {0}")]
    NoRandom(getrandom::Error),
    #[error("broker shutting down")]
    Shutdown,
    /// Another connection with this identifier took the slot first.
    #[error("session taken over by a newer connection")]
    TakenOver,
}

impl Refusal {
    /// The reason code of the refusing CONNACK (the encoder maps it to a v3 return code);
    /// `None`: the connection is closed without one.
    pub fn reason_code(&self) -> Option<ReasonCode> {
        Some(match self {
            Self::ConnectTimeout | Self::NotConnect(_) | Self::Closed | Self::BadConnect(_) => {
                return None
            }
            Self::UnsupportedVersion(_) => ReasonCode::UnsupportedProtocolVersion,
            // v3 has no better return code for a keep-alive refusal (Mosquitto sends 0x02).
            Self::EmptyClientId | Self::KeepAlive { .. } => ReasonCode::ClientIdentifierNotValid,
            Self::AuthMethod(_) => ReasonCode::BadAuthenticationMethod,
            Self::Authentication { reason, .. } => *reason,
            Self::WillTopic(_) => ReasonCode::NotAuthorized,
            Self::NoRandom(_) | Self::Shutdown => ReasonCode::ServerUnavailable,
            Self::TakenOver => ReasonCode::SessionTakenOver,
        })
    }
}
