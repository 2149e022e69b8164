//! The container image, built and run with podman by `scripts/container-e2e.sh`: read-only
//! root, non-root user, /data volume, config at /etc/midge/midge.toml, MQTT through it,
//! a Kubernetes-style certificate swap picked up after SIGHUP and with no signal, SIGTERM
//! → exit 0, and the volume's data kept across a restart.

use std::process::Stdio;

use crate::support::{have, within, MOSQUITTO_PUB, MOSQUITTO_SUB, OPENSSL, PODMAN, RUNC};

#[tokio::test]
async fn the_container_image_serves_reloads_and_stops_cleanly() {
    if !have(&[PODMAN, RUNC, MOSQUITTO_PUB, MOSQUITTO_SUB, OPENSSL]) {
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/container-e2e.sh");
    let out = within(
        300.0,
        tokio::process::Command::new("bash")
            .arg(script)
            .env("MIDGE_BIN", env!("CARGO_BIN_EXE_midge"))
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("bash runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    assert!(said.contains("container-e2e: OK"), "{said}");
}
