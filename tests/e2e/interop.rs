//! Third-party clients: rumqttc (3.1.1 and 5.0) and the Debian mosquitto_pub /
//! mosquitto_sub (3.1, 3.1.1, 5.0) publish and receive at QoS 0, 1 and 2.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::support::{have, start_broker, within, MOSQUITTO_PUB, MOSQUITTO_SUB, STDBUF};

/// An event loop driven in a task; events arrive on `events`. Dropping it stops the task.
struct Driven<E> {
    events: mpsc::Receiver<E>,
    task: JoinHandle<()>,
}

impl<E> Drop for Driven<E> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<E: std::fmt::Debug> Driven<E> {
    /// The first event `pick` accepts (others are skipped), within 5 s.
    async fn next<T>(&mut self, mut pick: impl FnMut(E) -> Option<T>) -> T {
        within(5.0, async {
            loop {
                let e = self.events.recv().await.expect("event loop ended");
                if let Some(t) = pick(e) {
                    return t;
                }
            }
        })
        .await
    }
}

fn v4_client(id: &str, port: u16) -> (rumqttc::AsyncClient, Driven<rumqttc::Event>) {
    let mut opts = rumqttc::MqttOptions::new(id, "127.0.0.1", port);
    opts.set_keep_alive(Duration::from_secs(30));
    let (client, mut el) = rumqttc::AsyncClient::new(opts, 16);
    let (tx, events) = mpsc::channel(64);
    let task = tokio::spawn(async move {
        while let Ok(e) = el.poll().await {
            if tx.send(e).await.is_err() {
                return;
            }
        }
    });
    (client, Driven { events, task })
}

fn v5_client(id: &str, port: u16) -> (rumqttc::v5::AsyncClient, Driven<rumqttc::v5::Event>) {
    let mut opts = rumqttc::v5::MqttOptions::new(id, "127.0.0.1", port);
    opts.set_keep_alive(Duration::from_secs(30));
    let (client, mut el) = rumqttc::v5::AsyncClient::new(opts, 16);
    let (tx, events) = mpsc::channel(64);
    let task = tokio::spawn(async move {
        while let Ok(e) = el.poll().await {
            if tx.send(e).await.is_err() {
                return;
            }
        }
    });
    (client, Driven { events, task })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rumqttc_v4_qos_0_1_2() {
    use rumqttc::{Event, Packet, QoS};
    let broker = start_broker().await;
    let (sub, mut sub_ev) = v4_client("rumq-sub", broker.port());
    sub.subscribe("r/#", QoS::ExactlyOnce)
        .await
        .expect("subscribe");
    sub_ev
        .next(|e| matches!(e, Event::Incoming(Packet::SubAck(_))).then_some(()))
        .await;
    let (publ, mut pub_ev) = v4_client("rumq-pub", broker.port());
    for (i, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
        .into_iter()
        .enumerate()
    {
        publ.publish(format!("r/{i}"), qos, false, format!("p{i}"))
            .await
            .expect("publish");
    }
    // The publisher's flows complete: PUBACK for QoS 1, PUBCOMP for QoS 2.
    pub_ev
        .next(|e| matches!(e, Event::Incoming(Packet::PubAck(_))).then_some(()))
        .await;
    pub_ev
        .next(|e| matches!(e, Event::Incoming(Packet::PubComp(_))).then_some(()))
        .await;
    for (i, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
        .into_iter()
        .enumerate()
    {
        let p = sub_ev
            .next(|e| match e {
                Event::Incoming(Packet::Publish(p)) => Some(p),
                _ => None,
            })
            .await;
        assert_eq!(p.topic, format!("r/{i}"));
        assert_eq!(p.qos, qos);
        assert_eq!(&p.payload[..], format!("p{i}").as_bytes());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rumqttc_v5_qos_0_1_2() {
    use rumqttc::v5::mqttbytes::v5::Packet;
    use rumqttc::v5::mqttbytes::QoS;
    use rumqttc::v5::Event;
    let broker = start_broker().await;
    let (sub, mut sub_ev) = v5_client("rumq5-sub", broker.port());
    sub.subscribe("r/#", QoS::ExactlyOnce)
        .await
        .expect("subscribe");
    sub_ev
        .next(|e| matches!(e, Event::Incoming(Packet::SubAck(_))).then_some(()))
        .await;
    let (publ, mut pub_ev) = v5_client("rumq5-pub", broker.port());
    for (i, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
        .into_iter()
        .enumerate()
    {
        publ.publish(format!("r/{i}"), qos, false, format!("p{i}"))
            .await
            .expect("publish");
    }
    pub_ev
        .next(|e| matches!(e, Event::Incoming(Packet::PubAck(_))).then_some(()))
        .await;
    pub_ev
        .next(|e| matches!(e, Event::Incoming(Packet::PubComp(_))).then_some(()))
        .await;
    for (i, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
        .into_iter()
        .enumerate()
    {
        let p = sub_ev
            .next(|e| match e {
                Event::Incoming(Packet::Publish(p)) => Some(p),
                _ => None,
            })
            .await;
        assert_eq!(&p.topic[..], format!("r/{i}").as_bytes());
        assert_eq!(p.qos, qos);
        assert_eq!(&p.payload[..], format!("p{i}").as_bytes());
    }
}

async fn next_line(lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>) -> String {
    within(5.0, lines.next_line())
        .await
        .expect("read mosquitto_sub output")
        .expect("mosquitto_sub exited early")
}

/// mosquitto_sub (debug output on) receives what mosquitto_pub sends at each QoS.
async fn mosquitto_round_trip(version: &str) {
    if !have(&[MOSQUITTO_PUB, MOSQUITTO_SUB, STDBUF]) {
        return;
    }
    let broker = start_broker().await;
    let port = broker.port().to_string();
    let common = ["-h", "127.0.0.1", "-p", &port, "-V", version];
    // stdbuf: its debug lines are block-buffered on a pipe; we need each as it happens.
    let mut sub = Command::new("stdbuf")
        .args(["-oL", "mosquitto_sub"])
        .args(common)
        .args([
            "-i", "mosq-sub", "-t", "m/#", "-q", "2", "-v", "-d", "-W", "10",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("mosquitto_sub runs");
    let mut lines = BufReader::new(sub.stdout.take().expect("stdout")).lines();
    // Subscribed: its debug output shows the SUBACK.
    while !next_line(&mut lines).await.contains("received SUBACK") {}
    for qos in 0..3 {
        let status = within(
            10.0,
            Command::new("mosquitto_pub")
                .args(common)
                .args(["-i", "mosq-pub", "-t", &format!("m/q{qos}")])
                .args(["-m", &format!("hello{qos}"), "-q", &qos.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .status(),
        )
        .await
        .expect("mosquitto_pub runs");
        assert!(status.success(), "mosquitto_pub -q {qos} -V {version}");
    }
    // Debug lines "Client … received PUBLISH (d0, qN, …, 'm/qN', …)" then "m/qN helloN".
    let mut got = Vec::new();
    let mut qos_seen = Vec::new();
    while got.len() < 3 {
        let line = next_line(&mut lines).await;
        if let Some(rest) = line.split("received PUBLISH (").nth(1) {
            qos_seen.push(rest.split(", ").nth(1).unwrap_or("").to_owned());
        } else if line.starts_with("m/") {
            got.push(line);
        }
    }
    assert_eq!(
        got,
        ["m/q0 hello0", "m/q1 hello1", "m/q2 hello2"],
        "{version}"
    );
    assert_eq!(qos_seen, ["q0", "q1", "q2"], "{version}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_clients_v311() {
    mosquitto_round_trip("mqttv311").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_clients_v5() {
    mosquitto_round_trip("mqttv5").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_clients_v31() {
    mosquitto_round_trip("mqttv31").await;
}
