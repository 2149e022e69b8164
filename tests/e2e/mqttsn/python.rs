//! An independent MQTT-SN client, PyPI `mqtt-sn-12` (`mqtt_sn_pub` / `mqtt_sn_sub`, from
//! the venv `scripts/test-deps` makes), against the gateway, with the Debian mosquitto
//! clients on the TCP side: SN → TCP at QoS −1/0/1/2, and TCP publishes at QoS 0/1/2 to
//! an SN subscriber. That subscriber asks for QoS 0: `mqtt_sn_sub` 1.0.9 never answers
//! a QoS 1 PUBLISH (it compares the QoS field, 1, with the flag bit 0x20), so at QoS 1
//! the gateway rightly sends it again with DUP after T_retry and the client prints it
//! twice.

use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::Ordering::Relaxed;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{ChildStdout, Command};

use super::*;
use crate::support::{have, have_mqtt_sn_client, MOSQUITTO_PUB, MOSQUITTO_SUB, STDBUF};

async fn next_line(lines: &mut Lines<BufReader<ChildStdout>>) -> String {
    within(10.0, lines.next_line())
        .await
        .expect("read output")
        .expect("exited early")
}

async fn run(bin: &Path, args: &[&str]) {
    let status = within(
        20.0,
        Command::new(bin)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .status(),
    )
    .await
    .expect("runs");
    assert!(status.success(), "{} {args:?}: {status}", bin.display());
}

#[tokio::test]
async fn mqtt_sn_pub_to_mosquitto_sub_at_every_qos() {
    if !have(&[MOSQUITTO_SUB, STDBUF]) {
        return;
    }
    let Some(venv) = have_mqtt_sn_client() else {
        return;
    };
    let (b, gw) = start_gateway(|_| {}).await;
    let port = b.port().to_string();
    let mut sub = Command::new("stdbuf")
        .args(["-oL", "mosquitto_sub", "-h", "127.0.0.1", "-p", &port])
        .args([
            "-t",
            "py/#",
            "-t",
            "sensors/#",
            "-q",
            "2",
            "-v",
            "-d",
            "-W",
            "30",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("mosquitto_sub runs");
    let mut lines = BufReader::new(sub.stdout.take().expect("stdout")).lines();
    while !next_line(&mut lines).await.contains("received SUBACK") {}
    let pub_bin = venv.join("mqtt_sn_pub");
    let sn_port = gw.port().to_string();
    for qos in ["0", "1", "2"] {
        let topic = format!("py/q{qos}");
        let payload = format!("from-sn-{qos}");
        run(
            &pub_bin,
            &[
                "-p", &sn_port, "-i", "py-pub", "-t", &topic, "-m", &payload, "-q", qos,
            ],
        )
        .await;
        let want = format!("{topic} {payload}");
        while next_line(&mut lines).await != want {}
    }
    // QoS -1 to predefined topic 1, with no connection at all.
    run(
        &pub_bin,
        &["-p", &sn_port, "-T", "1", "-m", "minus-one", "-q", "-1"],
    )
    .await;
    while next_line(&mut lines).await != "sensors/temperature minus-one" {}
}

#[tokio::test]
async fn mosquitto_pub_to_mqtt_sn_sub_at_every_qos() {
    if !have(&[MOSQUITTO_PUB]) {
        return;
    }
    let Some(venv) = have_mqtt_sn_client() else {
        return;
    };
    let (b, gw) = start_gateway(|_| {}).await;
    let port = b.port().to_string();
    let sn_port = gw.port().to_string();
    let metrics = b.broker.metrics();
    // A wildcard: the gateway REGISTERs each topic before its first PUBLISH.
    let mut sub = Command::new(venv.join("mqtt_sn_sub"))
        .args([
            "-p", &sn_port, "-i", "py-sub", "-t", "down/#", "-q", "0", "-C", "3",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("mqtt_sn_sub runs");
    let mut lines = BufReader::new(sub.stdout.take().expect("stdout")).lines();
    until(|| metrics.subscriptions.load(Relaxed) == 1).await;
    for qos in ["0", "1", "2"] {
        let status = within(
            10.0,
            Command::new("mosquitto_pub")
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port,
                    "-t",
                    &format!("down/q{qos}"),
                ])
                .args(["-m", &format!("to-sn-{qos}"), "-q", qos])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .status(),
        )
        .await
        .expect("mosquitto_pub runs");
        assert!(status.success());
        assert_eq!(next_line(&mut lines).await, format!("to-sn-{qos}"));
    }
}
