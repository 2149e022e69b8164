//! The protocol steps every MQTT client repeats: the CONNECT/CONNACK exchange for 3.1,
//! 3.1.1 and 5 (with `try_private`'s level | 0x80 for bridges), packet-id allocation,
//! SUBSCRIBE, and keep-alive with the round-trip time of PINGREQ → PINGRESP.

use std::num::NonZeroU16;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadHalf, WriteHalf};
use tokio::time::Instant;

use crate::protocol::{
    ByteStr, ConnAck, Connect, LastWill, Packet, Properties, ProtocolVersion, ReasonCode,
    Subscribe, SubscriptionOptions,
};
use crate::transport::connection::{PacketReader, PacketWriter, ReadError};

/// The largest packet a client accepts (the protocol's own bound).
pub const MAX_PACKET_SIZE: u32 = 268_435_455;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("connection closed")]
    Closed,
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("the broker refused the connection: {0:?}")]
    Refused(ReasonCode),
    #[error("no CONNACK from the broker")]
    NoConnAck,
    #[error("no answer from the broker within the keep-alive")]
    KeepAliveTimeout,
}

impl ClientError {
    /// Whether a v5 CONNECT failed in a way that means "this broker speaks only 3.x":
    /// refused with Unsupported Protocol Version (v3 return code 1 reads as 0x84 or
    /// fails to decode as a v5 CONNACK), or closed without a CONNACK.
    pub fn suggests_v3(&self) -> bool {
        matches!(
            self,
            Self::Refused(ReasonCode::UnsupportedProtocolVersion)
                | Self::Read(_)
                | Self::Closed
                | Self::NoConnAck
        )
    }
}

/// How a client introduces itself.
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    pub protocol: ProtocolVersion,
    pub client_id: String,
    pub username: Option<String>,
    pub password: Option<Bytes>,
    pub keep_alive_secs: u16,
    pub clean_start: bool,
    /// v5 Session Expiry Interval (seconds); v3 sessions persist unless clean.
    pub session_expiry: Option<u32>,
    /// v5 Receive Maximum: how many QoS 1/2 PUBLISHes the broker may have in flight to us.
    pub receive_maximum: Option<u16>,
    /// v3: protocol level | 0x80 (Mosquitto's `try_private`).
    pub bridge: bool,
    /// v5 CONNECT user properties.
    pub user_properties: Vec<(String, String)>,
    pub will: Option<LastWill>,
}

impl ConnectOptions {
    /// MQTT 5, clean start, no credentials.
    pub fn new(client_id: &str, keep_alive_secs: u16) -> Self {
        Self {
            protocol: ProtocolVersion::V5,
            client_id: client_id.to_owned(),
            username: None,
            password: None,
            keep_alive_secs,
            clean_start: true,
            session_expiry: None,
            receive_maximum: None,
            bridge: false,
            user_properties: Vec::new(),
            will: None,
        }
    }

    fn packet(&self) -> Packet {
        let v5 = self.protocol.is_v5();
        let properties = if v5 {
            Properties {
                session_expiry_interval: self.session_expiry,
                receive_maximum: self.receive_maximum,
                user_properties: self
                    .user_properties
                    .iter()
                    .map(|(k, v)| (ByteStr::from(k.as_str()), ByteStr::from(v.as_str())))
                    .collect(),
                ..Properties::default()
            }
        } else {
            Properties::default()
        };
        Packet::Connect(Box::new(Connect {
            protocol: self.protocol,
            clean_start: self.clean_start,
            keep_alive: self.keep_alive_secs,
            properties: properties.into(),
            client_id: ByteStr::from(self.client_id.as_str()),
            will: self.will.clone(),
            username: self.username.as_deref().map(ByteStr::from),
            password: self.password.clone(),
            bridge: self.bridge && !v5,
        }))
    }
}

/// A connection the broker accepted.
pub struct Connected<S> {
    pub reader: PacketReader<ReadHalf<S>>,
    pub writer: PacketWriter<WriteHalf<S>>,
    pub connack: ConnAck,
}

/// Send CONNECT and wait up to `timeout` for an accepting CONNACK.
///
/// # Errors
/// [`ClientError::Refused`] with the broker's reason, or the I/O / decode failure.
pub async fn handshake<S: AsyncRead + AsyncWrite + Send + 'static>(
    stream: S,
    opts: &ConnectOptions,
    timeout: Duration,
) -> Result<Connected<S>, ClientError> {
    let (r, w) = tokio::io::split(stream);
    let mut reader = PacketReader::new(r, MAX_PACKET_SIZE);
    let mut writer = PacketWriter::new(w);
    reader.version = opts.protocol;
    writer.version = opts.protocol;
    writer.push(&opts.packet());
    writer.flush().await?;
    match tokio::time::timeout(timeout, reader.read_packet()).await {
        Ok(Ok(Some(Packet::ConnAck(ack)))) if ack.reason == ReasonCode::Success => Ok(Connected {
            reader,
            writer,
            connack: ack,
        }),
        // A 3.x broker's return codes 1..=5 read as v5 reason codes below 0x80; only 1
        // (unacceptable protocol version) is sent to a level it does not know.
        Ok(Ok(Some(Packet::ConnAck(ack)))) if !ack.reason.is_error() => {
            Err(ClientError::Refused(ReasonCode::UnsupportedProtocolVersion))
        }
        Ok(Ok(Some(Packet::ConnAck(ack)))) => Err(ClientError::Refused(ack.reason)),
        Ok(Ok(None)) => Err(ClientError::Closed),
        Ok(Err(e)) => Err(e.into()),
        _ => Err(ClientError::NoConnAck),
    }
}

/// Packet identifiers 1..=65535 in turn [MQTT-2.2.1-3].
#[derive(Default, Debug)]
pub struct PidAlloc(u16);

impl PidAlloc {
    pub fn next_id(&mut self) -> NonZeroU16 {
        loop {
            self.0 = self.0.wrapping_add(1);
            if let Some(p) = NonZeroU16::new(self.0) {
                return p;
            }
        }
    }

    /// The next id for which `in_use` is false (at most 65535 tries).
    pub fn next_free(&mut self, in_use: impl Fn(NonZeroU16) -> bool) -> Option<NonZeroU16> {
        (0..u16::MAX).map(|_| self.next_id()).find(|p| !in_use(*p))
    }
}

/// A SUBSCRIBE of `filters`, each with its options.
pub fn subscribe(
    pid: NonZeroU16,
    filters: impl IntoIterator<Item = (String, SubscriptionOptions)>,
    properties: Properties,
) -> Packet {
    Packet::Subscribe(Subscribe {
        pid,
        properties: properties.into(),
        filters: filters
            .into_iter()
            .map(|(f, o)| (ByteStr::from(f.as_str()), o))
            .collect(),
    })
}

/// Keep-alive: a PINGREQ when nothing was sent for the interval, the round trip of its
/// PINGRESP, and a timeout when no answer comes within 1.5 × the interval [MQTT-3.1.2-24]
/// (the server's rule, applied by the client to notice a dead link).
#[derive(Debug)]
pub struct KeepAlive {
    interval: Duration,
    ping_sent: Option<Instant>,
    last_rtt: Option<Duration>,
}

impl KeepAlive {
    pub fn new(secs: u16) -> Self {
        Self {
            interval: Duration::from_secs(u64::from(secs.max(1))),
            ping_sent: None,
            last_rtt: None,
        }
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// The timer fired at `now`: `Ok(true)` = send a PINGREQ; an error when the last
    /// one was never answered.
    pub fn tick(&mut self, now: Instant) -> Result<bool, ClientError> {
        match self.ping_sent {
            Some(at) if now.duration_since(at) >= self.interval + self.interval / 2 => {
                Err(ClientError::KeepAliveTimeout)
            }
            Some(_) => Ok(false),
            None => {
                self.ping_sent = Some(now);
                Ok(true)
            }
        }
    }

    /// A PINGRESP arrived at `now`; returns the round-trip time.
    pub fn pong(&mut self, now: Instant) -> Option<Duration> {
        let rtt = now.duration_since(self.ping_sent.take()?);
        self.last_rtt = Some(rtt);
        Some(rtt)
    }

    pub fn last_rtt(&self) -> Option<Duration> {
        self.last_rtt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn keep_alive_measures_rtt_and_times_out() {
        let mut k = KeepAlive::new(10);
        let t0 = Instant::now();
        assert!(matches!(k.tick(t0), Ok(true)));
        assert_eq!(
            k.pong(t0 + Duration::from_millis(7)),
            Some(Duration::from_millis(7))
        );
        assert_eq!(k.pong(t0 + Duration::from_millis(8)), None, "unasked");
        let t1 = t0 + Duration::from_secs(10);
        assert!(matches!(k.tick(t1), Ok(true)));
        assert!(matches!(k.tick(t1 + Duration::from_secs(10)), Ok(false)));
        assert!(matches!(
            k.tick(t1 + Duration::from_secs(15)),
            Err(ClientError::KeepAliveTimeout)
        ));
    }

    #[test]
    fn pids_skip_zero_and_ids_in_use() {
        let mut p = PidAlloc(u16::MAX - 1);
        assert_eq!(p.next_id().get(), u16::MAX);
        assert_eq!(p.next_id().get(), 1);
        assert_eq!(p.next_free(|x| x.get() < 5).map(NonZeroU16::get), Some(5));
    }

    #[tokio::test]
    async fn a_v3_only_broker_suggests_the_fallback() {
        // A 3.1.1 broker answers a v5 CONNECT with return code 1 (unacceptable version).
        let (client, mut server) = tokio::io::duplex(1024);
        let answer = tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut buf = [0u8; 256];
            let _ = server.read(&mut buf).await;
            let _ = server.write_all(&[0x20, 0x02, 0x00, 0x01]).await;
            server
        });
        let e = handshake(
            client,
            &ConnectOptions::new("x", 10),
            Duration::from_secs(5),
        )
        .await
        .err();
        let _server = answer.await;
        assert!(e.as_ref().is_some_and(ClientError::suggests_v3), "{e:?}");
    }
}
