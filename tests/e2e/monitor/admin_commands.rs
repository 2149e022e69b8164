//! Kick and Trace from `midge monitor` over the admin channel of a headless midge, under
//! the same ACL as its snapshots: the admin's kick disconnects the client and its trace
//! streams the client's packets; a user the ACL does not allow is told the source cannot.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use midge::auth::Authenticator;
use midge::broker::Access;
use midge_model::{Command, Direction, Event};

use super::{start_midge, until_event, until_snapshot, v5_client, watch};

fn acl(dir: &Path) -> Arc<dyn Access> {
    let acl = dir.join("acl");
    std::fs::write(
        &acl,
        "topic readwrite #\n\nuser admin\ntopic readwrite #\ntopic readwrite $CONTROL/midge/v1/#\n\nuser eve\ntopic readwrite #\n",
    )
    .expect("write acl");
    Arc::new(Authenticator::new(true, None, Some(&acl)).expect("acl loads"))
}

fn online(s: &midge_model::Snapshot, id: &str) -> bool {
    s.connections
        .as_ref()
        .is_some_and(|c| c.iter().any(|c| c.client_id == id && c.online))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kick_and_trace_over_the_admin_channel() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = start_midge("127.0.0.1:0".parse().expect("addr"), acl(dir.path())).await;
    let port = broker.local_addrs()[0].port();
    let (victim, _rx) = v5_client(port, "victim", None);

    let mut admin = watch(&format!("mqtt://admin@127.0.0.1:{port}"));
    let mut seen = Vec::new();
    until_snapshot(&mut admin, &mut seen, "victim online", |s| {
        online(s, "victim")
    })
    .await;

    // Trace: the victim's PUBLISH comes back as a trace line.
    admin
        .commands
        .try_send(Command::Trace {
            client_id: Some("victim".to_owned()),
        })
        .expect("send trace");
    let deadline = tokio::time::Instant::now() + super::WAIT;
    let mut traced = false;
    while !traced && tokio::time::Instant::now() < deadline {
        victim
            .publish("t/x", rumqttc::v5::mqttbytes::QoS::AtLeastOnce, false, "p")
            .await
            .expect("publish");
        let got = tokio::time::timeout(Duration::from_millis(500), async {
            while let Some(e) = admin.events.recv().await {
                if let Event::Trace(t) = &e {
                    if t.client_id == "victim"
                        && t.packet == "PUBLISH"
                        && t.direction == Direction::In
                    {
                        return true;
                    }
                }
                seen.push(e);
            }
            false
        })
        .await;
        traced = got == Ok(true);
    }
    assert!(traced, "no trace of the victim's PUBLISH; saw {seen:?}");

    // Kick: the broker disconnects it and says so.
    admin
        .commands
        .try_send(Command::Kick {
            client_id: "victim".to_owned(),
        })
        .expect("send kick");
    until_event(
        &mut admin,
        &mut seen,
        "the kick's notice",
        |e| matches!(e, Event::Notice(n) if n == "disconnected victim"),
    )
    .await;

    // eve's monitor has no admin channel: her kick is not carried out.
    let (other, _orx) = v5_client(port, "other", None);
    until_snapshot(&mut admin, &mut seen, "other online", |s| {
        online(s, "other")
    })
    .await;
    let mut eve = watch(&format!("mqtt://eve@127.0.0.1:{port}"));
    let mut eve_seen = Vec::new();
    until_snapshot(&mut eve, &mut eve_seen, "eve connected", |s| {
        s.source.connected
    })
    .await;
    eve.commands
        .try_send(Command::Kick {
            client_id: "other".to_owned(),
        })
        .expect("send kick");
    until_event(
        &mut eve,
        &mut eve_seen,
        "eve's refusal",
        |e| matches!(e, Event::Notice(n) if n.contains("not available")),
    )
    .await;
    // Still there in a snapshot taken after the refusal, as the admin's monitor sees.
    let after = midge::os::unix_ms_now() + 300;
    let s = until_snapshot(&mut admin, &mut seen, "a later snapshot", |s| {
        s.taken_at_ms > after
    })
    .await;
    assert!(online(&s, "other"), "eve's kick must not disconnect anyone");
    drop((admin, eve, other, victim));
    broker.shutdown(Duration::from_secs(2)).await;
}
