//! The index against hand-made sessions: paging, both directions, the filter, and that a
//! tick reads only the clients that reported a change.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use midge_model::{SortKey, TableQuery};

use super::Index;
use crate::broker::inbox::Inbox;
use crate::broker::router::watch::Change;
use crate::broker::stats::{ClientInfo, ClientStats, Metrics};
use crate::protocol::ProtocolVersion;

fn stats(id: &str, user: Option<&str>, since_s: u64, v: ProtocolVersion) -> Arc<ClientStats> {
    ClientStats::new(ClientInfo {
        client_id: Arc::from(id),
        address: format!("10.0.0.{}:1883", id.len()),
        protocol: v,
        username: user.map(str::to_owned),
        tls: false,
        keep_alive: 60,
        connected_since: SystemTime::UNIX_EPOCH + Duration::from_secs(since_s),
        clean_start: true,
        internal: false,
        bridge: false,
    })
}

fn online(index: &mut Index, s: &Arc<ClientStats>) {
    index.apply(Change::Session {
        stats: s.clone(),
        inbox: Some(Arc::new(Inbox::new(16))),
        subscriptions: 1,
    });
}

fn query(sort: SortKey, descending: bool, filter: &str, offset: u32, limit: u32) -> TableQuery {
    TableQuery {
        sort,
        descending,
        filter: filter.to_owned(),
        offset,
        limit,
    }
}

fn ids(index: &mut Index, q: &TableQuery) -> Vec<String> {
    index.page(q).ids.iter().map(|i| i.to_string()).collect()
}

fn five() -> (Index, Vec<Arc<ClientStats>>) {
    let mut index = Index::default();
    let all: Vec<_> = [
        ("carol", Some("ops"), 30, ProtocolVersion::V5),
        ("alice", None, 10, ProtocolVersion::V3_1_1),
        ("erin", Some("ops"), 50, ProtocolVersion::V5),
        ("bob", None, 20, ProtocolVersion::V3_1),
        ("dave", None, 40, ProtocolVersion::V3_1_1),
    ]
    .into_iter()
    .map(|(id, user, since, v)| stats(id, user, since, v))
    .collect();
    for s in &all {
        online(&mut index, s);
    }
    (index, all)
}

#[test]
fn pages_in_either_direction_with_ties_on_the_client_id() {
    let (mut index, _) = five();
    let q = query(SortKey::ClientId, false, "", 1, 2);
    let page = index.page(&q);
    assert_eq!(page.total, 5);
    assert_eq!(page.offset, 1);
    assert_eq!(ids(&mut index, &q), ["bob", "carol"]);
    assert_eq!(
        ids(&mut index, &query(SortKey::ClientId, true, "", 0, 2)),
        ["erin", "dave"]
    );
    // Equal usernames: ties break on the client id ascending, in both directions; an
    // absent username sorts first, as the dashboard's `None` does.
    assert_eq!(
        ids(&mut index, &query(SortKey::Username, false, "", 0, 5)),
        ["alice", "bob", "dave", "carol", "erin"]
    );
    assert_eq!(
        ids(&mut index, &query(SortKey::Username, true, "", 0, 5)),
        ["carol", "erin", "alice", "bob", "dave"]
    );
    // Ascending age is the newest connection first.
    assert_eq!(
        ids(&mut index, &query(SortKey::Since, false, "", 0, 2)),
        ["erin", "dave"]
    );
    // An offset past the end still answers with the last row's position.
    let past = index.page(&query(SortKey::ClientId, false, "", 99, 10));
    assert_eq!((past.total, past.offset, past.ids.len()), (5, 4, 1));
}

#[test]
fn the_filter_matches_id_address_username_or_exactly_the_protocol() {
    let (mut index, _) = five();
    assert_eq!(
        ids(&mut index, &query(SortKey::ClientId, false, "OPS", 0, 9)),
        ["carol", "erin"]
    );
    assert_eq!(
        ids(&mut index, &query(SortKey::ClientId, false, "5.0", 0, 9)),
        ["carol", "erin"]
    );
    assert_eq!(
        ids(&mut index, &query(SortKey::ClientId, false, "3.1", 0, 9)),
        ["bob"]
    );
    // Addresses are 10.0.0.<id length>: "10.0.0.3" is bob's while online only.
    let q = query(SortKey::ClientId, false, "10.0.0.3:", 0, 9);
    assert_eq!(ids(&mut index, &q), ["bob"]);
    index.apply(Change::Offline {
        client: Arc::from("bob"),
    });
    assert!(ids(&mut index, &q).is_empty());
    assert_eq!(index.page(&q).total, 0);
}

#[test]
fn a_tick_moves_only_the_clients_that_reported_a_change() {
    let (mut index, all) = five();
    let metrics = Metrics::default();
    metrics.set_watched(true);
    let by_msgs = query(SortKey::MsgsIn, true, "", 0, 1);
    assert_eq!(ids(&mut index, &by_msgs), ["alice"]);
    // dave's numbers change and he says so; carol's change silently (nobody told).
    let dave = &all[4];
    dave.messages_in.store(500, Relaxed);
    dave.touch(&metrics);
    all[0].messages_in.store(900, Relaxed);
    index.tick(&metrics, 1_000);
    assert_eq!(ids(&mut index, &by_msgs), ["dave"]);
    // Once taken, dave's next change is reported again.
    dave.messages_in.store(2_000, Relaxed);
    dave.touch(&metrics);
    index.tick(&metrics, 2_000);
    let rate = index.row("dave").map(|r| r.rate);
    assert_eq!(rate, Some(1_500), "1,500 messages in one second");
    assert_eq!(
        ids(&mut index, &query(SortKey::Rate, true, "", 0, 1)),
        ["dave"]
    );
    // Quiet for a tick: the rate falls to zero and dave leaves the rated set.
    index.tick(&metrics, 3_000);
    assert_eq!(index.row("dave").map(|r| r.rate), Some(0));
    assert!(index.rated.is_empty());
    // Nobody watching: a change is not reported (the client pays one load).
    metrics.set_watched(false);
    dave.messages_in.store(9_000, Relaxed);
    dave.touch(&metrics);
    assert!(metrics.take_changed().is_empty());
}

#[test]
fn removed_sessions_leave_every_view_and_set() {
    let (mut index, all) = five();
    let q = query(SortKey::Queued, true, "", 0, 9);
    assert_eq!(index.page(&q).total, 5);
    all[1].dropped.store(3, Relaxed);
    let metrics = Metrics::default();
    metrics.set_watched(true);
    all[1].touch(&metrics);
    index.tick(&metrics, 1);
    assert_eq!(
        index
            .slowest(5)
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>(),
        ["alice"]
    );
    index.apply(Change::Removed {
        client: Arc::from("alice"),
    });
    assert_eq!(index.page(&q).total, 4);
    assert!(index.slowest(5).is_empty());
    assert!(index.row("alice").is_none());
    assert_eq!(index.len(), 4);
}
