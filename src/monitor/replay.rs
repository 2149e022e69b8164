//! `midge replay FILE [URL]`: publishes a recording made in the dashboard (Pub/Sub, `R`;
//! JSON Lines, one message a line, see `midge_ui::app::record`) to any broker, at the
//! recorded pace (`--speed N` times faster) or as fast as the broker acknowledges.
//! An MQTT 5 publisher on midge's client core (`crate::mqtt`; one message in flight for
//! QoS 1/2), with an indicatif progress bar on stderr.

use std::io::BufRead as _;
use std::num::NonZeroU16;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use serde::Deserialize;

use super::remote::{tls, BrokerUrl, RemoteError, TlsOptions};
use crate::mqtt::conn::{handshake, ClientError, ConnectOptions, Connected, PidAlloc};
use crate::protocol::{Ack, ByteStr, Disconnect, Packet, Properties, Publish, QosPid, ReasonCode};

/// Waiting longer than this for CONNACK or an acknowledgement fails the replay.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {reason}")]
    Line {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error(transparent)]
    Open(#[from] crate::mqtt::OpenError),
    #[error("the broker: {0}")]
    Client(#[from] ClientError),
    #[error("the broker: {0}")]
    Protocol(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// One recorded message, as the dashboard writes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// Unix ms when the dashboard received it.
    pub t: u64,
    pub topic: String,
    #[serde(default)]
    pub qos: u8,
    #[serde(default)]
    pub retain: bool,
    pub payload: Option<String>,
    pub payload_base64: Option<String>,
    pub content_type: Option<String>,
    pub response_topic: Option<String>,
    #[serde(default)]
    pub user_properties: Vec<(String, String)>,
}

/// Why a recorded line's payload cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("payload_base64: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("both payload and payload_base64")]
    Both,
}

impl Record {
    fn payload(&self) -> Result<Bytes, PayloadError> {
        match (&self.payload, &self.payload_base64) {
            (Some(p), None) => Ok(Bytes::from(p.clone().into_bytes())),
            (None, Some(b)) => Ok(Bytes::from(
                base64::engine::general_purpose::STANDARD.decode(b)?,
            )),
            (None, None) => Ok(Bytes::new()),
            (Some(_), Some(_)) => Err(PayloadError::Both),
        }
    }
}

/// How fast to replay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// The recorded gaps divided by this factor.
    Speed(f64),
    AsFastAsPossible,
}

/// Reads and checks a whole recording (so a bad line fails before anything is sent).
pub fn read(path: &Path) -> Result<Vec<(Record, Bytes)>, ReplayError> {
    let f = std::fs::File::open(path).map_err(|source| ReplayError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|source| ReplayError::Read {
            path: path.to_owned(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |reason: String| ReplayError::Line {
            path: path.to_owned(),
            line: i + 1,
            reason,
        };
        let r: Record = serde_json::from_str(&line).map_err(|e| bad(e.to_string()))?;
        if r.qos > 2 {
            return Err(bad(format!("qos {} is not 0, 1 or 2", r.qos)));
        }
        if !crate::protocol::topic::valid_topic_name(&r.topic) {
            return Err(bad(format!("{:?} is not a valid topic name", r.topic)));
        }
        let payload = r.payload().map_err(|e| bad(e.to_string()))?;
        out.push((r, payload));
    }
    Ok(out)
}

/// The publishing end: one MQTT 5 connection, on the client core in [`crate::mqtt`].
struct Publisher {
    conn: Connected<Box<dyn super::remote::Io>>,
    pids: PidAlloc,
}

impl Publisher {
    async fn connect(url: &BrokerUrl, tls_opts: &TlsOptions) -> Result<Self, ReplayError> {
        let connector = if url.tls {
            Some(tls::connector(tls_opts).map_err(RemoteError::from)?)
        } else {
            None
        };
        let io = tls::open(url, connector.as_ref()).await?;
        let mut opts = ConnectOptions::new(&format!("midge-replay-{}", std::process::id()), 60);
        opts.username.clone_from(&url.username);
        opts.password = url.password.clone().map(Bytes::from);
        let conn = handshake(io, &opts, ACK_TIMEOUT).await?;
        Ok(Self {
            conn,
            pids: PidAlloc::default(),
        })
    }

    async fn send(&mut self, packet: &Packet) -> Result<(), ReplayError> {
        self.conn.writer.push(packet);
        self.conn.writer.flush().await?;
        Ok(())
    }

    /// The next packet, within [`ACK_TIMEOUT`].
    async fn next(&mut self) -> Result<Packet, ReplayError> {
        match tokio::time::timeout(ACK_TIMEOUT, self.conn.reader.read_packet()).await {
            Ok(Ok(Some(p))) => Ok(p),
            Ok(Ok(None)) => Err(ReplayError::Protocol("closed the connection".to_owned())),
            Ok(Err(e)) => Err(ReplayError::Protocol(format!("bad packet: {e}"))),
            Err(_) => Err(ReplayError::Protocol("no answer in 10 s".to_owned())),
        }
    }

    /// Waits for the acknowledgement `want` of `pid`, answering nothing else.
    async fn ack(&mut self, pid: NonZeroU16, rec: bool) -> Result<(), ReplayError> {
        loop {
            let (got, name) = match self.next().await? {
                Packet::PubAck(a) if !rec => (a, "PUBACK"),
                Packet::PubRec(a) if rec => (a, "PUBREC"),
                Packet::PubComp(a) if !rec => (a, "PUBCOMP"),
                // Nothing is subscribed: anything else is out of turn but harmless.
                _ => continue,
            };
            if got.pid != pid {
                continue;
            }
            if got.reason.is_error() {
                return Err(ReplayError::Protocol(format!(
                    "{name} {:?} for packet {pid}",
                    got.reason
                )));
            }
            return Ok(());
        }
    }

    async fn publish(&mut self, r: &Record, payload: Bytes) -> Result<(), ReplayError> {
        let pid = self.pids.next_id();
        let qos_pid = match r.qos {
            0 => QosPid::Level0,
            1 => QosPid::Level1(pid),
            _ => QosPid::Level2(pid),
        };
        let properties = Properties {
            content_type: r.content_type.as_deref().map(ByteStr::from),
            response_topic: r.response_topic.as_deref().map(ByteStr::from),
            user_properties: r
                .user_properties
                .iter()
                .map(|(k, v)| (ByteStr::from(k.as_str()), ByteStr::from(v.as_str())))
                .collect(),
            ..Properties::default()
        };
        let publish = Publish {
            dup: false,
            qos_pid,
            retain: r.retain,
            topic: ByteStr::from(r.topic.as_str()),
            properties: properties.into(),
            payload,
        };
        self.send(&Packet::Publish(publish)).await?;
        match r.qos {
            0 => Ok(()),
            1 => self.ack(pid, false).await,
            _ => {
                self.ack(pid, true).await?;
                self.send(&Packet::PubRel(Ack::new(pid))).await?;
                self.ack(pid, false).await
            }
        }
    }

    async fn close(mut self) {
        let _ = self
            .send(&Packet::Disconnect(Disconnect::new(ReasonCode::Success)))
            .await;
        let _ = self.conn.writer.shutdown().await;
    }
}

/// Publishes `records` to `url` at `pace`, showing progress; returns how many were sent.
pub async fn replay(
    records: Vec<(Record, Bytes)>,
    url: &BrokerUrl,
    tls_opts: &TlsOptions,
    pace: Pace,
) -> Result<u64, ReplayError> {
    let mut p = Publisher::connect(url, tls_opts).await?;
    let bar = indicatif::ProgressBar::new(records.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} messages · {per_sec} · {elapsed_precise} (eta {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let start = tokio::time::Instant::now();
    let t0 = records.first().map_or(0, |(r, _)| r.t);
    let mut sent = 0;
    for (r, payload) in records {
        if let Pace::Speed(speed) = pace {
            // The recorded offset, scaled; a clock step back in the file is no wait.
            let offset_ms = r.t.saturating_sub(t0) as f64 / speed.max(f64::MIN_POSITIVE);
            let at = start + Duration::from_secs_f64((offset_ms / 1000.0).min(1e9));
            tokio::time::sleep_until(at).await;
        }
        p.publish(&r, payload).await?;
        sent += 1;
        bar.inc(1);
    }
    bar.finish();
    p.close().await;
    Ok(sent)
}

/// `midge replay`: reads the file, then publishes it on a runtime of its own.
pub fn run(args: &crate::cli::ReplayArgs) -> Result<u64, ReplayError> {
    let records = read(&args.file)?;
    let url = BrokerUrl::parse(&args.url).map_err(RemoteError::from)?;
    let tls_opts = TlsOptions {
        cafile: args.cafile.clone(),
        insecure: args.insecure,
        ..TlsOptions::default()
    };
    let pace = if args.as_fast_as_possible {
        Pace::AsFastAsPossible
    } else {
        Pace::Speed(args.speed.0)
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(replay(records, &url, &tls_opts, pace))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line() {
        use clap::Parser;
        let parse =
            |args: &[&str]| crate::cli::Cli::try_parse_from(["midge", "replay"].iter().chain(args));
        let Ok(crate::cli::Cli {
            command: Some(crate::cli::Command::Replay(a)),
            ..
        }) = parse(&["rec.jsonl"])
        else {
            panic!("replay FILE parses");
        };
        assert_eq!(a.url, "mqtt://127.0.0.1:1883");
        assert_eq!(a.speed, crate::cli::Speed(1.0));
        assert!(!a.as_fast_as_possible);
        assert!(parse(&["f", "--speed", "0"]).is_err());
        assert!(parse(&["f", "--speed", "-1"]).is_err());
        assert!(parse(&["f", "--speed", "2", "--as-fast-as-possible"]).is_err());
        assert!(parse(&["f", "mqtt://h:1", "--as-fast-as-possible"]).is_ok());
    }

    #[test]
    fn reads_what_the_dashboard_writes() {
        let dir = std::env::temp_dir().join(format!("midge-replay-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let f = dir.join("r.jsonl");
        std::fs::write(
            &f,
            concat!(
                r#"{"payload":"21.5","qos":1,"retain":true,"t":1000,"topic":"a/b"}"#,
                "\n\n",
                r#"{"payload_base64":"/wA=","qos":0,"retain":false,"t":1500,"topic":"c","user_properties":[["k","v"]]}"#,
                "\n"
            ),
        )
        .expect("write");
        let r = read(&f).expect("valid");
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].1, Bytes::from_static(b"21.5"));
        assert!(r[0].0.retain);
        assert_eq!(r[1].1, Bytes::from_static(&[0xff, 0]));
        assert_eq!(r[1].0.user_properties, vec![("k".into(), "v".into())]);

        std::fs::write(&f, "{\"t\":1,\"topic\":\"a/#\"}\n").expect("write");
        let e = read(&f).expect_err("wildcard topic").to_string();
        assert!(
            e.ends_with("r.jsonl:1: \"a/#\" is not a valid topic name"),
            "{e}"
        );
        std::fs::write(&f, "{\"t\":1,\"topic\":\"a\",\"qos\":3}\n").expect("write");
        assert!(read(&f).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
