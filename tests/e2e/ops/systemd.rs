//! `contrib/midge.service`: `systemd-analyze verify` accepts it (with this build's binary in
//! place of /usr/local/bin/midge, since verify checks that executables exist), and the
//! hardening the docs promise is in it.

use std::process::Stdio;

use crate::support::{have, within, SYSTEMD_ANALYZE};

const UNIT: &str = include_str!("../../../contrib/midge.service");

#[test]
fn the_unit_is_hardened() {
    for line in [
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "StateDirectory=midge",
        "LimitNOFILE=",
        "NoNewPrivileges=yes",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "--headless -c /etc/midge/midge.toml --data-dir /var/lib/midge",
    ] {
        assert!(
            UNIT.contains(line),
            "{line} missing from contrib/midge.service"
        );
    }
}

#[tokio::test]
async fn systemd_analyze_verify_accepts_the_unit() {
    if !have(&[SYSTEMD_ANALYZE]) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let unit = dir.path().join("midge.service");
    std::fs::write(
        &unit,
        UNIT.replace("/usr/local/bin/midge", env!("CARGO_BIN_EXE_midge")),
    )
    .expect("write unit");
    let out = within(
        30.0,
        tokio::process::Command::new("systemd-analyze")
            .arg("verify")
            .arg(&unit)
            .env("SYSTEMD_LOG_LEVEL", "warning")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("systemd-analyze runs");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    // verify warns about unknown keys and bad values without failing: none of those.
    let ours: Vec<&str> = said
        .lines()
        .filter(|l| l.contains("midge.service"))
        .collect();
    assert!(ours.is_empty(), "{said}");
}
