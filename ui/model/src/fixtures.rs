//! A realistic busy broker with a fixed clock, for tests and screenshots: ~12 sessions of
//! all three protocol versions, online and offline, TLS and not, in-flight messages in
//! every state, drops of every reason, and a stream of events with text, JSON, binary
//! and numeric payloads.

use bytes::Bytes;

use crate::{
    ConnectionInfo, Counters, Direction, DropInfo, DropReason, Event, InflightInfo, InflightState,
    Level, LogLine, Message, ProtocolLabel, QueuedInfo, Snapshot, SourceInfo, SourceKind,
    SubscriptionInfo, TraceLine,
};

/// The fixed "now" of every fixture: 2025-06-15 12:00:00 UTC.
pub const NOW_MS: u64 = 1_749_988_800_000;

/// Milliseconds between two snapshots of [`snapshot_series`].
pub const STEP_MS: u64 = 250;

/// The broker started 2 h 13 min 20 s before [`NOW_MS`].
pub const STARTED_AT_MS: u64 = NOW_MS - 8_000_000;

/// The latest snapshot of the busy broker, taken at [`NOW_MS`].
#[must_use]
pub fn snapshot() -> Snapshot {
    snapshot_step(STEPS)
}

/// `n` successive snapshots, [`STEP_MS`] apart, the last one taken at [`NOW_MS`].
#[must_use]
pub fn snapshot_series(n: u64) -> Vec<Snapshot> {
    let n = n.clamp(1, STEPS + 1);
    (STEPS + 1 - n..=STEPS).map(snapshot_step).collect()
}

/// How many steps of history the fixtures can produce before [`NOW_MS`] (10 minutes).
const STEPS: u64 = 2400;

/// Messages received during step `j`: a deterministic, wavy load.
fn inc(j: u64) -> u64 {
    30 + (j * 7 % 13) + if (j / 40) % 3 == 0 { 12 } else { 0 }
}

fn total(k: u64) -> u64 {
    (0..k).map(inc).sum()
}

fn snapshot_step(k: u64) -> Snapshot {
    let received = 1_200_000 + total(k);
    let sent = received * 2 + k;
    Snapshot {
        taken_at_ms: NOW_MS - (STEPS - k) * STEP_MS,
        source: SourceInfo {
            kind: SourceKind::Embedded,
            version: Some("0.1.0".to_owned()),
            listeners: vec![
                "mqtt://0.0.0.0:1883".to_owned(),
                "mqtts://0.0.0.0:8883".to_owned(),
                "ws://0.0.0.0:8080/mqtt".to_owned(),
            ],
            started_at_ms: Some(STARTED_AT_MS),
            connected: true,
            own_client_id: Some("midge-dashboard".to_owned()),
        },
        counters: Counters {
            messages_received: Some(received),
            messages_sent: Some(sent),
            bytes_received: Some(received * 87),
            bytes_sent: Some(sent * 91),
            publish_dropped: Some(1_923 + k / 8),
            clients_online: Some(9),
            clients_offline: Some(3),
            clients_total: Some(12),
            subscriptions: Some(17),
            retained: Some(42),
            connections_total: Some(311),
            auth_failures: Some(4),
        },
        connections: Some(connections_at(k)),
        inflight: Some(inflight()),
        drops: Some(drops()),
        events_dropped: 0,
    }
}

#[expect(clippy::too_many_arguments, reason = "a compact table of fixture rows")]
fn conn(
    client_id: &str,
    online: bool,
    address: Option<&str>,
    protocol: ProtocolLabel,
    username: Option<&str>,
    tls: bool,
    keep_alive_secs: u16,
    since_s: u64,
    subscriptions: Vec<SubscriptionInfo>,
    io: (u64, u64),
    queue: (u32, u32),
    dropped: u64,
) -> ConnectionInfo {
    ConnectionInfo {
        client_id: client_id.to_owned(),
        online,
        address: address.map(str::to_owned),
        protocol,
        username: username.map(str::to_owned),
        tls,
        keep_alive_secs,
        connected_since_ms: NOW_MS - since_s * 1000,
        subscriptions,
        messages_in: io.0,
        messages_out: io.1,
        bytes_in: io.0 * 64,
        bytes_out: io.1 * 120,
        inflight_out: 0,
        inflight_in: 0,
        queued: queue.0,
        queue_capacity: queue.1,
        dropped,
        queue_preview: Vec::new(),
    }
}

fn sub(filter: &str, qos: u8) -> SubscriptionInfo {
    SubscriptionInfo::new(filter, qos)
}

fn queue_preview(topic: &str, n: usize) -> Vec<QueuedInfo> {
    (0..n)
        .map(|i| QueuedInfo {
            topic: format!("{topic}/{}", i % 3),
            qos: u8::try_from(i % 3).unwrap_or(0),
            bytes: 60 + u32::try_from(i).unwrap_or(0) * 4,
        })
        .collect()
}

/// The twelve sessions of the busy broker.
#[must_use]
pub fn connections() -> Vec<ConnectionInfo> {
    use ProtocolLabel::{V31, V311, V5};
    let mut v = vec![
        conn(
            "sensor-kitchen",
            true,
            Some("192.168.1.21:50312"),
            V311,
            Some("sensors"),
            false,
            60,
            7_900,
            vec![],
            (48_210, 0),
            (0, 1000),
            0,
        ),
        conn(
            "sensor-garage",
            true,
            Some("192.168.1.22:41877"),
            V31,
            Some("sensors"),
            false,
            30,
            5_400,
            vec![sub("garage/cmd", 1)],
            (12_003, 14),
            (0, 1000),
            0,
        ),
        conn(
            "dashboard-web",
            true,
            Some("10.0.4.17:60122"),
            V5,
            Some("alice"),
            true,
            45,
            3_610,
            vec![sub("home/#", 1), sub("sensors/+/temperature", 2)],
            (220, 96_550),
            (3, 1000),
            3,
        ),
        conn(
            "midge-dashboard",
            true,
            Some("internal"),
            V5,
            None,
            false,
            0,
            7_990,
            vec![sub("sensors/#", 1)],
            (5, 61_002),
            (0, 1000),
            0,
        ),
        conn(
            "plc-line1",
            true,
            Some("10.20.0.5:1024"),
            V5,
            Some("plc"),
            true,
            20,
            7_950,
            vec![sub("factory/line1/cmd/#", 2)],
            (310_442, 120),
            (0, 1000),
            0,
        ),
        conn(
            "historian",
            true,
            Some("10.20.0.9:53011"),
            V5,
            Some("historian"),
            false,
            60,
            7_700,
            vec![],
            (0, 290_113),
            (870, 1000),
            1_520,
        ),
        conn(
            "mobile-app-7f3a",
            false,
            None,
            V5,
            Some("bob"),
            true,
            120,
            86_400,
            vec![sub("home/livingroom/#", 1), sub("alerts/#", 1)],
            (34, 2_210),
            (42, 1000),
            12,
        ),
        conn(
            "cam-01",
            true,
            Some("192.168.1.40:33101"),
            V311,
            Some("cams"),
            false,
            15,
            600,
            vec![],
            (9_412, 0),
            (0, 1000),
            0,
        ),
        conn(
            "legacy-hmi",
            false,
            None,
            V31,
            None,
            false,
            10,
            18_000,
            vec![sub("alerts/#", 1), sub("factory/+/status", 1)],
            (2, 5_003),
            (1000, 1000),
            300,
        ),
        conn(
            "alerts-bot",
            true,
            Some("172.16.0.3:45000"),
            V311,
            Some("bot"),
            true,
            60,
            2_000,
            vec![sub("alerts/#", 2)],
            (17, 412),
            (0, 1000),
            0,
        ),
        conn(
            "tiny-device-9",
            true,
            Some("192.168.1.77:1883"),
            V5,
            None,
            false,
            300,
            1_200,
            vec![sub("devices/#", 0)],
            (3, 1_004),
            (0, 100),
            88,
        ),
        conn(
            "backup-svc",
            false,
            None,
            V311,
            Some("backup"),
            false,
            60,
            40_000,
            vec![sub("config/#", 1)],
            (0, 120),
            (0, 1000),
            0,
        ),
    ];
    for c in &mut v {
        match c.client_id.as_str() {
            "dashboard-web" => {
                c.inflight_out = 2;
                c.subscriptions[1].no_local = true;
                c.subscriptions[1].retain_as_published = true;
                c.subscriptions[1].subscription_id = Some(7);
                c.queue_preview = queue_preview("home/livingroom", 3);
            }
            "historian" => {
                c.inflight_out = 20;
                c.subscriptions = vec![SubscriptionInfo {
                    share_group: Some("hist".to_owned()),
                    retain_handling: 2,
                    ..sub("factory/#", 1)
                }];
                c.queue_preview = queue_preview("factory/line1/press", 20);
            }
            "plc-line1" => c.inflight_in = 1,
            "mobile-app-7f3a" => c.queue_preview = queue_preview("home/livingroom/lamp", 20),
            "legacy-hmi" => {
                c.inflight_out = 1;
                c.queue_preview = queue_preview("alerts/fire", 20);
            }
            "alerts-bot" => c.inflight_out = 1,
            _ => {}
        }
    }
    v
}

#[expect(clippy::too_many_arguments, reason = "a compact table of fixture rows")]
fn inflight_entry(
    client: &str,
    direction: Direction,
    packet_id: u16,
    topic: &str,
    qos: u8,
    state: InflightState,
    age_s: u64,
    resends: u32,
) -> InflightInfo {
    InflightInfo {
        client_id: client.to_owned(),
        direction,
        packet_id,
        topic: topic.to_owned(),
        qos,
        state,
        since_ms: NOW_MS - age_s * 1000,
        resends,
    }
}

/// The sessions at step `k`: publishers and subscribers move at steady rates.
fn connections_at(k: u64) -> Vec<ConnectionInfo> {
    let mut v = connections();
    for c in &mut v {
        let (din, dout, ddrop) = match c.client_id.as_str() {
            "sensor-kitchen" => (k / 2, 0, 0),
            "plc-line1" => (k * 3, 0, 0),
            "cam-01" => (k / 4, 0, 0),
            "historian" => (0, k * 3, k / 2),
            "dashboard-web" => (0, k, 0),
            "midge-dashboard" => (0, k / 2, 0),
            "tiny-device-9" => (0, k / 8, k / 40),
            _ => (0, 0, 0),
        };
        c.messages_in += din;
        c.messages_out += dout;
        c.dropped += ddrop;
    }
    v
}

/// QoS 1/2 messages in flight, in every state, some of them old.
#[must_use]
pub fn inflight() -> Vec<InflightInfo> {
    use Direction::{In, Out};
    use InflightState::{AwaitingPubAck, AwaitingPubComp, AwaitingPubRec, AwaitingPubRel};
    vec![
        inflight_entry(
            "historian",
            Out,
            4_101,
            "factory/line1/press/pressure",
            1,
            AwaitingPubAck,
            1,
            0,
        ),
        inflight_entry(
            "historian",
            Out,
            4_102,
            "factory/line1/press/pressure",
            1,
            AwaitingPubAck,
            0,
            0,
        ),
        inflight_entry(
            "historian",
            Out,
            4_090,
            "factory/line1/temp",
            1,
            AwaitingPubAck,
            14,
            1,
        ),
        inflight_entry(
            "dashboard-web",
            Out,
            77,
            "sensors/kitchen/temperature",
            2,
            AwaitingPubRec,
            2,
            0,
        ),
        inflight_entry(
            "dashboard-web",
            Out,
            76,
            "sensors/garage/temperature",
            2,
            AwaitingPubComp,
            3,
            0,
        ),
        inflight_entry(
            "plc-line1",
            In,
            9,
            "factory/line1/batch",
            2,
            AwaitingPubRel,
            1,
            0,
        ),
        inflight_entry(
            "alerts-bot",
            Out,
            1,
            "alerts/fire",
            2,
            AwaitingPubComp,
            0,
            0,
        ),
        inflight_entry(
            "legacy-hmi",
            Out,
            65_535,
            "alerts/fire",
            1,
            AwaitingPubAck,
            600,
            3,
        ),
    ]
}

/// Drops of every reason.
#[must_use]
pub fn drops() -> Vec<DropInfo> {
    vec![
        DropInfo {
            client_id: "historian".to_owned(),
            topic: "factory/line1/press/pressure".to_owned(),
            reason: DropReason::QueueFull,
            count: 1_520,
            last_ms: NOW_MS - 200,
        },
        DropInfo {
            client_id: "legacy-hmi".to_owned(),
            topic: "alerts/fire".to_owned(),
            reason: DropReason::QueueFull,
            count: 300,
            last_ms: NOW_MS - 95_000,
        },
        DropInfo {
            client_id: "tiny-device-9".to_owned(),
            topic: "devices/cam-01/frame".to_owned(),
            reason: DropReason::TooLarge,
            count: 88,
            last_ms: NOW_MS - 4_000,
        },
        DropInfo {
            client_id: "mobile-app-7f3a".to_owned(),
            topic: "home/livingroom/lamp".to_owned(),
            reason: DropReason::Expired,
            count: 12,
            last_ms: NOW_MS - 3_600_000,
        },
        DropInfo {
            client_id: "dashboard-web".to_owned(),
            topic: "factory/secret/recipe".to_owned(),
            reason: DropReason::Acl,
            count: 3,
            last_ms: NOW_MS - 50_000,
        },
    ]
}

fn tap(at_ms: u64, topic: &str, payload: impl Into<Bytes>, qos: u8, retain: bool) -> Event {
    Event::Tap(Message::new(at_ms, topic, payload, qos, retain))
}

/// Events in arrival order, all at or before [`NOW_MS`]: messages on the tap, messages
/// delivered to the dashboard's subscription `sensors/#`, log lines and a packet trace.
#[must_use]
pub fn events() -> Vec<Event> {
    let mut v = Vec::new();
    let t0 = NOW_MS - 60_000;
    for i in 0..30u64 {
        let at = t0 + i * 2_000;
        let temp = 21.0 + f64::from(u32::try_from((i * 7) % 11).unwrap_or(0)) * 0.25;
        v.push(tap(
            at,
            "sensors/kitchen/temperature",
            format!("{temp:.2}"),
            1,
            false,
        ));
        v.push(Event::Delivered(Message::new(
            at,
            "sensors/kitchen/temperature",
            format!("{temp:.2}"),
            1,
            false,
        )));
        if i % 3 == 0 {
            v.push(tap(
                at + 100,
                "sensors/kitchen/humidity",
                format!("{}", 40 + i % 5),
                0,
                false,
            ));
            v.push(tap(
                at + 150,
                "factory/line1/press/pressure",
                format!("{{\"bar\":{}.{},\"ok\":true}}", 180 + i % 4, i % 10),
                1,
                false,
            ));
        }
        if i % 5 == 0 {
            let frame: Vec<u8> = (0..48u8)
                .map(|b| {
                    b.wrapping_mul(37)
                        .wrapping_add(u8::try_from(i).unwrap_or(0))
                })
                .collect();
            v.push(tap(at + 300, "devices/cam-01/frame", frame, 0, false));
        }
    }
    let late = NOW_MS - 5_000;
    v.push(tap(late, "sensors/garage/door", "open", 1, true));
    v.push(Event::Delivered(Message::new(
        late,
        "sensors/garage/door",
        "open",
        1,
        true,
    )));
    let mut lamp = Message::new(
        late + 500,
        "home/livingroom/lamp",
        r#"{"on":true,"brightness":80,"color":{"r":255,"g":180,"b":90},"scenes":["evening","movie"]}"#,
        1,
        true,
    );
    lamp.content_type = Some("application/json".to_owned());
    lamp.response_topic = Some("home/livingroom/lamp/ack".to_owned());
    lamp.user_properties = vec![("origin".to_owned(), "dashboard-web".to_owned())];
    v.push(Event::Tap(lamp));
    v.push(tap(
        late + 800,
        "config/devices/cam-01",
        r#"{"fps":5,"res":"640x480"}"#,
        1,
        true,
    ));
    v.push(tap(
        late + 900,
        "alerts/fire",
        "Smoke detected in hall B",
        2,
        false,
    ));
    v.push(tap(
        late + 950,
        "factory/line1/batch",
        "B-2025-06-15-007",
        2,
        false,
    ));
    v.push(tap(
        late + 990,
        "$SYS/broker/uptime",
        "7995 seconds",
        0,
        true,
    ));
    let logs: [(u64, Level, &str, &str); 12] = [
        (90_000, Level::Info, "midge::transport", "listening on mqtt://0.0.0.0:1883"),
        (85_000, Level::Info, "midge::broker", "client connected client_id=sensor-kitchen protocol=3.1.1 addr=192.168.1.21:50312"),
        (80_000, Level::Warn, "midge::auth", "authentication failed client_id=intruder username=admin addr=203.0.113.9:40211"),
        (70_000, Level::Error, "midge::protocol", "protocol error client_id=bad-fw: malformed remaining length [MQTT-2.2.3] (reason 0x81)"),
        (60_000, Level::Info, "midge::broker", "client disconnected client_id=legacy-hmi reason=keep-alive timeout"),
        (50_000, Level::Debug, "midge::router", "retained message stored topic=home/livingroom/lamp bytes=96"),
        (40_000, Level::Warn, "midge::router", "queue full for historian, dropping factory/line1/press/pressure"),
        (30_000, Level::Info, "midge::broker", "client connected client_id=cam-01 protocol=3.1.1 addr=192.168.1.40:33101"),
        (20_000, Level::Trace, "midge::session", "pid=77 PUBREC received client_id=dashboard-web"),
        (10_000, Level::Warn, "midge::router", "packet too large for tiny-device-9 (max 1024 B): devices/cam-01/frame"),
        (5_000, Level::Info, "midge::broker", "session taken over client_id=dashboard-web"),
        (1_000, Level::Debug, "midge::broker", "snapshot built in 0.4 ms"),
    ];
    for (ago, level, target, message) in logs {
        v.push(Event::Log(LogLine {
            at_ms: NOW_MS - ago,
            level,
            target: target.to_owned(),
            message: message.to_owned(),
        }));
    }
    let trace: [(u64, Direction, &str, &str, Option<&str>); 8] = [
        (
            9_000,
            Direction::In,
            "CONNECT",
            "v3.1.1 clean=true keep_alive=60 user=sensors",
            None,
        ),
        (
            8_990,
            Direction::Out,
            "CONNACK",
            "session_present=false",
            Some("Success"),
        ),
        (
            8_000,
            Direction::In,
            "PUBLISH",
            "pid=1 qos=1 topic=sensors/kitchen/temperature 5 B",
            None,
        ),
        (7_990, Direction::Out, "PUBACK", "pid=1", Some("Success")),
        (6_000, Direction::In, "PINGREQ", "", None),
        (5_990, Direction::Out, "PINGRESP", "", None),
        (
            2_000,
            Direction::In,
            "PUBLISH",
            "pid=2 qos=1 topic=sensors/kitchen/humidity 2 B",
            None,
        ),
        (
            1_990,
            Direction::Out,
            "PUBACK",
            "pid=2",
            Some("No matching subscribers"),
        ),
    ];
    for (ago, direction, packet, detail, reason) in trace {
        v.push(Event::Trace(TraceLine {
            at_ms: NOW_MS - ago,
            client_id: "sensor-kitchen".to_owned(),
            direction,
            packet: packet.to_owned(),
            detail: detail.to_owned(),
            reason: reason.map(str::to_owned),
        }));
    }
    v
}
